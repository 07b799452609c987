"""Key agreement with an EC recipient (``KeyAgreeRecipientInfo``, RFC 5652 §6.2.2) as
RFC 5753 specifies it: ephemeral-static ECDH (``dhSinglePass-stdDH-sha256kdf-scheme``,
1.3.132.1.11.1), the ANSI X9.63 KDF with SHA-256 over ``ECC-CMS-SharedInfo``, and the
content-encryption key wrapped with AES-256 key wrap (RFC 3394, ``id-aes256-wrap``).

One ``KeyAgreeRecipientInfo`` per recipient, each with a fresh ephemeral key and no user
keying material, as ``openssl cms`` writes it. Reading also accepts the SHA-384 and
SHA-512 KDF schemes, AES-128/192 key wrap, user keying material and rKeyId recipient
identifiers; the SHA-1 KDF scheme (``openssl cms``'s default unless
``-keyopt ecdh_kdf_md:sha256`` is given) and cofactor ECDH are refused.

Used by :mod:`crypto._enveloped`.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms, core, keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from crypto import _der
from crypto._asn1 import WRAP_KEY_SIZES, EccCmsSharedInfo, issuer_and_serial, parsing
from crypto.errors import DecryptionFailed, MalformedMessage

SCHEME = "dh_single_pass_std_dh_sha256kdf"
"""The key-agreement scheme we write (RFC 5753 §7.1.4, 1.3.132.1.11.1)."""

WRAP = "aes256_wrap"
"""The key-wrap algorithm we write (2.16.840.1.101.3.4.1.45)."""

# Encoded once: asn1crypto is slow to build nested structures from dicts, fast to embed
# already encoded values.
_SCHEME_ALGORITHM = cms.KeyEncryptionAlgorithm(
    {"algorithm": SCHEME, "parameters": {"algorithm": WRAP}}
).dump()
_EC_PUBLIC_KEY_ALGORITHM = keys.PublicKeyAlgorithm({"algorithm": "ec"}).dump()  # no parameters

_KDF_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "dh_single_pass_std_dh_sha256kdf": hashes.SHA256,
    "dh_single_pass_std_dh_sha384kdf": hashes.SHA384,
    "dh_single_pass_std_dh_sha512kdf": hashes.SHA512,
}


def shared_info(wrap: str, ukm: bytes | None, kek_size: int) -> bytes:
    """DER of the ``ECC-CMS-SharedInfo`` for a key-encryption key of ``kek_size`` bytes.

    ``keyInfo`` is the key-wrap algorithm with absent parameters, as RFC 5753 §7.2 requires
    for the AES wraps (and as OpenSSL re-encodes it when reading).
    """
    info: dict[str, object] = {
        "key_info": {"algorithm": wrap},
        "supp_pub_info": (kek_size * 8).to_bytes(4, "big"),
    }
    if ukm is not None:
        info["entity_u_info"] = ukm
    return bytes(EccCmsSharedInfo(info).dump())


def _kek(
    private: ec.EllipticCurvePrivateKey,
    peer: ec.EllipticCurvePublicKey,
    hash_algorithm: hashes.HashAlgorithm,
    wrap: str,
    ukm: bytes | None,
) -> bytes:
    """The key-encryption key: X9.63 KDF of the ECDH shared secret (its x coordinate)."""
    secret = private.exchange(ec.ECDH(), peer)
    size = WRAP_KEY_SIZES[wrap]
    kdf = X963KDF(algorithm=hash_algorithm, length=size, sharedinfo=shared_info(wrap, ukm, size))
    return kdf.derive(secret)


def recipient_info(
    cert: x509.Certificate, key: ec.EllipticCurvePublicKey, content_key: bytes
) -> cms.RecipientInfo:
    """A ``RecipientInfo`` (``kari``, version 3) carrying ``content_key`` to ``cert``,
    identified by issuer and serial number, through a fresh ephemeral key on its curve."""
    ephemeral = ec.generate_private_key(key.curve)
    kek = _kek(ephemeral, key, hashes.SHA256(), WRAP, None)
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    # id-ecPublicKey with absent parameters (the curve is the recipient's), then the point.
    public_key_info = b"".join(
        _der.wrap(_der.SEQUENCE, [_EC_PUBLIC_KEY_ALGORITHM, *_der.wrap(0x03, [b"\x00", point])])
    )
    return cms.RecipientInfo(
        {
            "kari": {
                "version": "v3",
                "originator": {"originator_key": keys.PublicKeyInfo.load(public_key_info)},
                "key_encryption_algorithm": cms.KeyEncryptionAlgorithm.load(_SCHEME_ALGORITHM),
                "recipient_encrypted_keys": [
                    {
                        "rid": {"issuer_and_serial_number": issuer_and_serial(cert)},
                        "encrypted_key": keywrap.aes_key_wrap(kek, content_key),
                    }
                ],
            }
        }
    )


def _originator_key(kari: Any, curve: ec.EllipticCurve) -> bytes:
    """The encoded point of the originator's ephemeral public key, checked to be on
    ``curve`` as far as its encoding goes (id-ecPublicKey, parameters absent, NULL or
    ``curve``)."""
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise MalformedMessage("only an ephemeral originator key is supported in key agreement")
    info = originator.chosen
    algorithm = info["algorithm"]
    if algorithm["algorithm"].native != "ec":
        raise MalformedMessage("the originator key is not an EC key")
    params = algorithm["parameters"]
    absent_or_null = isinstance(params, core.Void) or params.name == "implicit_ca"
    if not absent_or_null and (params.name != "named" or params.chosen.native != curve.name):
        raise MalformedMessage("the originator key is not on the recipient's curve")
    if info["public_key"].contents[:1] != b"\x00":
        raise MalformedMessage("the originator key's BIT STRING has unused bits")
    point = bytes(info["public_key"].native)
    coordinate = (curve.key_size + 7) // 8
    uncompressed = len(point) == 1 + 2 * coordinate and point[0] == 4
    compressed = len(point) == 1 + coordinate and point[0] in (2, 3)
    if not (uncompressed or compressed):
        raise MalformedMessage("the originator key is not an encoded point of the curve")
    return point


def unwrap(kari: Any, wrapped: bytes, recipient_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The content-encryption key of our ``RecipientEncryptedKey`` (``wrapped``) in ``kari``.

    Raises:
        MalformedMessage: Another scheme or key wrap, or an ill-formed originator key.
        DecryptionFailed: The originator key is not a point of the curve, or the wrapped
            key does not unwrap (it, the originator key or the user keying material was
            altered, or ``recipient_key`` is not the one it was wrapped for).
    """
    curve = recipient_key.curve
    with parsing("key agreement"):
        if kari["version"].native != "v3":
            raise MalformedMessage("key agreement recipient information must be version 3")
        point = _originator_key(kari, curve)
        ukm_field = kari["ukm"]
        ukm = None if isinstance(ukm_field, core.Void) else bytes(ukm_field.native)
        algorithm = kari["key_encryption_algorithm"]
        scheme = algorithm["algorithm"].native
        factory = _KDF_HASHES.get(scheme)
        if factory is None:
            raise MalformedMessage(
                f"key agreement {scheme} is not accepted; "
                "dhSinglePass-stdDH with a SHA-2 KDF is required"
            )
        wrap_algorithm = algorithm["parameters"]
        wrap = wrap_algorithm["algorithm"].native
        if wrap not in WRAP_KEY_SIZES or not isinstance(wrap_algorithm["parameters"], core.Void):
            raise MalformedMessage(f"key wrap {wrap} is not accepted; AES key wrap is required")
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except ValueError as exc:
        raise DecryptionFailed("the originator key is not a point of the curve") from exc
    kek = _kek(recipient_key, peer, factory(), wrap, ukm)
    try:
        return keywrap.aes_key_unwrap(kek, wrapped)
    except (keywrap.InvalidUnwrap, ValueError) as exc:
        raise DecryptionFailed("the content-encryption key cannot be unwrapped") from exc
