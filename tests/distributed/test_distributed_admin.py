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


def test_the_administration_commands_work_on_the_distributed_platform(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``passavant platform station|recipient|route|quota|status --database URL``: the same
    commands as on the embedded platform, with the same plain errors."""
    from app.cli import main
    from tests.support.pki import world

    db = ["--database", cluster.postgres.url]
    assert main(["platform", "station", "add", "cli-unit", *db]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 16
    assert cluster.record.station_for_token(token) == "cli-unit"
    assert main(["platform", "station", "list", *db]) == 0
    assert "cli-unit" in capsys.readouterr().out

    cert, _key = world().doctor.write(tmp_path, "doctor")
    add = ["recipient", "add", "cli-doctor", "--station", "cli-unit", "--cert", str(cert)]
    assert main(["platform", *add, "--role", "doctor", *db]) == 0
    assert main(["platform", "recipient", "list", "--station", "cli-unit", *db]) == 0
    assert "cli-doctor" in capsys.readouterr().out

    route = ["route", "add", "--from", "cli-unit", "--to-recipient", "cli-doctor"]
    assert main(["platform", *route, *db]) == 0
    assert main(["platform", "route", "list", *db]) == 0
    assert "cli-unit" in capsys.readouterr().out
    route[1] = "remove"
    assert main(["platform", *route, *db]) == 0

    quota = ["quota", "set", "--station", "cli-unit", "--open-uploads", "3"]
    assert main(["platform", *quota, *db]) == 0
    assert main(["platform", "quota", "show", "--station", "cli-unit", *db]) == 0
    assert "3" in capsys.readouterr().out

    assert main(["platform", "status", *db]) == 0
    assert "health: ok" in capsys.readouterr().out
    assert main(["platform", "recipient", "remove", "cli-doctor", *db]) == 0
    assert main(["platform", "station", "revoke", "cli-unit", *db]) == 0
    capsys.readouterr()

    # plain errors: both back-ends named, or none; a database that is not there
    assert main(["platform", "status", "--data", str(tmp_path), *db]) == 2
    assert "--database URL" in capsys.readouterr().err
    gone = ["--database", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=1"]
    assert main(["platform", "station", "list", *gone]) == 1
    assert "cannot open the platform" in capsys.readouterr().err
