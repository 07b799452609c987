"""Upload expiry, finalisation and crash recovery of the platform's stores, on a fake clock.

Crashes are simulated by leaving the data directory in the state a ``kill -9`` between two
steps would leave, then running the recovery a restarting server runs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from refplatform import accounts
from refplatform.db import Database, open_database
from refplatform.mailbox import Mailboxes, Outcome
from refplatform.storage import Layout
from refplatform.uploads import (
    BundleTaken,
    UnknownRecipient,
    Upload,
    UploadGone,
    UploadMetadata,
    UploadNotFound,
    UploadStore,
)
from tests.support.platform import DUMMY_CERT_PEM

TTL = 100.0
PAYLOAD = os.urandom(5000)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Stores:
    def __init__(self, root: Path) -> None:
        accounts.register_station(root, "unit")
        accounts.register_station(root, "other")
        accounts.register_recipient(
            root,
            recipient_id="pr-dubois",
            station_id="other",
            display_name="Pr Dubois",
            role="specialist",
            specialty="dermatology",
            certificate_pem=DUMMY_CERT_PEM,
        )
        self.clock = FakeClock()
        self.layout = Layout(root)
        self.db: Database = open_database(root)
        self.uploads = UploadStore(self.db, self.layout, ttl=TTL, clock=self.clock)
        self.mailboxes = Mailboxes(self.db, self.layout, clock=self.clock)

    def create(
        self, bundle_id: str = "b-1", payload: bytes = PAYLOAD, station: str = "unit"
    ) -> Upload:
        meta = UploadMetadata(bundle_id, "pr-dubois", hashlib.sha256(payload).hexdigest(), "case")
        return self.uploads.create(station, len(payload), meta, "raw")

    def write(self, upload: Upload, data: bytes) -> None:
        with self.layout.part_path(upload.id).open("ab") as part:
            part.write(data)


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    return Stores(tmp_path)


def test_an_overdue_upload_expires_when_accessed(stores: Stores) -> None:
    upload = stores.create()
    stores.write(upload, PAYLOAD[:100])
    stores.clock.now += TTL - 1
    assert stores.uploads.offset(stores.uploads.get(upload.id, "unit")) == 100
    stores.clock.now += 1
    with pytest.raises(UploadGone):
        stores.uploads.get(upload.id, "unit")
    assert not stores.layout.part_path(upload.id).exists()
    with pytest.raises(UploadGone):
        stores.uploads.get(upload.id, "unit")


def test_an_upload_being_written_does_not_expire(stores: Stores) -> None:
    upload = stores.create()
    assert stores.uploads.claim(upload.id)
    assert not stores.uploads.claim(upload.id)
    stores.clock.now += TTL * 2
    assert stores.uploads.sweep() == 0
    assert stores.uploads.get(upload.id, "unit").receiving
    stores.uploads.release(upload.id)
    assert stores.uploads.sweep() == 1


def test_the_sweep_expires_then_purges(stores: Stores) -> None:
    upload = stores.create()
    stray = stores.layout.part_path("0" * 32)
    stray.write_bytes(b"left by a crash")
    stores.clock.now += TTL
    assert stores.uploads.sweep() == 1
    assert not stores.layout.part_path(upload.id).exists()
    assert not stray.exists()
    with pytest.raises(UploadGone):
        stores.uploads.get(upload.id, "unit")
    stores.clock.now += TTL
    stores.uploads.sweep()
    with pytest.raises(UploadNotFound):
        stores.uploads.get(upload.id, "unit")


def test_uploads_belong_to_their_station(stores: Stores) -> None:
    upload = stores.create()
    with pytest.raises(UploadNotFound):
        stores.uploads.get(upload.id, "other")


def test_creation_checks_the_recipient_and_who_owns_the_bundle_id(stores: Stores) -> None:
    meta = UploadMetadata("b-1", "nobody", "0" * 64, None)
    with pytest.raises(UnknownRecipient):
        stores.uploads.create("unit", 10, meta, "raw")
    upload = stores.create()
    stores.write(upload, PAYLOAD)
    assert stores.mailboxes.finalise(upload) is Outcome.ACCEPTED
    with pytest.raises(BundleTaken):
        stores.create(station="other")
    stores.create()  # the same sender may resend: the duplicate will be dropped


def test_finalise_accepts_once_and_drops_duplicates_even_after_ack(stores: Stores) -> None:
    for round_ in range(3):
        upload = stores.create()
        stores.write(upload, PAYLOAD)
        expected = Outcome.ACCEPTED if round_ == 0 else Outcome.DUPLICATE
        assert stores.mailboxes.finalise(upload) is expected
        assert not stores.layout.part_path(upload.id).exists()
        assert stores.uploads.offset(stores.uploads.get(upload.id, "unit")) == len(PAYLOAD)
        if round_ == 1:
            assert stores.mailboxes.acknowledge("pr-dubois", "b-1")
    assert stores.mailboxes.items("pr-dubois") == []
    assert not stores.layout.mailbox_path("pr-dubois", "b-1").exists()
    assert stores.mailboxes.delivery("unit", "b-1") is not None
    assert not stores.mailboxes.acknowledge("pr-dubois", "never-sent")


def test_a_checksum_mismatch_discards_the_upload(stores: Stores) -> None:
    upload = stores.create()
    stores.write(upload, bytes(len(PAYLOAD)))
    assert stores.mailboxes.finalise(upload) is Outcome.CHECKSUM_MISMATCH
    with pytest.raises(UploadNotFound):
        stores.uploads.get(upload.id, "unit")
    assert list(stores.layout.root.rglob("*.bin")) == []
    assert list(stores.layout.uploads.iterdir()) == []


def test_recovery_finalises_an_upload_whose_last_byte_was_written(stores: Stores) -> None:
    upload = stores.create()
    stores.write(upload, PAYLOAD)  # crash before finalising
    stores.mailboxes.recover()
    [item] = stores.mailboxes.items("pr-dubois")
    assert item.bundle_id == "b-1"
    assert stores.layout.mailbox_path("pr-dubois", "b-1").read_bytes() == PAYLOAD


def test_recovery_records_a_bundle_moved_before_the_crash(stores: Stores) -> None:
    upload = stores.create()
    stores.write(upload, PAYLOAD)
    target = stores.layout.mailbox_path("pr-dubois", "b-1")
    target.parent.mkdir(parents=True)
    os.replace(stores.layout.part_path(upload.id), target)  # crash before the commit
    assert stores.mailboxes.items("pr-dubois") == []
    stores.mailboxes.recover()
    assert [i.bundle_id for i in stores.mailboxes.items("pr-dubois")] == ["b-1"]
    assert stores.mailboxes.delivery("unit", "b-1") is not None
    assert not stores.uploads.get(upload.id, "unit").receiving


def test_recovery_removes_the_file_of_an_acknowledged_bundle(stores: Stores) -> None:
    upload = stores.create()
    stores.write(upload, PAYLOAD)
    stores.mailboxes.finalise(upload)
    target = stores.layout.mailbox_path("pr-dubois", "b-1")
    kept = target.read_bytes()
    stores.mailboxes.acknowledge("pr-dubois", "b-1")
    target.write_bytes(kept)  # crash between the commit and the unlink
    stores.mailboxes.recover()
    assert not target.exists()


def test_recovery_leaves_a_partial_upload_resumable(stores: Stores) -> None:
    upload = stores.create()
    stores.write(upload, PAYLOAD[:1234])
    stores.mailboxes.recover()
    stores.uploads.sweep()
    assert stores.uploads.offset(stores.uploads.get(upload.id, "unit")) == 1234
