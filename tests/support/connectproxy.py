"""A tiny HTTP CONNECT proxy on 127.0.0.1, standing in for a hospital's outgoing web proxy.

It answers ``CONNECT host:port`` by opening a TCP connection to that address (127.0.0.1 only:
it never reaches beyond the machine) and relaying bytes both ways, so TLS goes end to end
through it. It counts the tunnels it opened and can demand proxy authentication (``407``).
Bounded: a few threads, sockets with timeouts, all closed and joined by :meth:`stop`.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType

_POLL = 0.05
_HEAD_LIMIT = 16 * 1024
_IDLE_LIMIT = 30.0


class ConnectProxy:
    """An HTTP proxy that only tunnels (``CONNECT``) to 127.0.0.1."""

    def __init__(self, *, require_auth: bool = False) -> None:
        """Starts listening on a free port of 127.0.0.1.

        Args:
            require_auth: Answer ``407 Proxy Authentication Required`` to every request.
        """
        self.require_auth = require_auth
        self.tunnels = 0
        self.refused = 0
        self.targets: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        self._accepter = threading.Thread(target=self._accept_loop, name="connectproxy")
        self._accepter.daemon = True
        self._accepter.start()

    @property
    def url(self) -> str:
        """The proxy URL to configure a client with."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Closes every socket and joins every thread."""
        self._stopping.set()
        with self._lock:
            for sock in (self._listener, *self._sockets):
                with contextlib.suppress(OSError):
                    sock.close()
            self._sockets.clear()
        self._accepter.join(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> ConnectProxy:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            client.settimeout(5)
            with self._lock:
                self._sockets.add(client)
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < _HEAD_LIMIT:
                block = client.recv(4096)
                if not block:
                    return
                head += block
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, _, rest = request_line.partition(" ")
            target = rest.partition(" ")[0]
            host, _, port = target.rpartition(":")
            if self.require_auth:
                with self._lock:
                    self.refused += 1
                client.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="hospital"\r\n'
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            if method != "CONNECT" or host not in ("127.0.0.1", "localhost") or not port.isdigit():
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
            with self._lock:
                self.tunnels += 1
                self.targets.append(target)
                self._sockets.add(upstream)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(client, upstream)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
                    with self._lock:
                        self._sockets.discard(sock)

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        peer = {client: upstream, upstream: client}
        idle = 0.0
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(upstream, selectors.EVENT_READ)
            while not self._stopping.is_set() and idle < _IDLE_LIMIT:
                events = selector.select(_POLL)
                if not events:
                    idle += _POLL
                    continue
                idle = 0.0
                for key, _ in events:
                    src = key.fileobj
                    assert isinstance(src, socket.socket)
                    data = src.recv(65536)
                    if not data:
                        return
                    peer[src].sendall(data)
