"""Reading a sealed bundle's content: one path for every size, its sink chosen by the size.

A bundle is AES-GCM over its whole content: nothing of it may be released before the tag
over all of it is checked. Every bundle is read the same way, in one pass over its file
(``crypto.stream.open_file`` at ingestion, which verifies the signature too, and
``crypto.stream.reopen_file`` for a payload, which does not): the plaintext waits in a
*scratch* until the tag is checked, and only then can it be read.

The scratch is chosen for its cost. Up to :data:`IN_MEMORY_MAX`, memory
(``crypto._scratch.MemoryScratch``): nothing reaches the disk, and the buffer is kept for the
next bundle, because fresh memory is what made the first photo of a case slow (reading a
25 MB bundle into new pages made the kernel map and zero about 12,000 of them: 30–34 ms of
CPU, against 9–10 ms into a buffer kept from the last time). Above it (clips), an unnamed
temporary file encrypted under a key held in memory (``crypto._scratch.Scratch``): memory
stays bounded whatever the size.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509

from crypto import stream
from crypto._keys import PrivateKey
from crypto._scratch import MemoryScratch, Scratch

IN_MEMORY_MAX = 64 << 20
"""The largest sealed file whose content is held in memory (larger: an encrypted temporary
file)."""


def sink_for(
    path: Path, in_memory_max: int, buffer: bytearray | None = None
) -> Scratch | MemoryScratch:
    """Where the content of the sealed file at ``path`` waits: memory (in ``buffer`` when it
    is large enough) up to ``in_memory_max`` bytes of sealed file, a temporary file above.
    The content is never longer than the sealed file; one that grew since is refused.

    Raises: ``OSError`` (the file cannot be read).
    """
    size = os.stat(path).st_size
    if size > in_memory_max:
        return Scratch()
    return MemoryScratch(buffer, size, limit=size)


class Reopener:
    """Decrypts one person's admitted bundles again, for their payloads; not thread-safe
    (the store calls it under its payload lock). Keeps one buffer as large as the largest
    content held in memory (at most about ``in_memory_max`` bytes), until :meth:`release`.
    Content read into that buffer is valid until the next call (the store drops the last
    bundle's files before it opens another, and hands on copies of what it reads)."""

    def __init__(
        self, certificate: x509.Certificate, key: PrivateKey, in_memory_max: int = IN_MEMORY_MAX
    ) -> None:
        self._certificate, self._key = certificate, key
        self._in_memory_max = in_memory_max
        self._buffer = bytearray()

    def open(self, path: Path) -> stream.StreamContent:
        """The signed content of the sealed file at ``path``, authenticated by its GCM tag
        (the signature is not verified again: see ``crypto.cms.reopen_content``).

        Raises: ``OSError`` (the file cannot be read), ``CryptoError`` (it does not decrypt).
        """
        sink = sink_for(path, self._in_memory_max, self._buffer)
        if isinstance(sink, MemoryScratch):
            assert sink.buffer is not None
            self._buffer = sink.buffer  # kept (or grown) for the next time, even on failure
        return stream.reopen_file(path, self._certificate, self._key, scratch=sink)

    def release(self) -> None:
        """Give back the buffer (at logout, or when the store is closed)."""
        self._buffer = bytearray()
