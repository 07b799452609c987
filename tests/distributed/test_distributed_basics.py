"""The distributed platform behind HAProxy: one truth whichever replica answers."""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
import requests

from refplatform.backend import BackendUnavailable
from refplatform.cli import configure_parser
from refplatform.distributed import DistributedConfig, config_from_args
from refplatform.pgrecord import PG_SCHEMA_VERSION, PgRecord
from tests.distributed.conftest import PIECE_SIZE, Accounts, Cluster
from tests.distributed.tusraw import Tus


def listing(cluster: Cluster, base: str, accounts: Accounts) -> list[str]:
    answer = requests.get(
        f"{base}/api/v1/mailboxes/{accounts.recipient}/items",
        headers={"Authorization": f"Bearer {accounts.hospital_token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return [item["bundle_id"] for item in answer.json()["items"]]


def test_chunks_through_alternating_replicas_and_head_agrees(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(3 * PIECE_SIZE + 12_345)
    tus = Tus(accounts.unit_token)
    r1, r2 = (replica.url for replica in cluster.replicas)
    path = tus.create(r1, accounts.recipient, "b-alt", payload)
    step = 100_000  # not a multiple of the piece size: pieces of every size
    offset = 0
    for n, start in enumerate(range(0, len(payload), step)):
        base = (r1, r2)[n % 2]
        answer = tus.patch(base, path, offset, payload[start : start + step])
        assert answer.status_code == 204, answer.text
        offset = int(answer.headers["Upload-Offset"])
        assert offset == min(start + step, len(payload))
        if offset < len(payload):
            assert tus.offset(r1, path) == tus.offset(r2, path) == offset
    assert tus.offset(cluster.url, path) == len(payload)
    reader = accounts.client(cluster.url, hospital=True)
    part = tmp_path / "b.part"
    part.write_bytes(payload[:70_000])  # a resumed download reads from the middle of a piece
    reader.download(accounts.recipient, "b-alt", part)
    assert part.read_bytes() == payload
    assert listing(cluster, r1, accounts) == listing(cluster, r2, accounts) == ["b-alt"]
    # Terminating a finished upload forgets the upload, never the delivered bundle's bytes.
    terminated = requests.delete(cluster.url + path, headers=tus.headers, timeout=10)
    assert terminated.status_code == 204
    again = tmp_path / "again.part"
    reader.download(accounts.recipient, "b-alt", again)
    assert again.read_bytes() == payload
    reader.close()


def test_listings_agree_and_acknowledged_items_never_reappear(
    cluster: Cluster, accounts: Accounts
) -> None:
    client = accounts.client(cluster.url)
    bundles = {f"b-list-{n}": os.urandom(20_000 + n) for n in range(5)}
    for bundle_id, payload in bundles.items():
        digest = hashlib.sha256(payload).hexdigest()
        meta = {"bundle_id": bundle_id, "recipient": accounts.recipient, "sha256": digest}
        url = client.create(len(payload), meta)
        assert client.patch(url, 0, payload) == len(payload)
    r1, r2 = (replica.url for replica in cluster.replicas)
    assert listing(cluster, r1, accounts) == listing(cluster, r2, accounts) == list(bundles)
    reader = accounts.client(r2, hospital=True)
    reader.acknowledge(accounts.recipient, "b-list-1")
    reader.acknowledge(accounts.recipient, "b-list-3")
    expected = ["b-list-0", "b-list-2", "b-list-4"]
    for _ in range(3):
        assert listing(cluster, r1, accounts) == listing(cluster, cluster.url, accounts) == expected
    # Acknowledged bytes are gone from the store, the delivery record stays (duplicates).
    assert cluster.uploads.item(accounts.recipient, "b-list-1") is None
    again = bundles["b-list-1"]
    url = client.create(len(again), {
        "bundle_id": "b-list-1",
        "recipient": accounts.recipient,
        "sha256": hashlib.sha256(again).hexdigest(),
    })  # fmt: skip
    assert client.patch(url, 0, again) == len(again)  # accepted as a duplicate, dropped
    assert listing(cluster, r2, accounts) == expected
    client.close()
    reader.close()


def test_checksum_mismatch_discards_and_says_so(cluster: Cluster, accounts: Accounts) -> None:
    tus = Tus(accounts.unit_token)
    payload = os.urandom(50_000)
    path = tus.create(cluster.url, accounts.recipient, "b-bad", payload)
    answer = tus.patch(cluster.url, path, 0, b"x" * len(payload))
    assert answer.status_code == 460
    assert answer.json()["error"] == "checksum_mismatch"
    assert tus.head(cluster.url, path).status_code == 404
    assert cluster.uploads.delivery(accounts.unit, "b-bad", None) is None


def test_another_station_cannot_read_or_write(cluster: Cluster, accounts: Accounts) -> None:
    tus = Tus(accounts.unit_token)
    payload = os.urandom(10_000)
    path = tus.create(cluster.url, accounts.recipient, "b-own", payload)
    intruder = Tus(accounts.hospital_token)
    assert intruder.head(cluster.url, path).status_code == 404
    assert intruder.patch(cluster.url, path, 0, payload).status_code == 404
    answer = requests.get(
        f"{cluster.url}/api/v1/mailboxes/{accounts.recipient}/items",
        headers={"Authorization": f"Bearer {accounts.unit_token}"},
        timeout=10,
    )
    assert answer.status_code == 403


def test_migrations_run_once_under_a_lock(cluster: Cluster) -> None:
    name = f"migrate_{os.getpid()}_{threading.get_ident() % 10_000}"
    with psycopg.connect(cluster.postgres.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = cluster.postgres.url.rsplit("/", 1)[0] + "/" + name
    errors: list[BaseException] = []
    opened: list[PgRecord] = []

    def start() -> None:
        try:
            opened.append(PgRecord(url, timeout=20))
        except (BackendUnavailable, RuntimeError, psycopg.Error) as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert len(opened) == 4
    with opened[0].connect() as pg:
        rows = pg.execute("SELECT version FROM platform_schema").fetchall()
    assert rows == [{"version": PG_SCHEMA_VERSION}]
    for record in opened:
        record.close()


def test_token_commands_on_the_distributed_platform(cluster: Cluster, accounts: Accounts) -> None:
    name = f"cli-{accounts.unit}"
    command = [sys.executable, "-m", "refplatform", "token"]
    where = ["--database", cluster.postgres.url]
    issued = subprocess.run(
        [*command, "new", *where, "--workstation", name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert Tus(token).head(cluster.url, "/files/" + "0" * 32).status_code == 404  # known token
    listed = subprocess.run(
        [*command, "list", *where], capture_output=True, text=True, timeout=60, check=False
    )
    assert name in listed.stdout
    revoked = subprocess.run(
        [*command, "revoke", *where, "--workstation", name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert revoked.returncode == 0
    assert Tus(token).head(cluster.url, "/files/" + "0" * 32).status_code == 401
    down = subprocess.run(
        [*command, "list", "--database", "postgresql://nobody@127.0.0.1:1/none"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert down.returncode == 1
    assert "database unavailable" in down.stderr
    assert "Traceback" not in down.stderr


def test_options_of_the_distributed_mode(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)

    def config(*argv: str) -> DistributedConfig | None:
        return config_from_args(parser.parse_args(list(argv)))

    assert config("--data", str(tmp_path)) is None
    given = config("--database", "postgresql://u@h/db", "--blobs", "s3://b?endpoint=http://h:1")
    assert given == DistributedConfig("postgresql://u@h/db", "s3://b?endpoint=http://h:1")
    toml = tmp_path / "platform.toml"
    toml.write_text(
        'database = "postgresql://u@h/db"\nblobs = "s3://b"\npiece_size = 1048576\n',
        encoding="utf-8",
    )
    from_file = config("--config", str(toml), "--sweep-interval", "5")
    assert from_file is not None
    assert (from_file.piece_size, from_file.sweep_interval) == (1048576, 5.0)
    for bad in (
        ["--database", "postgresql://u@h/db"],  # no blobs
        ["--database", "mysql://u@h/db", "--blobs", "s3://b"],
        ["--database", "postgresql://u@h/db", "--blobs", "http://b"],
        ["--database", "postgresql://u@h/db", "--blobs", "s3://b", "--piece-size", "10"],
        ["--data", str(tmp_path), "--database", "postgresql://u@h/db", "--blobs", "s3://b"],
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - each says why in its own words
            config(*bad)
    toml.write_text("nonsense = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown setting"):
        config("--config", str(toml))
