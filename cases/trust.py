"""Whom a workstation trusts, and whom it can write to.

The **trust store** is the profile's ``trust/`` folder::

    trust/ca.pem            the CA(s) the profile was created with (one or several PEM blocks)
    trust/ca-<fp>.pem       certification authorities added later
    trust/pinned-<fp>.pem   end-entity certificates trusted as they are (no CA vouches for them)
    trust/crl-<issuer>.crl  certificate revocation lists, one per issuing CA (the newest)

``<fp>`` is the first 16 hex digits of the certificate's SHA-256 fingerprint. Trust anchors
for signature and recipient checks are the CAs *and* the pinned certificates
(:meth:`TrustStore.anchors`): a pinned certificate validates as itself, but can vouch for no
other certificate. Pinning does not undo a revocation: a pinned certificate issued by a CA of
the store (its issuer's name, and that CA's key verifies its signature) is refused, for
signing and for encryption alike, once that CA's revocation list (signed by it) lists it. A
pinned certificate whose issuer is not in the store stays accepted as it is: that is the
point of pinning, and no list from an unknown CA could be trusted anyway
(:func:`crypto.pki.validate_certificate`).

The **address book** (``addressbook.json``) lists the specialists and units one writes to:
name, role, organization or specialty, and the encryption certificate (PEM) with its
fingerprint. :meth:`AddressBook.resolve` turns what a user types (a name, a fingerprint, or a
certificate file) into a certificate. No clinical data is kept in either place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from cases.errors import TrustError
from crypto import pki
from crypto.errors import MalformedMessage
from outbox.spool import atomic_write

log = logging.getLogger(__name__)

_PREFIX = 16
_MIN_FINGERPRINT_PREFIX = 8
_NOT_HEX = re.compile(r"[^0-9a-f]")


def load_certificate(data: bytes) -> x509.Certificate:
    """One certificate, PEM or DER.

    Raises:
        MalformedMessage: Neither a PEM nor a DER certificate.
    """
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise MalformedMessage("not a certificate (PEM or DER)") from exc


def is_ca(cert: x509.Certificate) -> bool:
    """Whether the certificate says it is a certification authority."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _organization(cert: x509.Certificate) -> str:
    found = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(found[0].value) if found else ""


@dataclass(frozen=True)
class TrustEntry:
    """One item of the trust store, for listing."""

    kind: str  # "ca", "pinned" or "crl"
    subject: str
    fingerprint: str  # of the certificate; of the DER bytes for a CRL
    not_after: datetime | None
    path: Path


# Aliases: inside TrustStore, ``list`` names the method, not the built-in type.
_Certificates = list[x509.Certificate]
_Crls = list[x509.CertificateRevocationList]
_Entries = list[TrustEntry]
_Patterns = list[str]
_Located = list[tuple[Path, x509.Certificate]]


class TrustStore:
    """The trust store of a profile (its ``trust/`` folder)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    # --- adding ---------------------------------------------------------------------------
    def add_ca(self, cert: x509.Certificate) -> Path:
        """Trust a certification authority; return its file.

        Raises:
            TrustError: ``not_a_ca`` when the certificate is not a CA.
        """
        if not is_ca(cert):
            raise TrustError("not_a_ca", "this certificate is not a certification authority")
        return self._write(f"ca-{pki.fingerprint(cert)[:_PREFIX]}.pem", pki.cert_to_pem(cert))

    def add_pinned(self, cert: x509.Certificate) -> Path:
        """Trust one end-entity certificate as it is; return its file.

        It is still checked against the revocation list of its issuer when that CA is in
        the store (see the module's documentation); with an unknown issuer, it is trusted
        as it is.

        Raises:
            TrustError: ``not_end_entity`` for a CA certificate (use :meth:`add_ca`).
        """
        if is_ca(cert):
            raise TrustError("not_end_entity", "a CA is trusted with add_ca, not pinned")
        name = f"pinned-{pki.fingerprint(cert)[:_PREFIX]}.pem"
        return self._write(name, pki.cert_to_pem(cert))

    def add_crl(self, data: bytes | x509.CertificateRevocationList) -> Path:
        """Keep a CRL signed by a trusted CA (the newest one per CA); return its file.

        Raises:
            MalformedMessage: Not a CRL.
            TrustError: ``untrusted_crl`` when no trusted CA signed it, ``stale_crl`` when
                the store holds a newer one from the same CA.
        """
        crl = data if isinstance(data, x509.CertificateRevocationList) else _load_crl(data)
        issuers = [ca for ca in self.cas() if ca.subject == crl.issuer]
        if not any(crl.is_signature_valid(ca.public_key()) for ca in issuers):  # type: ignore[arg-type]
            raise TrustError("untrusted_crl", "no trusted CA signed this revocation list")
        issuer_hash = hashlib.sha256(crl.issuer.public_bytes()).hexdigest()[:_PREFIX]
        name = f"crl-{issuer_hash}.crl"
        current = self.folder / name
        if current.exists():
            try:
                older = _load_crl(current.read_bytes())
            except MalformedMessage:
                older = None
            if older is not None and older.last_update_utc > crl.last_update_utc:
                raise TrustError("stale_crl", "a newer revocation list from this CA is kept")
        return self._write(name, crl.public_bytes(serialization.Encoding.PEM))

    # --- reading --------------------------------------------------------------------------
    def cas(self) -> _Certificates:
        """The trusted CAs: ``ca.pem`` (the profile's original file) and ``ca-*.pem``."""
        return _unique(self._certificates(["ca.pem", "ca-*.pem"]))

    def pinned(self) -> _Certificates:
        """The pinned end-entity certificates."""
        return _unique(self._certificates(["pinned-*.pem"]))

    def anchors(self) -> _Certificates:
        """Every trust anchor for ``crypto``'s checks: the CAs, then the pinned certificates."""
        return _unique(self.cas() + self.pinned())

    def crls(self) -> _Crls:
        """The stored revocation lists (damaged files are skipped)."""
        found: _Crls = []
        for path in sorted(self.folder.glob("*.crl")):
            try:
                found.append(_load_crl(path.read_bytes()))
            except (OSError, MalformedMessage):
                log.warning("skipping unreadable revocation list %s", path.name)
        return found

    def list(self) -> _Entries:
        """Everything in the store, CAs first."""
        entries: _Entries = []
        for kind, patterns in (("ca", ["ca.pem", "ca-*.pem"]), ("pinned", ["pinned-*.pem"])):
            seen: set[str] = set()
            for path, cert in self._certificates_with_paths(patterns):
                fingerprint = pki.fingerprint(cert)
                if fingerprint not in seen:
                    seen.add(fingerprint)
                    entries.append(
                        TrustEntry(
                            kind,
                            cert.subject.rfc4514_string(),
                            fingerprint,
                            cert.not_valid_after_utc,
                            path,
                        )
                    )
        for path in sorted(self.folder.glob("*.crl")):
            try:
                crl = _load_crl(path.read_bytes())
            except (OSError, MalformedMessage):
                continue
            digest = hashlib.sha256(crl.public_bytes(serialization.Encoding.DER)).hexdigest()
            entries.append(
                TrustEntry("crl", crl.issuer.rfc4514_string(), digest, crl.next_update_utc, path)
            )
        return entries

    # --- files ----------------------------------------------------------------------------
    def _write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        atomic_write(path, data)
        log.info("trust store: wrote %s", name)
        return path

    def _certificates(self, patterns: _Patterns) -> _Certificates:
        return [cert for _path, cert in self._certificates_with_paths(patterns)]

    def _certificates_with_paths(self, patterns: _Patterns) -> _Located:
        found: _Located = []
        for pattern in patterns:
            for path in sorted(self.folder.glob(pattern)):
                try:
                    found.extend(
                        (path, c) for c in x509.load_pem_x509_certificates(path.read_bytes())
                    )
                except (OSError, ValueError):
                    log.warning("skipping unreadable trust file %s", path.name)
        return found


def _unique(certs: list[x509.Certificate]) -> list[x509.Certificate]:
    seen: dict[str, x509.Certificate] = {}
    for cert in certs:
        seen.setdefault(pki.fingerprint(cert), cert)
    return list(seen.values())


def _load_crl(data: bytes) -> x509.CertificateRevocationList:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise MalformedMessage("not a certificate revocation list") from exc


# --- the address book ---------------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
    """Someone one can seal a bundle for."""

    name: str
    role: str
    organization: str
    specialty: str
    certificate_pem: str
    fingerprint: str

    @property
    def certificate(self) -> x509.Certificate:
        return pki.load_cert_pem(self.certificate_pem.encode("ascii"))


class AddressBook:
    """The profile's ``addressbook.json``: specialists and units, with their certificates."""

    VERSION = 1

    def __init__(self, path: Path) -> None:
        self.path = path

    def contacts(self) -> list[Contact]:
        """Every contact, in the order they were added.

        Raises:
            TrustError: ``addressbook_damaged`` when the file cannot be read.
        """
        if not self.path.exists():
            return []
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            return [Contact(**entry) for entry in raw["contacts"]]
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise TrustError("addressbook_damaged", f"cannot read {self.path.name}") from exc

    def add(
        self,
        cert: x509.Certificate,
        *,
        name: str | None = None,
        role: str | None = None,
        organization: str | None = None,
        specialty: str = "",
        replace: bool = False,
    ) -> Contact:
        """Add a contact (name, role and organization default to the certificate's).

        A contact with the same certificate is updated. A *different* certificate under an
        existing name is refused unless ``replace`` (a renewed certificate, say).

        Raises:
            TrustError: ``duplicate_contact`` (that name is someone else's), or
                ``invalid_recipient`` (the certificate cannot receive encrypted bundles).
        """
        if not pki.can_decrypt(cert):
            raise TrustError("invalid_recipient", "this certificate cannot receive bundles")
        contact = Contact(
            name=(name or pki.display_name(cert)).strip(),
            role=role if role is not None else (pki.role_of(cert) or ""),
            organization=organization if organization is not None else _organization(cert),
            specialty=specialty,
            certificate_pem=pki.cert_to_pem(cert).decode("ascii"),
            fingerprint=pki.fingerprint(cert),
        )
        kept = []
        for other in self.contacts():
            if other.fingerprint == contact.fingerprint:
                continue
            if other.name.casefold() == contact.name.casefold():
                if not replace:
                    raise TrustError("duplicate_contact", "another contact has this name")
                continue
            kept.append(other)
        self._save([*kept, contact])
        return contact

    def remove(self, name_or_fingerprint: str) -> bool:
        """Remove a contact; ``False`` when there was none."""
        found = self.find(name_or_fingerprint)
        if found is None:
            return False
        self._save([c for c in self.contacts() if c.fingerprint != found.fingerprint])
        return True

    def find(self, name_or_fingerprint: str) -> Contact | None:
        """The contact with this name (case-insensitive), fingerprint, or fingerprint prefix
        of at least 8 hex digits (colons allowed).

        Raises:
            TrustError: ``ambiguous_contact`` when a prefix matches several contacts.
        """
        wanted = name_or_fingerprint.strip()
        contacts = self.contacts()
        for contact in contacts:
            if contact.name.casefold() == wanted.casefold():
                return contact
        digits = wanted.lower().replace(":", "")
        if len(digits) < _MIN_FINGERPRINT_PREFIX or _NOT_HEX.search(digits):
            return None
        matches = [c for c in contacts if c.fingerprint.startswith(digits)]
        if len(matches) > 1:
            raise TrustError("ambiguous_contact", "several contacts match this fingerprint")
        return matches[0] if matches else None

    def resolve(self, name_or_path: str) -> x509.Certificate:
        """A certificate from a file path (PEM or DER), a contact name or a fingerprint.

        Raises:
            TrustError: ``unknown_contact`` when it is neither a file nor a contact.
            MalformedMessage: The file is not a certificate.
        """
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return load_certificate(path.read_bytes())
        contact = self.find(name_or_path)
        if contact is None:
            raise TrustError("unknown_contact", "no such file nor contact")
        return contact.certificate

    def _save(self, contacts: list[Contact]) -> None:
        raw = {"version": self.VERSION, "contacts": [asdict(c) for c in contacts]}
        atomic_write(self.path, json.dumps(raw, ensure_ascii=False, indent=1).encode("utf-8"))
