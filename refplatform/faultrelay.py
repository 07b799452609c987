"""The I/O thread of :class:`~refplatform.faultproxy.FaultProxy`: relays bytes, applies faults.

One thread serves every connection through non-blocking sockets and a selector, so the number of
threads is bounded whatever the number of connections. Each turn of its loop accepts new
connections (drawing which get a 503 or a stall), reads what arrived, forwards what is due
(latency, throttle), cuts a connection once ``cut_every`` bytes went up, writes the 503
answers, and drops what passed its deadline. :class:`FaultRelay` holds that loop;
:class:`~refplatform.faultproxy.FaultProxy` builds on it, owns the sockets' life cycle and sets
the faults, under ``_lock``, which the loop reads.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import random
import selectors
import socket
import threading
import time
from dataclasses import dataclass, replace

from refplatform.faultconn import (
    CONNECT_TIMEOUT,
    Bucket,
    Conn,
    Pipe,
    answer_503,
    close_quietly,
    content_length,
    shut_write,
)

__all__ = ["Counters", "FaultRelay"]

log = logging.getLogger(__name__)

_RECV = 64 * 1024
_BUFFER_LIMIT = 256 * 1024  # per direction and connection; reading pauses above it
_HEAD_LIMIT = 64 * 1024  # largest request head read before answering 503
_SWALLOW_LIMIT = 64 * 1024 * 1024  # largest request body swallowed before answering 503
_CUT_DRAIN = 2.0  # seconds the target may take to notice a cut before its socket is closed
_TICK = 0.05
_TLS_HANDSHAKE = 0x16


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


class FaultRelay:
    """The relay's I/O loop; :class:`~refplatform.faultproxy.FaultProxy` builds on it."""

    max_connections: int
    # The fault settings, written by the proxy's setters and read here, under _lock.
    _lock: threading.Lock
    _rng: random.Random
    _counters: Counters
    _cut_every: int | None
    _cut_left: int
    _latency: float
    _buckets: dict[bool, Bucket] | None
    _error_rate: float
    _retry_after: float | None
    _stall_rate: float
    _stall_window: int
    _stall_hold: float
    # The sockets, opened and closed by the proxy's start() and stop().
    _conns: dict[socket.socket, Conn]
    _masks: dict[socket.socket, int]
    _selector: selectors.BaseSelector
    _listener: socket.socket | None
    _wake_r: socket.socket
    _stopping: threading.Event
    _target_addr: tuple[object, ...] | None
    _family: socket.AddressFamily

    def _count(self, **deltas: int) -> None:
        with self._lock:
            values = {k: getattr(self._counters, k) + v for k, v in deltas.items()}
            self._counters = replace(self._counters, **values)

    def _unique(self) -> list[Conn]:
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
                close_quietly(client)
                continue
            client.setblocking(False)
            with contextlib.suppress(OSError):
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Conn(client, now)
            self._conns[client] = conn
            with self._lock:
                error = self._rng.random() < self._error_rate
                stall = self._rng.random() < self._stall_rate
                stall_at = self._rng.randint(0, self._stall_window)
            if error:
                conn.state, conn.deadline = "sniff", now + CONNECT_TIMEOUT
                continue
            if stall:
                conn.stall_at = stall_at
                if stall_at == 0:
                    self._freeze(conn, now)
                    continue
            self._connect(conn)

    def _connect(self, conn: Conn) -> None:
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

    def _freeze(self, conn: Conn, now: float) -> None:
        with self._lock:
            hold = self._stall_hold
        conn.state, conn.deadline = "frozen", now + hold
        self._count(stalls=1)

    def _event(self, conn: Conn, sock: socket.socket, mask: int, now: float) -> None:
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

    def _read(self, conn: Conn, sock: socket.socket, now: float) -> None:
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

    def _upward(self, conn: Conn, data: bytes, now: float) -> bytes:
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

    def _sniff(self, conn: Conn, data: bytes, now: float) -> None:
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
            conn.swallow = content_length(conn.head[:end]) - (len(conn.head) - end - 4)
            conn.state = "swallow"
        if conn.swallow <= 0 or conn.swallow > _SWALLOW_LIMIT:
            with self._lock:
                retry_after = self._retry_after
            conn.answer = answer_503(retry_after)
            conn.state, conn.deadline = "answer", now + CONNECT_TIMEOUT
            self._count(errors_503=1)

    def _pump(self, conn: Conn, now: float) -> None:
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

    def _flush(self, conn: Conn, pipe: Pipe, dst: socket.socket, upward: bool, now: float) -> None:
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
            shut_write(dst)
            pipe.done = True

    def _cut(self, conn: Conn, now: float) -> None:
        """The target gets every relayed byte then an end of stream; the client, a dead line."""
        assert conn.upstream is not None
        self._count(cuts=1)
        shut_write(conn.upstream)
        self._forget(conn.client)
        close_quietly(conn.client)
        conn.state, conn.deadline = "cut", now + _CUT_DRAIN

    def _write_answer(self, conn: Conn) -> None:
        try:
            sent = conn.client.send(conn.answer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        conn.answer = conn.answer[sent:]
        if not conn.answer:
            shut_write(conn.client)  # then wait for the client to close (or the deadline)

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

    def _wanted(self, conn: Conn, sock: socket.socket) -> int:
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

    def _drop(self, conn: Conn) -> None:
        conn.closed = True
        for sock in conn.sockets():
            self._forget(sock)
            close_quietly(sock)
