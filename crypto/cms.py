"""Signed and encrypted messages (CMS, RFC 5652 / RFC 5083) for Passavant's case bundles.

A case travels *sealed*: signed by its author (:func:`sign`, a ``SignedData`` with the content
embedded), then encrypted to every recipient (:func:`encrypt`, an ``AuthEnvelopedData`` with
AES-256-GCM and RSA-OAEP key transport). The receiving side reverses both steps with
:func:`open_sealed`. The formats interoperate with ``openssl cms``.

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
from cryptography.hazmat.primitives.asymmetric import rsa

from crypto._enveloped import check_recipients, decrypt_buffer, encrypt_parts
from crypto._sign import sign
from crypto._verify import Verified, verify_buffer

__all__ = ["Verified", "decrypt", "encrypt", "open_sealed", "seal", "sign", "verify"]

log = logging.getLogger(__name__)


def verify(
    signed: bytes, trust_roots: Sequence[x509.Certificate], *, now: datetime | None = None
) -> Verified:
    """Verify a DER ``ContentInfo(SignedData)`` and return its content and signer.

    Checks the structure, the contentType and messageDigest signed attributes, the signature
    (RSASSA-PSS or PKCS#1 v1.5, SHA-2) over the DER of the signed attributes, then the
    signer's certificate against ``trust_roots`` at the signing time it asserts, or at ``now``
    when it asserts none or a later one. The signing time is the signer's claim, not a proof:
    a signature made with a valid key may be backdated by its holder.

    Args:
        signed: The DER message, with the content embedded (one signer).
        trust_roots: Trusted root CA certificates.
        now: Current time (default: the clock); naive means UTC.

    Raises:
        MalformedMessage: Not a SignedData, detached, several signers, unknown algorithm.
        BadSignature: The content or the signed attributes were altered.
        UntrustedSigner: The signer's certificate does not validate for signing.
    """
    return verify_buffer(signed, trust_roots, now=now)


def encrypt(content: bytes, recipients: Sequence[x509.Certificate]) -> bytes:
    """Encrypt ``content`` to every certificate in ``recipients``.

    Returns a DER ``ContentInfo(AuthEnvelopedData)``: AES-256-GCM with a 12-byte nonce and a
    16-byte tag (in ``mac``), one ``KeyTransRecipientInfo`` per recipient with RSAES-OAEP
    (SHA-256, MGF1-SHA-256), identified by issuer and serial number.

    Raises:
        ValueError: ``recipients`` is empty.
        InvalidRecipient: A certificate lacks keyEncipherment (e.g. a secretary's).
    """
    return b"".join(encrypt_parts(content, recipients))


def decrypt(
    enveloped: bytes, recipient_cert: x509.Certificate, recipient_key: rsa.RSAPrivateKey
) -> bytes:
    """Decrypt a DER ``ContentInfo(AuthEnvelopedData)`` addressed to ``recipient_cert``.

    Also reads what ``openssl cms -encrypt -aes-256-gcm`` writes with OAEP key transport
    (DER or streamed BER). PKCS#1 v1.5 key transport and non-GCM ciphers are refused.

    Raises:
        MalformedMessage: Not an AuthEnvelopedData, or an algorithm that is not accepted.
        NotARecipient: No recipient entry for ``recipient_cert``.
        DecryptionFailed: The key or the content was altered (GCM tag mismatch).
        ValueError: ``recipient_key`` does not belong to ``recipient_cert``.
    """
    return bytes(decrypt_buffer(enveloped, recipient_cert, recipient_key))


def seal(
    content: bytes,
    signer_cert: x509.Certificate,
    signer_key: rsa.RSAPrivateKey,
    recipients: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
) -> bytes:
    """``encrypt(sign(content))``: sign as the author, then encrypt to ``recipients``.

    Args:
        content: The bytes to protect.
        signer_cert: The author's certificate.
        signer_key: The author's private key.
        recipients: Who may open it (include the author to keep a readable copy).
        now: Signing time (default: current time).

    Raises:
        ValueError: No recipient, or a key that does not match its certificate.
        InvalidRecipient: A recipient certificate lacks keyEncipherment.
    """
    check_recipients(recipients)  # fail before the signature, not after
    signed = sign(content, signer_cert, signer_key, now=now)
    parts = encrypt_parts(signed, recipients)
    del signed  # the ciphertext chunks no longer need the signed plaintext
    return b"".join(parts)


def open_sealed(
    sealed: bytes,
    recipient_cert: x509.Certificate,
    recipient_key: rsa.RSAPrivateKey,
    trust_roots: Sequence[x509.Certificate],
    *,
    now: datetime | None = None,
) -> Verified:
    """``verify(decrypt(sealed))``: the errors of :func:`decrypt`, then of :func:`verify`."""
    plain = decrypt_buffer(sealed, recipient_cert, recipient_key)
    return verify_buffer(plain, trust_roots, now=now)
