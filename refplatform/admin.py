"""The administration commands of the platform, on either back-end::

    passavant platform station add NAME | list | revoke NAME
    passavant platform recipient add ID --station S --cert FILE --role ROLE [--specialty X]
                                        [--name "Pr Marc Dubois"] [--rpps NUMBER]
    passavant platform recipient list [--station S] | remove ID [--force]
    passavant platform route add|remove --from S (--to-station T | --to-recipient R) | list
    passavant platform quota set (--station S | --default) [--open-uploads N]
                                 [--open-bytes SIZE] [--daily-bytes SIZE]
    passavant platform quota show [--station S]
    passavant platform status [--url URL [--ca FILE]]

Each takes ``--data DIR`` (the embedded platform) or ``--database URL`` (the distributed one;
with ``--blobs URL`` when ``recipient remove --force`` must delete bundles): see
:mod:`refplatform.admin_backends`. Listings go to standard output; ``station add`` prints the
new token alone on standard output. A failure prints one plain line on standard error and
exits 1 (2 for a usage error). The server may run meanwhile (SQLite's WAL mode; PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from crypto.rpps import rpps_ok
from refplatform import registry
from refplatform.accounts import checked_rpps
from refplatform.admin_backends import AdminBackend, backend_of
from refplatform.quotas import UNLIMITED, Quota, Route, describe

__all__ = ["COMMANDS", "configure", "run"]

#: The subcommands this module adds to ``passavant platform``.
COMMANDS = ("station", "recipient", "route", "quota", "status")
_ROLES = ("doctor", "specialist", "unit")
_SIZE = re.compile(r"([0-9]+)\s*([kmgt]i?b?|b)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_MAX_CERT_BYTES = 64 * 1024


class AdminError(Exception):
    """A failure to report in one line (exit status 1)."""


def _size(text: str) -> int:
    """``unlimited``, or a byte count such as ``500M``, ``2G``, ``1048576`` (binary units)."""
    if text.strip().lower() in ("unlimited", "none"):
        return UNLIMITED
    found = _SIZE.fullmatch(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500M, 2G, unlimited)")
    unit = (found.group(2) or "").lower()[:1]
    return int(found.group(1)) * _UNITS[unit]


def _count(text: str) -> int:
    if text.strip().lower() in ("unlimited", "none"):
        return UNLIMITED
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"not a count: {text!r}")
    return int(text)


def _rpps(text: str) -> str:
    """An RPPS number: 11 digits, the last a Luhn key (``crypto.rpps``)."""
    if not rpps_ok(text.strip()):
        raise argparse.ArgumentTypeError(
            f"not an RPPS number: {text[:40]!r} (11 digits, the last its Luhn key)"
        )
    return text.strip()


def _data_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, metavar="DIR", default=argparse.SUPPRESS, help="data directory"
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="the distributed platform's PostgreSQL (postgresql://…), instead of --data",
    )
    parser.add_argument(
        "--blobs",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="its object storage (s3://BUCKET?endpoint=…), to delete bundles",
    )


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, metavar="STATION")
    to = parser.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-station", metavar="STATION", help="every recipient of that station")
    to.add_argument("--to-recipient", metavar="ID", help="one recipient")


def configure(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds the administration subcommands to ``passavant platform``'s subparsers."""
    station = commands.add_parser("station", help="register, list or revoke workstations")
    actions = station.add_subparsers(dest="admin_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="register a workstation; prints its token")
    add.add_argument("name", metavar="NAME")
    actions.add_parser("list", help="list workstations")
    revoke = actions.add_parser("revoke", help="revoke a workstation's token")
    revoke.add_argument("name", metavar="NAME")
    for each in actions.choices.values():
        _data_option(each)

    recipient = commands.add_parser("recipient", help="the directory of recipients")
    actions = recipient.add_subparsers(dest="admin_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a recipient, or update it")
    add.add_argument("id", metavar="ID")
    add.add_argument("--station", required=True, help="the workstation reading its mailbox")
    add.add_argument("--cert", type=Path, required=True, help="its certificate (PEM or DER)")
    add.add_argument("--role", required=True, choices=_ROLES)
    add.add_argument("--specialty", help="e.g. dermatology")
    add.add_argument("--name", help="name shown to senders (default: the certificate's CN)")
    add.add_argument(
        "--rpps",
        type=_rpps,
        metavar="NUMBER",
        help="the RPPS number shown to senders (default: the one the certificate carries)",
    )
    listing = actions.add_parser("list", help="list recipients")
    listing.add_argument("--station", help="only this workstation's")
    remove = actions.add_parser("remove", help="remove a recipient")
    remove.add_argument("id", metavar="ID")
    remove.add_argument("--force", action="store_true", help="drop its waiting bundles too")
    for each in actions.choices.values():
        _data_option(each)

    route = commands.add_parser("route", help="which workstations may write to whom")
    actions = route.add_subparsers(dest="admin_action", required=True, metavar="ACTION")
    _target(actions.add_parser("add", help="allow a workstation to write to recipients"))
    actions.add_parser("list", help="list routes")
    _target(actions.add_parser("remove", help="remove a route"))
    for each in actions.choices.values():
        _data_option(each)

    quota = commands.add_parser("quota", help="per-workstation limits")
    actions = quota.add_subparsers(dest="admin_action", required=True, metavar="ACTION")
    put = actions.add_parser("set", help="set limits (others stay as they are)")
    who = put.add_mutually_exclusive_group(required=True)
    who.add_argument("--station", help="one workstation")
    who.add_argument("--default", action="store_true", help="every workstation without its own")
    put.add_argument("--open-uploads", type=_count, metavar="N", help="unfinished uploads")
    put.add_argument("--open-bytes", type=_size, metavar="SIZE", help="their declared bytes")
    put.add_argument(
        "--daily-bytes", type=_size, metavar="SIZE", help="bytes per recipient per UTC day"
    )
    show = actions.add_parser("show", help="show the limits in force")
    show.add_argument("--station", help="one workstation (default: the platform default)")
    for each in actions.choices.values():
        _data_option(each)

    status = commands.add_parser("status", help="health, storage, database, uploads, mailboxes")
    status.add_argument("--url", help="also ask a running platform's health (https://…)")
    status.add_argument("--ca", type=Path, help="CA of the platform's TLS certificate")
    _data_option(status)


def run(args: argparse.Namespace) -> int:
    """Runs one administration command; returns the exit status."""
    command = str(args.platform_command)
    data: Path | None = getattr(args, "data", None)
    database: str | None = getattr(args, "database", None)
    if (data is None) == (database is None):
        print(
            f"passavant platform {command}: give --data DIR (embedded) or --database URL"
            " (distributed)",
            file=sys.stderr,
        )
        return 2
    handler = {
        "station": _station,
        "recipient": _recipient,
        "route": _route,
        "quota": _quota,
        "status": _status,
    }[command]
    try:
        backend = backend_of(data, database, getattr(args, "blobs", None))
    except Exception as exc:  # noqa: BLE001 - an unreachable database: one plain line
        print(f"passavant platform {command}: cannot open the platform: {exc}", file=sys.stderr)
        return 1
    try:
        return handler(args, backend)
    except (AdminError, OSError, ValueError, RuntimeError, sqlite3.Error) as exc:
        print(f"passavant platform {command}: {exc}", file=sys.stderr)
        return 1
    finally:
        backend.close()


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _stamp(moment: float | None) -> str:
    return "-" if moment is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(moment))


def _station(args: argparse.Namespace, backend: AdminBackend) -> int:
    if args.admin_action == "add":
        token = backend.register_station(args.name)
        print(token, flush=True)
        print(f"workstation {args.name}: registered; give it this token", file=sys.stderr)
        return 0
    if args.admin_action == "revoke":
        if not backend.revoke_station(args.name):
            raise AdminError(f"no workstation named {args.name!r}")
        print(f"workstation {args.name}: token revoked")
        return 0
    stations = backend.list_stations()
    if not stations:
        print("no workstation registered")
        return 0
    rows = [("WORKSTATION", "TOKEN", "ISSUED", "RECIPIENTS")]
    for each in stations:
        state = "active" if each.active else f"revoked {_stamp(each.revoked_at)}"
        rows.append((each.id, state, _stamp(each.token_issued_at), str(each.recipients)))
    _table(rows)
    return 0


def _certificate(path: Path) -> tuple[str, str]:
    """The certificate as PEM, and its subject's common name."""
    if path.stat().st_size > _MAX_CERT_BYTES:
        raise AdminError(f"{path}: too large for a certificate")
    raw = path.read_bytes()
    try:
        if b"-----BEGIN CERTIFICATE-----" in raw:
            cert = x509.load_pem_x509_certificate(raw)
        else:
            cert = x509.load_der_x509_certificate(raw)
    except ValueError:
        raise AdminError(f"{path}: not a certificate (PEM or DER expected)") from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    return cert.public_bytes(Encoding.PEM).decode("ascii"), common_name


def _recipient(args: argparse.Namespace, backend: AdminBackend) -> int:
    if args.admin_action == "add":
        pem, common_name = _certificate(args.cert)
        name = (args.name or common_name).strip()
        if not name:
            raise AdminError("the certificate has no common name: give --name")
        rpps = checked_rpps(args.rpps, pem)  # refused here, before the back-end is written
        backend.register_recipient(
            recipient_id=args.id,
            station_id=args.station,
            display_name=name,
            role=args.role,
            specialty=args.specialty,
            certificate_pem=pem,
            rpps=rpps,
        )
        listed = f", RPPS {rpps}" if rpps else ""
        print(f"recipient {args.id} ({name}{listed}): mailbox read by workstation {args.station}")
        return 0
    if args.admin_action == "remove":
        try:
            found = backend.remove_recipient(args.id, force=args.force)
        except registry.RecipientBusy as busy:
            raise AdminError(f"{busy}; --force removes them too") from None
        if not found:
            raise AdminError(f"no recipient named {args.id!r}")
        print(f"recipient {args.id}: removed")
        return 0
    recipients = backend.list_recipients(args.station)
    if not recipients:
        print("no recipient registered")
        return 0
    rows = [("RECIPIENT", "WORKSTATION", "ROLE", "SPECIALTY", "RPPS", "WAITING", "NAME")]
    for each in recipients:
        rows.append(
            (
                str(each["id"]),
                str(each["station_id"]),
                str(each["role"]),
                str(each["specialty"] or "-"),
                str(each["rpps"] or "-"),
                str(each["waiting"]),
                str(each["display_name"]),
            )
        )
    _table(rows)
    return 0


def _route(args: argparse.Namespace, backend: AdminBackend) -> int:
    store = backend.limits()
    if args.admin_action == "list":
        routes = store.routes()
        if not routes:
            print("no route: every workstation may write to every recipient")
            return 0
        rows = [("FROM", "TO")]
        rows += [(r.source, f"{r.kind} {r.target}") for r in routes]
        _table(rows)
        return 0
    if args.to_station is not None:
        route = Route(args.source, "station", args.to_station)
    else:
        route = Route(args.source, "recipient", args.to_recipient)
    if args.admin_action == "add":
        first = not store.routes()
        if not store.add_route(route, time.time()):
            print(f"route {route.source} -> {route.kind} {route.target}: already there")
            return 0
        print(f"route {route.source} -> {route.kind} {route.target}: added")
        if first:
            print("routes are now enforced: a workstation writes only where a route allows")
        return 0
    if not store.remove_route(route):
        raise AdminError(f"no route {route.source} -> {route.kind} {route.target}")
    print(f"route {route.source} -> {route.kind} {route.target}: removed")
    if not store.routes():
        print("no route left: every workstation may write to every recipient again")
    return 0


def _quota(args: argparse.Namespace, backend: AdminBackend) -> int:
    store = backend.limits()
    if args.admin_action == "set":
        quota = Quota(args.open_uploads, args.open_bytes, args.daily_bytes)
        if quota == Quota():
            raise AdminError("nothing to set: give --open-uploads, --open-bytes or --daily-bytes")
        store.set_quota(None if args.default else args.station, quota, time.time())
    station = None if args.admin_action == "set" and args.default else args.station
    if station is not None and station not in {s.id for s in backend.list_stations()}:
        raise AdminError(f"no workstation named {station!r}")
    own, effective = store.quota(station)
    print(f"limits of {'the platform default' if station is None else 'workstation ' + station}:")
    rows = [("LIMIT", "SET", "IN FORCE")]
    for (name, set_value), (_name, in_force) in zip(
        describe(own), describe(effective), strict=True
    ):
        rows.append((name, set_value, in_force))
    _table(rows)
    if station is not None:
        count, declared = store.open_uploads(station, time.time())
        print(f"now: {count} unfinished upload(s), {declared} bytes declared")
    return 0


def _health(url: str, ca: Path | None) -> str:
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    target = url.rstrip("/") + "/api/v1/health"
    try:
        with urllib.request.urlopen(target, timeout=5, context=context) as answer:
            document = json.loads(answer.read(4096))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"not answering ({exc})"
    return f"{document.get('status', '?')} (version {document.get('version', '?')})"


def _status(args: argparse.Namespace, backend: AdminBackend) -> int:
    state = backend.status(time.time())
    mib = 1024**2
    healthy = state.integrity == "ok" and state.schema == state.schema_expected
    print(f"health: {'ok' if healthy else 'PROBLEM'}")
    if args.url:
        print(f"server: {_health(args.url, args.ca)}")
    print(
        f"database: schema {state.schema}/{state.schema_expected}, integrity {state.integrity},"
        f" {state.database_bytes / mib:.1f} MiB"
    )
    print(f"storage: {state.free_bytes / mib:.0f} MiB free of {state.total_bytes / mib:.0f} MiB")
    print(
        f"accounts: {state.stations} workstation(s) ({state.revoked} revoked),"
        f" {state.recipients} recipient(s), {state.routes} route(s)"
    )
    print(
        f"uploads in progress: {state.uploads_open}, {state.uploads_received} of"
        f" {state.uploads_declared} bytes received"
    )
    print(f"deliveries recorded: {state.deliveries}")
    if not state.mailboxes:
        print("mailboxes: all empty")
    else:
        print("mailboxes:")
        rows = [("RECIPIENT", "WORKSTATION", "ITEMS", "BYTES")]
        rows += [(m.recipient, m.station, str(m.items), str(m.bytes)) for m in state.mailboxes]
        _table(rows)
    return 0 if healthy else 1
