"""X.509 certificates for Passavant: a small private CA, people and the platform server.

The CA is a self-signed root that issues end-entity certificates directly (path length 0):

* person certificates (doctors, secretaries, specialists, and a unit's archive) for
  S/MIME-style signing and, except for secretaries, for receiving encrypted cases
  (keyEncipherment for an RSA key, keyAgreement for an EC key);
* the TLS certificate of the platform server;
* certificate revocation lists (:func:`issue_crl`).

Keys are RSA-3072 by default or EC P-256 (:func:`new_private_key`); a CA of either kind may
certify keys of either kind, signing with RSA PKCS#1 v1.5 or ECDSA, both over SHA-256.

Key files (:func:`save_private_key`, :func:`load_private_key`, :func:`key_wrapping`), validation
(:func:`validate_certificate`) and certificate facts (:func:`fingerprint`, :func:`role_of`, …)
live in private modules and are re-exported here: import them from ``crypto.pki``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal, overload

from cryptography import x509 as x509  # explicit re-export: callers annotate with pki.x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto._certinfo import (
    can_decrypt,
    cert_to_pem,
    display_name,
    fingerprint,
    load_cert_pem,
    role_of,
)
from crypto._keyfile import (
    KEY_WRAPPING,
    LIGHT_WRAPPING,
    KeyWrapping,
    key_wrapping,
    load_private_key,
    save_private_key,
)
from crypto._keys import (
    EC_CURVE,
    RSA_BITS,
    KeyKind,
    PrivateKey,
    PublicKey,
    supported_public_key,
)
from crypto._time import as_utc
from crypto._validation import validate_certificate

__all__ = [
    "EC_CURVE",
    "KEY_WRAPPING",
    "LIGHT_WRAPPING",
    "ROLES",
    "RSA_BITS",
    "KeyKind",
    "KeyWrapping",
    "PrivateKey",
    "PublicKey",
    "can_decrypt",
    "cert_to_pem",
    "create_ca",
    "display_name",
    "fingerprint",
    "issue_crl",
    "issue_person_certificate",
    "issue_server_certificate",
    "key_wrapping",
    "load_cert_pem",
    "load_private_key",
    "new_private_key",
    "role_of",
    "save_private_key",
    "validate_certificate",
]

log = logging.getLogger(__name__)

ROLES = frozenset({"doctor", "secretary", "specialist", "unit"})
"""The roles a person certificate may carry in its organizationalUnitName. ``unit`` is a
health unit's archive certificate: cases are also encrypted to it so that the unit can
reread its own cases whoever wrote them."""

_BACKDATE = timedelta(minutes=5)  # tolerate small clock differences between workstations


@overload
def new_private_key(kind: Literal["rsa"] = "rsa") -> rsa.RSAPrivateKey: ...
@overload
def new_private_key(kind: Literal["ec"]) -> ec.EllipticCurvePrivateKey: ...
@overload
def new_private_key(kind: KeyKind) -> PrivateKey: ...
def new_private_key(kind: KeyKind = "rsa") -> PrivateKey:
    """Generate a fresh key: RSA of :data:`RSA_BITS` bits (the default; takes a fraction of
    a second) or, with ``kind="ec"``, EC on :data:`EC_CURVE` (P-256; instantaneous).

    Raises:
        ValueError: Another ``kind``.
    """
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    if kind == "ec":
        return ec.generate_private_key(EC_CURVE())
    raise ValueError(f"unknown key kind {kind!r}; expected 'rsa' or 'ec'")


def _checked_public_key(public_key: PublicKey) -> PublicKey:
    supported = supported_public_key(public_key)
    if supported is None:
        raise ValueError("only RSA keys of 2048 bits or more and P-256/384/521 EC keys")
    return supported


def _name(common_name: str, organization: str | None = None, unit: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    return x509.Name(attributes)


def _key_usage(
    *, sign: bool = False, encipher: bool = False, agree: bool = False, ca: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=encipher,
        data_encipherment=False,
        key_agreement=agree,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@overload
def create_ca(
    common_name: str,
    *,
    now: datetime | None = None,
    days: int = 3650,
    kind: Literal["rsa"] = "rsa",
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]: ...
@overload
def create_ca(
    common_name: str, *, now: datetime | None = None, days: int = 3650, kind: Literal["ec"]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]: ...
@overload
def create_ca(
    common_name: str, *, now: datetime | None = None, days: int = 3650, kind: KeyKind
) -> tuple[x509.Certificate, PrivateKey]: ...
def create_ca(
    common_name: str, *, now: datetime | None = None, days: int = 3650, kind: KeyKind = "rsa"
) -> tuple[x509.Certificate, PrivateKey]:
    """Create a self-signed root CA that issues end-entity certificates directly.

    Args:
        common_name: The CA's subject CN.
        now: Issuance time (default: current time); validity starts 5 minutes earlier.
        days: Validity period.
        kind: The CA's key: ``"rsa"`` (RSA-3072, signs with PKCS#1 v1.5) or ``"ec"``
            (P-256, signs with ECDSA); SHA-256 either way.

    Returns:
        The CA certificate (CA:TRUE, pathlen 0, keyCertSign+cRLSign) and its private key.
    """
    when = as_utc(now)
    key = new_private_key(kind)
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
    ca_key: PrivateKey,
    public_key: PublicKey,
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
    ca_key: PrivateKey,
    public_key: PublicKey,
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
        ca_key: The CA's private key (RSA or EC).
        public_key: The person's public key (RSA or EC).
        common_name: Display name (subject CN).
        role: One of :data:`ROLES`, stored as the subject OU.
        organization: Subject O (health unit or hospital).
        can_decrypt: Allow cases to be encrypted to this person: keyEncipherment for an RSA
            key, keyAgreement for an EC key (besides digitalSignature, always present).
            Secretaries must never see clinical content, so they cannot get it; a unit's
            archive certificate exists to decrypt, so it must.
        now: Issuance time (default: current time).
        days: Validity period, capped at the CA's own expiry.

    Raises:
        ValueError: Unknown role, a secretary certificate with ``can_decrypt``, a unit
            certificate without it, or an unsupported key.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)}")
    if role == "secretary" and can_decrypt:
        raise ValueError("a secretary certificate cannot allow decryption")
    if role == "unit" and not can_decrypt:
        raise ValueError("a unit archive certificate must allow decryption")
    is_ec = isinstance(_checked_public_key(public_key), ec.EllipticCurvePublicKey)
    usage = _key_usage(sign=True, encipher=can_decrypt and not is_ec, agree=can_decrypt and is_ec)
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (usage, True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False),
    ]
    subject = _name(common_name, organization=organization, unit=role)
    cert = _issue(ca_cert, ca_key, public_key, subject, extensions, now, days)
    log.info("issued %s certificate %s", role, fingerprint(cert))
    return cert


def issue_server_certificate(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    public_key: PublicKey,
    *,
    hosts: Sequence[str],
    now: datetime | None = None,
    days: int = 825,
) -> x509.Certificate:
    """Issue a TLS server certificate for the given host names and IP addresses.

    Args:
        ca_cert: The issuing CA certificate.
        ca_key: The CA's private key (RSA or EC).
        public_key: The server's public key: RSA (digitalSignature and keyEncipherment) or
            EC (digitalSignature: TLS with ECDHE needs no more).
        hosts: DNS names and IP addresses (e.g. ``["127.0.0.1", "localhost"]``); the first
            is also the subject CN.
        now: Issuance time (default: current time).
        days: Validity period, capped at the CA's own expiry.

    Raises:
        ValueError: ``hosts`` is empty, or the key is not supported.
    """
    if not hosts:
        raise ValueError("a server certificate needs at least one host")
    is_rsa = isinstance(_checked_public_key(public_key), rsa.RSAPublicKey)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (_key_usage(sign=True, encipher=is_rsa), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName(names), False),
    ]
    cert = _issue(ca_cert, ca_key, public_key, _name(hosts[0]), extensions, now, days)
    log.info("issued server certificate %s", fingerprint(cert))
    return cert


def issue_crl(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    revoked_serials: Iterable[int],
    *,
    now: datetime | None = None,
    days: int = 7,
    number: int | None = None,
) -> x509.CertificateRevocationList:
    """Issue a certificate revocation list signed by the CA.

    Args:
        ca_cert: The CA certificate (its subject is the list's issuer).
        ca_key: The CA's private key.
        revoked_serials: Serial numbers of the certificates to revoke (duplicates ignored).
        now: Issuance time, also the revocation date of every entry (default: current time).
        days: Time until the next update the list announces.
        number: The CRL number (default: the issuance time in seconds, so that later lists
            get larger numbers).

    Raises:
        ValueError: ``ca_key`` is not the CA certificate's key.
    """
    if ca_cert.public_key() != ca_key.public_key():
        raise ValueError("the private key does not belong to the CA certificate")
    when = as_utc(now).replace(microsecond=0)
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(when)
        .next_update(when + timedelta(days=days))
        .add_extension(x509.CRLNumber(int(when.timestamp()) if number is None else number), False)
        .add_extension(aki, critical=False)
    )
    for serial in sorted(set(revoked_serials)):
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        builder = builder.add_revoked_certificate(entry)
    crl = builder.sign(ca_key, hashes.SHA256())
    log.info("issued a revocation list of %d certificates", len(crl))
    return crl
