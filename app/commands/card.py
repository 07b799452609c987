"""``passavant identity new|import --pkcs11-module PATH --token-label L --key-label K``: card
identities (``cases.cardidentity``).

- ``identity new NAME --role R --ca-dir DIR --pkcs11-module … --token-label … --key-label …``
  generates the signing key pair on the token (a test card: SoftHSM2), issues its signing
  certificate and a software encryption certificate for the same person from the CA in DIR,
  writes the signing certificate on the token, and registers the pair.
- ``identity import FILE.p12 --pkcs11-module … --token-label … --key-label …`` registers a
  card that already carries its key and certificate (a CPS card): the certificate is read
  from the token (or ``--signing-cert``), the encryption key and certificate come from the
  PKCS#12 file (its passphrase with ``--passphrase-file``).

The card's PIN is read from ``--pin-file`` or typed on a terminal; it is never written.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from app.commands.common import CommandError
from app.commands.keys import (
    checked_identity_id,
    cli_profile,
    journal_event,
    load_ca,
    name_slug,
    organization_of,
    read_input,
    read_passphrase,
)
from app.i18n import _
from cases.cardidentity import CardIdentityRefused, add_card_identity, card_identity_info
from cases.profile import IdentityInfo, Profile
from cases.trust import TrustStore
from crypto import pki
from crypto.pkcs11 import CardSlot, generate_signing_key, read_certificate, store_certificate
from crypto.pkcs12 import import_pkcs12


def card_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("card (PKCS#11)")
    group.add_argument("--pkcs11-module", metavar="PATH", help="the card's PKCS#11 module")
    group.add_argument("--token-label", metavar="L", help="the card's token label")
    group.add_argument("--key-label", metavar="K", help="the signing key's label on the card")
    group.add_argument("--pin-file", type=Path, metavar="FILE", help="read the PIN from FILE")
    group.add_argument("--signing-cert", type=Path, metavar="CERT.pem", help="import only")


def _slot(args: argparse.Namespace) -> CardSlot:
    if not args.token_label or not args.key_label:
        raise CommandError(_("indiquez --token-label et --key-label avec --pkcs11-module."))
    return CardSlot(str(Path(args.pkcs11_module).absolute()), args.token_label, args.key_label)


def _pin(args: argparse.Namespace, name: str) -> str:
    if args.pin_file is not None:
        lines = read_input(args.pin_file, _("fichier du code PIN")).decode("utf-8").splitlines()
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        raise CommandError(
            _("code PIN requis : utilisez --pin-file, ou lancez depuis un terminal.")
        )
    return getpass.getpass(_("Code PIN de la carte de {name} : ").format(name=name))


def card_identity_new(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    if args.ca_dir is None:
        raise CommandError(
            _("indiquez --ca-dir : le dossier de l’autorité qui délivre le certificat.")
        )
    slot = _slot(args)
    ca_cert, ca_key = load_ca(args, args.ca_dir)
    identity_id = checked_identity_id(args.identity_id or name_slug(args.name))
    if (profile.identity_folder(identity_id) / "identity.json").exists():
        raise CommandError(_("l’identité « {id} » existe déjà.").format(id=identity_id))
    pin = _pin(args, args.name)
    organization = args.organization or organization_of(ca_cert) or "Passavant"
    person = {"common_name": args.name, "role": args.role, "organization": organization}
    signing_public = generate_signing_key(slot, pin)
    signing = pki.issue_person_certificate(
        ca_cert, ca_key, signing_public, can_decrypt=False, **person
    )
    store_certificate(slot, pin, signing)
    key = pki.new_private_key(args.key) if args.key == "ec" else pki.new_private_key()
    encryption = pki.issue_person_certificate(
        ca_cert, ca_key, key.public_key(), can_decrypt=True, **person
    )
    store = TrustStore(profile.trust_dir)
    if pki.fingerprint(ca_cert) not in {pki.fingerprint(c) for c in store.cas()}:
        store.add_ca(ca_cert)
    info = IdentityInfo(
        identity_id, args.name, args.role, organization, args.specialty, args.rpps or None
    )
    add_card_identity(profile, info, slot, pin, signing, encryption, key)
    return _registered(profile, info, signing, "identity_created")


def card_identity_import(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    slot = _slot(args)
    secret = read_passphrase(
        args, prompt=_("Mot de passe de {file} : ").format(file=args.file.name)
    )
    key, encryption, _chain = import_pkcs12(read_input(args.file, _("fichier PKCS#12")), secret)
    if args.signing_cert is not None:
        signing = pki.load_cert_pem(read_input(args.signing_cert, _("certificat")))
    else:
        signing = read_certificate(slot)
    name = args.name or pki.display_name(signing)
    identity_id = checked_identity_id(args.identity_id or name_slug(name))
    try:
        info = card_identity_info(
            profile, signing, name=name, role=args.role or "", identity_id=identity_id
        )
    except CardIdentityRefused as exc:
        if exc.code == "card_role_missing":
            raise CommandError(
                _("indiquez --role : le certificat ne dit pas le rôle de son titulaire.")
            ) from exc
        raise CommandError(_("l’identité « {id} » existe déjà.").format(id=identity_id)) from exc
    pin = _pin(args, info.display_name)
    add_card_identity(profile, info, slot, pin, signing, encryption, key)
    return _registered(profile, info, signing, "identity_imported")


def _registered(
    profile: Profile, info: IdentityInfo, signing: pki.x509.Certificate, event: str
) -> int:
    fingerprint = pki.fingerprint(signing)
    journal_event(profile, event, info.id, fingerprint=fingerprint, role=info.role, key="card")
    print(
        _("Identité à carte enregistrée : {id} ({name}, {role}), signature {fp}").format(
            id=info.id, name=info.display_name, role=info.role, fp=fingerprint
        )
    )
    return 0
