"""Parsing and formatting of the tus 1.0 request headers the platform relies on.

``Upload-Metadata`` is a comma-separated list of ``key base64value`` pairs. The platform needs
``bundle_id``, ``recipient`` (an id or a certificate fingerprint) and ``sha256`` (hex) and
accepts an optional ``kind``; other keys are kept verbatim (they are echoed on ``HEAD``) but never
interpreted.
"""

from __future__ import annotations

import base64
import binascii
import re
from email.utils import formatdate

from starlette.requests import Request

from refplatform.storage import FINGERPRINT_PATTERN, is_valid_id
from refplatform.uploads import UploadMetadata
from refplatform.web import TUS_VERSION, ApiError

__all__ = ["http_date", "parse_count", "parse_metadata", "require_tus_version"]

_COUNT = re.compile(r"[0-9]{1,19}")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_KIND = re.compile(r"[A-Za-z0-9._+/-]{1,64}")
_MAX_METADATA = 4096


def http_date(timestamp: float) -> str:
    """Formats a POSIX timestamp as an RFC 7231 date, e.g. ``Tue, 24 Nov 2026 09:16:00 GMT``."""
    return formatdate(timestamp, usegmt=True)


def require_tus_version(request: Request) -> None:
    """Checks ``Tus-Resumable``.

    Raises:
        ApiError: 412 with ``Tus-Version`` when the header is missing or another version.
    """
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise ApiError(
            412,
            "unsupported_tus_version",
            f"This server speaks tus {TUS_VERSION} only (send Tus-Resumable: {TUS_VERSION}).",
            {"Tus-Version": TUS_VERSION},
        )


def parse_count(value: str | None, header: str) -> int:
    """Parses a non-negative decimal header value such as ``Upload-Length``.

    Raises:
        ApiError: 400 if the header is missing or not a plain decimal number.
    """
    if value is None or _COUNT.fullmatch(value.strip()) is None:
        raise ApiError(400, "invalid_header", f"{header} must be a non-negative integer.")
    return int(value.strip())


def _bad_metadata(message: str) -> ApiError:
    return ApiError(400, "invalid_metadata", message)


def _decode_pairs(raw: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for element in raw.split(","):
        key, _, encoded = element.strip().partition(" ")
        if not key or key in pairs:
            raise _bad_metadata("Upload-Metadata has an empty or repeated key.")
        try:
            pairs[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _bad_metadata(f"Upload-Metadata value of {key!r} is not base64 UTF-8.") from exc
    return pairs


def parse_metadata(raw: str | None) -> UploadMetadata:
    """Parses and validates ``Upload-Metadata``.

    Raises:
        ApiError: 400 when the header is missing, malformed, or lacks a required key.
    """
    if not raw or not raw.strip():
        raise _bad_metadata("Upload-Metadata is required (bundle_id, recipient, sha256).")
    if len(raw) > _MAX_METADATA:
        raise _bad_metadata("Upload-Metadata is too long.")
    pairs = _decode_pairs(raw)
    for key in ("bundle_id", "recipient", "sha256"):
        if not pairs.get(key):
            raise _bad_metadata(f"Upload-Metadata lacks {key}.")
    recipient = pairs["recipient"]
    if not is_valid_id(pairs["bundle_id"]) or not (
        is_valid_id(recipient) or FINGERPRINT_PATTERN.fullmatch(recipient)
    ):
        raise _bad_metadata(
            "bundle_id and recipient must be identifiers ([A-Za-z0-9._-]);"
            " recipient may also be a certificate fingerprint (sha256:<hex>)."
        )
    if _SHA256.fullmatch(pairs["sha256"]) is None:
        raise _bad_metadata("sha256 must be 64 hexadecimal digits.")
    kind = pairs.get("kind") or None
    if kind is not None and _KIND.fullmatch(kind) is None:
        raise _bad_metadata("kind must be a short token ([A-Za-z0-9._+/-]).")
    return UploadMetadata(
        bundle_id=pairs["bundle_id"],
        recipient=pairs["recipient"],
        sha256=pairs["sha256"].lower(),
        kind=kind,
    )
