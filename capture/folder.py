"""A watched folder: the files a photo camera's tethering software (or an SD-card copy)
drops there, reported once their size has stopped changing. They are then loaded with
:func:`capture.loading.load_image`.

Those files are clinical photos in clear on the workstation's disk. Once the photos they
became have joined a request (sealed from then on), :func:`wipe` overwrites each file with
zeros and removes it, so that nothing is left behind in the folder.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from capture.errors import NOT_WIPED, CaptureError
from capture.sources import Clock

log = logging.getLogger(__name__)


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif"})


class WatchedFolder:
    """Reports image files newly dropped into ``path``, once they are complete.

    A file is reported once, when two successive polls saw the same size and modification
    time and it is at least ``min_age`` seconds old (a camera's software may still be
    writing it otherwise). Hidden and temporary files are ignored, and so are the files
    already there at creation unless ``include_existing``: those are listed in ``existing``
    (sorted by name), for the doctor to take or leave. Polling is bounded: at most
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
        self._seen: dict[str, tuple[int, int]] = {}
        self._reported: set[str] = set()
        self.existing: list[Path] = []
        if not include_existing:
            there = self._scan()
            self._reported.update(there)
            self.existing = [self.path / name for name in sorted(there)]

    def _scan(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        try:
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
                        if not entry.is_file():
                            continue
                        info = entry.stat()
                    except OSError:
                        continue  # vanished meanwhile
                    found[name] = (info.st_size, info.st_mtime_ns)
        except OSError as exc:
            log.warning("cannot list the watched folder: %s", exc.strerror)
        return found

    def poll(self) -> list[Path]:
        """New complete image files since the last poll (sorted by name)."""
        current = self._scan()
        now_ns = int(self._now() * 1e9)
        ready = []
        for name, (size, mtime) in sorted(current.items()):
            if name in self._reported:
                continue
            stable = self._seen.get(name) == (size, mtime)
            old_enough = now_ns - mtime >= self.min_age * 1e9
            if stable and size > 0 and old_enough:
                ready.append(name)
                if len(ready) >= self.max_batch:
                    break
        self._reported.update(ready)
        self._reported &= set(current)  # forget files that were removed
        self._seen = current
        return [self.path / name for name in ready]

    def wait(self, timeout: float, interval: float = 0.25) -> list[Path]:
        """Polls until a file is ready or ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            ready = self.poll()
            if ready or time.monotonic() >= deadline:
                return ready
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


WIPE_CHUNK = 1 << 20


def wipe(path: Path) -> None:
    """Overwrites ``path`` with zeros, flushes it to the disk, and removes it.

    The overwrite is what an application can do: on an SSD or a journalling or copy-on-write
    file system the old blocks may survive elsewhere until the device reuses them (full-disk
    encryption is what covers that). A file already gone is not an error.

    Raises:
        CaptureError: ``not_wiped`` when the file cannot be opened, overwritten or removed.
    """
    try:
        with open(path, "r+b") as handle:
            size = os.fstat(handle.fileno()).st_size
            zeros = bytes(min(WIPE_CHUNK, max(size, 1)))
            written = 0
            while written < size:
                written += handle.write(zeros[: size - written])
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CaptureError(NOT_WIPED, f"cannot wipe the file: {exc.strerror}") from exc
