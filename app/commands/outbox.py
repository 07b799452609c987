"""``passavant outbox|inbox|faultproxy``: the send queue, the mailboxes and the fault proxy.

- ``outbox enqueue FILE --to RECIPIENT [--priority urgent]`` queues a sealed bundle (ciphertext
  only: a file that is not a CMS envelope is refused). RECIPIENT is the SHA-256 fingerprint of
  the recipient's certificate (hex, colons allowed), looked up in the directory the workstation
  last fetched, then on the platform; or a name from the address book (``cases.trust``).
- ``outbox run [--until-idle] [--timeout S]`` runs the sender until stopped (SIGINT, SIGTERM),
  until nothing is left to send, or until the timeout.
- ``outbox status [--json]`` lists the jobs: a French table, or JSON for scripts. It only reads
  the queue database, so it never disturbs a ``run`` in another process.
- ``outbox pause|resume [BUNDLE_ID | --all]``, ``outbox retry|cancel BUNDLE_ID [--reason T]``.
- ``inbox fetch [--as IDENTITY]`` polls the mailboxes once and stores what arrived.
- ``faultproxy --listen H:P --target H:P [...]`` runs :class:`refplatform.faultproxy.FaultProxy`.

The platform URL comes from the profile, the station token from the keyring when one holds it
(service ``passavant``, account ``<station id>/station-token``), else from the profile's
``station.token`` (mode 0600). ``--platform URL``, ``--token-file FILE`` and ``--ca-file PEM``
override them, for scripts. Opening the queue repairs what a crash left behind; the commands
that open it hold ``<profile>/outbox.lock`` meanwhile, so two of them never repair at once.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import logging
import re
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.commands.common import CommandError
from app.i18n import _
from app.messages import human_duration, human_size, job_state_label, reason

log = logging.getLogger(__name__)

ACTIVE_STATES = frozenset({"pending", "queued", "sending", "retry", "waiting_retry"})
"""States in which a job still waits to be sent (the names the queue uses, old and new)."""
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# DER of the CMS content types a sealed bundle may have: AuthEnvelopedData, EnvelopedData.
_SEALED_OIDS = (
    bytes.fromhex("060b2a864886f70d0109100117"),
    bytes.fromhex("06092a864886f70d010703"),
)
_POLL_S = 0.5


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``outbox``, ``inbox`` and ``faultproxy``."""
    outbox = subparsers.add_parser("outbox", help="the send queue (store and forward)")
    sub = outbox.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")

    enqueue = sub.add_parser("enqueue", help="queue a sealed bundle for a recipient")
    enqueue.add_argument("file", type=Path, metavar="FILE", help="the sealed bundle (CMS)")
    enqueue.add_argument(
        "--to", required=True, metavar="RECIPIENT", help="certificate SHA-256 fingerprint or name"
    )
    enqueue.add_argument("--priority", choices=["normal", "urgent"], default=None)
    enqueue.add_argument("--bundle-id", help="the bundle's id (default: from its SHA-256)")
    enqueue.add_argument("--kind", default="case", help="bundle kind (default: case)")
    _platform_options(enqueue)
    enqueue.set_defaults(handler=_enqueue)

    run = sub.add_parser("run", help="send what is queued")
    run.add_argument("--until-idle", action="store_true", help="stop once nothing is left")
    run.add_argument("--timeout", type=float, metavar="S", help="stop after S seconds")
    run.add_argument(
        "--max-retry-delay", type=float, metavar="S", help="never wait more than S s to retry"
    )
    _platform_options(run)
    run.set_defaults(handler=_run)

    status = sub.add_parser("status", help="list the queued bundles")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)

    for name, what in (("pause", "hold"), ("resume", "release")):
        action = sub.add_parser(name, help=f"{what} one bundle or all of them")
        which = action.add_mutually_exclusive_group(required=True)
        which.add_argument("bundle_id", nargs="?", metavar="BUNDLE_ID")
        which.add_argument("--all", action="store_true", help="every bundle")
        action.set_defaults(handler=_pause_resume, action=name)
    for name, what in (("retry", "retry now"), ("cancel", "cancel")):
        action = sub.add_parser(name, help=f"{what} one bundle")
        action.add_argument("bundle_id", metavar="BUNDLE_ID")
        action.add_argument("--reason", metavar="TEXT", help="why (kept with the job)")
        action.set_defaults(handler=_retry_cancel, action=name)

    inbox = subparsers.add_parser("inbox", help="the mailboxes of this workstation")
    inbox_sub = inbox.add_subparsers(dest="inbox_command", required=True, metavar="ACTION")
    fetch = inbox_sub.add_parser("fetch", help="download what waits in the mailboxes")
    fetch.add_argument("--as", dest="identity", metavar="IDENTITY", help="only this mailbox")
    _platform_options(fetch)
    fetch.set_defaults(handler=_fetch)

    _register_faultproxy(subparsers)


def _platform_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--platform", metavar="URL", help="platform URL (default: the profile's)")
    parser.add_argument("--token-file", type=Path, metavar="FILE", help="station token file")
    parser.add_argument("--ca-file", type=Path, metavar="PEM", help="CA of the platform")
    parser.add_argument(
        "--read-timeout", type=float, metavar="S", help="give up on a silent answer after S s"
    )


# --- profile, token, platform --------------------------------------------------------------


def _profile(args: argparse.Namespace) -> Any:
    from app.cli import default_profile
    from cases.profile import Profile

    root: Path = args.profile or default_profile()
    if not root.is_dir():
        raise CommandError(_("profil introuvable : {path}").format(path=root))
    return Profile(root)


def station_token(profile: Any, token_file: Path | None = None) -> str:
    """The station token: ``token_file``, else the profile's (its file, or the keyring)."""
    if token_file is not None:
        try:
            return token_file.read_text("ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(_("jeton illisible : {path}").format(path=token_file)) from exc
    from cases.profile import ProfileError

    try:
        return str(profile.station_token())
    except ProfileError as exc:
        raise CommandError(_("aucun jeton d’accès à la plateforme dans ce profil.")) from exc


def platform_config(args: argparse.Namespace, profile: Any) -> Any:
    """The platform's URL, token and CA: the profile's, overridden by the options."""
    from outbox.platform import PlatformConfig

    url = args.platform or profile.platform_url
    if not url:
        raise CommandError(_("aucune plateforme configurée : précisez --platform URL."))
    ca_file = args.ca_file
    if ca_file is None and url.startswith("https:") and profile.ca_file.exists():
        ca_file = profile.ca_file
    timeouts: dict[str, float] = {}
    if getattr(args, "read_timeout", None) is not None:
        if args.read_timeout <= 0:
            raise CommandError(_("--read-timeout doit être positif."), status=2)
        timeouts["read_timeout"] = args.read_timeout
        timeouts["idle_timeout"] = args.read_timeout
    token = station_token(profile, args.token_file)
    return PlatformConfig(url=url, token=token, ca_file=ca_file, **timeouts)


@contextlib.contextmanager
def queue_lock(root: Path) -> Iterator[None]:
    """Holds ``<root>/outbox.lock`` (no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: one workstation process at a time anyway
        yield
        return
    with (root / "outbox.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _open_outbox(profile: Any, *, recover: bool = False) -> Any:
    """The profile's queue. Only ``outbox run`` (the sending process) repairs it on opening;
    the other commands must not requeue the jobs the app may be sending right now, nor
    remove a spool file another process has just written."""
    from outbox.queue import Outbox

    return Outbox(profile.db_path, profile.path("outbox"), recover=recover)


def looks_sealed(payload: bytes) -> bool:
    """Whether ``payload`` starts like a DER CMS envelope (the only thing the queue takes)."""
    head = payload[:32]
    return head[:1] == b"\x30" and any(oid in head for oid in _SEALED_OIDS)


def _enqueue(args: argparse.Namespace) -> int:
    profile = _profile(args)
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
        outbox = _open_outbox(profile)
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


# --- run ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turns SIGTERM and SIGINT into ``stop`` (main thread only; restored afterwards)."""
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _sender(outbox: Any, client: Any, max_retry_delay: float | None) -> Any:
    from outbox import backoff
    from outbox.sender import Sender

    options: dict[str, Any] = {}
    if max_retry_delay is not None:
        cap = max(0.0, max_retry_delay)
        options["retry_delay"] = lambda attempt: min(cap, backoff.retry_delay(attempt))
    return Sender(outbox, client, **options)


def _run(args: argparse.Namespace) -> int:
    from outbox.platform import PlatformClient

    profile = _profile(args)
    config = platform_config(args, profile)
    with queue_lock(profile.root):
        outbox = _open_outbox(profile, recover=True)
    view = QueueView(profile.db_path)
    client = PlatformClient(config)
    sender = _sender(outbox, client, args.max_retry_delay)
    stop = threading.Event()
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    idle = timed_out = False
    try:
        with _stop_on_signals(stop):
            sender.start()
            while not stop.wait(_POLL_S):
                sender.wake()  # pick up what other processes changed (resume, retry, enqueue)
                if args.until_idle and (
                    view.all_paused() or not ACTIVE_STATES & set(view.counts())
                ):
                    idle = True
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    timed_out = True
                    break
    finally:
        sender.stop()
        client.close()
        outbox.close()
    counts = view.counts()
    waiting = sum(n for state, n in counts.items() if state in ACTIVE_STATES)
    print(
        _("{delivered} remis, {waiting} en attente, {failed} bloqués.").format(
            delivered=counts.get("delivered", 0) + counts.get("acknowledged", 0),
            waiting=waiting,
            failed=counts.get("failed", 0) + counts.get("quarantined", 0),
        )
    )
    if args.until_idle and timed_out and not idle:
        raise CommandError(
            _("délai dépassé : {n} envoi(s) restent en attente.").format(n=waiting), status=1
        )
    return 0


# --- status ---------------------------------------------------------------------------------


class QueueView:
    """Reads the jobs table without opening (and so without repairing) the queue.

    Opening :class:`outbox.queue.Outbox` requeues jobs left in ``sending``, which are the ones
    a ``run`` in another process is sending; a status listing must not. This only selects.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=10.0)
        try:
            conn.execute("PRAGMA query_only = ON")
            yield conn
        finally:
            conn.close()

    def rows(self) -> list[dict[str, Any]]:
        """Every job as a plain dict (oldest first); the upload URL is left out."""
        if not self.db_path.exists():
            return []
        with self._connect() as conn:
            names = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
            if not names:
                return []
            columns = [n for n in names if n != "upload_url"]
            cursor = conn.execute(f"SELECT {', '.join(columns)} FROM jobs ORDER BY created_at")
            return [dict(zip(columns, row, strict=True)) for row in cursor]

    def all_paused(self) -> bool:
        """Whether the whole queue is paused (the outage mode of ``Outbox.pause_all``)."""
        if not self.db_path.exists():
            return False
        with self._connect() as conn:
            try:
                row = conn.execute(
                    "SELECT value FROM outbox_settings WHERE key = 'paused_all'"
                ).fetchone()
            except sqlite3.OperationalError:  # a queue without the outage mode
                return False
        return row is not None and row[0] == "1"

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        if not self.db_path.exists():
            return {}
        with self._connect() as conn:
            try:
                rows = conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
            except sqlite3.OperationalError:  # no table yet
                return {}
        return {str(state): int(count) for state, count in rows}


def _status(args: argparse.Namespace) -> int:
    profile = _profile(args)
    view = QueueView(profile.db_path)
    rows, paused = view.rows(), view.all_paused()
    if args.json:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        document = {"paused_all": paused, "counts": counts, "jobs": rows}
        print(json.dumps(document, ensure_ascii=False, indent=1))
        return 0
    if paused:
        print(_("Toute la file est en pause (reprise : passavant outbox resume --all)."))
    if not rows:
        print(_("La file d’envoi est vide."))
        return 0
    now = time.time()
    table = [[_("Envoi"), _("Destinataire"), _("État"), _("Progression"), _("Essais"), _("Motif")]]
    for row in rows:
        state = job_state_label(str(row["state"]))
        due = row.get("next_attempt_at")
        if row["state"] in ("retry", "waiting_retry") and isinstance(due, int | float):
            state += " " + _("(dans {d})").format(d=human_duration(due - now))
        progress = f"{human_size(row['bytes_sent'])} / {human_size(row['size'])}"
        code = row.get("last_error_code")
        table.append(
            [
                str(row["bundle_id"])[:16],
                str(row["recipient_label"]),
                state,
                progress,
                str(row["attempts"]),
                reason(code) if code and row["state"] not in ("delivered", "acknowledged") else "",
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
    return 0


# --- operator actions -----------------------------------------------------------------------


def _pause_resume(args: argparse.Namespace) -> int:
    profile = _profile(args)
    pausing = args.action == "pause"
    with queue_lock(profile.root):
        outbox = _open_outbox(profile)
        try:
            if args.all:
                print(_all(outbox, pausing))
                return 0
            job = _act(outbox, "pause" if pausing else "resume", args.bundle_id)
        finally:
            outbox.close()
    expected = "paused" if pausing else None
    if (pausing and job.state != expected) or (not pausing and job.state == "paused"):
        raise CommandError(_not_applicable(job))
    print(_("{id} : {state}").format(id=job.bundle_id, state=job_state_label(job.state)))
    return 0


def _all(outbox: Any, pausing: bool) -> str:
    """Pauses or resumes everything; returns what to tell the operator.

    With the queue's ``pause_all``/``resume_all`` it is the outage mode (jobs keep their
    states; it survives a restart); without them, each job is paused or resumed in turn.
    """
    bulk = getattr(outbox, "pause_all" if pausing else "resume_all", None)
    if callable(bulk):
        bulk()
        if pausing:
            return _("Toute la file est en pause, même après un redémarrage.")
        return _("La file d’envoi reprend.")
    changed = 0
    for job in outbox.jobs():
        if pausing and job.state in ACTIVE_STATES:
            changed += outbox.pause(job.bundle_id).state == "paused"
        elif not pausing and job.state == "paused":
            changed += outbox.resume(job.bundle_id).state != "paused"
    text = _("{n} envoi(s) mis en pause.") if pausing else _("{n} envoi(s) repris.")
    return text.format(n=changed)


def _act(outbox: Any, method: str, bundle_id: str, **options: str) -> Any:
    try:
        job = getattr(outbox, method)(bundle_id, **options)
    except KeyError:
        job = None
    if job is None:
        raise CommandError(_("aucun envoi {id} dans la file.").format(id=bundle_id))
    return job


def _not_applicable(job: Any) -> str:
    return _("{id} est « {state} » : action impossible dans cet état.").format(
        id=job.bundle_id, state=job_state_label(job.state)
    )


def _retry_cancel(args: argparse.Namespace) -> int:
    profile = _profile(args)
    with queue_lock(profile.root):
        outbox = _open_outbox(profile)
        try:
            if args.action == "retry":
                if args.reason:
                    log.info("retry of %s asked: %s", args.bundle_id, args.reason)
                job = _act(outbox, "retry_now", args.bundle_id)
                applied = job.state in ("pending", "queued")
            else:
                options = {}
                if args.reason:
                    options["reason"] = args.reason
                before = _act(outbox, "get", args.bundle_id)
                job = _act(outbox, "cancel", args.bundle_id, **options)
                applied = before.state != "cancelled" and job.state == "cancelled"
        finally:
            outbox.close()
    if not applied:
        raise CommandError(_not_applicable(job))
    print(_("{id} : {state}").format(id=job.bundle_id, state=job_state_label(job.state)))
    return 0


# --- inbox ----------------------------------------------------------------------------------


def _fetch(args: argparse.Namespace) -> int:
    from outbox.errors import OutboxError
    from outbox.inbox import Inbox, InboxFetcher
    from outbox.platform import PlatformClient

    profile = _profile(args)
    if args.identity:
        mailboxes = [args.identity]
    else:
        mailboxes = [i.id for i in profile.identities() if i.role != "secretary"]
    if not mailboxes:
        raise CommandError(_("aucune boîte à relever : précisez --as IDENTITÉ."))
    config = platform_config(args, profile)
    inbox = Inbox(profile.db_path, profile.path("inbox"))
    stored: list[Any] = []
    try:
        with PlatformClient(config) as client:
            fetcher = InboxFetcher(inbox, client, mailboxes)
            fetcher.subscribe(stored.append)
            fetcher.step()
            status = fetcher.status
    finally:
        inbox.close()
    for item in stored:
        print(
            _("Reçu : {id} pour {to} ({size})").format(
                id=item.bundle_id, to=item.recipient_id, size=human_size(item.size)
            )
        )
    if status.error_code is not None:
        raise OutboxError(status.error_code, status.error_detail or "")
    print(_("{n} document(s) reçu(s).").format(n=len(stored)))
    return 0


# --- fault proxy ----------------------------------------------------------------------------


def _register_faultproxy(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from refplatform.faultproxy import parse_address, parse_rate

    def address(text: str) -> tuple[str, int]:
        try:
            return parse_address(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    def rate(text: str) -> float:
        try:
            return parse_rate(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    proxy = subparsers.add_parser(
        "faultproxy",
        help="relay TCP to a target through a bad network (cuts, latency, throttle, 503, stalls)",
    )
    proxy.add_argument("--listen", type=address, default=("127.0.0.1", 0), metavar="HOST:PORT")
    proxy.add_argument("--target", type=address, required=True, metavar="HOST:PORT")
    proxy.add_argument("--cut-every", type=rate, metavar="BYTES", help="cut after N bytes up")
    proxy.add_argument("--latency", type=float, default=0.0, metavar="MS", help="each way")
    proxy.add_argument("--bandwidth", type=rate, metavar="RATE", help="bytes/s, or 4mbit, 500k")
    proxy.add_argument("--error-503-rate", type=float, default=0.0, metavar="SHARE")
    proxy.add_argument("--retry-after", type=float, metavar="S", help="Retry-After of the 503s")
    proxy.add_argument("--stall-rate", type=float, default=0.0, metavar="SHARE")
    proxy.add_argument("--stall-hold", type=float, default=60.0, metavar="S")
    proxy.add_argument("--seed", type=int, help="seed of the random faults")
    proxy.add_argument("--max-connections", type=int, default=64, metavar="N")
    proxy.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    proxy.add_argument("--ready-file", type=Path, metavar="F", help="write HOST:PORT here")
    proxy.set_defaults(handler=_faultproxy)


def _faultproxy(args: argparse.Namespace) -> int:
    from refplatform.faultproxy import FaultProxy

    proxy = FaultProxy(
        args.target, listen=args.listen, seed=args.seed, max_connections=args.max_connections
    )
    try:
        proxy.set_cut_every(None if args.cut_every is None else int(args.cut_every))
        proxy.set_latency(args.latency / 1000.0)
        proxy.set_bandwidth(args.bandwidth)
        proxy.set_error_503(args.error_503_rate, args.retry_after)
        proxy.set_stall(args.stall_rate, hold=args.stall_hold)
    except ValueError as exc:
        raise CommandError(_("réglage invalide : {detail}").format(detail=exc), status=2) from exc
    try:
        proxy.start()
    except OSError as exc:
        raise CommandError(
            _("impossible d’écouter sur {host}:{port}.").format(
                host=args.listen[0], port=args.listen[1]
            )
        ) from exc
    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            here = f"{proxy.host}:{proxy.port}"
            if args.ready_file is not None:
                from outbox.spool import atomic_write

                atomic_write(args.ready_file, (here + "\n").encode())
            target = f"{args.target[0]}:{args.target[1]}"
            print(
                _("Proxy de pannes : {here} → {target}").format(here=here, target=target),
                flush=True,
            )
            stop.wait(args.duration)
    finally:
        proxy.stop()
    c = proxy.counters()
    print(
        _(
            "Relayé : {up} vers la cible, {down} vers les clients ; {cuts} coupure(s), "
            "{errors} réponse(s) 503, {stalls} blocage(s)."
        ).format(
            up=human_size(c.bytes_up),
            down=human_size(c.bytes_down),
            cuts=c.cuts,
            errors=c.errors_503,
            stalls=c.stalls,
        )
    )
    return 0
