"""CMS AuthEnvelopedData (RFC 5083): AES-GCM content encryption (RFC 5084) with the
content-encryption key transported to each recipient with RSAES-OAEP (RFC 8017).

Re-exported by :mod:`crypto.cms`; import it from there. The content is handled as one
in-memory buffer, encrypted and decrypted in 1 MiB steps so that only the output is a full
copy: :func:`encrypt_parts` returns the ciphertext as chunks that the caller joins once into
the final message, and :func:`decrypt_buffer` writes the plaintext into a single
``bytearray`` straight from the received buffer. Streaming is future work.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto import _der
from crypto._asn1 import (
    GCM_KEY_SIZES,
    GcmParams,
    content_info,
    hash_named,
    identifies,
    issuer_and_serial,
    parsing,
)
from crypto._certinfo import can_decrypt, check_key_pair, display_name
from crypto.errors import DecryptionFailed, InvalidRecipient, MalformedMessage, NotARecipient

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_NONCE_BYTES = 12
_TAG_BYTES = 16
_OAEP_PARAMETERS = {
    "hash_algorithm": {"algorithm": "sha256"},
    "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
}


def check_recipients(
    recipients: Sequence[x509.Certificate],
) -> list[tuple[x509.Certificate, rsa.RSAPublicKey]]:
    """The recipients and their RSA keys, duplicates removed, after checking each may
    receive encrypted content.

    Raises:
        ValueError: No recipient.
        InvalidRecipient: A certificate lacks keyEncipherment or has no RSA key.
    """
    if not recipients:
        raise ValueError("at least one recipient is required")
    unique: dict[bytes, tuple[x509.Certificate, rsa.RSAPublicKey]] = {}
    for cert in recipients:
        key = cert.public_key()
        if not can_decrypt(cert) or not isinstance(key, rsa.RSAPublicKey):
            raise InvalidRecipient(
                f"the certificate of {display_name(cert)!r} cannot receive encrypted cases"
                " (no keyEncipherment key usage)"
            )
        unique.setdefault(cert.fingerprint(hashes.SHA256()), (cert, key))
    return list(unique.values())


def encrypt_parts(
    content: _der.Buffer, recipients: Sequence[x509.Certificate]
) -> list[_der.Buffer]:
    """:func:`crypto.cms.encrypt`, returning the DER message as parts to join once."""
    targets = check_recipients(recipients)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    content_key = os.urandom(32)
    nonce = os.urandom(_NONCE_BYTES)
    infos = [
        cms.RecipientInfo(
            {
                "ktri": {
                    "version": "v0",
                    "rid": {"issuer_and_serial_number": issuer_and_serial(cert)},
                    "key_encryption_algorithm": {
                        "algorithm": "rsaes_oaep",
                        "parameters": _OAEP_PARAMETERS,
                    },
                    "encrypted_key": key.encrypt(content_key, oaep),
                }
            }
        )
        for cert, key in targets
    ]
    encryptor = Cipher(algorithms.AES(content_key), modes.GCM(nonce)).encryptor()
    view = memoryview(content)
    chunks: list[_der.Buffer] = [
        encryptor.update(view[i : i + _CHUNK]) for i in range(0, len(view), _CHUNK)
    ]
    encryptor.finalize()
    gcm = GcmParams({"aes_nonce": nonce, "aes_icvlen": _TAG_BYTES})
    algorithm = algos.EncryptionAlgorithm({"algorithm": "aes256_gcm", "parameters": gcm})
    encrypted_info = [
        cms.ContentType("data").dump(),
        algorithm.dump(),
        *_der.wrap(_der.context(0, constructed=False), chunks),
    ]
    auth_enveloped = [
        cms.CMSVersion("v0").dump(),
        cms.RecipientInfos(infos).dump(),
        *_der.wrap(_der.SEQUENCE, encrypted_info),
        core.OctetString(encryptor.tag).dump(),
    ]
    outer = [
        cms.ContentType("authenticated_enveloped_data").dump(),
        *_der.wrap(_der.context(0), _der.wrap(_der.SEQUENCE, auth_enveloped)),
    ]
    log.debug("encrypted %d bytes for %d recipients", len(view), len(infos))
    return _der.wrap(_der.SEQUENCE, outer)


def _unwrap_key(ktri: Any, recipient_key: rsa.RSAPrivateKey) -> bytes:
    with parsing("key transport"):
        algorithm = ktri["key_encryption_algorithm"]
        name = algorithm["algorithm"].native
        if name != "rsaes_oaep":
            raise MalformedMessage(f"key transport {name} is not accepted; RSA-OAEP is required")
        params = algorithm["parameters"]
        mgf = params["mask_gen_algorithm"]
        source = params["p_source_algorithm"]
        if mgf["algorithm"].native != "mgf1" or source["algorithm"].native != "p_specified":
            raise MalformedMessage("unsupported RSA-OAEP parameters")
        oaep = padding.OAEP(
            mgf=padding.MGF1(hash_named(mgf["parameters"]["algorithm"].native)),
            algorithm=hash_named(params["hash_algorithm"]["algorithm"].native),
            label=bytes(source["parameters"].native) or None,
        )
        wrapped = bytes(ktri["encrypted_key"].native)
    try:
        return recipient_key.decrypt(wrapped, oaep)
    except ValueError as exc:
        raise DecryptionFailed("the content-encryption key cannot be unwrapped") from exc


def decrypt_buffer(
    data: _der.Buffer, recipient_cert: x509.Certificate, recipient_key: rsa.RSAPrivateKey
) -> bytearray:
    """:func:`crypto.cms.decrypt` over any buffer, returning a ``bytearray``."""
    check_key_pair(recipient_cert, recipient_key)
    buf = memoryview(data)
    fields = content_info(buf, "authenticated_enveloped_data", "AuthEnvelopedData")
    fields.take(_der.INTEGER)  # version: always 0
    fields.optional(_der.context(0))  # originatorInfo: not needed for key transport
    infos_field = fields.take(_der.SET)
    encrypted = _der.Fields(buf, fields.take(_der.SEQUENCE), "encrypted content")
    auth_attributes = fields.optional(_der.context(1))
    mac_field = fields.take(_der.OCTET_STRING)
    fields.optional(_der.context(2))  # unauthAttrs: not protected, ignored
    fields.end()
    encrypted.take(_der.OID)  # the inner content type: the caller knows what it expects
    algorithm_field = encrypted.take(_der.SEQUENCE)
    content_field = encrypted.optional(_der.context(0, constructed=False), _der.context(0))
    encrypted.end()
    if content_field is None:
        raise MalformedMessage("the encrypted content is missing")
    with parsing("content-encryption parameters"):
        algorithm = algos.EncryptionAlgorithm.load(_der.element_bytes(buf, algorithm_field))
        name = algorithm["algorithm"].native
        if name not in GCM_KEY_SIZES:
            raise MalformedMessage(
                f"content encryption {name} is not accepted; AES-GCM is required"
            )
        nonce = bytes(algorithm["parameters"]["aes_nonce"].native)
        icv_length = int(algorithm["parameters"]["aes_icvlen"].native)
        tag = bytes(core.OctetString.load(_der.element_bytes(buf, mac_field)).native)
        aad = b""
        if auth_attributes is not None:  # RFC 5083 §2.2: MAC input is their DER as a SET
            element = _der.element_bytes(buf, auth_attributes)
            aad = cms.CMSAttributes.load(element, implicit=1).untag().dump()
        infos = cms.RecipientInfos.load(_der.element_bytes(buf, infos_field))
        mine = [
            info.chosen
            for info in infos
            if info.name == "ktri" and identifies(info.chosen["rid"], recipient_cert)
        ]
    if len(nonce) != _NONCE_BYTES or icv_length != _TAG_BYTES or len(tag) != _TAG_BYTES:
        raise MalformedMessage("only 12-byte GCM nonces and 16-byte GCM tags are accepted")
    if not mine:
        raise NotARecipient(f"the message is not addressed to {display_name(recipient_cert)!r}")
    content_key = _unwrap_key(mine[0], recipient_key)
    if len(content_key) != GCM_KEY_SIZES[name]:
        raise DecryptionFailed("the unwrapped content-encryption key has the wrong size")
    decryptor = Cipher(algorithms.AES(content_key), modes.GCM(nonce, tag)).decryptor()
    if aad:
        decryptor.authenticate_additional_data(aad)
    parts = _der.octets(buf, content_field)
    plain = bytearray(sum(len(part) for part in parts))
    position = 0
    for part in parts:
        for start in range(0, len(part), _CHUNK):
            chunk = decryptor.update(part[start : start + _CHUNK])
            plain[position : position + len(chunk)] = chunk
            position += len(chunk)
    try:
        decryptor.finalize()
    except InvalidTag as exc:
        raise DecryptionFailed("the encrypted content was altered or is corrupt") from exc
    log.debug("decrypted %d bytes", len(plain))
    return plain
