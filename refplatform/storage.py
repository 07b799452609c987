"""On-disk layout of the platform's data directory and the file helpers that keep it crash-safe.

Layout::

    DATA/
      platform.sqlite                       stations, recipients, uploads, deliveries, mailboxes
      uploads/<upload_id>.part              bytes of an unfinished tus upload
      mailboxes/<recipient_id>/<bundle_id>.bin
                                            accepted bundles, moved there whole (never half written)

Identifiers become file names, so every one is checked against :data:`ID_PATTERN` before use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "DB_NAME",
    "FINGERPRINT_PATTERN",
    "ID_PATTERN",
    "Layout",
    "certificate_fingerprint",
    "fsync_dir",
    "fsync_file",
    "is_valid_id",
    "iso_utc",
    "move_durably",
    "sha256_file",
]

log = logging.getLogger(__name__)

DB_NAME = "platform.sqlite"

#: Station, recipient and bundle identifiers: safe as a file name on every platform.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

_HASH_BLOCK = 1024 * 1024
_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----"
)
#: A certificate fingerprint as a mailbox address: 64 hex digits, optionally ``sha256:``-prefixed.
FINGERPRINT_PATTERN = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")


def certificate_fingerprint(certificate_pem: str) -> str:
    """Returns the SHA-256 (lowercase hex) of the DER bytes of the first PEM certificate.

    The platform relays certificates without parsing them; the fingerprint is computed over the
    bytes as given, like ``openssl x509 -fingerprint -sha256``.

    Raises:
        ValueError: If there is no PEM certificate or its base64 is malformed.
    """
    found = _PEM_CERTIFICATE.search(certificate_pem)
    if found is None:
        raise ValueError("no PEM certificate")
    try:
        der = base64.b64decode("".join(found.group(1).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("malformed PEM certificate") from exc
    if not der:
        raise ValueError("empty PEM certificate")
    return hashlib.sha256(der).hexdigest()


def is_valid_id(value: str) -> bool:
    """Tells whether ``value`` is an acceptable identifier (and so a safe file name).

    Args:
        value: A station, recipient or bundle identifier.
    """
    return ID_PATTERN.fullmatch(value) is not None and ".." not in value


def iso_utc(timestamp: float) -> str:
    """Formats a POSIX timestamp as ISO 8601 in UTC, e.g. ``2026-11-23T09:16:00Z``."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    """Returns the lowercase hex SHA-256 of a file, read in blocks.

    Raises:
        OSError: If the file cannot be read.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def fsync_file(path: Path) -> None:
    """Forces a file's content to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Forces a directory's entries (creations, renames, removals) to stable storage."""
    if os.name != "posix":  # pragma: no cover - directories cannot be opened elsewhere
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_durably(source: Path, target: Path) -> None:
    """Moves a complete file into place atomically and durably.

    The content is flushed first, then renamed with :func:`os.replace` (atomic on one file
    system), then both directories are flushed: after a crash the target is either absent or
    whole, never half written.

    Args:
        source: The finished file.
        target: Where it must appear; its directory is created if needed.
    """
    fsync_file(source)
    created = not target.parent.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    if created:
        fsync_dir(target.parent.parent)
    os.replace(source, target)
    fsync_dir(target.parent)
    fsync_dir(source.parent)


@dataclass(frozen=True)
class Layout:
    """Paths inside one data directory."""

    root: Path

    @property
    def db_path(self) -> Path:
        """The SQLite database."""
        return self.root / DB_NAME

    @property
    def uploads(self) -> Path:
        """Directory of unfinished uploads."""
        return self.root / "uploads"

    @property
    def mailboxes(self) -> Path:
        """Directory holding one sub-directory per recipient."""
        return self.root / "mailboxes"

    def part_path(self, upload_id: str) -> Path:
        """File receiving the bytes of an unfinished upload."""
        return self.uploads / f"{upload_id}.part"

    def mailbox_path(self, recipient_id: str, bundle_id: str) -> Path:
        """File of an accepted bundle in a recipient's mailbox."""
        if not (is_valid_id(recipient_id) and is_valid_id(bundle_id)):
            raise ValueError("identifier not usable as a file name")
        return self.mailboxes / recipient_id / f"{bundle_id}.bin"

    def ensure(self) -> None:
        """Creates the directories if they are missing."""
        for folder in (self.root, self.uploads, self.mailboxes):
            folder.mkdir(parents=True, exist_ok=True)
