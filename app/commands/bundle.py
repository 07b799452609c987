"""``passavant identity|trust|contact|bundle|audit``: identities, trust, sealed bundles, audit.

- ``identity new NAME --role R [--key rsa|ec] [--ca-dir DIR]`` issues a certificate from the CA
  whose ``ca.pem`` and key (``ca.key`` or ``ca-key.pem``) are in DIR, and stores the identity
  in the profile like the app does (``identities/<id>/``); ``identity import FILE.p12``,
  ``identity export NAME -o FILE.p12``, ``identity list``.
- ``trust add CERT [--pinned]`` (a CA, a pinned end-entity certificate, or a CRL),
  ``trust list``; ``contact add CERT [--name N]``, ``contact list`` (the address book).
- ``bundle seal --signer S --to CERT ... -o OUT.p7m PATH...``: a bundle of files (format 1,
  ``docs/bundle-format.md``) signed by S (an identity of the profile or a ``.p12`` file) and
  encrypted to every ``--to`` (a certificate file or an address-book name) and to the signer.
- ``bundle open IN --as IDENTITY -o DIR``, ``bundle verify IN --as IDENTITY``: decrypt, verify
  the signature and the signer's chain (the profile's trust store, plus ``--trust CA.pem``),
  check the manifest; ``open`` writes the manifest and files, ``verify`` writes nothing.
  ``open`` refuses a bundle id opened before on this profile (a replay) unless ``--again``.
- ``bundle inspect IN``: the outer envelope only (recipients, algorithms, sizes); no key.
- ``audit verify``, ``audit show``: the profile's hash-chained audit journal.

Passphrases come from ``--passphrase-file FILE`` (first line), the system keyring
(``app.secrets``, for an identity of the profile), or a prompt on a terminal. Every action
appends to the profile's audit journal (ids, fingerprints and sizes; never content). Failures
are one plain line and a non-zero status (``app.commands.common.dispatch``).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from app import secrets
from app.commands.common import CommandError
from app.i18n import _
from app.messages import human_size
from cases.bundle import OpenedRegistry, Party, check_file_name, pack_files, unpack
from cases.model import new_id
from cases.profile import IdentityInfo, Profile
from cases.trust import AddressBook, TrustStore, is_ca, load_certificate
from crypto import audit, cms, pki
from crypto.errors import CryptoError, MalformedMessage, WrongPassphrase
from crypto.pkcs12 import export_pkcs12, import_pkcs12
from outbox.spool import atomic_write

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]
_ROLES = ("doctor", "secretary", "specialist", "unit")
_CA_KEY_NAMES = ("ca.key", "ca-key.pem", "ca.key.pem")


# --- registration -------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``identity``, ``trust``, ``contact``, ``bundle`` and ``audit``."""
    _register_identity(subparsers)
    _register_trust(subparsers)
    _register_bundle(subparsers)
    journal = subparsers.add_parser("audit", help="the profile's audit journal")
    sub = journal.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    check = sub.add_parser("verify", help="check the journal's hash chain")
    check.set_defaults(handler=_audit_verify)
    show = sub.add_parser("show", help="list the journal's events")
    show.add_argument("--last", type=int, metavar="N", help="only the last N events")
    show.set_defaults(handler=_audit_show)


def _register_identity(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    identity = subparsers.add_parser("identity", help="the identities of this profile")
    sub = identity.add_subparsers(dest="identity_command", required=True, metavar="ACTION")
    new = sub.add_parser("new", help="create a key and a certificate issued by a CA")
    new.add_argument("name", metavar="NAME", help="the person's or unit's name")
    new.add_argument("--role", required=True, choices=_ROLES)
    new.add_argument("--key", choices=("rsa", "ec"), default="rsa", help="key type (default rsa)")
    new.add_argument("--ca-dir", type=Path, metavar="DIR", help="holds ca.pem and ca.key")
    new.add_argument("--ca-passphrase-file", type=Path, metavar="FILE")
    new.add_argument("--organization", metavar="ORG", help="default: the CA's organization")
    new.add_argument("--specialty", metavar="CODE", help="a specialist's specialty code")
    new.add_argument("--id", dest="identity_id", metavar="ID", help="default: from the name")
    _passphrase_options(new, remember=True)
    new.set_defaults(handler=_audited("identity.new", _identity_new))

    imported = sub.add_parser("import", help="add an identity from a PKCS#12 file")
    imported.add_argument("file", type=Path, metavar="FILE.p12")
    imported.add_argument("--name", help="default: the certificate's common name")
    imported.add_argument("--role", choices=_ROLES, help="default: the certificate's OU")
    imported.add_argument("--id", dest="identity_id", metavar="ID", help="default: from the name")
    _passphrase_options(imported, remember=True)
    imported.set_defaults(handler=_audited("identity.import", _identity_import))

    export = sub.add_parser("export", help="write an identity as a PKCS#12 file")
    export.add_argument("identity", metavar="NAME")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.p12")
    _passphrase_options(export)
    export.set_defaults(handler=_audited("identity.export", _identity_export))

    listing = sub.add_parser("list", help="list the identities")
    listing.set_defaults(handler=_audited("identity.list", _identity_list))


def _register_trust(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trust = subparsers.add_parser("trust", help="the trust store of this profile")
    sub = trust.add_subparsers(dest="trust_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="trust a CA, pin a certificate, or add a CRL")
    add.add_argument("file", type=Path, metavar="CERT.pem")
    add.add_argument("--pinned", action="store_true", help="trust this end-entity certificate")
    add.set_defaults(handler=_audited("trust.add", _trust_add))
    listing = sub.add_parser("list", help="list the trust store")
    listing.set_defaults(handler=_audited("trust.list", _trust_list))

    contact = subparsers.add_parser("contact", help="the address book of this profile")
    sub = contact.add_subparsers(dest="contact_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add a specialist or a unit from its certificate")
    add.add_argument("file", type=Path, metavar="CERT.pem")
    add.add_argument("--name", help="default: the certificate's common name")
    add.add_argument("--specialty", default="", metavar="CODE")
    add.add_argument("--replace", action="store_true", help="replace a contact of that name")
    add.add_argument("--trust", action="append", type=Path, default=[], metavar="CA.pem")
    add.set_defaults(handler=_audited("contact.add", _contact_add))
    listing = sub.add_parser("list", help="list the address book")
    listing.set_defaults(handler=_audited("contact.list", _contact_list))


def _register_bundle(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bundle = subparsers.add_parser("bundle", help="seal, open, verify or inspect a bundle")
    sub = bundle.add_subparsers(dest="bundle_command", required=True, metavar="ACTION")
    seal = sub.add_parser("seal", help="sign and encrypt files into a bundle")
    seal.add_argument("--signer", required=True, metavar="SIGNER", help="identity or FILE.p12")
    seal.add_argument(
        "--to", action="append", required=True, metavar="CERT", help="certificate file or name"
    )
    seal.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.p7m")
    seal.add_argument("--case-id", metavar="ID", help="the case this bundle belongs to")
    seal.add_argument("--trust", action="append", type=Path, default=[], metavar="CA.pem")
    seal.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _passphrase_options(seal)
    seal.set_defaults(handler=_audited("bundle.seal", _bundle_seal))

    helps = {"open": "decrypt, verify, write out", "verify": "decrypt and verify only"}
    for action, text in helps.items():
        parser = sub.add_parser(action, help=text)
        parser.add_argument("file", type=Path, metavar="IN.p7m")
        parser.add_argument("--as", dest="reader", required=True, metavar="IDENTITY")
        parser.add_argument("--trust", action="append", type=Path, default=[], metavar="CA.pem")
        if action == "open":
            parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
            parser.add_argument("--again", action="store_true", help="allow a second opening")
        _passphrase_options(parser)
        parser.set_defaults(handler=_audited(f"bundle.{action}", _bundle_open))

    inspect_ = sub.add_parser("inspect", help="describe the outer envelope (no key needed)")
    inspect_.add_argument("file", type=Path, metavar="IN.p7m")
    inspect_.set_defaults(handler=_audited("bundle.inspect", _bundle_inspect))


def _passphrase_options(parser: argparse.ArgumentParser, *, remember: bool = False) -> None:
    parser.add_argument(
        "--passphrase-file", type=Path, metavar="FILE", help="read the passphrase from FILE"
    )
    if remember:
        parser.add_argument(
            "--remember", action="store_true", help="keep the passphrase in the system keyring"
        )


# --- shared plumbing ----------------------------------------------------------------------


def _profile(args: argparse.Namespace) -> Profile:
    from app.cli import default_profile

    return Profile(args.profile or default_profile())


def _journal(profile: Profile, event: str, actor: str, **details: Any) -> None:
    """Append to the profile's audit journal (ids, fingerprints and sizes only)."""
    try:
        audit.append(profile.audit_path, event, actor=actor, details=details)
    except OSError as exc:
        raise CommandError(
            _("impossible d’écrire le journal d’audit {path}.").format(path=profile.audit_path)
        ) from exc


def _audited(command: str, handler: Handler) -> Handler:
    """Run ``handler``; journal a failure (its code only) when the profile exists."""

    def run(args: argparse.Namespace) -> int:
        _quiet_console(args)
        try:
            return handler(args)
        except Exception as error:
            code = getattr(error, "code", None)
            profile = _profile(args)
            if profile.root.is_dir():
                with contextlib.suppress(OSError, audit.AuditError):
                    audit.append(
                        profile.audit_path,
                        "command_failed",
                        actor="cli",
                        details={
                            "command": command,
                            "code": code if isinstance(code, str) else type(error).__name__,
                        },
                    )
            raise

    return run


def _quiet_console(args: argparse.Namespace) -> None:
    """Keep the console to the command's own lines: ``app.cli`` logs INFO to stderr, which
    would add log lines around the one-line failure (``-v`` keeps them)."""
    if getattr(args, "verbose", False):
        return
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler and handler.stream in (
            sys.stderr,
            sys.__stderr__,
        ):
            handler.setLevel(logging.WARNING)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(_("{what} illisible : {path}").format(what=what, path=path)) from exc


def _passphrase(
    args: argparse.Namespace,
    profile: Profile | None = None,
    identity_id: str | None = None,
    *,
    prompt: str,
    confirm: bool = False,
    file_option: str = "passphrase_file",
) -> bytes:
    """From ``--passphrase-file``, else the keyring (an identity of the profile), else a
    prompt on a terminal."""
    path: Path | None = getattr(args, file_option, None)
    if path is not None:
        lines = _read(path, _("fichier de mot de passe")).decode("utf-8").splitlines()
        return (lines[0] if lines else "").encode("utf-8")
    if profile is not None and identity_id is not None:
        remembered = secrets.recall(profile.station_id, identity_id)
        if remembered:
            return remembered.encode("utf-8")
    if not sys.stdin.isatty():
        raise CommandError(
            _("mot de passe requis : utilisez --passphrase-file, ou lancez depuis un terminal.")
        )
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass(_("Confirmez le mot de passe : ")) != first:
        raise CommandError(_("les deux mots de passe diffèrent."))
    return first.encode("utf-8")


def _remember(args: argparse.Namespace, profile: Profile, identity_id: str, secret: bytes) -> None:
    if not getattr(args, "remember", False):
        return
    if secrets.remember(profile.station_id, identity_id, secret.decode("utf-8")):
        print(_("Mot de passe gardé dans le trousseau du système."))
    else:
        print(_("Pas de trousseau sur cette machine : le mot de passe sera demandé à chaque fois."))


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64]
    if not slug:
        raise CommandError(_("indiquez --id : aucun identifiant ne se déduit de ce nom."))
    return slug


def _checked_id(identity_id: str) -> str:
    """An identity id is a folder name and a platform mailbox: a plain token."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", identity_id) or ".." in identity_id:
        raise CommandError(
            _("identifiant refusé : {id} (lettres, chiffres, point, tiret).").format(id=identity_id)
        )
    return identity_id


def _organization(cert: x509.Certificate) -> str:
    found = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    return str(found[0].value) if found else ""


# --- identities ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Unlocked:
    """An identity whose key is unlocked for this command (memory only)."""

    cert: x509.Certificate
    key: Any  # pki.PrivateKey: RSA or EC
    party: Party
    actor: str  # for the audit journal: identity id, or fingerprint of a .p12's certificate
    secret: bytes  # the passphrase that unlocked it


def _find_identity(profile: Profile, wanted: str) -> IdentityInfo:
    identities = profile.identities()
    for info in identities:
        if info.id == wanted:
            return info
    named = [i for i in identities if i.display_name.casefold() == wanted.casefold()]
    if len(named) == 1:
        return named[0]
    raise CommandError(
        _("aucune identité « {name} » dans le profil {root}.").format(
            name=wanted, root=profile.root
        )
    )


def _unlock(args: argparse.Namespace, profile: Profile, spec: str) -> Unlocked:
    """An identity of the profile (id or name) or a PKCS#12 file, unlocked."""
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".p12", ".pfx") or (path.is_file() and "/" in spec):
        secret = _passphrase(args, prompt=_("Mot de passe de {file} : ").format(file=path.name))
        key, cert, _chain = import_pkcs12(_read(path, _("fichier PKCS#12")), secret)
        unlocked = Unlocked(cert, key, Party.of_certificate(cert), pki.fingerprint(cert), secret)
    else:
        info = _find_identity(profile, spec)
        secret = _passphrase(
            args,
            profile,
            info.id,
            prompt=_("Mot de passe de {name} : ").format(name=info.display_name),
        )
        folder = profile.identity_folder(info.id)
        cert = pki.load_cert_pem(_read(folder / "cert.pem", _("certificat")))
        key = _load_key(folder / "key.pem", secret)
        party = Party(
            info.id, info.display_name, pki.fingerprint(cert), info.role, info.organization
        )
        unlocked = Unlocked(cert, key, party, info.id, secret)
    _journal(profile, "identity_unlocked", unlocked.actor, fingerprint=unlocked.party.fingerprint)
    return unlocked


def _load_key(path: Path, secret: bytes) -> pki.PrivateKey:
    return pki.load_private_key(path, secret, kind="any")


def _load_ca(args: argparse.Namespace, folder: Path) -> tuple[x509.Certificate, Any]:
    key_path = next((folder / n for n in _CA_KEY_NAMES if (folder / n).is_file()), None)
    if not (folder / "ca.pem").is_file() or key_path is None:
        raise CommandError(
            _("pas d’autorité dans {dir} : il y faut ca.pem et sa clé ca.key.").format(dir=folder)
        )
    cert = load_certificate(_read(folder / "ca.pem", _("certificat")))
    data = _read(key_path, _("clé de l’autorité"))
    try:
        key = serialization.load_pem_private_key(data, None)
    except TypeError:  # encrypted: ask for its passphrase
        secret = _passphrase(
            args,
            prompt=_("Mot de passe de la clé de l’autorité : "),
            file_option="ca_passphrase_file",
        )
        try:
            key = serialization.load_pem_private_key(data, secret)
        except ValueError as exc:
            raise WrongPassphrase("the CA key passphrase is wrong") from exc
    except ValueError as exc:
        raise MalformedMessage("the CA key file is not a PEM private key") from exc
    if key.public_key() != cert.public_key():
        raise CommandError(_("la clé {file} n’est pas celle de ca.pem.").format(file=key_path.name))
    return cert, key


def _identity_new(args: argparse.Namespace) -> int:
    profile = _profile(args)
    if args.role not in pki.ROLES:
        raise CommandError(
            _("le rôle « {role} » n’est pas encore pris en charge par cette version.").format(
                role=args.role
            )
        )
    if args.ca_dir is None:
        raise CommandError(
            _("indiquez --ca-dir : le dossier de l’autorité qui délivre le certificat.")
        )
    ca_cert, ca_key = _load_ca(args, args.ca_dir)
    identity_id = _checked_id(args.identity_id or _slug(args.name))
    if (profile.identity_folder(identity_id) / "identity.json").exists():
        raise CommandError(_("l’identité « {id} » existe déjà.").format(id=identity_id))
    secret = _passphrase(
        args, prompt=_("Nouveau mot de passe de {name} : ").format(name=args.name), confirm=True
    )
    if not secret:
        raise CommandError(_("le mot de passe ne peut pas être vide."))
    key: Any = pki.new_private_key(args.key) if args.key == "ec" else pki.new_private_key()
    organization = args.organization or _organization(ca_cert) or "Passavant"
    cert = pki.issue_person_certificate(
        ca_cert,
        ca_key,
        key.public_key(),
        common_name=args.name,
        role=args.role,
        organization=organization,
        can_decrypt=args.role != "secretary",
    )
    info = IdentityInfo(identity_id, args.name, args.role, organization, args.specialty)
    profile.add_identity(info, cert, key, secret)
    store = TrustStore(profile.trust_dir)
    if pki.fingerprint(ca_cert) not in {pki.fingerprint(c) for c in store.cas()}:
        store.add_ca(ca_cert)
        print(
            _("Autorité ajoutée au magasin de confiance : {subject}").format(
                subject=ca_cert.subject.rfc4514_string()
            )
        )
    fingerprint = pki.fingerprint(cert)
    _journal(
        profile,
        "identity_created",
        identity_id,
        fingerprint=fingerprint,
        role=args.role,
        key=args.key,
    )
    _remember(args, profile, identity_id, secret)
    print(
        _("Identité créée : {id} ({name}, {role}), empreinte {fp}").format(
            id=identity_id, name=args.name, role=args.role, fp=fingerprint
        )
    )
    return 0


def _identity_import(args: argparse.Namespace) -> int:
    profile = _profile(args)
    secret = _passphrase(args, prompt=_("Mot de passe de {file} : ").format(file=args.file.name))
    key: Any
    key, cert, _chain = import_pkcs12(_read(args.file, _("fichier PKCS#12")), secret)
    if not secret:
        raise CommandError(
            _("ce fichier n’a pas de mot de passe : protégez-le d’abord par un mot de passe.")
        )
    role = args.role or pki.role_of(cert)
    if role not in _ROLES:
        raise CommandError(
            _("indiquez --role : le certificat ne dit pas le rôle de son titulaire.")
        )
    name = args.name or pki.display_name(cert)
    identity_id = _checked_id(args.identity_id or _slug(name))
    if (profile.identity_folder(identity_id) / "identity.json").exists():
        raise CommandError(_("l’identité « {id} » existe déjà.").format(id=identity_id))
    profile.add_identity(
        IdentityInfo(identity_id, name, role, _organization(cert)), cert, key, secret
    )
    fingerprint = pki.fingerprint(cert)
    _journal(profile, "identity_imported", identity_id, fingerprint=fingerprint, role=role)
    _remember(args, profile, identity_id, secret)
    print(
        _("Identité importée : {id} ({name}, {role}), empreinte {fp}").format(
            id=identity_id, name=name, role=role, fp=fingerprint
        )
    )
    try:
        pki.validate_certificate(cert, TrustStore(profile.trust_dir).anchors(), purpose="sign")
    except CryptoError:
        print(
            _(
                "Attention : l’émetteur de ce certificat n’est pas dans le magasin de confiance "
                "(passavant trust add)."
            )
        )
    return 0


def _identity_export(args: argparse.Namespace) -> int:
    profile = _profile(args)
    if args.output.exists():
        raise CommandError(_("{path} existe déjà.").format(path=args.output))
    me = _unlock(args, profile, args.identity)
    chain = [ca for ca in TrustStore(profile.trust_dir).cas() if ca.subject == me.cert.issuer]
    atomic_write(
        args.output, export_pkcs12(me.key, me.cert, chain, me.secret, me.party.display_name)
    )
    _journal(profile, "identity_exported", me.actor, fingerprint=me.party.fingerprint)
    print(_("Identité exportée dans {path} (même mot de passe).").format(path=args.output))
    return 0


def _identity_list(args: argparse.Namespace) -> int:
    profile = _profile(args)
    identities = profile.identities()
    if not identities:
        print(_("Aucune identité dans le profil {root}.").format(root=profile.root))
    for info in identities:
        folder = profile.identity_folder(info.id)
        try:
            fingerprint = pki.fingerprint(pki.load_cert_pem((folder / "cert.pem").read_bytes()))
        except (OSError, MalformedMessage):
            fingerprint = "?"
        print(f"{info.id}\t{info.role}\t{info.display_name}\t{info.organization}\t{fingerprint}")
    if profile.root.is_dir():
        _journal(profile, "identity_listed", "cli", count=len(identities))
    return 0


# --- trust and contacts -------------------------------------------------------------------


def _trust_add(args: argparse.Namespace) -> int:
    profile = _profile(args)
    store = TrustStore(profile.trust_dir)
    data = _read(args.file, _("certificat"))
    try:
        cert = load_certificate(data)
    except MalformedMessage:
        path = store.add_crl(data)  # not a certificate: maybe a revocation list
        _journal(profile, "trust_added", "cli", kind="crl")
        print(_("Liste de révocation ajoutée : {file}").format(file=path.name))
        return 0
    if args.pinned:
        store.add_pinned(cert)
    elif not is_ca(cert):
        raise CommandError(
            _(
                "ce certificat n’est pas une autorité ; ajoutez --pinned pour lui "
                "faire confiance tel quel."
            )
        )
    else:
        store.add_ca(cert)
    kind = "pinned" if args.pinned else "ca"
    _journal(profile, "trust_added", "cli", kind=kind, fingerprint=pki.fingerprint(cert))
    print(
        _("Ajouté au magasin de confiance ({kind}) : {subject}, empreinte {fp}").format(
            kind=kind, subject=cert.subject.rfc4514_string(), fp=pki.fingerprint(cert)
        )
    )
    return 0


def _trust_list(args: argparse.Namespace) -> int:
    profile = _profile(args)
    entries = TrustStore(profile.trust_dir).list()
    if not entries:
        print(_("Le magasin de confiance est vide."))
    for entry in entries:
        until = entry.not_after.strftime("%Y-%m-%d") if entry.not_after else "-"
        print(f"{entry.kind}\t{entry.fingerprint[:16]}\t{until}\t{entry.subject}")
    if profile.root.is_dir():
        _journal(profile, "trust_listed", "cli", count=len(entries))
    return 0


def _anchors(profile: Profile, extra: list[Path]) -> list[x509.Certificate]:
    """The profile's trust anchors, plus the CAs given with ``--trust`` for this call."""
    anchors = TrustStore(profile.trust_dir).anchors()
    for path in extra:
        data = _read(path, _("certificat"))
        try:
            anchors.extend(
                x509.load_pem_x509_certificates(data)
                if b"-----BEGIN" in data
                else [x509.load_der_x509_certificate(data)]
            )
        except ValueError as exc:
            raise CommandError(_("{path} n’est pas un certificat.").format(path=path)) from exc
    return anchors


def _crls(profile: Profile, function: Callable[..., Any]) -> dict[str, Any]:
    crls = TrustStore(profile.trust_dir).crls()
    return {"crls": crls} if crls else {}


def _contact_add(args: argparse.Namespace) -> int:
    profile = _profile(args)
    cert = load_certificate(_read(args.file, _("certificat")))
    pki.validate_certificate(
        cert,
        _anchors(profile, args.trust),
        purpose="encrypt",
        **_crls(profile, pki.validate_certificate),
    )
    contact = AddressBook(profile.addressbook_path).add(
        cert, name=args.name, specialty=args.specialty, replace=args.replace
    )
    _journal(profile, "contact_added", "cli", fingerprint=contact.fingerprint)
    print(
        _("Contact ajouté : {name}, empreinte {fp}").format(
            name=contact.name, fp=contact.fingerprint
        )
    )
    return 0


def _contact_list(args: argparse.Namespace) -> int:
    profile = _profile(args)
    contacts = AddressBook(profile.addressbook_path).contacts()
    if not contacts:
        print(_("Le carnet d’adresses est vide."))
    for c in contacts:
        print(f"{c.name}\t{c.role}\t{c.organization}\t{c.specialty}\t{c.fingerprint}")
    if profile.root.is_dir():
        _journal(profile, "contact_listed", "cli", count=len(contacts))
    return 0


# --- bundles ------------------------------------------------------------------------------


def _payload(paths: list[Path]) -> dict[str, bytes]:
    """The files to seal, named by their path relative to each given directory."""
    files: dict[str, bytes] = {}
    for given in paths:
        if given.is_dir():
            found = [(p, p.relative_to(given).as_posix()) for p in sorted(given.rglob("*"))]
        elif given.is_file():
            found = [(given, given.name)]
        else:
            raise CommandError(_("fichier introuvable : {path}").format(path=given))
        for path, name in found:
            if path.is_dir():
                continue
            if path.is_symlink() or not path.is_file():
                raise CommandError(_("{path} n’est pas un fichier ordinaire.").format(path=path))
            try:
                check_file_name(name)
            except ValueError as exc:
                raise CommandError(_("nom de fichier refusé : {name}").format(name=name)) from exc
            if name.casefold() in {n.casefold() for n in files}:
                raise CommandError(_("deux fichiers portent le nom {name}.").format(name=name))
            files[name] = _read(path, _("fichier"))
    if not files:
        raise CommandError(_("aucun fichier à sceller."))
    return files


def _bundle_seal(args: argparse.Namespace) -> int:
    profile = _profile(args)
    if args.output.exists():
        raise CommandError(_("{path} existe déjà.").format(path=args.output))
    files = _payload(args.paths)
    signer = _unlock(args, profile, args.signer)
    book = AddressBook(profile.addressbook_path)
    recipients = [book.resolve(spec) for spec in args.to]
    if pki.can_decrypt(signer.cert):  # the signer keeps a readable copy
        recipients.append(signer.cert)
    anchors = _anchors(profile, args.trust)
    for cert in recipients:
        pki.validate_certificate(
            cert, anchors, purpose="encrypt", **_crls(profile, pki.validate_certificate)
        )
    unique = {pki.fingerprint(c): c for c in recipients}
    parties = [
        signer.party if fp == signer.party.fingerprint else Party.of_certificate(c)
        for fp, c in unique.items()
    ]
    bundle_id = new_id()
    plain = pack_files(bundle_id, files, signer.party, parties, "request", args.case_id)
    sealed = cms.seal(plain, signer.cert, signer.key, list(unique.values()))
    atomic_write(args.output, sealed)
    _journal(
        profile,
        "bundle_sealed",
        signer.actor,
        bundle_id=bundle_id,
        signer=signer.party.fingerprint,
        recipients=list(unique),
        size=len(sealed),
        files=len(files),
    )
    print(
        _(
            "Document {id} scellé dans {path} : {count} fichier(s), {size}, pour {n} "
            "destinataire(s)."
        ).format(
            id=bundle_id,
            path=args.output,
            count=len(files),
            size=human_size(len(sealed)),
            n=len(unique),
        )
    )
    return 0


def _bundle_open(args: argparse.Namespace) -> int:
    profile = _profile(args)
    writing = args.bundle_command == "open"
    if (
        writing
        and args.output.exists()
        and (not args.output.is_dir() or any(args.output.iterdir()))
    ):
        raise CommandError(_("le dossier {path} n’est pas vide.").format(path=args.output))
    sealed = _read(args.file, _("document"))
    me = _unlock(args, profile, args.reader)
    verified = cms.open_sealed(
        sealed, me.cert, me.key, _anchors(profile, args.trust), **_crls(profile, cms.open_sealed)
    )
    signer = pki.fingerprint(verified.signer)
    bundle = unpack(
        verified.content, signer_fingerprint=signer, reader_fingerprint=me.party.fingerprint
    )
    manifest = bundle.manifest
    registry = OpenedRegistry(profile.db_path)
    first = registry.opened_at(manifest.bundle_id)
    if writing:
        if not args.again:
            registry.check(manifest.bundle_id)
        _write_out(args.output, bundle.manifest_json, dict(bundle.files))
        if first is None:
            registry.record(manifest.bundle_id, me.party.fingerprint)
    event = "bundle_opened" if writing else "bundle_verified"
    _journal(
        profile,
        event,
        me.actor,
        bundle_id=manifest.bundle_id,
        kind=manifest.kind,
        signer=signer,
        reader=me.party.fingerprint,
        size=len(sealed),
        files=len(manifest.files),
    )
    signed_at = verified.signed_at.strftime("%Y-%m-%d %H:%M UTC") if verified.signed_at else "?"
    print(
        _(
            "Document {id} ({kind}) de {sender}, empreinte {fp}, signé le {when} : signature, "
            "chaîne et manifeste vérifiés, {count} fichier(s)."
        ).format(
            id=manifest.bundle_id,
            kind=manifest.kind,
            sender=manifest.sender.display_name,
            fp=signer,
            when=signed_at,
            count=len(manifest.files),
        )
    )
    if first is not None:
        print(
            _("Déjà ouvert sur ce poste le {when}.").format(when=first.strftime("%Y-%m-%d %H:%M"))
        )
    if writing:
        print(_("Manifeste et fichiers écrits dans {path}.").format(path=args.output))
    return 0


def _write_out(folder: Path, manifest: bytes, files: dict[str, bytes]) -> None:
    """Write the manifest and files under ``folder`` (owner-only), never outside it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    root = folder.resolve()
    for name, data in [("manifest.json", manifest), *sorted(files.items())]:
        target = (root / name).resolve()
        if root not in target.parents:
            raise CommandError(_("nom de fichier refusé : {name}").format(name=name))
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)


def _bundle_inspect(args: argparse.Namespace) -> int:
    profile = _profile(args)
    data = _read(args.file, _("document"))
    for line in _describe_envelope(data, list(_known_certificates(profile))):
        print(line)
    if profile.root.is_dir():
        _journal(profile, "bundle_inspected", "cli", size=len(data))
    return 0


def _known_certificates(profile: Profile) -> Iterator[tuple[str, x509.Certificate]]:
    """Names to show next to recipients: the profile's identities and contacts."""
    for info in profile.identities():
        with contextlib.suppress(OSError, MalformedMessage):
            path = profile.identity_folder(info.id) / "cert.pem"
            yield info.display_name, pki.load_cert_pem(path.read_bytes())
    with contextlib.suppress(Exception):
        for contact in AddressBook(profile.addressbook_path).contacts():
            yield contact.name, contact.certificate


_KEY_AGREEMENT = {
    "1.3.132.1.11.1": "ECDH dhSinglePass-stdDH-sha256kdf-scheme",
    "1.3.132.1.11.2": "ECDH dhSinglePass-stdDH-sha384kdf-scheme",
    "1.3.132.1.11.3": "ECDH dhSinglePass-stdDH-sha512kdf-scheme",
    "1.3.133.16.840.63.0.2": "ECDH dhSinglePass-stdDH-sha1kdf-scheme",
}


def _describe_envelope(data: bytes, known: list[tuple[str, x509.Certificate]]) -> list[str]:
    """The outer envelope of a sealed bundle, in French lines: what anyone may see."""
    from asn1crypto import cms as asn1_cms

    try:
        info = asn1_cms.ContentInfo.load(data)
        kind = info["content_type"].native
        if kind not in ("authenticated_enveloped_data", "enveloped_data"):
            raise MalformedMessage(f"not an enveloped message: {kind}")
        content = info["content"]
        authenticated = kind == "authenticated_enveloped_data"
        encrypted = content[
            "auth_encrypted_content_info" if authenticated else "encrypted_content_info"
        ]
        algorithm = encrypted["content_encryption_algorithm"]["algorithm"].native
        ciphertext = encrypted["encrypted_content"].native or b""
        lines = [
            _("Enveloppe : {kind}, {size} en tout.").format(
                kind="AuthEnvelopedData (RFC 5083)" if authenticated else "EnvelopedData",
                size=human_size(len(data)),
            ),
            _("Chiffrement du contenu : {algorithm}, {size} chiffrés.").format(
                algorithm=algorithm, size=human_size(len(ciphertext))
            ),
        ]
        if authenticated:
            lines.append(
                _("Étiquette d’authentification : {n} octets.").format(n=len(content["mac"].native))
            )
        recipients = [r for ri in content["recipient_infos"] for r in _recipients(ri, known)]
    except MalformedMessage:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise MalformedMessage("not a readable CMS envelope") from exc
    for number, (transport, who) in enumerate(recipients, 1):
        lines.append(
            _("Destinataire {n} : {transport} ; {who}").format(
                n=number, transport=transport, who=who
            )
        )
    lines.append(
        _(
            "Le signataire, le manifeste et les fichiers ne se lisent qu’après "
            "déchiffrement (bundle open ou verify)."
        )
    )
    return lines


def _recipients(ri: Any, known: list[tuple[str, x509.Certificate]]) -> list[tuple[str, str]]:
    """``(key transport, identifier)`` for each recipient a RecipientInfo designates."""
    from asn1crypto import cms as asn1_cms

    chosen = ri.chosen
    if ri.name == "ktri":
        algorithm = chosen["key_encryption_algorithm"]
        transport = str(algorithm["algorithm"].native)
        if transport == "rsaes_oaep":
            digest = algorithm["parameters"]["hash_algorithm"]["algorithm"].native
            transport = f"RSA-OAEP ({digest})"
        return [(transport, _identifier(chosen["rid"], known))]
    if ri.name == "kari":
        algorithm = chosen["key_encryption_algorithm"]
        oid = algorithm["algorithm"].dotted
        transport = _KEY_AGREEMENT.get(oid, oid)
        with contextlib.suppress(ValueError, TypeError, KeyError):
            wrap = asn1_cms.KeyEncryptionAlgorithm.load(algorithm["parameters"].dump())
            transport += f" + {wrap['algorithm'].native}"
        return [
            (transport, _identifier(key["rid"], known))
            for key in chosen["recipient_encrypted_keys"]
        ]
    return [(str(ri.name), _("identifiant non décrit"))]


def _identifier(rid: Any, known: list[tuple[str, x509.Certificate]]) -> str:
    """A recipient identifier, with the name of a known certificate it designates."""
    if rid.name == "issuer_and_serial_number":
        issuer, serial = rid.chosen["issuer"], rid.chosen["serial_number"].native
        text = _("émetteur {issuer}, numéro de série {serial:x}").format(
            issuer=issuer.human_friendly, serial=serial
        )
        names = [
            n
            for n, c in known
            if c.serial_number == serial and c.issuer.public_bytes() == issuer.dump()
        ]
    else:
        key_id = bytes(rid.chosen.native)
        text = _("identifiant de clé {id}").format(id=key_id.hex())
        names = [n for n, c in known if _key_identifier(c) == key_id]
    return f"{text} [{names[0]}]" if names else text


def _key_identifier(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


# --- audit --------------------------------------------------------------------------------


def _audit_verify(args: argparse.Namespace) -> int:
    profile = _profile(args)
    report = audit.verify(profile.audit_path)
    first = report.first
    if first is not None:
        raise CommandError(
            _("journal d’audit altéré, ligne {line} : {what} ({n} problème(s)).").format(
                line=first.line, what=_problem(first.kind), n=len(report.problems)
            )
        )
    print(
        _("Journal d’audit intact : {n} entrée(s), dernière empreinte {head}.").format(
            n=report.entries, head=report.head
        )
    )
    return 0


def _problem(kind: str) -> str:
    texts = {
        "truncated": _("ligne tronquée"),
        "malformed": _("ligne illisible"),
        "hash_mismatch": _("entrée modifiée"),
        "broken_chain": _("chaîne rompue (entrée supprimée, déplacée ou réécrite)"),
        "sequence": _("numérotation rompue"),
        "inserted": _("entrée insérée"),
        "head_mismatch": _("fin du journal inattendue"),
    }
    return texts.get(kind, kind)


def _audit_show(args: argparse.Namespace) -> int:
    entries = audit.read(_profile(args).audit_path)
    if args.last is not None:
        entries = entries[-args.last :] if args.last > 0 else []
    if not entries:
        print(_("Le journal d’audit est vide."))
    for e in entries:
        details = " ".join(f"{k}={_short(v)}" for k, v in sorted(e.details.items()))
        print(f"{e.seq:>5} {e.time} {e.event} {e.actor} {details}".rstrip())
    return 0


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_short(v) for v in value)
    text = str(value)
    return text[:16] if re.fullmatch(r"[0-9a-f]{64}", text) else text
