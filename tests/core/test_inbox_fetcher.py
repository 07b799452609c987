"""The inbox and its fetcher thread against the real reference platform."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from outbox.errors import OutboxError
from outbox.inbox import FetchStatus, Inbox, InboxFetcher, InboxItem
from outbox.jobs import JobState
from outbox.platform import MailboxItem, PlatformClient
from refplatform.accounts import register_recipient
from tests.core.test_outbox_sender import PEM, Station, platform, station, wait_until
from tests.support.netfault import Mode

__all__ = ["platform", "station"]  # fixtures shared with the sender tests


class Hospital:
    """The reading side: an inbox on disk and a client that goes through the station's proxy."""

    def __init__(self, station: Station, tmp_path: Path) -> None:
        self.station = station
        config = dataclasses.replace(
            station.reader_config, url=station.proxy.url(), connect_timeout=1, read_timeout=10
        )
        self.client = PlatformClient(config)
        self.db_path, self.spool_dir = tmp_path / "hosp.sqlite", tmp_path / "inbox"
        self.inbox = Inbox(self.db_path, self.spool_dir)
        self.items: list[InboxItem] = []
        self.statuses: list[FetchStatus] = []
        self._fetchers: list[InboxFetcher] = []

    def deliver(self, bundle_id: str, payload: bytes) -> None:
        meta = {"bundle_id": bundle_id, "recipient": self.station.recipient, "kind": "reply"}
        meta["sha256"] = hashlib.sha256(payload).hexdigest()
        url = self.station.client.create(len(payload), meta)
        assert self.station.client.patch(url, 0, payload) == len(payload)

    def fetcher(
        self, on_item: Callable[[InboxItem], None] | None = None, **options: object
    ) -> InboxFetcher:
        options = {"interval": 30.0, "retry_delay": lambda n: 0.05, **options}
        fetcher = InboxFetcher(self.inbox, self.client, [self.station.recipient], **options)
        fetcher.subscribe(self.items.append)
        if on_item is not None:
            fetcher.subscribe(on_item)
        fetcher.subscribe_status(self.statuses.append)
        self._fetchers.append(fetcher)
        fetcher.start()
        return fetcher

    def reopen(self) -> None:
        self.inbox.close()
        self.inbox = Inbox(self.db_path, self.spool_dir)

    def close(self) -> None:
        for fetcher in self._fetchers:
            assert fetcher.stop(10), "fetcher thread left running"
        self.client.close()
        self.inbox.close()


def station_platform(station: Station) -> Path:
    """The platform data directory the station is registered on."""
    return station.platform_data


@pytest.fixture
def hospital(station: Station, tmp_path: Path) -> Iterator[Hospital]:
    reader = Hospital(station, tmp_path)
    yield reader
    reader.close()


def test_fetch_stores_then_acknowledges(hospital: Hospital) -> None:
    payloads = {"r-1": os.urandom(50_000), "r-2": os.urandom(70_000)}
    for bundle_id, payload in payloads.items():
        hospital.deliver(bundle_id, payload)
    seen_when_published: list[tuple[str, bool, bool]] = []

    def check(item: InboxItem) -> None:
        stored = hospital.inbox.get(item.bundle_id) is not None
        seen_when_published.append((item.bundle_id, stored, item.bundle_id in station.mailbox()))

    station = hospital.station
    hospital.fetcher(on_item=check)
    recipient = hospital.station.recipient
    wait_until(lambda: len(hospital.inbox.items(recipient)) == 2)
    wait_until(lambda: hospital.station.mailbox() == [])
    for item in hospital.inbox.items(recipient):
        assert item.path.read_bytes() == payloads[item.bundle_id]
        assert (item.kind, item.sender_station) == ("reply", hospital.station.unit)
    assert sorted(i.bundle_id for i in hospital.items) == ["r-1", "r-2"]
    # Published once committed locally, and still on the platform then: the ack comes after.
    assert sorted(seen_when_published) == [("r-1", True, True), ("r-2", True, True)]
    wait_until(lambda: hospital.statuses)
    status = hospital.statuses[-1]
    assert status.reachable
    assert status.error_code is None
    assert status.last_success_at is not None
    assert list(hospital.spool_dir.glob("*.part")) == []


def test_download_resumes_from_a_partial_file(hospital: Hospital) -> None:
    payload = os.urandom(300_000)
    hospital.deliver("r-part", payload)
    hospital.inbox.part_path("r-part").write_bytes(payload[:200_000])
    hospital.station.proxy.reset_counters()
    hospital.fetcher()
    wait_until(lambda: hospital.inbox.get("r-part") is not None)
    assert hospital.inbox.get("r-part").path.read_bytes() == payload
    assert hospital.station.proxy.bytes_down < 150_000, "only the missing bytes came"


def test_checksum_mismatch_discards_the_part_and_retries(hospital: Hospital) -> None:
    payload = os.urandom(100_000)
    hospital.deliver("r-bad", payload)
    part = hospital.inbox.part_path("r-bad")
    part.write_bytes(os.urandom(60_000))  # a corrupt beginning the resume would keep
    fetcher = hospital.fetcher()
    wait_until(lambda: hospital.statuses)
    assert hospital.statuses[0].error_code == "checksum_mismatch"
    assert hospital.statuses[0].reachable
    assert not part.exists()
    assert hospital.inbox.get("r-bad") is None
    assert hospital.station.mailbox() == ["r-bad"], "not acknowledged"
    fetcher.wake()
    wait_until(lambda: hospital.inbox.get("r-bad") is not None)
    assert hospital.inbox.get("r-bad").path.read_bytes() == payload
    wait_until(lambda: hospital.station.mailbox() == [])


def test_stored_but_unacknowledged_is_not_duplicated_after_restart(hospital: Hospital) -> None:
    payload = os.urandom(200_000)
    hospital.deliver("r-once", payload)
    [listed] = hospital.client.list_items(hospital.station.recipient)
    part = hospital.inbox.part_path("r-once")
    hospital.client.download(hospital.station.recipient, "r-once", part)
    hospital.inbox.store(hospital.station.recipient, listed, part)  # then the app "crashed"
    hospital.reopen()
    hospital.station.proxy.reset_counters()
    hospital.fetcher()
    wait_until(lambda: hospital.station.mailbox() == [])
    assert hospital.items == [], "nothing new to publish"
    assert [i.bundle_id for i in hospital.inbox.items(hospital.station.recipient)] == ["r-once"]
    assert hospital.station.proxy.bytes_down < 20_000, "not downloaded again"


def test_status_follows_connectivity(hospital: Hospital) -> None:
    hospital.station.proxy.set_mode(Mode.REFUSE)
    hospital.fetcher(interval=0.2)
    wait_until(lambda: hospital.statuses and hospital.statuses[-1].consecutive_failures >= 2)
    down = hospital.statuses[-1]
    assert not down.reachable
    assert down.error_code == "network_unreachable"
    assert down.last_failure_at is not None
    hospital.station.proxy.set_mode(Mode.PASS)
    wait_until(lambda: hospital.statuses[-1].reachable)
    assert hospital.statuses[-1].error_code is None
    assert hospital.statuses[-1].consecutive_failures == 0


def test_recovery_keeps_parts_and_drops_unrecorded_files(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "q.sqlite", tmp_path / "inbox")
    inbox.part_path("half").write_bytes(b"half")
    inbox.path("unrecorded").write_bytes(b"renamed, then crashed")
    part = inbox.part_path("kept")
    part.write_bytes(b"ok")
    item = MailboxItem(
        "kept", "reply", 2, hashlib.sha256(b"ok").hexdigest(), "st", "2026-01-01T00:00:00Z"
    )
    inbox.store("derm", item, part)
    inbox.close()
    inbox = Inbox(tmp_path / "q.sqlite", tmp_path / "inbox")
    try:
        assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == ["half.part", "kept.cms"]
        assert [i.bundle_id for i in inbox.items("derm")] == ["kept"]
        inbox.remove("kept")
        assert inbox.items("derm") == []
        assert not inbox.path("kept").exists()
    finally:
        inbox.close()


def test_an_inbox_opened_beside_its_fetcher_repairs_nothing(tmp_path: Path) -> None:
    """A command run while the app fetches opens the inbox without the repair: the file the
    fetcher has just renamed into place, not yet recorded, and its temporary files stay."""
    fetching = Inbox(tmp_path / "q.sqlite", tmp_path / "inbox")
    fetching.path("renamed").write_bytes(b"renamed, the row comes next")
    (tmp_path / "inbox" / ".writing.tmp").write_bytes(b"being written")
    beside = Inbox(tmp_path / "q.sqlite", tmp_path / "inbox", recover=False)
    beside.close()
    names = sorted(p.name for p in (tmp_path / "inbox").iterdir())
    assert names == [".writing.tmp", "renamed.cms"]
    fetching.close()
    Inbox(tmp_path / "q.sqlite", tmp_path / "inbox").close()  # the app's next start repairs
    assert list((tmp_path / "inbox").iterdir()) == []


def test_a_stalled_download_is_abandoned_by_the_watchdog_then_resumed(hospital: Hospital) -> None:
    """Read timeout 30 s, idle 1 s: the fetcher gives up on a silent socket within ~1 s."""
    payload = os.urandom(6 * 1024 * 1024)
    hospital.deliver("r-stall", payload)
    hospital.client.close()
    config = dataclasses.replace(hospital.client.config, read_timeout=30, idle_timeout=1.0)
    hospital.client = PlatformClient(config)
    part = hospital.inbox.part_path("r-stall")
    stalled: list[float] = []

    def stall_once(done: int) -> None:
        if done >= 1024 * 1024 and not stalled:
            hospital.station.proxy.set_mode(Mode.STALL)
            stalled.append(time.monotonic())

    with pytest.raises(OutboxError) as caught:
        hospital.client.download(hospital.station.recipient, "r-stall", part, progress=stall_once)
    elapsed = time.monotonic() - stalled[0]
    assert (caught.value.code, caught.value.retryable) == ("timeout", True)
    assert "no progress" in caught.value.detail
    # Well under the 30 s read timeout, with room for a loaded machine: the watchdog ended it.
    assert elapsed < 10, f"abandoned after {elapsed:.1f} s"
    kept = part.stat().st_size
    assert kept >= 1024 * 1024
    hospital.station.proxy.set_mode(Mode.PASS)
    hospital.station.proxy.reset_counters()
    hospital.fetcher()
    wait_until(lambda: hospital.inbox.get("r-stall") is not None, timeout=20)
    assert hospital.inbox.get("r-stall").path.read_bytes() == payload
    assert hospital.station.proxy.bytes_down < len(payload) - kept + 512 * 1024, "resumed"


def test_a_receipt_received_acknowledges_the_senders_job(hospital: Hospital) -> None:
    """The loop the case layer closes: the unit's job is delivered, the specialist's signed
    receipt comes back through the inbox, and the unit records it with ``acknowledge``.

    The receipt's content (here a stand-in naming the bundle) is the case layer's to sign,
    parse and verify; the outbox only needs the bundle id, the receipt id and who sent it.
    """
    station = hospital.station
    station.enqueue("case-1", os.urandom(40_000))
    station.sender()
    wait_until(lambda: station.state("case-1") is JobState.DELIVERED)
    # The specialist's station sends the receipt back to the unit's doctor.
    unit_inbox = Inbox(hospital.db_path.with_name("unit.sqlite"), hospital.spool_dir / "unit")
    try:
        doctor = f"doc-{station.unit}"
        register_recipient(
            station_platform(station),
            recipient_id=doctor,
            station_id=station.unit,
            display_name="Dr Bernard",
            role="doctor",
            specialty=None,
            certificate_pem=PEM,
        )
        receipt = b"receipt-of:case-1"
        with PlatformClient(station.reader_config) as specialist:
            meta = {"bundle_id": "rcpt-1", "recipient": doctor, "kind": "receipt"}
            meta["sha256"] = hashlib.sha256(receipt).hexdigest()
            url = specialist.create(len(receipt), meta)
            assert specialist.patch(url, 0, receipt) == len(receipt)
        received: list[InboxItem] = []
        fetcher = InboxFetcher(unit_inbox, station.client, [doctor], interval=30.0)
        fetcher.subscribe(received.append)
        fetcher.start()
        try:
            wait_until(lambda: received)
        finally:
            assert fetcher.stop(10)
        [item] = received
        assert (item.kind, item.sender_station) == ("receipt", station.hospital)
        acknowledged = item.path.read_bytes().split(b":", 1)[1].decode()  # the case layer's job
        job = station.outbox.acknowledge(
            acknowledged, item.bundle_id, recipient_id=station.recipient
        )
        assert (job.state, job.receipt_id) == (JobState.ACKNOWLEDGED, "rcpt-1")
        with pytest.raises(ValueError, match="another recipient"):
            station.outbox.acknowledge("case-1", "rcpt-1", recipient_id=doctor)
    finally:
        unit_inbox.close()
