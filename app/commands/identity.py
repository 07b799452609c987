"""``passavant identity|trust|contact``: the profile's identities, trust store and address book.

- ``identity new NAME --role R [--key rsa|ec] [--ca-dir DIR]`` issues a certificate from the CA
  whose ``ca.pem`` and key (``ca.key`` or ``ca-key.pem``) are in DIR, and stores the identity
  in the profile like the app does (``identities/<id>/``); ``identity import FILE.p12``,
  ``identity export NAME -o FILE.p12``, ``identity passphrase NAME`` (change it),
  ``identity list``. A new passphrase (``new``, ``passphrase``, and ``import`` when the
  file's own does not pass, or with ``--new-passphrase-file``) must pass
  ``crypto.passphrase``'s policy.
- ``trust add CERT [--pinned]`` (a CA, a pinned end-entity certificate, or a CRL),
  ``trust list``; ``contact add CERT [--name N]``, ``contact list`` (the address book).

Passphrases and the audit journal: :mod:`app.commands.keys`. Failures are one plain line and
a non-zero status (``app.commands.common.dispatch``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app import secrets
from app.commands.card import card_identity_import, card_identity_new, card_options
from app.commands.common import CommandError
from app.commands.keys import (
    ROLES,
    audited,
    checked_identity_id,
    cli_profile,
    find_identity,
    journal_event,
    load_ca,
    name_slug,
    organization_of,
    passphrase_options,
    passphrase_problems,
    read_input,
    read_passphrase,
    refuse_if_delayed,
    refuse_weak_passphrase,
    trust_anchors,
    trust_crls,
    unlock_errors,
    unlock_identity,
)
from app.i18n import _
from cases.acts import rpps_ok
from cases.profile import IdentityInfo, Profile, passphrase_names
from cases.trust import AddressBook, TrustStore, is_ca, load_certificate
from crypto import pki
from crypto.errors import CryptoError, MalformedMessage
from crypto.pkcs12 import export_pkcs12, import_pkcs12
from outbox.spool import atomic_write


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``identity``, ``trust`` and ``contact``."""
    _register_identity(subparsers)
    _register_trust(subparsers)


def _register_identity(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    identity = subparsers.add_parser("identity", help="the identities of this profile")
    sub = identity.add_subparsers(dest="identity_command", required=True, metavar="ACTION")
    new = sub.add_parser("new", help="create a key and a certificate issued by a CA")
    new.add_argument("name", metavar="NAME", help="the person's or unit's name")
    new.add_argument("--role", required=True, choices=ROLES)
    new.add_argument("--key", choices=("rsa", "ec"), default="rsa", help="key type (default rsa)")
    new.add_argument("--ca-dir", type=Path, metavar="DIR", help="holds ca.pem and ca.key")
    new.add_argument("--ca-passphrase-file", type=Path, metavar="FILE")
    new.add_argument("--organization", metavar="ORG", help="default: the CA's organization")
    new.add_argument("--specialty", metavar="CODE", help="a specialist's specialty code")
    new.add_argument("--rpps", metavar="NUMBER", help="a health professional's RPPS (11 digits)")
    new.add_argument("--id", dest="identity_id", metavar="ID", help="default: from the name")
    passphrase_options(new)
    card_options(new)
    new.set_defaults(handler=audited("identity.new", _identity_new))

    imported = sub.add_parser("import", help="add an identity from a PKCS#12 file")
    imported.add_argument("file", type=Path, metavar="FILE.p12")
    imported.add_argument("--name", help="default: the certificate's common name")
    imported.add_argument("--role", choices=ROLES, help="default: the certificate's OU")
    imported.add_argument("--id", dest="identity_id", metavar="ID", help="default: from the name")
    passphrase_options(imported)
    new_passphrase_option(imported, "protect the key in this profile with the passphrase in FILE")
    card_options(imported)
    imported.set_defaults(handler=audited("identity.import", _identity_import))

    export = sub.add_parser("export", help="write an identity as a PKCS#12 file")
    export.add_argument("identity", metavar="NAME")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.p12")
    passphrase_options(export)
    export.set_defaults(handler=audited("identity.export", _identity_export))

    change = sub.add_parser("passphrase", help="change an identity's passphrase")
    change.add_argument("identity", metavar="NAME")
    passphrase_options(change)
    new_passphrase_option(change, "read the new passphrase from FILE")
    change.set_defaults(handler=audited("identity.passphrase", _identity_passphrase))

    listing = sub.add_parser("list", help="list the identities")
    listing.set_defaults(handler=audited("identity.list", _identity_list))


def new_passphrase_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--new-passphrase-file", type=Path, metavar="FILE", help=text)


def _register_trust(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trust = subparsers.add_parser("trust", help="the trust store of this profile")
    sub = trust.add_subparsers(dest="trust_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="trust a CA, pin a certificate, or add a CRL")
    add.add_argument("file", type=Path, metavar="CERT.pem")
    add.add_argument("--pinned", action="store_true", help="trust this end-entity certificate")
    add.set_defaults(handler=audited("trust.add", _trust_add))
    listing = sub.add_parser("list", help="list the trust store")
    listing.set_defaults(handler=audited("trust.list", _trust_list))

    contact = subparsers.add_parser("contact", help="the address book of this profile")
    sub = contact.add_subparsers(dest="contact_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add a specialist or a unit from its certificate")
    add.add_argument("file", type=Path, metavar="CERT.pem")
    add.add_argument("--name", help="default: the certificate's common name")
    add.add_argument("--specialty", default="", metavar="CODE")
    add.add_argument("--replace", action="store_true", help="replace a contact of that name")
    add.add_argument("--trust", action="append", type=Path, default=[], metavar="CA.pem")
    add.set_defaults(handler=audited("contact.add", _contact_add))
    listing = sub.add_parser("list", help="list the address book")
    listing.set_defaults(handler=audited("contact.list", _contact_list))


def _identity_new(args: argparse.Namespace) -> int:
    if args.rpps is not None and not rpps_ok(args.rpps):  # before any question is asked
        raise CommandError(_("numéro RPPS invalide (11 chiffres, dont la clé)."))
    if args.pkcs11_module is not None:
        return card_identity_new(args)
    profile = cli_profile(args)
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
    ca_cert, ca_key = load_ca(args, args.ca_dir)
    identity_id = checked_identity_id(args.identity_id or name_slug(args.name))
    if (profile.identity_folder(identity_id) / "identity.json").exists():
        raise CommandError(_("l’identité « {id} » existe déjà.").format(id=identity_id))
    secret = read_passphrase(
        args, prompt=_("Nouveau mot de passe de {name} : ").format(name=args.name), confirm=True
    )
    refuse_weak_passphrase(profile, secret, (args.name, identity_id))
    key: Any = pki.new_private_key(args.key) if args.key == "ec" else pki.new_private_key()
    organization = args.organization or organization_of(ca_cert) or "Passavant"
    cert = pki.issue_person_certificate(
        ca_cert,
        ca_key,
        key.public_key(),
        common_name=args.name,
        role=args.role,
        organization=organization,
        can_decrypt=args.role != "secretary",
    )
    info = IdentityInfo(
        identity_id, args.name, args.role, organization, args.specialty, args.rpps or None
    )
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
    journal_event(
        profile,
        "identity_created",
        identity_id,
        fingerprint=fingerprint,
        role=args.role,
        key=args.key,
    )
    print(
        _("Identité créée : {id} ({name}, {role}), empreinte {fp}").format(
            id=identity_id, name=args.name, role=args.role, fp=fingerprint
        )
    )
    return 0


def _identity_import(args: argparse.Namespace) -> int:
    if args.pkcs11_module is not None:
        return card_identity_import(args)
    profile = cli_profile(args)
    secret = read_passphrase(
        args, prompt=_("Mot de passe de {file} : ").format(file=args.file.name)
    )
    key: Any
    key, cert, _chain = import_pkcs12(read_input(args.file, _("fichier PKCS#12")), secret)
    role = args.role or pki.role_of(cert)
    if role not in ROLES:
        raise CommandError(
            _("indiquez --role : le certificat ne dit pas le rôle de son titulaire.")
        )
    name = args.name or pki.display_name(cert)
    identity_id = checked_identity_id(args.identity_id or name_slug(name))
    if (profile.identity_folder(identity_id) / "identity.json").exists():
        raise CommandError(_("l’identité « {id} » existe déjà.").format(id=identity_id))
    secret = _imported_passphrase(args, profile, secret, (name, identity_id))
    profile.add_identity(
        IdentityInfo(identity_id, name, role, organization_of(cert)), cert, key, secret
    )
    fingerprint = pki.fingerprint(cert)
    journal_event(profile, "identity_imported", identity_id, fingerprint=fingerprint, role=role)
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


def _imported_passphrase(
    args: argparse.Namespace, profile: Profile, secret: bytes, names: tuple[str, ...]
) -> bytes:
    """The passphrase of an imported identity in this profile: the file's own when it passes
    the policy and no other is given, else a new one (``--new-passphrase-file`` or a
    prompt on a terminal) that must pass it."""
    if args.new_passphrase_file is None:
        if not secret:
            raise CommandError(
                _("ce fichier n’a pas de mot de passe : protégez-le d’abord par un mot de passe.")
            )
        if not passphrase_problems(profile, secret, names):
            return secret
        if not sys.stdin.isatty():
            refuse_weak_passphrase(profile, secret, names)  # says why, in one line
    secret = read_passphrase(
        args,
        prompt=_("Nouveau mot de passe de {name} : ").format(name=names[0]),
        confirm=True,
        file_option="new_passphrase_file",
    )
    refuse_weak_passphrase(profile, secret, names)
    return secret


def _identity_passphrase(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    info = find_identity(profile, args.identity)
    refuse_if_delayed(profile, info.id)
    # the current passphrase is typed (or in a file), never taken from the keyring
    current = read_passphrase(
        args, prompt=_("Mot de passe de {name} : ").format(name=info.display_name)
    )
    new = read_passphrase(
        args,
        prompt=_("Nouveau mot de passe de {name} : ").format(name=info.display_name),
        confirm=True,
        file_option="new_passphrase_file",
    )
    refuse_weak_passphrase(profile, new, passphrase_names(info))
    with unlock_errors(profile, info.id):
        me = profile.change_passphrase(info.id, current, new)
    journal_event(profile, "identity_passphrase_changed", info.id, fingerprint=me.fingerprint)
    secrets.forget(profile.station_id, info.id)  # one an earlier version kept is stale now
    print(_("Mot de passe de {id} changé.").format(id=info.id))
    return 0


def _identity_export(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    if args.output.exists():
        raise CommandError(_("{path} existe déjà.").format(path=args.output))
    me = unlock_identity(args, profile, args.identity)
    if me.card is not None:
        raise CommandError(
            _("une identité à carte ne s’exporte pas : sa clé de signature reste sur la carte.")
        )
    chain = [ca for ca in TrustStore(profile.trust_dir).cas() if ca.subject == me.cert.issuer]
    atomic_write(
        args.output, export_pkcs12(me.key, me.cert, chain, me.secret, me.party.display_name)
    )
    journal_event(profile, "identity_exported", me.actor, fingerprint=me.party.fingerprint)
    print(_("Identité exportée dans {path} (même mot de passe).").format(path=args.output))
    return 0


def _identity_list(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
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
        journal_event(profile, "identity_listed", "cli", count=len(identities))
    return 0


def _trust_add(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    store = TrustStore(profile.trust_dir)
    data = read_input(args.file, _("certificat"))
    try:
        cert = load_certificate(data)
    except MalformedMessage:
        path = store.add_crl(data)  # not a certificate: maybe a revocation list
        journal_event(profile, "trust_added", "cli", kind="crl")
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
    journal_event(profile, "trust_added", "cli", kind=kind, fingerprint=pki.fingerprint(cert))
    print(
        _("Ajouté au magasin de confiance ({kind}) : {subject}, empreinte {fp}").format(
            kind=kind, subject=cert.subject.rfc4514_string(), fp=pki.fingerprint(cert)
        )
    )
    return 0


def _trust_list(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    entries = TrustStore(profile.trust_dir).list()
    if not entries:
        print(_("Le magasin de confiance est vide."))
    for entry in entries:
        until = entry.not_after.strftime("%Y-%m-%d") if entry.not_after else "-"
        print(f"{entry.kind}\t{entry.fingerprint[:16]}\t{until}\t{entry.subject}")
    if profile.root.is_dir():
        journal_event(profile, "trust_listed", "cli", count=len(entries))
    return 0


def _contact_add(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    cert = load_certificate(read_input(args.file, _("certificat")))
    pki.validate_certificate(
        cert,
        trust_anchors(profile, args.trust),
        purpose="encrypt",
        **trust_crls(profile, pki.validate_certificate),
    )
    contact = AddressBook(profile.addressbook_path).add(
        cert, name=args.name, specialty=args.specialty, replace=args.replace
    )
    journal_event(profile, "contact_added", "cli", fingerprint=contact.fingerprint)
    print(
        _("Contact ajouté : {name}, empreinte {fp}").format(
            name=contact.name, fp=contact.fingerprint
        )
    )
    return 0


def _contact_list(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    contacts = AddressBook(profile.addressbook_path).contacts()
    if not contacts:
        print(_("Le carnet d’adresses est vide."))
    for c in contacts:
        print(f"{c.name}\t{c.role}\t{c.organization}\t{c.specialty}\t{c.fingerprint}")
    if profile.root.is_dir():
        journal_event(profile, "contact_listed", "cli", count=len(contacts))
    return 0
