"""Stations, tokens and recipients of the reference platform (no server needed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from refplatform import accounts
from refplatform.db import SCHEMA_VERSION, open_database
from tests.support.platform import DUMMY_CERT_PEM


def _all_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def test_register_station_generates_a_token_and_stores_only_its_hash(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = accounts.register_station(data, "unit-1")
    assert len(token) >= 40
    db = open_database(data)
    assert accounts.station_for_token(db, token) == "unit-1"
    assert accounts.station_for_token(db, token + "x") is None
    assert token.encode() not in _all_bytes(data)
    assert accounts.hash_token(token).encode() in _all_bytes(data)


def test_database_is_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    accounts.register_station(tmp_path, "unit-1")
    conn = sqlite3.connect(tmp_path / "platform.sqlite")
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    accounts.register_station(tmp_path, "unit-1")
    conn = sqlite3.connect(tmp_path / "platform.sqlite")
    try:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    finally:
        conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        open_database(tmp_path)


def test_registering_again_replaces_the_token(tmp_path: Path) -> None:
    first = accounts.register_station(tmp_path, "unit-1", "first-token-0123456789")
    second = accounts.register_station(tmp_path, "unit-1")
    db = open_database(tmp_path)
    assert first == "first-token-0123456789"
    assert accounts.station_for_token(db, first) is None
    assert accounts.station_for_token(db, second) == "unit-1"


@pytest.mark.parametrize(
    ("station_id", "token"),
    [
        ("", None),
        ("../escape", None),
        ("a/b", None),
        ("unit-1", "short"),
        ("unit-1", "has a space in the token"),
    ],
)
def test_malformed_station_or_token_is_refused(
    tmp_path: Path, station_id: str, token: str | None
) -> None:
    with pytest.raises(ValueError, match=r"invalid|token"):
        accounts.register_station(tmp_path, station_id, token)


def test_one_token_cannot_serve_two_stations(tmp_path: Path) -> None:
    accounts.register_station(tmp_path, "unit-1", "shared-token-0123456789")
    with pytest.raises(ValueError, match="another station"):
        accounts.register_station(tmp_path, "unit-2", "shared-token-0123456789")


def test_recipients_are_upserted_and_listed(tmp_path: Path) -> None:
    accounts.register_station(tmp_path, "hospital")
    accounts.register_station(tmp_path, "unit")
    for station, name in (("hospital", "Pr Dubois"), ("unit", "Pr Dubois, moved")):
        accounts.register_recipient(
            tmp_path,
            recipient_id="pr-dubois",
            station_id=station,
            display_name=name,
            role="specialist",
            specialty="dermatology",
            certificate_pem=DUMMY_CERT_PEM,
        )
    accounts.register_recipient(
        tmp_path,
        recipient_id="dr-bernard",
        station_id="unit",
        display_name="Dr Bernard",
        role="doctor",
        specialty=None,
        certificate_pem=DUMMY_CERT_PEM,
    )
    db = open_database(tmp_path)
    assert accounts.directory(db) == [
        {
            "id": "dr-bernard",
            "display_name": "Dr Bernard",
            "role": "doctor",
            "specialty": None,
            "station": "unit",
            "certificate_pem": DUMMY_CERT_PEM,
        },
        {
            "id": "pr-dubois",
            "display_name": "Pr Dubois, moved",
            "role": "specialist",
            "specialty": "dermatology",
            "station": "unit",
            "certificate_pem": DUMMY_CERT_PEM,
        },
    ]
    assert accounts.recipient_station(db, "pr-dubois") == "unit"
    assert accounts.recipient_station(db, "nobody") is None


@pytest.mark.parametrize(
    ("recipient_id", "station_id", "pem"),
    [
        ("ok-id", "no-such-station", DUMMY_CERT_PEM),
        ("bad/id", "unit", DUMMY_CERT_PEM),
        ("ok-id", "unit", "not a certificate"),
    ],
)
def test_malformed_recipient_is_refused(
    tmp_path: Path, recipient_id: str, station_id: str, pem: str
) -> None:
    accounts.register_station(tmp_path, "unit")
    with pytest.raises(ValueError, match=r"station|identifier|PEM"):
        accounts.register_recipient(
            tmp_path,
            recipient_id=recipient_id,
            station_id=station_id,
            display_name="Dr X",
            role="doctor",
            specialty=None,
            certificate_pem=pem,
        )
