"""Errors raised by the ``crypto`` package.

Every error carries a stable ``code`` class attribute that the user interface maps to a
plain-language sentence (see ``app/messages.py``). The codes are part of the public API:
never rename one. Messages are English, for logs and details-on-demand; they never contain
message content, only certificate names, sizes or structural facts.
"""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "CertificateExpired",
    "CertificateRevoked",
    "CryptoError",
    "DecryptionFailed",
    "InvalidRecipient",
    "MalformedMessage",
    "NotARecipient",
    "TruncatedMessage",
    "UntrustedSigner",
    "WrongPassphrase",
]


class CryptoError(Exception):
    """Base class of every error raised on purpose by the ``crypto`` package.

    Attributes:
        code: Stable machine-readable identifier of the error kind.
    """

    code: str = "crypto_error"


class WrongPassphrase(CryptoError):
    """The passphrase does not decrypt the private key file."""

    code = "wrong_passphrase"


class MalformedMessage(CryptoError):
    """The input is not a well-formed structure of the expected kind, or uses an
    algorithm Passavant does not accept (a corrupt key file also raises this)."""

    code = "malformed"


class TruncatedMessage(MalformedMessage):
    """The input ends before the structure it announces does: it was cut short (an
    interrupted download or copy). A subclass of :class:`MalformedMessage`, so that callers
    that only care about "unreadable" need not tell the two apart."""

    code = "truncated"


class NotARecipient(CryptoError):
    """The enveloped message has no recipient entry for the given certificate."""

    code = "not_a_recipient"


class DecryptionFailed(CryptoError):
    """Key unwrapping or authenticated decryption failed: the ciphertext, its
    authentication tag or the wrapped key was altered, or the private key is not the
    one the message was encrypted for."""

    code = "decryption_failed"


class BadSignature(CryptoError):
    """The content does not match its signed digest, or the signature does not verify
    with the signer's public key."""

    code = "bad_signature"


class UntrustedSigner(CryptoError):
    """The signer's certificate does not validate: it does not chain to a trusted root,
    is not yet valid, or lacks the key usage needed for signing (the more precise
    :class:`CertificateExpired` and :class:`CertificateRevoked` are subclasses)."""

    code = "untrusted_signer"


class CertificateExpired(UntrustedSigner):
    """The signer's certificate, or the certification authority that issued it, had
    expired at the time the message was checked for (its signing time, or now)."""

    code = "certificate_expired"


class CertificateRevoked(UntrustedSigner):
    """The signer's certificate is listed in a revocation list of its certification
    authority."""

    code = "certificate_revoked"


class InvalidRecipient(CryptoError):
    """A certificate cannot be used as an encryption recipient: it lacks the key usage its
    key type needs (keyEncipherment for RSA, keyAgreement for EC), holds an unsupported key,
    does not validate, has expired or was revoked."""

    code = "invalid_recipient"
