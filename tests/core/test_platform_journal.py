"""The platform keeps each station's audit journal checkpoints: its own, append-only, bounded.

Against the real platform on 127.0.0.1 (``tests.support.platform``), through its HTTP API.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from refplatform import db as db_module
from refplatform.db import SCHEMA_VERSION, open_database
from refplatform.journal import MAX_BODY_BYTES
from refplatform.storage import Layout
from tests.support.platform import RunningPlatform, Station, start_platform

PATH = "/api/v1/journal/checkpoints"
H1, H2, H3 = "a1" * 32, "b2" * 32, "c3" * 32
WHEN = "2026-11-23T10:00:00Z"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path, checkpoint_quota=5) as running:
        yield running


def post(station: Station, body: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return station.call("POST", PATH, data=data, headers={"Content-Type": "application/json"})


def checkpoint(count: int, head: str, **extra: Any) -> dict[str, Any]:
    return {"count": count, "head": head, "time": WHEN, **extra}


def listed(station: Station, query: str = "") -> dict[str, Any]:
    response = station.call("GET", PATH + query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_checkpoints_are_kept_with_the_platforms_time_and_never_go_backwards(
    platform: RunningPlatform,
) -> None:
    with Station(platform, "unit") as unit:
        first = post(unit, checkpoint(3, H1))
        assert first.status_code == 201, first.text
        kept = first.json()
        assert (kept["count"], kept["head"], kept["time"]) == (3, H1, WHEN)
        assert kept["received_at"].endswith("Z")  # the platform's own clock

        again = post(unit, checkpoint(3, H1, time="2026-11-23T10:05:00Z"))
        assert (again.status_code, again.json()) == (200, kept), "a resend: the one kept"

        backwards = post(unit, checkpoint(2, H2))
        assert backwards.status_code == 409
        assert backwards.json()["error"] == "checkpoint_backwards"
        contradicts = post(unit, checkpoint(3, H2))
        assert contradicts.status_code == 409
        assert contradicts.json()["error"] == "checkpoint_contradicts"

        assert post(unit, checkpoint(7, H3, signature="MIIB")).status_code == 201
        assert post(unit, checkpoint(5, H2)).status_code == 409, "below the last one"
        body = listed(unit)
        assert body["station"] == "unit"
        assert [(c["count"], c["head"]) for c in body["checkpoints"]] == [(3, H1), (7, H3)]
        assert body["checkpoints"][1]["signature"] == "MIIB"
        assert (body["more"], body["total"]) == (False, 2)
    assert "checkpoint refused" in platform.log_tail(), "the platform logs what it refused"


def test_the_table_is_append_only_in_the_database_too(platform: RunningPlatform) -> None:
    with Station(platform, "unit") as unit:
        assert post(unit, checkpoint(3, H1)).status_code == 201
    conn = sqlite3.connect(Layout(platform.data_dir).db_path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE journal_checkpoints SET head = ?", (H2,))
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM journal_checkpoints")
        assert conn.execute("SELECT count, head FROM journal_checkpoints").fetchall() == [(3, H1)]
    finally:
        conn.close()


def test_a_station_reads_and_writes_only_its_own_checkpoints(platform: RunningPlatform) -> None:
    with Station(platform, "unit") as unit, Station(platform, "intruder") as intruder:
        assert post(unit, checkpoint(10, H1)).status_code == 201
        # The intruder's own checkpoints, whatever it claims: the unit's stay as they were.
        assert post(intruder, checkpoint(2, H2)).status_code == 201
        assert post(intruder, {**checkpoint(10, H3), "station": "unit"}).status_code == 400
        assert listed(intruder)["checkpoints"][0]["count"] == 2
        assert [c["count"] for c in listed(intruder, "?station=unit")["checkpoints"]] == [2]
        assert [(c["count"], c["head"]) for c in listed(unit)["checkpoints"]] == [(10, H1)]
        assert listed(unit)["station"] == "unit"
        # No token, or a wrong one: nothing.
        for token in (None, "not-a-token-of-anyone"):
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            anonymous = requests.get(platform.url + PATH, headers=headers, timeout=10)
            assert anonymous.status_code == 401
            written = requests.post(
                platform.url + PATH, json=checkpoint(11, H1), headers=headers, timeout=10
            )
            assert written.status_code == 401
        assert listed(unit)["total"] == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        [],
        {"count": 3, "head": H1},
        {**checkpoint(3, H1), "extra": 1},
        checkpoint(0, H1),
        checkpoint(-1, H1),
        checkpoint(True, H1),
        checkpoint(2**60, H1),
        checkpoint(3, "A1" * 32),
        checkpoint(3, H1[:-1]),
        {**checkpoint(3, H1), "time": "23/11/2026"},
        checkpoint(3, H1, signature="not base64!"),
        checkpoint(3, H1, signature=""),
        checkpoint(3, H1, signature=7),
    ],
)
def test_a_malformed_checkpoint_is_refused(platform: RunningPlatform, body: Any) -> None:
    with Station(platform, "unit") as unit:
        response = post(unit, body)
        assert response.status_code == 400
        assert response.json()["error"] == "bad_checkpoint"
        assert listed(unit)["total"] == 0


def test_bodies_and_counts_are_bounded(platform: RunningPlatform) -> None:
    with Station(platform, "unit") as unit:
        huge = checkpoint(3, H1, signature="A" * MAX_BODY_BYTES)
        assert post(unit, huge).status_code == 413
        streamed = unit.session.post(  # no Content-Length: cut while reading
            platform.url + PATH,
            data=iter([b'{"count": 3, "head": "', b"a" * MAX_BODY_BYTES, b'"}']),
            timeout=10,
        )
        assert streamed.status_code == 413
        for count in range(1, 6):  # the platform was started with a quota of 5
            assert post(unit, checkpoint(count, H1)).status_code == 201
        full = post(unit, checkpoint(6, H1))
        assert (full.status_code, full.json()["error"]) == (507, "checkpoint_quota")
        assert post(unit, checkpoint(5, H1)).status_code == 200, "the last one, again"
        with Station(platform, "other") as other:  # a quota per station
            assert post(other, checkpoint(1, H1)).status_code == 201


def test_listing_pages(platform: RunningPlatform) -> None:
    with Station(platform, "unit") as unit:
        for count in (2, 4, 6, 8):
            assert post(unit, checkpoint(count, H1)).status_code == 201
        page = listed(unit, "?limit=2")
        assert ([c["count"] for c in page["checkpoints"]], page["more"]) == ([2, 4], True)
        page = listed(unit, "?after=4&limit=2")
        assert ([c["count"] for c in page["checkpoints"]], page["more"]) == ([6, 8], False)
        assert page["total"] == 4
        for query in ("?after=-1", "?limit=0", "?limit=x", "?after=" + "9" * 20):
            assert unit.call("GET", PATH + query).status_code == 400


def test_a_schema_2_database_gains_the_append_only_table(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.ensure()
    conn = sqlite3.connect(layout.db_path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for statement in db_module._SCHEMA_V1.split(";"):
            if statement.strip():
                conn.execute(statement)
        db_module._migrate_v2(conn)
        conn.execute("PRAGMA user_version = 2")
        conn.execute("COMMIT")
    finally:
        conn.close()
    db = open_database(tmp_path)
    with db.connect() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"journal_checkpoints", "journal_checkpoints_no_update"} <= names
