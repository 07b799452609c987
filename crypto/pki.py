"""X.509 certificates for Passavant: a small private CA, people and the platform server.

The CA is a self-signed root that issues end-entity certificates directly (path length 0):

* person certificates (doctors, secretaries, specialists) for S/MIME-style signing and, except
  for secretaries, for receiving encrypted cases (keyEncipherment);
* the TLS certificate of the platform server.

Key files (:func:`save_private_key`, :func:`load_private_key`), validation
(:func:`validate_certificate`) and certificate facts (:func:`fingerprint`, :func:`role_of`, …)
live in private modules and are re-exported here: import them from ``crypto.pki``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509 as x509  # explicit re-export: callers annotate with pki.x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto._certinfo import (
    can_decrypt,
    cert_to_pem,
    display_name,
    fingerprint,
    load_cert_pem,
    role_of,
)
from crypto._keyfile import load_private_key, save_private_key
from crypto._time import as_utc
from crypto._validation import validate_certificate

__all__ = [
    "ROLES",
    "RSA_BITS",
    "can_decrypt",
    "cert_to_pem",
    "create_ca",
    "display_name",
    "fingerprint",
    "issue_person_certificate",
    "issue_server_certificate",
    "load_cert_pem",
    "load_private_key",
    "new_private_key",
    "role_of",
    "save_private_key",
    "validate_certificate",
]

log = logging.getLogger(__name__)

RSA_BITS = 3072
"""RSA modulus size for every key Passavant generates (≈128-bit security)."""

ROLES = frozenset({"doctor", "secretary", "specialist"})
"""The roles a person certificate may carry in its organizationalUnitName."""

_BACKDATE = timedelta(minutes=5)  # tolerate small clock differences between workstations


def new_private_key() -> rsa.RSAPrivateKey:
    """Generate a fresh RSA key of :data:`RSA_BITS` bits (takes a fraction of a second)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def _name(common_name: str, organization: str | None = None, unit: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    return x509.Name(attributes)


def _key_usage(*, sign: bool = False, encipher: bool = False, ca: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=encipher,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def create_ca(
    common_name: str, *, now: datetime | None = None, days: int = 3650
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """Create a self-signed root CA that issues end-entity certificates directly.

    Args:
        common_name: The CA's subject CN.
        now: Issuance time (default: current time); validity starts 5 minutes earlier.
        days: Validity period.

    Returns:
        The CA certificate (CA:TRUE, pathlen 0, keyCertSign+cRLSign) and its private key.
    """
    when = as_utc(now)
    key = new_private_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(when - _BACKDATE)
        .not_valid_after(when + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    log.info("created CA certificate %s", fingerprint(cert))
    return cert, key


def _issue(
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    public_key: rsa.RSAPublicKey,
    subject: x509.Name,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
    now: datetime | None,
    days: int,
) -> x509.Certificate:
    when = as_utc(now)
    not_after = min(when + timedelta(days=days), ca_cert.not_valid_after_utc)
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(when - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(ca_key, hashes.SHA256())


def issue_person_certificate(
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    public_key: rsa.RSAPublicKey,
    *,
    common_name: str,
    role: str,
    organization: str,
    can_decrypt: bool,
    now: datetime | None = None,
    days: int = 825,
) -> x509.Certificate:
    """Issue a person's certificate for signing and, optionally, receiving encrypted cases.

    Args:
        ca_cert: The issuing CA certificate.
        ca_key: The CA's private key.
        public_key: The person's public key.
        common_name: Display name (subject CN).
        role: One of :data:`ROLES`, stored as the subject OU.
        organization: Subject O (health unit or hospital).
        can_decrypt: Add keyEncipherment so that cases can be encrypted to this person.
            Secretaries must never see clinical content, so they cannot get it.
        now: Issuance time (default: current time).
        days: Validity period, capped at the CA's own expiry.

    Raises:
        ValueError: Unknown role, or a secretary certificate with ``can_decrypt``.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)}")
    if role == "secretary" and can_decrypt:
        raise ValueError("a secretary certificate cannot allow decryption")
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (_key_usage(sign=True, encipher=can_decrypt), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False),
    ]
    subject = _name(common_name, organization=organization, unit=role)
    cert = _issue(ca_cert, ca_key, public_key, subject, extensions, now, days)
    log.info("issued %s certificate %s", role, fingerprint(cert))
    return cert


def issue_server_certificate(
    ca_cert: x509.Certificate,
    ca_key: rsa.RSAPrivateKey,
    public_key: rsa.RSAPublicKey,
    *,
    hosts: Sequence[str],
    now: datetime | None = None,
    days: int = 825,
) -> x509.Certificate:
    """Issue a TLS server certificate for the given host names and IP addresses.

    Args:
        ca_cert: The issuing CA certificate.
        ca_key: The CA's private key.
        public_key: The server's public key.
        hosts: DNS names and IP addresses (e.g. ``["127.0.0.1", "localhost"]``); the first
            is also the subject CN.
        now: Issuance time (default: current time).
        days: Validity period, capped at the CA's own expiry.

    Raises:
        ValueError: ``hosts`` is empty.
    """
    if not hosts:
        raise ValueError("a server certificate needs at least one host")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (_key_usage(sign=True, encipher=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName(names), False),
    ]
    cert = _issue(ca_cert, ca_key, public_key, _name(hosts[0]), extensions, now, days)
    log.info("issued server certificate %s", fingerprint(cert))
    return cert
