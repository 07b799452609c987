"""Spool files: ciphertext on disk, written atomically, named after a validated bundle id."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SPOOL_SUFFIX = ".cms"
PART_SUFFIX = ".part"
TEMP_SUFFIX = ".tmp"
_HASH_BLOCK = 1024 * 1024

# Bundle ids become file names (and come from the platform for inbox items): no separators,
# no leading dot, nothing a file system could read as something else.
_BUNDLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_bundle_id(bundle_id: str) -> str:
    """Returns ``bundle_id`` if it is safe as a file name, else raises ``ValueError``."""
    if not _BUNDLE_ID.fullmatch(bundle_id) or ".." in bundle_id:
        raise ValueError("invalid bundle id")
    return bundle_id


def fsync_dir(directory: Path) -> None:
    """Makes a rename or unlink in ``directory`` durable (no-op where unsupported)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that a crash leaves either nothing or the whole file.

    The bytes go to a temporary file in the same directory, are flushed to disk, then renamed
    over ``path``; the directory is synced so the rename itself survives a power cut.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=TEMP_SUFFIX)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def commit_file(part: Path, path: Path) -> None:
    """Renames a complete, already synced ``part`` file to ``path`` durably."""
    os.replace(part, path)
    fsync_dir(path.parent)


def sha256_file(path: Path) -> str:
    """Returns the hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def remove_file(path: Path) -> bool:
    """Deletes ``path`` if it exists; returns ``False`` if it is still there (e.g. held open)."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot delete spool file %s (errno %s)", path.name, exc.errno)
        return False
    return True


def remove_temp_files(directory: Path) -> int:
    """Deletes temporary files a crash left in ``directory``; returns how many."""
    removed = 0
    if directory.is_dir():
        for tmp in directory.glob(f".*{TEMP_SUFFIX}"):
            removed += remove_file(tmp)
    return removed
