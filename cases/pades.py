"""PAdES signatures of the tele-expertise report: made with a key held in memory, and checked.

:func:`sign_pdf` adds one signature to a PDF (an incremental update, so a PDF/A file stays
one): PAdES baseline B-B (``ETSI.CAdES.detached``, the signing certificate as a signed
attribute, SHA-256), RSA PKCS#1 v1.5 or ECDSA, made by the identity's own key object
(:class:`_KeySigner`: the key is never serialised, and a key on a card can take its place).
Given a time-stamp authority's client (:func:`cases.timestamp.timestamper`), the signature
also gets an RFC 3161 signature time-stamp (PAdES B-T); without it, the time is the
signer's claim.

:func:`check_pdf` reads every signature of a PDF with pyHanko's validator and says, for each,
who signed (the certificate's name, organisation and role), when they said they did, whether
the bytes it covers are intact and cover the whole file, and whether the certificate chains
to the profile's trust roots (validity at the signing time, revocation lists, the
digitalSignature usage: our certificates have no nonRepudiation), and whether a signature
time-stamp is there, sound (its imprint is this signature's value, its signature verifies)
and by an authority the reader trusts, and its time. Everything a file holds is bounded
before pyHanko reads it (:data:`MAX_PDF`).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from cases.bundle import Party
from cases.errors import CaseError
from crypto._keys import PrivateKey

log = logging.getLogger(__name__)

MAX_PDF = 256 * 1024 * 1024
"""The largest report :func:`check_pdf` reads (a dozen photos make a few megabytes)."""

MAX_SIGNATURES = 16
"""The most signatures :func:`check_pdf` validates in one file."""

SIGNATURE_SPACE = 32 * 1024
"""Bytes reserved for the CMS signature (the certificate chain included)."""


class ReportError(CaseError):
    """A report could not be made, signed or read (``code`` says why)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code


@dataclass(frozen=True)
class TimestampCheck:
    """A signature's RFC 3161 time-stamp, as checked.

    Attributes:
        at: the time the authority signed.
        intact: its imprint is the signature's value and its own signature verifies.
        trusted: the authority's certificate chains to a trusted root, with the
            timeStamping usage.
        authority: the authority's certificate's common name (or whole subject).
    """

    at: datetime | None
    intact: bool
    trusted: bool
    authority: str

    @property
    def good(self) -> bool:
        return self.intact and self.trusted


@dataclass(frozen=True)
class Signature:
    """One signature of a PDF, as checked.

    Attributes:
        signer: who the signing certificate names (``mailbox`` empty).
        signed_at: the signing time the signer stated (no time-stamp), or ``None``.
        intact: the bytes the signature covers are the ones signed.
        whole_file: it covers the whole file (nothing was appended after it).
        trusted: the certificate chains to the trust roots, valid and not revoked at the
            signing time, with the digitalSignature usage.
        field: the signature field's name.
        certificate: the signer's certificate (DER).
        timestamp: the signature's time-stamp, or ``None`` (PAdES B-B).
    """

    signer: Party
    signed_at: datetime | None
    intact: bool
    whole_file: bool
    trusted: bool
    field: str
    certificate: bytes
    timestamp: TimestampCheck | None = None

    @property
    def good(self) -> bool:
        """Intact, covering the whole file, and by a trusted certificate."""
        return self.intact and self.whole_file and self.trusted


def _load_pyhanko() -> None:
    """Import pyHanko once, quietly: it imports pyca's DSA module, deprecated since
    cryptography 48, which warns at import (we never use DSA)."""
    import warnings

    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        import pyhanko.sign
        import pyhanko.sign.validation  # noqa: F401
    # pyHanko registers the OIDs asn1crypto lacks (signingCertificateV2…) in its maps; when
    # our own CMS code ran first, asn1crypto had already built the reverse maps without them
    from asn1crypto import cms as asn1_cms

    for kind in (asn1_cms.CMSAttributeType, asn1_x509.ExtensionId):
        if kind._reverse_map is not None:
            for oid, name in kind._map.items():
                kind._reverse_map.setdefault(name, oid)
    # a certificate that does not chain to the trust roots is an answer we give in words
    # ("not recognised"), not a traceback pyHanko should print on the console
    validation_log = logging.getLogger("pyhanko.sign.validation.generic_cms")
    if not any(isinstance(f, _UnchainedFilter) for f in validation_log.filters):
        validation_log.addFilter(_UnchainedFilter())


class _UnchainedFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to build path")


def _signer_class() -> type:
    """:class:`_KeySigner`, built on first use (pyHanko is imported when a report is made)."""
    _load_pyhanko()
    from pyhanko.sign.signers.pdf_cms import Signer

    class _KeySigner(Signer):
        """A pyHanko signer over a private key object we already hold."""

        def __init__(self, cert: x509.Certificate, key: PrivateKey) -> None:
            from pyhanko_certvalidator.registry import SimpleCertificateStore

            asn1 = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
            ec_key = isinstance(key, ec.EllipticCurvePrivateKey)
            mechanism = algos.SignedDigestAlgorithm(
                {"algorithm": "sha256_ecdsa" if ec_key else "sha256_rsa"}
            )
            super().__init__(
                signing_cert=asn1,
                cert_registry=SimpleCertificateStore.from_certs([asn1]),  # type: ignore[no-untyped-call]
                signature_mechanism=mechanism,
                embed_roots=False,
            )
            self._key = key

        async def async_sign_raw(
            self, data: bytes, digest_algorithm: str, dry_run: bool = False
        ) -> bytes:
            if digest_algorithm != "sha256":
                raise ReportError("signature_failed", f"unexpected digest {digest_algorithm}")
            key = self._key
            if isinstance(key, ec.EllipticCurvePrivateKey):
                return key.sign(data, ec.ECDSA(hashes.SHA256()))
            assert isinstance(key, rsa.RSAPrivateKey)
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    return _KeySigner


def sign_pdf(
    pdf: bytes,
    cert: x509.Certificate,
    key: PrivateKey,
    *,
    field: str = "Signature1",
    reason: str = "",
    location: str = "",
    timestamper: Any = None,
) -> bytes:
    """``pdf`` with a PAdES B-B signature by ``cert``'s ``key`` added (incremental update),
    B-T when ``timestamper`` (:func:`cases.timestamp.timestamper`) is given.

    ``reason`` and ``location`` are the signature dictionary's free texts (a reader shows
    them beside the signer's name).

    Raises:
        ReportError: ``signature_failed``, the key does not match the certificate or pyHanko
            could not sign.
        TimestampError: the authority gave no usable time-stamp (nothing was signed).
    """
    from cases.timestamp import TimestampError

    _load_pyhanko()
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    if cert.public_key() != key.public_key():
        raise ReportError("signature_failed", "the key does not belong to the certificate")
    signer = _signer_class()(cert, key)
    meta = signers.PdfSignatureMetadata(
        field_name=field,
        reason=reason or None,
        location=location or None,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        use_pades_lta=False,
        embed_validation_info=False,
    )
    out = io.BytesIO()
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        _same_producer(writer)
        pdf_signer = signers.PdfSigner(meta, signer, timestamper=timestamper)
        asyncio.run(pdf_signer.async_sign_pdf(writer, output=out, bytes_reserved=SIGNATURE_SPACE))
    except (ReportError, TimestampError):
        raise
    except Exception as exc:  # pyHanko raises many kinds; the report is simply not signed
        log.warning("PAdES signing failed: %r", exc)
        raise ReportError("signature_failed", str(exc)) from exc
    return out.getvalue()


def _same_producer(writer: Any) -> None:
    """Say pyHanko produced the file, in the information dictionary as in the XMP metadata
    (which pyHanko rewrites with its own name): PDF/A wants the two to agree, and pyHanko
    would otherwise append its name to the former only."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.metadata.model import VENDOR

    try:
        old = writer.prev.trailer_view["/Info"]
    except KeyError:
        return
    info = generic.DictionaryObject(dict(old.items()))  # type: ignore[no-untyped-call]
    info[generic.pdf_name("/Producer")] = generic.TextStringObject(VENDOR)
    writer.set_info(info)


def check_pdf(
    pdf: bytes,
    trust_roots: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList] = (),
    tsa_roots: Sequence[x509.Certificate] = (),
) -> list[Signature]:
    """Every signature of ``pdf`` (at most :data:`MAX_SIGNATURES`), checked; empty when it
    has none. A time-stamp is trusted when its authority chains to ``tsa_roots`` or
    ``trust_roots``.

    Raises:
        ReportError: ``report_too_large``, ``not_a_pdf`` (unreadable by pyHanko),
            ``too_many_signatures``.
    """
    _load_pyhanko()
    from pyhanko.pdf_utils.reader import PdfFileReader

    if len(pdf) > MAX_PDF:
        raise ReportError("report_too_large", f"{len(pdf)} bytes")
    if not pdf.startswith(b"%PDF-"):
        raise ReportError("not_a_pdf", "no PDF header")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # a damaged file: one plain code
        raise ReportError("not_a_pdf", repr(exc)) from exc
    if len(embedded) > MAX_SIGNATURES:
        raise ReportError("too_many_signatures", str(len(embedded)))
    return [_checked(sig, trust_roots, crls, tsa_roots) for sig in embedded]


def _checked(
    sig: object,
    trust_roots: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    tsa_roots: Sequence[x509.Certificate] = (),
) -> Signature:
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    der = serialization.Encoding.DER
    roots = [asn1_x509.Certificate.load(c.public_bytes(der)) for c in trust_roots]
    context = ValidationContext(
        trust_roots=roots,
        crls=[c.public_bytes(der) for c in crls],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    ts_context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(c.public_bytes(der)) for c in tsa_roots] + roots,
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    usage = KeyUsageConstraints(key_usage={"digital_signature"}, match_all_key_usages=False)
    field_name = str(getattr(sig, "field_name", ""))
    cert_der = b""
    stamp = None
    try:
        status = validate_pdf_signature(
            sig,  # type: ignore[arg-type]
            signer_validation_context=context,
            ts_validation_context=ts_context,
            key_usage_settings=usage,
        )
        stamp = _timestamp_of(status.timestamp_validity)
        cert_der = status.signing_cert.dump()
        intact = bool(status.intact and status.valid)
        whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        trusted = bool(status.trusted) and not bool(getattr(status, "revoked", False))
        when = status.signer_reported_dt
    except Exception as exc:  # noqa: BLE001 - a malformed signature is broken, not raised
        log.info("a signature could not be validated: %r", exc)
        intact = whole = trusted = False
        when = None
        signer_cert = getattr(sig, "signer_cert", None)
        if signer_cert is not None:
            cert_der = signer_cert.dump()
        if _has_timestamp_token(sig):  # there, but it could not be checked: not sound
            stamp = TimestampCheck(None, False, False, "")
    party = Party("", "", "")
    if cert_der:
        try:
            party = Party.of_certificate(x509.load_der_x509_certificate(cert_der))
        except ValueError:
            intact = trusted = False
    return Signature(party, when, intact, whole, trusted, field_name, cert_der, stamp)


def _timestamp_of(status: Any) -> TimestampCheck | None:
    """What pyHanko established about a signature's time-stamp (``None``: there is none)."""
    if status is None:
        return None
    from cases.timestamp import has_timestamping_usage

    try:
        authority_cert = x509.load_der_x509_certificate(status.signing_cert.dump())
        names = authority_cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        authority = str(names[0].value) if names else authority_cert.subject.rfc4514_string()
        usage = has_timestamping_usage(authority_cert)
    except (ValueError, AttributeError):
        authority, usage = "", False
    intact = bool(status.intact and status.valid)
    trusted = intact and usage and bool(status.trusted) and not bool(status.revoked)
    return TimestampCheck(status.timestamp, intact, trusted, authority[:200])


def _has_timestamp_token(sig: Any) -> bool:
    try:
        attrs = sig.signer_info["unsigned_attrs"]
        return any(a["type"].native == "signature_time_stamp_token" for a in attrs)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
