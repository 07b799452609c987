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
      identities/<id>/    identity.json, cert.pem, key.pem (PKCS#8, passphrase-encrypted)
      passavant.sqlite    outbox, inbox and archive indexes (no clinical content)
      outbox/ inbox/ archive/   sealed bundles: ciphertext only
      logs/               rotating log, never a patient detail

Several profiles can live side by side on one machine (``passavant --profile DIR``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keyring
from cryptography import x509
from keyring.errors import KeyringError

from cases.trust import TrustStore
from crypto import pki
from outbox.platform import PlatformConfig
from outbox.spool import atomic_write  # its temp file comes from mkstemp: mode 0600

PROFILE_VERSION = 1
ROLES = ("doctor", "secretary", "specialist", "unit")  # unit: the unit archive identity
KEYRING_SERVICE = "passavant"

log = logging.getLogger(__name__)


class ProfileError(Exception):
    """The profile directory is missing, incomplete or unreadable."""

    code = "profile_error"


@dataclass(frozen=True)
class IdentityInfo:
    """Who may log in at this workstation. ``id`` is also the person's platform mailbox."""

    id: str
    display_name: str
    role: str
    organization: str
    specialty: str | None = None


@dataclass(frozen=True)
class UnlockedIdentity:
    """An identity whose private key is unlocked for this session (memory only)."""

    info: IdentityInfo
    certificate: x509.Certificate
    key: pki.PrivateKey

    @property
    def fingerprint(self) -> str:
        return pki.fingerprint(self.certificate)


class Profile:
    """Access to one workstation's data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
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
        that has no access to this session's keyring)."""
        root.mkdir(parents=True, exist_ok=True)
        (root / "trust").mkdir(exist_ok=True)
        (root / "trust" / "ca.pem").write_bytes(ca_pem)
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
        if info.role not in ROLES:
            raise ProfileError(f"unknown role {info.role!r}")
        folder = self.root / "identities" / info.id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cert.pem").write_bytes(pki.cert_to_pem(certificate))
        pki.save_private_key(folder / "key.pem", key, passphrase)
        (folder / "identity.json").write_text(json.dumps(asdict(info), indent=1), "utf-8")

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
        """Load an identity's key. Raises ``crypto.errors.WrongPassphrase`` on a bad passphrase."""
        info = self.identity(identity_id)
        folder = self.root / "identities" / identity_id
        cert = pki.load_cert_pem((folder / "cert.pem").read_bytes())
        key = pki.load_private_key(folder / "key.pem", passphrase, kind="any")
        return UnlockedIdentity(info, cert, key)

    def path(self, name: str) -> Path:
        """A sub-directory of the profile (created on demand): outbox, inbox, archive, logs."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

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
