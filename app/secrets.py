"""Remember an identity's passphrase in the system keyring, when there is one.

On a headless box (and on CI) keyring's active backend refuses to store anything: we then
say so plainly and ask for the passphrase at every login. We never fall back to a file.
"""

from __future__ import annotations

import contextlib
import logging

import keyring
from keyring.errors import KeyringError

log = logging.getLogger(__name__)
SERVICE = "passavant"


def _account(station_id: str, identity_id: str) -> str:
    return f"{station_id}/{identity_id}"


def recall(station_id: str, identity_id: str) -> str | None:
    """The remembered passphrase, or None (none stored, or no keyring here)."""
    try:
        return keyring.get_password(SERVICE, _account(station_id, identity_id))
    except KeyringError:
        return None


def remember(station_id: str, identity_id: str, passphrase: str) -> bool:
    """Store the passphrase; False when this machine has no usable keyring."""
    try:
        keyring.set_password(SERVICE, _account(station_id, identity_id), passphrase)
    except KeyringError as exc:
        log.info("no keyring available: %s", type(exc).__name__)
        return False
    return True


def forget(station_id: str, identity_id: str) -> None:
    with contextlib.suppress(KeyringError):
        keyring.delete_password(SERVICE, _account(station_id, identity_id))
