"""The workstation: seals cases and opinions into the outbox and opens what the inbox holds.

This is the Qt-free service the three workspaces drive. Everything here may block (crypto,
disk, network), so the GUI calls it from worker threads only.

The path of a case: :meth:`Workstation.send_case` (:mod:`cases.sending`) validates it, packs
it as it seals it (:mod:`cases.bundleseal`: documents and clips streamed, never the whole
request in memory), signs and encrypts it for the specialist, the sending doctor (so the
doctor can read it again) and the unit's archive certificate (so the unit can reread it after
the doctor left), keeps that ciphertext in ``archive/`` and enqueues it in the outbox. The
reply comes back through the inbox and is matched to its case by ``case_id``.

Receipts: when a specialist's workstation first opens a request, it answers with a signed
``receipt`` bundle (no clinical content); when the doctor's workstation opens that receipt, the
request's outbox job becomes ``acknowledged``. A receipt whose sender the directory does not
list yet (the first listing after a login runs beside the directory's fetch) waits on disk and
goes with the next copy of the directory. Security events go to the profile's audit
journal (:mod:`crypto.audit`): ids and fingerprints, never content.

Withdrawals: the author of a request no opinion answered yet may withdraw it
(:meth:`Workstation.withdraw`); the ``withdrawal`` bundle is attached to the request's thread
on both sides, and a withdrawn consent erases the specialist's copy of the request.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from cases.bundle import OpenedRegistry
from cases.errors import BundleError, CaseError
from cases.index import IndexDamaged, remove_index
from cases.profile import Profile, UnlockedIdentity
from cases.sending import Sending
from cases.sending import _party_of_me as _party_of_me  # re-exported
from cases.store import CaseStore, Ingested, Source, index_path
from cases.threads import CaseThread, Opened, Unreadable, assemble
from crypto import audit, pki
from crypto.errors import CryptoError
from crypto.stream import remove_partial
from outbox.inbox import Inbox
from outbox.platform import DirectoryEntry, PlatformClient
from outbox.queue import Outbox
from outbox.spool import atomic_write

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS archive (
    bundle_id   TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    bundle_id   TEXT PRIMARY KEY,
    receipt_id  TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts_waiting (
    bundle_id   TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL,
    since       TEXT NOT NULL
);
"""


class Workstation(Sending):
    """Send and receive sealed bundles for the people of one profile."""

    def __init__(
        self, profile: Profile, outbox: Outbox, inbox: Inbox, client: PlatformClient
    ) -> None:
        self.profile = profile
        self.outbox = outbox
        self.inbox = inbox
        self.client = client
        self._lock = threading.Lock()
        self._receipts_lock = threading.Lock()  # one receipt decision at a time
        # per person, the directory copy the receipts waiting for it were last tried with
        self._receipts_tried: dict[str, tuple[int, ...] | None] = {}
        self._stores_lock = threading.Lock()
        self._stores: dict[str, CaseStore] = {}
        # What a listing found, per person, and what could have changed it since: a refresh
        # with nothing new returns it at once, whatever the archive's size.
        self._views: dict[str, _View] = {}
        self._generation = 0  # bumped by every job event and every change made here
        self._unsubscribe = outbox.subscribe(lambda _job: self.touch())
        with self._db() as db:
            db.executescript(_SCHEMA)
        self.opened = OpenedRegistry(profile.db_path)
        remove_partial(profile.path("archive"))  # seals a crash interrupted (crypto.stream)

    # --- directory ----------------------------------------------------------------------
    def refresh_directory(self) -> list[DirectoryEntry]:
        """Fetch the platform's directory and keep a copy for offline use (no clinical data)."""
        entries = self.client.directory()
        raw = [e.__dict__ for e in entries]
        atomic_write(self.profile.root / "directory.json", json.dumps(raw).encode("utf-8"))
        return entries

    def directory(self) -> list[DirectoryEntry]:
        """The last directory fetched (possibly empty when never online)."""
        path = self.profile.root / "directory.json"
        if not path.exists():
            return []
        return [DirectoryEntry(**raw) for raw in json.loads(path.read_text("utf-8"))]

    def directory_version(self) -> tuple[int, ...] | None:
        """Which copy of the directory is kept (None: none yet; each refresh writes a new
        file): what a receipt waiting for the directory is tried again on."""
        try:
            found = os.stat(self.profile.root / "directory.json")
        except OSError:
            return None
        return found.st_ino, found.st_mtime_ns, found.st_size

    def specialists(self) -> list[DirectoryEntry]:
        return [e for e in self.directory() if e.role == "specialist"]

    # --- audit --------------------------------------------------------------------------
    def audit(self, event: str, me: UnlockedIdentity, **details: object) -> None:
        """Append a security event to the journal; a journal failure is logged, not raised:
        it must not keep a doctor from sending a case."""
        try:
            audit.append(self.profile.audit_path, event, actor=me.info.id, details=details)
        except (OSError, ValueError, audit.AuditError):
            log.exception("cannot write the audit event %s", event)

    # --- reading ------------------------------------------------------------------------
    def store(self, me: UnlockedIdentity) -> CaseStore:
        """``me``'s case store (opened at first use: it recovers the index key once)."""
        with self._stores_lock:
            store = self._stores.get(me.info.id)
            if store is None or store.me.fingerprint != me.fingerprint:
                store = CaseStore(self.profile, me, self._locate)
                self._stores[me.info.id] = store
            return store

    def touch(self) -> None:
        """Something the lists show may have changed (a job moved on, a bundle arrived or
        left): the next listing looks again."""
        with self._stores_lock:
            self._generation += 1

    def _signature(self) -> tuple[int, int]:
        """What a listing's result depends on besides the index: the changes made in this
        process, and the inbox folder (a bundle stored or removed by anybody)."""
        try:
            inbox = os.stat(self.inbox.directory).st_mtime_ns
        except OSError:
            inbox = -1
        with self._stores_lock:
            return self._generation, inbox

    def forget(self, me: UnlockedIdentity) -> None:
        """``me`` logged out: their store and what it held in memory go."""
        with self._receipts_lock:
            self._receipts_tried.pop(me.info.id, None)  # tried again at the next login
        with self._stores_lock:
            self._views.pop(me.info.id, None)
            store = self._stores.pop(me.info.id, None)
        if store is not None:
            store.close()

    def close(self) -> None:
        self._unsubscribe()
        with self._stores_lock:
            stores, self._stores = list(self._stores.values()), {}
            self._views = {}
        for store in stores:
            store.close()

    def threads(
        self,
        me: UnlockedIdentity,
        progress: Callable[[int, int], None] | None = None,
        limit: int | None = None,
    ) -> tuple[list[CaseThread], list[Unreadable]]:
        """Every case ``me`` sent or received, with its opinions, newest first, and what was
        set aside (unreadable or refused) and not discarded.

        Bundles not seen before are ingested first (each opened once; at most ``limit`` of
        them, ``progress(done, total)`` told of each, see :meth:`CaseStore.ingest`); the rest
        comes from ``me``'s index, reading only what changed.
        """
        if not pki.can_decrypt(me.certificate):
            return [], []  # a secretary opens no case
        try:
            return self._threads(me, progress, limit)
        except (IndexDamaged, sqlite3.DatabaseError) as exc:
            # derived data: damaged under us (a disk error, an edit), it is built again
            log.warning("the case index of %s is damaged (%s): rebuilding it", me.info.id, exc)
            self._drop_index(me)
            return self._threads(me, progress, limit)

    def _threads(
        self,
        me: UnlockedIdentity,
        progress: Callable[[int, int], None] | None,
        limit: int | None,
    ) -> tuple[list[CaseThread], list[Unreadable]]:
        store = self.store(me)
        self._send_waiting_receipts(me, store)
        signature, now = self._signature(), time.monotonic()
        view = self._views.get(me.info.id)
        if view is not None and view.signature == signature and now - view.at < RECHECK_S:
            return list(view.threads), list(view.unreadable)
        done = store.ingest(self._sources(me, store.index.known()), progress, limit)
        erased = self._act(me, store, done)
        documents, unreadable = store.listing()
        jobs = {job.bundle_id: job for job in self.outbox.jobs()}  # one read for all
        ordered = assemble(documents, me.fingerprint, jobs.get)
        for request, withdrawal in erased:  # listed this once, marked erased
            ordered.insert(0, CaseThread(request, withdrawal=withdrawal, erased=True))
        with self._stores_lock:
            if erased or done.remaining or self._stores.get(me.info.id) is not store:
                self._views.pop(me.info.id, None)
            else:  # the signature taken before the work: a change meanwhile is seen next time
                self._views[me.info.id] = _View(signature, now, ordered, unreadable)
        return list(ordered), list(unreadable)

    def rebuild_index(
        self, me: UnlockedIdentity, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Build ``me``'s index again from the sealed bundles; returns how many it holds."""
        self._drop_index(me)
        self.threads(me, progress)
        return self.store(me).index.count()

    def _drop_index(self, me: UnlockedIdentity) -> None:
        self.forget(me)
        remove_index(index_path(self.profile, me.info.id))

    def discard(self, me: UnlockedIdentity, bundle_ids: Iterable[str]) -> int:
        """The person dismissed bundles set aside: their sealed files are removed."""
        gone = self.store(me).discard(bundle_ids)
        self.touch()
        for source in gone:
            if source.where == "inbox":
                self.inbox.remove(source.bundle_id)
            self.audit("bundle_discarded", me, bundle_id=source.bundle_id)
        return len(gone)

    def _act(
        self, me: UnlockedIdentity, store: CaseStore, done: Ingested
    ) -> list[tuple[Opened, Opened]]:
        """What follows from what was just ingested: the journal, receipts sent and taken,
        requests erased after a withdrawn consent (returned, to be listed once)."""
        for bundle_id, _where, code in done.refused:
            self.audit("bundle_refused", me, bundle_id=bundle_id, code=code)
        erased: list[tuple[Opened, Opened]] = []
        for item, case in done.admitted:
            kind = item.bundle.manifest.kind
            try:
                if item.sender.fingerprint != me.fingerprint:
                    self._first_opening(me, item)
                if kind in ("request", "opinion") and item.sender.fingerprint != me.fingerprint:
                    self._send_receipt(me, item)
                elif kind == "receipt":
                    self._take_receipt(me, item, case)
                if kind == "request" and item.sender.fingerprint != me.fingerprint:
                    for row in store.index.in_case(item.bundle_id, "withdrawal"):
                        withdrawal = store.listing_document(row)
                        if self._erases(me, withdrawal):
                            erased.append((item, withdrawal))
                elif kind == "withdrawal" and self._erases(me, item):
                    found = store.index.get(case)
                    if found is not None and found.record is not None:
                        erased.append((store.listing_document(found), item))
            except (CryptoError, CaseError, OSError, ValueError, KeyError) as exc:
                log.warning("handling %s %s failed: %r", kind, item.bundle_id, exc)
        for request, _withdrawal in erased:
            self.inbox.remove(request.bundle_id)
            store.erase(request.bundle_id)
            # the event says why (only a withdrawn consent erases); the reason is not repeated
            self.audit("bundle_erased", me, bundle_id=request.bundle_id)
        return erased

    @staticmethod
    def _erases(me: UnlockedIdentity, withdrawal: Opened) -> bool:
        """Whether this withdrawal (admitted: from the request's author) erases the request
        here: a withdrawn consent, and the request is somebody else's."""
        return (
            withdrawal.bundle.withdrawal == "consent_withdrawn"
            and withdrawal.sender.fingerprint != me.fingerprint
        )

    def _first_opening(self, me: UnlockedIdentity, item: Opened) -> None:
        if self.opened.opened_at(item.bundle_id) is not None:
            return
        try:
            self.opened.record(item.bundle_id, me.fingerprint)
        except BundleError:
            return  # recorded meanwhile by another thread
        self.audit(
            "bundle_opened",
            me,
            bundle_id=item.bundle_id,
            kind=item.bundle.manifest.kind,
            sender=item.sender.fingerprint,
        )

    def open(self, me: UnlockedIdentity, sealed: bytes) -> Opened:
        """Decrypt, verify and parse one bundle for ``me`` (the sender is the signer's
        validated certificate, and the manifest must name exactly that)."""
        return self.store(me).open(sealed)

    def _sources(
        self, me: UnlockedIdentity, known: Mapping[str, str] | None = None
    ) -> list[Source]:
        """Where ``me``'s bundles lie: ids only, nothing is read. With ``known`` (the
        index's states), only those :meth:`CaseStore.ingest` would open: a refresh of
        thousands, nearly all known, builds no object for them."""
        with self._db() as db:
            rows = db.execute(
                "SELECT bundle_id FROM archive WHERE identity_id = ?", (me.info.id,)
            ).fetchall()
        archive = self.profile.path("archive")
        found = [
            Source(b, "archive", archive / f"{b}.cms")
            for (b,) in rows
            if known is None or b not in known
        ]
        found += [
            Source(b, "inbox", self.inbox.path(b), received_at)
            for b, received_at in self.inbox.received(me.info.id)
            if known is None or known.get(b) in (None, "erased")
        ]
        return found

    def _locate(self, bundle_id: str) -> Source | None:
        archived = self.profile.path("archive") / f"{bundle_id}.cms"
        if archived.exists():
            return Source(bundle_id, "archive", archived)
        item = self.inbox.get(bundle_id)
        return None if item is None else Source(bundle_id, "inbox", item.path)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.profile.db_path, timeout=10)
            try:
                with db:
                    yield db
            finally:
                db.close()


RECHECK_S = 10.0
"""A listing looks at the archive and the inbox again after this long even when nothing said
they changed (another process, a clock without fine timestamps)."""


@dataclass(frozen=True)
class _View:
    signature: tuple[int, int]
    at: float
    threads: list[CaseThread]
    unreadable: list[Unreadable]
