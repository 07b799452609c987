"""The administration's reads and changes on PostgreSQL: recipients, removal, status."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from refplatform import pgadmin
from refplatform.registry import RecipientBusy
from tests.distributed.conftest import PIECE_SIZE, Accounts, Cluster
from tests.distributed.tusraw import Tus


def test_recipients_listed_with_their_waiting_items_and_removed_with_their_bytes(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    tus = Tus(accounts.unit_token)
    payload = os.urandom(2 * PIECE_SIZE)
    path = tus.create(cluster.url, accounts.recipient, "b-admin", payload)
    assert tus.patch(cluster.url, path, 0, payload).status_code == 204
    listed = pgadmin.list_recipients(cluster.record, accounts.hospital)
    assert [(r["id"], r["waiting"]) for r in listed] == [(accounts.recipient, 1)]
    status = pgadmin.platform_status(cluster.record, time.time())
    assert status.schema == status.schema_expected
    assert status.database_bytes > 0
    depth = {m.recipient: m for m in status.mailboxes}[accounts.recipient]
    assert (depth.station, depth.items, depth.bytes) == (accounts.hospital, 1, len(payload))
    with pytest.raises(RecipientBusy):
        pgadmin.remove_recipient(cluster.record, cluster.blobs, accounts.recipient, force=False)
    upload_id = path.rsplit("/", 1)[1]
    assert any(
        key.startswith(f"pieces/{upload_id}/")
        for key in cluster.blobs.older_than("pieces/", time.time() + 60)
    )
    assert pgadmin.remove_recipient(cluster.record, cluster.blobs, accounts.recipient, force=True)
    assert not any(
        key.startswith(f"pieces/{upload_id}/")
        for key in cluster.blobs.older_than("pieces/", time.time() + 60)
    )
    assert pgadmin.list_recipients(cluster.record, accounts.hospital) == []
    assert not pgadmin.remove_recipient(
        cluster.record, cluster.blobs, accounts.recipient, force=True
    )
    # The delivery record stays: the same bundle id is still recognised.
    assert cluster.uploads.delivery(accounts.unit, "b-admin", None) is not None
