"""A fault-injecting TCP relay: a bad network on demand, for demos, training and tests.

:class:`FaultProxy` listens on one address and relays every connection to a target, bytes as
they are (TLS passes through untouched), while it can:

- **cut** connections: after every ``cut_every`` bytes relayed upstream (counted over all
  connections, as a link that drops every so often), the connection carrying the last byte is
  cut. The target receives every byte relayed before the cut and then an end of stream, as a
  server does when the line dies (it keeps what arrived); the client's socket is closed;
- add **latency**: every byte waits that long before it is forwarded, in each direction (a
  round trip gains twice the figure);
- **throttle** bandwidth: one token bucket per direction, shared by every connection, as on
  one slow link;
- answer **503** with ``Retry-After`` on a fresh connection instead of relaying it. The relay
  reads the request head, swallows its body (``Content-Length``) and answers; this needs plain
  HTTP between the client and the proxy. A connection that opens with a TLS handshake cannot
  be answered without terminating TLS, which the relay never does: it is dropped at the
  connection level instead (counted in ``tls_drops``), which the client sees as a reset link;
- **stall**: a connection goes silent at a random point (before the first byte or mid-upload):
  nothing is relayed either way, as on a black-holed route, until the client gives up or
  ``stall_hold`` seconds pass.

The draws (503, stall) come from one seeded random generator, so a run can be replayed. All
of it runs in **one** I/O thread (non-blocking sockets and a selector), so the number of
threads is bounded whatever the number of connections; :meth:`FaultProxy.stop` closes every
socket and joins the thread. Counters of relayed bytes in each direction feed benchmarks.

Qt-free, standard library only. ``passavant faultproxy`` is its command line. The I/O loop is
:mod:`refplatform.faultrelay`; the pieces of one connection, :mod:`refplatform.faultconn`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import selectors
import socket
import threading
from types import TracebackType

from refplatform.faultconn import Bucket, Conn, close_quietly
from refplatform.faultrelay import Counters, FaultRelay

__all__ = ["Counters", "FaultProxy", "parse_address", "parse_rate"]

log = logging.getLogger(__name__)

_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z/]*)\s*")
_RATE_UNITS = {
    "": 1.0,
    "b": 1.0,
    "k": 1e3,
    "kb": 1e3,
    "m": 1e6,
    "mb": 1e6,
    "kib": 1024.0,
    "mib": 1024.0**2,
    "kbit": 1e3 / 8,
    "mbit": 1e6 / 8,
    "gbit": 1e9 / 8,
}


def parse_rate(text: str) -> float:
    """Parses a bandwidth: bytes per second, or with a unit: ``4mbit``, ``500k``, ``2MiB``.

    Units: ``k``/``kb``, ``m``/``mb`` (decimal bytes), ``kib``/``mib`` (binary bytes),
    ``kbit``/``mbit``/``gbit`` (decimal bits); an optional ``/s`` is accepted.

    Raises:
        ValueError: If the text is not a positive rate.
    """
    found = _RATE.fullmatch(text)
    unit = found[2].lower().removesuffix("/s").removesuffix("ps") if found else ""
    if found is None or unit not in _RATE_UNITS:
        raise ValueError(f"not a bandwidth: {text!r}")
    rate = float(found[1]) * _RATE_UNITS[unit]
    if rate <= 0:
        raise ValueError("a bandwidth must be positive")
    return rate


def parse_address(text: str) -> tuple[str, int]:
    """Parses ``HOST:PORT`` (``[::1]:PORT`` for IPv6).

    Raises:
        ValueError: If the text is not an address with a port in 0..65535.
    """
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host, int(port)


class FaultProxy(FaultRelay):
    """A TCP relay from a listening address to a target, with switchable faults.

    Every setter may be called while the proxy runs; it applies to bytes and connections
    from then on. Use it as a context manager, or :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        target: tuple[str, int],
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        seed: int | None = None,
        max_connections: int = 64,
    ) -> None:
        """Prepares the relay (nothing listens until :meth:`start`).

        Args:
            target: Where connections are relayed, ``(host, port)``.
            listen: Where to listen; port 0 picks a free one (see :attr:`port`).
            seed: Seed of the random draws (503s, stalls), for replayable runs.
            max_connections: Connections open at once; more are closed at accept.
        """
        self.target = target
        self.listen = listen
        self.seed = seed
        self.max_connections = max_connections
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._counters = Counters()
        self._cut_every: int | None = None
        self._cut_left = 0
        self._latency = 0.0
        self._buckets: dict[bool, Bucket] | None = None
        self._error_rate = 0.0
        self._retry_after: float | None = None
        self._stall_rate = 0.0
        self._stall_window = 1024 * 1024
        self._stall_hold = 60.0
        self._conns: dict[socket.socket, Conn] = {}
        self._masks: dict[socket.socket, int] = {}
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._target_addr: tuple[object, ...] | None = None
        self._family = socket.AF_INET

    # --- life cycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (known after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("the proxy is not started")
        return self._port

    @property
    def host(self) -> str:
        """The host it listens on."""
        return self.listen[0]

    def url(self, scheme: str = "http") -> str:
        """Returns the base URL a client uses instead of the target's."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> FaultProxy:
        """Resolves the target, binds the listening socket and starts the I/O thread.

        Raises:
            OSError: If the address cannot be bound or the target's name not resolved.
            RuntimeError: If it was started already.
        """
        if self._thread is not None:
            raise RuntimeError("the proxy was started already")
        infos = socket.getaddrinfo(*self.target, type=socket.SOCK_STREAM)
        self._family, _type, _proto, _name, self._target_addr = infos[0]
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(self.listen)
            listener.listen(128)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self._port = int(listener.getsockname()[1])
        self._selector.register(listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="faultproxy", daemon=True)
        self._thread.start()
        log.info("fault proxy on %s:%d -> %s:%d", self.host, self.port, *self.target)
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Closes every connection and the listener, and joins the I/O thread.

        Returns:
            ``True`` if the thread has ended.
        """
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        for conn in list(self._conns.values()):
            self._drop(conn)
        if self._listener is not None:
            close_quietly(self._listener)
        for sock in (self._wake_r, self._wake_w):
            close_quietly(sock)
        self._selector.close()
        return True

    def __enter__(self) -> FaultProxy:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- faults -----------------------------------------------------------------------------

    def set_cut_every(self, nbytes: int | None) -> None:
        """Cuts a connection after every ``nbytes`` bytes relayed upstream (``None``: never)."""
        if nbytes is not None and nbytes <= 0:
            raise ValueError("cut_every must be positive")
        with self._lock:
            self._cut_every = nbytes
            self._cut_left = nbytes or 0

    def set_latency(self, seconds: float) -> None:
        """Delays every byte by ``seconds`` in each direction (0: none)."""
        if seconds < 0:
            raise ValueError("latency cannot be negative")
        with self._lock:
            self._latency = seconds

    def set_bandwidth(self, bytes_per_second: float | None) -> None:
        """Throttles each direction to ``bytes_per_second`` (``None``: unlimited)."""
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("bandwidth must be positive")
        with self._lock:
            if bytes_per_second is None:
                self._buckets = None
            else:
                self._buckets = {True: Bucket(bytes_per_second), False: Bucket(bytes_per_second)}

    def set_error_503(self, rate: float, retry_after: float | None = None) -> None:
        """Answers this share of fresh connections with 503 (and ``Retry-After``, if given)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if retry_after is not None and retry_after < 0:
            raise ValueError("retry_after cannot be negative")
        with self._lock:
            self._error_rate = rate
            self._retry_after = retry_after

    def set_stall(self, rate: float, *, window: int = 1024 * 1024, hold: float = 60.0) -> None:
        """Makes this share of connections go silent.

        Args:
            rate: Share of new connections that stall (0 to 1).
            window: A stalling connection goes silent after a random number of bytes
                relayed upstream, from 0 (never answers at all) to ``window``.
            hold: Seconds a silent connection is held before the proxy closes it (the
                client usually gives up first).
        """
        if not 0.0 <= rate <= 1.0 or window < 0 or hold <= 0:
            raise ValueError("invalid stall settings")
        with self._lock:
            self._stall_rate = rate
            self._stall_window = window
            self._stall_hold = hold

    def clear_faults(self) -> None:
        """Relays everything as it comes: no cut, latency, throttle, 503 or stall."""
        self.set_cut_every(None)
        self.set_latency(0.0)
        self.set_bandwidth(None)
        self.set_error_503(0.0)
        self.set_stall(0.0)

    # --- counters ---------------------------------------------------------------------------

    def counters(self) -> Counters:
        """Returns a snapshot of the counters."""
        with self._lock:
            return self._counters

    def reset_counters(self) -> None:
        """Sets every counter back to zero."""
        with self._lock:
            self._counters = Counters()

    @property
    def open_connections(self) -> int:
        """Connections open now."""
        return len(self._unique())
