"""The workstation: seals cases and opinions into the outbox and opens what the inbox holds.

This is the Qt-free service the three workspaces drive. Everything here may block (crypto,
disk, network), so the GUI calls it from worker threads only.

The path of a case: :meth:`Workstation.send_case` validates it, packs it (:mod:`cases.bundle`),
signs and encrypts it for the specialist, the sending doctor (so the doctor can read it again)
and the unit's archive certificate (so the unit can reread it after the doctor left), keeps
that ciphertext in ``archive/`` and enqueues it in the outbox. The reply comes back through the
inbox and is matched to its case by ``case_id``.

Receipts: when a specialist's workstation first opens a request, it answers with a signed
``receipt`` bundle (no clinical content); when the doctor's workstation opens that receipt, the
request's outbox job becomes ``acknowledged``. Security events go to the profile's audit
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
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cases.bundle import (
    OpenedRegistry,
    Party,
    pack_case,
    pack_opinion,
    pack_receipt,
    pack_withdrawal,
)
from cases.errors import BundleError, CaseError, TrustError
from cases.index import IndexDamaged, remove_index
from cases.model import WITHDRAWAL_REASONS, Case, Opinion, new_id
from cases.profile import Profile, UnlockedIdentity
from cases.store import CaseStore, Ingested, Source, index_path
from cases.threads import CaseThread, Opened, Unreadable, assemble
from cases.trust import AddressBook
from crypto import audit, cms, pki
from crypto.errors import CryptoError
from crypto.stream import Progress, Sealer, remove_partial
from outbox.errors import OutboxError
from outbox.inbox import Inbox
from outbox.jobs import JobState
from outbox.platform import DirectoryEntry, PlatformClient
from outbox.queue import Outbox, Priority
from outbox.spool import atomic_write, private_dir

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
"""


class Workstation:
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

    def specialists(self) -> list[DirectoryEntry]:
        return [e for e in self.directory() if e.role == "specialist"]

    # --- sending ------------------------------------------------------------------------
    def send_case(
        self,
        me: UnlockedIdentity,
        case: Case,
        to: DirectoryEntry,
        *,
        progress: Progress | None = None,
    ) -> str:
        """Seal ``case`` for ``to`` and ``me``, archive and enqueue it; return the bundle id.

        An urgent case (``Case.urgent``, which the specialist sees) is queued urgent too: it
        leaves the outbox before the others. ``progress`` is called, on this thread, with the
        bytes sealed so far and the total (``crypto.stream.Progress``).
        """
        priority = Priority.URGENT.value if case.urgent else Priority.NORMAL.value
        case = replace(case, requester_rpps=me.info.rpps or "")  # the act's (cases.acts)
        case.check()
        recipient_cert = self._recipient_certificate(to)
        certificates = [recipient_cert, me.certificate]
        archive = self.profile.archive_certificate()
        if archive is not None:
            certificates.append(archive)
        bundle_id = new_id()
        recipients = [_party_of_entry(to, recipient_cert), _reader_party_of_me(me)]
        recipients += [Party.of_certificate(cert) for cert in certificates[2:]]
        plain = pack_case(bundle_id, case, _party_of_me(me), recipients)
        return self._seal_and_queue(
            me, bundle_id, "case", plain, to, certificates, priority=priority, progress=progress
        )

    def send_opinion(self, me: UnlockedIdentity, thread: CaseThread, opinion: Opinion) -> str:
        """Answer a received case: the opinion goes to the case's sender (and to ``me``)."""
        if opinion.case_id != thread.case_id:
            raise ValueError("the opinion answers another case")
        if thread.withdrawal is not None:
            raise ValueError("the request was withdrawn by its author")
        opinion.check()
        opinion = replace(opinion, expert_rpps=me.info.rpps or "")  # the act's (cases.acts)
        sender = thread.case.sender
        to = next((e for e in self.directory() if e.id == sender.mailbox), None)
        if to is None:
            raise BundleError("unknown_recipient", f"{sender.mailbox} is not in the directory")
        recipient_cert = self._recipient_certificate(to)
        reader = _reader_party_of(thread.case)  # a card identity reads with another cert
        if pki.fingerprint(recipient_cert) != reader.fingerprint:
            raise BundleError("unknown_recipient", "the directory certificate is not the sender's")
        bundle_id = new_id()
        certificates = [recipient_cert, me.certificate]
        recipients = [reader, _reader_party_of_me(me)]
        archive = self._unit_archive(thread.case, me)
        if archive is not None:
            certificates.append(archive)
            recipients.append(Party.of_certificate(archive))
        plain = pack_opinion(
            bundle_id, opinion, _party_of_me(me), recipients, in_reply_to=thread.case.bundle_id
        )
        return self._seal_and_queue(me, bundle_id, "opinion", plain, to, certificates)

    def withdraw(self, me: UnlockedIdentity, thread: CaseThread, reason: str) -> str:
        """Withdraw ``me``'s request ``thread``, which no opinion answered yet, for ``reason``
        (a code of ``WITHDRAWAL_REASONS``): a signed ``withdrawal`` goes to the request's
        recipients, with that code as its only content. The request's job is cancelled if it
        has not started to leave (then the specialist never sees it, and ignores the
        withdrawal). Returns the withdrawal's bundle id.

        Raises:
            ValueError: not ``me``'s request, answered or withdrawn already, unknown reason.
            BundleError: ``unknown_recipient``, the directory no longer has the specialist.
        """
        request = thread.case
        if request.sender.fingerprint != me.fingerprint:
            raise ValueError("only the request's author may withdraw it")
        if not thread.awaiting_answer:
            raise ValueError("the request is answered or withdrawn already")
        if reason not in WITHDRAWAL_REASONS:
            raise ValueError(f"unknown withdrawal reason {reason!r}")
        manifest = request.bundle.manifest
        addressee = next(
            (r for r in manifest.recipients if r.role == "specialist" and r.mailbox), None
        )
        mailbox = addressee.mailbox if addressee is not None else None
        to = next((e for e in self.directory() if e.id == mailbox), None)
        if addressee is None or to is None:
            raise BundleError("unknown_recipient", "the request's specialist is not known here")
        cert = self._recipient_certificate(to)
        if pki.fingerprint(cert) != addressee.fingerprint:
            raise BundleError(
                "unknown_recipient", "the directory certificate is not the addressee's"
            )
        certificates = [cert, me.certificate]
        archive = self.profile.archive_certificate()
        if archive is not None and pki.fingerprint(archive) in manifest.recipient_fingerprints:
            certificates.append(archive)
        recipients = [addressee, _reader_party_of_me(me)]
        recipients += [Party.of_certificate(c) for c in certificates[2:]]
        bundle_id = new_id()
        plain = pack_withdrawal(
            bundle_id, request.bundle_id, thread.case_id, reason, _party_of_me(me), recipients
        )
        self._seal_and_queue(me, bundle_id, "withdrawal", plain, to, certificates)
        job = self.outbox.get(request.bundle_id)
        if job is not None and job.state in _NOT_LEFT:
            try:
                # the code the secretary's own cancellations use (``app.session``)
                self.outbox.cancel(request.bundle_id, "request_withdrawn")
            except OutboxError as exc:  # it started to leave meanwhile: the withdrawal follows
                log.info("request %s not cancelled: %s", request.bundle_id, exc)
        return bundle_id

    def _unit_archive(self, request: Opened, me: UnlockedIdentity) -> pki.x509.Certificate | None:
        """The certificate of the unit archive ``request`` was sealed to, so that the opinion
        reaches the unit's archive too, or ``None``.

        The request names its recipients by fingerprint only; the certificate must be in this
        profile's address book, with role ``unit``, and valid for encryption under this
        profile's trust store. Otherwise the opinion goes to the doctor alone (logged).
        """
        others = set(request.bundle.manifest.recipient_fingerprints)
        others -= {request.sender.fingerprint, me.fingerprint, me.reader_fingerprint}
        if not others:
            return None
        try:
            contacts = AddressBook(self.profile.addressbook_path).contacts()
        except TrustError as exc:
            log.warning("the address book cannot be read (%s)", exc.code)
            return None
        for contact in contacts:
            if contact.fingerprint not in others or contact.role != "unit":
                continue
            cert = contact.certificate
            try:
                pki.validate_certificate(
                    cert, self.profile.trust_roots(), purpose="encrypt", crls=self.profile.crls()
                )
            except CryptoError as exc:
                log.warning("the unit archive's certificate is not usable (%s)", exc.code)
                continue
            if pki.role_of(cert) == "unit":
                return cert
        log.info("no known unit archive certificate: the opinion goes to the doctor only")
        return None

    def recipient_certificate(self, to: DirectoryEntry) -> pki.x509.Certificate:
        """The directory entry's certificate, validated as one to encrypt to.

        Raises:
            ValueError: Not a certificate.
            InvalidRecipient: One this workstation does not trust to encrypt to.
        """
        return self._recipient_certificate(to)

    def _recipient_certificate(self, to: DirectoryEntry) -> pki.x509.Certificate:
        cert = pki.load_cert_pem(to.certificate_pem.encode("ascii"))
        pki.validate_certificate(
            cert, self.profile.trust_roots(), purpose="encrypt", crls=self.profile.crls()
        )
        return cert

    def _seal_and_queue(
        self,
        me: UnlockedIdentity,
        bundle_id: str,
        kind: str,
        plain: bytes,
        to: DirectoryEntry,
        certificates: list[pki.x509.Certificate],
        *,
        keep: bool = True,
        priority: str = "normal",
        progress: Progress | None = None,
    ) -> str:
        signed_at = datetime.now(UTC).replace(microsecond=0)
        if keep:
            # Sealed as it is written into the archive (crypto.stream: the sealed copy never
            # sits in memory), then copied into the outbox's spool in blocks.
            path = self.profile.path("archive") / f"{bundle_id}.cms"
            private_dir(path.parent)
            with Sealer(
                path, me.signer_certificate, me.signer_key, certificates, now=signed_at,
                extra_certificates=me.signer_extras, total=len(plain), progress=progress,
            ) as sealer:  # fmt: skip
                sealer.write(plain)
                sealer.finish()
            with self._db() as db:
                db.execute(
                    "INSERT INTO archive VALUES (?, ?, ?, datetime('now'))",
                    (bundle_id, me.info.id, kind),
                )
            if pki.can_decrypt(me.certificate):
                # indexed from the plaintext in hand: what was just sealed is never decrypted
                source = Source(bundle_id, "archive", path)
                self.store(me).ingest_sealed(source, path, plain, signed_at)
            job = self.outbox.enqueue_file(
                bundle_id, to.id, to.display_name, kind, path, priority=priority
            )
        else:
            sealed = cms.seal(
                plain, me.signer_certificate, me.signer_key, certificates, now=signed_at,
                extra_certificates=me.signer_extras,
            )  # fmt: skip
            job = self.outbox.enqueue(
                bundle_id, to.id, to.display_name, kind, sealed, priority=priority
            )
        self.audit(
            "bundle_sealed",
            me,
            bundle_id=bundle_id,
            kind=kind,
            recipient=to.id,
            recipients=[pki.fingerprint(c) for c in certificates],
            size=job.size,
        )
        log.info("sealed %s %s for %s", kind, bundle_id, to.id)
        return bundle_id

    # --- receipts -----------------------------------------------------------------------
    def _send_receipt(self, me: UnlockedIdentity, request: Opened) -> None:
        """Acknowledge a request or an opinion ``me`` received, once: a signed receipt back
        to its sender (the specialist then knows the unit has the opinion).

        One at a time: two listings at once (a refresh while another runs) send one receipt.
        The receipt is queued before it is recorded, so a crash in between sends it again
        after a restart (harmless: a receipt acknowledges what is already acknowledged)
        rather than never.
        """
        with self._receipts_lock:
            with self._db() as db:
                done = db.execute(
                    "SELECT 1 FROM receipts WHERE bundle_id = ?", (request.bundle_id,)
                ).fetchone()
            if done:
                return
            sender = request.sender
            to = next((e for e in self.directory() if e.id == sender.mailbox), None)
            if to is None:
                log.info("receipt for %s waits for the directory", request.bundle_id)
                return
            cert = self._recipient_certificate(to)
            reader = _reader_party_of(request)
            if pki.fingerprint(cert) != reader.fingerprint:
                log.warning(
                    "receipt for %s: the directory has another certificate", request.bundle_id
                )
                return
            receipt_id = new_id()
            plain = pack_receipt(
                receipt_id,
                request.bundle_id,
                request.bundle.manifest.case_id,
                _party_of_me(me),
                [reader, _reader_party_of_me(me)],
            )
            self._seal_and_queue(
                me, receipt_id, "receipt", plain, to, [cert, me.certificate], keep=False
            )
            with self._db() as db:
                db.execute(
                    "INSERT OR IGNORE INTO receipts VALUES (?, ?, ?, datetime('now'))",
                    (request.bundle_id, receipt_id, me.info.id),
                )

    def _take_receipt(self, me: UnlockedIdentity, receipt: Opened, acknowledged: str) -> None:
        """A receipt admitted by the rules (from a recipient of ``me``'s bundle
        ``acknowledged``): that bundle's job becomes acknowledged."""
        job = self.outbox.get(acknowledged)
        if job is None or job.state == "acknowledged":
            return
        self.outbox.acknowledge(
            acknowledged, receipt.bundle_id, recipient_id=receipt.sender.mailbox
        )
        self.audit(
            "receipt_received",
            me,
            bundle_id=acknowledged,
            receipt_id=receipt.bundle_id,
            sender=receipt.sender.fingerprint,
        )

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


_NOT_LEFT = (JobState.QUEUED, JobState.WAITING_RETRY, JobState.PAUSED)
"""A request's job states in which a withdrawal cancels it (no byte of it is on its way)."""


def _party_of_me(me: UnlockedIdentity) -> Party:
    """``me`` as an author: the signing certificate (a card's, for a card identity)."""
    return Party.of_certificate(me.signer_certificate, me.info.id)


def _reader_party_of_me(me: UnlockedIdentity) -> Party:
    """``me`` as a recipient: the certificate bundles are encrypted to."""
    return Party.of_certificate(me.certificate, me.info.id)


def _reader_party_of(opened: Opened) -> Party:
    """The author of ``opened`` as a recipient: the entry with the author's mailbox in its
    signed recipients (another certificate than the signer's for a card identity,
    ``cases.cardidentity``), else the author."""
    sender = opened.sender
    for party in opened.bundle.manifest.recipients:
        if party.mailbox and party.mailbox == sender.mailbox:
            return party
    return sender


def _party_of_entry(entry: DirectoryEntry, cert: pki.x509.Certificate) -> Party:
    return Party.of_certificate(cert, entry.id)
