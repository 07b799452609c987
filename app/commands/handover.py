"""``passavant handover``: set up and look at a two-PC desk (issue 17 §3), for the unit's IT
person.

- ``handover setup --role capture --folder DIR`` on the capture PC (the one with the camera,
  often without the platform link): its requests, opinions and receipts are handed to DIR
  instead of being sent; their states and the people's mail come back from it.
- ``handover setup --role network --folder DIR --relay ID [--relay ID…]`` on the networked
  PC: it queues what DIR holds, sends it, writes back where each one stands, and copies the
  mail of the ``--relay`` mailboxes (the capture PC's people) to DIR.
- ``handover off``: this PC works on its own again.
- ``handover status``: the set-up and what waits in the folder (counts only).

The folder only ever holds ciphertext and ids. Restart the app after a change.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.common import CommandError
from app.commands.keys import audited, cli_profile, journal_event
from app.i18n import _
from cases.handover import CONFIG_FILE, ROLES, HandoverConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("handover", help="two PCs on one desk: the hand-over folder")
    sub = parser.add_subparsers(dest="handover_command", required=True)
    setup = sub.add_parser("setup", help="make this PC the capture or the networked PC")
    setup.add_argument("--role", choices=ROLES, required=True)
    setup.add_argument("--folder", type=Path, required=True, help="the shared folder or stick")
    setup.add_argument(
        "--relay", action="append", default=[], metavar="ID", help="a capture PC's person"
    )
    setup.set_defaults(handler=audited("handover.setup", _setup))
    off = sub.add_parser("off", help="this PC works on its own again")
    off.set_defaults(handler=audited("handover.off", _off))
    status = sub.add_parser("status", help="the set-up and what waits in the folder")
    status.set_defaults(handler=audited("handover.status", _status))


def _setup(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    if not profile.exists():
        raise CommandError(_("aucun profil dans {path}.").format(path=profile.root))
    folder = args.folder.expanduser().absolute()
    if not folder.is_dir():
        raise CommandError(_("le dossier de remise {path} n’existe pas.").format(path=folder))
    if args.role == "capture" and args.relay:
        raise CommandError(_("--relay ne sert qu’au poste relié au réseau."))
    for mailbox in args.relay:  # a mailbox id names a folder there: nothing else
        if not mailbox or not all(c.isalnum() or c in "-_." for c in mailbox) or mailbox[0] == ".":
            raise CommandError(_("identifiant invalide : {id}.").format(id=mailbox))
    HandoverConfig(folder, args.role, tuple(args.relay)).save(profile.root)
    journal_event(profile, "handover_setup", "cli", role=args.role, mailbox=list(args.relay))
    print(
        _("Poste configuré ({role}) ; dossier de remise : {path}.").format(
            role=_role(args.role), path=folder
        )
    )
    print(_("Redémarrez Passavant pour que ce réglage s’applique."))
    return 0


def _off(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    path = profile.root / CONFIG_FILE
    if path.exists():
        path.unlink()
        journal_event(profile, "handover_off", "cli")
    print(_("Ce poste fonctionne seul."))
    return 0


def _status(args: argparse.Namespace) -> int:
    profile = cli_profile(args)
    try:
        config = HandoverConfig.load(profile.root)
    except (ValueError, KeyError, OSError) as exc:
        raise CommandError(_("réglage de remise illisible : {why}.").format(why=exc)) from exc
    if config is None:
        print(_("Ce poste fonctionne seul (pas de dossier de remise)."))
        return 0
    print(_("Rôle : {role}").format(role=_role(config.role)))
    print(_("Dossier de remise : {path}").format(path=config.folder))
    if config.relay:
        print(_("Courrier relayé pour : {ids}").format(ids=", ".join(config.relay)))
    if not config.folder.is_dir():
        print(_("Le dossier de remise est absent (clé retirée ou partage déconnecté)."))
        return 1
    outgoing = len(list((config.folder / "outgoing").glob("*.json")))
    incoming = len(list((config.folder / "incoming").glob("*/*.json")))
    print(
        _("En attente dans le dossier : {out} envoi(s), {inc} courrier(s) reçu(s).").format(
            out=outgoing, inc=incoming
        )
    )
    return 0


def _role(role: str) -> str:
    return _("poste de capture") if role == "capture" else _("poste relié au réseau")
