"""``passavant outbox enqueue FILE --to RECIPIENT``: queues a sealed bundle.

Only ciphertext is taken: a file that does not start like a CMS envelope is refused. RECIPIENT
is the SHA-256 fingerprint of the recipient's certificate (hex, colons allowed), looked up in the
directory the workstation last fetched, then on the platform; or a name from the address book
(``cases.trust``). Queuing is idempotent on the bundle id (by default the file's SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import re
from pathlib import Path
from typing import Any

from app.commands.common import CommandError
from app.commands.station import (
    open_outbox,
    platform_config,
    platform_options,
    profile_of,
    queue_lock,
)
from app.i18n import _
from app.messages import human_size

__all__ = ["add_parser", "looks_sealed", "resolve_recipient"]

log = logging.getLogger(__name__)

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# DER of the CMS content types a sealed bundle may have: AuthEnvelopedData, EnvelopedData.
_SEALED_OIDS = (
    bytes.fromhex("060b2a864886f70d0109100117"),
    bytes.fromhex("06092a864886f70d010703"),
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``enqueue`` to the ``outbox`` actions."""
    enqueue = sub.add_parser("enqueue", help="queue a sealed bundle for a recipient")
    enqueue.add_argument("file", type=Path, metavar="FILE", help="the sealed bundle (CMS)")
    enqueue.add_argument(
        "--to", required=True, metavar="RECIPIENT", help="certificate SHA-256 fingerprint or name"
    )
    enqueue.add_argument("--priority", choices=["normal", "urgent"], default=None)
    enqueue.add_argument("--bundle-id", help="the bundle's id (default: from its SHA-256)")
    enqueue.add_argument("--kind", default="case", help="bundle kind (default: case)")
    platform_options(enqueue)
    enqueue.set_defaults(handler=_enqueue)


def looks_sealed(payload: bytes) -> bool:
    """Whether ``payload`` starts like a DER CMS envelope (the only thing the queue takes)."""
    head = payload[:32]
    return head[:1] == b"\x30" and any(oid in head for oid in _SEALED_OIDS)


def _enqueue(args: argparse.Namespace) -> int:
    profile = profile_of(args)
    try:
        payload = args.file.read_bytes()
    except OSError as exc:
        raise CommandError(_("fichier illisible : {path}").format(path=args.file)) from exc
    if not looks_sealed(payload):
        raise CommandError(
            _(
                "{path} n’est pas un document scellé (CMS) : la file n’accepte que des chiffrés."
            ).format(path=args.file)
        )
    bundle_id = args.bundle_id or hashlib.sha256(payload).hexdigest()
    from outbox.spool import check_bundle_id

    try:
        check_bundle_id(bundle_id)
    except ValueError as exc:
        raise CommandError(_("identifiant d’envoi invalide : {id}").format(id=bundle_id)) from exc
    recipient_id, label = resolve_recipient(args, profile)
    with queue_lock(profile.root):
        outbox = open_outbox(profile)
        try:
            options: dict[str, str] = {}
            if args.priority is not None:
                options["priority"] = args.priority
            known = outbox.get(bundle_id) is not None
            try:
                job = outbox.enqueue(bundle_id, recipient_id, label, args.kind, payload, **options)
            except OSError as exc:
                raise _disk_error(exc) from exc
        finally:
            outbox.close()
    text = _("Déjà en file : {id}") if known else _("Mis en file : {id} pour {to} ({size})")
    print(text.format(id=job.bundle_id, to=job.recipient_label, size=human_size(job.size)))
    return 0


class _DiskError(Exception):
    code = "disk_error"


def _disk_error(exc: OSError) -> _DiskError:
    log.debug("cannot write the spool file: errno %s", exc.errno)
    return _DiskError(f"cannot write the spool file (errno {exc.errno})")


def resolve_recipient(args: argparse.Namespace, profile: Any) -> tuple[str, str]:
    """Returns the recipient's platform id and label for ``--to``."""
    wanted = args.to.strip().lower().replace(":", "")
    if not _FINGERPRINT.fullmatch(wanted):
        wanted = _address_book_fingerprint(profile, args.to.strip())
    for entry in _cached_directory(profile):
        if _matches(entry, wanted):
            return str(entry["id"]), str(entry["display_name"])
    from outbox.platform import PlatformClient

    with PlatformClient(platform_config(args, profile)) as client:
        for found in client.directory():
            if _matches(found.__dict__, wanted):
                return found.id, found.display_name
    raise CommandError(
        _("aucun destinataire de l’annuaire n’a ce certificat : {fp}").format(fp=wanted)
    )


def _cached_directory(profile: Any) -> list[dict[str, Any]]:
    path = profile.root / "directory.json"
    try:
        entries = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return []
    return (
        [e for e in entries if isinstance(e, dict) and "id" in e]
        if isinstance(entries, list)
        else []
    )


def _matches(entry: dict[str, Any], fingerprint: str) -> bool:
    if str(entry.get("id", "")).lower() == fingerprint:
        return True
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(str(entry.get("certificate_pem", "")).encode())
    except ValueError:
        return False
    return cert.fingerprint(hashes.SHA256()).hex() == fingerprint


def _address_book_fingerprint(profile: Any, name: str) -> str:
    """Looks ``name`` up in the profile's address book (``cases.trust``), if there is one."""
    try:
        trust: Any = importlib.import_module("cases.trust")
    except ImportError:
        trust = None
    book_type = getattr(trust, "AddressBook", None)
    if book_type is None:
        raise CommandError(
            _(
                "« {name} » n’est pas une empreinte SHA-256 et le carnet d’adresses n’est pas "
                "disponible."
            ).format(name=name)
        )
    path = getattr(profile, "addressbook_path", profile.root / "addressbook.json")
    contact = book_type(path).find(name)  # a damaged book raises an error with a code
    fingerprint = getattr(contact, "fingerprint", None)
    if not isinstance(fingerprint, str):
        raise CommandError(_("« {name} » est absent du carnet d’adresses.").format(name=name))
    return fingerprint.lower().replace(":", "")
