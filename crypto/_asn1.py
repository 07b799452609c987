"""asn1crypto glue shared by the CMS modules.

* Registers the AES-GCM parameters type (RFC 5084 ``GCMParameters``): asn1crypto 1.5.1 maps
  the id-aes*-GCM OIDs to names but gives their parameters no type. The registration uses
  the same mechanism asn1crypto's own ``tsp`` and ``pdf`` modules use to extend ``cms``.
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
from crypto._certinfo import extension
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
    """The pyca view of an asn1crypto certificate."""
    return x509.load_der_x509_certificate(value.dump())


def issuer_and_serial(cert: x509.Certificate) -> Any:
    """``IssuerAndSerialNumber`` identifying ``cert`` (signer or recipient identifier)."""
    asn1 = asn1_certificate(cert)
    return cms.IssuerAndSerialNumber({"issuer": asn1.issuer, "serial_number": asn1.serial_number})


def identifies(identifier: Any, cert: x509.Certificate) -> bool:
    """Whether a ``SignerIdentifier`` or ``RecipientIdentifier`` designates ``cert``.

    Both issuerAndSerialNumber and subjectKeyIdentifier forms are understood.
    """
    if identifier.name == "issuer_and_serial_number":
        chosen = identifier.chosen
        return bool(
            chosen["serial_number"].native == cert.serial_number
            and chosen["issuer"] == asn1_certificate(cert).issuer
        )
    if identifier.name == "subject_key_identifier":
        ski = extension(cert, x509.SubjectKeyIdentifier)
        return ski is not None and bytes(identifier.chosen.native) == ski.digest
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
