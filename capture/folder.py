"""A watched folder: the files a photo camera's tethering software (or an SD-card copy)
drops there, reported once their size has stopped changing. They are then read with
:func:`read` and decoded from those bytes.

Those files are clinical photos in clear on the workstation's disk. Once the photos they
became have joined a request (sealed from then on), :func:`wipe` overwrites each file with
zeros and removes it, so that nothing is left behind in the folder.

Only **plain files of the folder** are taken: never a symbolic link (to a file or a
directory), a file with several names (a hard link: its data also lives under another name,
maybe outside the folder), a special file (pipe, device, socket), or a file whose real place
is outside the folder. Otherwise a link dropped in the folder would bring a file from
elsewhere into a request, and the wipe would then overwrite that file. Such a file is not
reported: it is listed in :meth:`WatchedFolder.take_refused` with the code
:data:`NOT_A_PLAIN_FILE`, once.

The folder may change between the listing and the reading or the wiping (a file replaced
by a link, say). So :func:`read` and :func:`wipe` open the file without following a link
(``O_NOFOLLOW``, relative to the folder's own descriptor, where the system has them), then
check on the open descriptor (``fstat``) that it is still a plain file, in the same folder,
with the very device and inode the listing saw, before reading or overwriting a byte. The
identities the listings saw are kept for the process (a path and two pairs of numbers per
file reported), so that this holds whichever :class:`WatchedFolder` listed the file.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from capture.errors import IMAGE_TOO_LARGE, NOT_WIPED, UNREADABLE, CaptureError
from capture.loading import MAX_FILE_BYTES
from capture.sources import Clock

log = logging.getLogger(__name__)


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif"})

NOT_A_PLAIN_FILE = "not_a_plain_file"
"""A file of the watched folder that is not a plain file of it (a symbolic link, a file
with several names, a special file, one outside the folder, or no longer the file listed):
it is neither imported nor wiped. ``app.messages.reason`` has its sentence."""


class RefusedFile(Exception):
    """:func:`read` refused a file of the watched folder (``code`` is
    :data:`NOT_A_PLAIN_FILE`); the message, for logs, says why."""

    code = NOT_A_PLAIN_FILE


Identity = tuple[int, int]
"""A file's device and inode numbers."""


@dataclass(frozen=True)
class _Listed:
    folder: Identity
    file: Identity


_listed: dict[str, _Listed] = {}
_listed_lock = threading.Lock()


def _key(path: Path | str) -> str:
    return os.path.abspath(path)


def _remember(path: Path, listed: _Listed) -> None:
    with _listed_lock:
        _listed[_key(path)] = listed


def _recall(path: Path | str) -> _Listed | None:
    with _listed_lock:
        return _listed.get(_key(path))


def _forget(path: Path | str) -> None:
    with _listed_lock:
        _listed.pop(_key(path), None)


def _identity(info: os.stat_result) -> Identity:
    return info.st_dev, info.st_ino


def _refusal(info: os.stat_result) -> str | None:
    """Why a file (its ``lstat`` or ``fstat``) is not a plain file; ``None`` when it is."""
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_nlink > 1:
        return "a file with several names (hard link)"
    return None


class WatchedFolder:
    """Reports image files newly dropped into ``path``, once they are complete.

    A file is reported once, when two successive polls saw the same size, modification
    time and inode and it is at least ``min_age`` seconds old (a camera's software may still
    be writing it otherwise). Hidden and temporary files are ignored, and so are the files
    already there at creation unless ``include_existing``: those are listed in ``existing``
    (sorted by name), for the doctor to take or leave. An image file that is not a plain
    file of the folder (see the module's documentation) is never reported nor listed in
    ``existing``, but handed once to :meth:`take_refused`. Polling is bounded: at most
    ``max_entries`` directory entries are looked at and ``max_batch`` files reported per
    poll (the rest come with the next polls). The files are not read here.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        include_existing: bool = False,
        min_age: float = 0.5,
        max_entries: int = 10_000,
        max_batch: int = 50,
        now: Clock = time.time,
    ) -> None:
        self.path = Path(path)
        self.min_age = min_age
        self.max_entries = max_entries
        self.max_batch = max_batch
        self._now = now
        self._folder: Identity | None = None
        self._seen: dict[str, tuple[int, int, int, int]] = {}
        self._reported: set[str] = set()
        self._refused_names: set[str] = set()
        self._refusals: list[tuple[Path, str]] = []
        self._refusals_lock = threading.Lock()
        self.existing: list[Path] = []
        if not include_existing:
            there = self._scan()
            self._reported.update(there)
            self.existing = [self._listed(name, there[name]) for name in sorted(there)]

    def take_refused(self) -> list[tuple[Path, str]]:
        """The image files refused since the last call, each with its code
        (:data:`NOT_A_PLAIN_FILE`), sorted by name within a poll. Each is given once while it
        stays in the folder."""
        with self._refusals_lock:
            refused, self._refusals = self._refusals, []
        return refused

    def _listed(self, name: str, seen: tuple[int, int, int, int]) -> Path:
        """The path of a file reported, its identity kept for :func:`read` and :func:`wipe`."""
        path = self.path / name
        if self._folder is not None:
            _remember(path, _Listed(self._folder, (seen[2], seen[3])))
        return path

    def _scan(self) -> dict[str, tuple[int, int, int, int]]:
        """The plain image files of the folder: name → size, mtime, device, inode."""
        found: dict[str, tuple[int, int, int, int]] = {}
        refused: dict[str, str] = {}
        try:
            self._folder = _identity(os.stat(self.path))
            with os.scandir(self.path) as entries:
                for count, entry in enumerate(entries):
                    if count >= self.max_entries:
                        break
                    name = entry.name
                    if name.startswith(".") or name.endswith("~"):
                        continue
                    if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                        continue
                    try:
                        info = os.lstat(entry.path)  # never follows a link (nor does scandir)
                    except OSError:
                        continue  # vanished meanwhile
                    if stat.S_ISDIR(info.st_mode):
                        continue  # a folder, not a photo
                    why = _refusal(info)
                    if why is not None:
                        refused[name] = why
                        continue
                    found[name] = (info.st_size, info.st_mtime_ns, *_identity(info))
        except OSError as exc:
            log.warning("cannot list the watched folder: %s", exc.strerror)
        self._note_refused(refused)
        return found

    def _note_refused(self, refused: dict[str, str]) -> None:
        with self._refusals_lock:
            for name, why in sorted(refused.items()):
                if name not in self._refused_names:
                    log.warning("a file of the watched folder is refused: %s", why)
                    self._refusals.append((self.path / name, NOT_A_PLAIN_FILE))
            self._refused_names = set(refused)  # one gone and back is told again

    def poll(self) -> list[Path]:
        """New complete image files since the last poll (sorted by name)."""
        current = self._scan()
        now_ns = int(self._now() * 1e9)
        ready = []
        for name, seen in sorted(current.items()):
            if name in self._reported:
                continue
            size, mtime = seen[0], seen[1]
            stable = self._seen.get(name) == seen
            old_enough = now_ns - mtime >= self.min_age * 1e9
            if stable and size > 0 and old_enough:
                ready.append(name)
                if len(ready) >= self.max_batch:
                    break
        self._reported.update(ready)
        self._reported &= set(current)  # forget files that were removed
        self._seen = current
        return [self._listed(name, current[name]) for name in ready]

    def wait(self, timeout: float, interval: float = 0.25) -> list[Path]:
        """Polls until a file is ready or ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            ready = self.poll()
            if ready or time.monotonic() >= deadline:
                return ready
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


# --- opening a file of the folder, never through a link -------------------------------------

WIPE_CHUNK = 1 << 20
"""Bytes written (and read) at a time."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_EXTRA_FLAGS = (
    _NOFOLLOW
    | getattr(os, "O_NONBLOCK", 0)  # a pipe put in its place must not block the open
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_RELATIVE = bool(_DIRECTORY) and {os.open, os.stat, os.unlink} <= os.supports_dir_fd
"""Whether files are opened and removed relative to the folder's descriptor (POSIX)."""
_LINK_ERRNOS = {errno.ELOOP, getattr(errno, "EMLINK", errno.ELOOP)}  # O_NOFOLLOW on a link


class _Opened:
    """A file of the watched folder opened for ``flags``, checked as a plain file of its
    folder with the identity its listing saw (or, for a path no listing reported, the one
    its ``lstat`` gives just before the opening).

    Raises (on entry):
        RefusedFile: Not a plain file of the folder, or not the file listed.
        OSError: It cannot be opened (``FileNotFoundError`` when it is gone).
    """

    info: os.stat_result
    """The open file's ``fstat``."""

    def __init__(self, path: Path | str, flags: int) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.flags = flags
        self.folder_fd: int | None = None
        self.fd: int | None = None

    def __enter__(self) -> _Opened:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _open(self) -> None:
        if self.name in ("", ".", ".."):
            raise RefusedFile("not a file name")
        if _RELATIVE:
            # The folder itself is the one chosen: it may be reached through a link.
            flags = os.O_RDONLY | _DIRECTORY | (_EXTRA_FLAGS & ~_NOFOLLOW)
            self.folder_fd = os.open(self.path.parent, flags)
            folder = _identity(os.fstat(self.folder_fd))
        else:
            folder = _identity(os.stat(self.path.parent))
            real = os.path.realpath(self.path)
            if os.path.dirname(real) != os.path.realpath(self.path.parent):
                raise RefusedFile("its real place is outside the folder")
        before = self.lstat()
        why = _refusal(before)
        if why is not None:
            raise RefusedFile(why)
        expected = _recall(self.path) or _Listed(folder, _identity(before))
        if folder != expected.folder:
            raise RefusedFile("the folder is not the one that was listed")
        if _identity(before) != expected.file:
            raise RefusedFile("not the file that was listed")
        try:
            if self.folder_fd is not None:
                self.fd = os.open(self.name, self.flags | _EXTRA_FLAGS, dir_fd=self.folder_fd)
            else:
                self.fd = os.open(self.path, self.flags | _EXTRA_FLAGS)
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                raise RefusedFile("a symbolic link") from exc
            raise
        self.info = os.fstat(self.fd)
        why = _refusal(self.info)
        if why is not None:
            raise RefusedFile(why)
        if _identity(self.info) != expected.file:
            raise RefusedFile("not the file that was listed (replaced meanwhile)")

    def lstat(self) -> os.stat_result:
        """The folder's entry of that name, as it is now, without following a link."""
        if self.folder_fd is not None:
            return os.stat(self.name, dir_fd=self.folder_fd, follow_symlinks=False)
        return os.lstat(self.path)

    def unlink(self) -> None:
        if self.folder_fd is not None:
            os.unlink(self.name, dir_fd=self.folder_fd)
        else:
            os.unlink(self.path)

    def close_file(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def close(self) -> None:
        self.close_file()
        if self.folder_fd is not None:
            fd, self.folder_fd = self.folder_fd, None
            os.close(fd)


def read(path: Path | str, *, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a file of the watched folder, for :func:`capture.loading.load_image`:
    only if it is still the plain file the listing reported (see the module's
    documentation); never through a link.

    Raises:
        RefusedFile: Not a plain file of the folder, or no longer the file listed.
        CaptureError: ``image_too_large`` over ``max_bytes``, ``unreadable`` when it cannot
            be read (gone, permissions, I/O error).
    """
    try:
        with _Opened(path, os.O_RDONLY) as opened:
            assert opened.fd is not None
            if opened.info.st_size > max_bytes:
                raise CaptureError(
                    IMAGE_TOO_LARGE, f"{opened.info.st_size} bytes is over {max_bytes}"
                )
            chunks = []
            total = 0
            while chunk := os.read(opened.fd, min(WIPE_CHUNK, max_bytes + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    raise CaptureError(IMAGE_TOO_LARGE, f"more than {max_bytes} bytes")
            return b"".join(chunks)
    except RefusedFile as exc:
        log.warning("a file of the watched folder is not read: %s", exc)
        raise
    except OSError as exc:
        raise CaptureError(UNREADABLE, f"cannot read the file: {exc.strerror}") from exc


def wipe(path: Path | str) -> None:
    """Overwrites ``path`` with zeros, flushes it to the disk, and removes it.

    Only a plain file of its folder, never through a link, and, for a file a
    :class:`WatchedFolder` reported, only the very file it listed (device and inode, checked
    on the open descriptor before the first byte is written): a link put in its place, a
    file with another name elsewhere, or another file now under its name is left alone, and
    the wipe is refused.

    The overwrite is what an application can do: on an SSD or a journalling or copy-on-write
    file system the old blocks may survive elsewhere until the device reuses them (full-disk
    encryption is what covers that). A file already gone is not an error.

    Raises:
        CaptureError: ``not_wiped`` when the file is refused, or cannot be opened,
            overwritten or removed.
    """
    try:
        with _Opened(path, os.O_RDWR) as opened:
            assert opened.fd is not None
            size = opened.info.st_size
            zeros = bytes(min(WIPE_CHUNK, max(size, 1)))
            written = 0
            while written < size:
                written += os.write(opened.fd, zeros[: size - written])
            os.fsync(opened.fd)
            overwritten = _identity(opened.info)
            opened.close_file()  # Windows removes no file that is open
            if _identity(opened.lstat()) != overwritten:
                raise RefusedFile("its name was given to another file while it was wiped")
            opened.unlink()
    except FileNotFoundError:
        pass
    except RefusedFile as exc:
        log.warning("a file of the watched folder is not wiped: %s", exc)
        raise CaptureError(NOT_WIPED, f"refused to wipe the file: {exc}") from exc
    except OSError as exc:
        raise CaptureError(NOT_WIPED, f"cannot wipe the file: {exc.strerror}") from exc
    _forget(path)
