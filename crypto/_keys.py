"""The key types Passavant accepts, in one place: RSA (3072 bits when we generate one) and
elliptic-curve keys on the NIST curves (P-256 when we generate one).

Re-exported by :mod:`crypto.pki`; import the aliases from there.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
"""A private key Passavant can sign and decrypt with."""

PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
"""A public key Passavant can verify and encrypt with."""

KeyKind: TypeAlias = Literal["rsa", "ec"]
"""The kinds of key :func:`crypto.pki.new_private_key` generates."""

RSA_BITS = 3072
"""RSA modulus size for every RSA key Passavant generates (≈128-bit security)."""

MIN_RSA_BITS = 2048
"""The smallest RSA key accepted from others (a certificate or a message)."""

EC_CURVE = ec.SECP256R1
"""The curve of every EC key Passavant generates (P-256, ≈128-bit security)."""

CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
}
"""The curves accepted from others, by their pyca (and asn1crypto) name."""


def supported_public_key(key: object) -> PublicKey | None:
    """``key`` if Passavant accepts it (RSA ≥ 2048 bits, EC on a curve of :data:`CURVES`),
    else ``None``."""
    if isinstance(key, rsa.RSAPublicKey):
        return key if key.key_size >= MIN_RSA_BITS else None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key if key.curve.name in CURVES else None
    return None
