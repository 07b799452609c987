"""The platform's JSON API under ``/api/v1``: health, directory, deliveries and mailboxes.

A station reads only the mailboxes of the recipients registered to it (403 otherwise) and
sees only the deliveries of bundles it sent (404 otherwise). A mailbox is addressed by the
recipient's id or by the SHA-256 fingerprint of the recipient's certificate. Mailbox files are
served as stored: the platform never opens a bundle.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from refplatform import __version__
from refplatform.accounts import AmbiguousRecipient, directory, recipient_station, resolve_recipient
from refplatform.db import Database
from refplatform.mailbox import Mailboxes
from refplatform.ranges import FileSliceResponse, RangeNotSatisfiable, parse_range
from refplatform.web import ApiError, authenticate

__all__ = ["ApiEndpoints"]

log = logging.getLogger(__name__)

_ITEM = "/api/v1/mailboxes/{recipient}/items/{bundle_id}"


class ApiEndpoints:
    """Request handlers of the JSON API, bound to the platform's stores."""

    def __init__(self, db: Database, mailboxes: Mailboxes) -> None:
        """Binds the handlers.

        Args:
            db: The platform database.
            mailboxes: The mailbox store.
        """
        self.db = db
        self.mailboxes = mailboxes

    def routes(self) -> list[Route]:
        """Returns the routes to mount at the application's root."""
        return [
            Route("/api/v1/health", self.health, methods=["GET"]),
            Route("/api/v1/directory", self.directory, methods=["GET"]),
            Route("/api/v1/deliveries/{bundle_id}", self.delivery, methods=["GET"]),
            Route("/api/v1/mailboxes/{recipient}/items", self.items, methods=["GET"]),
            Route(_ITEM, self.item, methods=["GET", "DELETE"]),
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
        """``GET .../items``: unacknowledged items, oldest first."""
        recipient = await self._own_mailbox(request)
        items = await run_in_threadpool(self.mailboxes.items, recipient)
        return JSONResponse({"items": [item.to_json() for item in items]})

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
