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


class ScratchReader(io.RawIOBase):
    """Seekable reading of a sealed :class:`Scratch` (what :mod:`zipfile` needs)."""

    def __init__(self, scratch: Scratch) -> None:
        super().__init__()
        self._scratch = scratch
        self._position = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._scratch.size}
        position = base[whence] + offset
        if position < 0:
            raise OSError(errno.EINVAL, "negative seek position")  # as a file does
        self._position = position
        return position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._position >= self._scratch.size or not len(view):
            return 0
        index, within = divmod(self._position, CHUNK)
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self._scratch.chunk(index))
        piece = self._cached[1][within : within + len(view)]
        view[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)
