"""Registering a card identity from what a token shows (the app's card screen,
``widgets.cardsetup``): the signing certificate picked among the token's, the encryption key
and certificate from a PKCS#12 file, the PIN typed once.

Everything that can refuse without the card is checked first (the identity's name, role
and id, the pairing, trust in both certificates), so that a registration bound to fail
costs no PIN try; then the card is logged in to find the certificate's key and to bind the
encryption key to it (``cases.cardidentity.add_card_identity``). The card is logged out
afterwards: the person logs in from the login page, with the PIN, like every day.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509

from cases.cardidentity import (
    CardIdentityRefused,
    add_card_identity,
    card_identity_info,
    check_card_identity,
)
from cases.profile import IdentityInfo, Profile
from crypto import audit, pki
from crypto.pkcs11 import CardSlot, TokenSigningKey
from crypto.pkcs11_tokens import signing_key_label
from crypto.pkcs12 import import_pkcs12

__all__ = ["MAX_ENCRYPTION_FILE", "read_encryption_file", "register_from_token"]

log = logging.getLogger(__name__)

MAX_ENCRYPTION_FILE = 1 << 20
"""A PKCS#12 file holds a key and a few certificates: a few kilobytes (``crypto.pkcs12``
refuses more than this)."""


def read_encryption_file(path: Path, passphrase: bytes) -> tuple[pki.PrivateKey, x509.Certificate]:
    """The key and certificate of a PKCS#12 file (read up to one byte past the limit).

    Raises:
        CardIdentityRefused: ``file_unreadable``.
        crypto.errors.WrongPassphrase, crypto.errors.MalformedMessage: As ``import_pkcs12``.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_ENCRYPTION_FILE + 1)
    except OSError as exc:
        raise CardIdentityRefused("file_unreadable") from exc
    key, certificate, _chain = import_pkcs12(data, passphrase)
    return key, certificate


def register_from_token(
    profile: Profile,
    module: str,
    token_label: str,
    pin: str,
    signing: x509.Certificate,
    encryption: tuple[pki.PrivateKey, x509.Certificate],
    *,
    name: str = "",
    role: str = "",
    identity_id: str = "",
) -> IdentityInfo:
    """Register the card identity whose signing certificate is ``signing`` (on the token
    ``token_label`` of ``module``), reading with ``encryption``; journal it; log out.

    Raises:
        CardIdentityRefused: No role, an id refused or taken (``card_identity_info``).
        CardPairingRefused, crypto.errors.UntrustedSigner: As ``add_card_identity``.
        crypto.pkcs11.CardError: The card refused or went away; ``CardKeyMissing`` when
            none of its keys is the certificate's.
    """
    key, certificate = encryption
    info = card_identity_info(profile, signing, name=name, role=role, identity_id=identity_id)
    check_card_identity(profile, info, signing, certificate, key)
    key_label = signing_key_label(module, token_label, pin, signing)
    slot = CardSlot(module, token_label, key_label)
    me = add_card_identity(profile, info, slot, pin, signing, certificate, key)
    try:
        audit.append(
            profile.audit_path,
            "identity_imported",
            actor=info.id,
            details={"fingerprint": pki.fingerprint(signing), "role": info.role, "key": "card"},
        )
    finally:
        if isinstance(me.signer_key, TokenSigningKey):
            me.signer_key.close()  # log out: the login page asks the PIN again
    log.info("card identity %s registered from the app", info.id)
    return info
