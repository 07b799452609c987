"""Spool files: ciphertext on disk, written atomically, named after a validated bundle id.

Everything a profile holds is its owner's only: files are created mode 0600 and folders 0700
(:func:`private_dir`, :func:`private_file`, :func:`atomic_write`), whatever the umask.
"""

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
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700

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


def private_dir(path: Path) -> Path:
    """Creates ``path`` and its missing parents, each mode 0700; returns ``path``.

    (``Path.mkdir(mode=…, parents=True)`` gives the parents the default mode.) A folder that
    already exists keeps its mode.
    """
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            if not folder.is_dir():
                raise
    return path


def private_file(path: Path) -> Path:
    """Creates ``path`` empty with mode 0600 if it does not exist (e.g. before SQLite opens
    it: SQLite gives its ``-wal``, ``-shm`` and journal files the database file's mode);
    returns ``path``. An existing file is left as it is."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    return path


def atomic_write(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that a crash leaves either nothing or the whole file.

    The bytes go to a temporary file in the same directory, are flushed to disk, then renamed
    over ``path``; the directory is synced so the rename itself survives a power cut. The file
    is mode 0600 (``mkstemp``'s); missing folders are created mode 0700.
    """
    private_dir(path.parent)
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


def atomic_copy(source: Path, path: Path) -> tuple[int, str]:
    """Copies the file ``source`` to ``path`` as :func:`atomic_write` writes (temporary file,
    synced, renamed, directory synced), in blocks, so that a bundle of a gigabyte never sits
    in memory; returns the size and hex SHA-256 of what was copied."""
    private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=TEMP_SUFFIX)
    tmp = Path(tmp_name)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while block := src.read(_HASH_BLOCK):
                digest.update(block)
                out.write(block)
                size += len(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return size, digest.hexdigest()


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
