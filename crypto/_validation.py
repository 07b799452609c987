"""Certificate validation against Passavant's trust roots.

Chain building, signatures, validity periods and the CA's own constraints are checked by
pyca's :mod:`cryptography.x509.verification` (web PKI defaults for the CA). The end-entity
policy is relaxed to "permit all" because person certificates carry the S/MIME extended key
usage (emailProtection) rather than the TLS client one; the end-entity checks that matter
here (not a CA, key usage, extended key usage) are then done in this module, which also
gives clearer messages. Re-exported by :mod:`crypto.pki`; import it from there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from crypto._certinfo import can_decrypt, display_name, extension
from crypto._time import as_utc
from crypto.errors import CryptoError, InvalidRecipient, UntrustedSigner

log = logging.getLogger(__name__)

Purpose = Literal["sign", "encrypt"]


def validate_certificate(
    cert: x509.Certificate,
    roots: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    purpose: Purpose,
) -> None:
    """Check that ``cert`` chains to one of ``roots`` and may be used for ``purpose``.

    Args:
        cert: The end-entity certificate (a signer or a recipient).
        roots: Trusted root CA certificates.
        now: Validation time (default: current time; naive means UTC).
        purpose: ``"sign"`` requires digitalSignature, ``"encrypt"`` keyEncipherment; both
            require the emailProtection extended key usage when the extension is present.

    Raises:
        UntrustedSigner: ``purpose`` is ``"sign"`` and the certificate does not validate.
        InvalidRecipient: ``purpose`` is ``"encrypt"`` and the certificate does not validate.
    """
    error: type[CryptoError] = UntrustedSigner if purpose == "sign" else InvalidRecipient
    who = _describe(cert)
    when = as_utc(now)
    if not roots:
        raise error(f"no trusted root is configured to validate {who}")
    if when < cert.not_valid_before_utc:
        raise error(f"{who} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if when > cert.not_valid_after_utc:
        raise error(f"{who} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
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
        verifier.verify(cert, [])
    except VerificationError as exc:
        log.info("certificate %s rejected: %s", who, exc)
        raise error(f"{who} does not chain to a trusted certification authority") from exc
    _check_end_entity(cert, who, purpose, error)


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
        raise error(f"{who} cannot receive encrypted cases (no keyEncipherment key usage)")
    extended = extension(cert, x509.ExtendedKeyUsage)
    if extended is not None and not {
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    }.intersection(extended):
        raise error(f"{who} is not a person certificate (no emailProtection extended key usage)")


def _describe(cert: x509.Certificate) -> str:
    return f"the certificate of {display_name(cert)!r}"
