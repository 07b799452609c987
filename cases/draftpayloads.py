"""A draft's payloads (photos, clips, documents), each sealed once into its own file.

A request's draft is autosaved a moment after each edit (:mod:`cases.drafts`). Sealing the
whole draft again each time would seal a 200 MiB clip, or a dozen photos of a few MB, again
at every word of the summary, so a photo, a clip or a document is sealed **once**, when it
joins the draft, into a file of its own beside the drafts,
``drafts/<identity id>/payloads/<name>.p7m``: signed by the author and encrypted to the
author's own certificate, exactly as the draft itself. The draft's bundle then references it
by its bundle name, size and SHA-256 (``clinical.draft_payloads``, :mod:`cases.draftlisting`)
and stays small: an autosave seals only the text.

* **Names.** A payload's file is named by a keyed hash of its SHA-256 (the drafts' name key,
  sealed to the person): the same clip in two drafts is one file, sealed once, and the names
  say nothing to somebody holding the disk (not even whether a known file is there).
* **Crash safety.** A payload is sealed into a hidden temporary file, synced and renamed
  (:class:`crypto.stream.Sealer`) before the draft that references it is written; a crash
  leaves at worst a payload no draft references, which :meth:`DraftPayloadStore.collect`
  removes at the next save, discard or start, or a hidden partial file
  (:func:`crypto.stream.remove_partial`).
* **Reading.** :class:`DraftPayload` is a :class:`cases.photos.Payload`: its bytes are read,
  or streamed (``open()``, what :mod:`cases.bundleseal` seals a request from), through
  :func:`crypto.stream.open_file` (nothing released before the GCM tag and the signature are
  checked), then compared with the size and SHA-256 the draft lists and with the author's
  certificate. A file missing, altered, swapped (another person's, another payload's) or
  replayed (an older one under its name) is :class:`DraftPayloadDamaged`, naming the photo,
  clip or document, never wrong bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from cases.bundleseal import Source, source_blocks
from cases.errors import BundleError
from crypto import stream
from crypto.errors import CryptoError

log = logging.getLogger(__name__)

FOLDER = "payloads"
SUFFIX = ".p7m"


class DraftPayloadDamaged(BundleError):
    """A draft's photo, clip or document cannot be read back as the draft lists it (its sealed
    file is missing, altered, or another one); ``name`` is its name in the request."""

    code = "draft_payload_damaged"

    def __init__(self, name: str, message: str) -> None:
        super().__init__(self.code, f"{name}: {message}")
        self.name = name


Opener = Callable[[Path], stream.StreamOpened]
"""Opens a payload's sealed file, checking that the author sealed it."""


class DraftPayload:
    """A photo's, a clip's or a document's bytes in their sealed file (a
    :class:`cases.photos.Payload`).

    Read (:meth:`read`) or streamed (:meth:`open`) from the file each time, off the GUI
    thread: nothing of it is kept in memory meanwhile.
    """

    __slots__ = ("_opener", "name", "path", "sha256", "size")

    def __init__(self, path: Path, name: str, size: int, sha256: str, opener: Opener) -> None:
        self.path, self.name, self.size, self.sha256 = path, name, size, sha256
        self._opener = opener

    def open(self) -> IO[bytes]:
        """The bytes as a stream, authenticated and checked before the first byte is given.

        Raises:
            DraftPayloadDamaged: the file is missing, unreadable, altered, sealed by somebody
                else, or holds other bytes than the draft lists.
        """
        try:
            opened = self._opener(self.path)
        except FileNotFoundError as exc:
            raise DraftPayloadDamaged(self.name, "its sealed file is missing") from exc
        except (CryptoError, OSError, ValueError) as exc:  # ValueError: another's seal
            raise DraftPayloadDamaged(
                self.name, f"its sealed file cannot be opened: {exc}"
            ) from exc
        if (opened.size, opened.sha256.hex()) != (self.size, self.sha256):
            opened.close()
            raise DraftPayloadDamaged(self.name, "its sealed file holds other bytes")
        return io.BufferedReader(_Reader(opened), buffer_size=1 << 20)

    def read(self) -> bytes:
        """The bytes, whole (a clip for the player, a document for the viewer)."""
        with self.open() as file:
            return file.read()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DraftPayload):
            return NotImplemented
        return (self.path, self.size, self.sha256) == (other.path, other.size, other.sha256)

    def __hash__(self) -> int:
        return hash((self.path, self.size, self.sha256))

    def __repr__(self) -> str:
        return f"DraftPayload({self.name!r}, {self.size} bytes)"


class _Reader(io.RawIOBase):
    """Reads a payload's authenticated plaintext; closing drops its temporary copy."""

    def __init__(self, opened: stream.StreamOpened) -> None:
        super().__init__()
        self._opened = opened
        self._reader: Any = opened.open()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._reader.seek(offset, whence))

    def tell(self) -> int:
        return int(self._reader.tell())

    def readinto(self, buffer: Any) -> int:
        return int(self._reader.readinto(buffer))

    def close(self) -> None:
        if not self.closed:
            self._opened.close()
        super().close()


class DraftPayloadStore:
    """The sealed payload files of one person's drafts.

    Args:
        folder: Where they lie (``drafts/<identity id>/payloads``).
        file_name: The keyed hash naming a payload's file, of its SHA-256.
        seal: Seals a readable into a path (signed by the author, encrypted to them).
        opener: Opens a payload's file, checking its author.
    """

    def __init__(
        self,
        folder: Path,
        file_name: Callable[[str], str],
        seal: Callable[[Path, Iterable[bytes | memoryview]], None],
        opener: Opener,
    ) -> None:
        self.folder = folder
        self._file_name = file_name
        self._seal = seal
        self._opener = opener
        self._lock = threading.Lock()
        self._pins: Counter[str] = Counter()  # being sealed or written: never collected

    def path(self, sha256: str) -> Path:
        return self.folder / f"{self._file_name(sha256)}{SUFFIX}"

    def reference(self, name: str, size: int, sha256: str) -> DraftPayload:
        """What reads the payload ``name`` (of ``size`` bytes and this SHA-256) back."""
        return DraftPayload(self.path(sha256), name, size, sha256, self._opener)

    def keep(self, name: str, source: Source, size: int, sha256: str) -> DraftPayload:
        """The payload sealed into its file, unless that file exists already (it is then
        not read again: a payload is sealed once); pinned (never collected) until
        :meth:`unpin`. ``source`` must hold ``size`` bytes of this SHA-256.

        Raises:
            ValueError: ``source`` holds other bytes (nothing is left).
            OSError: the source cannot be read or the file written (nothing is left).
            DraftPayloadDamaged: the source is another draft's payload that cannot be read.
        """
        path = self.path(sha256)
        with self._lock:
            self._pins[path.name] += 1
        try:
            if isinstance(source, DraftPayload) and source.path == path:
                return source
            if path.exists():
                return self.reference(name, size, sha256)
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._seal(path, _checked(source_blocks(source), name, size, sha256))
            log.info("a draft payload was sealed (%d bytes)", size)
            return self.reference(name, size, sha256)
        except BaseException:
            self.unpin([path.name])
            raise

    def unpin(self, names: Iterable[str]) -> None:
        """The payload files ``names`` (file names) may be collected again once unreferenced."""
        with self._lock:
            for file_name in names:
                self._pins[file_name] -= 1
                if self._pins[file_name] <= 0:
                    del self._pins[file_name]

    def collect(self, referenced: Callable[[], set[str]]) -> int:
        """Remove the payload files neither ``referenced()`` (file names, asked while no pin
        can be dropped: a draft lists a payload before it is unpinned) nor pinned, and what
        interrupted sealers left; returns how many payload files were removed."""
        if not self.folder.is_dir():
            return 0
        stream.remove_partial(self.folder)
        removed = 0
        with self._lock:
            listed = referenced()
            for path in self.folder.glob(f"*{SUFFIX}"):
                if path.name in listed or path.name in self._pins:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        if removed:
            log.info("%d draft payload(s) no draft references were removed", removed)
        return removed


def _checked(
    blocks: Iterable[bytes | memoryview], name: str, size: int, sha256: str
) -> Iterable[bytes | memoryview]:
    """``blocks``, raising ``ValueError`` at their end (before the seal is finished) unless
    they hold ``size`` bytes of this SHA-256; never read past ``size``."""
    digest, done = hashlib.sha256(), 0
    for block in blocks:
        done += len(block)
        if done > size:
            break
        digest.update(block)
        yield block
    if (done, digest.hexdigest()) != (size, sha256):
        raise ValueError(f"{name} differs from its size and SHA-256")
