"""A fault-injecting TCP proxy on 127.0.0.1, to play a dead or flaky network in tests.

It relays bytes as they are (TLS passes through untouched) and can be switched at any time:

- ``PASS``: relay both ways;
- ``REFUSE``: nothing listens on the port (connections are refused), open ones are closed;
- ``DROP``: connections are accepted and closed at once, open ones are closed;
- ``STALL``: new connections are accepted and never answered, and open ones freeze (nothing is
  relayed either way) until the mode changes: a silent socket, as on a black-holed route;
- :meth:`FaultProxy.cut_after`: relay, but cut every connection once that many more bytes went
  upstream, then go back to ``PASS`` (a one-shot cut mid-upload);
- ``UNAVAILABLE`` (:meth:`FaultProxy.unavailable`): answer every request ``503`` with a
  ``Retry-After`` header and a JSON reason, as an overloaded front end does (plain HTTP only);
- :meth:`FaultProxy.limit_body`: in ``PASS`` mode, answer ``413`` to any request whose body is
  larger than a limit, as a proxy with a body cap does (nginx: 1 MB); each connection then
  carries one request (plain HTTP only);
- :meth:`FaultProxy.corrupt`: flip the last byte of upward blocks of 4 KiB or more (request
  bodies), a given number of times or for good (plain HTTP only: TLS would catch it).

Everything is bounded: a few threads, sockets with timeouts, all closed and joined by
:meth:`FaultProxy.stop`.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from enum import StrEnum
from types import TracebackType

_POLL = 0.05
_MAX_CONNECTIONS = 64


class Mode(StrEnum):
    """What the proxy does with connections."""

    PASS = "pass"
    REFUSE = "refuse"
    DROP = "drop"
    STALL = "stall"
    UNAVAILABLE = "unavailable"


_HEAD_LIMIT = 64 * 1024
_CORRUPT_MIN_BLOCK = 4096


def _read_head(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """Reads an HTTP request head; returns it and the bytes after it (``None``: no head)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _HEAD_LIMIT:
            return None
        try:
            block = sock.recv(65536)
        except OSError:
            return None
        if not block:
            return None
        data += block
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value.strip())
    return 0


def _answer(status: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("ascii") + body


def _close(sock: socket.socket, *, listener: bool = False) -> None:
    # A plain close, never a reset before the TLS handshake: CPython's ssl module leaks the
    # client socket when the peer resets it between connect() and the handshake.
    with contextlib.suppress(OSError):
        if listener:  # wakes a blocked accept() and stops queueing new connections now
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class FaultProxy:
    """A switchable TCP relay from ``127.0.0.1:port`` to an upstream address."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._mode = Mode.PASS
        self._cut_budget: int | None = None
        self._retry_after = "1"
        self._body_limit: int | None = None
        self._corrupt_budget: int | None = 0  # None: corrupt for good
        self.answered = 0  # requests answered by the proxy itself (503, 413)
        self._stopping = threading.Event()
        self._relayed: set[socket.socket] = set()  # both ends of relayed connections
        self._held: set[socket.socket] = set()  # accepted in STALL mode, never relayed
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._accepter = threading.Thread(target=self._accept_loop, name="netfault", daemon=True)
        self._accepter.start()

    def url(self, scheme: str = "https") -> str:
        """Returns the base URL to give the client instead of the upstream one."""
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def mode(self) -> Mode:
        """The current mode."""
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        """Switches mode (see the module's description of each)."""
        with self._lock:
            self._mode = mode
            self._cut_budget = None
            if mode is not Mode.STALL:
                self._close(self._held)
            if mode in (Mode.REFUSE, Mode.DROP, Mode.UNAVAILABLE):
                self._close(self._relayed)
            if mode is Mode.REFUSE and self._listener is not None:
                _close(self._listener, listener=True)
                self._listener = None
            elif mode is not Mode.REFUSE and self._listener is None:
                self._listener = self._listen(self.port)

    def unavailable(self, retry_after: str = "1") -> None:
        """Answers every new request ``503`` with ``Retry-After: <retry_after>`` (HTTP only)."""
        self.set_mode(Mode.UNAVAILABLE)
        with self._lock:
            self._retry_after = retry_after

    def limit_body(self, max_bytes: int | None) -> None:
        """Answers ``413`` to requests with a body over ``max_bytes`` (``None``: no limit)."""
        with self._lock:
            self._body_limit = max_bytes

    def corrupt(self, blocks: int | None = 1) -> None:
        """Flips a byte in the next ``blocks`` upward blocks of 4 KiB or more (``None``: all)."""
        with self._lock:
            self._corrupt_budget = blocks

    def cut_after(self, nbytes: int) -> None:
        """Relays ``nbytes`` more bytes upstream, then cuts all connections and passes again."""
        self.set_mode(Mode.PASS)
        with self._lock:
            self._cut_budget = nbytes

    def reset_counters(self) -> None:
        """Sets the byte and connection counters back to zero."""
        with self._lock:
            self.bytes_up = self.bytes_down = self.connections = 0

    def stop(self) -> None:
        """Closes every socket and joins every thread."""
        self._stopping.set()
        with self._lock:
            if self._listener is not None:
                _close(self._listener, listener=True)
                self._listener = None
            self._close(self._held)
            self._close(self._relayed)
        self._accepter.join(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        self.stop()

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        listener.settimeout(_POLL)
        return listener

    @staticmethod
    def _close(socks: set[socket.socket]) -> None:
        for sock in socks:
            _close(sock)
        socks.clear()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            listener = self._listener
            if listener is None:
                self._stopping.wait(_POLL)
                continue
            try:
                client, _ = listener.accept()
            except OSError:  # timeout, or closed by set_mode/stop
                continue
            with self._lock:
                self.connections += 1
                room = len(self._relayed) + len(self._held) < 2 * _MAX_CONNECTIONS
                if self._mode is Mode.STALL and room:
                    self._held.add(client)
                    continue
                relay = self._mode is Mode.PASS and room
                target = self._relay if self._body_limit is None else self._relay_limited
                if self._mode is Mode.UNAVAILABLE and room:
                    relay, target = True, self._refuse_503
            if not relay:
                _close(client)
                continue
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(target=target, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _close(client)
            return
        for sock in (client, upstream):
            sock.settimeout(5)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._stopping.is_set() or self._mode is not Mode.PASS:
                _close(client)
                _close(upstream)
                return
            self._relayed.update((client, upstream))
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(upstream, selectors.EVENT_READ)
            while not self._stopping.is_set() and client in self._relayed:
                if self._mode is Mode.STALL:
                    self._stopping.wait(_POLL)
                    continue
                try:
                    for key, _ in selector.select(_POLL):
                        src = key.fileobj
                        assert isinstance(src, socket.socket)
                        data = src.recv(65536)
                        if not data or not self._forward(src is client, data, peer[src]):
                            raise ConnectionAbortedError
                except (OSError, ValueError):  # closed by a switch, a cut or the peer
                    break
        with self._lock:
            self._relayed.difference_update((client, upstream))
        _close(client)
        _close(upstream)

    def _refuse_503(self, client: socket.socket) -> None:
        """Reads one request head and answers 503 with Retry-After."""
        client.settimeout(5)
        try:
            if _read_head(client) is not None:
                with self._lock:
                    retry_after = self._retry_after
                    self.answered += 1
                body = b'{"error": "unavailable", "detail": "Service unavailable (netfault)."}'
                headers = {"Retry-After": retry_after, "Content-Type": "application/json"}
                client.sendall(_answer("503 Service Unavailable", headers, body))
        except OSError:
            pass
        _close(client)

    def _relay_limited(self, client: socket.socket) -> None:
        """One request per connection: 413 if its body is over the limit, else relayed."""
        client.settimeout(5)
        upstream: socket.socket | None = None
        try:
            read = _read_head(client)
            if read is None:
                return
            head, rest = read
            with self._lock:
                limit = self._body_limit
            length = _content_length(head)
            if limit is not None and length > limit:
                with self._lock:
                    self.answered += 1
                body = b'{"error": "too_large", "detail": "Request body over the proxy limit."}'
                client.sendall(_answer("413 Content Too Large", {}, body))
                return
            # One request per connection, so the answer ends when the server closes.
            head = head[:-4] + b"\r\nConnection: close\r\n\r\n"
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.sendall(head)
            with self._lock:
                self.bytes_up += len(head)
            sent = 0
            while sent < length:
                block = rest if rest else client.recv(65536)
                rest = b""
                if not block:
                    return
                block = block[: length - sent]
                upstream.sendall(block)
                sent += len(block)
                with self._lock:
                    self.bytes_up += len(block)
            while block := upstream.recv(65536):
                client.sendall(block)
                with self._lock:
                    self.bytes_down += len(block)
        except OSError:
            pass
        finally:
            if upstream is not None:
                _close(upstream)
            _close(client)

    def _forward(self, upward: bool, data: bytes, dst: socket.socket) -> bool:
        """Sends ``data`` on; returns ``False`` once a cut happened."""
        cut = False
        with self._lock:
            budget = self._corrupt_budget
            if upward and len(data) >= _CORRUPT_MIN_BLOCK and (budget is None or budget > 0):
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
                if budget is not None:
                    self._corrupt_budget = budget - 1
            if upward and self._cut_budget is not None:
                cut = len(data) >= self._cut_budget
                data = data[: self._cut_budget]
                self._cut_budget = None if cut else self._cut_budget - len(data)
            if upward:
                self.bytes_up += len(data)
            else:
                self.bytes_down += len(data)
        if data:
            dst.sendall(data)
        if cut:
            with self._lock:
                self._close(self._relayed)
        return not cut
