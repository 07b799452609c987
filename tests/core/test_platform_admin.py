"""The platform's administration commands, through the real command line, on the embedded
back-end: stations, recipients, routes, quotas, status; plain one-line errors, non-zero exits."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from refplatform import accounts
from refplatform.cli import main as platform_main
from tests.support.platform import Station, start_platform

REPO = Path(__file__).resolve().parents[2]


def certificate(path: Path, common_name: str, *, der: bool = False) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    encoding = serialization.Encoding.DER if der else serialization.Encoding.PEM
    path.write_bytes(cert.public_bytes(encoding))
    return path


class Cli:
    """``python -m refplatform ... --data DIR`` run in this process (its main function)."""

    def __init__(self, data: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data = data
        self.capsys = capsys

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            status = platform_main([*argv, "--data", str(self.data)])
        except SystemExit as exc:  # argparse's usage errors
            status = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return status, out, err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "data", capsys)


def test_passavant_platform_station_add_prints_a_working_token(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "platform",
            "station",
            "add",
            "unit-fresnes",
            "--data",
            str(data),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert len(token) >= 32
    assert "\n" not in token
    assert accounts.station_for_token(accounts.open_database(data), token) == "unit-fresnes"
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "platform",
            "station",
            "revoke",
            "nobody",
            "--data",
            str(data),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == (
        "passavant platform station: no workstation named 'nobody'"
    )


def test_stations_are_listed_and_revoked(cli: Cli) -> None:
    assert cli("station", "add", "unit-fresnes")[0] == 0
    assert cli("station", "add", "hopital-st-louis")[0] == 0
    status, out, _ = cli("station", "revoke", "unit-fresnes")
    assert status == 0
    status, out, _ = cli("station", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["WORKSTATION", "TOKEN", "ISSUED", "RECIPIENTS"]
    assert lines[1].startswith("hopital-st-louis")
    assert "active" in lines[1]
    assert lines[2].startswith("unit-fresnes")
    assert "revoked" in lines[2]
    status, _, err = cli("station", "add", "../etc")
    assert status == 1
    assert err.strip() == "passavant platform station: invalid station identifier '../etc'"


def test_recipients_are_added_from_a_certificate_listed_and_removed(
    cli: Cli, tmp_path: Path
) -> None:
    cli("station", "add", "hopital-st-louis")
    pem = certificate(tmp_path / "dubois.pem", "Pr Marc Dubois")
    der = certificate(tmp_path / "roux.der", "Pr Sophie Roux", der=True)
    add = ("recipient", "add")
    status, out, err = cli(
        *add,
        "pr-dubois",
        "--station",
        "hopital-st-louis",
        "--cert",
        str(pem),
        "--role",
        "specialist",
        "--specialty",
        "dermatology",
    )
    assert status == 0, err
    assert "Pr Marc Dubois" in out
    status, _, err = cli(
        *add,
        "pr-roux",
        "--station",
        "hopital-st-louis",
        "--cert",
        str(der),
        "--role",
        "specialist",
        "--name",
        "Pr S. Roux",
    )
    assert status == 0, err
    directory = accounts.directory(accounts.open_database(cli.data))
    assert [(r["id"], r["display_name"]) for r in directory] == [
        ("pr-dubois", "Pr Marc Dubois"),
        ("pr-roux", "Pr S. Roux"),
    ]
    assert all(r["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----") for r in directory)
    status, out, _ = cli("recipient", "list", "--station", "hopital-st-louis")
    assert [line.split()[0] for line in out.splitlines()] == ["RECIPIENT", "pr-dubois", "pr-roux"]

    # Plain one-line errors.
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    status, _, err = cli(
        *add, "x", "--station", "hopital-st-louis", "--cert", str(junk), "--role", "doctor"
    )
    assert (status, err.count("\n")) == (1, 1)
    assert "not a certificate" in err
    status, _, err = cli(*add, "x", "--station", "nowhere", "--cert", str(pem), "--role", "doctor")
    assert status == 1
    assert "station 'nowhere' is not registered" in err
    status, _, err = cli(
        *add, "x", "--station", "hopital-st-louis", "--cert", str(pem), "--role", "secretary"
    )
    assert status == 2, "a secretary is never a recipient"

    status, out, _ = cli("recipient", "remove", "pr-roux")
    assert status == 0
    status, _, err = cli("recipient", "remove", "pr-roux")
    assert status == 1
    assert err.strip().endswith("no recipient named 'pr-roux'")


def test_a_recipient_with_waiting_bundles_is_removed_only_when_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with start_platform(tmp_path) as platform, Station(platform, "unit") as unit:
        with Station(platform, "hospital") as hospital:
            hospital.add_recipient("pr-dubois", "dermatology")
        bundle_id = str(uuid.uuid4())
        assert unit.send("pr-dubois", os.urandom(5000), bundle_id).status_code == 204
        cli = Cli(platform.data_dir, capsys)
        status, out, _ = cli("status")
        assert status == 0
        assert "pr-dubois" in out
        assert "hospital" in out
        mailbox_line = next(line for line in out.splitlines() if line.startswith("pr-dubois"))
        assert mailbox_line.split()[2:] == ["1", "5000"]
        status, _, err = cli("recipient", "remove", "pr-dubois")
        assert status == 1
        assert "1 bundle(s) still wait" in err
        assert "--force" in err
        status, _, _ = cli("recipient", "remove", "pr-dubois", "--force")
        assert status == 0
        assert not (platform.data_dir / "mailboxes" / "pr-dubois" / f"{bundle_id}.bin").exists()
        # The delivery record stays: the bundle id is still known as delivered.
        assert unit.call("GET", f"/api/v1/deliveries/{bundle_id}").status_code == 200


def test_routes_are_added_listed_and_removed(cli: Cli, tmp_path: Path) -> None:
    status, out, _ = cli("route", "list")
    assert "no route: every workstation may write to every recipient" in out
    for name in ("unit-fresnes", "hopital-st-louis"):
        cli("station", "add", name)
    status, out, _ = cli(
        "route", "add", "--from", "unit-fresnes", "--to-station", "hopital-st-louis"
    )
    assert status == 0
    assert "routes are now enforced" in out
    status, out, _ = cli("route", "list")
    assert out.splitlines()[1].split() == ["unit-fresnes", "station", "hopital-st-louis"]
    status, _, err = cli("route", "add", "--from", "unit-fresnes", "--to-recipient", "nobody")
    assert status == 1
    assert err.strip().endswith("no recipient named 'nobody'")
    status, _, err = cli("route", "add", "--from", "ghost", "--to-station", "hopital-st-louis")
    assert status == 1
    assert "no station named 'ghost'" in err
    status, _, _ = cli("route", "add", "--from", "unit-fresnes")
    assert status == 2
    status, out, _ = cli(
        "route", "remove", "--from", "unit-fresnes", "--to-station", "hopital-st-louis"
    )
    assert status == 0
    assert "every workstation may write to every recipient again" in out
    status, _, err = cli(
        "route", "remove", "--from", "unit-fresnes", "--to-station", "hopital-st-louis"
    )
    assert status == 1
    assert "no route" in err


def test_quotas_are_set_and_shown(cli: Cli) -> None:
    cli("station", "add", "unit-fresnes")
    status, out, _ = cli("quota", "show")
    assert status == 0
    assert "open uploads" in out
    assert "32" in out
    assert cli("quota", "set", "--default", "--daily-bytes", "1G")[0] == 0
    status, out, err = cli(
        "quota", "set", "--station", "unit-fresnes", "--open-uploads", "4", "--open-bytes", "500M"
    )
    assert status == 0, err
    rows = {line[:26].strip(): line[26:].split() for line in out.splitlines()[2:5]}
    assert rows["open uploads"] == ["4", "4"]
    assert rows["open bytes"] == [str(500 * 1024**2), str(500 * 1024**2)]
    assert rows["daily bytes per recipient"] == ["(default)", str(1024**3)]
    assert "0 unfinished upload(s)" in out
    status, out, _ = cli("quota", "set", "--station", "unit-fresnes", "--open-bytes", "unlimited")
    assert "unlimited" in out
    status, _, err = cli("quota", "set", "--station", "ghost", "--open-uploads", "3")
    assert status == 1
    assert "no station named 'ghost'" in err
    status, _, err = cli("quota", "set", "--station", "unit-fresnes", "--open-bytes", "lots")
    assert status == 2
    assert "not a size" in err
    status, _, err = cli("quota", "set", "--station", "unit-fresnes")
    assert status == 1
    assert "nothing to set" in err


def test_status_reports_health_storage_database_and_uploads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(tmp_path / "nothing-here", capsys)
    status, _, err = cli("status")
    assert status == 1
    assert "no platform data here" in err
    with start_platform(tmp_path) as platform, Station(platform, "unit") as unit:
        unit.add_recipient("dr-bernard")
        url = unit.create("dr-bernard", b"x" * 3000, str(uuid.uuid4()))
        assert unit.patch(url, 0, b"x" * 1000).status_code == 204
        cli = Cli(platform.data_dir, capsys)
        status, out, _ = cli("status", "--url", platform.url)
        assert status == 0
        lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        assert lines["health"] == "ok"
        assert lines["server"].startswith("ok (version ")
        assert lines["database"].startswith("schema ")
        assert "integrity ok" in lines["database"]
        assert "MiB free of" in lines["storage"]
        assert lines["uploads in progress"] == "1, 1000 of 3000 bytes received"
        assert "all empty" in out
