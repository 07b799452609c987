"""Key transport to an RSA recipient (``KeyTransRecipientInfo``, RFC 5652 §6.2.1) with
RSAES-OAEP (RFC 8017; CMS use in RFC 3560): SHA-256, MGF1-SHA-256, empty label.

Used by :mod:`crypto._enveloped`.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms, core
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from crypto._asn1 import hash_named, issuer_and_serial, parsing
from crypto.errors import DecryptionFailed, MalformedMessage

_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
# Encoded once: asn1crypto takes milliseconds to build nested parameters from dicts, but
# next to nothing to embed an already encoded value.
_OAEP_ALGORITHM = cms.KeyEncryptionAlgorithm(
    {
        "algorithm": "rsaes_oaep",
        "parameters": {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
        },
    }
).dump()


def recipient_info(
    cert: x509.Certificate, key: rsa.RSAPublicKey, content_key: bytes
) -> cms.RecipientInfo:
    """A ``RecipientInfo`` (``ktri``) carrying ``content_key`` to ``cert``, identified by
    issuer and serial number."""
    return cms.RecipientInfo(
        {
            "ktri": {
                "version": "v0",
                "rid": {"issuer_and_serial_number": issuer_and_serial(cert)},
                "key_encryption_algorithm": cms.KeyEncryptionAlgorithm.load(_OAEP_ALGORITHM),
                "encrypted_key": key.encrypt(content_key, _OAEP),
            }
        }
    )


def _digest(algorithm: Any) -> hashes.HashAlgorithm:
    """The hash of a digest ``AlgorithmIdentifier`` whose parameters are NULL or absent."""
    if not isinstance(algorithm["parameters"], core.Null | core.Void):
        raise MalformedMessage("unexpected digest algorithm parameters")
    return hash_named(algorithm["algorithm"].native)


def unwrap(ktri: Any, recipient_key: rsa.RSAPrivateKey) -> bytes:
    """The content-encryption key of a ``KeyTransRecipientInfo`` addressed to us.

    Raises:
        MalformedMessage: Not RSA-OAEP (PKCS#1 v1.5 key transport is refused), or unusual
            OAEP parameters.
        DecryptionFailed: The wrapped key does not decrypt with ``recipient_key``.
    """
    with parsing("key transport"):
        expected = "v0" if ktri["rid"].name == "issuer_and_serial_number" else "v2"
        if ktri["version"].native != expected:  # RFC 5652 §6.2.1
            raise MalformedMessage(f"key transport recipient information must be {expected}")
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
            mgf=padding.MGF1(_digest(mgf["parameters"])),
            algorithm=_digest(params["hash_algorithm"]),
            label=bytes(source["parameters"].native) or None,
        )
        wrapped = bytes(ktri["encrypted_key"].native)
    try:
        return recipient_key.decrypt(wrapped, oaep)
    except ValueError as exc:
        raise DecryptionFailed("the content-encryption key cannot be unwrapped") from exc
