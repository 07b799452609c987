"""Runs the reference platform as a real subprocess on 127.0.0.1, for end-to-end tests.

Typical use::

    with start_platform(tmp_path, tls=True) as platform, Station(platform, "unit") as unit:
        unit.add_recipient("pr-dubois")
        assert unit.send("pr-dubois", b"ciphertext", "bundle-1").status_code == 204
        platform.kill()   # a crash
        platform.start()  # same data directory, same port

The server runs as ``python -m refplatform`` in its own process, so tests can SIGKILL it and
start it again on the same data directory (and the same port, so upload URLs stay valid).
TLS material (a throwaway CA and a certificate for 127.0.0.1) is made here with
``cryptography``; it does not depend on the application's own PKI code.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import signal
import subprocess
import sys
import time
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from refplatform import accounts
from tests.support import lifeline

__all__ = [
    "DUMMY_CERT_PEM",
    "READY_PREFIX",
    "RunningPlatform",
    "Station",
    "TlsFiles",
    "make_tls_files",
    "start_platform",
    "tus_metadata",
]

READY_PREFIX = "Passavant platform listening on "
REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 10.0
#: The platform relays certificates without parsing them; tests need only the PEM framing.
DUMMY_CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a throwaway CA and of a server certificate it issued for 127.0.0.1."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey],
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer[0])
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer[1], hashes.SHA256())


def make_tls_files(directory: Path) -> TlsFiles:
    """Creates a CA, and a server certificate for 127.0.0.1 and localhost, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Passavant test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    ca_cert = _certificate(
        "Passavant test CA",
        ca_key,
        (ca_name, ca_key),
        [(x509.BasicConstraints(ca=True, path_length=0), True), (ca_usage, True), (ca_ski, False)],
    )
    key = ec.generate_private_key(ec.SECP256R1())
    hosts = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = _certificate(
        "127.0.0.1",
        key,
        (ca_name, ca_key),
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.SubjectAlternativeName(hosts), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), False),
        ],
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


class RunningPlatform:
    """One ``python -m refplatform`` subprocess, restartable on the same data directory."""

    def __init__(
        self,
        data_dir: Path,
        work_dir: Path,
        *,
        tls: TlsFiles | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """Prepares (does not start) the server.

        Args:
            data_dir: The platform's data directory.
            work_dir: Where the server's stdout and stderr are written.
            tls: Certificate files for HTTPS; plain HTTP when ``None``.
            extra_args: More command-line options, e.g. ``("--upload-ttl", "1")``.
        """
        self.data_dir = data_dir
        self.work_dir = work_dir
        self.tls = tls
        self.extra_args = extra_args
        self.port = 0
        self._url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._runs = 0

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``https://127.0.0.1:41234``."""
        if self._url is None:
            raise RuntimeError("the platform is not running")
        return self._url

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return None if self._process is None else self._process.pid

    @property
    def ca_file(self) -> Path | None:
        """The CA to verify the server with, or ``None`` for plain HTTP."""
        return None if self.tls is None else self.tls.ca_file

    @property
    def verify(self) -> str | bool:
        """What to pass as ``requests``' ``verify``."""
        return True if self.tls is None else str(self.tls.ca_file)

    @property
    def stderr_path(self) -> Path:
        """The current run's log (stderr)."""
        return self.work_dir / f"platform-{self._runs}.err"

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Starts the server and waits (at most ``timeout`` s) for its ready line."""
        if self._process is not None:
            raise RuntimeError("already running")
        self._runs += 1
        self.work_dir.mkdir(parents=True, exist_ok=True)
        out_path = self.work_dir / f"platform-{self._runs}.out"
        command = [sys.executable, "-m", "refplatform", "--data", str(self.data_dir)]
        command += ["--host", "127.0.0.1", "--port", str(self.port), *self.extra_args]
        if self.tls is not None:
            command += ["--tls-cert", str(self.tls.cert_file), "--tls-key", str(self.tls.key_file)]
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path}
        with out_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self._process = subprocess.Popen(
                command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env
            )
        lifeline.watch(self._process.pid)  # stopped even if the test run is killed
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in out_path.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith(READY_PREFIX):
                    self._url = line[len(READY_PREFIX) :].strip()
                    self.port = int(self._url.rsplit(":", 1)[1])
                    return
            if self._process.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"platform did not start:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the current run's log, for failure messages."""
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Sends SIGTERM, waits at most ``timeout`` s (then SIGKILL); returns the exit status."""
        process, self._process, self._url = self._process, None, None
        if process is None:
            return None
        lifeline.forget(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait(STOP_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILLs the server (a crash: nothing is flushed or cleaned up)."""
        process, self._process, self._url = self._process, None, None
        if process is not None:
            lifeline.forget(process.pid)
            process.kill()
            process.wait(STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Stops the server if it runs, then starts it again on the same data and port."""
        self.stop()
        self.start()

    def __enter__(self) -> RunningPlatform:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_platform(tmp_path: Path, *, tls: bool = False, **server_args: object) -> RunningPlatform:
    """Starts a platform with its data in ``tmp_path / "platform-data"``; stop it when done.

    Args:
        tmp_path: A scratch directory (pytest's ``tmp_path``).
        tls: Serve HTTPS with a fresh throwaway CA (see :attr:`RunningPlatform.verify`).
        server_args: More options, e.g. ``upload_ttl=1`` for ``--upload-ttl 1``.
    """
    extra: list[str] = []
    for name, value in server_args.items():
        extra += ["--" + name.replace("_", "-"), str(value)]
    files = make_tls_files(tmp_path / "tls") if tls else None
    platform = RunningPlatform(
        tmp_path / "platform-data", tmp_path / "platform-run", tls=files, extra_args=tuple(extra)
    )
    platform.start()
    return platform


def tus_metadata(**values: str) -> str:
    """Encodes ``Upload-Metadata``: ``key base64value`` pairs joined by commas."""
    return ",".join(f"{key} {b64encode(value.encode()).decode()}" for key, value in values.items())


class Station:
    """A registered station talking to a running platform over one ``requests`` session."""

    def __init__(self, platform: RunningPlatform, station_id: str) -> None:
        """Registers the station (and its recipients later, see :meth:`add_recipient`)."""
        self.platform = platform
        self.id = station_id
        self.token = accounts.register_station(platform.data_dir, station_id)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def close(self) -> None:
        """Closes the session's connections."""
        self.session.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_recipient(self, recipient_id: str, specialty: str | None = None) -> None:
        """Registers a recipient whose mailbox this station reads."""
        accounts.register_recipient(
            self.platform.data_dir,
            recipient_id=recipient_id,
            station_id=self.id,
            display_name=f"Dr {recipient_id}",
            role="specialist" if specialty else "doctor",
            specialty=specialty,
            certificate_pem=DUMMY_CERT_PEM,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        tus: bool = False,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> requests.Response:
        """Sends a request to ``path`` (relative to the platform, or an absolute URL)."""
        url = path if "://" in path else self.platform.url + path
        headers = dict(headers or {})
        if tus:
            headers.setdefault("Tus-Resumable", "1.0.0")
        return self.session.request(
            method,
            url,
            headers=headers,
            data=data,
            timeout=HTTP_TIMEOUT_S,
            verify=self.platform.verify,
            allow_redirects=False,
        )

    def create(self, recipient: str, payload: bytes, bundle_id: str, **extra: str) -> str:
        """Creates an upload for ``payload`` and returns its URL (asserts a 201)."""
        sha = extra.pop("sha256", None) or hashlib.sha256(payload).hexdigest()
        meta = tus_metadata(bundle_id=bundle_id, recipient=recipient, sha256=sha, **extra)
        headers = {"Upload-Length": str(len(payload)), "Upload-Metadata": meta}
        response = self.call("POST", "/files/", tus=True, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.headers["Location"])

    def patch(self, url: str, offset: int, body: bytes) -> requests.Response:
        """Sends ``body`` at ``offset``."""
        headers = {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
        return self.call("PATCH", url, tus=True, headers=headers, data=body)

    def offset(self, url: str) -> int:
        """Returns ``Upload-Offset`` from a ``HEAD`` (asserts a 200)."""
        response = self.call("HEAD", url, tus=True)
        assert response.status_code == 200, response.status_code
        return int(response.headers["Upload-Offset"])

    def send(
        self, recipient: str, payload: bytes, bundle_id: str, **extra: str
    ) -> requests.Response:
        """Uploads ``payload`` in one ``PATCH``; returns that final answer."""
        return self.patch(self.create(recipient, payload, bundle_id, **extra), 0, payload)
