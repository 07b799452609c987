"""One open workstation: its profile, outbox, inbox, workers and the workstation service.

Qt-free: the window owns a :class:`Session` and bridges its events to signals. The workers
start when the window opens, whoever logs in: the queue keeps moving while a secretary is
logged in, and the inbox fills while nobody is.
"""

from __future__ import annotations

import logging
import threading

from cases import profilelock
from cases.anchor import Anchorer, anchor_config
from cases.handover import HandoverConfig, handover_check
from cases.profile import Profile, UnlockedIdentity
from cases.workstation import Workstation
from crypto import audit
from outbox.fetcher import InboxFetcher
from outbox.handover import CaptureCourier, HandoverLedger, NetworkRelay
from outbox.inbox import Inbox
from outbox.jobs import JobSnapshot
from outbox.platform import PlatformClient
from outbox.queue import Outbox
from outbox.sender import Sender

log = logging.getLogger(__name__)

CANCEL_REASONS = ("duplicate", "wrong_recipient", "request_withdrawn", "patient_released", "other")
"""Why a secretary cancels a send: codes only (the journal never holds free text)."""


def cancel_reason_code(reason: str | None) -> str:
    return reason if reason in CANCEL_REASONS else "other"


class Session:
    """Everything one profile needs while its window is open."""

    def __init__(self, profile: Profile, *, poll_interval: float = 5.0) -> None:
        """Opens the profile's queue and inbox with their crash repair, so it first takes the
        profile's lock (:mod:`cases.profilelock`): :class:`ProfileBusy` while another app or
        a repairing command has it."""
        self.profile = profile
        self._hold = profilelock.hold(profile.root, "app")
        try:
            self._build(profile, poll_interval)
        except BaseException:
            self._hold.release()
            raise

    def _build(self, profile: Profile, poll_interval: float) -> None:
        config = profile.platform_config()
        # One client (one requests.Session) per thread that talks to the platform.
        self.clients = [PlatformClient(config) for _thread in range(3)]
        self.outbox = Outbox(profile.db_path, profile.path("outbox"))
        self.inbox = Inbox(profile.db_path, profile.path("inbox"))
        self.workstation = Workstation(profile, self.outbox, self.inbox, self.clients[0])
        mailboxes = [i.id for i in profile.identities() if i.role != "secretary"]
        # Two PCs on one desk (cases.handover): the capture PC hands its bundles to a folder
        # instead of the platform; the networked PC queues them and brings the mail back.
        self.handover = HandoverConfig.load(profile.root)
        self.relay: NetworkRelay | None = None
        self.courier: CaptureCourier | None = None
        if self.handover is not None and self.handover.role == "network":
            mailboxes += [m for m in self.handover.relay if m not in mailboxes]
            check = handover_check(
                self.workstation.directory, self.workstation.recipient_certificate
            )
            self.relay = NetworkRelay(
                self.outbox,
                self.inbox,
                self.handover.folder,
                check,
                self.handover.relay,
                HandoverLedger(self.outbox),
            )
        self.sender: Sender | CaptureCourier = Sender(self.outbox, self.clients[1])
        if self.handover is not None and self.handover.role == "capture":
            self.courier = CaptureCourier(
                self.outbox,
                self.inbox,
                self.handover.folder,
                profile.station_id,
                mailboxes,
                on_mail=lambda _item: self.workstation.touch(),
            )
            self.sender = self.courier  # what "send" means on this PC: hand over
        self.fetcher = InboxFetcher(self.inbox, self.clients[2], mailboxes, interval=poll_interval)
        # Checkpoints of the audit journal's head, anchored on the platform (cases.anchor).
        self.anchorer = Anchorer(profile, PlatformClient(anchor_config(config)))
        # The audit journal records the queue's security events once, as they happen.
        self._journal_lock = threading.Lock()
        self._states = {job.bundle_id: str(job.state) for job in self.outbox.jobs()}
        self._unsubscribe = self.outbox.subscribe(self._job_event)
        # a bundle stored in the inbox: the lists look again (the workstation keeps the last)
        self._unsubscribe_items = self.fetcher.subscribe(lambda _item: self.workstation.touch())

    def unlock(self, identity_id: str, passphrase: bytes) -> UnlockedIdentity:
        """Unlock an identity's key (blocking: call it off the GUI thread) and journal it."""
        me = self.profile.unlock(identity_id, passphrase)
        # The journal up to this login, signed by them (cases.anchor).
        self.anchorer.checkpoint_signed_by(
            me,
            lambda: self.journal(
                "identity_unlocked", me.info.id, fingerprint=me.fingerprint, role=me.info.role
            ),
        )
        return me

    def journal(self, event: str, actor: str, **details: object) -> None:
        """Append to the profile's audit journal; a failure is logged, never raised."""
        try:
            audit.append(self.profile.audit_path, event, actor=actor, details=details)
        except (OSError, ValueError, audit.AuditError):
            log.exception("cannot write the audit event %s", event)

    def _job_event(self, job: JobSnapshot) -> None:
        state = str(job.state)
        with self._journal_lock:
            before = self._states.get(job.bundle_id)
            self._states[job.bundle_id] = state
        if state == before:
            return
        actor = self.profile.station_id
        if state == "delivered":
            self.journal(
                "bundle_sent", actor, bundle_id=job.bundle_id, kind=job.kind,
                recipient=job.recipient_id, size=job.size,
            )  # fmt: skip
        elif state == "cancelled":
            self.journal(
                "bundle_cancelled", actor, bundle_id=job.bundle_id, kind=job.kind,
                recipient=job.recipient_id, reason=cancel_reason_code(job.cancel_reason),
            )  # fmt: skip

    def start(self) -> None:
        self.sender.start()
        if self.courier is None:  # the capture PC has no platform link: no mail to fetch
            self.fetcher.start()
        if self.relay is not None:
            self.relay.start()
        self.anchorer.start()

    def stop(self) -> None:
        """Stop and join the workers; close the connection pool."""
        self._unsubscribe()
        self._unsubscribe_items()
        self.sender.stop()
        self.fetcher.stop()
        if self.relay is not None:
            self.relay.stop()
            self.relay.close()
        self.anchorer.stop()  # a last checkpoint first, if the platform is reachable
        for client in (*self.clients, self.anchorer.client):
            client.close()
        self.workstation.close()  # the case stores' indexes, and what they held in memory
        self._hold.release()  # last: the queue and the inbox are closed
        log.info("session of %s stopped", self.profile.station_id)
