"""What a profile hands out about its people: who may log in at the workstation
(:class:`IdentityInfo`), an identity unlocked for a session (:class:`UnlockedIdentity`), and
the profile's errors. :class:`cases.profile.Profile` makes them; its module re-exports every
name here, so ``from cases.profile import UnlockedIdentity`` keeps working.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cryptography import x509

from crypto import pki

__all__ = [
    "IdentityInfo",
    "ProfileError",
    "UnlockDelayed",
    "UnlockedIdentity",
    "passphrase_names",
]


class ProfileError(Exception):
    """The profile directory is missing, incomplete or unreadable."""

    code = "profile_error"


class UnlockDelayed(ProfileError):
    """Too many wrong passphrases: this identity cannot be unlocked for ``seconds_left`` more
    seconds (the passphrase was not tried; ``cases.attempts``). ``seconds`` is that, rounded
    up, to show. A :class:`ProfileError`, so that whoever shows those shows this one too."""

    code = "unlock_delayed"

    def __init__(self, identity_id: str, seconds_left: float) -> None:
        super().__init__(f"unlocking {identity_id} is delayed {seconds_left:.1f} s more")
        self.identity_id = identity_id
        self.seconds_left = seconds_left

    @property
    def seconds(self) -> int:
        return max(1, math.ceil(self.seconds_left))


@dataclass(frozen=True)
class IdentityInfo:
    """Who may log in at this workstation. ``id`` is also the person's platform mailbox;
    ``rpps`` a health professional's RPPS number (11 digits), signed into their requests and
    opinions for the tele-expertise act (``cases.acts``)."""

    id: str
    display_name: str
    role: str
    organization: str
    specialty: str | None = None
    rpps: str | None = None


def passphrase_names(info: IdentityInfo) -> tuple[str, ...]:
    """What the identity's passphrase must not be (``crypto.passphrase.check_passphrase``'s
    ``names``): its id and its display name."""
    return (info.id, info.display_name)


@dataclass(frozen=True)
class UnlockedIdentity:
    """An identity whose private key is unlocked for this session (memory only).

    ``certificate`` and ``key`` read what is encrypted to the person (and, for a software
    identity, sign too). A card identity (``cases.cardidentity``) signs with
    ``signing_certificate`` and ``signing_key``, a key on the card: always sign with
    :attr:`signer_certificate` and :attr:`signer_key`. :attr:`fingerprint` is the signer's
    (the person as author: a bundle's sender), :attr:`reader_fingerprint` the reading
    certificate's (a bundle's recipient); both are the same for a software identity."""

    info: IdentityInfo
    certificate: x509.Certificate
    key: pki.PrivateKey
    signing_certificate: x509.Certificate | None = None
    signing_key: pki.PrivateKey | None = None

    @property
    def signer_certificate(self) -> x509.Certificate:
        return self.certificate if self.signing_certificate is None else self.signing_certificate

    @property
    def signer_key(self) -> pki.PrivateKey:
        return self.key if self.signing_key is None else self.signing_key

    @property
    def signer_extras(self) -> tuple[x509.Certificate, ...]:
        """What a signature embeds beside the signer's certificate: a card identity's
        reading certificate, so that others pair it with the card's
        (``cases.cardidentity.paired_reader``)."""
        return () if self.signing_certificate is None else (self.certificate,)

    @property
    def fingerprint(self) -> str:
        return pki.fingerprint(self.signer_certificate)

    @property
    def reader_fingerprint(self) -> str:
        return pki.fingerprint(self.certificate)
