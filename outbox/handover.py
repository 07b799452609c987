"""Two PCs on one desk: the capture PC hands sealed bundles to the networked PC through a
folder (a shared network folder or a USB stick), and gets their states and its people's mail
back the same way (issue 17 §3).

Only ciphertext and ids ever reach the folder: sealed bundles, and small JSON sidecars with
the facts the queue already holds (recipient id and name, kind, priority, size, SHA-256).

The folder::

    outgoing/<bundle_id>.cms + <bundle_id>.json   capture → network: bundles to send
    states/<bundle_id>.json                       network → capture: where each one stands
    incoming/<mailbox>/<bundle_id>.cms + .json    network → capture: opinions and receipts

**Exactly once, crash-safe.** A file is written as ``.part``, synced, then renamed; its
sidecar is written the same way *after* it, and names its size and SHA-256: a bundle without
its sidecar, or whose bytes do not match it (a stick pulled out mid-copy), is left alone
until it is complete, and never queued broken. The receiving side stores what it reads
durably (its queue, its inbox) before it deletes the folder's copy, and storing is
idempotent on the bundle id: a file handed twice (after a ``kill -9`` on either side) is
queued once.

**States.** On the capture PC a handed-over job stays ``sending`` until the networked PC
reports: ``delivered`` (the platform has it), ``failed`` (refused: the reason is kept),
``cancelled``; any other state keeps it ``sending``. A restart hands over again the jobs
still ``sending`` (the outbox re-queues them), which the networked PC ignores as duplicates.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from outbox import spool
from outbox.errors import ErrorCode, OutboxError
from outbox.inbox import Inbox
from outbox.jobs import DONE_STATES, Job, JobSnapshot, JobState
from outbox.platform import MailboxItem
from outbox.queue import Outbox
from outbox.worker import Worker

log = logging.getLogger(__name__)

BUNDLE = ".cms"
SIDECAR = ".json"
MAX_SIDECAR_BYTES = 16 * 1024
"""A sidecar holds ids and numbers: anything larger is not one of ours."""
MAX_HANDED_BYTES = 2 * 1024 * 1024 * 1024
"""The largest bundle taken from the folder (what the platform accepts)."""
MAX_FILES_PER_ROUND = 200
"""Files looked at in one round: a folder filled by mistake costs a bounded round."""
POLL_S = 2.0


def unreachable(detail: str) -> OutboxError:
    return OutboxError(ErrorCode.HANDOVER_UNREACHABLE, detail)


def refused(detail: str) -> OutboxError:
    return OutboxError(ErrorCode.HANDOVER_REFUSED, detail)


# --- the folder ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sidecar:
    """What travels beside a bundle (ids and numbers only)."""

    bundle_id: str
    size: int
    sha256: str
    kind: str
    recipient_id: str = ""
    recipient_label: str = ""
    priority: str = "normal"
    from_station: str = ""
    received_at: str = ""  # incoming mail: when the platform received it
    sender_station: str = ""

    @classmethod
    def read(cls, raw: bytes) -> Sidecar:
        if len(raw) > MAX_SIDECAR_BYTES:
            raise ValueError("sidecar too large")
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("sidecar is not an object")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        sidecar = cls(**known)
        if not isinstance(sidecar.size, int) or not 0 < sidecar.size <= MAX_HANDED_BYTES:
            raise ValueError("impossible size")
        if not isinstance(sidecar.sha256, str) or len(sidecar.sha256) != 64:
            raise ValueError("impossible sha256")
        spool.check_bundle_id(sidecar.bundle_id)
        return sidecar


def put(directory: Path, data: bytes, sidecar: Sidecar) -> None:
    """Write a bundle and then its sidecar into ``directory``, each synced before renamed."""
    spool.private_dir(directory)
    spool.atomic_write(directory / (sidecar.bundle_id + BUNDLE), data)
    body = json.dumps(asdict(sidecar), sort_keys=True).encode()
    spool.atomic_write(directory / (sidecar.bundle_id + SIDECAR), body)


def complete(directory: Path) -> Iterator[tuple[Sidecar, Path]]:
    """The bundles of ``directory`` that are whole: a sidecar, and bytes that match it.

    Incomplete ones (no sidecar yet, or fewer bytes: a copy in progress or cut short) are
    skipped, to be looked at again; a sidecar that is not one of ours is skipped too.
    """
    if not directory.is_dir():
        return
    names = sorted(p.name for p in directory.iterdir() if p.name.endswith(SIDECAR))
    for name in names[:MAX_FILES_PER_ROUND]:
        side, data = directory / name, directory / (name.removesuffix(SIDECAR) + BUNDLE)
        try:
            if side.is_symlink() or data.is_symlink():
                continue  # never followed: a link could point anywhere
            sidecar = Sidecar.read(side.read_bytes())
            if data.stat().st_size != sidecar.size or spool.sha256_file(data) != sidecar.sha256:
                continue  # still being written, or cut short: not now
        except (OSError, ValueError, TypeError) as exc:
            log.debug("hand-over file %s not taken: %s", name, exc)
            continue
        yield sidecar, data


def discard(data: Path) -> None:
    """Remove a bundle and its sidecar from the folder (the sidecar first: never a sidecar
    without its bundle that the other side would wait on for ever)."""
    with contextlib.suppress(FileNotFoundError):
        data.with_suffix(SIDECAR).unlink()
    with contextlib.suppress(FileNotFoundError):
        data.unlink()


def write_state(folder: Path, bundle_id: str, state: str, code: str = "", detail: str = "") -> None:
    body = {"bundle_id": bundle_id, "state": state, "code": code, "detail": detail[:300]}
    body["at"] = time.time()  # type: ignore[assignment]
    spool.private_dir(folder / "states")
    spool.atomic_write(folder / "states" / f"{bundle_id}.json", json.dumps(body).encode())


def read_states(folder: Path, bundle_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for bundle_id in bundle_ids:
        path = folder / "states" / f"{bundle_id}.json"
        try:
            raw = path.read_bytes()
            if len(raw) <= MAX_SIDECAR_BYTES:
                data = json.loads(raw)
                if isinstance(data, dict) and data.get("bundle_id") == bundle_id:
                    found[bundle_id] = data
        except (OSError, ValueError):
            continue
    return found


# --- the capture PC --------------------------------------------------------------------------
class CaptureCourier(Worker):
    """On the capture PC: hands the queue's bundles to the folder, mirrors the states the
    networked PC reports, and takes in the mail it brings back for ``mailboxes``."""

    def __init__(
        self,
        outbox: Outbox,
        inbox: Inbox,
        folder: Path,
        station_id: str,
        mailboxes: Iterable[str],
        *,
        on_mail: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__("handover-capture")
        self.outbox, self.inbox, self.folder = outbox, inbox, folder
        self.station_id = station_id
        self.mailboxes = list(mailboxes)
        self.on_mail = on_mail

    def subscribe(self, callback: Callable[[JobSnapshot], None]) -> Callable[[], None]:
        """The queue's job changes (as :meth:`outbox.sender.Sender.subscribe`)."""
        return self.outbox.subscribe(callback)

    def step(self) -> float | None:
        self.hand_over()  # an unreachable folder is each job's retry
        try:
            self.mirror_states()
            self.take_mail()
        except OSError as exc:  # no stick, or the share is away: next round
            log.info("hand-over folder not readable now: %s", exc)
        return POLL_S

    def hand_over(self) -> int:
        """Each job due is written to ``outgoing/``; an unreachable folder (no stick) is an
        ordinary retry with the outbox's backoff. Returns how many were handed over."""
        handed = 0
        for job in self.outbox.due_jobs(time.time()):
            if self.stopping:
                break
            claimed = self.outbox.claim(job.bundle_id)
            if claimed is None:
                continue
            try:
                data = self.outbox.spool_path(job.bundle_id).read_bytes()
                sidecar = Sidecar(
                    bundle_id=job.bundle_id,
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    kind=job.kind,
                    recipient_id=job.recipient_id,
                    recipient_label=job.recipient_label,
                    priority=str(job.priority),
                    from_station=self.station_id,
                )
                put(self.folder / "outgoing", data, sidecar)
            except OSError as exc:
                self.outbox.mark_retry(
                    job.bundle_id, unreachable(f"{type(exc).__name__}: {exc.strerror}"), _delay
                )
                continue
            handed += 1
            log.info("handed bundle %s over to the networked PC", job.bundle_id)
        return handed

    def mirror_states(self) -> int:
        """The networked PC's word on the jobs handed over; returns how many changed."""
        sending = [j.bundle_id for j in self.outbox.jobs() if j.state is JobState.SENDING]
        changed = 0
        for bundle_id, state in read_states(self.folder, sending).items():
            if self._apply(bundle_id, state):
                changed += 1
        return changed

    def _apply(self, bundle_id: str, state: dict[str, Any]) -> bool:
        said = str(state.get("state", ""))
        if said in (JobState.DELIVERED.value, JobState.ACKNOWLEDGED.value):
            self.outbox.mark_delivered(bundle_id)
        elif said == JobState.QUARANTINED.value:
            code = str(state.get("code") or ErrorCode.HANDOVER_REFUSED.value)
            self.outbox.mark_failed(bundle_id, _error(code, str(state.get("detail", ""))))
        elif said == JobState.CANCELLED.value:
            self.outbox.cancel(bundle_id, str(state.get("detail", "")) or "other")
        else:
            return False
        return True

    def take_mail(self) -> int:
        """Opinions and receipts the networked PC brought back, into this PC's inbox (stored
        durably before the folder's copy goes). Returns how many were taken."""
        taken = 0
        for mailbox in self.mailboxes:
            for sidecar, data in complete(self.folder / "incoming" / mailbox):
                item = MailboxItem(
                    sidecar.bundle_id,
                    sidecar.kind,
                    sidecar.size,
                    sidecar.sha256,
                    sidecar.sender_station,
                    sidecar.received_at,
                )
                if self.inbox.get(sidecar.bundle_id) is None:
                    part = self.inbox.part_path(sidecar.bundle_id)
                    spool.atomic_write(part, data.read_bytes())
                    stored = self.inbox.store(mailbox, item, part)
                    if self.on_mail is not None:
                        self.on_mail(stored)
                discard(data)
                taken += 1
        return taken


def _delay(attempts: int) -> float:
    return float(min(300, 5 * 2 ** min(attempts, 6)))


def _error(code: str, detail: str) -> OutboxError:
    try:
        return OutboxError(ErrorCode(code), detail)
    except ValueError:
        return OutboxError(ErrorCode.HANDOVER_REFUSED, f"{code}: {detail}")


# --- the networked PC ------------------------------------------------------------------------
Check = Callable[[bytes, Sidecar], str | None]
"""Whether a handed bundle may be queued: ``None``, or why not (a stable code)."""


class NetworkRelay(Worker):
    """On the networked PC: queues the bundles handed over (after ``check``), writes back
    their states, and copies the mail of ``relay`` mailboxes to the folder."""

    def __init__(
        self,
        outbox: Outbox,
        inbox: Inbox,
        folder: Path,
        check: Check,
        relay: Iterable[str],
        ledger: HandoverLedger,
    ) -> None:
        super().__init__("handover-network")
        self.outbox, self.inbox, self.folder = outbox, inbox, folder
        self.check = check
        self.relay = list(relay)
        self.ledger = ledger
        self._unsubscribe = outbox.subscribe(self._job_changed)

    def close(self) -> None:
        self._unsubscribe()

    def step(self) -> float | None:
        try:
            self.take_bundles()
            self.report_states()
            self.relay_mail()
        except OSError as exc:  # no stick, or the share is away: next round
            log.info("hand-over folder not usable now: %s", exc)
        return POLL_S

    def take_bundles(self) -> int:
        """Queue each complete bundle of ``outgoing/`` once; refused ones are reported.
        Returns how many were queued."""
        queued = 0
        for sidecar, data in complete(self.folder / "outgoing"):
            payload = data.read_bytes()
            why = self.check(payload, sidecar)
            if why is not None:
                log.warning("handed bundle %s refused: %s", sidecar.bundle_id, why)
                self.ledger.record(sidecar.bundle_id, sidecar.from_station, refused=why)
                write_state(self.folder, sidecar.bundle_id, JobState.QUARANTINED.value, why)
                discard(data)
                continue
            self.ledger.record(sidecar.bundle_id, sidecar.from_station)
            job = self.outbox.enqueue(
                sidecar.bundle_id,
                sidecar.recipient_id,
                sidecar.recipient_label,
                sidecar.kind,
                payload,
                priority=sidecar.priority if sidecar.priority in ("normal", "urgent") else "normal",
            )
            self._report(job)
            discard(data)  # queued durably first: a crash before this hands it over again
            queued += 1
        return queued

    def report_states(self) -> None:
        """Every handed job's state, written again (a state file lost or a crash between a
        change and its report is made good here)."""
        handed = self.ledger.handed()
        for job in self.outbox.jobs():
            if job.bundle_id in handed:
                self._report(job)

    def _job_changed(self, job: JobSnapshot) -> None:
        if self.ledger.is_handed(job.bundle_id):
            try:
                self._report(job)
            except OSError as exc:  # the folder is gone for now: report_states catches up
                log.info("state of %s not written to the folder: %s", job.bundle_id, exc)

    def _report(self, job: Job | JobSnapshot) -> None:
        state = str(job.state.value if isinstance(job.state, JobState) else job.state)
        detail = (job.cancel_reason or "") if job.state is JobState.CANCELLED else ""
        if job.state is JobState.QUARANTINED:
            detail = job.last_error_detail or ""
        write_state(self.folder, job.bundle_id, state, job.last_error_code or "", detail)

    def relay_mail(self) -> int:
        """Copy the relay mailboxes' new mail to ``incoming/`` (the local copy stays: the
        doctor may log in on either PC). Returns how many were copied."""
        copied = 0
        for mailbox in self.relay:
            for item in self.inbox.items(mailbox):
                if self.ledger.relayed(item.bundle_id):
                    continue
                sidecar = Sidecar(
                    bundle_id=item.bundle_id,
                    size=item.size,
                    sha256=item.sha256,
                    kind=item.kind,
                    recipient_id=mailbox,
                    received_at=item.received_at,
                    sender_station=item.sender_station,
                )
                put(self.folder / "incoming" / mailbox, item.path.read_bytes(), sidecar)
                self.ledger.record_relayed(item.bundle_id)
                copied += 1
        return copied


class HandoverLedger:
    """What the networked PC took from the folder and relayed to it (ids only), in the
    queue's database: where each job came from, for the secretary's queue."""

    def __init__(self, outbox: Outbox) -> None:
        self._db = outbox.database
        with self._db.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS handover (bundle_id TEXT PRIMARY KEY,"
                " from_station TEXT NOT NULL, refused TEXT, at REAL NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS handover_relayed (bundle_id TEXT PRIMARY KEY,"
                " at REAL NOT NULL)"
            )

    def record(self, bundle_id: str, from_station: str, *, refused: str | None = None) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO handover VALUES (?, ?, ?, ?)",
                (bundle_id, from_station or "?", refused, time.time()),
            )

    def handed(self) -> set[str]:
        rows = self._db.query("SELECT bundle_id FROM handover WHERE refused IS NULL")
        return {row["bundle_id"] for row in rows}

    def is_handed(self, bundle_id: str) -> bool:
        rows = self._db.query(
            "SELECT 1 FROM handover WHERE bundle_id = ? AND refused IS NULL", (bundle_id,)
        )
        return bool(rows)

    def origin(self, bundle_id: str) -> str | None:
        """The station that handed ``bundle_id`` over, or ``None`` if sealed here."""
        rows = self._db.query("SELECT from_station FROM handover WHERE bundle_id = ?", (bundle_id,))
        return str(rows[0]["from_station"]) if rows else None

    def relayed(self, bundle_id: str) -> bool:
        rows = self._db.query("SELECT 1 FROM handover_relayed WHERE bundle_id = ?", (bundle_id,))
        return bool(rows)

    def record_relayed(self, bundle_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO handover_relayed VALUES (?, ?)", (bundle_id, time.time())
            )


__all__ = [
    "DONE_STATES",
    "CaptureCourier",
    "HandoverLedger",
    "NetworkRelay",
    "Sidecar",
    "complete",
    "put",
    "read_states",
    "write_state",
]
