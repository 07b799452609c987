"""Serving a mailbox file, whole or from a single ``Range: bytes=...``, without loading it.

Only one range per request is honoured: a multi-range or malformed header is ignored and the
whole file is sent (as RFC 9110 allows), which is all a resuming download needs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import BinaryIO

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["FileSliceResponse", "RangeNotSatisfiable", "parse_range"]

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_DIGITS = re.compile(r"[0-9]{1,19}")


class RangeNotSatisfiable(ValueError):
    """The requested range starts past the end of the file (answer 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Reads a ``Range`` header against a file of ``size`` bytes.

    Args:
        header: The header's value, or ``None``.
        size: The file's size.

    Returns:
        ``(start, stop)`` with ``stop`` exclusive, or ``None`` to send the whole file.

    Raises:
        RangeNotSatisfiable: If the range lies entirely past the end of the file.
    """
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if unit.strip().lower() != "bytes" or "," in spec or not dash:
        return None
    if not first:  # suffix range: the last N bytes
        if _DIGITS.fullmatch(last) is None:
            return None
        if int(last) == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - int(last)), size
    if _DIGITS.fullmatch(first) is None or (last and _DIGITS.fullmatch(last) is None):
        return None
    start = int(first)
    if last and int(last) < start:
        return None  # an invalid range-spec is ignored
    if start >= size:
        raise RangeNotSatisfiable(header)
    return start, min(int(last) + 1 if last else size, size)


class FileSliceResponse(Response):
    """Streams ``[start, stop)`` of an already open file, then closes it."""

    def __init__(
        self,
        handle: BinaryIO,
        start: int,
        stop: int,
        *,
        status_code: int,
        headers: Mapping[str, str],
    ) -> None:
        """Prepares the answer; the file is read only when the answer is sent.

        Args:
            handle: The open file; this response owns and closes it.
            start: First byte to send.
            stop: One past the last byte to send.
            status_code: 200 for the whole file, 206 for a range.
            headers: Headers to send (``Content-Length`` is added).
        """
        self.handle = handle
        self.start = start
        self.stop = stop
        all_headers = {**headers, "Content-Length": str(stop - start)}
        super().__init__(
            status_code=status_code, headers=all_headers, media_type="application/octet-stream"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Sends the slice, stopping early if the client goes away."""
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            async with anyio.create_task_group() as group:

                async def stream() -> None:
                    await self._stream(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream)
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()
        finally:
            self.handle.close()

    async def _stream(self, send: Send) -> None:
        await run_in_threadpool(self.handle.seek, self.start)
        remaining = self.stop - self.start
        while remaining > 0:
            chunk = await run_in_threadpool(self.handle.read, min(_CHUNK, remaining))
            if not chunk:
                raise OSError("mailbox file shorter than recorded")
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
