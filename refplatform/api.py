"""The platform's JSON API under ``/api/v1``: health, directory, deliveries, mailboxes, and
the checkpoints of the stations' audit journals.

A station reads only the mailboxes of the recipients registered to it (403 otherwise) and
sees only the deliveries of bundles it sent (404 otherwise). A mailbox is addressed by the
recipient's id or by the SHA-256 fingerprint of the recipient's certificate. Mailbox files are
served as stored: the platform never opens a bundle. A station writes and reads only its own
journal checkpoints (``refplatform.journal``): the token names the station.
"""

from __future__ import annotations

import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from refplatform import __version__
from refplatform.accounts import AmbiguousRecipient, directory, recipient_station, resolve_recipient
from refplatform.db import Database
from refplatform.journal import (
    MAX_BODY_BYTES,
    MAX_LISTED,
    CheckpointRefused,
    Checkpoints,
    parse_checkpoint,
)
from refplatform.mailbox import Mailboxes
from refplatform.mailpages import encode_cursor, page_params
from refplatform.ranges import FileSliceResponse, RangeNotSatisfiable, parse_range
from refplatform.web import ApiError, authenticate

__all__ = ["ApiEndpoints"]

log = logging.getLogger(__name__)

_ITEM = "/api/v1/mailboxes/{recipient}/items/{bundle_id}"
_CHECKPOINTS = "/api/v1/journal/checkpoints"


class ApiEndpoints:
    """Request handlers of the JSON API, bound to the platform's stores."""

    def __init__(self, db: Database, mailboxes: Mailboxes, checkpoints: Checkpoints) -> None:
        """Binds the handlers.

        Args:
            db: The platform database.
            mailboxes: The mailbox store.
            checkpoints: The stations' journal checkpoints.
        """
        self.db = db
        self.mailboxes = mailboxes
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
        """``GET /api/v1/health``: needs no token."""
        return JSONResponse({"status": "ok", "version": __version__})

    async def directory(self, request: Request) -> Response:
        """``GET /api/v1/directory``: every recipient with its station and certificate."""
        await authenticate(request, self.db)
        recipients = await run_in_threadpool(directory, self.db)
        return JSONResponse({"recipients": recipients})

    async def delivery(self, request: Request) -> Response:
        """``GET /api/v1/deliveries/<bundle_id>[?recipient=<id>]``: the sender's proof of delivery.

        Without ``recipient``, the oldest delivery of that bundle by this station is returned.
        """
        station = await authenticate(request, self.db)
        bundle_id = str(request.path_params["bundle_id"])
        recipient = request.query_params.get("recipient")
        if recipient is not None:
            recipient = await self._resolve(recipient) or recipient
        record = await run_in_threadpool(self.mailboxes.delivery, station, bundle_id, recipient)
        if record is None:
            raise ApiError(404, "not_found", "No delivery of this bundle by this station.")
        return JSONResponse(record)

    async def _resolve(self, address: str) -> str | None:
        try:
            return await run_in_threadpool(resolve_recipient, self.db, address)
        except AmbiguousRecipient:
            raise ApiError(
                409,
                "ambiguous_recipient",
                "Several recipients share this certificate; address the mailbox by recipient id.",
            ) from None

    async def _own_mailbox(self, request: Request) -> str:
        station = await authenticate(request, self.db)
        recipient = await self._resolve(str(request.path_params["recipient"]))
        if recipient is None:
            raise ApiError(404, "unknown_recipient", "The recipient is not registered.")
        owner = await run_in_threadpool(recipient_station, self.db, recipient)
        if owner is None:
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
        items, last = await run_in_threadpool(self.mailboxes.page, recipient, after, limit)
        following = None if last is None else encode_cursor(last)
        return JSONResponse({"items": [item.to_json() for item in items], "next": following})

    async def item(self, request: Request) -> Response:
        """``GET .../items/<bundle_id>`` (download, with ``Range``) or ``DELETE`` (acknowledge)."""
        recipient = await self._own_mailbox(request)
        bundle_id = str(request.path_params["bundle_id"])
        if request.method == "DELETE":
            if not await run_in_threadpool(self.mailboxes.acknowledge, recipient, bundle_id):
                raise ApiError(404, "not_found", "This bundle was never in this mailbox.")
            log.info("bundle %s acknowledged by its recipient's station", bundle_id)
            return Response(status_code=204)
        found = await run_in_threadpool(self.mailboxes.open_item, recipient, bundle_id)
        if found is None:
            raise ApiError(404, "not_found", "No such item in this mailbox.")
        item, handle = found
        headers = {
            "ETag": f'"{item.sha256}"',
            "Accept-Ranges": "bytes",
            "Cache-Control": "no-store",
        }
        try:
            span = parse_range(request.headers.get("range"), item.size)
        except RangeNotSatisfiable:
            handle.close()
            raise ApiError(
                416,
                "range_not_satisfiable",
                f"The item has {item.size} bytes.",
                {**headers, "Content-Range": f"bytes */{item.size}"},
            ) from None
        if span is None:
            return FileSliceResponse(handle, 0, item.size, status_code=200, headers=headers)
        start, stop = span
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{item.size}"
        return FileSliceResponse(handle, start, stop, status_code=206, headers=headers)

    async def add_checkpoint(self, request: Request) -> Response:
        """``POST /api/v1/journal/checkpoints``: keep a checkpoint of this station's journal.

        The body is ``{"count", "head", "time"[, "signature"]}`` (at most
        :data:`~refplatform.journal.MAX_BODY_BYTES`). 201 with the checkpoint kept (its
        ``received_at`` is the platform's clock); 200 with the one already kept when the same
        checkpoint comes again; 409 when it goes backwards or contradicts one kept; 507 past
        the station's quota.
        """
        station = await authenticate(request, self.db)
        document = await _small_json(request, MAX_BODY_BYTES)
        try:
            count, head, when, signature = parse_checkpoint(document)
            kept, created = await run_in_threadpool(
                self.checkpoints.add, station, count, head, when, signature
            )
        except CheckpointRefused as refused:
            if refused.status == 409:
                log.warning("station %s: journal checkpoint refused (%s)", station, refused.code)
            raise ApiError(refused.status, refused.code, refused.message) from None
        if created:
            log.info("station %s: journal anchored at entry %d", station, count)
        return JSONResponse(kept.to_json(), status_code=201 if created else 200)

    async def list_checkpoints(self, request: Request) -> Response:
        """``GET /api/v1/journal/checkpoints[?after=N][&limit=L]``: this station's checkpoints.

        Those anchoring more than ``after`` entries, oldest first, at most ``limit`` (and
        :data:`~refplatform.journal.MAX_LISTED`); ``more`` says whether others follow (ask
        again with ``after`` set to the last ``count``); ``total`` counts them all.
        """
        station = await authenticate(request, self.db)
        after = _query_int(request, "after", 0, 0)
        limit = _query_int(request, "limit", MAX_LISTED, 1)
        listed = await run_in_threadpool(
            self.checkpoints.list, station, after=after, limit=min(limit, MAX_LISTED) + 1
        )
        page = listed[: min(limit, MAX_LISTED)]
        total = await run_in_threadpool(self.checkpoints.total, station)
        return JSONResponse(
            {
                "station": station,
                "checkpoints": [c.to_json() for c in page],
                "more": len(listed) > len(page),
                "total": total,
            }
        )


def _query_int(request: Request, name: str, default: int, least: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 16 or int(raw) < least:
        raise ApiError(400, "bad_request", f"{name} must be an integer of at least {least}.")
    return int(raw)


async def _small_json(request: Request, limit: int) -> object:
    """The request's JSON body, read up to ``limit`` bytes (413 past it, 400 if not JSON)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"The body may hold at most {limit} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too_large", f"The body may hold at most {limit} bytes.")
    try:
        return json.loads(bytes(body))
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_checkpoint", "The body is not a JSON document.") from None
