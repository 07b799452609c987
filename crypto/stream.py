"""Sealing and opening bundles of any size with memory that does not grow with the size.

:mod:`crypto.cms` works on whole buffers. This module writes and reads the same messages
(``encrypt(sign(content))``: docs/bundle-format.md §3) through files, in bounded chunks:

* :class:`Sealer` is a writable file object: what is written to it (a ZIP being built, by
  ``zipfile`` itself) is hashed with SHA-256 for the signature, framed, encrypted with
  AES-256-GCM and appended to a temporary file beside the destination, which
  :meth:`Sealer.finish` signs, completes, syncs and renames into place. :func:`seal_file`
  seals what a readable file object holds.
* :func:`open_file` (in :mod:`crypto._streamopen`) decrypts a sealed file in one pass, keeps
  the plaintext in a temporary file encrypted under a key that only this process holds (or,
  when the caller hands it one, in a :class:`crypto._scratch.MemoryScratch`: content small
  enough to hold), and releases it (:class:`StreamOpened`) only after the GCM tag and then
  the signature have been checked.

**Encoding: BER with indefinite lengths around the content, DER for everything else.** The
content's size is not known when sealing starts (a ZIP with deflated entries), and a DER
header states the length before the content. The alternatives were a ZIP of stored entries
only, whose size can be computed in advance (but documents and the manifest are deflated:
the format would change), or a first pass to a temporary file to learn the size (twice the
disk traffic, and plaintext on disk). Indefinite lengths are what ``openssl cms -stream``
itself writes and what every CMS reader accepts (RFC 5652 §5.2 and RFC 5083 allow BER);
``crypto._der`` reads them, within its bounds: the content is carried in 64 KiB segments
(bulk segments for those bounds), the ciphertext likewise. The message digest, the
signature and the recipients are exactly those of the DER form, so nothing about what is
signed or who may read changes: only the framing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto import _der
from crypto._asn1 import GcmParams
from crypto._berstream import Readable
from crypto._certinfo import check_key_pair
from crypto._enveloped import _recipient_info as recipient_info
from crypto._enveloped import check_recipients
from crypto._keys import PrivateKey
from crypto._sign import signer_parts
from crypto._streamopen import StreamContent, StreamOpened, open_file, reopen_file

__all__ = [
    "SEGMENT",
    "Progress",
    "Sealer",
    "StreamContent",
    "StreamOpened",
    "open_file",
    "remove_partial",
    "reopen_file",
    "seal_file",
]

log = logging.getLogger(__name__)

SEGMENT = 1 << 16
"""Bytes per segment of the content and of the ciphertext (a BER constructed OCTET STRING)."""
_READ = 1 << 20
_INDEFINITE = b"\x80"
_EOC = b"\x00\x00"

Progress = Callable[[int, int | None], None]
"""Called with the content bytes sealed so far and the total, when known."""


PART_SUFFIX = ".sealing"
"""Suffix of the hidden temporary file a :class:`Sealer` writes before renaming it."""


def remove_partial(directory: Path, *, older_than: float = 3600.0) -> int:
    """Delete what sealers interrupted by a crash left in ``directory``: their hidden
    temporary files untouched for ``older_than`` seconds (a live seal writes every few
    milliseconds; another process may be sealing now). Returns how many were deleted."""
    removed = 0
    if directory.is_dir():
        cutoff = time.time() - older_than
        for part in directory.glob(f".*{PART_SUFFIX}"):
            with contextlib.suppress(OSError):
                if part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed += 1
    return removed


def _segment(data: bytes | bytearray | memoryview) -> bytes:
    return _der.header(_der.OCTET_STRING, len(data))


class Sealer:
    """A writable file object that seals what is written to it into ``destination``.

    Use it as a context manager: leaving the block without :meth:`finish` (an exception)
    deletes the temporary file and leaves ``destination`` untouched.

    Args:
        destination: The sealed file to create (replaced atomically by :meth:`finish`).
        signer_cert: The author's certificate.
        signer_key: The author's private key (RSA or EC).
        recipients: Who may open it (see :func:`crypto.cms.encrypt`).
        now: Signing time (default: when :meth:`finish` signs).
        extra_certificates: Embedded beside the signer's (see :func:`crypto.cms.sign`).
        total: The content's size when known, for ``progress``.
        progress: Called after each segment with (bytes done, ``total``).
        max_size: Content beyond this many bytes is refused (``ValueError``).

    Raises:
        ValueError: No recipient, a key that does not match its certificate.
        InvalidRecipient: A recipient certificate cannot receive encrypted content.
    """

    def __init__(
        self,
        destination: Path,
        signer_cert: x509.Certificate,
        signer_key: PrivateKey,
        recipients: Sequence[x509.Certificate],
        *,
        now: datetime | None = None,
        extra_certificates: Sequence[x509.Certificate] = (),
        total: int | None = None,
        progress: Progress | None = None,
        max_size: int = 4 << 30,
    ) -> None:
        targets = check_recipients(recipients)
        check_key_pair(signer_cert, signer_key)
        self._destination = Path(destination)
        self._signer = (signer_cert, signer_key, tuple(extra_certificates))
        self._now = now
        self._total = total
        self._progress = progress
        self._max_size = max_size
        self._digest = hashlib.sha256()
        self._pending = bytearray()
        self._cipher_pending = bytearray()
        self.size = 0
        content_key = os.urandom(32)
        nonce = os.urandom(12)
        infos = [recipient_info(cert, key, content_key) for cert, key in targets]
        self._encryptor = Cipher(algorithms.AES(content_key), modes.GCM(nonce)).encryptor()
        fd, name = tempfile.mkstemp(dir=self._destination.parent, prefix=".", suffix=PART_SUFFIX)
        self._part = Path(name)
        self._out: BinaryIO | None = os.fdopen(fd, "wb")
        algorithm = algos.EncryptionAlgorithm(
            {
                "algorithm": "aes256_gcm",
                "parameters": GcmParams({"aes_nonce": nonce, "aes_icvlen": 16}),
            }
        )
        self._out.write(
            b"".join(
                [
                    b"\x30" + _INDEFINITE,
                    cms.ContentType("authenticated_enveloped_data").dump(),
                    bytes((_der.context(0),)) + _INDEFINITE,
                    b"\x30" + _INDEFINITE,
                    cms.CMSVersion("v0").dump(),
                    *_der.wrap(_der.SET, sorted(info.dump() for info in infos)),
                    b"\x30" + _INDEFINITE,  # EncryptedContentInfo
                    cms.ContentType("data").dump(),
                    algorithm.dump(),
                    bytes((_der.context(0),)) + _INDEFINITE,  # [0] segmented ciphertext
                ]
            )
        )
        self._encrypt(
            b"".join(
                [
                    b"\x30" + _INDEFINITE,
                    cms.ContentType("signed_data").dump(),
                    bytes((_der.context(0),)) + _INDEFINITE,
                    b"\x30" + _INDEFINITE,
                    cms.CMSVersion("v1").dump(),
                    cms.DigestAlgorithms([{"algorithm": "sha256"}]).dump(),
                    b"\x30" + _INDEFINITE,  # EncapsulatedContentInfo
                    cms.ContentType("data").dump(),
                    bytes((_der.context(0),)) + _INDEFINITE,
                    bytes((_der.OCTET_STRING | _der.CONSTRUCTED,)) + _INDEFINITE,
                ]
            )
        )

    # -- the file-object protocol (what zipfile needs of an unseekable output) ------------

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        """Content bytes written so far."""
        return self.size

    def flush(self) -> None:
        """Nothing to do: segments go out as they fill."""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append content; returns how many bytes were taken (all of them). A large buffer
        is taken in slices: it is never copied whole."""
        if self._out is None:
            raise ValueError("the sealer is closed")
        with memoryview(data) as view:
            size = view.nbytes
            if self.size + size > self._max_size:
                raise ValueError(f"the content exceeds {self._max_size} bytes")
            flat = view.cast("B")
            for start in range(0, size, _READ):
                self._take(flat[start : start + _READ])
        return size

    def _take(self, data: memoryview) -> None:
        size = len(data)
        self._digest.update(data)
        self._pending += data
        self.size += size
        if len(self._pending) >= SEGMENT:
            view = memoryview(self._pending)
            whole = len(view) - len(view) % SEGMENT
            for start in range(0, whole, SEGMENT):
                self._encrypt(_segment(view[start : start + SEGMENT]))
                self._encrypt(view[start : start + SEGMENT])
            view.release()
            del self._pending[:whole]
            if self._progress is not None:
                self._progress(self.size - len(self._pending), self._total)

    def _encrypt(self, plain: bytes | bytearray | memoryview) -> None:
        assert self._out is not None
        self._cipher_pending += self._encryptor.update(plain)
        self._drain(SEGMENT)

    def _drain(self, at_least: int) -> None:
        assert self._out is not None
        while len(self._cipher_pending) >= at_least and self._cipher_pending:
            piece = bytes(self._cipher_pending[:SEGMENT])
            self._out.write(_segment(piece) + piece)
            del self._cipher_pending[:SEGMENT]

    def finish(self) -> Path:
        """Sign, write the tag, sync and rename into place; returns the destination."""
        if self._out is None:
            raise ValueError("the sealer is closed")
        if self._pending:
            self._encrypt(_segment(self._pending) + bytes(self._pending))
            self._pending = bytearray()
        cert, key, extra = self._signer
        certificates, signer_infos = signer_parts(
            self._digest.digest(), cert, key, self._now, extra
        )
        # Ends the segmented OCTET STRING, [0], EncapsulatedContentInfo; then the SignedData's
        # last fields and the ends of SignedData, [0] and ContentInfo.
        self._encrypt(_EOC * 3 + certificates + signer_infos + _EOC * 3)
        self._cipher_pending += self._encryptor.finalize()
        self._drain(1)
        tag = core.OctetString(self._encryptor.tag).dump()
        # Ends [0] ciphertext and EncryptedContentInfo; the tag; the ends of
        # AuthEnvelopedData, [0] and ContentInfo.
        self._out.write(_EOC * 2 + tag + _EOC * 3)
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        self._out = None
        os.replace(self._part, self._destination)
        with contextlib.suppress(OSError):  # the rename's durability, where supported
            directory = os.open(self._destination.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        if self._progress is not None:
            self._progress(self.size, self._total)
        log.debug("sealed %d bytes into %s", self.size, self._destination.name)
        return self._destination

    def abort(self) -> None:
        """Drop the temporary file (idempotent; nothing after :meth:`finish`)."""
        if self._out is not None:
            self._out.close()
            self._out = None
            with contextlib.suppress(OSError):
                self._part.unlink()

    def __enter__(self) -> Sealer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.abort()


def seal_file(
    source: Readable,
    destination: Path,
    signer_cert: x509.Certificate,
    signer_key: PrivateKey,
    recipients: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
    total: int | None = None,
    progress: Progress | None = None,
    max_size: int = 4 << 30,
) -> Path:
    """Seal everything ``source`` holds into ``destination`` (see :class:`Sealer`)."""
    with Sealer(
        destination, signer_cert, signer_key, recipients, now=now,
        extra_certificates=extra_certificates, total=total, progress=progress,
        max_size=max_size,
    ) as sealer:  # fmt: skip
        while block := source.read(_READ):
            sealer.write(block)
        return sealer.finish()
