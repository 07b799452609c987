"""A profile is one workstation's data directory.

Layout::

    PROFILE/
      profile.json        station id, platform URL, language, demo flag (no secret)
      station.token       the platform token of this workstation (mode 0600), when the
                          machine has no system keyring (else it is in the keyring)
      trust/ca.pem        the certificate authorities this workstation trusts
      trust/ca-*.pem pinned-*.pem *.crl   CAs, pinned certificates, CRLs added later
      addressbook.json    contacts one can seal bundles for, with their certificates
      audit.jsonl         the hash-chained audit journal (ids and fingerprints only)
      audit.anchors.json  the last checkpoints the platform kept of it (a copy, no proof)
      identities/<id>/    identity.json, cert.pem, key.pem (PKCS#8 under a passphrase:
                          scrypt, about one second per guess; ``crypto.pki``)
      passavant.sqlite    outbox, inbox and archive indexes, wrong-passphrase counts (no
                          clinical content)
      outbox/ inbox/ archive/   sealed bundles: ciphertext only
      index/<id>.sqlite   each person's case index (records sealed: ``cases.index``)
      drafts/<id>/        drafts sealed to their author, named by a keyed hash (names.key)
      logs/               rotating log, never a patient detail

Several profiles can live side by side on one machine (``passavant --profile DIR``).

Everything in a profile is its owner's only: files are created mode 0600 and folders 0700
(``outbox.spool.private_dir``, ``private_file``, ``atomic_write``), and each successful
unlock takes group and other permissions off whatever a writer outside the core, or an older
version, left (:meth:`Profile.restrict_permissions`).

Unlocking (:meth:`Profile.unlock`) is where an identity's protection is kept up to date: a
key wrapped the old way (PBKDF2 at 2,048 rounds) is re-wrapped with scrypt, atomically, with
the passphrase that has just unlocked it; wrong passphrases are counted and start a growing
delay (``cases.attempts``). New passphrases must pass ``crypto.passphrase``'s policy.

The records a profile hands out (:class:`IdentityInfo`, :class:`UnlockedIdentity`) and its
errors live in :mod:`cases.profileidentity`, re-exported here.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keyring
from cryptography import x509
from keyring.errors import KeyringError

from cases.attempts import FailedUnlocks
from cases.profileidentity import (
    IdentityInfo,
    ProfileError,
    UnlockDelayed,
    UnlockedIdentity,
    passphrase_names,
)
from cases.trust import TrustStore
from crypto import pki
from crypto.errors import MalformedMessage, WrongPassphrase
from crypto.passphrase import DEMO_PASSPHRASE, PassphraseRefused, require_passphrase
from outbox.platform import PlatformConfig
from outbox.spool import atomic_write, private_dir, private_file  # files 0600, folders 0700

__all__ = [
    "KEYRING_SERVICE",
    "PROFILE_VERSION",
    "ROLES",
    "IdentityInfo",
    "PassphraseRefused",
    "Profile",
    "ProfileError",
    "UnlockDelayed",
    "UnlockedIdentity",
    "passphrase_names",
]

PROFILE_VERSION = 1
ROLES = ("doctor", "secretary", "specialist", "unit")  # unit: the unit archive identity
KEYRING_SERVICE = "passavant"

log = logging.getLogger(__name__)


class Profile:
    """Access to one workstation's data directory."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        """Open the profile in ``root`` (nothing is written). ``clock`` gives wall-clock
        seconds to the delay after wrong passphrases (injectable for tests)."""
        self.root = root
        self.unlock_failures = FailedUnlocks(root / "passavant.sqlite", clock=clock)
        self._config: dict[str, Any] = {}
        if self.config_path.exists():
            try:
                self._config = json.loads(self.config_path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise ProfileError(f"cannot read {self.config_path}: {exc}") from exc

    # --- creation -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: Path,
        *,
        station_id: str,
        platform_url: str,
        token: str,
        ca_pem: bytes,
        demo: bool = False,
        language: str = "fr",
        token_in_keyring: bool | None = None,
    ) -> Profile:
        """Create a profile. The station token goes to the system keyring when there is one
        (``token_in_keyring=None``), except for the demo, whose profiles are plain folders;
        ``False`` keeps it in the 0600 file (e.g. for a profile shared with another process
        that has no access to this session's keyring). The profile's folders are mode 0700
        (``root`` too, if it existed) and its files 0600."""
        private_dir(root)
        if os.name == "posix":
            os.chmod(root, 0o700)
        atomic_write(root / "trust" / "ca.pem", ca_pem)
        private_file(root / "passavant.sqlite")  # whoever connects first, it is 0600
        profile = cls(root)
        profile._config = {
            "version": PROFILE_VERSION,
            "station_id": station_id,
            "platform_url": platform_url,
            "demo": demo,
            "language": language,
        }
        profile._save()
        use_keyring = (not demo) if token_in_keyring is None else token_in_keyring
        profile.store_token(token, use_keyring=use_keyring)
        return profile

    def add_identity(
        self,
        info: IdentityInfo,
        certificate: x509.Certificate,
        key: pki.PrivateKey,
        passphrase: bytes,
    ) -> None:
        """Store an identity: its certificate, and its key wrapped under ``passphrase``.

        Raises:
            PassphraseRefused: ``passphrase`` does not pass ``crypto.passphrase``'s policy
                (its ``problems`` say why); nothing is written.
            ProfileError: An unknown role.
        """
        if info.role not in ROLES:
            raise ProfileError(f"unknown role {info.role!r}")
        self.check_new_passphrase(passphrase, passphrase_names(info))
        folder = private_dir(self.identity_folder(info.id))
        atomic_write(folder / "cert.pem", pki.cert_to_pem(certificate))
        pki.save_private_key(
            folder / "key.pem", key, passphrase, wrapping=self._wrapping_for(passphrase)
        )
        atomic_write(folder / "identity.json", json.dumps(asdict(info), indent=1).encode())

    def check_new_passphrase(self, passphrase: bytes, names: tuple[str, ...] = ()) -> None:
        """Raise :class:`PassphraseRefused` unless ``passphrase`` may protect a key of this
        profile (``crypto.passphrase``: the demonstration's passphrase only in a demo
        profile)."""
        require_passphrase(passphrase.decode("utf-8", "replace"), demo=self.demo, names=names)

    def _wrapping_for(self, passphrase: bytes) -> pki.KeyWrapping:
        """The demonstration's public passphrase, in a demo profile, buys nothing from a slow
        KDF: it gets the light one (the demo and its tests unlock often). Any other: the full
        cost."""
        if self.demo and passphrase == DEMO_PASSPHRASE.encode():
            return pki.LIGHT_WRAPPING
        return pki.KEY_WRAPPING

    # --- reading --------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "profile.json"

    def exists(self) -> bool:
        return self.config_path.exists()

    @property
    def station_id(self) -> str:
        return str(self._config.get("station_id", ""))

    @property
    def platform_url(self) -> str:
        return str(self._config.get("platform_url", ""))

    @property
    def demo(self) -> bool:
        return bool(self._config.get("demo", False))

    @property
    def language(self) -> str:
        return str(self._config.get("language", "fr"))

    def set_platform_url(self, url: str) -> None:
        self._config["platform_url"] = url
        self._save()

    def set_language(self, language: str) -> None:
        self._config["language"] = language
        self._save()

    @property
    def ca_file(self) -> Path:
        return self.root / "trust" / "ca.pem"

    def trust_store(self) -> TrustStore:
        return TrustStore(self.root / "trust")

    def trust_roots(self) -> list[x509.Certificate]:
        """Every trust anchor: the profile's CAs and pinned certificates (``cases.trust``)."""
        return list(self.trust_store().anchors())

    def crls(self) -> list[x509.CertificateRevocationList]:
        return list(self.trust_store().crls())

    @property
    def archive_file(self) -> Path:
        return self.root / "trust" / "archive.pem"

    def archive_certificate(self) -> x509.Certificate | None:
        """The unit's archive certificate: every request is also sealed to it, so that the
        unit can reread its own cases when the doctor who sent them has left. Its private key
        is kept away from the workstation (in the unit's safe), never in this profile."""
        try:
            return pki.load_cert_pem(self.archive_file.read_bytes())
        except FileNotFoundError:
            return None

    def set_archive_certificate(self, certificate: x509.Certificate) -> None:
        pki.validate_certificate(certificate, self.trust_roots(), purpose="encrypt")
        atomic_write(self.archive_file, pki.cert_to_pem(certificate))

    @property
    def token_file(self) -> Path:
        return self.root / "station.token"

    @property
    def token_account(self) -> str:
        """The station token's account in the system keyring (service ``passavant``)."""
        return f"{self.station_id}/station-token"

    def store_token(self, token: str, *, use_keyring: bool = True) -> str:
        """Keep the platform token: in the system keyring when there is one, else in a mode
        0600 file of the profile. Returns where (``"keyring"`` or ``"file"``)."""
        if use_keyring:
            try:
                keyring.set_password(KEYRING_SERVICE, self.token_account, token)
            except KeyringError as exc:
                log.info("no keyring for the station token (%s): kept in a 0600 file", exc)
            else:
                self.token_file.unlink(missing_ok=True)
                return "keyring"
        atomic_write(self.token_file, token.encode("ascii"))
        return "file"

    def station_token(self) -> str:
        """The platform token: from the keyring when it holds one, else the profile's file."""
        try:
            stored = keyring.get_password(KEYRING_SERVICE, self.token_account)
        except KeyringError:
            stored = None
        if stored:
            return str(stored)
        try:
            return self.token_file.read_text("ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"no station token for {self.root}") from exc

    def platform_config(self) -> PlatformConfig:
        ca = self.ca_file if self.platform_url.startswith("https:") else None
        return PlatformConfig(url=self.platform_url, token=self.station_token(), ca_file=ca)

    def identities(self) -> list[IdentityInfo]:
        found = []
        for path in sorted((self.root / "identities").glob("*/identity.json")):
            try:
                found.append(IdentityInfo(**json.loads(path.read_text("utf-8"))))
            except (OSError, ValueError, TypeError):
                continue  # a damaged identity is skipped, the others stay usable
        return found

    def identity(self, identity_id: str) -> IdentityInfo:
        for info in self.identities():
            if info.id == identity_id:
                return info
        raise ProfileError(f"no identity {identity_id!r}")

    def unlock(self, identity_id: str, passphrase: bytes) -> UnlockedIdentity:
        """Load an identity's key (blocking: about a second; call it off the GUI thread).

        While a delay after wrong passphrases runs, refuses at once without trying the
        passphrase. A wrong passphrase is counted (see ``cases.attempts``); a right one resets
        the count, re-wraps a key still under the old KDF (atomically, with this passphrase)
        and takes group and other permissions off the profile's files.

        Raises:
            UnlockDelayed: Too many wrong passphrases lately (``seconds_left``, ``seconds``).
            crypto.errors.WrongPassphrase: A wrong passphrase (now counted).
            crypto.errors.MalformedMessage: A damaged key or certificate file.
            ProfileError: No such identity.
            crypto.pkcs11.CardError: A card identity's card refused (``cases.cardidentity``).
        """
        from cases import cardidentity  # it builds on this module

        if cardidentity.is_card_identity(self, identity_id):
            return cardidentity.unlock_card(self, identity_id, passphrase)
        info, certificate, key, wrapped = self._load_key(identity_id, passphrase)
        self._rewrap(identity_id, wrapped, key, passphrase)
        self.restrict_permissions()
        return UnlockedIdentity(info, certificate, key)

    def unlock_delay(self, identity_id: str) -> float:
        """Seconds before ``identity_id`` may be tried again (0: now), to show a countdown."""
        return self.unlock_failures.seconds_left(identity_id)

    def change_passphrase(
        self, identity_id: str, passphrase: bytes, new_passphrase: bytes
    ) -> UnlockedIdentity:
        """Re-wrap an identity's key under ``new_passphrase`` (atomically: a crash leaves the
        old file or the new one). The current ``passphrase`` is checked as by :meth:`unlock`
        (the delay and the count apply). Does not touch a passphrase remembered in the system
        keyring (``app.secrets``): the caller updates it.

        Raises:
            PassphraseRefused: ``new_passphrase`` does not pass the policy (checked first).
            UnlockDelayed, crypto.errors.WrongPassphrase, crypto.errors.MalformedMessage,
            ProfileError: As :meth:`unlock`.
        """
        from cases import cardidentity  # it builds on this module

        if cardidentity.is_card_identity(self, identity_id):
            raise ProfileError(f"{identity_id} signs with a card: its PIN is the card's")
        self.check_new_passphrase(new_passphrase, passphrase_names(self.identity(identity_id)))
        info, certificate, key, _wrapped = self._load_key(identity_id, passphrase)
        pki.save_private_key(
            self.identity_folder(identity_id) / "key.pem",
            key,
            new_passphrase,
            wrapping=self._wrapping_for(new_passphrase),
        )
        log.info("passphrase of identity %s changed", identity_id)
        return UnlockedIdentity(info, certificate, key)

    def _load_key(
        self, identity_id: str, passphrase: bytes
    ) -> tuple[IdentityInfo, x509.Certificate, pki.PrivateKey, bytes]:
        """The identity, its certificate, its key and the key file's bytes as they were."""
        info = self.identity(identity_id)
        left = self.unlock_delay(identity_id)
        if left > 0:
            log.info("unlocking %s refused: %.0f s left of the delay", identity_id, left)
            raise UnlockDelayed(identity_id, left)
        folder = self.identity_folder(identity_id)
        certificate = pki.load_cert_pem((folder / "cert.pem").read_bytes())
        wrapped = (folder / "key.pem").read_bytes()
        try:
            key = pki.load_private_key(folder / "key.pem", passphrase, kind="any")
        except WrongPassphrase:
            self.unlock_failures.record_failure(identity_id)
            raise
        if self.unlock_failures.failures(identity_id):
            self.unlock_failures.reset(identity_id)
        return info, certificate, key, wrapped

    def _rewrap(
        self, identity_id: str, wrapped: bytes, key: pki.PrivateKey, passphrase: bytes
    ) -> None:
        """Re-wrap a key file weaker than this profile's KDF, unless it changed since it was
        read (a passphrase changed meanwhile must not be undone). A failure to write leaves
        the old file, which still works: it is tried again at the next unlock."""
        path = self.identity_folder(identity_id) / "key.pem"
        target = self._wrapping_for(passphrase)
        try:
            current = pki.key_wrapping(path)
            if current is not None and current.at_least(target):
                return
            if path.read_bytes() != wrapped:
                return
            pki.save_private_key(path, key, passphrase, wrapping=target)
        except (OSError, MalformedMessage) as exc:
            log.warning("key of %s not re-wrapped (%s): kept as it was", identity_id, exc)
            return
        log.info(
            "key of %s re-wrapped: scrypt N=%d r=%d p=%d", identity_id, target.n, target.r, target.p
        )

    def restrict_permissions(self) -> int:
        """Take group and other permissions off every file and folder of the profile (POSIX;
        symbolic links are left alone); returns how many were changed. Files written outside
        the core (the log, Qt's settings) or by older versions get mode 0600 this way."""
        if os.name != "posix" or not self.root.is_dir():
            return 0
        changed = _restrict(self.root)
        for folder, dirs, files in os.walk(self.root):
            changed += sum(_restrict(Path(folder, name)) for name in (*dirs, *files))
        if changed:
            log.info("profile permissions restricted on %d files and folders", changed)
        return changed

    def path(self, name: str) -> Path:
        """A sub-directory of the profile (created on demand, mode 0700): outbox, inbox,
        archive, index, drafts, seen, logs."""
        return private_dir(self.root / name)

    @property
    def db_path(self) -> Path:
        return self.root / "passavant.sqlite"

    @property
    def trust_dir(self) -> Path:
        """The trust store folder (``cases.trust.TrustStore``); holds ``ca.pem``."""
        return self.root / "trust"

    @property
    def addressbook_path(self) -> Path:
        """The address book (``cases.trust.AddressBook``): contacts and their certificates."""
        return self.root / "addressbook.json"

    @property
    def audit_path(self) -> Path:
        """The audit journal (``crypto.audit``): events, ids and fingerprints, never content."""
        return self.root / "audit.jsonl"

    def identity_folder(self, identity_id: str) -> Path:
        """Where an identity's ``identity.json``, ``cert.pem`` and ``key.pem`` live."""
        return self.root / "identities" / identity_id

    def _save(self) -> None:
        atomic_write(self.config_path, json.dumps(self._config, indent=1).encode("utf-8"))


def _restrict(path: Path) -> int:
    """1 if ``path`` had group or other permissions and no longer has, else 0."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode) or not mode & 0o077:
            return 0
        os.chmod(path, stat.S_IMODE(mode) & ~0o077)
    except OSError:  # gone meanwhile (a temporary file), or not ours to change
        return 0
    return 1
