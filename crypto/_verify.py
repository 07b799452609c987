"""CMS SignedData (RFC 5652 §5) verification: RSASSA-PSS or PKCS#1 v1.5 for an RSA signer,
ECDSA for an EC signer (RFC 5753 §2.1), SHA-2 digests.

Re-exported by :mod:`crypto.cms`; import it from there. The received message is one in-memory
buffer: its outer structure is walked over a ``memoryview`` (``crypto._der``), the content is
hashed in place and copied once, into :attr:`Verified.content`, after every check has passed.
Streaming is future work.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import cms, core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from crypto import _der
from crypto._asn1 import content_info, hash_named, identifies, parsing, pyca_certificate
from crypto._keys import supported_public_key
from crypto._time import as_utc
from crypto._validation import validate_certificate
from crypto.errors import BadSignature, MalformedMessage

log = logging.getLogger(__name__)

# PKCS#1 v1.5 signature algorithm names -> hash, None meaning "the SignerInfo's digest".
_PKCS1_V15: dict[str, str | None] = {
    "rsassa_pkcs1v15": None,
    "sha256_rsa": "sha256",
    "sha384_rsa": "sha384",
    "sha512_rsa": "sha512",
}

# ECDSA signature algorithm names -> hash (RFC 5758 §3.2; parameters absent).
_ECDSA = {"sha256_ecdsa": "sha256", "sha384_ecdsa": "sha384", "sha512_ecdsa": "sha512"}


@dataclass(frozen=True)
class Verified:
    """What a successful verification established.

    Attributes:
        content: The signed content.
        signer: The signer's certificate, validated against the trust roots.
        signed_at: The signing time asserted by the signer (UTC), when present.
        others: The other certificates the message embeds, **not validated** (a card
            identity's encryption certificate: ``cases.cardidentity.paired_reader``).
    """

    content: bytes
    signer: x509.Certificate
    signed_at: datetime | None
    others: tuple[x509.Certificate, ...] = ()


@dataclass(frozen=True)
class _Parsed:
    content: list[memoryview]
    signer_info: Any
    certificates: list[x509.Certificate]


def _parse(buf: memoryview) -> _Parsed:
    """Walk ContentInfo → SignedData, keeping the content as views into ``buf``."""
    signed_data = content_info(buf, "signed_data", "SignedData")
    signed_data.take(_der.INTEGER)  # version: depends on the choices below, not checked
    signed_data.take(_der.SET)  # digestAlgorithms: only the SignerInfo's one matters
    encapsulated = _der.Fields(buf, signed_data.take(_der.SEQUENCE), "encapsulated content")
    certificates = signed_data.optional(_der.context(0))
    signed_data.optional(_der.context(1))  # CRLs: Passavant does not use revocation lists
    infos_field = signed_data.take(_der.SET)
    signed_data.end()
    with parsing("encapsulated content type"):
        kind = cms.ContentType.load(_der.element_bytes(buf, encapsulated.take(_der.OID))).native
    if kind != "data":
        raise MalformedMessage(f"unsupported signed content type {kind}")
    embedded = encapsulated.optional(_der.context(0))
    if embedded is None:
        raise MalformedMessage("detached signatures are not supported")
    encapsulated.end()
    octet_string = _der.Fields(buf, embedded, "encapsulated content")
    content = _der.octets(buf, octet_string.take(*_der.OCTET_STRING_TAGS))
    octet_string.end()
    with parsing("signer information"):
        infos = cms.SignerInfos.load(_der.element_bytes(buf, infos_field))
        if len(infos) != 1:
            raise MalformedMessage(f"exactly one signer is supported, found {len(infos)}")
        found = []
        if certificates is not None:
            found = cms.CertificateSet.load(_der.element_bytes(buf, certificates), implicit=0)
        certs = [pyca_certificate(c.chosen) for c in found if c.name == "certificate"]
        signer_info = infos[0]  # parsed on access
    return _Parsed(content, signer_info, certs)


def _signed_attributes(signer_info: Any) -> tuple[bytes, dict[str, Any]]:
    """The DER of the signed attributes as a SET (what was signed) and their values by name."""
    with parsing("signed attributes"):
        attributes = signer_info["signed_attrs"]
        if isinstance(attributes, core.Void):
            raise MalformedMessage("signed attributes are required")
        values: dict[str, Any] = {}
        for attribute in attributes:
            name = str(attribute["type"].native)
            if name in values:
                raise MalformedMessage(f"duplicate signed attribute {name}")
            values[name] = attribute["values"]
        return attributes.untag().dump(), values


def _single(values: dict[str, Any], name: str, *, required: bool) -> Any:
    found = values.get(name)
    if found is None:
        if required:
            raise MalformedMessage(f"missing signed attribute {name}")
        return None
    if len(found) != 1:
        raise MalformedMessage(f"signed attribute {name} must have exactly one value")
    return found[0].native


def _rsa_scheme(
    signer_info: Any, name: str
) -> tuple[padding.AsymmetricPadding, hashes.HashAlgorithm]:
    """The padding and hash of an RSA signature algorithm (inside ``parsing``)."""
    if name in _PKCS1_V15:
        digest = _PKCS1_V15[name] or signer_info["digest_algorithm"]["algorithm"].native
        return padding.PKCS1v15(), hash_named(digest)
    if name != "rsassa_pss":
        raise MalformedMessage(f"signature algorithm {name} does not fit an RSA signer")
    params = signer_info["signature_algorithm"]["parameters"]
    mgf = params["mask_gen_algorithm"]
    trailer = params["trailer_field"].native
    if mgf["algorithm"].native != "mgf1" or trailer != "trailer_field_bc":
        raise MalformedMessage("unsupported RSASSA-PSS parameters")
    mgf1 = padding.MGF1(hash_named(mgf["parameters"]["algorithm"].native))
    salt = int(params["salt_length"].native)
    return padding.PSS(mgf=mgf1, salt_length=salt), hash_named(
        params["hash_algorithm"]["algorithm"].native
    )


def _ecdsa_scheme(signer_info: Any, name: str) -> ec.ECDSA:
    """The ECDSA scheme of an EC signature algorithm (inside ``parsing``)."""
    if name not in _ECDSA:
        raise MalformedMessage(f"signature algorithm {name} does not fit an EC signer")
    if not isinstance(signer_info["signature_algorithm"]["parameters"], core.Void):
        raise MalformedMessage("ECDSA signature algorithm parameters must be absent")
    return ec.ECDSA(hash_named(_ECDSA[name]))


def _check_signature(signer_info: Any, signer: x509.Certificate, signed: bytes) -> None:
    """Verify the signature over ``signed`` (the DER of the signed attributes).

    Raises:
        MalformedMessage: An unsupported key or algorithm, or one that does not fit the key.
        BadSignature: The signature does not verify.
    """
    try:
        public_key = supported_public_key(signer.public_key())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MalformedMessage("the signer's certificate holds an unreadable key") from exc
    if public_key is None:
        raise MalformedMessage("the signer's key is not an RSA or a supported EC key")
    with parsing("signature algorithm"):
        name = signer_info["signature_algorithm"]["algorithm"].native
        signature = bytes(signer_info["signature"].native)
        check: functools.partial[None]
        if isinstance(public_key, rsa.RSAPublicKey):
            scheme, hash_algorithm = _rsa_scheme(signer_info, name)
            check = functools.partial(public_key.verify, signature, signed, scheme, hash_algorithm)
        else:
            ecdsa = _ecdsa_scheme(signer_info, name)
            check = functools.partial(public_key.verify, signature, signed, ecdsa)
    try:
        check()
    except InvalidSignature as exc:
        raise BadSignature("the signature does not match the signer's certificate") from exc


def unverified_content(data: _der.Buffer) -> memoryview:
    """The content of a ``SignedData`` **without checking its signature**: only for a message
    whose signature was verified before, by a caller that then checks what it reads against
    what that verification vouched for (the case store compares a bundle's manifest, and each
    file's SHA-256, with those admitted). A view into ``data`` when the content is in one
    piece (DER, as we write it), no copy of tens of megabytes."""
    parts = unverified_parts(data)
    return parts[0] if len(parts) == 1 else memoryview(b"".join(parts))


def unverified_parts(data: _der.Buffer) -> list[memoryview]:
    """:func:`unverified_content` as the views of its pieces (one for DER, one per segment
    for BER), for a caller that joins them where it wants."""
    return _parse(memoryview(data)).content


def verify_buffer(
    data: _der.Buffer,
    trust_roots: Sequence[x509.Certificate],
    *,
    now: datetime | None,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> Verified:
    """:func:`crypto.cms.verify` over any buffer (``open_sealed`` passes its plaintext)."""
    parsed = _parse(memoryview(data))
    signer_info = parsed.signer_info
    with parsing("signer identifier"):
        matches = [c for c in parsed.certificates if identifies(signer_info["sid"], c)]
    if not matches:
        raise MalformedMessage("the signer's certificate is not included in the message")
    signer = matches[0]
    signed, values = _signed_attributes(signer_info)
    with parsing("signed attributes"):
        content_type = _single(values, "content_type", required=True)
        expected = bytes(_single(values, "message_digest", required=True))
        signed_at = _single(values, "signing_time", required=False)
        if signed_at is not None and not isinstance(signed_at, datetime):
            raise MalformedMessage("the signing time is out of range")
        digest = hashlib.new(hash_named(signer_info["digest_algorithm"]["algorithm"].native).name)
    for part in parsed.content:
        digest.update(part)
    if content_type != "data":
        raise BadSignature("the signed content type does not match the content")
    if not hmac.compare_digest(digest.digest(), expected):
        raise BadSignature("the content does not match its signed digest")
    _check_signature(signer_info, signer, signed)
    checked_at = as_utc(now)
    if signed_at is not None:
        # Validate the certificate as it was when the message was signed, so that an old case
        # still opens after its author's certificate expired. A signing time ahead of our
        # clock (a workstation whose clock runs fast) proves nothing: our clock is used then.
        signed_at = as_utc(signed_at)
        checked_at = min(checked_at, signed_at)
    validate_certificate(signer, trust_roots, now=checked_at, purpose="sign", crls=crls)
    log.debug("verified a signature over %d bytes", sum(len(p) for p in parsed.content))
    others = tuple(c for c in parsed.certificates if c is not signer)
    return Verified(b"".join(parsed.content), signer, signed_at, others)
