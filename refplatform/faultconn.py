"""The pieces of one connection through :class:`~refplatform.faultproxy.FaultProxy`.

A :class:`Conn` is a client connection and, once connected, its upstream socket, with one
:class:`Pipe` per direction (chunks waiting for their due time). A :class:`Bucket` is the token
bucket one direction shares across every connection when bandwidth is throttled. When the proxy
answers 503, :func:`content_length` reads the request head and :func:`answer_503` is the answer.
No thread here: the relay's one I/O thread (:mod:`refplatform.faultrelay`) drives them all.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import deque

__all__ = [
    "CONNECT_TIMEOUT",
    "Bucket",
    "Conn",
    "Pipe",
    "answer_503",
    "close_quietly",
    "content_length",
    "shut_write",
]

CONNECT_TIMEOUT = 5.0
"""Seconds a connection may take to reach the target, or to be answered with 503."""


class Bucket:
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


class Pipe:
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


class Conn:
    """A client connection and, once connected, its upstream socket."""

    def __init__(self, client: socket.socket, now: float) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.state = "connecting"  # connecting, relay, sniff, swallow, answer, frozen, cut
        self.up = Pipe()
        self.down = Pipe()
        self.deadline: float | None = now + CONNECT_TIMEOUT
        self.stall_at: int | None = None  # upstream bytes after which it goes silent
        self.read_up = 0  # bytes read from the client so far
        self.cut_pending = False  # cut once the up pipe is flushed
        self.head = b""  # request head read in the sniff state
        self.swallow = 0  # body bytes still to swallow
        self.answer = b""  # 503 answer still to write
        self.closed = False

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.client, self.upstream) if s is not None]


def close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def shut_write(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return max(0, int(value.strip()))
            except ValueError:
                return 0
    return 0


def answer_503(retry_after: float | None) -> bytes:
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
