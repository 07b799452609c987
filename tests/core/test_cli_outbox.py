"""``passavant outbox|inbox|faultproxy`` against the real reference platform on 127.0.0.1.

The unit's profile and the hospital's are real profile directories (``cases.profile``); the
bundles are real CMS EnvelopedData made with ``cryptography``'s PKCS#7 builder for an RSA
certificate that the platform's directory lists for the recipient.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import keyring
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from app import messages
from app.cli import main
from cases.profile import IdentityInfo, Profile
from refplatform.accounts import register_recipient, register_station
from tests.support.platform import REPO_ROOT, RunningPlatform, start_platform

_IDS = itertools.count()


@dataclass(frozen=True)
class Recipient:
    """An RSA certificate able to receive bundles, and its SHA-256 fingerprint."""

    certificate: x509.Certificate
    pem: str
    fingerprint: str


def make_recipient(name: str) -> Recipient:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(usage, critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return Recipient(cert, pem, cert.fingerprint(hashes.SHA256()).hex())


def seal(recipient: Recipient, size: int) -> bytes:
    """A real CMS EnvelopedData of ``size`` random bytes for ``recipient``."""
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(os.urandom(size))
    return builder.add_recipient(recipient.certificate).encrypt(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]
    )


@dataclass
class Setup:
    """A unit profile that sends, a hospital profile whose ``derm`` mailbox receives."""

    platform: RunningPlatform
    unit: Path
    hospital: Path
    recipient: Recipient
    recipient_id: str
    token: str

    def cli(self, *args: str, profile: Path | None = None) -> int:
        return main(["--profile", str(profile or self.unit), *args])

    def status(self, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
        capsys.readouterr()
        assert self.cli("outbox", "status", "--json") == 0
        result: dict[str, object] = json.loads(capsys.readouterr().out)
        return result

    def jobs(self, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
        found = self.status(capsys)["jobs"]
        assert isinstance(found, list)
        return {job["bundle_id"]: job for job in found}

    def bundle(self, tmp_path: Path, name: str, size: int = 50_000) -> tuple[Path, bytes]:
        data = seal(self.recipient, size)
        path = tmp_path / name
        path.write_bytes(data)
        return path, data


def make_setup(platform: RunningPlatform, tmp_path: Path, recipient: Recipient) -> Setup:
    n = next(_IDS)
    unit_station, hospital_station, mailbox = f"cli-unit-{n}", f"cli-hosp-{n}", f"derm-{n}"
    token = register_station(platform.data_dir, unit_station)
    hospital_token = register_station(platform.data_dir, hospital_station)
    register_recipient(
        platform.data_dir,
        recipient_id=mailbox,
        station_id=hospital_station,
        display_name=f"Pr Derm {n}",
        role="specialist",
        specialty="dermatology",
        certificate_pem=recipient.pem,
    )
    assert platform.tls is not None
    ca = platform.tls.ca_file.read_bytes()
    unit = tmp_path / "unit"
    Profile.create(
        unit,
        station_id=unit_station,
        platform_url=platform.url,
        token=token,
        ca_pem=ca,
        token_in_keyring=False,  # subprocesses of these tests cannot see the test keyring
    )
    hospital = tmp_path / "hospital"
    Profile.create(
        hospital,
        station_id=hospital_station,
        platform_url=platform.url,
        token=hospital_token,
        ca_pem=ca,
        token_in_keyring=False,
    )
    info = IdentityInfo(mailbox, f"Pr Derm {n}", "specialist", "CHU", "dermatology")
    folder = hospital / "identities" / mailbox
    folder.mkdir(parents=True)
    (folder / "identity.json").write_text(json.dumps(asdict(info)), "utf-8")
    return Setup(platform, unit, hospital, recipient, mailbox, token)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path_factory.mktemp("cli-platform"), tls=True) as running:
        yield running


@pytest.fixture
def setup(platform: RunningPlatform, tmp_path: Path) -> Setup:
    """A fresh pair of stations, and a recipient with its own certificate."""
    return make_setup(platform, tmp_path, make_recipient("Pr Derm"))


def one_line(text: str) -> str:
    assert text.count("\n") == 1, text
    assert "Traceback" not in text
    assert text.startswith("passavant: ")
    return text.removeprefix("passavant: ").strip()


def test_enqueue_run_status_and_fetch(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = setup.bundle(tmp_path, "case.p7m", 300_000)
    colons = ":".join(setup.recipient.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    assert setup.cli("outbox", "enqueue", str(path), "--to", colons, "--bundle-id", "b-1") == 0
    assert capsys.readouterr().out.startswith("Mis en file : b-1 pour Pr Derm")
    job = setup.jobs(capsys)["b-1"]
    assert job["state"] == "pending"
    assert job["recipient_id"] == setup.recipient_id
    assert job["size"] == len(data)
    assert "upload_url" not in job
    assert setup.cli("outbox", "status") == 0
    table = capsys.readouterr().out
    assert "Destinataire" in table
    assert "En attente" in table
    assert setup.cli("outbox", "run", "--until-idle", "--timeout", "60") == 0
    assert capsys.readouterr().out.startswith("1 remis, 0 en attente, 0 bloqués.")
    job = setup.jobs(capsys)["b-1"]
    assert job["state"] == "delivered"
    assert job["bytes_sent"] == len(data)
    assert setup.status(capsys)["counts"] == {"delivered": 1}

    assert setup.cli("inbox", "fetch", profile=setup.hospital) == 0
    out = capsys.readouterr().out
    assert f"Reçu : b-1 pour {setup.recipient_id}" in out
    assert out.rstrip().endswith("1 document(s) reçu(s).")
    assert (setup.hospital / "inbox" / "b-1.cms").read_bytes() == data
    assert setup.cli("inbox", "fetch", "--as", setup.recipient_id, profile=setup.hospital) == 0
    assert "0 document(s) reçu(s)." in capsys.readouterr().out, "acknowledged: gone"


def test_enqueue_offline_from_the_cached_directory_and_idempotent(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = {
        "id": setup.recipient_id,
        "display_name": "Pr Derm (cache)",
        "role": "specialist",
        "specialty": "dermatology",
        "station": "x",
        "certificate_pem": setup.recipient.pem,
    }
    (setup.unit / "directory.json").write_text(json.dumps([entry]), "utf-8")
    path, _data = setup.bundle(tmp_path, "offline.p7m")
    dead = ["--platform", "https://127.0.0.1:9"]
    fingerprint = setup.recipient.fingerprint
    assert setup.cli("outbox", "enqueue", str(path), "--to", fingerprint, *dead) == 0
    first = capsys.readouterr().out
    assert "Pr Derm (cache)" in first
    assert setup.cli("outbox", "enqueue", str(path), "--to", fingerprint, *dead) == 0
    assert capsys.readouterr().out.startswith("Déjà en file : ")
    jobs = setup.jobs(capsys)
    assert len(jobs) == 1, "the default bundle id comes from the content: no duplicate"


def test_enqueue_refusals_are_one_plain_line(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("not a sealed bundle", "utf-8")
    fingerprint = setup.recipient.fingerprint
    assert setup.cli("outbox", "enqueue", str(plain), "--to", fingerprint) == 1
    assert "n’est pas un document scellé" in one_line(capsys.readouterr().err)
    path, _data = setup.bundle(tmp_path, "case.p7m")
    assert setup.cli("outbox", "enqueue", str(path), "--to", "ab" * 32) == 1
    assert "aucun destinataire" in one_line(capsys.readouterr().err)
    assert setup.cli("outbox", "enqueue", str(path), "--to", "Nobody Known") == 1
    assert "Nobody Known" in one_line(capsys.readouterr().err)
    bad_id = ["--bundle-id", "../escape"]
    assert setup.cli("outbox", "enqueue", str(path), "--to", fingerprint, *bad_id) == 1
    assert "identifiant d’envoi invalide" in one_line(capsys.readouterr().err)
    missing = str(tmp_path / "missing.p7m")
    assert setup.cli("outbox", "enqueue", missing, "--to", fingerprint) == 1
    assert "fichier illisible" in one_line(capsys.readouterr().err)
    assert setup.status(capsys)["jobs"] == []


def test_enqueue_to_an_address_book_name(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cases import trust

    trust.AddressBook(setup.unit / "addressbook.json").add(
        setup.recipient.certificate, name="Pr Marc Dubois", role="specialist"
    )
    path, _data = setup.bundle(tmp_path, "case.p7m")
    assert setup.cli("outbox", "enqueue", str(path), "--to", "pr marc dubois") == 0
    capsys.readouterr()
    (job,) = setup.jobs(capsys).values()
    assert job["recipient_id"] == setup.recipient_id


def test_priority(setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from outbox.queue import Outbox

    path, _data = setup.bundle(tmp_path, "urgent.p7m")
    to = ["--to", setup.recipient.fingerprint, "--bundle-id", "b-urgent"]
    status = setup.cli("outbox", "enqueue", str(path), *to, "--priority", "urgent")
    supported = "priority" in Outbox.enqueue.__code__.co_varnames
    if supported:
        assert status == 0
        assert setup.jobs(capsys)["b-urgent"]["priority"] == "urgent"
    else:
        assert status == 1
        assert "priorités" in one_line(capsys.readouterr().err)


def test_pause_resume_retry_cancel(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("b-a", "b-b"):
        path, _data = setup.bundle(tmp_path, f"{name}.p7m")
        to = ["--to", setup.recipient.fingerprint, "--bundle-id", name]
        assert setup.cli("outbox", "enqueue", str(path), *to) == 0
    capsys.readouterr()
    assert setup.cli("outbox", "pause", "b-a") == 0
    assert capsys.readouterr().out == "b-a : En pause\n"
    assert setup.jobs(capsys)["b-a"]["state"] == "paused"
    assert setup.cli("outbox", "resume", "b-a") == 0
    assert capsys.readouterr().out == "b-a : En attente\n"
    assert setup.cli("outbox", "pause", "--all") == 0
    assert capsys.readouterr().out == "Toute la file est en pause, même après un redémarrage.\n"
    status = setup.status(capsys)
    assert status["paused_all"] is True
    assert status["counts"] == {"pending": 2}, "the jobs keep their own states"
    assert setup.cli("outbox", "status") == 0
    assert capsys.readouterr().out.startswith("Toute la file est en pause")
    assert setup.cli("outbox", "run", "--until-idle", "--timeout", "30") == 0
    assert capsys.readouterr().out.startswith("0 remis, 2 en attente"), "nothing moved"
    assert setup.cli("outbox", "resume", "--all") == 0
    assert capsys.readouterr().out == "La file d’envoi reprend.\n"
    assert setup.status(capsys)["paused_all"] is False
    assert setup.cli("outbox", "cancel", "b-b", "--reason", "doublon") == 0
    assert capsys.readouterr().out == "b-b : Annulé\n"
    assert not (setup.unit / "outbox" / "b-b.cms").exists(), "the spool file goes"
    assert setup.cli("outbox", "cancel", "b-b") == 1
    assert "action impossible" in one_line(capsys.readouterr().err)
    assert setup.cli("outbox", "retry", "b-zzz") == 1
    assert one_line(capsys.readouterr().err) == "aucun envoi b-zzz dans la file."
    assert setup.cli("outbox", "run", "--until-idle", "--timeout", "60") == 0
    capsys.readouterr()
    assert setup.cli("outbox", "retry", "b-a") == 1, "delivered: nothing to retry"
    assert "« Remis »" in one_line(capsys.readouterr().err)
    states = {k: j["state"] for k, j in setup.jobs(capsys).items()}
    assert states == {"b-a": "delivered", "b-b": "cancelled"}
    with pytest.raises(SystemExit) as usage:
        setup.cli("outbox", "pause")
    assert usage.value.code == 2


def test_token_sources(setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The keyring's token wins over the profile's file; --token-file wins over both."""
    (setup.unit / "station.token").write_text("wrong-token-wrong-token", "ascii")
    station = Profile(setup.unit).station_id
    keyring.set_password("passavant", f"{station}/station-token", setup.token)
    try:
        path, _data = setup.bundle(tmp_path, "k.p7m")
        to = ["--to", setup.recipient.fingerprint, "--bundle-id", "b-key"]
        assert setup.cli("outbox", "enqueue", str(path), *to) == 0
        assert setup.cli("outbox", "run", "--until-idle", "--timeout", "60") == 0
        assert setup.jobs(capsys)["b-key"]["state"] == "delivered"
        bad = tmp_path / "bad.token"
        bad.write_text("another-wrong-token-123", "ascii")
        path, _data = setup.bundle(tmp_path, "t.p7m")
        to = ["--to", setup.recipient.fingerprint, "--bundle-id", "b-tok"]
        assert setup.cli("outbox", "enqueue", str(path), *to) == 0
        capsys.readouterr()
        run = ["outbox", "run", "--until-idle", "--timeout", "60", "--token-file", str(bad)]
        assert setup.cli(*run) == 0
        assert "0 en attente, 1 bloqués" in capsys.readouterr().out
        job = setup.jobs(capsys)["b-tok"]
        assert job["state"] == "failed"
        assert job["last_error_code"] == "auth_failed"
        assert setup.cli("outbox", "status") == 0
        assert messages.reason("auth_failed") in capsys.readouterr().out
    finally:
        keyring.delete_password("passavant", f"{station}/station-token")


def test_run_times_out_while_the_platform_is_down(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _data = setup.bundle(tmp_path, "down.p7m")
    to = ["--to", setup.recipient.fingerprint, "--bundle-id", "b-down"]
    assert setup.cli("outbox", "enqueue", str(path), *to) == 0
    capsys.readouterr()
    down = ["--platform", "https://127.0.0.1:9", "--until-idle", "--timeout", "2"]
    assert setup.cli("outbox", "run", *down) == 1
    captured = capsys.readouterr()
    assert one_line(captured.err) == "délai dépassé : 1 envoi(s) restent en attente."
    job = setup.jobs(capsys)["b-down"]
    assert job["state"] == "retry"
    assert job["last_error_code"] == "network_unreachable"


def test_fetch_needs_a_mailbox(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    assert setup.cli("inbox", "fetch") == 1, "the unit profile has no identity"
    assert "--as" in one_line(capsys.readouterr().err)
    assert setup.cli("inbox", "fetch", "--as", setup.recipient_id) == 1, "not its mailbox"
    assert one_line(capsys.readouterr().err) == messages.reason("auth_failed")


def _subprocess(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env=env,
        check=False,
    )


def test_as_a_real_subprocess(setup: Setup, tmp_path: Path) -> None:
    missing = _subprocess("--profile", str(tmp_path / "nowhere"), "outbox", "status")
    assert missing.returncode == 1
    assert one_line(missing.stderr) == f"profil introuvable : {tmp_path / 'nowhere'}"
    path, data = setup.bundle(tmp_path, "sub.p7m", 100_000)
    profile = ["--profile", str(setup.unit)]
    to = ["--to", setup.recipient.fingerprint, "--bundle-id", "b-sub"]
    enqueued = _subprocess(*profile, "outbox", "enqueue", str(path), *to)
    assert enqueued.returncode == 0, enqueued.stderr
    ran = _subprocess(*profile, "outbox", "run", "--until-idle", "--timeout", "60")
    assert ran.returncode == 0, ran.stderr
    status = _subprocess(*profile, "outbox", "status", "--json")
    (job,) = json.loads(status.stdout)["jobs"]
    assert job["state"] == "delivered"
    assert job["size"] == len(data)


def test_faultproxy_command(setup: Setup, tmp_path: Path) -> None:
    ready = tmp_path / "proxy.ready"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "app", "faultproxy", "--listen", "127.0.0.1:0"]
    command += ["--target", f"127.0.0.1:{setup.platform.port}", "--latency", "20"]
    command += ["--bandwidth", "8mbit", "--duration", "60", "--ready-file", str(ready)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT
    ) as proxy:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline and proxy.poll() is None:
            time.sleep(0.05)
        assert ready.exists(), proxy.stderr.read() if proxy.stderr else ""
        address = ready.read_text().strip()
        answer = requests.get(
            f"https://{address}/api/v1/health", verify=setup.platform.verify, timeout=10
        )
        assert answer.status_code == 200
        proxy.send_signal(signal.SIGTERM)
        out, err = proxy.communicate(timeout=20)
    assert proxy.returncode == 0, err
    assert out.startswith(f"Proxy de pannes : {address} → 127.0.0.1:{setup.platform.port}")
    assert "Relayé : " in out
    assert "0 coupure(s)" in out
    bad = _subprocess("faultproxy", "--target", "127.0.0.1:1", "--bandwidth", "fast")
    assert bad.returncode == 2
    assert "not a bandwidth" in bad.stderr
