"""Stations, tokens and recipients of the reference platform (no server needed)."""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app import cli
from refplatform import accounts
from refplatform import db as db_module
from refplatform.db import SCHEMA_VERSION, open_database
from refplatform.storage import Layout
from tests.support.platform import DUMMY_CERT_PEM, REPO_ROOT

#: SHA-256 of the dummy certificate's DER bytes: what addresses its mailbox.
DUMMY_SHA256 = hashlib.sha256(base64.b64decode("MIIBdGVzdA==")).hexdigest()


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
            "certificate_sha256": DUMMY_SHA256,
            "rpps": None,
        },
        {
            "id": "pr-dubois",
            "display_name": "Pr Dubois, moved",
            "role": "specialist",
            "specialty": "dermatology",
            "station": "unit",
            "certificate_pem": DUMMY_CERT_PEM,
            "certificate_sha256": DUMMY_SHA256,
            "rpps": None,
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


# --- tokens per workstation: new, list, revoke ----------------------------------------------


def random_pem() -> str:
    """A PEM-framed certificate stand-in with its own bytes (the platform does not parse it)."""
    body = base64.b64encode(os.urandom(90)).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def test_a_revoked_token_is_refused_until_a_new_one_is_issued(tmp_path: Path) -> None:
    old = accounts.register_station(tmp_path, "unit")
    accounts.register_station(tmp_path, "other")
    db = open_database(tmp_path)
    assert accounts.revoke_station(tmp_path, "unit")
    assert accounts.station_for_token(db, old) is None
    assert not accounts.revoke_station(tmp_path, "nobody")
    listed = {s.id: s for s in accounts.list_stations(tmp_path)}
    assert not listed["unit"].active
    assert listed["unit"].revoked_at is not None
    assert listed["other"].active
    new = accounts.register_station(tmp_path, "unit")
    assert accounts.station_for_token(db, new) == "unit"
    assert accounts.station_for_token(db, old) is None
    assert accounts.list_stations(tmp_path)[1].active


def test_recipients_are_addressed_by_id_or_certificate_fingerprint(tmp_path: Path) -> None:
    accounts.register_station(tmp_path, "hospital")
    pem = random_pem()
    der = base64.b64decode(pem.splitlines()[1])
    fingerprint = hashlib.sha256(der).hexdigest()
    for recipient_id, certificate in (
        ("pr-dubois", pem),
        ("a", DUMMY_CERT_PEM),
        ("b", DUMMY_CERT_PEM),
    ):
        accounts.register_recipient(
            tmp_path,
            recipient_id=recipient_id,
            station_id="hospital",
            display_name="Dr X",
            role="specialist",
            specialty=None,
            certificate_pem=certificate,
        )
    db = open_database(tmp_path)
    assert accounts.resolve_recipient(db, "pr-dubois") == "pr-dubois"
    assert accounts.resolve_recipient(db, fingerprint) == "pr-dubois"
    assert accounts.resolve_recipient(db, "sha256:" + fingerprint.upper()) == "pr-dubois"
    assert accounts.resolve_recipient(db, "0" * 64) is None
    assert accounts.resolve_recipient(db, "nobody") is None
    with pytest.raises(accounts.AmbiguousRecipient):
        accounts.resolve_recipient(db, DUMMY_SHA256)
    with pytest.raises(ValueError, match="PEM"):
        accounts.register_recipient(
            tmp_path,
            recipient_id="bad",
            station_id="hospital",
            display_name="Dr X",
            role="doctor",
            specialty=None,
            certificate_pem="-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----",
        )


def test_a_schema_1_platform_database_is_migrated(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.ensure()
    conn = sqlite3.connect(layout.db_path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for statement in db_module._SCHEMA_V1.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT INTO stations VALUES ('unit', ?, 1.0, 1.0)", (accounts.hash_token("t" * 20),)
        )
        conn.execute(
            "INSERT INTO recipients VALUES ('dr', 'unit', 'Dr', 'doctor', NULL, ?, 1.0)",
            (DUMMY_CERT_PEM,),
        )
        conn.execute("PRAGMA user_version = 1")
        conn.execute("COMMIT")
    finally:
        conn.close()
    db = open_database(tmp_path)
    assert accounts.station_for_token(db, "t" * 20) == "unit", "tokens survive"
    assert accounts.resolve_recipient(db, DUMMY_SHA256) == "dr", "fingerprints were computed"
    assert accounts.directory(db)[0]["certificate_sha256"] == DUMMY_SHA256


def test_token_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "platform"
    base = ["platform", "token"]
    assert cli.main([*base, "new", "--data", str(data), "--workstation", "unit-x"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 32
    assert accounts.station_for_token(open_database(data), token) == "unit-x"
    assert cli.main([*base, "new", "--data", str(data), "--workstation", "unit-x"]) == 0
    second = capsys.readouterr().out.strip()
    assert second != token
    assert accounts.station_for_token(open_database(data), token) is None, "replaced"
    assert cli.main([*base, "list", "--data", str(data)]) == 0
    listing = capsys.readouterr().out
    assert "unit-x" in listing
    assert "active" in listing
    assert second not in listing, "never shows a token"
    assert cli.main([*base, "revoke", "--data", str(data), "--workstation", "nope"]) == 1
    assert cli.main(["platform", "--port", "0"]) == 2, "the server still needs --data"
    with pytest.raises(SystemExit):
        cli.main([*base, "new", "--data", str(data)])  # --workstation is required


def test_token_commands_as_a_real_process(tmp_path: Path) -> None:
    data = tmp_path / "platform"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "app", "platform", "token", *args, "--data", str(data)]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    issued = run("new", "--workstation", "unit-y")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert "Traceback" not in issued.stderr
    revoked = run("revoke", "--workstation", "unit-y")
    assert revoked.returncode == 0
    assert "revoked" in revoked.stdout
    listing = run("list")
    assert "unit-y" in listing.stdout
    assert "revoked" in listing.stdout
    assert accounts.station_for_token(open_database(data), token) is None
