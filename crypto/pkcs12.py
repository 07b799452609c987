"""PKCS#12 (``.p12``) files: an identity's key, certificate and chain in one protected file.

This is how an identity moves between Passavant and the outside world (a hospital's PKI, a
smart-card tool, ``openssl pkcs12``). Exports use the strong profile only: the key and the
certificates are encrypted with PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) and the file's MAC
uses HMAC-SHA-256; never the legacy RC2/3DES/SHA-1 profile. Imports accept what OpenSSL 3
writes by default (that same profile) and older files pyca can still read.

RSA and EC (P-256, P-384, P-521) keys are supported.
"""

from __future__ import annotations

import logging

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

from crypto._keys import PrivateKey
from crypto.errors import MalformedMessage, WrongPassphrase

__all__ = ["KDF_ROUNDS", "PrivateKey", "export_pkcs12", "import_pkcs12"]

log = logging.getLogger(__name__)


KDF_ROUNDS = 600_000
"""PBKDF2 iterations for the key and certificate encryption (OWASP 2023 figure for SHA-256)."""

_MAX_SIZE = 1 << 20  # a .p12 holds a key and a few certificates: a few kilobytes


def export_pkcs12(
    key: PrivateKey,
    cert: x509.Certificate,
    chain: list[x509.Certificate],
    passphrase: bytes,
    name: str,
) -> bytes:
    """Serialise an identity as a passphrase-protected PKCS#12 file.

    Args:
        key: The identity's private key (RSA or EC); it must belong to ``cert``.
        cert: The identity's certificate.
        chain: The issuing CA certificates, to let the importer rebuild the chain (may be empty).
        passphrase: Non-empty passphrase protecting the key, the certificates and the MAC.
        name: Friendly name stored with the key and certificate (e.g. the person's name).

    Returns:
        The DER bytes of the PFX: PBES2 (PBKDF2-SHA-256, AES-256-CBC) for the key and the
        certificates, HMAC-SHA-256 for the integrity MAC.

    Raises:
        ValueError: Empty passphrase, or a key that does not belong to ``cert``.
    """
    if not passphrase:
        raise ValueError("a PKCS#12 export needs a non-empty passphrase")
    if cert.public_key() != key.public_key():
        raise ValueError("the private key does not belong to the certificate")
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase)
    )
    data = pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), key, cert, list(chain) or None, encryption
    )
    log.info("exported a PKCS#12 file (%d bytes, %d chain certificates)", len(data), len(chain))
    return data


def import_pkcs12(
    data: bytes, passphrase: bytes
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """Read a PKCS#12 file holding one private key and its certificate.

    The PFX structure is parsed first, so that a damaged or foreign file is told apart from a
    wrong passphrase. A file whose encrypted parts were altered but whose structure is intact
    fails its MAC exactly like a wrong passphrase does, and raises :class:`WrongPassphrase`.

    Args:
        data: The DER bytes of the file.
        passphrase: Its passphrase (``b""`` for a file protected by an empty one).

    Returns:
        ``(key, certificate, chain)``: the chain is every other certificate of the file.

    Raises:
        WrongPassphrase: The passphrase does not open the file.
        MalformedMessage: Not a PKCS#12 file, no private key or certificate in it, a key of
            another type than RSA or EC, or a key that does not match the certificate.
    """
    _check_structure(data)
    loaded = _load(data, passphrase)
    key = loaded.key
    if loaded.cert is None or key is None:
        raise MalformedMessage("the PKCS#12 file lacks a private key or a certificate")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise MalformedMessage(f"unsupported private key type {type(key).__name__}")
    cert = loaded.cert.certificate
    if cert.public_key() != key.public_key():
        raise MalformedMessage("the PKCS#12 file's key does not belong to its certificate")
    chain = [extra.certificate for extra in loaded.additional_certs]
    log.info("imported a PKCS#12 file (%d chain certificates)", len(chain))
    return key, cert, chain


def _check_structure(data: bytes) -> None:
    if not data or len(data) > _MAX_SIZE:
        raise MalformedMessage(f"not a PKCS#12 file ({len(data)} bytes)")
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        if pfx["version"].native != "v3":
            raise MalformedMessage("unsupported PKCS#12 version")
        if pfx["auth_safe"]["content_type"].native not in ("data", "signed_data"):
            raise MalformedMessage("the PKCS#12 file's content is not data")
        _ = pfx.native  # forces a full parse of the outer structure
    except MalformedMessage:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise MalformedMessage("not a PKCS#12 file") from exc


def _load(data: bytes, passphrase: bytes) -> pkcs12.PKCS12KeyAndCertificates:
    # OpenSSL writes "no passphrase" both as an empty password and as no password at all.
    attempts: list[bytes | None] = [passphrase] if passphrase else [b"", None]
    for password in attempts:
        try:
            return pkcs12.load_pkcs12(data, password)
        except ValueError:
            continue
        except TypeError as exc:  # pyca's way of saying "encrypted, but no password given"
            raise WrongPassphrase("the PKCS#12 file needs a passphrase") from exc
    raise WrongPassphrase("the passphrase does not open this PKCS#12 file")
