"""Command line of the reference platform: ``python -m refplatform`` and ``passavant platform``.

:func:`run` binds the listening socket itself (so ``--port 0`` picks a free port and the real
one is known), serves with uvicorn, prints one line ``Passavant platform listening on <url>``
once connections are accepted, and returns 0 after a clean stop on SIGTERM or SIGINT.

Workstation tokens are managed with the ``token`` subcommand (the server keeps running
meanwhile: SQLite's WAL mode lets both work on the data directory)::

    passavant platform token new --data DIR --workstation NAME   prints a fresh token
    passavant platform token list --data DIR                     workstations, tokens' state
    passavant platform token revoke --data DIR --workstation NAME
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import signal
import socket
import sqlite3
import ssl
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from refplatform import accounts, admin
from refplatform.backend import BackendUnavailable
from refplatform.distributed import (
    add_distributed_options,
    config_from_args,
    create_distributed_app,
)
from refplatform.journal import DEFAULT_QUOTA
from refplatform.limits import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_PER_ADDRESS,
    ConnectionLimits,
    bound_tls_handshakes,
    guarded_protocol,
)
from refplatform.logbounds import install_log_bounds
from refplatform.quotas import DEFAULT_RESERVE
from refplatform.server import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SIZE, DEFAULT_TTL, create_app

__all__ = ["configure_parser", "run", "run_token"]

log = logging.getLogger(__name__)

_STARTUP_LIMIT_S = 60.0
_GRACEFUL_SHUTDOWN_S = 5


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Adds the server's options, and the optional ``token`` subcommand, to ``parser``.

    Without a subcommand the parser runs the server (``--data`` is then required, which
    :func:`run` checks: the subcommands take their own ``--data``).
    """
    parser.add_argument("--data", type=Path, metavar="DIR", help="data directory (required)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8443, help="TCP port (0: pick a free one)")
    parser.add_argument("--tls-cert", type=Path, metavar="PEM", help="server certificate chain")
    parser.add_argument("--tls-key", type=Path, metavar="PEM", help="server private key")
    parser.add_argument("--ready-file", type=Path, metavar="PATH", help="write the URL here")
    parser.add_argument(
        "--upload-ttl",
        type=float,
        default=DEFAULT_TTL,
        metavar="SECONDS",
        help="lifetime of an unfinished upload (default: 24 h)",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=DEFAULT_MAX_SIZE,
        metavar="BYTES",
        help="largest accepted bundle (default: 2 GiB)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="end an upload request whose body stalls this long (default: 120 s)",
    )
    parser.add_argument(
        "--checkpoint-quota",
        type=int,
        default=DEFAULT_QUOTA,
        metavar="N",
        help=f"audit journal checkpoints kept per workstation (default: {DEFAULT_QUOTA})",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help="close a connection whose request headers take longer (default: 10 s)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help=f"open connections at most; more get 503 (default: {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--max-connections-per-address",
        type=int,
        default=DEFAULT_MAX_PER_ADDRESS,
        metavar="N",
        help="open connections at most from one address (0: no cap, e.g. behind a load"
        f" balancer; default: {DEFAULT_MAX_PER_ADDRESS})",
    )
    parser.add_argument(
        "--reserve-free",
        type=int,
        default=DEFAULT_RESERVE,
        metavar="BYTES",
        help="disk space the data folder keeps free; uploads wait past it (default: 256 MiB)",
    )
    parser.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="stop when standard input closes (a parent process holding the pipe died)",
    )
    add_distributed_options(parser)
    commands = parser.add_subparsers(dest="platform_command", required=False, metavar="COMMAND")
    token = commands.add_parser("token", help="manage workstation tokens (one per workstation)")
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    new = actions.add_parser(
        "new", help="print a fresh token for a workstation (registers it; replaces its old token)"
    )
    listing = actions.add_parser("list", help="list workstations and the state of their tokens")
    revoke = actions.add_parser("revoke", help="revoke a workstation's token")
    for action in (new, listing, revoke):
        action.add_argument(
            "--data", type=Path, metavar="DIR", default=argparse.SUPPRESS, help="data directory"
        )
        action.add_argument(
            "--database",
            metavar="URL",
            default=argparse.SUPPRESS,
            help="the distributed platform's PostgreSQL (instead of --data)",
        )
    for action in (new, revoke):
        action.add_argument("--workstation", required=True, metavar="NAME", help="workstation id")
    admin.configure(commands)


def _stop_when_stdin_closes(server: uvicorn.Server) -> None:
    """Watch standard input in a daemon thread; ask the server to stop at end of file.

    A parent that starts the platform with a pipe on its stdin (the demo does) needs no
    cleanup to stop it: when the parent dies, even by ``kill -9``, the pipe closes.
    """

    def watch() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        log.info("standard input closed: stopping")
        server.should_exit = True

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Say IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that report TCP,
    # and without it every response with a body waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _raise_open_files_limit(connections: int) -> None:
    """Lifts the soft limit on open files to the hard one: past it, accept() fails in a loop
    (each failure logged) instead of the connection cap answering 503."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    except (OSError, ValueError):
        return
    if soft != resource.RLIM_INFINITY and soft < connections + 64:
        log.warning("only %d open files allowed: lower --max-connections below %d", soft, soft - 64)


def _url(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _write_ready_file(path: Path, url: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(url + "\n", encoding="utf-8")
    os.replace(temporary, path)


class _StopGuard:
    """Turns SIGTERM/SIGINT into a request to stop, outside uvicorn's own handling.

    uvicorn handles both signals while it serves, then re-raises the ones it caught once it
    has stopped; this guard receives them then, so the process still exits with status 0.
    """

    signals = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self.requested = False
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True

    def __enter__(self) -> _StopGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Server(uvicorn.Server):
    """A uvicorn server that tells the application when it starts shutting down.

    uvicorn waits for open requests before the lifespan shutdown; a stalled upload would hold
    it for the whole grace period, so the application ends its uploads first.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        on_shutdown: Callable[[], None],
        handshake_timeout: float = DEFAULT_HEADER_TIMEOUT,
    ) -> None:
        super().__init__(config)
        self._on_shutdown = on_shutdown
        self._handshake_timeout = handshake_timeout

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # A TLS handshake never finished holds its socket no longer than headers may.
        bound_tls_handshakes(asyncio.get_running_loop(), self._handshake_timeout)
        await super().startup(sockets=sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_shutdown()
        await super().shutdown(sockets=sockets)


async def _serve(
    server: uvicorn.Server, sock: socket.socket, url: str, ready_file: Path | None
) -> int:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _STARTUP_LIMIT_S
    while not server.started and not task.done() and loop.time() < deadline:
        await asyncio.sleep(0.01)
    if not server.started:
        log.error("the platform did not start")
        server.should_exit = True
        await asyncio.wait({task}, timeout=_GRACEFUL_SHUTDOWN_S + 1)
        return 1
    if not server.should_exit:  # a stop asked for during startup: never say "ready"
        # The file first: whoever waits for the printed line may then read the file at once.
        if ready_file is not None:
            _write_ready_file(ready_file, url)
        print(f"Passavant platform listening on {url}", flush=True)
    await task
    log.info("platform stopped")
    return 0


def _stamp(moment: float | None) -> str:
    if moment is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def run_token(args: argparse.Namespace) -> int:
    """Runs ``token new|list|revoke``; prints plain lines, never the stored hashes.

    ``new`` prints the token alone on standard output (for scripts); the other lines go to
    standard error.

    Returns:
        0 on success, 1 on an unknown workstation or unusable data, 2 on a missing option.
    """
    data: Path | None = getattr(args, "data", None)
    if getattr(args, "database", None) is not None:
        return _run_token_distributed(args)
    if data is None:
        print("passavant platform token: --data DIR is required", file=sys.stderr)
        return 2
    try:
        if args.token_command == "new":
            token = accounts.register_station(data, args.workstation)
            print(token, flush=True)
            print(
                f"workstation {args.workstation}: new token issued (any previous one is refused)",
                file=sys.stderr,
            )
            return 0
        if args.token_command == "revoke":
            if not accounts.revoke_station(data, args.workstation):
                print(f"no workstation named {args.workstation!r}", file=sys.stderr)
                return 1
            print(f"workstation {args.workstation}: token revoked")
            return 0
        stations = accounts.list_stations(data)
    except (OSError, ValueError, RuntimeError, sqlite3.Error) as exc:
        print(f"passavant platform token: {exc}", file=sys.stderr)
        return 1
    return _print_stations(stations)


def _run_token_distributed(args: argparse.Namespace) -> int:
    """``token new|list|revoke --database URL``: the same, on the distributed platform."""
    from refplatform.pgrecord import PgRecord  # psycopg only when asked

    try:
        record = PgRecord(args.database)
    except (BackendUnavailable, RuntimeError, ValueError) as exc:
        print(f"passavant platform token: {exc}", file=sys.stderr)
        return 1
    try:
        if args.token_command == "new":
            print(record.register_station(args.workstation), flush=True)
            print(
                f"workstation {args.workstation}: new token issued (any previous one is refused)",
                file=sys.stderr,
            )
            return 0
        if args.token_command == "revoke":
            if not record.revoke_station(args.workstation):
                print(f"no workstation named {args.workstation!r}", file=sys.stderr)
                return 1
            print(f"workstation {args.workstation}: token revoked")
            return 0
        stations = record.list_stations()
    except (BackendUnavailable, ValueError) as exc:
        print(f"passavant platform token: {exc}", file=sys.stderr)
        return 1
    finally:
        record.close()
    return _print_stations(stations)


def _print_stations(stations: list[accounts.StationInfo]) -> int:
    if not stations:
        print("no workstation registered")
        return 0
    rows = [("WORKSTATION", "TOKEN", "ISSUED", "RECIPIENTS")]
    for station in stations:
        state = "active" if station.active else f"revoked {_stamp(station.revoked_at)}"
        issued = _stamp(station.token_issued_at)
        rows.append((station.id, state, issued, str(station.recipients)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Runs the server until SIGTERM or SIGINT, or the ``token`` subcommand.

    Args:
        args: Options added by :func:`configure_parser`.

    Returns:
        0 after a clean stop; 1 if the server could not start; 2 on inconsistent options.
    """
    if getattr(args, "platform_command", None) == "token":
        return run_token(args)
    if getattr(args, "platform_command", None) in admin.COMMANDS:
        return admin.run(args)
    try:
        distributed = config_from_args(args)
    except ValueError as exc:
        print(f"passavant platform: {exc}", file=sys.stderr)
        return 2
    if args.data is None and distributed is None:
        print("passavant platform: --data DIR is required", file=sys.stderr)
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        log.error("--tls-cert and --tls-key go together")
        return 2
    if args.tls_cert is None:
        log.warning("no TLS certificate given: serving plain HTTP (for tests only)")
    with _StopGuard() as guard:
        try:
            if distributed is not None:
                app = create_distributed_app(
                    distributed,
                    upload_ttl=args.upload_ttl,
                    max_size=args.max_size,
                    idle_timeout=args.idle_timeout,
                    checkpoint_quota=args.checkpoint_quota,
                )
            else:
                app = create_app(
                    args.data,
                    upload_ttl=args.upload_ttl,
                    max_size=args.max_size,
                    idle_timeout=args.idle_timeout,
                    checkpoint_quota=args.checkpoint_quota,
                    reserve_free=args.reserve_free,
                )
            limits = ConnectionLimits(
                header_timeout=args.header_timeout,
                # Past the body's own stall limit, so that one ends the request first.
                idle_timeout=args.idle_timeout + min(10.0, args.idle_timeout),
                max_connections=args.max_connections,
                max_per_address=args.max_connections_per_address,
            )
        except BackendUnavailable as exc:
            log.error("cannot reach the platform's back-end: %s", exc)
            return 1
        except (OSError, ValueError, RuntimeError) as exc:
            log.error("cannot open the platform data: %s", exc)
            return 1
        config = uvicorn.Config(
            app,
            ssl_certfile=args.tls_cert,
            ssl_keyfile=args.tls_key,
            log_config=None,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
            # A kept-alive connection waits for its next request as long as headers may take
            # (uvicorn's 5 s default equals the stations' poll interval: a client reused the
            # connection just as the server closed it, and saw the platform "unreachable").
            timeout_keep_alive=max(1, round(limits.header_timeout)),
            http=guarded_protocol(limits),
        )
        install_log_bounds()
        _raise_open_files_limit(limits.max_connections)
        try:
            config.load()
        except (OSError, ssl.SSLError) as exc:
            log.error("cannot load the TLS certificate or key: %s", exc)
            return 1
        try:
            sock = _bind(args.host, args.port)
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
            return 1
        with sock:
            port = int(sock.getsockname()[1])
            url = _url("https" if args.tls_cert else "http", args.host, port)
            server = _Server(config, app.state.begin_shutdown, limits.header_timeout)
            guard.server = server
            server.should_exit = guard.requested
            if getattr(args, "exit_with_stdin", False):
                _stop_when_stdin_closes(server)
            try:
                return asyncio.run(_serve(server, sock, url, args.ready_file))
            except SystemExit as exc:  # uvicorn exits this way when startup fails
                log.error("the platform stopped during startup (%s)", exc.code)
                return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m refplatform``."""
    parser = argparse.ArgumentParser(
        prog="python -m refplatform", description="Passavant reference platform server."
    )
    configure_parser(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return run(args)
