"""Client of the regional platform: directory, tus 1.0 uploads, delivery checks and mailboxes.

All calls share one :class:`~outbox.transport.Transport` (one ``requests.Session``) and raise
:class:`~outbox.errors.OutboxError` on failure. Nothing here retries: the sender and the inbox
fetcher decide when to try again.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import requests

from outbox.errors import ErrorCode, OutboxError
from outbox.transport import TUS_VERSION, PlatformConfig, Transport, error_for_exception

__all__ = ["DirectoryEntry", "MailboxItem", "PlatformClient", "PlatformConfig"]

log = logging.getLogger(__name__)

_DOWNLOAD_BLOCK = 64 * 1024


@dataclass(frozen=True)
class DirectoryEntry:
    """A recipient listed by the platform.

    ``certificate_sha256`` is the SHA-256 fingerprint (hex) of the recipient's certificate
    (DER), which also addresses the recipient's mailbox on the platform; empty if the platform
    did not give it.
    """

    id: str
    display_name: str
    role: str
    specialty: str | None
    station: str
    certificate_pem: str
    certificate_sha256: str = ""


@dataclass(frozen=True)
class MailboxItem:
    """A bundle waiting in a recipient's mailbox on the platform."""

    bundle_id: str
    kind: str
    size: int
    sha256: str
    sender_station: str
    received_at: str


def _seg(value: str) -> str:
    return quote(value, safe="")


def _json(response: requests.Response) -> Any:
    with response:
        try:
            return response.json()
        except (ValueError, requests.RequestException) as exc:
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

    def health(self) -> dict[str, Any]:
        """Returns the platform's health document."""
        body = _json(self._http.request("GET", "/api/v1/health", ok={200}))
        if not isinstance(body, dict):
            raise OutboxError(ErrorCode.SERVER_ERROR, "malformed health answer")
        return body

    def directory(self) -> list[DirectoryEntry]:
        """Returns the recipients listed by the platform."""
        body = _json(self._http.request("GET", "/api/v1/directory", ok={200}))
        try:
            return [
                DirectoryEntry(
                    id=str(r["id"]),
                    display_name=str(r["display_name"]),
                    role=str(r["role"]),
                    specialty=None if r.get("specialty") is None else str(r["specialty"]),
                    station=str(r["station"]),
                    certificate_pem=str(r["certificate_pem"]),
                    certificate_sha256=str(r.get("certificate_sha256") or "").lower(),
                )
                for r in body["recipients"]
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise OutboxError(ErrorCode.SERVER_ERROR, "malformed directory") from exc

    def delivery(self, bundle_id: str) -> dict[str, Any] | None:
        """Returns the platform's delivery record for a bundle this station sent, or ``None``."""
        path = f"/api/v1/deliveries/{_seg(bundle_id)}"
        response = self._http.request("GET", path, ok={200, 404})
        if response.status_code == 404:
            response.close()
            return None
        body = _json(response)
        return body if isinstance(body, dict) else None

    def create(self, length: int, metadata: Mapping[str, str]) -> str:
        """Creates a tus upload and returns its absolute URL."""
        headers = {
            "Tus-Resumable": TUS_VERSION,
            "Upload-Length": str(length),
            "Upload-Metadata": encode_metadata(metadata),
        }
        with self._http.request("POST", "/files/", ok={201}, headers=headers) as response:
            location = response.headers.get("Location")
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
        self._http.request("DELETE", url, ok={204, 404, 410}, headers=headers).close()

    def list_items(self, recipient: str) -> list[MailboxItem]:
        """Lists the bundles waiting in a recipient's mailbox."""
        path = f"/api/v1/mailboxes/{_seg(recipient)}/items"
        body = _json(self._http.request("GET", path, ok={200}))
        try:
            return [
                MailboxItem(
                    bundle_id=str(i["bundle_id"]),
                    kind=str(i["kind"]),
                    size=int(i["size"]),
                    sha256=str(i["sha256"]).lower(),
                    sender_station=str(i["sender_station"]),
                    received_at=str(i["received_at"]),
                )
                for i in body["items"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise OutboxError(ErrorCode.SERVER_ERROR, "malformed mailbox listing") from exc

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
                mode = "ab" if response.status_code == 206 else "wb"
                done = have if mode == "ab" else 0
                try:
                    with dest.open(mode) as out:
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
        self._http.request("DELETE", path, ok={200, 204, 404}).close()
