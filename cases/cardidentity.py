"""Card identities: a person who signs with a health professional's card (PKCS#11) and reads
with a software key.

A CPS card holds a signing key and its certificate, but no key to decrypt with. Such an
identity therefore pairs two certificates of the same person from the same CA (ARCHITECTURE.md,
"Card identities"):

* the card's **signing certificate** (``signing-cert.pem``), whose key never leaves the card:
  every bundle, receipt, opinion, withdrawal, draft and signed journal checkpoint is signed on
  the card (``crypto.pkcs11.TokenSigningKey``);
* the **encryption certificate** (``cert.pem``) and its software key (``key.pem``), to which
  requests and opinions are encrypted.

:func:`check_pairing` refuses two certificates that are not the same person's from the same
CA (same issuer name and authority key, same subject), a signing certificate without the
digitalSignature usage and an encryption certificate that cannot receive: when the identity
is registered and at each unlock.

The software key is bound to the card rather than to a passphrase: it is wrapped (scrypt and
AES, ``crypto.pki.save_private_key``) under the SHA-256 of the card's PKCS#1 v1.5 signature
of a fixed label and a random salt (``card.json``). That signature is deterministic, so the
card gives it back at each unlock, after its PIN; a thief of the profile without the card
faces 256 unknown bits (hence the light scrypt cost: no guessing to slow down). The PIN is
used for ``C_Login`` only: it is never written, and the card counts wrong PINs itself (the
profile's own delay after wrong passphrases does not apply).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from cases.profile import (
    ROLES,
    IdentityInfo,
    Profile,
    ProfileError,
    UnlockedIdentity,
)
from crypto import pki
from crypto.errors import CryptoError, WrongPassphrase
from crypto.pkcs11 import CardSlot, TokenSigningKey, open_signing_key
from outbox.spool import atomic_write, private_dir

__all__ = [
    "CARD_FILE",
    "SIGNING_CERT_FILE",
    "CardIdentityRefused",
    "CardPairingRefused",
    "add_card_identity",
    "can_sign",
    "card_identity_info",
    "card_ids",
    "card_slot",
    "check_card_identity",
    "check_pairing",
    "is_card_identity",
    "name_slug",
    "paired_reader",
    "unlock_card",
    "valid_identity_id",
]

log = logging.getLogger(__name__)

CARD_FILE = "card.json"
SIGNING_CERT_FILE = "signing-cert.pem"
_WRAP_LABEL = b"Passavant card-bound key wrapping, version 1\x00"
_SALT_BYTES = 32
_MAX_CARD_FILE = 4096


class CardIdentityRefused(ProfileError):
    """A card identity that cannot be made: ``code`` says why (see
    :func:`card_identity_info`)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"card identity refused ({code})")
        self.code = code


class CardPairingRefused(CryptoError):
    """The card's signing certificate and the encryption certificate are not one person's
    pair from one CA, or the card's key is not the signing certificate's. ``reason`` is one
    of ``issuer``, ``subject``, ``signing_usage``, ``encryption_usage``, ``card_key``."""

    code = "card_pairing"

    def __init__(self, reason: str) -> None:
        super().__init__(f"the card identity is not a valid pair ({reason})")
        self.reason = reason


def _authority_key(cert: x509.Certificate) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return None
    return value.key_identifier


def can_sign(cert: x509.Certificate) -> bool:
    """Whether the certificate's key usage allows signing (digitalSignature)."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return usage.digital_signature


def card_identity_info(
    profile: Profile,
    signing: x509.Certificate,
    *,
    name: str = "",
    role: str = "",
    identity_id: str = "",
) -> IdentityInfo:
    """The identity a card's signing certificate makes: its holder's name and role (the
    subject's CN and OU) unless given, the organisation (O), an id from the name unless
    given. Shared by ``passavant identity import`` and the app's card registration.

    Raises:
        CardIdentityRefused: ``card_role_missing`` (no role given nor in the certificate),
            ``identity_id_refused`` (no usable id), ``identity_exists``.
    """
    name = " ".join(name.split()) or pki.display_name(signing)
    role = role or pki.role_of(signing) or ""
    if role not in ROLES:
        raise CardIdentityRefused("card_role_missing")
    identity_id = identity_id or name_slug(name)
    if not valid_identity_id(identity_id):
        raise CardIdentityRefused("identity_id_refused")
    if (profile.identity_folder(identity_id) / "identity.json").exists():
        raise CardIdentityRefused("identity_exists")
    found = signing.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    organization = str(found[0].value) if found else ""
    return IdentityInfo(identity_id, name, role, organization)


def name_slug(name: str) -> str:
    """An identity id from a person's name (``""`` when nothing of it is usable)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64]


def valid_identity_id(identity_id: str) -> bool:
    """An identity id is a folder name and a platform mailbox: a plain token."""
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", identity_id)) and (
        ".." not in identity_id
    )


def check_pairing(signing: x509.Certificate, encryption: x509.Certificate) -> None:
    """Raise :class:`CardPairingRefused` unless both certificates are the same person's (same
    subject) from the same CA (same issuer, same authority key), ``signing`` may sign and
    ``encryption`` may receive encrypted content. Trust in that CA is checked apart
    (``crypto.pki.validate_certificate``)."""
    if signing.issuer != encryption.issuer or _authority_key(signing) != _authority_key(encryption):
        raise CardPairingRefused("issuer")
    if signing.subject != encryption.subject:
        raise CardPairingRefused("subject")
    if not can_sign(signing):
        raise CardPairingRefused("signing_usage")
    if not pki.can_decrypt(encryption):
        raise CardPairingRefused("encryption_usage")


_MAX_PAIRED = 4  # certificates looked at beside the signer's: a bounded cost per bundle


def paired_reader(
    signer: x509.Certificate,
    others: Sequence[x509.Certificate],
    trust_roots: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList] = (),
    *,
    now: datetime | None = None,
) -> str | None:
    """The fingerprint of the encryption certificate a card signer embedded beside its
    validated signing certificate (``others``, from ``crypto.cms.Verified``), when it is the
    signer's pair (:func:`check_pairing`) and validates for receiving; else ``None``. The
    rules of ``cases.speaking`` then count the signer as that recipient."""
    for other in others[:_MAX_PAIRED]:
        if other == signer:
            continue
        try:
            check_pairing(signer, other)
            pki.validate_certificate(other, trust_roots, purpose="encrypt", crls=crls, now=now)
        except (CryptoError, ValueError):
            continue
        return pki.fingerprint(other)
    return None


def is_card_identity(profile: Profile, identity_id: str) -> bool:
    """Whether ``identity_id`` signs with a card."""
    return (profile.identity_folder(identity_id) / CARD_FILE).is_file()


def card_ids(profile: Profile) -> frozenset[str]:
    """The identities of ``profile`` that sign with a card (the login page asks their PIN)."""
    return frozenset(i.id for i in profile.identities() if is_card_identity(profile, i.id))


def card_slot(profile: Profile, identity_id: str) -> CardSlot:
    """Where the identity's signing key is (module, token and key labels)."""
    return CardSlot(**{k: v for k, v in _card_file(profile, identity_id).items() if k != "salt"})


def _card_file(profile: Profile, identity_id: str) -> dict[str, str]:
    path = profile.identity_folder(identity_id) / CARD_FILE
    try:
        with path.open("rb") as handle:
            raw: Any = json.loads(handle.read(_MAX_CARD_FILE + 1)[:_MAX_CARD_FILE])
        fields = {k: raw[k] for k in ("module", "token_label", "key_label", "salt")}
        if not all(isinstance(v, str) and v for v in fields.values()):
            raise TypeError("a field is not a non-empty string")
        bytes.fromhex(fields["salt"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ProfileError(f"the card file of {identity_id} is unreadable") from exc
    return fields


def _wrapping_secret(key: TokenSigningKey, salt: bytes) -> bytes:
    """The key-wrapping secret only this card gives: SHA-256 of its deterministic PKCS#1 v1.5
    signature of the label and ``salt`` (hex, as a passphrase)."""
    signature = key.sign(_WRAP_LABEL + salt, padding.PKCS1v15(), hashes.SHA256())
    return hashlib.sha256(signature).hexdigest().encode("ascii")


def _check_card_key(key: TokenSigningKey, signing: x509.Certificate) -> None:
    if signing.public_key() != key.public_key():
        raise CardPairingRefused("card_key")


def check_card_identity(
    profile: Profile,
    info: IdentityInfo,
    signing_certificate: x509.Certificate,
    encryption_certificate: x509.Certificate,
    encryption_key: pki.PrivateKey,
) -> None:
    """What :func:`add_card_identity` checks before the card is asked anything (so that a
    registration bound to fail costs no PIN try); raises as it does."""
    if info.role not in ROLES:
        raise ProfileError(f"unknown role {info.role!r}")
    if (profile.identity_folder(info.id) / "identity.json").exists():
        raise ProfileError(f"the identity {info.id!r} exists already")
    check_pairing(signing_certificate, encryption_certificate)
    roots, crls = profile.trust_roots(), profile.crls()
    pki.validate_certificate(signing_certificate, roots, purpose="sign", crls=crls)
    pki.validate_certificate(encryption_certificate, roots, purpose="encrypt", crls=crls)
    if encryption_certificate.public_key() != encryption_key.public_key():
        raise ValueError("the encryption key does not belong to its certificate")


def add_card_identity(
    profile: Profile,
    info: IdentityInfo,
    slot: CardSlot,
    pin: str,
    signing_certificate: x509.Certificate,
    encryption_certificate: x509.Certificate,
    encryption_key: pki.PrivateKey,
) -> UnlockedIdentity:
    """Register a card identity (see the module's documentation) and return it unlocked.

    Both certificates must validate against the profile's trust store (for signing, for
    receiving), be a pair (:func:`check_pairing`), and the card's key must be the signing
    certificate's: nothing is written otherwise.

    Raises:
        CardPairingRefused: Not a pair, or another card.
        crypto.errors.UntrustedSigner (and its kinds): A certificate the trust store refuses.
        crypto.pkcs11.CardError: The card refused (PIN, absent, locked…).
        ProfileError: An unknown role, or the identity exists already.
        ValueError: ``encryption_key`` is not ``encryption_certificate``'s.
    """
    check_card_identity(profile, info, signing_certificate, encryption_certificate, encryption_key)
    folder = profile.identity_folder(info.id)
    key = open_signing_key(slot, pin)
    _check_card_key(key, signing_certificate)
    salt = os.urandom(_SALT_BYTES)
    secret = _wrapping_secret(key, salt)
    private_dir(folder)
    atomic_write(folder / "cert.pem", pki.cert_to_pem(encryption_certificate))
    atomic_write(folder / SIGNING_CERT_FILE, pki.cert_to_pem(signing_certificate))
    pki.save_private_key(folder / "key.pem", encryption_key, secret, wrapping=pki.LIGHT_WRAPPING)
    card = {
        "module": slot.module,
        "token_label": slot.token_label,
        "key_label": slot.key_label,
        "salt": salt.hex(),
    }
    atomic_write(folder / CARD_FILE, json.dumps(card, indent=1).encode("utf-8"))
    # identity.json last: until it exists, the folder is no identity
    atomic_write(folder / "identity.json", json.dumps(asdict(info), indent=1).encode())
    log.info("card identity %s registered (token %s)", info.id, slot.token_label)
    return UnlockedIdentity(info, encryption_certificate, encryption_key, signing_certificate, key)


def unlock_card(profile: Profile, identity_id: str, pin: bytes) -> UnlockedIdentity:
    """Open the card with ``pin``, check the pair again, unwrap the encryption key.

    Raises:
        crypto.pkcs11.CardError: The card refused (wrong PIN, absent, locked…).
        CardPairingRefused: The certificates are no longer a pair, or this is another card.
        crypto.errors.MalformedMessage: A damaged certificate or key file.
        ProfileError: No such identity, or an unreadable card file.
    """
    info = profile.identity(identity_id)
    card = _card_file(profile, identity_id)
    folder = profile.identity_folder(identity_id)
    signing = pki.load_cert_pem(_read(folder / SIGNING_CERT_FILE))
    encryption = pki.load_cert_pem(_read(folder / "cert.pem"))
    check_pairing(signing, encryption)
    key = open_signing_key(card_slot(profile, identity_id), pin.decode("utf-8", "replace"))
    _check_card_key(key, signing)
    secret = _wrapping_secret(key, bytes.fromhex(card["salt"]))
    try:
        decryption_key = pki.load_private_key(folder / "key.pem", secret, kind="any")
    except WrongPassphrase as exc:  # the signature changed: not the card it was bound to
        raise CardPairingRefused("card_key") from exc
    profile.restrict_permissions()
    log.info("card identity %s unlocked", identity_id)
    return UnlockedIdentity(info, encryption, decryption_key, signing, key)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{path.name} of a card identity is unreadable") from exc
