"""Client of the regional platform: directory, tus 1.0 uploads, delivery checks and mailboxes.

All calls share one :class:`~outbox.transport.Transport` (one ``requests.Session``) and raise
:class:`~outbox.errors.OutboxError` on failure. Nothing here retries: the sender and the inbox
fetcher decide when to try again.

What the platform answers is bounded before it is parsed (issue 15): every answer body is
read as a stream under the idle-progress watchdog and abandoned past a bound
(:data:`MAX_JSON_BYTES` for a mailbox listing and the small documents,
:data:`MAX_DIRECTORY_BYTES` for the directory, :data:`MAX_OTHER_BYTES` for the answers
nothing is read from), a ``Content-Length`` over it is refused unread, and the lists are
bounded (:data:`MAX_DIRECTORY_ENTRIES`; a mailbox is listed in pages, at most
:data:`~outbox.listing.MAX_PAGES_PER_POLL` of them in one walk, and an answer's first
:data:`~outbox.listing.MAX_LISTED_ITEMS` items are taken, :mod:`outbox.listing`). An answer
beyond a bound is a ``server_error``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import requests

from outbox.directory import DirectoryEntry, entry_of, rpps_discrepancy
from outbox.errors import ErrorCode, OutboxError
from outbox.listing import MAX_LISTED_ITEMS, MAX_PAGES_PER_POLL, ItemPage, MailboxItem, parse_page
from outbox.transport import TUS_VERSION, PlatformConfig, Transport, error_for_exception
from outbox.watchdog import Watch

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation

__all__ = [
    "CheckpointPage",
    "DirectoryEntry",
    "ItemPage",
    "JournalCheckpoint",
    "MailboxItem",
    "PlatformClient",
    "PlatformConfig",
    "rpps_discrepancy",
]

log = logging.getLogger(__name__)

_DOWNLOAD_BLOCK = 64 * 1024
MAX_JSON_BYTES = 4 * 1024 * 1024
"""A mailbox listing's body (about 16,000 items; a poll takes the first
:data:`MAX_LISTED_ITEMS`), and the bound of the health and delivery documents."""
MAX_DIRECTORY_BYTES = 16 * 1024 * 1024
"""The directory's body: :data:`MAX_DIRECTORY_ENTRIES` entries of about 2 KB (a certificate
in PEM and a few names) fit with room to spare."""
MAX_DIRECTORY_ENTRIES = 5_000
"""Recipients in the directory (a region's units and hospitals count hundreds)."""
MAX_OTHER_BYTES = 64 * 1024
"""An answer nothing is read from (a created upload, an acknowledgement)."""


MAX_CHECKPOINT_PAGE_BYTES = 8 * 1024 * 1024
"""A page of journal checkpoints: :data:`MAX_CHECKPOINTS_LISTED` of them, each under 13 KB
even with the longest signature the platform accepts (a CMS signature with its certificate,
in base64, is about 3 KB)."""
MAX_CHECKPOINTS_LISTED = 500
"""Checkpoints asked for in one page (the platform lists up to 1,000)."""


@dataclass(frozen=True)
class JournalCheckpoint:
    """A checkpoint of this station's audit journal, as the platform keeps it.

    ``count`` entries, the last with hash ``head``, at the station's ``time``; ``signature``
    is the base64 CMS SignedData of a person logged in at the station, or ``None``;
    ``received_at`` is the platform's own clock (ISO 8601), empty in a checkpoint not sent.
    """

    count: int
    head: str
    time: str
    signature: str | None = None
    received_at: str = ""


@dataclass(frozen=True)
class CheckpointPage:
    """One page of :meth:`PlatformClient.journal_checkpoints`."""

    checkpoints: list[JournalCheckpoint]
    more: bool
    total: int


def _checkpoint(document: Any) -> JournalCheckpoint:
    try:
        signature = document.get("signature")
        checkpoint = JournalCheckpoint(
            count=int(document["count"]),
            head=str(document["head"]),
            time=str(document["time"]),
            signature=None if signature is None else str(signature),
            received_at=str(document["received_at"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OutboxError(ErrorCode.SERVER_ERROR, "malformed journal checkpoint") from exc
    if checkpoint.count < 1 or len(checkpoint.head) != 64:
        raise OutboxError(ErrorCode.SERVER_ERROR, "malformed journal checkpoint")
    return checkpoint


def _seg(value: str) -> str:
    return quote(value, safe="")


def _body(response: requests.Response, watch: Watch, limit: int) -> bytes:
    """The body of a streamed answer, read under ``watch`` (closes ``response``).

    Raises:
        OutboxError: ``server_error`` when the body announces or holds more than ``limit``
            bytes (reading stops there), else what the read raises.
    """
    with response:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            detail = f"answer of {declared} bytes refused (over {limit})"
            raise OutboxError(ErrorCode.SERVER_ERROR, detail)
        body = bytearray()
        try:
            for block in response.iter_content(_DOWNLOAD_BLOCK):
                watch.kick()
                body += block
                if len(body) > limit:
                    detail = f"answer abandoned past {limit} bytes"
                    raise OutboxError(ErrorCode.SERVER_ERROR, detail)
        except requests.RequestException as exc:
            raise error_for_exception(exc, stalled=watch.fired, idle=watch.idle) from exc
        return bytes(body)


def _json(response: requests.Response, watch: Watch, limit: int = MAX_JSON_BYTES) -> Any:
    """The JSON document of a streamed answer of at most ``limit`` bytes."""
    body = _body(response, watch, limit)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise OutboxError(ErrorCode.SERVER_ERROR, "malformed JSON answer") from exc


def _offset(response: requests.Response) -> int:
    with response:
        try:
            return int(response.headers["Upload-Offset"])
        except (KeyError, ValueError) as exc:
            raise OutboxError(ErrorCode.SERVER_ERROR, "missing Upload-Offset") from exc


def encode_metadata(metadata: Mapping[str, str]) -> str:
    """Encodes tus ``Upload-Metadata``: ``key base64(value)`` pairs separated by commas."""
    pairs = []
    for key, value in metadata.items():
        if not key or any(c in key for c in " ,") or not key.isascii():
            raise ValueError(f"invalid metadata key {key!r}")
        pairs.append(f"{key} {base64.b64encode(value.encode()).decode('ascii')}")
    return ",".join(pairs)


class PlatformClient:
    """Talks to the platform over one session with explicit timeouts."""

    def __init__(self, config: PlatformConfig) -> None:
        """Creates the client; no connection is made until the first call.

        Args:
            config: The platform's URL, token, CA, proxy and timeouts.
        """
        self.config = config
        self._http = Transport(config)

    @property
    def answers(self) -> int:
        """HTTP answers received so far, whatever their status (the platform was reached)."""
        return self._http.answers

    def close(self) -> None:
        """Closes the session's connections."""
        self._http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _get_json(self, path: str, limit: int = MAX_JSON_BYTES) -> Any:
        """``GET path`` (200 expected), its JSON body read within ``limit`` bytes."""
        with self._http.watch() as watch:
            response = self._http.request("GET", path, ok={200}, stream=True)
            return _json(response, watch, limit)

    @staticmethod
    def _discard(response: requests.Response, watch: Watch) -> None:
        """Reads and drops an answer's body (an empty one keeps the connection for the next
        request); a body past :data:`MAX_OTHER_BYTES` is abandoned with its connection."""
        try:
            _body(response, watch, MAX_OTHER_BYTES)
        except OutboxError as err:
            log.info("answer body dropped: %s", err.detail)

    def health(self) -> dict[str, Any]:
        """Returns the platform's health document."""
        body = self._get_json("/api/v1/health")
        if not isinstance(body, dict):
            raise OutboxError(ErrorCode.SERVER_ERROR, "malformed health answer")
        return body

    def directory(self) -> list[DirectoryEntry]:
        """Returns the recipients listed by the platform (at most
        :data:`MAX_DIRECTORY_ENTRIES`: a longer directory is refused, not cut, so that no
        recipient silently goes missing)."""
        body = self._get_json("/api/v1/directory", MAX_DIRECTORY_BYTES)
        recipients = body.get("recipients") if isinstance(body, dict) else None
        if isinstance(recipients, list) and len(recipients) > MAX_DIRECTORY_ENTRIES:
            detail = (
                f"directory of {len(recipients)} entries refused (over {MAX_DIRECTORY_ENTRIES})"
            )
            raise OutboxError(ErrorCode.SERVER_ERROR, detail)
        try:
            return [entry_of(r) for r in body["recipients"]]
        except (KeyError, TypeError, AttributeError) as exc:
            raise OutboxError(ErrorCode.SERVER_ERROR, "malformed directory") from exc

    def delivery(self, bundle_id: str) -> dict[str, Any] | None:
        """Returns the platform's delivery record for a bundle this station sent, or ``None``."""
        path = f"/api/v1/deliveries/{_seg(bundle_id)}"
        with self._http.watch() as watch:
            response = self._http.request("GET", path, ok={200, 404}, stream=True)
            if response.status_code == 404:
                self._discard(response, watch)
                return None
            body = _json(response, watch)
        return body if isinstance(body, dict) else None

    def create(self, length: int, metadata: Mapping[str, str]) -> str:
        """Creates a tus upload and returns its absolute URL."""
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Length": str(length),
            "Upload-Metadata": encode_metadata(metadata),
        }
        with self._http.watch() as watch:
            response = self._http.request("POST", "/files/", ok={201}, headers=headers, stream=True)
            location = response.headers.get("Location")
            self._discard(response, watch)
        if not location:
            raise OutboxError(ErrorCode.SERVER_ERROR, "upload created without Location")
        url = urljoin(self._http.url("/files/"), location)
        if not self._http.same_origin(url):
            raise OutboxError(ErrorCode.REJECTED, "upload location on another origin")
        return url

    def head(self, url: str) -> int:
        """Returns the number of bytes the platform holds for an upload."""
        headers = {"Tus-Resumable": TUS_VERSION}
        return _offset(self._http.request("HEAD", url, ok={200, 204}, headers=headers, upload=True))

    def patch(self, url: str, offset: int, chunk: bytes | memoryview) -> int:
        """Sends ``chunk`` at ``offset`` and returns the new offset the platform reports.

        The chunk goes to the socket in blocks; the idle-progress watchdog abandons the request
        if no block and no answer moves for ``idle_timeout`` seconds (``timeout``).
        """
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }
        response = self._http.request(
            "PATCH", url, ok={204}, headers=headers, data=chunk, upload=True
        )
        return _offset(response)

    def terminate(self, url: str) -> None:
        """Deletes an upload on the platform; one already gone counts as done."""
        headers = {"Tus-Resumable": TUS_VERSION}
        with self._http.watch() as watch:
            response = self._http.request(
                "DELETE", url, ok={204, 404, 410}, headers=headers, stream=True
            )
            self._discard(response, watch)

    def list_page(
        self, recipient: str, after: str | None = None, limit: int | None = None
    ) -> ItemPage:
        """One page of the bundles waiting in a recipient's mailbox, oldest first: from the
        start, or after the position ``after`` (a cursor the platform gave), of at most
        ``limit`` items (the platform's default if ``None``)."""
        query = []
        if limit is not None:
            query.append(f"limit={int(limit)}")
        if after is not None:
            query.append(f"after={quote(after, safe='')}")
        path = f"/api/v1/mailboxes/{_seg(recipient)}/items"
        return parse_page(self._get_json(path + ("?" + "&".join(query) if query else "")))

    def list_items(self, recipient: str) -> list[MailboxItem]:
        """Lists the bundles waiting in a recipient's mailbox, oldest first: the pages from
        the start, at most :data:`~outbox.listing.MAX_PAGES_PER_POLL` of them and
        :data:`~outbox.listing.MAX_LISTED_ITEMS` items; the others come at a later poll."""
        listed: list[MailboxItem] = []
        after: str | None = None
        for _ in range(MAX_PAGES_PER_POLL):
            page = self.list_page(recipient, after)
            listed += page.items
            after = page.next
            if after is None or len(listed) >= MAX_LISTED_ITEMS:
                break
        return listed[:MAX_LISTED_ITEMS]

    def download(
        self,
        recipient: str,
        bundle_id: str,
        dest: Path,
        *,
        progress: Callable[[int], None] | None = None,
        limit: int | None = None,
    ) -> None:
        """Downloads a mailbox item into ``dest``, resuming after the bytes it already holds.

        Args:
            recipient: The mailbox owner.
            bundle_id: The item to fetch.
            dest: The partial file; created if missing, appended to with a ``Range`` request.
            progress: Called with the number of bytes ``dest`` holds after each block.
            limit: The announced size; a platform sending more is cut off (``checksum_mismatch``)
                instead of filling the disk.
        """
        have = dest.stat().st_size if dest.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        path = f"/api/v1/mailboxes/{_seg(recipient)}/items/{_seg(bundle_id)}"
        with self._http.watch() as watch:
            response = self._http.request(
                "GET", path, ok={200, 206, 416}, headers=headers, stream=True
            )
            with response:
                if response.status_code == 416:
                    # The part already holds every byte (or more): the checksum will tell.
                    return
                resuming = response.status_code == 206
                done = have if resuming else 0
                flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if resuming else os.O_TRUNC)
                try:
                    # mode 0600: a part is ciphertext, but the profile's files are its own
                    with os.fdopen(os.open(dest, flags | _O_BINARY, 0o600), "wb") as out:
                        for block in response.iter_content(_DOWNLOAD_BLOCK):
                            watch.kick()
                            done += len(block)
                            if limit is not None and done > limit:
                                raise OutboxError(
                                    ErrorCode.CHECKSUM_MISMATCH, "more bytes than announced"
                                )
                            out.write(block)
                            if progress is not None:
                                progress(done)
                        out.flush()
                        os.fsync(out.fileno())
                except requests.RequestException as exc:
                    error = error_for_exception(exc, stalled=watch.fired, idle=watch.idle)
                    raise error from exc
                except OSError as exc:
                    detail = f"cannot write download (errno {exc.errno})"
                    raise OutboxError(ErrorCode.DISK_ERROR, detail) from exc

    def acknowledge(self, recipient: str, bundle_id: str) -> None:
        """Tells the platform the item is stored locally, so it leaves the mailbox."""
        path = f"/api/v1/mailboxes/{_seg(recipient)}/items/{_seg(bundle_id)}"
        with self._http.watch() as watch:
            response = self._http.request("DELETE", path, ok={200, 204, 404}, stream=True)
            self._discard(response, watch)

    def send_checkpoint(self, checkpoint: JournalCheckpoint) -> tuple[JournalCheckpoint, bool]:
        """Sends a checkpoint of this station's audit journal (``refplatform.journal``).

        Returns:
            The checkpoint as the platform keeps it (with its ``received_at``), and whether it
            is new (``False``: the platform already had this very one as the last).

        Raises:
            OutboxError: ``rejected`` (status 409, the platform's code in the detail:
                ``checkpoint_backwards``, ``checkpoint_contradicts``) when it contradicts what
                the platform anchored before; the usual codes otherwise.
        """
        document: dict[str, Any] = {
            "count": checkpoint.count,
            "head": checkpoint.head,
            "time": checkpoint.time,
        }
        if checkpoint.signature is not None:
            document["signature"] = checkpoint.signature
        body = json.dumps(document).encode("ascii")
        headers = {"Content-Type": "application/json"}
        path = "/api/v1/journal/checkpoints"
        with self._http.watch() as watch:
            response = self._http.request(
                "POST", path, ok={200, 201, 409}, headers=headers, data=body, stream=True
            )
            status = response.status_code
            answer = _json(response, watch, MAX_OTHER_BYTES)
        if status == 409:
            code = answer.get("error") if isinstance(answer, dict) else None
            detail = f"HTTP 409 {code if isinstance(code, str) else 'conflict'}"[:80]
            raise OutboxError(ErrorCode.REJECTED, detail, status=409)
        return _checkpoint(answer), status == 201

    def journal_checkpoints(self, after: int = 0) -> CheckpointPage:
        """One page of this station's checkpoints anchoring more than ``after`` entries,
        oldest first (at most :data:`MAX_CHECKPOINTS_LISTED`; ``more`` when others follow)."""
        path = f"/api/v1/journal/checkpoints?after={int(after)}&limit={MAX_CHECKPOINTS_LISTED}"
        body = self._get_json(path, MAX_CHECKPOINT_PAGE_BYTES)
        try:
            listed = body["checkpoints"]
            if not isinstance(listed, list) or len(listed) > MAX_CHECKPOINTS_LISTED:
                raise TypeError("checkpoints is not a list of the expected length")
            more, total = body["more"], body["total"]
            if not isinstance(more, bool) or not isinstance(total, int):
                raise TypeError("more or total malformed")
        except (KeyError, TypeError) as exc:
            raise OutboxError(ErrorCode.SERVER_ERROR, "malformed checkpoint listing") from exc
        return CheckpointPage([_checkpoint(c) for c in listed], more, total)
