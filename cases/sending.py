"""Sending, for the workstation: requests, opinions, withdrawals and receipts sealed, kept in
the archive, indexed and queued (:class:`Sending`, which :class:`cases.workstation.Workstation`
is made of).

A request is packed as it is sealed (:mod:`cases.bundleseal`: its documents and clips fed to
the ZIP and the cipher in blocks, never the whole request in memory), for the specialist, the
sending doctor (so the doctor can read it again) and the unit's archive certificate (so the
unit can reread it after the doctor left). What is sealed here is indexed from its manifest at
once (``CaseStore.ingest_sealed``): never decrypted. Receipts: when a workstation first opens a
request or an opinion, it answers with a signed ``receipt`` bundle (no clinical content); when
the author's workstation opens that receipt, the bundle's job becomes ``acknowledged``.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import threading
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from cases.bundle import (
    MANIFEST,
    Party,
    pack_opinion,
    pack_receipt,
    pack_withdrawal,
)
from cases.bundleseal import seal_case
from cases.errors import BundleError, CaseError, TrustError
from cases.model import WITHDRAWAL_REASONS, Case, Opinion, new_id
from cases.profile import Profile, UnlockedIdentity
from cases.store import CaseStore, Source
from cases.threads import CaseThread, Opened
from cases.trust import AddressBook
from crypto import cms, pki
from crypto.errors import CryptoError
from crypto.stream import Progress, Sealer
from outbox.errors import OutboxError
from outbox.jobs import JobState
from outbox.platform import DirectoryEntry
from outbox.queue import Outbox, Priority
from outbox.spool import private_dir

log = logging.getLogger(__name__)


class Sending:
    """What seals and queues, for :class:`cases.workstation.Workstation` (which provides the
    profile, the outbox, the directory, the journal, the stores and the profile's database)."""

    profile: Profile
    outbox: Outbox
    _receipts_lock: threading.Lock
    _receipts_tried: dict[str, tuple[int, ...] | None]

    def directory(self) -> list[DirectoryEntry]:
        raise NotImplementedError

    def directory_version(self) -> tuple[int, ...] | None:
        raise NotImplementedError

    def audit(self, event: str, me: UnlockedIdentity, **details: object) -> None:
        raise NotImplementedError

    def store(self, me: UnlockedIdentity) -> CaseStore:
        raise NotImplementedError

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

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
        signer = (me.signer_certificate, me.signer_key)

        def seal(path: Path, signed_at: datetime) -> bytes:
            # the documents and clips fed to the ZIP and the cipher in blocks
            # (cases.bundleseal): the request is never whole in memory
            return seal_case(
                path, bundle_id, case, _party_of_me(me), recipients, signer, certificates,
                now=signed_at, extra_certificates=me.signer_extras, progress=progress,
            ).manifest_json  # fmt: skip

        return self._seal_and_queue(
            me, bundle_id, "case", seal, to, certificates, priority=priority
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
        plain: bytes | Callable[[Path, datetime], bytes],
        to: DirectoryEntry,
        certificates: list[pki.x509.Certificate],
        *,
        keep: bool = True,
        priority: str = "normal",
    ) -> str:
        """Seal ``plain`` (a packed bundle, or what seals one into a path at a signing time
        and returns its manifest) for ``certificates``, keep it in the archive unless
        ``keep`` is false, index it, and queue it for ``to``."""
        signed_at = datetime.now(UTC).replace(microsecond=0)
        if keep:
            # Sealed as it is written into the archive (crypto.stream: the sealed copy never
            # sits in memory), then copied into the outbox's spool in blocks.
            path = self.profile.path("archive") / f"{bundle_id}.cms"
            private_dir(path.parent)
            if isinstance(plain, bytes):
                with Sealer(
                    path, me.signer_certificate, me.signer_key, certificates, now=signed_at,
                    extra_certificates=me.signer_extras,
                ) as sealer:  # fmt: skip
                    sealer.write(plain)
                    sealer.finish()
                with zipfile.ZipFile(io.BytesIO(plain)) as packed:
                    manifest_json = packed.read(MANIFEST)
            else:
                manifest_json = plain(path, signed_at)
            with self._db() as db:
                db.execute(
                    "INSERT INTO archive VALUES (?, ?, ?, datetime('now'))",
                    (bundle_id, me.info.id, kind),
                )
            if pki.can_decrypt(me.certificate):
                # indexed from the plaintext in hand: what was just sealed is never decrypted
                source = Source(bundle_id, "archive", path)
                self.store(me).ingest_sealed(source, path, manifest_json, signed_at)
            job = self.outbox.enqueue_file(
                bundle_id, to.id, to.display_name, kind, path, priority=priority
            )
        else:
            assert isinstance(plain, bytes)  # a receipt: small, never kept
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
        rather than never. When the directory does not list the sender yet (the first
        listing after a login runs beside the directory's fetch), or lists another
        certificate for it, the receipt waits, on disk: :meth:`_send_waiting_receipts`
        tries it again with the next copy of the directory.
        """
        with self._receipts_lock:
            with self._db() as db:
                done = db.execute(
                    "SELECT 1 FROM receipts WHERE bundle_id = ?", (request.bundle_id,)
                ).fetchone()
            if done:
                self._stop_waiting(request.bundle_id)
                return
            sender = request.sender
            to = next((e for e in self.directory() if e.id == sender.mailbox), None)
            cert = None if to is None else self._recipient_certificate(to)
            reader = _reader_party_of(request)
            if to is None or cert is None or pki.fingerprint(cert) != reader.fingerprint:
                log.log(
                    logging.INFO if to is None else logging.WARNING,
                    "receipt for %s waits for the directory (%s)",
                    request.bundle_id,
                    "no entry for its sender" if to is None else "another certificate",
                )
                with self._db() as db:
                    db.execute(
                        "INSERT OR IGNORE INTO receipts_waiting VALUES (?, ?, datetime('now'))",
                        (request.bundle_id, me.info.id),
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
                db.execute("DELETE FROM receipts_waiting WHERE bundle_id = ?", (request.bundle_id,))

    def _stop_waiting(self, bundle_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM receipts_waiting WHERE bundle_id = ?", (bundle_id,))

    def _send_waiting_receipts(self, me: UnlockedIdentity, store: CaseStore) -> None:
        """The receipts of ``me``'s that waited for the directory, tried again once per copy
        of it (a listing with the same copy costs one ``stat``). Each is read from the index
        (never decrypted again) and goes through :meth:`_send_receipt`'s checks; one whose
        bundle left the store (discarded, erased) waits no more."""
        version = self.directory_version()
        with self._receipts_lock:
            if self._receipts_tried.get(me.info.id, _UNTRIED) == version:
                return
            self._receipts_tried[me.info.id] = version
        if version is None:
            return
        with self._db() as db:
            waiting = [
                row[0]
                for row in db.execute(
                    "SELECT bundle_id FROM receipts_waiting WHERE identity_id = ?"
                    " ORDER BY since, bundle_id",
                    (me.info.id,),
                )
            ]
        for bundle_id in waiting:
            row = store.index.get(bundle_id)
            try:
                if row is None or row.record is None:
                    self._stop_waiting(bundle_id)
                    continue
                self._send_receipt(me, store.listing_document(row))
            except (CryptoError, CaseError, OSError, ValueError, KeyError) as exc:
                log.warning("the receipt for %s failed again: %r", bundle_id, exc)

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


_UNTRIED = (-1,)
"""No directory copy tried yet for a person (not ``None``, which means "no copy kept")."""

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
