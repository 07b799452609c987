"""A temporary file whose content is encrypted under a key that only this process holds.

:mod:`crypto.stream` decrypts a sealed bundle in one pass but may release its plaintext only
once the GCM tag at the very end has been checked. Meanwhile the plaintext waits here: an
anonymous temporary file (unlinked at once, so a crash leaves nothing behind) encrypted in
64 KiB chunks with AES-256-GCM under a fresh random key kept in memory. Each chunk's nonce
is its index and its additional data says whether it is the last one, so that the chunks
can be read back in any order (a ZIP is read from its end first) and a chunk altered,
swapped, dropped or cut off on disk is an error (:class:`ScratchCorrupted`), never wrong
plaintext. A disk thief finds ciphertext under a key that never left memory.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 1 << 16
_TAG = 16
_LAST = b"last"
_MORE = b"more"


class ScratchCorrupted(OSError):
    """The temporary file was altered while we were using it."""


class Scratch:
    """Write once, front to back (:meth:`write`, then :meth:`seal`); then read with
    :meth:`reader`, as often as needed. :meth:`close` drops the file."""

    def __init__(self, directory: Path | None = None) -> None:
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115  # lives with us
        self._closer = weakref.finalize(self, self._file.close)  # dropped unclosed: freed
        self._pending = bytearray()
        self._chunks = 0
        self.size = 0
        self._sealed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` (in any pieces)."""
        if self._sealed:
            raise ValueError("the scratch file is sealed")
        self._pending += data
        self.size += len(data)
        while len(self._pending) > CHUNK:  # keep at least one byte for the last chunk
            self._put(bytes(self._pending[:CHUNK]), last=False)
            del self._pending[:CHUNK]

    def _put(self, plain: bytes, *, last: bool) -> None:
        nonce = self._chunks.to_bytes(12, "big")
        self._file.write(self._aead.encrypt(nonce, plain, _LAST if last else _MORE))
        self._chunks += 1

    def seal(self) -> None:
        """Write the last chunk (possibly empty); no more writing after that."""
        if not self._sealed:
            self._put(bytes(self._pending), last=True)
            self._pending = bytearray()
            self._file.flush()
            self._sealed = True

    def chunk(self, index: int) -> bytes:
        """The plaintext of chunk ``index``, authenticated."""
        if not self._sealed or not 0 <= index < self._chunks:
            raise ValueError("no such chunk")
        last = index == self._chunks - 1
        expected = (self.size - index * CHUNK if last else CHUNK) + _TAG
        data = os.pread(self._file.fileno(), expected, index * (CHUNK + _TAG))
        try:
            if len(data) != expected:
                raise InvalidTag
            return self._aead.decrypt(index.to_bytes(12, "big"), data, _LAST if last else _MORE)
        except InvalidTag as exc:
            raise ScratchCorrupted("the temporary file was altered or cut") from exc

    def reader(self) -> ScratchReader:
        """A new seekable, read-only file object over the plaintext."""
        self.seal()
        return ScratchReader(self)

    def close(self) -> None:
        """Delete the file (it has no name; closing frees its blocks)."""
        self._closer()


class _SeekableReader(io.RawIOBase):
    """What both readers share: a read-only file of ``size`` bytes, seekable as a file is
    (past the end reads nothing; before the start is an error)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size, self._position = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}
        position = base[whence] + offset
        if position < 0:
            raise OSError(errno.EINVAL, "negative seek position")  # as a file does
        self._position = position
        return position


class ScratchReader(_SeekableReader):
    """Seekable reading of a sealed :class:`Scratch` (what :mod:`zipfile` needs)."""

    def __init__(self, scratch: Scratch) -> None:
        super().__init__(scratch.size)
        self._scratch = scratch
        self._cached: tuple[int, bytes] | None = None

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._position >= self._size or not len(view):
            return 0
        index, within = divmod(self._position, CHUNK)
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self._scratch.chunk(index))
        piece = self._cached[1][within : within + len(view)]
        view[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)


class ScratchTooLarge(OSError):
    """More content than a :class:`MemoryScratch` was allowed to hold (a file that grew
    after its size chose memory)."""


class MemoryScratch:
    """:class:`Scratch`'s protocol in memory, for content small enough to hold: nothing
    reaches the disk, so nothing needs encrypting. The content is written into ``buffer``
    (grown into a new one when too small; :attr:`buffer` is the one used), which the caller
    may keep and hand to the next one: reading into memory already mapped costs no page
    faults (:mod:`cases.reopen`). More than ``limit`` bytes is :class:`ScratchTooLarge`.
    Readers see the content only once :meth:`seal` was called (after the GCM tag was
    checked); :meth:`close` zeroes what was written, so plaintext of a message whose tag
    failed does not linger in the kept buffer."""

    def __init__(
        self, buffer: bytearray | None = None, expected: int = 0, limit: int | None = None
    ) -> None:
        self.buffer = buffer if buffer is not None and len(buffer) >= expected else None
        if self.buffer is None:
            self.buffer = bytearray(max(expected, CHUNK))
        self.limit = limit
        self.size = 0
        self._sealed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` (in any pieces)."""
        if self._sealed:
            raise ValueError("the scratch is sealed")
        assert self.buffer is not None
        end = self.size + len(data)
        if self.limit is not None and end > self.limit:
            raise ScratchTooLarge(f"the content exceeds the {self.limit} bytes held in memory")
        if end > len(self.buffer):  # a new buffer: the old one may still be viewed
            grown = bytearray(max(end, 2 * len(self.buffer)))
            grown[: self.size] = memoryview(self.buffer)[: self.size]
            self.buffer = grown
        self.buffer[self.size : end] = data
        self.size = end

    def seal(self) -> None:
        """No more writing; the content may be read."""
        self._sealed = True

    def reader(self) -> ViewReader:
        """A new seekable, read-only file object over the content."""
        if not self._sealed or self.buffer is None:
            raise ValueError("the scratch is not sealed")
        return ViewReader(memoryview(self.buffer)[: self.size])

    def close(self) -> None:
        """Zero what was written (the buffer itself stays the caller's)."""
        if self.buffer is not None and self.size:
            with memoryview(self.buffer) as view:
                view[: self.size] = bytes(self.size)
        self.size = 0
        self._sealed = False


class ViewReader(_SeekableReader):
    """A read-only file over a memory view, for ``zipfile``: reading a member copies that
    member only, never the whole content."""

    def __init__(self, view: memoryview) -> None:
        super().__init__(len(view))
        self._view = view

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        piece = self._view[self._position : self._position + len(view)]
        view[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._position + size
        chunk = bytes(self._view[self._position : end])
        self._position += len(chunk)
        return chunk
