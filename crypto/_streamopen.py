"""Opening a sealed message from a file, in bounded memory (re-exported by
:mod:`crypto.stream`; see there).

One pass over the file: the outer ``AuthEnvelopedData`` is walked with
:class:`crypto._berstream.Reader`; its ciphertext is decrypted as it is read; the plaintext,
a ``SignedData``, is walked by a second reader, its content hashed and kept in a
:class:`crypto._scratch.Scratch` (encrypted under a key only this process holds). Nothing is
released before the GCM tag at the end of the file has been checked, then the signature and
the signer's certificate: a caller never sees a byte that is not authenticated. A plaintext
that does not parse is reported as :class:`~crypto.errors.DecryptionFailed` when the tag
does not verify either (the usual sign of tampering), as malformed otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto import _der
from crypto._asn1 import GCM_KEY_SIZES, hash_named, identifies, parsing, pyca_certificate
from crypto._berstream import Head, Reader
from crypto._certinfo import check_key_pair
from crypto._enveloped import _content_key as content_key
from crypto._keys import PrivateKey
from crypto._scratch import MemoryScratch, Scratch
from crypto._time import as_utc
from crypto._validation import validate_certificate
from crypto._verify import _check_signature, _signed_attributes, _single
from crypto.errors import BadSignature, DecryptionFailed, MalformedMessage

log = logging.getLogger(__name__)

_DIGESTS = ("sha256", "sha384", "sha512")

Sink = Scratch | MemoryScratch
"""Where the content waits until the tag is checked: a temporary file encrypted under a key
held in memory, or memory."""


@dataclass
class StreamContent:
    """The content of a sealed message, decrypted and authenticated by its GCM tag, to
    read with :meth:`open` (a seekable file object, e.g. for ``zipfile``) as often as
    needed. Close it (or use it as a context manager) to drop the temporary file.

    Attributes:
        size: The content's size in bytes.
        sha256: The content's SHA-256 (empty from :func:`reopen_file`, which does not hash).
        in_memory: Whether the content is held in memory (a :class:`MemoryScratch`).
    """

    size: int
    sha256: bytes
    _scratch: Scratch | MemoryScratch = field(repr=False)

    @property
    def in_memory(self) -> bool:
        return isinstance(self._scratch, MemoryScratch)

    def open(self) -> BinaryIO:
        """A new reader of the content, from its start."""
        return self._scratch.reader()  # type: ignore[return-value]  # a raw binary file

    def close(self) -> None:
        """Delete the temporary copy."""
        self._scratch.close()

    def __enter__(self) -> StreamContent:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass
class StreamOpened(StreamContent):
    """A sealed message opened from a file (:func:`open_file`): its content, and its signer.

    Attributes:
        signer: The signer's certificate, validated against the trust roots.
        signed_at: The signing time asserted by the signer (UTC), when present.
        others: The other certificates the message embeds, **not validated**.
    """

    signer: x509.Certificate | None = None
    signed_at: datetime | None = None
    others: tuple[x509.Certificate, ...] = ()

    def __enter__(self) -> StreamOpened:
        return self


class _Outer(Exception):
    """An error of the outer message, met while the inner parser pulled ciphertext."""

    def __init__(self, error: MalformedMessage) -> None:
        super().__init__(str(error))
        self.error = error


class _Plain:
    """The decrypted (not yet authenticated) stream, for the inner reader only."""

    def __init__(self, chunks: Iterator[bytes], decryptor: Any) -> None:
        self._chunks = chunks
        self._decryptor = decryptor
        self._buffer = bytearray()

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            try:
                chunk = next(self._chunks, None)
            except MalformedMessage as exc:
                raise _Outer(exc) from exc
            if chunk is None:
                break
            self._buffer += self._decryptor.update(chunk)
        piece = bytes(self._buffer[:size])
        del self._buffer[:size]
        return piece

    def drain(self) -> int:
        """Decrypt (and discard) the rest; returns how many bytes were left over."""
        left = len(self._buffer)
        self._buffer.clear()
        try:
            for chunk in self._chunks:
                left += len(self._decryptor.update(chunk))
        except MalformedMessage as exc:
            raise _Outer(exc) from exc
        return left


@dataclass
class _Signed:
    """What the inner walk found besides the content."""

    digests: dict[str, bytes] = field(default_factory=dict)
    certificates: list[x509.Certificate] = field(default_factory=list)
    signer_info: Any = None


def _oid(reader: Reader, limit: int | None) -> str:
    head = reader.expect(limit, _der.OID)
    data, element = reader.parsed(head)
    with parsing("content type"):
        return str(cms.ContentType.load(_der.element_bytes(data, element)).native)


def _content_info(reader: Reader, expected: str, name: str) -> tuple[Head, Head, Head]:
    """ContentInfo → [0] → the SEQUENCE inside; the three heads, for closing them."""
    outer = reader.expect(None, _der.SEQUENCE)
    if _oid(reader, outer.end) != expected:
        raise MalformedMessage(f"not a CMS {name}")
    explicit = reader.expect(outer.end, _der.context(0))
    inner = reader.expect(explicit.end, _der.SEQUENCE)
    return outer, explicit, inner


def _walk_signed(reader: Reader, scratch: Sink, *, hashed: bool = True) -> _Signed:
    """The inner SignedData; its content goes to ``scratch``, hashed on the way (unless
    ``hashed`` is false: a reopening, whose signature is not verified again)."""
    found = _Signed()
    heads = _content_info(reader, "signed_data", "SignedData")
    signed = heads[2]
    reader.small(reader.expect(signed.end, _der.INTEGER))  # version: not checked
    data, element = reader.parsed(reader.expect(signed.end, _der.SET))
    with parsing("digest algorithms"):
        listed = cms.DigestAlgorithms.load(_der.element_bytes(data, element))
        names = {str(item["algorithm"].native) for item in listed}
    hashers = {
        name: hashlib.new(name)
        for name in _DIGESTS
        if hashed and (name in names or name == "sha256")
    }
    encapsulated = reader.expect(signed.end, _der.SEQUENCE)
    if _oid(reader, encapsulated.end) != "data":
        raise MalformedMessage("unsupported signed content type")
    if encapsulated.end is not None and reader.position == encapsulated.end:
        raise MalformedMessage("detached signatures are not supported")
    explicit = reader.expect(encapsulated.end, _der.context(0))
    octets = reader.expect(explicit.end, *_der.OCTET_STRING_TAGS)
    for chunk in reader.octets(octets):
        for hasher in hashers.values():
            hasher.update(chunk)
        scratch.write(chunk)
    reader.close(explicit)
    reader.close(encapsulated)
    head = reader.head(signed.end)
    if head.tag == _der.context(0):
        data, element = reader.parsed(head)
        with parsing("certificates"):
            certificates = cms.CertificateSet.load(_der.element_bytes(data, element), implicit=0)
            found.certificates = [
                pyca_certificate(c.chosen) for c in certificates if c.name == "certificate"
            ]
        head = reader.head(signed.end)
    if head.tag == _der.context(1):  # CRLs: not used
        reader.small(head)
        head = reader.head(signed.end)
    if head.tag != _der.SET:
        raise MalformedMessage("malformed SignedData")
    data, element = reader.parsed(head)
    with parsing("signer information"):
        infos = cms.SignerInfos.load(_der.element_bytes(data, element))
        if len(infos) != 1:
            raise MalformedMessage(f"exactly one signer is supported, found {len(infos)}")
        found.signer_info = infos[0]
    for head in reversed(heads):
        reader.close(head)
    found.digests = {name: hasher.digest() for name, hasher in hashers.items()}
    return found


def _verify(
    found: _Signed,
    trust_roots: Sequence[x509.Certificate],
    now: datetime | None,
    crls: Sequence[x509.CertificateRevocationList],
) -> tuple[x509.Certificate, datetime | None, tuple[x509.Certificate, ...]]:
    """The checks of ``crypto._verify.verify_buffer``, on what the walk found."""
    signer_info = found.signer_info
    with parsing("signer identifier"):
        matches = [c for c in found.certificates if identifies(signer_info["sid"], c)]
    if not matches:
        raise MalformedMessage("the signer's certificate is not included in the message")
    signer = matches[0]
    signed, values = _signed_attributes(signer_info)
    with parsing("signed attributes"):
        content_type = _single(values, "content_type", required=True)
        expected = bytes(_single(values, "message_digest", required=True))
        signed_at = _single(values, "signing_time", required=False)
        if signed_at is not None and not isinstance(signed_at, datetime):
            raise MalformedMessage("the signing time is out of range")
        name = hash_named(signer_info["digest_algorithm"]["algorithm"].native).name
    if name not in found.digests:
        raise MalformedMessage(f"the signer's digest {name} is not among the message's")
    if content_type != "data":
        raise BadSignature("the signed content type does not match the content")
    if not hmac.compare_digest(found.digests[name], expected):
        raise BadSignature("the content does not match its signed digest")
    _check_signature(signer_info, signer, signed)
    checked_at = as_utc(now)
    if signed_at is not None:
        signed_at = as_utc(signed_at)
        checked_at = min(checked_at, signed_at)  # as crypto._verify explains
    validate_certificate(signer, trust_roots, now=checked_at, purpose="sign", crls=crls)
    return signer, signed_at, tuple(c for c in found.certificates if c is not signer)


def _decryptor(
    reader: Reader, enveloped: Head, cert: x509.Certificate, key: PrivateKey
) -> tuple[Any, Head, Head]:
    """Read up to the ciphertext: the decryptor, the EncryptedContentInfo's head and the
    ciphertext's head."""
    version = reader.small(reader.expect(enveloped.end, _der.INTEGER))
    if version != b"\x02\x01\x00":
        raise MalformedMessage("AuthEnvelopedData must be version 0")
    head = reader.head(enveloped.end)
    if head.tag == _der.context(0):  # originatorInfo: not needed
        reader.small(head)
        head = reader.head(enveloped.end)
    if head.tag != _der.SET:
        raise MalformedMessage("malformed AuthEnvelopedData")
    data, element = reader.parsed(head)
    with parsing("recipient information"):
        infos = cms.RecipientInfos.load(_der.element_bytes(data, element))
    encrypted = reader.expect(enveloped.end, _der.SEQUENCE)
    content_type = _oid(reader, encrypted.end)
    if content_type not in ("data", "signed_data"):
        raise MalformedMessage(f"unsupported encrypted content type {content_type}")
    data, element = reader.parsed(reader.expect(encrypted.end, _der.SEQUENCE))
    with parsing("content-encryption parameters"):
        algorithm = algos.EncryptionAlgorithm.load(_der.element_bytes(data, element))
        name = algorithm["algorithm"].native
        if name != "aes256_gcm":
            raise MalformedMessage(
                f"content encryption {name} is not accepted; AES-256-GCM is required"
            )
        nonce = bytes(algorithm["parameters"]["aes_nonce"].native)
        icv_length = int(algorithm["parameters"]["aes_icvlen"].native)
    if len(nonce) != 12 or icv_length != 16:
        raise MalformedMessage("only 12-byte GCM nonces and 16-byte GCM tags are accepted")
    if encrypted.end is not None and reader.position == encrypted.end:
        raise MalformedMessage("the encrypted content is missing")
    ciphertext = reader.expect(encrypted.end, _der.context(0, constructed=False), _der.context(0))
    secret = content_key(infos, cert, key)
    if len(secret) != GCM_KEY_SIZES[name]:
        raise DecryptionFailed("the unwrapped content-encryption key has the wrong size")
    decryptor = Cipher(algorithms.AES(secret), modes.GCM(nonce)).decryptor()
    return decryptor, encrypted, ciphertext


def _tag(reader: Reader, enveloped: Head) -> bytes:
    """After the EncryptedContentInfo: refuse authenticated attributes, read the tag."""
    head = reader.head(enveloped.end)
    if head.tag == _der.context(1):
        raise MalformedMessage("authenticated attributes are not supported in a stream")
    if head.tag != _der.OCTET_STRING:
        raise MalformedMessage("malformed AuthEnvelopedData")
    data, element = reader.parsed(head)
    with parsing("message authentication code"):
        tag = bytes(core.OctetString.load(_der.element_bytes(data, element)).native)
    if len(tag) != 16:
        raise MalformedMessage("only 16-byte GCM tags are accepted")
    if enveloped.end is None or reader.position < enveloped.end:
        head = reader.head(enveloped.end)
        if head.tag == _der.context(2):  # unauthAttrs: not protected, ignored
            reader.small(head)
        elif not (head.eoc and enveloped.end is None):
            raise MalformedMessage("malformed AuthEnvelopedData: unexpected trailing field")
        else:
            return tag  # that was the AuthEnvelopedData's end-of-contents
    reader.close(enveloped)
    return tag


def open_file(
    path: Path | BinaryIO,
    recipient_cert: x509.Certificate,
    recipient_key: PrivateKey,
    trust_roots: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (),
    scratch_dir: Path | None = None,
    scratch: Sink | None = None,
) -> StreamOpened:
    """Decrypt and verify the sealed file at ``path`` (or read from the binary file
    ``path``: DER as :func:`crypto.cms.seal` writes it, BER as :class:`crypto.stream.Sealer`
    and ``openssl cms`` write it).

    Memory stays bounded whatever the size; the content waits, encrypted under a key held
    in memory, in an unnamed temporary file in ``scratch_dir`` (default: the system's), or
    in ``scratch`` when given (a :class:`crypto._scratch.MemoryScratch` for content small
    enough to hold: the same walk, no file).

    Raises: the errors of :func:`crypto.cms.open_sealed`; ``OSError`` if the file cannot
    be read or the temporary file written.
    """
    check_key_pair(recipient_cert, recipient_key)
    with _reading(path) as source:
        found, sink = _decrypt(
            source, recipient_cert, recipient_key, scratch or Scratch(scratch_dir)
        )
    try:
        signer, signed_at, others = _verify(found, trust_roots, now, crls)
    except BaseException:
        sink.close()
        raise
    sha256 = found.digests["sha256"]
    return StreamOpened(sink.size, sha256, sink, signer, signed_at, others)


def reopen_file(
    path: Path | BinaryIO,
    recipient_cert: x509.Certificate,
    recipient_key: PrivateKey,
    *,
    scratch_dir: Path | None = None,
    scratch: Sink | None = None,
) -> StreamContent:
    """:func:`crypto.cms.reopen_content` from a file: decrypt a sealed message opened and
    verified before and return its content, authenticated by the GCM tag, **without
    verifying the signature again** (the caller checks what it reads against what the first
    verification vouched for), nor hashing the content. ``scratch`` as for :func:`open_file`.

    Raises: the errors of :func:`crypto.cms.decrypt`; ``MalformedMessage`` for a damaged
    SignedData.
    """
    check_key_pair(recipient_cert, recipient_key)
    with _reading(path) as source:
        _found, sink = _decrypt(
            source, recipient_cert, recipient_key, scratch or Scratch(scratch_dir), hashed=False
        )
    return StreamContent(sink.size, b"", sink)


def _reading(path: Path | BinaryIO) -> contextlib.AbstractContextManager[BinaryIO]:
    """The file at ``path`` opened for reading, or ``path`` itself when it is one (left
    open: it is the caller's)."""
    if isinstance(path, str | os.PathLike):
        return Path(path).open("rb")
    return contextlib.nullcontext(path)


def _decrypt(
    source: BinaryIO,
    cert: x509.Certificate,
    key: PrivateKey,
    scratch: Sink,
    *,
    hashed: bool = True,
) -> tuple[_Signed, Sink]:
    """One pass: the SignedData's parts, and its content in ``scratch``, sealed once the
    tag has been checked (the signature is not, yet); ``scratch`` is closed on failure."""
    try:
        reader = Reader(source)
        heads = _content_info(reader, "authenticated_enveloped_data", "AuthEnvelopedData")
        decryptor, encrypted, ciphertext = _decryptor(reader, heads[2], cert, key)
    except BaseException:
        scratch.close()
        raise
    plain = _Plain(reader.octets(ciphertext), decryptor)
    try:
        inner_error: MalformedMessage | None = None
        found = _Signed()
        try:
            try:
                found = _walk_signed(Reader(plain, "the signed message"), scratch, hashed=hashed)
                if plain.drain():
                    raise MalformedMessage("data follows the signed message")
            except MalformedMessage as exc:  # judged after the tag
                inner_error = exc
                plain.drain()
        except _Outer as exc:
            raise exc.error from None
        reader.close(encrypted)
        tag = _tag(reader, heads[2])
        for head in reversed(heads[:2]):
            reader.close(head)
        if not reader.at_end():
            raise MalformedMessage("data follows the message")
        try:
            decryptor.finalize_with_tag(tag)
        except InvalidTag as exc:
            raise DecryptionFailed("the encrypted content was altered or is corrupt") from exc
        if inner_error is not None:
            raise inner_error
        scratch.seal()
    except BaseException:
        scratch.close()
        raise
    log.debug("decrypted %d bytes from a stream", scratch.size)
    return found, scratch
