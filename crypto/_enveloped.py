"""CMS AuthEnvelopedData (RFC 5083): AES-GCM content encryption (RFC 5084) with the
content-encryption key carried to each recipient by RSAES-OAEP key transport for an RSA
certificate (:mod:`crypto._ktri`) or by ECDH key agreement for an EC one (RFC 5753,
:mod:`crypto._kari`).

Re-exported by :mod:`crypto.cms`; import it from there. The content is handled as one
in-memory buffer, encrypted and decrypted in 1 MiB steps so that only the output is a full
copy: :func:`encrypt_parts` returns the ciphertext as chunks that the caller joins once into
the final message, and :func:`decrypt_buffer` writes the plaintext into a single
``bytearray`` straight from the received buffer. Streaming is future work.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto import _der, _kari, _ktri
from crypto._asn1 import GCM_KEY_SIZES, GcmParams, content_info, identifies, parsing
from crypto._certinfo import can_decrypt, check_key_pair, display_name
from crypto._keys import PrivateKey, PublicKey, supported_public_key
from crypto.errors import DecryptionFailed, InvalidRecipient, MalformedMessage, NotARecipient

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_BLOCK = 16  # AES
_NONCE_BYTES = 12
_TAG_BYTES = 16
_CONTENT_TYPES = ("data", "signed_data")  # what OpenSSL and Passavant put inside
_CONTENT_CIPHER = "aes256_gcm"  # the only one read (docs/bundle-format.md §3)


def check_recipients(
    recipients: Sequence[x509.Certificate],
) -> list[tuple[x509.Certificate, PublicKey]]:
    """The recipients and their public keys, duplicates removed, after checking each may
    receive encrypted content.

    Raises:
        ValueError: No recipient.
        InvalidRecipient: A certificate lacks the key usage its key needs (keyEncipherment
            for RSA, keyAgreement for EC) or holds an unsupported key.
    """
    if not recipients:
        raise ValueError("at least one recipient is required")
    unique: dict[bytes, tuple[x509.Certificate, PublicKey]] = {}
    for cert in recipients:
        key = supported_public_key(cert.public_key()) if can_decrypt(cert) else None
        if key is None:
            raise InvalidRecipient(
                f"the certificate of {display_name(cert)!r} cannot receive encrypted cases"
                " (no keyEncipherment or keyAgreement key usage, or an unsupported key)"
            )
        unique.setdefault(cert.fingerprint(hashes.SHA256()), (cert, key))
    return list(unique.values())


def _recipient_info(cert: x509.Certificate, key: PublicKey, content_key: bytes) -> Any:
    if isinstance(key, rsa.RSAPublicKey):
        return _ktri.recipient_info(cert, key, content_key)
    return _kari.recipient_info(cert, key, content_key)


def encrypt_parts(
    content: _der.Buffer, recipients: Sequence[x509.Certificate]
) -> list[_der.Buffer]:
    """:func:`crypto.cms.encrypt`, returning the DER message as parts to join once."""
    targets = check_recipients(recipients)
    content_key = os.urandom(32)
    nonce = os.urandom(_NONCE_BYTES)
    infos = [_recipient_info(cert, key, content_key) for cert, key in targets]
    encryptor = Cipher(algorithms.AES(content_key), modes.GCM(nonce)).encryptor()
    view = memoryview(content)
    chunks: list[_der.Buffer] = [
        encryptor.update(view[i : i + _CHUNK]) for i in range(0, len(view), _CHUNK)
    ]
    encryptor.finalize()
    gcm = GcmParams({"aes_nonce": nonce, "aes_icvlen": _TAG_BYTES})
    algorithm = algos.EncryptionAlgorithm({"algorithm": _CONTENT_CIPHER, "parameters": gcm})
    encrypted_info = [
        cms.ContentType("data").dump(),
        algorithm.dump(),
        *_der.wrap(_der.context(0, constructed=False), chunks),
    ]
    auth_enveloped = [
        cms.CMSVersion("v0").dump(),
        *_der.wrap(_der.SET, sorted(info.dump() for info in infos)),  # DER: SET OF sorted
        *_der.wrap(_der.SEQUENCE, encrypted_info),
        core.OctetString(encryptor.tag).dump(),
    ]
    outer = [
        cms.ContentType("authenticated_enveloped_data").dump(),
        *_der.wrap(_der.context(0), _der.wrap(_der.SEQUENCE, auth_enveloped)),
    ]
    log.debug("encrypted %d bytes for %d recipients", len(view), len(infos))
    return _der.wrap(_der.SEQUENCE, outer)


def _content_key(infos: Any, cert: x509.Certificate, key: PrivateKey) -> bytes:
    """Find our recipient entry in ``infos`` and recover the content-encryption key.

    Raises:
        NotARecipient: No entry of the right kind (key transport for an RSA key, key
            agreement for an EC key) designates ``cert``.
    """
    with parsing("recipient information"):
        if isinstance(key, rsa.RSAPrivateKey):
            for info in infos:
                if info.name == "ktri" and identifies(info.chosen["rid"], cert):
                    return _ktri.unwrap(info.chosen, key)
        else:
            for info in infos:
                if info.name != "kari":
                    continue
                for encrypted in info.chosen["recipient_encrypted_keys"]:
                    if identifies(encrypted["rid"], cert):
                        wrapped = bytes(encrypted["encrypted_key"].native)
                        return _kari.unwrap(info.chosen, wrapped, key)
    raise NotARecipient(f"the message is not addressed to {display_name(cert)!r}")


def decrypt_buffer(
    data: _der.Buffer, recipient_cert: x509.Certificate, recipient_key: PrivateKey
) -> bytearray:
    """:func:`crypto.cms.decrypt` over any buffer, returning a ``bytearray``."""
    plain, size = _decrypt(data, recipient_cert, recipient_key, bytearray)
    del plain[size:]
    return plain


def _decrypt(
    data: _der.Buffer,
    recipient_cert: x509.Certificate,
    recipient_key: PrivateKey,
    buffer_for: Callable[[int], bytearray],
) -> tuple[bytearray, int]:
    """Decrypts ``data`` into ``buffer_for(size + 15)``; returns it and the plaintext's size."""
    check_key_pair(recipient_cert, recipient_key)
    buf = memoryview(data)
    fields = content_info(buf, "authenticated_enveloped_data", "AuthEnvelopedData")
    if _der.element_bytes(buf, fields.take(_der.INTEGER)) != b"\x02\x01\x00":
        raise MalformedMessage("AuthEnvelopedData must be version 0")
    fields.optional(_der.context(0))  # originatorInfo: certificates and CRLs, not needed
    infos_field = fields.take(_der.SET)
    encrypted = _der.Fields(buf, fields.take(_der.SEQUENCE), "encrypted content")
    auth_attributes = fields.optional(_der.context(1))
    mac_field = fields.take(_der.OCTET_STRING)
    fields.optional(_der.context(2))  # unauthAttrs: not protected, ignored
    fields.end()
    content_type_field = encrypted.take(_der.OID)
    algorithm_field = encrypted.take(_der.SEQUENCE)
    content_field = encrypted.optional(_der.context(0, constructed=False), _der.context(0))
    encrypted.end()
    if content_field is None:
        raise MalformedMessage("the encrypted content is missing")
    with parsing("content-encryption parameters"):
        content_type = cms.ContentType.load(_der.element_bytes(buf, content_type_field)).native
        if content_type not in _CONTENT_TYPES:  # not authenticated: at least not unknown
            raise MalformedMessage(f"unsupported encrypted content type {content_type}")
        algorithm = algos.EncryptionAlgorithm.load(_der.element_bytes(buf, algorithm_field))
        name = algorithm["algorithm"].native
        if name != _CONTENT_CIPHER:  # the format says 256-bit keys: a shorter one is refused
            raise MalformedMessage(
                f"content encryption {name} is not accepted; AES-256-GCM is required"
            )
        nonce = bytes(algorithm["parameters"]["aes_nonce"].native)
        icv_length = int(algorithm["parameters"]["aes_icvlen"].native)
        tag = bytes(core.OctetString.load(_der.element_bytes(buf, mac_field)).native)
        aad = b""
        if auth_attributes is not None:  # RFC 5083 §2.2: MAC input is their DER as a SET
            element = _der.element_bytes(buf, auth_attributes)
            aad = cms.CMSAttributes.load(element, implicit=1).untag().dump()
        infos = cms.RecipientInfos.load(_der.element_bytes(buf, infos_field))
    if len(nonce) != _NONCE_BYTES or icv_length != _TAG_BYTES or len(tag) != _TAG_BYTES:
        raise MalformedMessage("only 12-byte GCM nonces and 16-byte GCM tags are accepted")
    content_key = _content_key(infos, recipient_cert, recipient_key)
    if len(content_key) != GCM_KEY_SIZES[name]:
        raise DecryptionFailed("the unwrapped content-encryption key has the wrong size")
    decryptor = Cipher(algorithms.AES(content_key), modes.GCM(nonce, tag)).decryptor()
    if aad:
        decryptor.authenticate_additional_data(aad)
    parts = _der.octets(buf, content_field)
    size = sum(len(part) for part in parts)
    # decrypted in slices straight into one buffer (no plaintext copied); ``update_into``
    # wants room for a block more than it is given, cut off once done
    plain = buffer_for(size + _BLOCK - 1)
    if len(plain) < size + _BLOCK - 1:
        raise ValueError("the buffer given is too small")
    position = 0
    with memoryview(plain) as out:
        for part in parts:
            for start in range(0, len(part), _CHUNK):
                position += decryptor.update_into(part[start : start + _CHUNK], out[position:])
        try:
            decryptor.finalize()
        except InvalidTag as exc:
            out[:position] = bytes(position)  # nothing unauthenticated stays behind
            raise DecryptionFailed("the encrypted content was altered or is corrupt") from exc
    log.debug("decrypted %d bytes", size)
    return plain, size
