"""The RPPS number in the directory of the distributed platform (issue 19): PostgreSQL.

The same checks as on the embedded back-end (``tests/core/test_platform_rpps.py``): the number
kept, listed through the replicas, refused when malformed or contradicted by the card
certificate, refused by the database itself; a database of the previous schema gains the
column and keeps its rows; the copy from an embedded platform carries the numbers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.x509.oid import NameOID

from refplatform import accounts as embedded
from refplatform import pgadmin
from refplatform import pgrecord as pgrecord_module
from refplatform.pgimport import copy_accounts
from refplatform.pgrecord import PG_SCHEMA_VERSION, PgRecord
from tests.core.test_platform_rpps import DUBOIS, ROUX, card_certificate, named, pem
from tests.distributed.conftest import PEM, Accounts, Cluster


def _add(record: PgRecord, station: str, rid: str, certificate_pem: str, rpps: str | None) -> None:
    record.register_recipient(
        recipient_id=rid,
        station_id=station,
        display_name=f"Dr {rid}",
        role="specialist",
        specialty="dermatology",
        certificate_pem=certificate_pem,
        rpps=rpps,
    )


def test_the_number_is_kept_listed_through_the_replicas_and_checked(
    cluster: Cluster, accounts: Accounts
) -> None:
    record, station = cluster.record, accounts.hospital
    dubois, card = f"{accounts.recipient}-dubois", f"{accounts.recipient}-card"
    _add(record, station, dubois, PEM, DUBOIS)
    _add(record, station, card, pem(named(f"8{ROUX}/CPS0001")), None)  # from the card
    with accounts.client(cluster.url) as client:
        listed = {e.id: e.rpps for e in client.directory()}
    assert listed[dubois] == DUBOIS
    assert listed[card] == ROUX
    assert listed[accounts.recipient] is None  # registered without one
    rows = {r["id"]: r["rpps"] for r in pgadmin.list_recipients(record, station)}
    assert rows == {accounts.recipient: None, dubois: DUBOIS, card: ROUX}

    with pytest.raises(ValueError, match="11 digits"):
        _add(record, station, dubois, PEM, "10002345676")
    with pytest.raises(ValueError, match="not the certificate's"):
        _add(record, station, card, pem(named(f"8{ROUX}/CPS0001")), DUBOIS)
    two = card_certificate((NameOID.COMMON_NAME, "8" + DUBOIS), (NameOID.SERIAL_NUMBER, ROUX))
    with pytest.raises(ValueError, match="several"):
        _add(record, station, card, pem(two), None)
    with record.connect() as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE recipients SET rpps = 'junk' WHERE id = %s", (dubois,))
    rows = {r["id"]: r["rpps"] for r in pgadmin.list_recipients(record, station)}
    assert rows == {accounts.recipient: None, dubois: DUBOIS, card: ROUX}


@pytest.fixture
def old_database(cluster: Cluster) -> Iterator[str]:
    """A database of schema 2 (before the RPPS), with a station and a recipient."""
    name = f"old_rpps_{os.getpid()}"
    admin = cluster.postgres.url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url) as conn, conn.transaction():
        for script in pgrecord_module._MIGRATIONS[:2]:
            conn.execute(script.encode())
        conn.execute("CREATE TABLE platform_schema (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO platform_schema (version) VALUES (2)")
        conn.execute(
            "INSERT INTO stations (id, token_sha256, created_at, updated_at)"
            " VALUES ('hosp-old', 'ab', 1, 1)"
        )
        conn.execute(
            "INSERT INTO recipients (id, station_id, display_name, role, specialty,"
            " certificate_pem, certificate_sha256, updated_at)"
            " VALUES ('pr-old', 'hosp-old', 'Pr Old', 'specialist', NULL, %s, NULL, 1)",
            (PEM,),
        )
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_an_older_database_gains_the_column_and_keeps_its_rows(
    old_database: str, tmp_path: Path
) -> None:
    record = PgRecord(old_database, max_connections=2, max_writers=1)
    try:
        with record.connect() as conn:
            version = conn.execute("SELECT version FROM platform_schema").fetchone()
        assert version == {"version": PG_SCHEMA_VERSION}
        assert PG_SCHEMA_VERSION >= 3
        [old] = record.directory()
        assert (old["id"], old["display_name"], old["rpps"]) == ("pr-old", "Pr Old", None)
        _add(record, "hosp-old", "pr-old", PEM, DUBOIS)
        assert [r["rpps"] for r in record.directory()] == [DUBOIS]

        # an embedded platform's recipients, copied with their numbers
        embedded.register_station(tmp_path, "hosp-old")
        embedded.register_recipient(
            tmp_path,
            recipient_id="pr-roux",
            station_id="hosp-old",
            display_name="Pr Roux",
            role="specialist",
            specialty="wounds",
            certificate_pem=PEM,
            rpps=ROUX,
        )
        assert copy_accounts(tmp_path, record) == (1, 1)
        listed = {r["id"]: r["rpps"] for r in record.directory()}
        assert listed == {"pr-old": DUBOIS, "pr-roux": ROUX}
    finally:
        record.close()


def test_the_administration_command_takes_and_lists_the_number(
    cluster: Cluster, accounts: Accounts, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    db = ["--database", cluster.postgres.url]
    cert = tmp_path / "dubois.pem"
    cert.write_text(pem(named("Pr Marc Dubois")))
    rid = f"{accounts.recipient}-cli"
    add = ["platform", "recipient", "add", rid, "--station", accounts.hospital, "--cert"]
    with pytest.raises(SystemExit) as usage:  # argparse's usage error
        main([*add, str(cert), "--role", "specialist", "--rpps", "1000234567", *db])
    assert usage.value.code == 2
    assert "not an RPPS number" in capsys.readouterr().err
    assert main([*add, str(cert), "--role", "specialist", "--rpps", DUBOIS, *db]) == 0
    assert f"RPPS {DUBOIS}" in capsys.readouterr().out
    assert main(["platform", "recipient", "list", "--station", accounts.hospital, *db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith(rid) and DUBOIS in line for line in lines)
