"""The tus 1.0 endpoints under ``/files/``: core, creation, termination and expiration.

A ``PATCH`` body is written to the part file as it arrives (see :mod:`refplatform.body`), and
bytes received before a disconnect are kept: the next ``HEAD`` reports them and the client
resumes from there. Only one request may write an upload at a time; a second one gets 423
Locked (and retries after a ``HEAD``). When the last byte arrives the upload is finalised
(see :mod:`refplatform.mailbox`).
"""

from __future__ import annotations

import dataclasses
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from refplatform.accounts import AmbiguousRecipient, resolve_recipient
from refplatform.body import BodyReceiver
from refplatform.db import Database
from refplatform.mailbox import Mailboxes, Outcome
from refplatform.quotas import Admission
from refplatform.tus_headers import http_date, parse_count, parse_metadata, require_tus_version
from refplatform.uploads import (
    BundleTaken,
    UnknownRecipient,
    Upload,
    UploadGone,
    UploadNotFound,
    UploadStore,
)
from refplatform.web import TUS_VERSION, ApiError, authenticate

__all__ = ["TusEndpoints"]

log = logging.getLogger(__name__)

_OFFSET_STREAM = "application/offset+octet-stream"


class TusEndpoints:
    """Request handlers of the tus protocol, bound to the platform's stores."""

    def __init__(
        self,
        db: Database,
        uploads: UploadStore,
        mailboxes: Mailboxes,
        *,
        max_size: int,
        idle_timeout: float,
        admission: Admission,
    ) -> None:
        """Binds the handlers.

        Args:
            db: The platform database (for authentication).
            uploads: The upload store.
            mailboxes: Where finished uploads go.
            max_size: Largest accepted ``Upload-Length``, in bytes.
            idle_timeout: Seconds a ``PATCH`` body may stall before the request ends early.
            admission: The per-station limits checked before an upload is created.
        """
        self.db = db
        self.uploads = uploads
        self.mailboxes = mailboxes
        self.max_size = max_size
        self.bodies = BodyReceiver(idle_timeout)
        self.admission = admission

    def routes(self) -> list[Route]:
        """Returns the routes to mount at the application's root."""
        return [
            Route("/files/", self.collection, methods=["OPTIONS", "POST"]),
            Route("/files", self.collection, methods=["OPTIONS", "POST"]),
            Route(
                "/files/{upload_id}",
                self.resource,
                methods=["HEAD", "PATCH", "DELETE"],
                name="tus_upload",
            ),
        ]

    async def collection(self, request: Request) -> Response:
        """``OPTIONS /files/`` (discovery) and ``POST /files/`` (creation)."""
        station = await authenticate(request, self.db)
        if request.method == "OPTIONS":
            return Response(
                status_code=204,
                headers={
                    "Tus-Version": TUS_VERSION,
                    "Tus-Extension": "creation,termination,expiration",
                    "Tus-Max-Size": str(self.max_size),
                },
            )
        require_tus_version(request)
        headers = request.headers
        if "upload-defer-length" in headers:
            raise ApiError(400, "invalid_header", "Upload-Defer-Length is not supported.")
        length = parse_count(headers.get("upload-length"), "Upload-Length")
        if length == 0:
            raise ApiError(400, "invalid_header", "An empty bundle cannot be uploaded.")
        if length > self.max_size:
            raise ApiError(
                413,
                "too_large",
                f"Upload-Length exceeds the maximum of {self.max_size} bytes.",
                {"Tus-Max-Size": str(self.max_size)},
            )
        raw = headers.get("upload-metadata")
        meta = parse_metadata(raw)
        try:
            # The recipient may be named by id or by its certificate's SHA-256 fingerprint.
            resolved = await run_in_threadpool(resolve_recipient, self.db, meta.recipient)
        except AmbiguousRecipient as exc:
            raise ApiError(
                409,
                "ambiguous_recipient",
                "Several recipients share this certificate; name the recipient by id.",
            ) from exc
        if resolved is not None:
            meta = dataclasses.replace(meta, recipient=resolved)
        try:
            # Routes, reservation, quotas and free space (refplatform.quotas), then the
            # record: one creation at a time per station, so two cannot both fit one quota.
            async with self.admission.hold(station):
                await self.admission.admit(station, meta.recipient, meta.bundle_id, length)
                upload = await run_in_threadpool(
                    self.uploads.create, station, length, meta, raw or ""
                )
        except UnknownRecipient as exc:
            raise ApiError(422, "unknown_recipient", "The recipient is not registered.") from exc
        except BundleTaken as exc:
            raise ApiError(
                409, "bundle_taken", "Another station delivered this bundle_id to this recipient."
            ) from exc
        location = str(request.url_for("tus_upload", upload_id=upload.id))
        return Response(
            status_code=201,
            headers={"Location": location, "Upload-Expires": http_date(upload.expires_at)},
        )

    async def resource(self, request: Request) -> Response:
        """``HEAD``, ``PATCH`` and ``DELETE`` on ``/files/<upload_id>``."""
        station = await authenticate(request, self.db)
        require_tus_version(request)
        offset = 0
        if request.method == "PATCH":
            content_type = request.headers.get("content-type", "").partition(";")[0]
            if content_type.strip().lower() != _OFFSET_STREAM:
                raise ApiError(
                    415, "unsupported_media_type", f"Content-Type must be {_OFFSET_STREAM}."
                )
            offset = parse_count(request.headers.get("upload-offset"), "Upload-Offset")
        upload = await self._load(request, station)
        if request.method == "HEAD":
            return await self._head(upload)
        if not self.uploads.claim(upload.id):
            raise ApiError(423, "upload_locked", "Another request is writing this upload.")
        try:
            upload = await self._load(request, station)  # as it is now that no one else writes
            if request.method == "DELETE":
                await run_in_threadpool(self.uploads.remove, upload.id)
                log.info("upload %s terminated", upload.id)
                return Response(status_code=204)
            return await self._patch(request, upload, offset)
        finally:
            self.uploads.release(upload.id)

    async def _load(self, request: Request, station: str) -> Upload:
        upload_id = str(request.path_params["upload_id"])
        try:
            return await run_in_threadpool(self.uploads.get, upload_id, station)
        except UploadNotFound as exc:
            raise ApiError(404, "not_found", "No such upload.") from exc
        except UploadGone as exc:
            raise ApiError(410, "expired", "The upload expired; create a new one.") from exc

    def _progress_headers(self, upload: Upload, offset: int) -> dict[str, str]:
        headers = {"Upload-Offset": str(offset)}
        if upload.receiving and offset < upload.length:
            headers["Upload-Expires"] = http_date(upload.expires_at)
        return headers

    async def _head(self, upload: Upload) -> Response:
        offset = await run_in_threadpool(self.uploads.offset, upload)
        headers = self._progress_headers(upload, offset)
        headers.update({"Upload-Length": str(upload.length), "Cache-Control": "no-store"})
        if upload.metadata:
            headers["Upload-Metadata"] = upload.metadata
        return Response(status_code=200, headers=headers)

    async def _patch(self, request: Request, upload: Upload, offset: int) -> Response:
        current = await run_in_threadpool(self.uploads.offset, upload)
        if offset != current:
            raise ApiError(
                409,
                "offset_mismatch",
                f"Upload-Offset must be {current}.",
                {"Upload-Offset": str(current)},
            )
        remaining = upload.length - current
        declared = request.headers.get("content-length")
        if declared is not None and parse_count(declared, "Content-Length") > remaining:
            raise ApiError(413, "too_large", "The body goes past Upload-Length.")
        if not upload.receiving:
            return Response(status_code=204, headers={"Upload-Offset": str(current)})
        part = self.uploads.layout.part_path(upload.id)
        written, overflow = await self.bodies.append(request, part, remaining)
        if overflow:
            await run_in_threadpool(self.uploads.truncate, upload, current)
            raise ApiError(413, "too_large", "The body goes past Upload-Length.")
        new_offset = current + written
        if new_offset == upload.length:
            outcome = await run_in_threadpool(self.mailboxes.finalise, upload)
            if outcome is Outcome.CHECKSUM_MISMATCH:
                raise ApiError(
                    460, "checksum_mismatch", "Checksum Mismatch: the upload was discarded."
                )
            if outcome is Outcome.GONE:
                raise ApiError(410, "expired", "The upload expired; create a new one.")
        return Response(status_code=204, headers=self._progress_headers(upload, new_offset))
