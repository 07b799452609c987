"""Reading an admitted bundle's content again, for its payloads (a photo, a document).

A bundle is AES-GCM over its whole content: nothing of it may be released before the tag
over all of it is checked, so the first photo of a case waits for the whole bundle to be
read and decrypted. That is one pass of AES in C; what made it cost three times as much
was memory: reading a 25 MB bundle into fresh memory, and decrypting it into more, makes the
kernel map and zero about 12,000 new pages each time (measured: 30–34 ms of CPU for the
first photo of a 25 MB request, 9–10 ms once the sealed bytes are read into one buffer kept
from the last time: 0 page faults).

So a bundle up to :data:`IN_MEMORY_MAX` is read into a buffer the :class:`Reopener`
keeps, decrypted into another (``crypto.cms.reopen_parts``; a streamed bundle's segments
then joined into the first), and its ZIP read through a view (a member read copies that
member only). A larger one (clips) is decrypted in bounded
memory into an encrypted temporary file (``crypto.stream.reopen_file``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from cryptography import x509

from crypto import cms, stream
from crypto._keys import PrivateKey
from crypto.errors import MalformedMessage

IN_MEMORY_MAX = 64 << 20
"""The largest sealed bundle decrypted in memory (larger: through a temporary file)."""


class Reopener:
    """Decrypts one person's admitted bundles again; not thread-safe (the store calls it
    under its payload lock). Keeps two buffers as large as the largest bundle read in
    memory (at most ``in_memory_max`` bytes each), until :meth:`release`. What
    :meth:`open` returns is valid until the next call: the next bundle is read into the
    same buffers (the store drops the last bundle's files before it opens another)."""

    def __init__(
        self, certificate: x509.Certificate, key: PrivateKey, in_memory_max: int = IN_MEMORY_MAX
    ) -> None:
        self._certificate, self._key = certificate, key
        self._in_memory_max = in_memory_max
        self._sealed = bytearray()  # the sealed file, then the content of a BER one
        self._plaintext = bytearray()

    def open(self, path: Path) -> io.RawIOBase:
        """The signed content of the sealed file at ``path``, authenticated by its GCM tag
        (the signature is not verified again: see ``crypto.cms.reopen_content``), as a
        seekable read-only file.

        Raises: ``OSError`` (the file cannot be read), ``CryptoError`` (it does not decrypt).
        """
        with Path(path).open("rb", buffering=0) as file:
            size = os.fstat(file.fileno()).st_size
            if size > self._in_memory_max:
                content = stream.reopen_file(path, self._certificate, self._key)
                return content.open()
            if len(self._sealed) < size:
                self._sealed = bytearray(size)
            with memoryview(self._sealed) as buffer:
                read = _read_all(file, buffer[:size])
                if read != size or file.read(1):  # it changed while read: not the one stat saw
                    raise MalformedMessage("the sealed file changed while it was read")
                parts = cms.reopen_parts(buffer[:size], self._certificate, self._key, self._plain)
        if len(parts) == 1:  # DER: the content lies in one piece in the plaintext
            return _ViewFile(parts[0])
        # BER (as the workstation seals now): its segments joined where the sealed bytes were,
        # which are no longer needed (the content is shorter than they were)
        joined = memoryview(self._sealed)
        done = 0
        for part in parts:
            joined[done : done + len(part)] = part
            done += len(part)
        return _ViewFile(joined[:done])

    def _plain(self, size: int) -> bytearray:
        if len(self._plaintext) < size:
            self._plaintext = bytearray(size)
        return self._plaintext

    def release(self) -> None:
        """Give back the buffers (at logout, or when the store is closed)."""
        self._sealed, self._plaintext = bytearray(), bytearray()


def _read_all(file: Any, buffer: memoryview) -> int:
    """Fill ``buffer`` from ``file``; how many bytes came (fewer at its end)."""
    done = 0
    while done < len(buffer):
        got = file.readinto(buffer[done:])
        if not got:
            break
        done += got
    return done


class _ViewFile(io.RawIOBase):
    """A read-only file over a memory view, for ``zipfile``: reading a member copies that
    member only, never the whole bundle."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view, self._pos = view, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._pos + size
        chunk = bytes(self._view[self._pos : end])
        self._pos += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)
