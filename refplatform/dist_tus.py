"""The tus 1.0 endpoints of the distributed platform: the same protocol as :mod:`refplatform.tus`.

What differs is where the truth lies. ``HEAD`` reads the committed offset from PostgreSQL, so
every replica gives the same answer at once. A ``PATCH`` (or ``DELETE``) first takes the
upload's writer lock in PostgreSQL (423 if another request, on any replica, holds it), then
stores its body as pieces of at most ``piece_size`` bytes, each written whole to the object
store and then committed by compare-and-set (:class:`refplatform.pgwriter.WriterLock`). Bytes
of a body cut short are kept up to the last committed piece; the client's next ``HEAD``
resumes from there. When the last byte is committed the upload is finalised
(:mod:`refplatform.dist_finalise`).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from refplatform.accounts import AmbiguousRecipient, hash_token
from refplatform.backend import Blobs
from refplatform.body import BodyReceiver
from refplatform.dist_finalise import Finaliser, piece_key
from refplatform.mailbox import Outcome
from refplatform.pglimits import PgAdmission
from refplatform.pgrecord import PgRecord
from refplatform.pguploads import PgUploads
from refplatform.pgwriter import WriterLock
from refplatform.sha256state import Sha256State, available
from refplatform.tus_headers import http_date, parse_count, parse_metadata, require_tus_version
from refplatform.uploads import BundleTaken, UnknownRecipient, Upload
from refplatform.web import TUS_VERSION, ApiError

__all__ = ["DistributedTus", "authenticate"]

log = logging.getLogger(__name__)

_OFFSET_STREAM = "application/offset+octet-stream"


def _bearer(request: Request) -> str | None:
    """The bearer token the request carries, if it has the form of one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and len(token) <= 512 else None


def _unauthorized() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "A valid bearer token is required.",
        {"WWW-Authenticate": 'Bearer realm="passavant"'},
    )


async def authenticate(request: Request, record: PgRecord) -> str:
    """The station whose bearer token the request carries (401 otherwise)."""
    token = _bearer(request)
    station = None
    if token is not None:
        station = await run_in_threadpool(record.station_for_token, token)
    if station is None:
        raise _unauthorized()
    return station


class DistributedTus:
    """Request handlers of the tus protocol over PostgreSQL and an object store."""

    def __init__(
        self,
        record: PgRecord,
        uploads: PgUploads,
        blobs: Blobs,
        finaliser: Finaliser,
        *,
        max_size: int,
        ttl: float,
        idle_timeout: float,
        piece_size: int,
        clock: Callable[[], float],
        admission: PgAdmission,
    ) -> None:
        """Binds the handlers (see :func:`refplatform.distributed.create_distributed_app`)."""
        self.admission = admission
        self.record = record
        self.uploads = uploads
        self.blobs = blobs
        self.finaliser = finaliser
        self.max_size = max_size
        self.ttl = ttl
        self.piece_size = piece_size
        self.clock = clock
        self.bodies = BodyReceiver(idle_timeout)

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
        station = await authenticate(request, self.record)
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
            resolved = await run_in_threadpool(self.record.resolve_recipient, meta.recipient)
        except AmbiguousRecipient as exc:
            raise ApiError(
                409,
                "ambiguous_recipient",
                "Several recipients share this certificate; name the recipient by id.",
            ) from exc
        if resolved is not None:
            meta = dataclasses.replace(meta, recipient=resolved)
        try:
            # Routes, reservation and quotas (refplatform.pglimits), then the record: one
            # creation at a time per station across replicas, so two cannot both fit a quota.
            async with self.admission.hold(station):
                await self.admission.admit(station, meta.recipient, meta.bundle_id, length)
                upload = await run_in_threadpool(
                    self.uploads.create, station, length, meta, raw or "", self.clock(), self.ttl
                )
        except UnknownRecipient as exc:
            raise ApiError(422, "unknown_recipient", "The recipient is not registered.") from exc
        except BundleTaken as exc:
            raise ApiError(
                409, "bundle_taken", "Another station delivered this bundle_id to this recipient."
            ) from exc
        log.info("upload %s created (%d bytes)", upload.id, length)
        # The client's own host (the balancer passes Host through) and scheme: a balancer that
        # ends TLS says so in X-Forwarded-Proto (it sets the header, whatever a client sent).
        url = request.url_for("tus_upload", upload_id=upload.id)
        forwarded = request.headers.get("x-forwarded-proto", "").strip().lower()
        if forwarded in ("http", "https"):
            url = url.replace(scheme=forwarded)
        location = str(url)
        return Response(
            status_code=201,
            headers={"Location": location, "Upload-Expires": http_date(upload.expires_at)},
        )

    async def resource(self, request: Request) -> Response:
        """``HEAD``, ``PATCH`` and ``DELETE`` on ``/files/<upload_id>``."""
        if request.method == "HEAD":
            return await self._head_or_finish(request)
        upload_id = str(request.path_params["upload_id"])
        token = _bearer(request)
        if token is None:
            raise _unauthorized()
        lock = WriterLock(self.record, upload_id)
        # One hop to a worker thread and one round trip: the token, the lock (for a valid
        # token only: one statement), then the upload read on the lock's connection. The
        # answers keep their order: 401, then the headers' 4xx, then 404/410, then 423.
        station, taken, found = await run_in_threadpool(lock.acquire_for_token, hash_token(token))
        try:
            if station is None:
                raise _unauthorized()
            require_tus_version(request)
            offset = 0
            if request.method == "PATCH":
                offset = _patch_offset(request)
            if not taken:
                # Said only of an upload this station may see: 404 and 410 come first.
                await self._load(upload_id, station)
                raise ApiError(423, "upload_locked", "Another request is writing this upload.")
            # No one else writes now.
            upload, committed = await self._check(found, station, lock)
            if request.method == "DELETE":
                keys = await run_in_threadpool(self.uploads.remove, upload.id)
                await run_in_threadpool(self.finaliser.discard, keys)
                log.info("upload %s terminated", upload.id)
                return Response(status_code=204)
            hasher = _resume_hash(upload.id, committed, lock.saved_state)
            return await self._patch(request, lock, upload, committed, offset, hasher)
        finally:
            if lock.held:  # a PATCH's last piece gives it back in its own hop
                await run_in_threadpool(lock.release)

    async def _head_or_finish(self, request: Request) -> Response:
        """``HEAD``: the committed offset; an upload holding every byte but not finalised (a
        replica died at that moment) is finalised first, under the writer lock."""
        station = await authenticate(request, self.record)
        require_tus_version(request)
        upload_id = str(request.path_params["upload_id"])
        upload, committed = await self._load(upload_id, station)
        if not (upload.receiving and committed == upload.length):
            return self._head(upload, committed)
        lock = WriterLock(self.record, upload_id)
        taken, found = await run_in_threadpool(_take, lock)
        if not taken:  # being finalised by the request holding the lock
            return self._head(upload, committed)
        try:
            upload, committed = await self._check(found, station, lock)
            await self._finalise(upload)  # every byte is in: finish what a dead replica left
            return self._head(upload, upload.length)
        finally:
            await run_in_threadpool(lock.release)

    async def _load(
        self, upload_id: str, station: str, held: WriterLock | None = None
    ) -> tuple[Upload, int]:
        """The station's upload and its committed offset; expires it if its time ran out
        (under ``held``, the writer lock this request holds, or one taken here)."""
        found = await run_in_threadpool(self.uploads.get, upload_id)
        return await self._check(found, station, held)

    async def _check(
        self, found: tuple[Upload, int] | None, station: str, held: WriterLock | None
    ) -> tuple[Upload, int]:
        """``found`` if it is the station's live upload (404 or 410 otherwise, see _load)."""
        if found is None or found[0].station_id != station:
            raise ApiError(404, "not_found", "No such upload.")
        upload, committed = found
        if upload.receiving and upload.expires_at <= self.clock():
            lock = held or WriterLock(self.record, upload.id)
            if held is not None or await run_in_threadpool(lock.acquire):
                try:
                    keys = await run_in_threadpool(self.uploads.expire, upload.id)
                    await run_in_threadpool(self.finaliser.discard, keys)
                finally:
                    if held is None:
                        await run_in_threadpool(lock.release)
                raise ApiError(410, "expired", "The upload expired; create a new one.")
        if upload.state == "expired":
            raise ApiError(410, "expired", "The upload expired; create a new one.")
        return upload, committed

    def _progress_headers(self, upload: Upload, offset: int) -> dict[str, str]:
        headers = {"Upload-Offset": str(offset)}
        if upload.receiving and offset < upload.length:
            headers["Upload-Expires"] = http_date(upload.expires_at)
        return headers

    def _head(self, upload: Upload, committed: int) -> Response:
        offset = committed if upload.receiving else upload.length
        headers = self._progress_headers(upload, offset)
        headers.update({"Upload-Length": str(upload.length), "Cache-Control": "no-store"})
        if upload.metadata:
            headers["Upload-Metadata"] = upload.metadata
        return Response(status_code=200, headers=headers)

    async def _finalise(self, upload: Upload) -> None:
        outcome = await run_in_threadpool(self.finaliser.finalise, upload)
        if outcome is Outcome.CHECKSUM_MISMATCH:
            raise ApiError(460, "checksum_mismatch", "Checksum Mismatch: the upload was discarded.")
        if outcome is Outcome.GONE:
            raise ApiError(410, "expired", "The upload expired; create a new one.")

    def _put_and_commit(
        self,
        lock: WriterLock,
        key: str,
        start: int,
        data: bytes,
        hasher: Sha256State | None,
        last: bool,
    ) -> bool:
        """Hashes one piece, writes it whole, then commits it with the hash's state (blocking:
        one hop to a worker thread). A failure ends the request, and ``hasher`` with it.
        ``last``: the request has nothing more to do under the lock (no finalisation), which is
        then given back in the same hop once the piece is committed."""
        state = None
        if hasher is not None:
            hasher.update(data)
            state = hasher.saved()
        self.blobs.put(key, data)
        committed = lock.commit_piece(start, len(data), key, self.clock(), state)
        if committed and last:
            lock.release()
        return committed

    async def _store(
        self,
        lock: WriterLock,
        upload: Upload,
        start: int,
        data: bytes,
        hasher: Sha256State | None,
        last: bool = False,
    ) -> int:
        """Writes one piece whole, then commits it; returns the new committed offset
        (``last``: see :meth:`_put_and_commit`)."""
        key = piece_key(upload.id, start, secrets.token_hex(6))
        stored = await run_in_threadpool(self._put_and_commit, lock, key, start, data, hasher, last)
        if not stored:
            await run_in_threadpool(self.finaliser.discard, [key])
            found = await run_in_threadpool(lock.read)
            current = found[1] if found else 0
            raise ApiError(
                409,
                "offset_mismatch",
                f"Upload-Offset must be {current}.",
                {"Upload-Offset": str(current)},
            )
        return start + len(data)

    async def _patch(
        self,
        request: Request,
        lock: WriterLock,
        upload: Upload,
        committed: int,
        offset: int,
        hasher: Sha256State | None,
    ) -> Response:
        if offset != committed:
            raise ApiError(
                409,
                "offset_mismatch",
                f"Upload-Offset must be {committed}.",
                {"Upload-Offset": str(committed)},
            )
        remaining = upload.length - committed
        declared = request.headers.get("content-length")
        if declared is not None and parse_count(declared, "Content-Length") > remaining:
            raise ApiError(413, "too_large", "The body goes past Upload-Length.")
        if not upload.receiving:
            return Response(status_code=204, headers={"Upload-Offset": str(committed)})
        position = committed
        # The body's blocks as they come, joined once per piece (one copy of each byte).
        blocks: list[bytes] = []
        buffered = 0
        while True:
            message = await self.bodies._next_message(request)
            if message is None or message["type"] == "http.disconnect":
                log.info("upload %s: body ended early", upload.id)
                break
            body: bytes = message.get("body", b"")
            if len(body) > upload.length - position - buffered:
                # As the embedded platform does: nothing of a body that goes too far is kept.
                keys = await run_in_threadpool(
                    lock.rewind, committed, position, self.clock(), lock.saved_state
                )
                await run_in_threadpool(self.finaliser.discard, keys)
                raise ApiError(413, "too_large", "The body goes past Upload-Length.")
            if body:
                blocks.append(body)
                buffered += len(body)
            while buffered >= self.piece_size:
                joined = b"".join(blocks)
                piece = joined[: self.piece_size]
                position = await self._store(lock, upload, position, piece, hasher)
                rest = joined[self.piece_size :]
                blocks, buffered = ([rest] if rest else []), len(rest)
            if not message.get("more_body", False):
                break
        if blocks:
            data = b"".join(blocks)
            # Unless this piece completes the bundle (finalised under the lock), the lock is
            # given back with the piece's commit: one hop to a worker thread fewer.
            last = position + len(data) < upload.length
            position = await self._store(lock, upload, position, data, hasher, last)
        if position == upload.length:
            await self._finalise(upload)
        return Response(status_code=204, headers=self._progress_headers(upload, position))


def _patch_offset(request: Request) -> int:
    """A PATCH's ``Upload-Offset``, once its ``Content-Type`` is checked (415, 400)."""
    content_type = request.headers.get("content-type", "").partition(";")[0]
    if content_type.strip().lower() != _OFFSET_STREAM:
        raise ApiError(415, "unsupported_media_type", f"Content-Type must be {_OFFSET_STREAM}.")
    return parse_count(request.headers.get("upload-offset"), "Upload-Offset")


def _take(lock: WriterLock) -> tuple[bool, tuple[Upload, int] | None]:
    """Takes the writer lock and, if taken, reads the upload on its connection."""
    if not lock.acquire():
        return False, None
    try:
        return True, lock.read()
    except BaseException:
        lock.release()
        raise


def _resume_hash(upload_id: str, committed: int, saved: bytes | None) -> Sha256State | None:
    """The bundle's running SHA-256 at ``committed``, or ``None`` if it is not known (then no
    state is saved from here on, and finalisation reads the pieces back)."""
    if not available():
        return None
    if committed == 0:
        return Sha256State()
    if saved is None:
        return None
    try:
        state = Sha256State.resume(saved)
    except ValueError:
        state = None
    if state is None or state.length != committed:  # garbled, or saved by another writer
        log.warning("upload %s: unusable saved hash state; the pieces will be read back", upload_id)
        return None
    return state
