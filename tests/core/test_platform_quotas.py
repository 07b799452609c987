"""Per-station limits through the real platform on 127.0.0.1: unfinished uploads (count and
bytes), bytes per recipient per day, the free-space reserve, routes, and the reservation of a
bundle id for the first station. Limits are set with the real administration command."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from refplatform import db as db_module
from refplatform.cli import main as platform_main
from refplatform.db import SCHEMA_VERSION, open_database
from refplatform.quotas import BUILT_IN, LimitsStore
from refplatform.storage import Layout
from tests.support.platform import RunningPlatform, Station, start_platform, tus_metadata


def admin(platform: RunningPlatform, *argv: str) -> None:
    assert platform_main([*argv, "--data", str(platform.data_dir)]) == 0


def create(
    station: Station, recipient: str, length: int, bundle_id: str | None = None
) -> requests.Response:
    meta = tus_metadata(
        bundle_id=bundle_id or str(uuid.uuid4()), recipient=recipient, sha256="0" * 64
    )
    headers = {"Upload-Length": str(length), "Upload-Metadata": meta}
    return station.call("POST", "/files/", tus=True, headers=headers)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path) as running:
        yield running


@pytest.fixture
def unit(platform: RunningPlatform) -> Iterator[Station]:
    with Station(platform, "unit") as station:
        station.add_recipient("dr-bernard")
        yield station


@pytest.fixture
def hospital(platform: RunningPlatform) -> Iterator[Station]:
    with Station(platform, "hospital") as station:
        station.add_recipient("pr-dubois", "dermatology")
        station.add_recipient("pr-roux", "wounds")
        yield station


def test_unfinished_uploads_are_capped_in_number(
    platform: RunningPlatform, unit: Station, hospital: Station
) -> None:
    admin(platform, "quota", "set", "--station", "unit", "--open-uploads", "2")
    first = create(unit, "pr-dubois", 1000)
    assert first.status_code == 201
    assert create(unit, "pr-dubois", 1000).status_code == 201
    refused = create(unit, "pr-dubois", 1000)
    assert refused.status_code == 429
    assert refused.json()["error"] == "quota_open_uploads"
    assert "2 unfinished uploads" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 0
    # Another station is not held back by this one's quota.
    assert create(hospital, "dr-bernard", 1000).status_code == 201
    # Finishing (here: terminating) one makes room.
    assert unit.call("DELETE", first.headers["Location"], tus=True).status_code == 204
    assert create(unit, "pr-dubois", 1000).status_code == 201


def test_unfinished_uploads_are_capped_in_declared_bytes(
    platform: RunningPlatform, unit: Station, hospital: Station
) -> None:
    admin(platform, "quota", "set", "--default", "--open-bytes", "100K")
    assert create(unit, "pr-dubois", 60 * 1024).status_code == 201
    refused = create(unit, "pr-dubois", 60 * 1024)
    assert refused.status_code == 429
    assert refused.json()["error"] == "quota_open_bytes"
    # A bundle larger than the allowance itself can never pass: a permanent 413.
    too_big = create(unit, "pr-dubois", 200 * 1024)
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "over_allowance"
    assert "Retry-After" not in too_big.headers
    # A station's own value wins over the default.
    admin(platform, "quota", "set", "--station", "unit", "--open-bytes", "unlimited")
    assert create(unit, "pr-dubois", 200 * 1024).status_code == 201


def test_bytes_per_recipient_per_day_are_capped(
    platform: RunningPlatform, unit: Station, hospital: Station
) -> None:
    admin(platform, "quota", "set", "--station", "unit", "--daily-bytes", "50K")
    payload = os.urandom(30 * 1024)
    assert unit.send("pr-dubois", payload, str(uuid.uuid4())).status_code == 204
    refused = create(unit, "pr-dubois", len(payload))
    assert refused.status_code == 429
    assert refused.json()["error"] == "quota_daily_bytes"
    assert "midnight UTC" in refused.json()["detail"]
    wait = int(refused.headers["Retry-After"])
    until_midnight = 86_400 - time.time() % 86_400
    assert 0 < wait <= until_midnight + 2
    # Per recipient: another one still gets this station's bundles.
    assert unit.send("pr-roux", payload, str(uuid.uuid4())).status_code == 204
    # Nothing junk got into the first mailbox past the allowance.
    listing = hospital.call("GET", "/api/v1/mailboxes/pr-dubois/items").json()["items"]
    assert sum(item["size"] for item in listing) <= 50 * 1024


def test_the_free_space_reserve_refuses_with_507(tmp_path: Path) -> None:
    with (
        start_platform(tmp_path, reserve_free=10**18) as platform,
        Station(platform, "unit") as unit,
    ):
        unit.add_recipient("dr-bernard")
        refused = create(unit, "dr-bernard", 1000)
        assert refused.status_code == 507
        assert refused.json()["error"] == "insufficient_storage"
        assert "disk space" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) > 0


def test_routes_say_which_stations_write_to_whom(
    platform: RunningPlatform, unit: Station, hospital: Station
) -> None:
    with Station(platform, "other-unit") as other:
        # No route table: every station writes to every recipient (as before routes).
        assert create(other, "pr-dubois", 100).status_code == 201
        admin(platform, "route", "add", "--from", "unit", "--to-station", "hospital")
        admin(platform, "route", "add", "--from", "hospital", "--to-station", "unit")
        # From now on only routes (and a station's own recipients) allow writing.
        refused = create(other, "pr-dubois", 100)
        assert refused.status_code == 403
        assert refused.json()["error"] == "route_forbidden"
        assert "No route" in refused.json()["detail"]
        assert create(unit, "pr-dubois", 100).status_code == 201
        assert create(hospital, "dr-bernard", 100).status_code == 201
        assert create(unit, "dr-bernard", 100).status_code == 201  # its own recipient
        # A route to one recipient only.
        admin(platform, "route", "add", "--from", "other-unit", "--to-recipient", "pr-roux")
        assert create(other, "pr-roux", 100).status_code == 201
        assert create(other, "pr-dubois", 100).status_code == 403
        unknown = create(unit, "nobody-here", 100)
        assert unknown.status_code == 422, "an unknown recipient is named as such, not a route"
        admin(platform, "route", "remove", "--from", "unit", "--to-station", "hospital")
        assert create(unit, "pr-dubois", 100).status_code == 403


def test_a_learnt_bundle_id_cannot_get_the_genuine_upload_dropped(
    platform: RunningPlatform, unit: Station, hospital: Station
) -> None:
    payload = os.urandom(50_000)
    bundle_id = str(uuid.uuid4())
    genuine = unit.create("pr-dubois", payload, bundle_id)
    assert unit.patch(genuine, 0, payload[:10_000]).status_code == 204
    with Station(platform, "intruder") as intruder:
        junk = b"junk" * 100
        meta = tus_metadata(
            bundle_id=bundle_id, recipient="pr-dubois", sha256=hashlib.sha256(junk).hexdigest()
        )
        headers = {"Upload-Length": str(len(junk)), "Upload-Metadata": meta}
        taken = intruder.call("POST", "/files/", tus=True, headers=headers)
        assert taken.status_code == 409
        assert taken.json()["error"] == "bundle_taken"
    assert unit.patch(genuine, 10_000, payload[10_000:]).status_code == 204
    items = hospital.call("GET", "/api/v1/mailboxes/pr-dubois/items").json()["items"]
    assert [(i["bundle_id"], i["sender_station"]) for i in items] == [(bundle_id, "unit")]
    body = hospital.call("GET", f"/api/v1/mailboxes/pr-dubois/items/{bundle_id}").content
    assert body == payload


def test_a_schema_3_database_gains_the_limit_tables(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.ensure()
    conn = sqlite3.connect(layout.db_path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for statement in db_module._SCHEMA_V1.split(";"):
            if statement.strip():
                conn.execute(statement)
        db_module._migrate_v2(conn)
        db_module._migrate_v3(conn)
        conn.execute("INSERT INTO stations VALUES ('hospital', 'x', 0, 0, NULL)")
        conn.execute(
            "INSERT INTO recipients VALUES ('pr', 'hospital', 'Pr', 'specialist', NULL, 'pem', 0,"
            " NULL)"
        )
        conn.execute(
            "INSERT INTO deliveries (recipient_id, bundle_id, sender_station, sha256, size,"
            " accepted_at) VALUES ('pr', 'b1', 'unit', ?, 10, 0)",
            ("0" * 64,),
        )
        conn.execute("PRAGMA user_version = 3")
        conn.execute("COMMIT")
    finally:
        conn.close()
    db = open_database(tmp_path)
    with db.connect() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 1
    assert {"routes", "station_quotas", "bundle_reservations"} <= names
    # A delivery made before reservations existed still holds its bundle id.
    refusal = LimitsStore(db).admit(
        "intruder", "pr", "b1", 10, now=1.0, built_in=BUILT_IN, free_bytes=lambda: 0, reserve=0
    )
    assert refusal is not None
    assert refusal.code == "bundle_taken"
