"""Streaming a request body into a part file, chunk by chunk, as it arrives.

Memory stays flat whatever the bundle's size: each chunk uvicorn hands over is written at
once, unbuffered, so the file's size is exactly what was received. A body ends early, keeping
what was written, when the client disconnects, when it stalls longer than the idle timeout
(a dead link must not hold an upload forever), or when the server begins to shut down.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Message

__all__ = ["BodyReceiver"]

log = logging.getLogger(__name__)


class BodyReceiver:
    """Appends request bodies to files; every body ends when :meth:`begin_shutdown` is called."""

    def __init__(self, idle_timeout: float) -> None:
        """Sets the stall limit.

        Args:
            idle_timeout: Seconds to wait for the next piece of a body before giving up.
        """
        self.idle_timeout = idle_timeout
        self._stop: asyncio.Future[None] | None = None

    def begin_shutdown(self) -> None:
        """Ends the bodies being received (keeping their bytes); call in the event loop."""
        stop = self._stop_signal()
        if not stop.done():
            stop.set_result(None)

    def _stop_signal(self) -> asyncio.Future[None]:
        if self._stop is None:
            self._stop = asyncio.get_running_loop().create_future()
        return self._stop

    async def append(self, request: Request, path: Path, limit: int) -> tuple[int, bool]:
        """Appends the request's body to ``path`` as it arrives, then flushes it to disk.

        Args:
            request: The request whose body to read.
            path: The file to append to.
            limit: How many bytes the body may hold.

        Returns:
            The number of bytes written, and whether the body went past ``limit`` (the
            caller should then discard what this body wrote).
        """
        written = 0
        with path.open("ab", buffering=0) as part:
            try:
                while True:
                    message = await self._next_message(request)
                    if message is None or message["type"] == "http.disconnect":
                        log.info("%s: body ended early after %d bytes", path.name, written)
                        break
                    body: bytes = message.get("body", b"")
                    if len(body) > limit - written:
                        return written, True
                    view = memoryview(body)
                    while view:  # an unbuffered write may be partial
                        view = view[part.write(view) or 0 :]
                    written += len(body)
                    if not message.get("more_body", False):
                        break
            finally:
                await run_in_threadpool(os.fsync, part.fileno())
        return written, False

    async def _next_message(self, request: Request) -> Message | None:
        """Waits for the next body message; ``None`` if the body stalls or the server stops."""
        receive = asyncio.ensure_future(request.receive())
        waiters: set[asyncio.Future[Any]] = {receive, self._stop_signal()}
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=self.idle_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            receive.cancel()
        return receive.result() if receive in done else None
