"""Certificate validation against Passavant's trust roots.

Chain building, signatures, validity periods and the CA's own constraints are checked by
pyca's :mod:`cryptography.x509.verification` (web PKI defaults for the CA). The end-entity
policy is relaxed to "permit all" because person certificates carry the S/MIME extended key
usage (emailProtection) rather than the TLS client one; the end-entity checks that matter
here (not a CA, key usage, extended key usage) are then done in this module, which also
gives clearer messages, followed by revocation against the certificate revocation lists the
caller supplies. Re-exported by :mod:`crypto.pki`; import it from there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from crypto._certinfo import can_decrypt, display_name, extension
from crypto._time import as_utc
from crypto.errors import (
    CertificateExpired,
    CertificateRevoked,
    CryptoError,
    InvalidRecipient,
    UntrustedSigner,
)

log = logging.getLogger(__name__)

Purpose = Literal["sign", "encrypt"]


def validate_certificate(
    cert: x509.Certificate,
    roots: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    purpose: Purpose,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> None:
    """Check that ``cert`` chains to one of ``roots``, may be used for ``purpose`` and is
    not revoked.

    Revocation: every CRL in ``crls`` issued by the CA that issued ``cert`` (same name and,
    when the CRL says, same key identifier) must bear that CA's valid signature, otherwise
    the revocation status cannot be trusted and the certificate is refused; a certificate
    listed in one of them is refused whatever the validation time, because a signing time
    is only its signer's claim. CRLs of other CAs are ignored, and so are their update
    times: an old list still counts, a missing one is not an error.

    A pinned certificate (an end-entity certificate among ``roots``, which validates as
    itself) is checked the same way against the lists of the CAs of ``roots`` that issued
    it (same name as its issuer *and* a key that verifies its signature): pinning trusts a
    certificate no CA vouches for, it does not undo its own CA's revocation. A pinned
    certificate whose issuer is not among ``roots`` stays accepted as it is (that is the
    point of pinning), whatever the lists say: no list of an unknown CA can be trusted.

    Args:
        cert: The end-entity certificate (a signer or a recipient).
        roots: Trusted root CA certificates.
        now: Validation time (default: current time; naive means UTC).
        purpose: ``"sign"`` requires digitalSignature, ``"encrypt"`` the key usage that
            encryption to this key needs (keyEncipherment for RSA, keyAgreement for EC); both
            require the emailProtection extended key usage when the extension is present.
        crls: Certificate revocation lists to check ``cert`` against.

    Raises:
        CertificateExpired: ``purpose`` is ``"sign"`` and the certificate, or its CA, had
            expired at ``now``.
        CertificateRevoked: ``purpose`` is ``"sign"`` and a CRL of its CA lists it.
        UntrustedSigner: ``purpose`` is ``"sign"`` and the certificate does not validate
            otherwise.
        InvalidRecipient: ``purpose`` is ``"encrypt"`` and the certificate does not validate,
            has expired or is revoked.
    """
    signing = purpose == "sign"
    error: type[CryptoError] = UntrustedSigner if signing else InvalidRecipient
    expired: type[CryptoError] = CertificateExpired if signing else InvalidRecipient
    who = _describe(cert)
    when = as_utc(now)
    if not roots:
        raise error(f"no trusted root is configured to validate {who}")
    if when < cert.not_valid_before_utc:
        raise error(f"{who} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if when > cert.not_valid_after_utc:
        raise expired(f"{who} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(when)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(cert, []).chain
    except VerificationError as exc:
        log.info("certificate %s rejected: %s", who, exc)
        for root in roots:
            if root.subject == cert.issuer and when > root.not_valid_after_utc:
                raise expired(
                    f"the certification authority of {who} expired on"
                    f" {root.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
                ) from exc
        raise error(f"{who} does not chain to a trusted certification authority") from exc
    _check_end_entity(cert, who, purpose, error)
    revoked: type[CryptoError] = CertificateRevoked if signing else InvalidRecipient
    issuers = [chain[1]] if len(chain) > 1 else _pinned_issuers(cert, roots)
    for issuer in issuers:
        _check_revocation(cert, issuer, crls, who, error, revoked)


def _pinned_issuers(
    cert: x509.Certificate, roots: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """The CAs among ``roots`` that issued ``cert``, a root itself (a pinned certificate):
    same name as its issuer, and a key that verifies its signature. A CA of the same name
    with another key did not issue it, and its lists do not apply."""
    found = []
    for root in roots:
        constraints = extension(root, x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            continue
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            continue
        found.append(root)
    return found


def _issued_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    """Whether ``crl`` names ``ca`` as its issuer (name, and key identifier if present)."""
    if crl.issuer != ca.subject:
        return False
    try:
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return True
    ski = extension(ca, x509.SubjectKeyIdentifier)
    return aki.key_identifier is None or ski is None or aki.key_identifier == ski.digest


def _check_revocation(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    who: str,
    error: type[CryptoError],
    revoked: type[CryptoError],
) -> None:
    issuer_key = issuer.public_key()
    for crl in crls:
        if not _issued_by(crl, issuer):
            continue
        if not isinstance(
            issuer_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey
        ) or not crl.is_signature_valid(issuer_key):
            raise error(
                f"a revocation list claiming to come from {display_name(issuer)!r} is not"
                f" signed by it: the revocation status of {who} cannot be checked"
            )
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            raise revoked(f"{who} was revoked on {entry.revocation_date_utc:%Y-%m-%d %H:%M} UTC")


def _check_end_entity(
    cert: x509.Certificate, who: str, purpose: Purpose, error: type[CryptoError]
) -> None:
    constraints = extension(cert, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise error(f"{who} is a certification authority, not a person")
    usage = extension(cert, x509.KeyUsage)
    if purpose == "sign" and (usage is None or not usage.digital_signature):
        raise error(f"{who} is not allowed to sign (no digitalSignature key usage)")
    if purpose == "encrypt" and not can_decrypt(cert):
        raise error(
            f"{who} cannot receive encrypted cases"
            " (no keyEncipherment or keyAgreement key usage, or an unsupported key)"
        )
    extended = extension(cert, x509.ExtendedKeyUsage)
    if extended is not None and not {
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }.intersection(extended):
        raise error(f"{who} is not a person certificate (no emailProtection extended key usage)")


def _describe(cert: x509.Certificate) -> str:
    return f"the certificate of {display_name(cert)!r}"
