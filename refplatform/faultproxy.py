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

Qt-free, standard library only. ``passavant faultproxy`` is its command line.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import random
import re
import selectors
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from types import TracebackType

__all__ = ["Counters", "FaultProxy", "parse_address", "parse_rate"]

log = logging.getLogger(__name__)

_RECV = 64 * 1024
_BUFFER_LIMIT = 256 * 1024  # per direction and connection; reading pauses above it
_HEAD_LIMIT = 64 * 1024  # largest request head read before answering 503
_SWALLOW_LIMIT = 64 * 1024 * 1024  # largest request body swallowed before answering 503
_CONNECT_TIMEOUT = 5.0
_CUT_DRAIN = 2.0  # seconds the target may take to notice a cut before its socket is closed
_TICK = 0.05
_TLS_HANDSHAKE = 0x16
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


@dataclass(frozen=True)
class Counters:
    """What the proxy did since it started (or since :meth:`FaultProxy.reset_counters`).

    Attributes:
        bytes_up: Bytes relayed from clients to the target.
        bytes_down: Bytes relayed from the target to clients.
        connections: Connections accepted.
        cuts: Connections cut by ``cut_every``.
        errors_503: Requests answered with 503.
        stalls: Connections that went silent.
        tls_drops: Connections picked for a 503 that opened with TLS, dropped instead.
        refused: Connections closed at once because ``max_connections`` were open.
    """

    bytes_up: int = 0
    bytes_down: int = 0
    connections: int = 0
    cuts: int = 0
    errors_503: int = 0
    stalls: int = 0
    tls_drops: int = 0
    refused: int = 0

    @property
    def wire(self) -> int:
        """Bytes relayed both ways."""
        return self.bytes_up + self.bytes_down


class _Bucket:
    """A token bucket: ``rate`` bytes per second, bursts of at most ``burst`` bytes."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(16 * 1024.0, rate / 20)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def allow(self, wanted: int, now: float) -> int:
        """Returns how many of ``wanted`` bytes may go now (0: wait); takes them."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        # Never send less than a packet's worth unless that is all there is to send.
        if self.tokens < min(wanted, 1400):
            return 0
        allowed = min(wanted, int(self.tokens))
        self.tokens -= allowed
        return allowed

    def ready_at(self, wanted: int, now: float) -> float:
        """When ``min(wanted, 1400)`` tokens will be there."""
        missing = min(wanted, 1400) - self.tokens
        return now + max(0.0, missing / self.rate)


class _Pipe:
    """One direction of one connection: chunks waiting to be forwarded, with their due time."""

    def __init__(self) -> None:
        self.chunks: deque[tuple[float, bytes]] = deque()
        self.size = 0
        self.eof = False  # the source ended; shut the destination's write side once flushed
        self.done = False  # that shutdown happened
        self.blocked = False  # the destination's socket was full: wait until it is writable

    def push(self, due: float, data: bytes) -> None:
        self.chunks.append((due, data))
        self.size += len(data)

    def take(self, count: int) -> None:
        due, data = self.chunks[0]
        if count >= len(data):
            self.chunks.popleft()
        else:
            self.chunks[0] = (due, data[count:])
        self.size -= count


class _Conn:
    """A client connection and, once connected, its upstream socket."""

    def __init__(self, client: socket.socket, now: float) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.state = "connecting"  # connecting, relay, sniff, swallow, answer, frozen, cut
        self.up = _Pipe()
        self.down = _Pipe()
        self.deadline: float | None = now + _CONNECT_TIMEOUT
        self.stall_at: int | None = None  # upstream bytes after which it goes silent
        self.read_up = 0  # bytes read from the client so far
        self.cut_pending = False  # cut once the up pipe is flushed
        self.head = b""  # request head read in the sniff state
        self.swallow = 0  # body bytes still to swallow
        self.answer = b""  # 503 answer still to write
        self.closed = False

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.client, self.upstream) if s is not None]


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _shut_write(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


class FaultProxy:
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
        self._buckets: dict[bool, _Bucket] | None = None
        self._error_rate = 0.0
        self._retry_after: float | None = None
        self._stall_rate = 0.0
        self._stall_window = 1024 * 1024
        self._stall_hold = 60.0
        self._conns: dict[socket.socket, _Conn] = {}
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
            _close(self._listener)
        for sock in (self._wake_r, self._wake_w):
            _close(sock)
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
                self._buckets = {True: _Bucket(bytes_per_second), False: _Bucket(bytes_per_second)}

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

    def _count(self, **deltas: int) -> None:
        with self._lock:
            values = {k: getattr(self._counters, k) + v for k, v in deltas.items()}
            self._counters = replace(self._counters, **values)

    def _unique(self) -> list[_Conn]:
        return list({id(conn): conn for conn in self._conns.values()}.values())

    # --- the I/O thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                timeout = self._next_timer(now)
                for key, mask in self._selector.select(timeout):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept(time.monotonic())
                    elif sock is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(64)
                    else:
                        conn = self._conns.get(sock)
                        if conn is not None and not conn.closed:
                            self._event(conn, sock, mask, time.monotonic())
                now = time.monotonic()
                for conn in self._unique():
                    self._pump(conn, now)
                self._update_masks()
        except Exception:  # a bug must not leave sockets open without a thread to serve them
            log.exception("fault proxy stopped on an unexpected error")
        finally:
            for conn in list(self._conns.values()):
                self._drop(conn)

    def _next_timer(self, now: float) -> float:
        soonest = now + _TICK
        for conn in self._conns.values():
            if conn.deadline is not None:
                soonest = min(soonest, conn.deadline)
            for upward, pipe in ((True, conn.up), (False, conn.down)):
                if pipe.chunks and not pipe.blocked:
                    due = pipe.chunks[0][0]
                    buckets = self._buckets
                    if buckets is not None:
                        due = max(due, buckets[upward].ready_at(len(pipe.chunks[0][1]), now))
                    soonest = min(soonest, due)
        return max(0.0, soonest - now)

    def _accept(self, now: float) -> None:
        assert self._listener is not None
        for _ in range(32):
            try:
                client, _peer = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("accept failed: %s", exc)
                return
            self._count(connections=1)
            if len(self._unique()) >= self.max_connections:
                self._count(refused=1)
                _close(client)
                continue
            client.setblocking(False)
            with contextlib.suppress(OSError):
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(client, now)
            self._conns[client] = conn
            with self._lock:
                error = self._rng.random() < self._error_rate
                stall = self._rng.random() < self._stall_rate
                stall_at = self._rng.randint(0, self._stall_window)
            if error:
                conn.state, conn.deadline = "sniff", now + _CONNECT_TIMEOUT
                continue
            if stall:
                conn.stall_at = stall_at
                if stall_at == 0:
                    self._freeze(conn, now)
                    continue
            self._connect(conn)

    def _connect(self, conn: _Conn) -> None:
        upstream = socket.socket(self._family, socket.SOCK_STREAM)
        upstream.setblocking(False)
        with contextlib.suppress(OSError):
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self._target_addr is not None
        result = upstream.connect_ex(self._target_addr)
        conn.upstream = upstream
        self._conns[upstream] = conn
        if result not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self._drop(conn)

    def _freeze(self, conn: _Conn, now: float) -> None:
        with self._lock:
            hold = self._stall_hold
        conn.state, conn.deadline = "frozen", now + hold
        self._count(stalls=1)

    def _event(self, conn: _Conn, sock: socket.socket, mask: int, now: float) -> None:
        if conn.state == "connecting" and sock is conn.upstream and mask & selectors.EVENT_WRITE:
            failed = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if failed:
                log.info("cannot reach the target: %s", errno.errorcode.get(failed, failed))
                self._drop(conn)
                return
            conn.state, conn.deadline = "relay", None
        if mask & selectors.EVENT_WRITE:
            conn.up.blocked = conn.up.blocked and sock is not conn.upstream
            conn.down.blocked = conn.down.blocked and sock is not conn.client
        if mask & selectors.EVENT_READ:
            self._read(conn, sock, now)

    def _read(self, conn: _Conn, sock: socket.socket, now: float) -> None:
        try:
            data = sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if conn.state in ("frozen", "answer"):
            if not data:
                self._drop(conn)  # the client gave up
            return  # swallowed: nothing goes through a silent or answered connection
        if conn.state == "cut":
            if not data:
                self._drop(conn)  # the target has seen the end of the stream
            return
        if conn.state in ("sniff", "swallow"):
            self._sniff(conn, data, now)
            return
        upward = sock is conn.client
        pipe = conn.up if upward else conn.down
        if not data:
            pipe.eof = True
            return
        if upward:
            data = self._upward(conn, data, now)
            if conn.state == "frozen":
                return
        with self._lock:
            latency = self._latency
        if data:
            pipe.push(now + latency, data)

    def _upward(self, conn: _Conn, data: bytes, now: float) -> bytes:
        """Applies stalls and cuts to bytes read from the client; returns what may go on."""
        if conn.stall_at is not None and conn.read_up + len(data) >= conn.stall_at:
            conn.read_up = conn.stall_at
            self._freeze(conn, now)
            return b""
        conn.read_up += len(data)
        with self._lock:
            if self._cut_every is None:
                return data
            if len(data) >= self._cut_left:
                data = data[: self._cut_left]
                self._cut_left = self._cut_every
                conn.cut_pending = True
            else:
                self._cut_left -= len(data)
        return data

    def _sniff(self, conn: _Conn, data: bytes, now: float) -> None:
        """Reads a request head (and swallows its body) to answer it with 503."""
        if not data:
            self._drop(conn)
            return
        if conn.state == "swallow":
            conn.swallow -= len(data)
        elif not conn.head and data[0] == _TLS_HANDSHAKE:
            self._count(tls_drops=1)
            self._drop(conn)  # TLS: no 503 without terminating it; drop the connection
            return
        else:
            conn.head += data
            end = conn.head.find(b"\r\n\r\n")
            if end < 0:
                if len(conn.head) > _HEAD_LIMIT:
                    self._drop(conn)
                return
            conn.swallow = _content_length(conn.head[:end]) - (len(conn.head) - end - 4)
            conn.state = "swallow"
        if conn.swallow <= 0 or conn.swallow > _SWALLOW_LIMIT:
            with self._lock:
                retry_after = self._retry_after
            conn.answer = _answer_503(retry_after)
            conn.state, conn.deadline = "answer", now + _CONNECT_TIMEOUT
            self._count(errors_503=1)

    def _pump(self, conn: _Conn, now: float) -> None:
        """Forwards what is due, finishes shutdowns, cuts and answers; enforces deadlines."""
        if conn.deadline is not None and now >= conn.deadline:
            self._drop(conn)
            return
        if conn.state == "answer":
            self._write_answer(conn)
            return
        if conn.state != "relay" or conn.upstream is None:
            return
        if conn.state == "relay":
            self._flush(conn, conn.up, conn.upstream, True, now)
        if conn.closed:
            return
        if conn.state == "relay" and conn.cut_pending and not conn.up.chunks:
            self._cut(conn, now)
            return
        if conn.state == "relay":
            self._flush(conn, conn.down, conn.client, False, now)
        if conn.up.done and conn.down.done and not conn.closed:
            self._drop(conn)

    def _flush(
        self, conn: _Conn, pipe: _Pipe, dst: socket.socket, upward: bool, now: float
    ) -> None:
        with self._lock:
            buckets = self._buckets
        while pipe.chunks and pipe.chunks[0][0] <= now:
            data = pipe.chunks[0][1]
            allowed = len(data)
            if buckets is not None:
                allowed = buckets[upward].allow(len(data), now)
                if allowed == 0:
                    return
            try:
                sent = dst.send(data[:allowed])
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._drop(conn)
                return
            if buckets is not None and sent < allowed:
                buckets[upward].tokens += allowed - sent  # give back what did not go
            pipe.take(sent)
            self._count(**{"bytes_up" if upward else "bytes_down": sent})
            if sent < allowed:
                pipe.blocked = True  # the socket is full: wait until it is writable
                return
        if pipe.eof and not pipe.chunks and not pipe.done:
            _shut_write(dst)
            pipe.done = True

    def _cut(self, conn: _Conn, now: float) -> None:
        """The target gets every relayed byte then an end of stream; the client, a dead line."""
        assert conn.upstream is not None
        self._count(cuts=1)
        _shut_write(conn.upstream)
        self._forget(conn.client)
        _close(conn.client)
        conn.state, conn.deadline = "cut", now + _CUT_DRAIN

    def _write_answer(self, conn: _Conn) -> None:
        try:
            sent = conn.client.send(conn.answer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        conn.answer = conn.answer[sent:]
        if not conn.answer:
            _shut_write(conn.client)  # then wait for the client to close (or the deadline)

    def _update_masks(self) -> None:
        for sock, conn in list(self._conns.items()):
            wanted = self._wanted(conn, sock)
            current = self._masks.get(sock, 0)
            if wanted == current:
                continue
            if current and wanted:
                self._selector.modify(sock, wanted)
            elif wanted:
                self._selector.register(sock, wanted)
            else:
                self._selector.unregister(sock)
            if wanted:
                self._masks[sock] = wanted
            else:
                self._masks.pop(sock, None)

    def _wanted(self, conn: _Conn, sock: socket.socket) -> int:
        read, write = selectors.EVENT_READ, selectors.EVENT_WRITE
        client = sock is conn.client
        if conn.state == "connecting":
            return write if not client else 0
        if conn.state in ("sniff", "swallow", "frozen"):
            return read if client else 0
        if conn.state == "answer":
            return read | (write if conn.answer else 0) if client else 0
        if conn.state == "cut":
            return read if not client else 0
        pipe_in = conn.up if client else conn.down  # what this socket feeds
        pipe_out = conn.down if client else conn.up  # what this socket receives
        mask = 0
        if not pipe_in.eof and pipe_in.size < _BUFFER_LIMIT and not (client and conn.cut_pending):
            mask |= read
        if pipe_out.blocked:
            mask |= write
        return mask

    def _forget(self, sock: socket.socket) -> None:
        self._conns.pop(sock, None)
        if self._masks.pop(sock, None) is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)

    def _drop(self, conn: _Conn) -> None:
        conn.closed = True
        for sock in conn.sockets():
            self._forget(sock)
            _close(sock)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return max(0, int(value.strip()))
            except ValueError:
                return 0
    return 0


def _answer_503(retry_after: float | None) -> bytes:
    body = b'{"error": "unavailable", "message": "Service unavailable (fault proxy)."}'
    lines = [
        b"HTTP/1.1 503 Service Unavailable",
        b"Content-Type: application/json",
        b"Content-Length: " + str(len(body)).encode(),
        b"Connection: close",
    ]
    if retry_after is not None:
        lines.append(b"Retry-After: " + str(round(retry_after)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
