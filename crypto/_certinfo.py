"""Facts about a certificate (fingerprint, name, role, usages) and its PEM form.

Re-exported by :mod:`crypto.pki`; import them from there.
"""

from __future__ import annotations

from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from crypto._keys import PrivateKey, supported_public_key
from crypto.errors import MalformedMessage

_E = TypeVar("_E", bound=x509.ExtensionType)


def extension(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    """The value of the certificate's extension of type ``kind``, or ``None``."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def fingerprint(cert: x509.Certificate) -> str:
    """Lowercase hexadecimal SHA-256 of the certificate's DER encoding."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _first_value(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    for attribute in cert.subject.get_attributes_for_oid(oid):
        value = attribute.value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


def role_of(cert: x509.Certificate) -> str | None:
    """The role stored in the subject OU, or ``None`` when there is none."""
    return _first_value(cert, NameOID.ORGANIZATIONAL_UNIT_NAME)


def display_name(cert: x509.Certificate) -> str:
    """The subject CN, or the whole subject (RFC 4514) when it has no CN."""
    common_name = _first_value(cert, NameOID.COMMON_NAME)
    return common_name if common_name is not None else cert.subject.rfc4514_string()


def can_decrypt(cert: x509.Certificate) -> bool:
    """Whether cases may be encrypted to this certificate: an RSA key with the
    keyEncipherment key usage (RSA-OAEP key transport), or an EC key on an accepted curve
    with keyAgreement (ECDH key agreement).

    This looks at the certificate alone; whether it is trusted is
    :func:`crypto.pki.validate_certificate`'s business.
    """
    usage = extension(cert, x509.KeyUsage)
    if usage is None:
        return False
    try:
        key = supported_public_key(cert.public_key())
    except (ValueError, UnsupportedAlgorithm):  # a key pyca cannot load: not one of ours
        return False
    if isinstance(key, rsa.RSAPublicKey):
        return usage.key_encipherment
    if isinstance(key, ec.EllipticCurvePublicKey):
        return usage.key_agreement
    return False


def check_key_pair(cert: x509.Certificate, key: PrivateKey) -> None:
    """Raise ``ValueError`` when ``key`` is not the private key of ``cert``."""
    if cert.public_key() != key.public_key():
        raise ValueError("the private key does not belong to the certificate")


def cert_to_pem(cert: x509.Certificate) -> bytes:
    """PEM encoding of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def fully_parsed(cert: x509.Certificate) -> x509.Certificate:
    """``cert``, after parsing what pyca parses lazily (names, validity, extensions), so
    that a damaged certificate is refused on loading rather than deep inside validation.

    Raises:
        MalformedMessage: One of them does not parse.
    """
    try:
        _ = (cert.subject, cert.issuer, cert.not_valid_after_utc, cert.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise MalformedMessage("the certificate is malformed") from exc
    return cert


def load_cert_pem(data: bytes) -> x509.Certificate:
    """Load one PEM certificate.

    Raises:
        MalformedMessage: ``data`` is not a PEM certificate, or a malformed one.
    """
    try:
        cert = x509.load_pem_x509_certificate(data)
    except (ValueError, x509.InvalidVersion) as exc:
        raise MalformedMessage("not a PEM certificate") from exc
    return fully_parsed(cert)
