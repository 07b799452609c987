"""An idle-progress watchdog for HTTP exchanges: a stalled socket is abandoned in bounded time.

Socket timeouts alone do not bound a stall: while a request body is being sent, urllib3 applies
the *connect* timeout to each send, and a body that fits in the kernel's buffers is "sent" at
once, leaving the read timeout as the only limit. The watchdog instead measures *progress*: a
:class:`Watch` is armed around one exchange (request, body and, for downloads, the answer's
body); every block handed to the socket and every block received kicks it. If nothing moves for
``idle`` seconds, a single monitor thread shuts the exchange's socket down, which wakes the
blocked ``send``/``recv`` at once; the transport then reports ``timeout``.

The socket is found through the connection classes below, which register themselves with the
watch of the thread that uses them (:class:`WatchedAdapter` installs them in a
``requests.Session``). Qt-free.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

__all__ = ["ProgressBody", "Watch", "Watchdog", "WatchedAdapter", "current_watch"]

log = logging.getLogger(__name__)

_local = threading.local()


def current_watch() -> Watch | None:
    """Returns the watch armed on the calling thread, if any."""
    watch: Watch | None = getattr(_local, "watch", None)
    return watch


class Watch:
    """One armed exchange: its deadline, its connections, and whether it fired."""

    def __init__(self, watchdog: Watchdog, idle: float) -> None:
        self.idle = idle
        self.fired = False
        self._watchdog = watchdog
        self._deadline = watchdog.monotonic() + idle
        self._connections: list[HTTPConnection] = []

    @property
    def deadline(self) -> float:
        """When the watch fires unless kicked (monotonic seconds)."""
        return self._deadline

    def kick(self) -> None:
        """Records progress: the deadline moves ``idle`` seconds ahead."""
        self._deadline = self._watchdog.monotonic() + self.idle

    def attach(self, connection: HTTPConnection) -> None:
        """Adds a connection whose socket to shut down if the watch fires."""
        with self._watchdog.lock:
            if connection not in self._connections:
                self._connections.append(connection)

    def fire(self) -> None:
        """Shuts down the sockets of the attached connections (called by the monitor)."""
        self.fired = True
        for connection in self._connections:
            sock = getattr(connection, "sock", None)
            if sock is None:
                continue
            # The plain socket's shutdown, even under TLS: it wakes a thread blocked in send or
            # recv on this file descriptor without touching the TLS object it is using.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """Arms watches and runs the monitor thread that fires them (one for the process)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        """Creates the watchdog; its thread starts with the first watch.

        Args:
            monotonic: The clock of deadlines.
        """
        self.monotonic = monotonic
        self.lock = threading.Lock()
        self._wakeup = threading.Condition(self.lock)
        self._watches: set[Watch] = set()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, idle: float) -> Iterator[Watch]:
        """Arms a watch on the calling thread for the duration of the block.

        Nested use keeps the outer watch (the block is part of the same exchange).

        Args:
            idle: Seconds without progress after which the exchange is abandoned.
        """
        outer = current_watch()
        if outer is not None:
            yield outer
            return
        watch = Watch(self, idle)
        with self._wakeup:
            self._watches.add(watch)
            self._start()
            self._wakeup.notify()
        _local.watch = watch
        try:
            yield watch
        finally:
            _local.watch = None
            with self._wakeup:
                self._watches.discard(watch)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._monitor, name="outbox-watchdog")
            self._thread.daemon = True
            self._thread.start()

    def _monitor(self) -> None:
        with self._wakeup:
            while True:
                if not self._watches:
                    self._wakeup.wait()
                    continue
                now = self.monotonic()
                due = [w for w in self._watches if not w.fired and w.deadline <= now]
                for watch in due:
                    log.info("no progress for %.1f s: abandoning the connection", watch.idle)
                    watch.fire()
                pending = [w.deadline for w in self._watches if not w.fired]
                wait = max(0.01, min(pending) - now) if pending else None
                self._wakeup.wait(wait)


#: The process's watchdog.
WATCHDOG = Watchdog()


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = current_watch()
        if watch is not None:
            watch.attach(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = current_watch()
        if watch is not None:
            watch.attach(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _WatchedHTTPPool,
    "https": _WatchedHTTPSPool,
}


class WatchedAdapter(HTTPAdapter):
    """A ``requests`` adapter whose connections (direct or through a proxy) can be watched."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Builds the pool manager, then makes it use the watched connection classes."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        """Returns the proxy's pool manager, using the watched connection classes."""
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


class ProgressBody:
    """A request body handed to the socket in blocks, each block kicking ``on_progress``.

    ``requests`` sends it with a ``Content-Length`` (from ``len()``) and urllib3 reads it in
    blocks: a block is read only once the previous one went to the socket.
    """

    def __init__(self, data: bytes | memoryview, on_progress: Callable[[], None]) -> None:
        """Wraps ``data`` (not copied)."""
        self._view = memoryview(data)
        self._position = 0
        self._on_progress = on_progress

    def __len__(self) -> int:
        return len(self._view)

    def read(self, size: int = -1) -> bytes:
        """Returns the next block (at most ``size`` bytes; all the rest if negative)."""
        self._on_progress()
        end = len(self._view) if size < 0 else min(len(self._view), self._position + size)
        block = self._view[self._position : end].tobytes()
        self._position = end
        return block
