"""The RPPS number in the platform's directory (issue 19), on the embedded back-end.

Who could list a wrong number: the administrator by mistake (a malformed number, a number the
recipient's card certificate contradicts), a platform sending junk to the workstations. The
number is checked where it is registered, stored under a CHECK constraint, read from a card
certificate, and checked again by the client; the number signed into a bundle always wins.
"""

from __future__ import annotations

import datetime
import json
import logging
import sqlite3
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crypto.rpps import AmbiguousRpps, certificate_rpps, rpps_ok
from outbox.platform import DirectoryEntry, PlatformClient, PlatformConfig, rpps_discrepancy
from refplatform import accounts, registry
from refplatform import db as db_module
from refplatform.cli import main as platform_main
from refplatform.db import SCHEMA_VERSION, open_database
from tests.core.test_outbox_bounds import DIRECTORY, Server, client, directory_entry, server
from tests.support.platform import DUMMY_CERT_PEM, start_platform

__all__ = ["client", "server"]  # fixtures of the stand-in platform

DUBOIS = "10002345675"  # the demo's numbers: 11 digits, Luhn key
ROUX = "10003456786"


def card_certificate(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Certificate:
    """A self-signed certificate whose subject holds ``attributes`` (a CPS card's, say)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def named(common_name: str) -> x509.Certificate:
    return card_certificate((NameOID.COMMON_NAME, common_name))


# --- the number, and the one a certificate carries ----------------------------------------------


def test_an_rpps_number_is_eleven_digits_with_its_luhn_key() -> None:
    assert rpps_ok(DUBOIS)
    assert rpps_ok(ROUX)
    assert not rpps_ok("10002345676")  # key wrong
    assert not rpps_ok("1000234567")  # 10 digits
    assert not rpps_ok("100023456750")
    assert not rpps_ok("１０００２３４５６７５")  # full-width digits are not ASCII digits
    assert not rpps_ok(10002345675)  # a number, not a string: leading zeros would be lost
    assert not rpps_ok(None)
    assert not rpps_ok(" 10002345675")


def test_a_card_certificate_s_national_identifier_gives_its_rpps_number() -> None:
    # IGC-Santé: the identifiant national is 8 (RPPS) + the number, maybe with more after "/"
    assert certificate_rpps(named("8" + DUBOIS)) == DUBOIS
    assert certificate_rpps(named(f"8{DUBOIS}/CPS1234567890")) == DUBOIS
    serial = card_certificate(
        (NameOID.COMMON_NAME, "Marc Dubois"), (NameOID.SERIAL_NUMBER, "8" + ROUX)
    )
    assert certificate_rpps(serial) == ROUX
    assert certificate_rpps(named(f"Pr Marc Dubois {DUBOIS}")) == DUBOIS
    # a name, an ADELI-based identifier (type 0), a wrong key: no RPPS number
    assert certificate_rpps(named("Pr Marc Dubois")) is None
    assert certificate_rpps(named("0751234567")) is None
    assert certificate_rpps(named("810002345676")) is None
    both = card_certificate((NameOID.COMMON_NAME, "8" + DUBOIS), (NameOID.SERIAL_NUMBER, ROUX))
    with pytest.raises(AmbiguousRpps):
        certificate_rpps(both)
    same = card_certificate((NameOID.COMMON_NAME, "8" + DUBOIS), (NameOID.SERIAL_NUMBER, DUBOIS))
    assert certificate_rpps(same) == DUBOIS


# --- the embedded back-end ------------------------------------------------------------------------


def _recipient(data: Path, rid: str, certificate_pem: str, rpps: str | None) -> None:
    accounts.register_recipient(
        data,
        recipient_id=rid,
        station_id="hosp-1",
        display_name=f"Dr {rid}",
        role="specialist",
        specialty="dermatology",
        certificate_pem=certificate_pem,
        rpps=rpps,
    )


def _listed(data: Path) -> dict[str, str | None]:
    return {e["id"]: e["rpps"] for e in accounts.directory(open_database(data))}


def test_a_recipient_s_rpps_number_is_kept_and_listed(tmp_path: Path) -> None:
    accounts.register_station(tmp_path, "hosp-1")
    _recipient(tmp_path, "pr-dubois", DUMMY_CERT_PEM, DUBOIS)
    _recipient(tmp_path, "pr-roux", pem(named("Pr Sophie Roux")), None)
    # from the card certificate, when the administrator gives none
    _recipient(tmp_path, "dr-card", pem(named(f"8{ROUX}/CPS0001")), None)
    assert _listed(tmp_path) == {"pr-dubois": DUBOIS, "pr-roux": None, "dr-card": ROUX}
    rows = registry.list_recipients(open_database(tmp_path))
    assert {r["id"]: r["rpps"] for r in rows} == _listed(tmp_path)
    _recipient(tmp_path, "pr-dubois", DUMMY_CERT_PEM, None)  # updated: the number goes
    assert _listed(tmp_path)["pr-dubois"] is None


@pytest.mark.parametrize(
    "bad", ["10002345676", "1000234567", "1000234567a", "", "１０００２３４５６７５", "9" * 4000]
)
def test_a_malformed_rpps_number_is_refused_and_nothing_written(tmp_path: Path, bad: str) -> None:
    accounts.register_station(tmp_path, "hosp-1")
    _recipient(tmp_path, "pr-dubois", DUMMY_CERT_PEM, DUBOIS)
    with pytest.raises(ValueError, match="11 digits"):
        _recipient(tmp_path, "pr-dubois", DUMMY_CERT_PEM, bad)
    with pytest.raises(ValueError, match="11 digits"):
        _recipient(tmp_path, "pr-new", DUMMY_CERT_PEM, bad)
    assert _listed(tmp_path) == {"pr-dubois": DUBOIS}


def test_a_number_the_card_certificate_contradicts_is_refused(tmp_path: Path) -> None:
    accounts.register_station(tmp_path, "hosp-1")
    card = pem(named("8" + DUBOIS))
    with pytest.raises(ValueError, match="not the certificate's"):
        _recipient(tmp_path, "pr-dubois", card, ROUX)
    ambiguous = card_certificate(
        (NameOID.COMMON_NAME, "8" + DUBOIS), (NameOID.SERIAL_NUMBER, "8" + ROUX)
    )
    with pytest.raises(ValueError, match="several"):
        _recipient(tmp_path, "pr-dubois", pem(ambiguous), DUBOIS)
    assert _listed(tmp_path) == {}
    _recipient(tmp_path, "pr-dubois", card, DUBOIS)  # the same number: agreed
    assert _listed(tmp_path) == {"pr-dubois": DUBOIS}


def test_the_database_itself_refuses_a_malformed_number(tmp_path: Path) -> None:
    """Another writer of the file (a script, a bug) meets the CHECK constraint."""
    accounts.register_station(tmp_path, "hosp-1")
    _recipient(tmp_path, "pr-dubois", DUMMY_CERT_PEM, DUBOIS)
    with open_database(tmp_path).connect() as conn:
        for junk in ("1000234567", "1000234567x", "<script>xx"):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute("UPDATE recipients SET rpps = ? WHERE id = 'pr-dubois'", (junk,))
    assert _listed(tmp_path) == {"pr-dubois": DUBOIS}


def test_an_older_database_gains_the_column_and_keeps_its_recipients(tmp_path: Path) -> None:
    """A platform of schema 4 (before the RPPS) migrated by the first open of this version."""
    path = tmp_path / "platform.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for target, step in enumerate(db_module._MIGRATIONS[:4], start=1):
            if callable(step):
                step(conn)
            else:
                for statement in step.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
        conn.execute(
            "INSERT INTO stations (id, token_sha256, created_at, updated_at)"
            " VALUES ('hosp-1', 'ab', 1, 1)"
        )
        conn.execute(
            "INSERT INTO recipients (id, station_id, display_name, role, specialty,"
            " certificate_pem, certificate_sha256, updated_at)"
            " VALUES ('pr-old', 'hosp-1', 'Pr Old', 'specialist', NULL, ?, NULL, 1)",
            (DUMMY_CERT_PEM,),
        )
        assert "rpps" not in {row[1] for row in conn.execute("PRAGMA table_info(recipients)")}
    finally:
        conn.close()
    db = open_database(tmp_path)
    with db.connect() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    [old] = accounts.directory(db)
    assert (old["id"], old["display_name"], old["rpps"]) == ("pr-old", "Pr Old", None)
    _recipient(tmp_path, "pr-old", DUMMY_CERT_PEM, DUBOIS)
    assert _listed(tmp_path) == {"pr-old": DUBOIS}


# --- the administration command -------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], data: Path, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        status = platform_main([*argv, "--data", str(data)])
    except SystemExit as exc:  # argparse's usage errors
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def _cert_file(path: Path, cert: x509.Certificate) -> Path:
    path.write_text(pem(cert))
    return path


def test_recipient_add_takes_an_rpps_number_and_list_shows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert run(capsys, data, "station", "add", "hosp-1")[0] == 0
    plain = _cert_file(tmp_path / "dubois.pem", named("Pr Marc Dubois"))
    add = ["recipient", "add", "pr-dubois", "--station", "hosp-1", "--role", "specialist"]
    status, out, _err = run(capsys, data, *add, "--cert", str(plain), "--rpps", DUBOIS)
    assert status == 0
    assert f"RPPS {DUBOIS}" in out
    card = _cert_file(tmp_path / "card.pem", named(f"8{ROUX}/CPS0001"))
    add_card = ["recipient", "add", "dr-card", "--station", "hosp-1", "--role", "doctor"]
    assert run(capsys, data, *add_card, "--cert", str(card), "--name", "Dr Card")[0] == 0
    status, out, _err = run(capsys, data, "recipient", "list")
    assert status == 0
    lines = out.splitlines()
    assert "RPPS" in lines[0].split()
    assert any(line.startswith("pr-dubois") and DUBOIS in line for line in lines)
    assert any(line.startswith("dr-card") and ROUX in line for line in lines)


@pytest.mark.parametrize("bad", ["10002345676", "1234", "1000234567O", "10002345675 1"])
def test_recipient_add_refuses_a_malformed_number_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    data = tmp_path / "data"
    run(capsys, data, "station", "add", "hosp-1")
    cert = _cert_file(tmp_path / "c.pem", named("Pr Marc Dubois"))
    add = ["recipient", "add", "pr-dubois", "--station", "hosp-1", "--role", "specialist"]
    status, _out, err = run(capsys, data, *add, "--cert", str(cert), "--rpps", bad)
    assert status == 2
    assert "not an RPPS number" in err
    assert "Luhn" in err
    assert "Traceback" not in err
    assert registry.list_recipients(open_database(data)) == []


def test_recipient_add_refuses_a_number_the_certificate_contradicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    run(capsys, data, "station", "add", "hosp-1")
    card = _cert_file(tmp_path / "card.pem", named(f"8{DUBOIS}/CPS0001"))
    add = ["recipient", "add", "pr-dubois", "--station", "hosp-1", "--role", "specialist"]
    status, _out, err = run(
        capsys, data, *add, "--cert", str(card), "--name", "Pr Dubois", "--rpps", ROUX
    )
    assert status == 1
    assert err.strip() == (
        f"passavant platform recipient: the RPPS number given ({ROUX})"
        f" is not the certificate's ({DUBOIS})"
    )
    assert registry.list_recipients(open_database(data)) == []


# --- the client: what the platform lists, and what it may not change ------------------------------


def test_the_real_platform_lists_the_number_to_the_workstations(tmp_path: Path) -> None:
    with start_platform(tmp_path) as platform:
        token = accounts.register_station(platform.data_dir, "hosp-1")
        _recipient(platform.data_dir, "pr-dubois", DUMMY_CERT_PEM, DUBOIS)
        _recipient(platform.data_dir, "pr-roux", DUMMY_CERT_PEM, None)
        config = PlatformConfig(platform.url, token, trust_env=False, read_timeout=10)
        with PlatformClient(config) as client:
            listed = {e.id: e.rpps for e in client.directory()}
    assert listed == {"pr-dubois": DUBOIS, "pr-roux": None}


JUNK = [
    "10002345676",  # wrong key
    "1000234567",
    10002345675,  # a number: its leading zeros would be gone
    1e10,
    True,
    ["10002345675"],
    {"rpps": "10002345675"},
    "10002345675\n",
    "<b>10002345675</b>",
    "9" * 100_000,
]


def test_a_hostile_platform_s_junk_numbers_are_dropped_not_shown(
    server: Server, client: PlatformClient, caplog: pytest.LogCaptureFixture
) -> None:
    entries: list[dict[str, object]] = []
    for n, junk in enumerate(JUNK):
        entries.append({**directory_entry(n), "rpps": junk})
    entries.append({**directory_entry(len(JUNK)), "rpps": DUBOIS})
    entries.append({**directory_entry(len(JUNK) + 1), "rpps": None})
    entries.append(directory_entry(len(JUNK) + 2))  # an older platform: no such field
    body = json.dumps({"recipients": entries}).encode()
    server.routes[DIRECTORY] = lambda h: h.fixed(body)
    with caplog.at_level(logging.WARNING, logger="outbox.directory"):
        listed = client.directory()
    assert [e.rpps for e in listed] == [None] * len(JUNK) + [DUBOIS, None, None]
    warned = [r.getMessage() for r in caplog.records if "RPPS" in r.getMessage()]
    assert len(warned) == len(JUNK)
    assert not any("9999999999" in w or "10002345676" in w for w in warned)  # not the value


def test_the_signed_number_wins_over_the_directory_s(caplog: pytest.LogCaptureFixture) -> None:
    rid = f"pr-{uuid.uuid4().hex[:8]}"  # a recipient no other test logged of
    listed = DirectoryEntry(rid, "Pr Dubois", "specialist", None, "hosp-1", "", "", ROUX)
    with caplog.at_level(logging.WARNING, logger="outbox.directory"):
        assert rpps_discrepancy(DUBOIS, listed) == ROUX  # shown beside the signed one
        assert rpps_discrepancy(DUBOIS, listed) == ROUX  # a view refreshed: logged once
    said = [r.getMessage() for r in caplog.records if "another RPPS number" in r.getMessage()]
    assert said == [f"recipient {rid}: the directory lists another RPPS number than the one signed"]
    same = DirectoryEntry(rid, "Pr Dubois", "specialist", None, "hosp-1", "", "", DUBOIS)
    assert rpps_discrepancy(DUBOIS, same) is None
    unlisted = DirectoryEntry(rid, "Pr Dubois", "specialist", None, "hosp-1", "")
    assert rpps_discrepancy(DUBOIS, unlisted) is None
    assert rpps_discrepancy("", listed) is None  # nothing signed: nothing to compare
    assert rpps_discrepancy(DUBOIS, None) is None


def test_an_entry_never_carries_junk_as_an_rpps_number() -> None:
    """The copy of the directory kept in the profile is read back through the same check."""
    for junk in ("10002345676", "x" * 50, 10002345675):
        kept = {
            "id": "r",
            "display_name": "Dr R",
            "role": "specialist",
            "specialty": None,
            "station": "s",
            "certificate_pem": "",
            "certificate_sha256": "",
            "rpps": junk,
        }
        assert DirectoryEntry(**kept).rpps is None  # type: ignore[arg-type]
    assert DirectoryEntry("r", "Dr R", "specialist", None, "s", "", "", DUBOIS).rpps == DUBOIS
