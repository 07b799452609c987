"""asn1crypto glue shared by the CMS modules.

* Registers the AES-GCM parameters type (RFC 5084 ``GCMParameters``): asn1crypto 1.5.1 maps
  the id-aes*-GCM OIDs to names but gives their parameters no type. The registration uses
  the same mechanism asn1crypto's own ``tsp`` and ``pdf`` modules use to extend ``cms``.
* Registers, the same way, the ECDH key-agreement schemes of RFC 5753 / RFC 8418
  (``dhSinglePass-stdDH-sha*kdf-scheme``, whose parameters are the key-wrap algorithm), and
  declares ``ECC-CMS-SharedInfo``, the KDF input of RFC 5753 §7.2.
* Converts between pyca certificates and asn1crypto structures.
* Maps asn1crypto's parsing exceptions to :class:`~crypto.errors.MalformedMessage`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from crypto import _der
from crypto._certinfo import extension, fully_parsed
from crypto.errors import MalformedMessage


class GcmParams(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``GCMParameters`` (RFC 5084 §3.2): the nonce and the ICV (tag) length in bytes."""

    _fields = [  # noqa: RUF012  # asn1crypto's declaration style
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


GCM_KEY_SIZES = {"aes128_gcm": 16, "aes192_gcm": 24, "aes256_gcm": 32}
"""Key size in bytes of each AES-GCM content-encryption algorithm, by asn1crypto name."""

for _name in GCM_KEY_SIZES:
    algos.EncryptionAlgorithm._oid_specs.setdefault(_name, GcmParams)

ECDH_SCHEMES = {
    "1.3.132.1.11.0": "dh_single_pass_std_dh_sha224kdf",
    "1.3.132.1.11.1": "dh_single_pass_std_dh_sha256kdf",
    "1.3.132.1.11.2": "dh_single_pass_std_dh_sha384kdf",
    "1.3.132.1.11.3": "dh_single_pass_std_dh_sha512kdf",
    "1.3.133.16.840.63.0.2": "dh_single_pass_std_dh_sha1kdf",
}
"""The RFC 5753 ``dhSinglePass-stdDH-*kdf-scheme`` OIDs, by the names registered for them."""

for _oid, _name in ECDH_SCHEMES.items():
    cms.KeyEncryptionAlgorithmId._map.setdefault(_oid, _name)
    cms.KeyEncryptionAlgorithmId._reverse_map.setdefault(_name, _oid)
    cms.KeyEncryptionAlgorithm._oid_specs.setdefault(_name, cms.KeyEncryptionAlgorithm)

WRAP_KEY_SIZES = {"aes128_wrap": 16, "aes192_wrap": 24, "aes256_wrap": 32}
"""Key size in bytes of each AES key-wrap algorithm (RFC 3394), by asn1crypto name."""


class EccCmsSharedInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``ECC-CMS-SharedInfo`` (RFC 5753 §7.2): the key-wrap algorithm, the optional user
    keying material and the key-encryption key's length in bits (4 bytes, big-endian)."""

    _fields = [  # noqa: RUF012  # asn1crypto's declaration style
        ("key_info", cms.KeyEncryptionAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_named(name: object) -> hashes.HashAlgorithm:
    """The pyca hash for an asn1crypto digest algorithm name (SHA-2 family only).

    Raises:
        MalformedMessage: Any other algorithm (SHA-1, MD5, … are refused).
    """
    factory = _HASHES.get(str(name))
    if factory is None:
        raise MalformedMessage(f"unsupported digest algorithm {name}")
    return factory()


@contextmanager
def parsing(what: str) -> Iterator[None]:
    """Turn asn1crypto's exceptions (raised lazily, on access) into ``MalformedMessage``."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise MalformedMessage(f"malformed {what}") from exc


def asn1_certificate(cert: x509.Certificate) -> Any:
    """The asn1crypto view of a pyca certificate."""
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def pyca_certificate(value: Any) -> x509.Certificate:
    """The pyca view of an asn1crypto certificate.

    Raises:
        MalformedMessage: Its serial number is not positive (RFC 5280 §4.1.2.2), which pyca
            only warns about today and will refuse, or its names or extensions do not parse.
        ValueError: pyca cannot load it (callers parse inside :func:`parsing`).
    """
    if value["tbs_certificate"]["serial_number"].native <= 0:
        raise MalformedMessage("a certificate's serial number is not positive")
    try:
        cert = x509.load_der_x509_certificate(value.dump())
    except x509.InvalidVersion as exc:  # not a ValueError
        raise MalformedMessage("a certificate has an invalid version") from exc
    return fully_parsed(cert)


def issuer_and_serial(cert: x509.Certificate) -> Any:
    """``IssuerAndSerialNumber`` identifying ``cert`` (signer or recipient identifier).

    Built from the certificate's own encodings of the two fields and parsed back, so that
    asn1crypto never re-encodes the issuer's name (which costs milliseconds per name).
    """
    tbs = asn1_certificate(cert)["tbs_certificate"]
    fields = [tbs["issuer"].dump(), tbs["serial_number"].dump()]
    return cms.IssuerAndSerialNumber.load(b"".join(_der.wrap(_der.SEQUENCE, fields)))


def identifies(identifier: Any, cert: x509.Certificate) -> bool:
    """Whether a ``SignerIdentifier``, ``RecipientIdentifier`` or
    ``KeyAgreeRecipientIdentifier`` designates ``cert``.

    The issuerAndSerialNumber, subjectKeyIdentifier and rKeyId forms are understood.
    """
    if identifier.name == "issuer_and_serial_number":
        chosen = identifier.chosen
        return bool(
            chosen["serial_number"].native == cert.serial_number
            and chosen["issuer"] == asn1_certificate(cert).issuer
        )
    if identifier.name in ("subject_key_identifier", "r_key_id"):
        chosen = identifier.chosen
        if identifier.name == "r_key_id":
            chosen = chosen["subject_key_identifier"]
        ski = extension(cert, x509.SubjectKeyIdentifier)
        return ski is not None and bytes(chosen.native) == ski.digest
    return False


def content_info(buf: memoryview, expected: str, name: str) -> _der.Fields:
    """Open a ``ContentInfo`` whose content type is ``expected`` (an asn1crypto name).

    Returns the fields of its content, a SEQUENCE called ``name`` in error messages, as views
    into ``buf``: the payload is not copied.

    Raises:
        MalformedMessage: Not a ContentInfo, or another content type.
    """
    top = _der.Fields(buf, _der.read_whole(buf, _der.SEQUENCE), "ContentInfo")
    kind_field = top.take(_der.OID)
    explicit = top.take(_der.context(0))
    top.end()
    with parsing("content type"):
        kind = cms.ContentType.load(_der.element_bytes(buf, kind_field)).native
    if kind != expected:
        raise MalformedMessage(f"expected {expected.replace('_', ' ')}, found {kind}")
    wrapper = _der.Fields(buf, explicit, "ContentInfo")
    fields = _der.Fields(buf, wrapper.take(_der.SEQUENCE), name)
    wrapper.end()
    return fields
