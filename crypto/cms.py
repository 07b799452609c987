"""Signed and encrypted messages (CMS, RFC 5652 / RFC 5083) for Passavant's case bundles.

A case travels *sealed*: signed by its author (:func:`sign`, a ``SignedData`` with the content
embedded; RSASSA-PSS for an RSA key, ECDSA for an EC key), then encrypted to every recipient
(:func:`encrypt`, an ``AuthEnvelopedData`` with AES-256-GCM; RSA-OAEP key transport for an
RSA recipient, ECDH key agreement per RFC 5753 for an EC one). The receiving side reverses
both steps with :func:`open_sealed`, checking the signer against trust roots and, when
given, revocation lists. The formats interoperate with ``openssl cms``.

Memory: every function works on whole in-memory buffers (bundles are tens of megabytes).
The large payload is never copied needlessly: the outer DER headers are written and read
around it without re-slicing it (see ``crypto._der``), so sealing costs about one copy of the
content for the signed message and one for the encrypted output (plus 1 MiB work chunks),
and opening one plaintext buffer plus the returned content. Streaming is future work.

Note that sign-then-encrypt alone does not bind the recipients to the signature
("surreptitious forwarding"): callers put the intended recipients in the signed content.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from cryptography import x509

from crypto._enveloped import check_recipients, decrypt_buffer, encrypt_parts
from crypto._keys import PrivateKey
from crypto._sign import sign
from crypto._verify import Verified, unverified_content, verify_buffer

__all__ = [
    "Verified",
    "decrypt",
    "encrypt",
    "open_sealed",
    "reopen_content",
    "seal",
    "sign",
    "verify",
]

log = logging.getLogger(__name__)


def verify(
    signed: bytes,
    trust_roots: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> Verified:
    """Verify a DER ``ContentInfo(SignedData)`` and return its content and signer.

    Checks the structure, the contentType and messageDigest signed attributes, the signature
    (RSASSA-PSS or PKCS#1 v1.5 for RSA, ECDSA for EC; SHA-2) over the DER of the signed
    attributes, then the signer's certificate against ``trust_roots`` (chain, validity,
    digitalSignature and emailProtection usages) at the signing time it asserts, or at
    ``now`` when it asserts none or a later one, and against ``crls``. The signing time is
    the signer's claim, not a proof: a signature made with a valid key may be backdated by
    its holder, which is why a revoked signer is refused whatever the signing time.

    Args:
        signed: The DER message, with the content embedded (one signer).
        trust_roots: Trusted root CA certificates.
        now: Current time (default: the clock); naive means UTC.
        crls: Revocation lists of the trusted CAs (see
            :func:`crypto.pki.validate_certificate` for how they are used).

    Raises:
        TruncatedMessage: The message was cut short.
        MalformedMessage: Not a SignedData, detached, several signers, unknown algorithm.
        BadSignature: The content or the signed attributes were altered.
        CertificateExpired: The signer's certificate (or its CA) had expired at that time.
        CertificateRevoked: A revocation list of its CA lists the signer's certificate.
        UntrustedSigner: The signer's certificate does not validate for signing otherwise.
    """
    return verify_buffer(signed, trust_roots, now=now, crls=crls)


def encrypt(content: bytes, recipients: Sequence[x509.Certificate]) -> bytes:
    """Encrypt ``content`` to every certificate in ``recipients``.

    Returns a DER ``ContentInfo(AuthEnvelopedData)``: AES-256-GCM with a 12-byte nonce and a
    16-byte tag (in ``mac``), and per recipient, identified by issuer and serial number,
    either a ``KeyTransRecipientInfo`` with RSAES-OAEP (SHA-256, MGF1-SHA-256) for an RSA
    certificate, or a ``KeyAgreeRecipientInfo`` for an EC one: ephemeral-static ECDH,
    ``dhSinglePass-stdDH-sha256kdf-scheme`` (X9.63 KDF over ``ECC-CMS-SharedInfo``) and
    ``id-aes256-wrap`` (RFC 5753).

    Raises:
        ValueError: ``recipients`` is empty.
        InvalidRecipient: A certificate lacks keyEncipherment (RSA) or keyAgreement (EC),
            e.g. a secretary's, or holds an unsupported key.
    """
    return b"".join(encrypt_parts(content, recipients))


def decrypt(enveloped: bytes, recipient_cert: x509.Certificate, recipient_key: PrivateKey) -> bytes:
    """Decrypt a DER ``ContentInfo(AuthEnvelopedData)`` addressed to ``recipient_cert``.

    ``recipient_key`` is RSA (the message must carry a key-transport entry for the
    certificate) or EC (a key-agreement entry). Also reads what
    ``openssl cms -encrypt -aes-256-gcm`` writes (DER or streamed BER) with OAEP key
    transport, or with ECDH and ``-keyopt ecdh_kdf_md:sha256``. PKCS#1 v1.5 key transport,
    the SHA-1 KDF (openssl's ECDH default) and non-GCM ciphers are refused.

    Raises:
        TruncatedMessage: The message was cut short.
        MalformedMessage: Not an AuthEnvelopedData, or an algorithm that is not accepted.
        NotARecipient: No recipient entry for ``recipient_cert``.
        DecryptionFailed: The key or the content was altered (GCM tag mismatch).
        ValueError: ``recipient_key`` does not belong to ``recipient_cert``.
    """
    return bytes(decrypt_buffer(enveloped, recipient_cert, recipient_key))


def seal(
    content: bytes,
    signer_cert: x509.Certificate,
    signer_key: PrivateKey,
    recipients: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    extra_certificates: Sequence[x509.Certificate] = (),
) -> bytes:
    """``encrypt(sign(content))``: sign as the author, then encrypt to ``recipients``.

    Args:
        content: The bytes to protect.
        signer_cert: The author's certificate.
        signer_key: The author's private key (RSA or EC).
        recipients: Who may open it, RSA and EC certificates mixed freely (include the
            author, or the unit's archive, to keep a readable copy).
        now: Signing time (default: current time).
        extra_certificates: Embedded beside the signer's (see :func:`sign`).

    Raises:
        ValueError: No recipient, or a key that does not match its certificate.
        InvalidRecipient: A recipient certificate cannot receive encrypted content.
    """
    check_recipients(recipients)  # fail before the signature, not after
    signed = sign(content, signer_cert, signer_key, now=now, extra_certificates=extra_certificates)
    parts = encrypt_parts(signed, recipients)
    del signed  # the ciphertext chunks no longer need the signed plaintext
    return b"".join(parts)


def reopen_content(
    sealed: bytes, recipient_cert: x509.Certificate, recipient_key: PrivateKey
) -> memoryview:
    """Decrypt a sealed message opened and verified before, and return its signed content
    **without verifying the signature again** (the GCM tag still authenticates the
    ciphertext). The caller must check what it reads against what the first verification
    vouched for: anybody who can encrypt to the recipient could have replaced the file.

    Raises: the errors of :func:`decrypt`; ``MalformedMessage`` for a damaged SignedData.
    """
    return unverified_content(decrypt_buffer(sealed, recipient_cert, recipient_key))


def open_sealed(
    sealed: bytes,
    recipient_cert: x509.Certificate,
    recipient_key: PrivateKey,
    trust_roots: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> Verified:
    """``verify(decrypt(sealed))``: the errors of :func:`decrypt`, then of :func:`verify`
    (with ``now`` and ``crls``)."""
    plain = decrypt_buffer(sealed, recipient_cert, recipient_key)
    return verify_buffer(plain, trust_roots, now=now, crls=crls)
