"""CMS SignedData (RFC 5652 §5) creation: RSASSA-PSS for an RSA key, ECDSA for an EC key
(RFC 5753 §2.1), SHA-256 either way.

Re-exported by :mod:`crypto.cms`; import it from there. The content is one in-memory buffer:
it is hashed in place and copied once, into the output, whose outer DER headers are written
around it by ``crypto._der``. Streaming is future work.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime

from asn1crypto import algos, cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from crypto import _der
from crypto._asn1 import asn1_certificate, issuer_and_serial
from crypto._certinfo import check_key_pair
from crypto._keys import PrivateKey
from crypto._time import as_utc

log = logging.getLogger(__name__)

PSS_SALT = 32
"""RSASSA-PSS salt length in bytes (the SHA-256 output size)."""

# Encoded once: asn1crypto is slow to build nested parameters from dicts, fast to embed
# already encoded values.
_PSS_ALGORITHM = algos.SignedDigestAlgorithm(
    {
        "algorithm": "rsassa_pss",
        "parameters": {
            "hash_algorithm": {"algorithm": "sha256"},
            "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
            "salt_length": PSS_SALT,
        },
    }
).dump()
_ECDSA_ALGORITHM = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).dump()


def _signature(key: PrivateKey, attributes: bytes) -> tuple[bytes, algos.SignedDigestAlgorithm]:
    """Sign the DER of the signed attributes; return the signature and its algorithm."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        # ecdsa-with-SHA256 with absent parameters (RFC 5758 §3.2); DER Ecdsa-Sig-Value.
        signature = key.sign(attributes, ec.ECDSA(hashes.SHA256()))
        return signature, algos.SignedDigestAlgorithm.load(_ECDSA_ALGORITHM)
    signature = key.sign(
        attributes,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=PSS_SALT),
        hashes.SHA256(),
    )
    return signature, algos.SignedDigestAlgorithm.load(_PSS_ALGORITHM)


def signer_parts(
    digest: bytes,
    signer_cert: x509.Certificate,
    signer_key: PrivateKey,
    now: datetime | None,
    extra_certificates: Sequence[x509.Certificate] = (),
) -> tuple[bytes, bytes]:
    """The DER ``certificates`` ([0] IMPLICIT CertificateSet) and ``signerInfos`` fields of a
    SignedData over content whose SHA-256 is ``digest`` (shared with ``crypto.stream``,
    which hashes the content as it streams). The caller checked the key pair."""
    when = as_utc(now).replace(microsecond=0)
    time_choice = "utc_time" if 1950 <= when.year < 2050 else "general_time"  # RFC 5652 §11.3
    attributes = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["data"]},
            {"type": "message_digest", "values": [digest]},
            {"type": "signing_time", "values": [cms.Time({time_choice: when})]},
        ]
    ).dump()  # DER: the SET OF is sorted, as RFC 5652 §5.4 requires
    signature, algorithm = _signature(signer_key, attributes)
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": {"issuer_and_serial_number": issuer_and_serial(signer_cert)},
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": cms.CMSAttributes.load(attributes),
            "signature_algorithm": algorithm,
            "signature": signature,
        }
    )
    certificates = cms.CertificateSet(
        [
            cms.CertificateChoices({"certificate": asn1_certificate(cert)})
            for cert in (signer_cert, *extra_certificates)
        ],
        implicit=0,
    )
    return certificates.dump(), cms.SignerInfos([signer_info]).dump()


def sign(
    content: bytes,
    signer_cert: x509.Certificate,
    signer_key: PrivateKey,
    *,
    now: datetime | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
) -> bytes:
    """Sign ``content`` into a DER ``ContentInfo(SignedData)`` with the content embedded.

    SHA-256 digest; signature over the contentType, messageDigest and signingTime signed
    attributes, RSASSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) for an RSA key or
    ecdsa-with-SHA256 for an EC key; the signer's certificate is embedded and identified by
    issuer and serial number.

    Args:
        content: The bytes to sign (copied once, into the output).
        signer_cert: The signer's certificate.
        signer_key: The matching private key (RSA or EC).
        now: The signing time to assert (default: current time).
        extra_certificates: Embedded after the signer's (a card identity's encryption
            certificate, which the reader pairs with the signer: ``cases.cardidentity``).

    Raises:
        ValueError: ``signer_key`` does not match ``signer_cert``.
    """
    check_key_pair(signer_cert, signer_key)
    certificates, signer_infos = signer_parts(
        hashlib.sha256(content).digest(), signer_cert, signer_key, now, extra_certificates
    )
    inner = _der.wrap(_der.context(0), _der.wrap(_der.OCTET_STRING, [content]))
    signed_data = [
        cms.CMSVersion("v1").dump(),
        cms.DigestAlgorithms([{"algorithm": "sha256"}]).dump(),
        *_der.wrap(_der.SEQUENCE, [cms.ContentType("data").dump(), *inner]),
        certificates,
        signer_infos,
    ]
    outer = [
        cms.ContentType("signed_data").dump(),
        *_der.wrap(_der.context(0), _der.wrap(_der.SEQUENCE, signed_data)),
    ]
    log.debug("signed %d bytes", len(content))
    return b"".join(_der.wrap(_der.SEQUENCE, outer))
