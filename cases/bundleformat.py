"""The bundle, format 1: its constants, the parties and files a manifest names, and the
parsed bundle (docs/bundle-format.md).

Shared by :mod:`cases.bundlepack` (writing), :mod:`cases.bundlefields` (reading the manifest's
fields), :mod:`cases.bundleunpack` (checking an archive) and :mod:`cases.bundlestream` (the same
through files); :mod:`cases.bundle` re-exports the public names.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from cases.model import Case, Opinion
from crypto import pki

FORMAT = 1
"""The bundle format version this module writes and reads."""

KINDS = ("request", "opinion", "receipt", "withdrawal")
MANIFEST = "manifest.json"
MAX_TOTAL_SIZE = 512 * 1024 * 1024
"""Default bound on the total uncompressed size of a bundle (zip bomb guard)."""
MAX_STREAM_SIZE = 2 << 30
"""Bound on a streamed bundle's total uncompressed size (``cases.bundlestream``, and what
``cases.bundleseal`` seals)."""
MAX_FILES = 256
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
MAX_TEXT = 20_000
"""Bound on a clinical text field read from a bundle (summary, question, opinion...)."""
EARLIEST, LATEST = 2000, 2100
"""Every time a bundle carries lies in these years (``created`` and the clinical dates)."""

_MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".heic": "image/heic",
    ".json": "application/json",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
    ".dcm": "application/dicom",
    ".mp4": "video/mp4",
    ".zip": "application/zip",
}
_ALREADY_COMPRESSED = {"image/jpeg", "image/png", "image/heic", "video/mp4", "application/zip"}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")  # an outcome code
_FORBIDDEN_IN_NAMES = re.compile(r"[\x00-\x1f\x7f\\:]")
_TOP_KEYS = {
    "format",
    "bundle_id",
    "case_id",
    "kind",
    "in_reply_to",
    "sender",
    "recipients",
    "addressees",
    "created",
    "files",
    "clinical",
}


@dataclass(frozen=True)
class Party:
    """A person or a unit taking part in an exchange.

    Attributes:
        mailbox: Platform mailbox id (empty when unknown, e.g. a bundle made by the CLI).
        display_name: The person's name (certificate CN).
        fingerprint: SHA-256 of the certificate, lowercase hex.
        role: doctor, secretary, specialist or unit (certificate OU), when known.
        organization: Health unit or hospital (certificate O), when known.
    """

    mailbox: str
    display_name: str
    fingerprint: str
    role: str = ""
    organization: str = ""

    @classmethod
    def of_certificate(cls, cert: x509.Certificate, mailbox: str = "") -> Party:
        """The party a certificate describes."""
        orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        organization = str(orgs[0].value) if orgs else ""
        return cls(
            mailbox,
            pki.display_name(cert),
            pki.fingerprint(cert),
            pki.role_of(cert) or "",
            organization,
        )

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.display_name,
            "role": self.role,
            "organization": self.organization,
            "fingerprint": self.fingerprint,
            "mailbox": self.mailbox,
        }


@dataclass(frozen=True)
class FileEntry:
    """One payload file as the manifest lists it."""

    name: str
    media_type: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "media_type": self.media_type,
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Manifest:
    """What the signed manifest says. ``recipients`` lists every recipient, in the
    manifest's order; those the sender named carry their name, the others only their
    fingerprint."""

    bundle_id: str
    kind: str  # "request", "opinion", "receipt" or "withdrawal"
    sender: Party
    recipients: tuple[Party, ...]
    files: tuple[FileEntry, ...] = ()
    case_id: str | None = None
    in_reply_to: str | None = None
    created: datetime | None = None
    clinical: Mapping[str, Any] | None = None

    @property
    def recipient_fingerprints(self) -> tuple[str, ...]:
        return tuple(r.fingerprint for r in self.recipients)


@dataclass(frozen=True)
class Bundle:
    """A parsed, checked bundle (memory only).

    Attributes:
        manifest: The manifest.
        case: The case, for a request made by the workstation.
        opinion: The opinion, for an opinion.
        files: Every payload file, by name (the photos of a case included).
        manifest_json: The manifest exactly as signed.
        withdrawal: Why the request it names is withdrawn, for a withdrawal (a code of
            ``cases.model.WITHDRAWAL_REASONS``, or one a later version may add).
    """

    manifest: Manifest
    case: Case | None = None
    opinion: Opinion | None = None
    files: Mapping[str, bytes] = field(default_factory=dict)
    manifest_json: bytes = b""
    withdrawal: str | None = None


def media_type(name: str) -> str:
    """The media type written in the manifest for a file name."""
    return _MEDIA_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def check_file_name(name: str) -> str:
    """Return ``name`` if it is a safe relative path for a payload file, else raise
    ``ValueError`` (absolute, ``..``, backslashes, drive letters, control characters)."""
    if not isinstance(name, str) or not 0 < len(name) <= 255:
        raise ValueError("a file name must have 1 to 255 characters")
    if _FORBIDDEN_IN_NAMES.search(name) or name.startswith("/"):
        raise ValueError("a file name must be a plain relative path")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError("a file name must not contain empty, '.' or '..' parts")
    if name == MANIFEST:
        raise ValueError(f"{MANIFEST} is reserved")
    return name


def compression(media: str) -> int:
    """How a file of type ``media`` is stored in the ZIP (docs/bundle-format.md §1)."""
    return zipfile.ZIP_STORED if media in _ALREADY_COMPRESSED else zipfile.ZIP_DEFLATED


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
