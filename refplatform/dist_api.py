"""The JSON API of the distributed platform: the same routes and answers as :mod:`refplatform.api`.

Mailbox listings and acknowledgements are rows in PostgreSQL, so every replica lists the same
items in the same order and an acknowledged item is gone for all of them at once. A download
streams the bundle's pieces from the object store in order (a ``Range`` reads only the pieces
it overlaps).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from refplatform import __version__
from refplatform.accounts import AmbiguousRecipient
from refplatform.api import _query_int, _small_json
from refplatform.backend import Blobs
from refplatform.dist_finalise import Finaliser
from refplatform.dist_tus import authenticate
from refplatform.journal import MAX_BODY_BYTES, MAX_LISTED, CheckpointRefused, parse_checkpoint
from refplatform.mailpages import encode_cursor, page_params
from refplatform.pgjournal import PgCheckpoints
from refplatform.pgrecord import PgRecord
from refplatform.pguploads import PgUploads, Piece
from refplatform.ranges import RangeNotSatisfiable, parse_range
from refplatform.web import ApiError

__all__ = ["DistributedApi"]

log = logging.getLogger(__name__)

_ITEM = "/api/v1/mailboxes/{recipient}/items/{bundle_id}"
_CHECKPOINTS = "/api/v1/journal/checkpoints"


def _slices(blobs: Blobs, pieces: list[Piece], start: int, stop: int) -> Iterator[bytes]:
    """Bytes ``[start, stop)`` of a bundle made of ``pieces``."""
    for piece in pieces:
        low, high = max(start, piece.start), min(stop, piece.start + piece.size)
        if low < high:
            yield from blobs.read(piece.key, low - piece.start, high - piece.start)


class DistributedApi:
    """Request handlers of the JSON API over PostgreSQL and an object store."""

    def __init__(
        self,
        record: PgRecord,
        uploads: PgUploads,
        blobs: Blobs,
        finaliser: Finaliser,
        checkpoints: PgCheckpoints,
    ) -> None:
        """Binds the handlers."""
        self.record = record
        self.uploads = uploads
        self.blobs = blobs
        self.finaliser = finaliser
        self.checkpoints = checkpoints

    def routes(self) -> list[Route]:
        """Returns the routes to mount at the application's root."""
        return [
            Route("/api/v1/health", self.health, methods=["GET"]),
            Route("/api/v1/directory", self.directory, methods=["GET"]),
            Route("/api/v1/deliveries/{bundle_id}", self.delivery, methods=["GET"]),
            Route("/api/v1/mailboxes/{recipient}/items", self.items, methods=["GET"]),
            Route(_ITEM, self.item, methods=["GET", "DELETE"]),
            Route(_CHECKPOINTS, self.add_checkpoint, methods=["POST"]),
            Route(_CHECKPOINTS, self.list_checkpoints, methods=["GET"]),
        ]

    async def health(self, request: Request) -> Response:
        """``GET /api/v1/health``: needs no token; 503 if the database does not answer."""
        await run_in_threadpool(self.record.ping)
        return JSONResponse({"status": "ok", "version": __version__})

    async def directory(self, request: Request) -> Response:
        """``GET /api/v1/directory``."""
        await authenticate(request, self.record)
        recipients = await run_in_threadpool(self.record.directory)
        return JSONResponse({"recipients": recipients})

    async def delivery(self, request: Request) -> Response:
        """``GET /api/v1/deliveries/<bundle_id>[?recipient=<id>]``."""
        station = await authenticate(request, self.record)
        bundle_id = str(request.path_params["bundle_id"])
        recipient = request.query_params.get("recipient")
        if recipient is not None:
            recipient = await self._resolve(recipient) or recipient
        record = await run_in_threadpool(self.uploads.delivery, station, bundle_id, recipient)
        if record is None:
            raise ApiError(404, "not_found", "No delivery of this bundle by this station.")
        return JSONResponse(record)

    async def _resolve(self, address: str) -> str | None:
        try:
            return await run_in_threadpool(self.record.resolve_recipient, address)
        except AmbiguousRecipient:
            raise ApiError(
                409,
                "ambiguous_recipient",
                "Several recipients share this certificate; address the mailbox by recipient id.",
            ) from None

    async def _own_mailbox(self, request: Request) -> str:
        station = await authenticate(request, self.record)
        recipient = await self._resolve(str(request.path_params["recipient"]))
        owner = None
        if recipient is not None:
            owner = await run_in_threadpool(self.record.recipient_station, recipient)
        if recipient is None or owner is None:
            raise ApiError(404, "unknown_recipient", "The recipient is not registered.")
        if owner != station:
            raise ApiError(403, "forbidden", "This mailbox belongs to another station.")
        return recipient

    async def items(self, request: Request) -> Response:
        """``GET .../items[?limit=N][&after=<cursor>]``: one page of unacknowledged items,
        oldest first, and the ``next`` cursor (``null`` when none follow):
        :mod:`refplatform.mailpages`."""
        recipient = await self._own_mailbox(request)
        after, limit = page_params(request.query_params)
        items, last = await run_in_threadpool(self.uploads.page, recipient, after, limit)
        following = None if last is None else encode_cursor(last)
        return JSONResponse({"items": [item.to_json() for item in items], "next": following})

    async def item(self, request: Request) -> Response:
        """``GET .../items/<bundle_id>`` (download, with ``Range``) or ``DELETE`` (acknowledge)."""
        recipient = await self._own_mailbox(request)
        bundle_id = str(request.path_params["bundle_id"])
        if request.method == "DELETE":
            delivered, keys = await run_in_threadpool(
                self.uploads.acknowledge, recipient, bundle_id
            )
            if not delivered:
                raise ApiError(404, "not_found", "This bundle was never in this mailbox.")
            await run_in_threadpool(self.finaliser.discard, keys)
            log.info("bundle %s acknowledged by its recipient's station", bundle_id)
            return Response(status_code=204)
        found = await run_in_threadpool(self.uploads.item, recipient, bundle_id)
        if found is None:
            raise ApiError(404, "not_found", "No such item in this mailbox.")
        item, blob_id = found
        pieces = await run_in_threadpool(self.uploads.pieces, blob_id)
        headers = {
            "ETag": f'"{item.sha256}"',
            "Accept-Ranges": "bytes",
            "Cache-Control": "no-store",
        }
        try:
            span = parse_range(request.headers.get("range"), item.size)
        except RangeNotSatisfiable:
            raise ApiError(
                416,
                "range_not_satisfiable",
                f"The item has {item.size} bytes.",
                {**headers, "Content-Range": f"bytes */{item.size}"},
            ) from None
        start, stop, status = 0, item.size, 200
        if span is not None:
            start, stop, status = span[0], span[1], 206
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{item.size}"
        headers["Content-Length"] = str(stop - start)
        return StreamingResponse(
            _slices(self.blobs, pieces, start, stop),
            status_code=status,
            headers=headers,
            media_type="application/octet-stream",
        )

    async def add_checkpoint(self, request: Request) -> Response:
        """``POST /api/v1/journal/checkpoints`` (as :mod:`refplatform.api` answers it)."""
        station = await authenticate(request, self.record)
        document = await _small_json(request, MAX_BODY_BYTES)
        try:
            count, head, when, signature = parse_checkpoint(document)
            kept, created = await run_in_threadpool(
                self.checkpoints.add, station, count, head, when, signature
            )
        except CheckpointRefused as refused:
            raise ApiError(refused.status, refused.code, refused.message) from None
        return JSONResponse(kept.to_json(), status_code=201 if created else 200)

    async def list_checkpoints(self, request: Request) -> Response:
        """``GET /api/v1/journal/checkpoints[?after=N][&limit=L]``."""
        station = await authenticate(request, self.record)
        after = _query_int(request, "after", 0, 0)
        limit = min(_query_int(request, "limit", MAX_LISTED, 1), MAX_LISTED)
        listed = await run_in_threadpool(
            self.checkpoints.list, station, after=after, limit=limit + 1
        )
        page = listed[:limit]
        total = await run_in_threadpool(self.checkpoints.total, station)
        return JSONResponse(
            {
                "station": station,
                "checkpoints": [c.to_json() for c in page],
                "more": len(listed) > len(page),
                "total": total,
            }
        )
