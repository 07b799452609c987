"""``passavant identity|trust|contact|bundle|audit``, checked against openssl both ways."""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from app import secrets
from app.cli import main
from cases.profile import IdentityInfo, Profile
from crypto import audit, pki
from crypto.pkcs12 import export_pkcs12
from tests.support.pki import Identity, World, world
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "s3cret phrase"
REPORT = b"Compte rendu : ulcere de jambe, 3 semaines.\n" * 20
PHOTO = b"\xff\xd8\xff\xe0" + os.urandom(5000)


@pytest.fixture(scope="module")
def w() -> World:
    return world()


@dataclass
class Env:
    """Two profiles (the unit's doctor, the hospital's specialist) and files for openssl."""

    tmp: Path
    unit: Path
    hospital: Path
    passfile: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, profile: Path, *args: str | Path) -> tuple[int, str, str]:
        status = main(["--profile", str(profile), *map(str, args)])
        out, err = self.capsys.readouterr()
        return status, out, err

    def ok(self, profile: Path, *args: str | Path) -> str:
        status, out, err = self.run(profile, *args)
        assert (status, err) == (0, ""), err
        return out

    def fails(self, profile: Path, *args: str | Path) -> str:
        """The command fails with one plain line on stderr, never a traceback."""
        status, _out, err = self.run(profile, *args)
        assert status == 1
        assert err.count("\n") == 1, err
        assert err.startswith("passavant: ")
        assert "Traceback" not in err
        return err

    def openssl(self, *args: str) -> None:
        binary = require_tool("openssl")
        result = subprocess.run(
            [binary, *args], cwd=self.tmp, capture_output=True, check=False, timeout=120
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")


def make_profile(root: Path, w: World, who: Identity, info: IdentityInfo) -> Path:
    profile = Profile.create(
        root, station_id=root.name, platform_url="", token="t", ca_pem=pki.cert_to_pem(w.ca.cert)
    )
    profile.add_identity(info, who.cert, who.key, PASSPHRASE.encode())
    return root


@pytest.fixture(scope="module")
def template(w: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-template")
    doctor = IdentityInfo("dr-martin", "Dr Claire Martin", "doctor", "USMP Fresnes")
    make_profile(root / "unit", w, w.doctor, doctor)
    specialist = IdentityInfo("dr-lefevre", "Dr Paul Lefèvre", "specialist", "Saint-Louis")
    make_profile(root / "hospital", w, w.specialist, specialist)
    for name in ("doctor", "specialist", "other_specialist", "rogue_doctor"):
        getattr(w, name).write(root, name)
    for name in ("ca", "rogue_ca"):
        getattr(w, name).write(root, name)
    (root / "ca.key").rename(root / "ca-dir.key")
    (root / "pass.txt").write_text(PASSPHRASE + "\n")
    (root / "payload").mkdir()
    (root / "payload" / "report.txt").write_bytes(REPORT)
    (root / "payload" / "photos").mkdir()
    (root / "payload" / "photos" / "photo-1.jpg").write_bytes(PHOTO)
    return root


@pytest.fixture
def env(template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Env:
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    return Env(tmp_path, tmp_path / "unit", tmp_path / "hospital", tmp_path / "pass.txt", capsys)


def seal(env: Env, out: str = "b.p7m", *extra: str | Path) -> Path:
    env.ok(env.unit, "bundle", "seal", "--signer", "dr-martin", "--to", env.tmp / "specialist.pem",
           "--passphrase-file", env.passfile, "-o", env.tmp / out, *extra,
           env.tmp / "payload")  # fmt: skip
    return env.tmp / out


def open_as_specialist(env: Env, sealed: Path, *extra: str | Path) -> list[str]:
    return [env.hospital, "bundle", "open", sealed, "--as", "dr-lefevre",
            "--passphrase-file", env.passfile, *map(str, extra)]  # fmt: skip


def journal_events(profile: Path) -> list[str]:
    return [e.event for e in audit.read(profile / "audit.jsonl")]


# --- sealing, checked by openssl ----------------------------------------------------------


def test_openssl_opens_a_bundle_sealed_by_the_cli(env: Env, w: World) -> None:
    out = env.ok(env.unit, "bundle", "seal", "--signer", "Dr Claire Martin",
                 "--to", env.tmp / "specialist.pem", "--passphrase-file", env.passfile,
                 "-o", env.tmp / "b.p7m", env.tmp / "payload")  # fmt: skip
    assert "2 fichier(s)" in out
    assert "2 destinataire(s)" in out  # the specialist, and the doctor's own copy
    env.openssl("cms", "-decrypt", "-inform", "DER", "-in", "b.p7m", "-recip", "specialist.pem",
                "-inkey", "specialist.key", "-out", "signed.der")  # fmt: skip
    env.openssl("cms", "-verify", "-inform", "DER", "-in", "signed.der", "-CAfile", "ca.pem",
                "-binary", "-out", "payload.zip")  # fmt: skip
    with zipfile.ZipFile(env.tmp / "payload.zip") as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read("report.txt") == REPORT
        assert archive.getinfo("photos/photo-1.jpg").compress_type == zipfile.ZIP_STORED
    assert manifest["format"] == 1
    assert manifest["kind"] == "request"
    assert manifest["sender"]["fingerprint"] == pki.fingerprint(w.doctor.cert)
    assert set(manifest["recipients"]) == {
        pki.fingerprint(w.specialist.cert),
        pki.fingerprint(w.doctor.cert),
    }
    assert {(f["name"], f["size"], f["sha256"]) for f in manifest["files"]} == {
        ("report.txt", len(REPORT), hashlib.sha256(REPORT).hexdigest()),
        ("photos/photo-1.jpg", len(PHOTO), hashlib.sha256(PHOTO).hexdigest()),
    }
    assert "clinical" not in manifest
    # The doctor's copy opens with the doctor's key too.
    env.openssl("cms", "-decrypt", "-inform", "DER", "-in", "b.p7m", "-recip", "doctor.pem",
                "-inkey", "doctor.key", "-out", "signed2.der")  # fmt: skip


def test_the_cli_opens_what_it_sealed(env: Env) -> None:
    sealed = seal(env)
    out = env.ok(*open_as_specialist(env, sealed, "-o", env.tmp / "out"))
    assert "Dr Claire Martin" in out
    assert (env.tmp / "out" / "report.txt").read_bytes() == REPORT
    assert (env.tmp / "out" / "photos" / "photo-1.jpg").read_bytes() == PHOTO
    manifest = json.loads((env.tmp / "out" / "manifest.json").read_bytes())
    assert manifest["bundle_id"] in out
    assert (env.tmp / "out" / "report.txt").stat().st_mode & 0o777 == 0o600


def test_a_second_opening_is_a_replay(env: Env) -> None:
    sealed = seal(env)
    env.ok(*open_as_specialist(env, sealed, "-o", env.tmp / "first"))
    err = env.fails(*open_as_specialist(env, sealed, "-o", env.tmp / "second"))
    assert "déjà été ouvert" in err
    assert not (env.tmp / "second").exists()
    out = env.ok(*open_as_specialist(env, sealed, "-o", env.tmp / "third", "--again"))
    assert "Déjà ouvert sur ce poste" in out


def test_verify_checks_everything_and_writes_nothing(env: Env) -> None:
    sealed = seal(env)
    before = sorted(p.name for p in env.tmp.iterdir())
    out = env.ok(env.hospital, "bundle", "verify", sealed, "--as", "dr-lefevre",
                 "--passphrase-file", env.passfile)  # fmt: skip
    assert "vérifiés" in out
    assert sorted(p.name for p in env.tmp.iterdir()) == before
    assert REPORT.decode()[:20] not in out


def test_recipients_from_the_address_book(env: Env, w: World) -> None:
    env.ok(env.unit, "contact", "add", env.tmp / "specialist.pem", "--name", "Dermato Saint-Louis")
    listed = env.ok(env.unit, "contact", "list")
    assert pki.fingerprint(w.specialist.cert) in listed
    seal(env, "c.p7m")  # by file
    env.ok(env.unit, "bundle", "seal", "--signer", "dr-martin", "--to", "Dermato Saint-Louis",
           "--passphrase-file", env.passfile, "-o", env.tmp / "d.p7m",
           env.tmp / "payload" / "report.txt")  # fmt: skip
    env.ok(*open_as_specialist(env, env.tmp / "d.p7m", "-o", env.tmp / "out"))
    assert sorted(p.name for p in (env.tmp / "out").iterdir()) == ["manifest.json", "report.txt"]
    assert "Ni fichier ni contact" in env.fails(
        env.unit, "bundle", "seal", "--signer", "dr-martin", "--to", "Nobody",
        "--passphrase-file", env.passfile, "-o", env.tmp / "e.p7m", env.tmp / "payload",
    )  # fmt: skip


def test_a_secretary_or_untrusted_recipient_is_refused(env: Env, w: World) -> None:
    env.fails(env.unit, "bundle", "seal", "--signer", "dr-martin", "--to",
              env.tmp / "rogue_doctor.pem", "--passphrase-file", env.passfile,
              "-o", env.tmp / "x.p7m", env.tmp / "payload")  # fmt: skip
    assert not (env.tmp / "x.p7m").exists()


def test_a_pkcs12_file_can_sign(env: Env, w: World) -> None:
    p12 = env.tmp / "doctor.p12"
    p12.write_bytes(export_pkcs12(w.doctor.key, w.doctor.cert, [], PASSPHRASE.encode(), "Dr"))
    env.ok(env.hospital, "bundle", "seal", "--signer", p12, "--to", env.tmp / "specialist.pem",
           "--passphrase-file", env.passfile, "-o", env.tmp / "p.p7m",
           env.tmp / "payload")  # fmt: skip
    env.ok(*open_as_specialist(env, env.tmp / "p.p7m", "-o", env.tmp / "out"))


# --- opening what openssl sealed ----------------------------------------------------------


def payload_zip(w: World, files: dict[str, bytes], **changes: Any) -> bytes:
    """A format-1 payload written here from the specification, not with cases.bundle."""
    manifest: dict[str, Any] = {
        "format": 1,
        "bundle_id": "openssl-1",
        "case_id": None,
        "kind": "request",
        "in_reply_to": None,
        "sender": {"name": "Dr Claire Martin", "role": "doctor", "organization": "USMP Fresnes",
                   "fingerprint": pki.fingerprint(w.doctor.cert), "mailbox": ""},
        "recipients": [pki.fingerprint(w.specialist.cert)],
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": [{"name": n, "media_type": "text/plain", "size": len(d),
                   "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()],
    }  # fmt: skip
    manifest.update(changes)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def openssl_seal(env: Env, payload: bytes, signer: str = "doctor", out: str = "o.p7m") -> Path:
    (env.tmp / "payload.zip").write_bytes(payload)
    env.openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", "payload.zip",
                "-signer", f"{signer}.pem", "-inkey", f"{signer}.key",
                "-keyopt", "rsa_padding_mode:pss", "-outform", "DER",
                "-out", "signed.der")  # fmt: skip
    env.openssl("cms", "-encrypt", "-binary", "-aes-256-gcm", "-in", "signed.der",
                "-recip", "specialist.pem", "-keyopt", "rsa_padding_mode:oaep",
                "-keyopt", "rsa_oaep_md:sha256", "-outform", "DER", "-out", out)  # fmt: skip
    return env.tmp / out


def test_the_cli_opens_what_openssl_sealed(env: Env, w: World) -> None:
    sealed = openssl_seal(env, payload_zip(w, {"note.txt": b"avis demande"}))
    out = env.ok(*open_as_specialist(env, sealed, "-o", env.tmp / "out"))
    assert "openssl-1" in out
    assert (env.tmp / "out" / "note.txt").read_bytes() == b"avis demande"
    described = env.ok(env.hospital, "bundle", "inspect", sealed)
    assert "RSA-OAEP (sha256)" in described
    assert "aes256_gcm" in described
    assert "[Dr Paul Lefèvre]" in described  # the profile knows this recipient certificate


def test_a_forwarded_bundle_is_refused(env: Env, w: World) -> None:
    payload = payload_zip(w, {"note.txt": b"x"}, recipients=[pki.fingerprint(w.doctor.cert)])
    err = env.fails(*open_as_specialist(env, openssl_seal(env, payload), "-o", env.tmp / "out"))
    assert "n’a pas été adressé à vous" in err
    assert not (env.tmp / "out").exists()


def test_a_signer_who_is_not_the_sender_is_refused(env: Env, w: World) -> None:
    payload = payload_zip(w, {"note.txt": b"x"})
    err = env.fails(*open_as_specialist(env, openssl_seal(env, payload, signer="other_specialist"),
                                        "-o", env.tmp / "out"))  # fmt: skip
    assert "ne correspond pas à sa signature" in err


def test_a_lying_manifest_is_refused(env: Env, w: World) -> None:
    good = payload_zip(w, {"note.txt": b"x"})
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        manifest = archive.read("manifest.json")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest.json", manifest)
        archive.writestr("note.txt", b"y")  # not the file the manifest hashed
    err = env.fails(*open_as_specialist(env, openssl_seal(env, out.getvalue()), "-o",
                                        env.tmp / "out"))  # fmt: skip
    assert "incomplet ou endommagé" in err


# --- failures: one plain line -------------------------------------------------------------


def test_wrong_passphrase(env: Env) -> None:
    sealed = seal(env)
    (env.tmp / "bad.txt").write_text("nope\n")
    err = env.fails(env.hospital, "bundle", "open", sealed, "--as", "dr-lefevre",
                    "--passphrase-file", env.tmp / "bad.txt", "-o", env.tmp / "out")  # fmt: skip
    assert err == "passavant: Mot de passe incorrect.\n"


def test_wrong_recipient(env: Env, w: World) -> None:
    sealed = seal(env)
    make_profile(env.tmp / "cochin", w, w.other_specialist,
                 IdentityInfo("dr-costa", "Dr Ana Costa", "specialist", "Cochin"))  # fmt: skip
    err = env.fails(env.tmp / "cochin", "bundle", "open", sealed, "--as", "dr-costa",
                    "--passphrase-file", env.passfile, "-o", env.tmp / "out")  # fmt: skip
    assert err == "passavant: Ce document ne vous est pas destiné.\n"


def test_tampered_bundle(env: Env) -> None:
    sealed = seal(env)
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0x01
    sealed.write_bytes(bytes(data))
    err = env.fails(*open_as_specialist(env, sealed, "-o", env.tmp / "out"))
    assert err == "passavant: Le document a été altéré : il ne peut pas être ouvert.\n"
    assert not (env.tmp / "out").exists()


def test_unknown_ca_then_trusted_for_one_call(env: Env, w: World) -> None:
    sealed = openssl_seal(env, payload_zip(
        w, {"n.txt": b"x"}, sender={"name": "Dr Claire Martin", "role": "doctor",
                                    "organization": "USMP Fresnes", "mailbox": "",
                                    "fingerprint": pki.fingerprint(w.rogue_doctor.cert)}),
        signer="rogue_doctor")  # fmt: skip
    err = env.fails(env.hospital, "bundle", "verify", sealed, "--as", "dr-lefevre",
                    "--passphrase-file", env.passfile)  # fmt: skip
    assert err == "passavant: L’expéditeur n’est pas reconnu par ce poste.\n"
    env.ok(env.hospital, "bundle", "verify", sealed, "--as", "dr-lefevre",
           "--passphrase-file", env.passfile, "--trust", env.tmp / "rogue_ca.pem")  # fmt: skip
    assert (env.hospital / "trust").is_dir()
    assert len(list((env.hospital / "trust").iterdir())) == 1  # --trust added nothing for good


def test_failures_through_a_real_process(env: Env) -> None:
    sealed = seal(env)
    (env.tmp / "bad.txt").write_text("nope\n")
    command = [sys.executable, "-m", "app", "--profile", str(env.hospital), "bundle", "open",
               str(sealed), "--as", "dr-lefevre", "--passphrase-file", str(env.tmp / "bad.txt"),
               "-o", str(env.tmp / "out")]  # fmt: skip
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == "passavant: Mot de passe incorrect.\n"
    # Without any passphrase source and no terminal: a plain line, not a hang.
    command = [*command[: command.index("--passphrase-file")], "-o", str(env.tmp / "out")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False, stdin=subprocess.DEVNULL)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "--passphrase-file" in result.stderr
    # And a success, to show the process path works end to end.
    command = [*command[:-2], "--passphrase-file", str(env.passfile), "-o", str(env.tmp / "out")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False, stdin=subprocess.DEVNULL)  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    assert (env.tmp / "out" / "report.txt").read_bytes() == REPORT


def test_a_passphrase_in_the_keyring_never_unlocks(env: Env) -> None:
    """The command line follows the desk's rule: only the passphrase given (a file, or typed
    at a terminal) unlocks; one an earlier version kept in the keyring is not read."""
    sealed = seal(env)
    assert secrets.remember("hospital", "dr-lefevre", PASSPHRASE)
    try:
        err = env.fails(
            env.hospital, "bundle", "open", sealed, "--as", "dr-lefevre", "-o", env.tmp / "x"
        )
    finally:
        secrets.forget("hospital", "dr-lefevre")
    assert "--passphrase-file" in err  # no terminal, and the keyring is not asked
    assert not (env.tmp / "x").exists()


def test_inspect_needs_no_key_and_shows_no_content(env: Env, w: World) -> None:
    sealed = seal(env)
    out = env.ok(env.tmp / "empty-profile", "bundle", "inspect", sealed)
    assert "AuthEnvelopedData" in out
    assert "aes256_gcm" in out
    assert out.count("RSA-OAEP (sha256)") == 2
    serial = f"{w.specialist.cert.serial_number:x}"
    assert serial in out
    assert "report" not in out
    assert "Dr Claire Martin" not in out  # the signer is inside the encryption
    assert not (env.tmp / "empty-profile").exists()  # no profile: nothing written
    err = env.fails(env.unit, "bundle", "inspect", env.tmp / "payload" / "report.txt")
    assert "illisible ou endommagé" in err


# --- identities and trust -----------------------------------------------------------------


def test_identity_new_from_a_ca_dir(env: Env, w: World) -> None:
    ca_dir = env.tmp / "ca-dir"
    ca_dir.mkdir()
    shutil.copy(env.tmp / "ca.pem", ca_dir / "ca.pem")
    shutil.copy(env.tmp / "ca-dir.key", ca_dir / "ca.key")
    fresh = env.tmp / "fresh"
    out = env.ok(fresh, "identity", "new", "Dr Élise Noël", "--role", "doctor",
                 "--ca-dir", ca_dir, "--passphrase-file", env.passfile)  # fmt: skip
    assert "dr-elise-noel" in out
    assert "trousseau" not in out  # nothing is remembered
    env.ok(fresh, "identity", "export", "dr-elise-noel", "-o", env.tmp / "elise.p12",
           "--passphrase-file", env.passfile)  # fmt: skip
    listed = env.ok(fresh, "identity", "list")
    assert listed.startswith("dr-elise-noel\tdoctor\tDr Élise Noël\t")
    cert = pki.load_cert_pem((fresh / "identities" / "dr-elise-noel" / "cert.pem").read_bytes())
    pki.validate_certificate(cert, [w.ca.cert], purpose="encrypt")
    assert "ca" in env.ok(fresh, "trust", "list")  # the issuing CA is now trusted
    assert env.fails(fresh, "identity", "new", "Dr Élise Noël", "--role", "doctor",
                     "--ca-dir", ca_dir, "--passphrase-file", env.passfile)  # fmt: skip
    assert "identifiant refusé" in env.fails(fresh, "identity", "new", "X", "--role", "doctor",
                                             "--id", "../../evil", "--ca-dir", ca_dir,
                                             "--passphrase-file", env.passfile)  # fmt: skip
    assert not (env.tmp / "evil").exists()
    assert "--ca-dir" in env.fails(fresh, "identity", "new", "X", "--role", "doctor",
                                   "--passphrase-file", env.passfile)  # fmt: skip
    assert "ca.key" in env.fails(fresh, "identity", "new", "X", "--role", "doctor",
                                 "--ca-dir", env.tmp / "payload", "--passphrase-file",
                                 env.passfile)  # fmt: skip


def test_identity_new_ec_or_a_plain_refusal(env: Env, w: World) -> None:
    ca_dir = env.tmp / "ca-dir"
    ca_dir.mkdir()
    shutil.copy(env.tmp / "ca.pem", ca_dir / "ca.pem")
    shutil.copy(env.tmp / "ca-dir.key", ca_dir / "ca-key.pem")
    args = ["identity", "new", "Archive USMP", "--role", "unit", "--key", "ec",
            "--ca-dir", ca_dir, "--passphrase-file", env.passfile]  # fmt: skip
    ec_ready = "unit" in pki.ROLES and "kind" in inspect.signature(pki.new_private_key).parameters
    if not ec_ready:
        assert "pas encore" in env.fails(env.tmp / "ec", *args)
        return
    env.ok(env.tmp / "ec", *args)
    cert = pki.load_cert_pem((env.tmp / "ec/identities/archive-usmp/cert.pem").read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    # An EC archive can receive a bundle, and open it.
    env.ok(env.unit, "bundle", "seal", "--signer", "dr-martin", "--to", env.tmp / "specialist.pem",
           "--to", env.tmp / "ec/identities/archive-usmp/cert.pem", "--passphrase-file",
           env.passfile, "-o", env.tmp / "a.p7m", env.tmp / "payload")  # fmt: skip
    env.ok(env.tmp / "ec", "bundle", "open", env.tmp / "a.p7m", "--as", "archive-usmp",
           "--passphrase-file", env.passfile, "-o", env.tmp / "out")  # fmt: skip
    assert (env.tmp / "out" / "report.txt").read_bytes() == REPORT
    described = env.ok(env.tmp / "ec", "bundle", "inspect", env.tmp / "a.p7m")
    assert "ECDH dhSinglePass-stdDH-sha256kdf-scheme + aes256_wrap" in described
    assert "[Archive USMP]" in described


def test_identity_export_opens_in_openssl_and_imports_back(env: Env, w: World) -> None:
    env.ok(env.unit, "identity", "export", "dr-martin", "-o", env.tmp / "me.p12",
           "--passphrase-file", env.passfile)  # fmt: skip
    assert (env.tmp / "me.p12").stat().st_mode & 0o777 == 0o600
    env.openssl("pkcs12", "-in", "me.p12", "-passin", f"pass:{PASSPHRASE}", "-nodes",
                "-out", "me.pem")  # fmt: skip
    certs = x509.load_pem_x509_certificates((env.tmp / "me.pem").read_bytes())
    assert set(certs) == {w.doctor.cert, w.ca.cert}  # the chain travels with it
    env.ok(env.tmp / "elsewhere", "identity", "import", env.tmp / "me.p12",
           "--passphrase-file", env.passfile)  # fmt: skip
    listed = env.ok(env.tmp / "elsewhere", "identity", "list")
    assert pki.fingerprint(w.doctor.cert) in listed
    assert env.fails(env.unit, "identity", "export", "dr-martin", "-o", env.tmp / "me.p12",
                     "--passphrase-file", env.passfile)  # fmt: skip


def test_identity_import_of_an_openssl_p12(env: Env, w: World) -> None:
    env.openssl("pkcs12", "-export", "-in", "specialist.pem", "-inkey", "specialist.key",
                "-passout", f"pass:{PASSPHRASE}", "-out", "s.p12")  # fmt: skip
    out = env.ok(env.tmp / "new", "identity", "import", env.tmp / "s.p12", "--name", "Pr L",
                 "--passphrase-file", env.passfile)  # fmt: skip
    assert "Attention" in out  # its CA is not trusted in this new profile yet
    env.ok(env.tmp / "new", "trust", "add", env.tmp / "ca.pem")
    sealed = seal(env)
    env.ok(env.tmp / "new", "bundle", "open", sealed, "--as", "pr-l", "--passphrase-file",
           env.passfile, "-o", env.tmp / "out")  # fmt: skip
    (env.tmp / "bad.txt").write_text("wrong\n")
    err = env.fails(env.tmp / "new2", "identity", "import", env.tmp / "s.p12",
                    "--passphrase-file", env.tmp / "bad.txt")  # fmt: skip
    assert err == "passavant: Mot de passe incorrect.\n"


def test_trust_add_and_list(env: Env, w: World) -> None:
    err = env.fails(env.hospital, "trust", "add", env.tmp / "rogue_doctor.pem")
    assert "--pinned" in err
    env.ok(env.hospital, "trust", "add", env.tmp / "rogue_doctor.pem", "--pinned")
    env.ok(env.hospital, "trust", "add", env.tmp / "rogue_ca.pem")
    listed = env.ok(env.hospital, "trust", "list").splitlines()
    assert [line.split("\t")[0] for line in listed] == ["ca", "ca", "pinned"]
    assert pki.fingerprint(w.rogue_doctor.cert)[:16] in listed[2]
    err = env.fails(env.hospital, "trust", "add", env.tmp / "payload" / "report.txt")
    assert "illisible ou endommagé" in err  # neither a certificate nor a CRL


# --- the audit journal --------------------------------------------------------------------


def test_every_action_is_journalled_without_content(env: Env) -> None:
    sealed = seal(env)
    env.ok(*open_as_specialist(env, sealed, "-o", env.tmp / "out"))
    env.fails(*open_as_specialist(env, sealed, "-o", env.tmp / "again"))
    env.ok(env.hospital, "bundle", "inspect", sealed)
    assert journal_events(env.unit) == ["identity_unlocked", "bundle_sealed"]
    assert journal_events(env.hospital) == [
        "identity_unlocked", "bundle_opened",
        "identity_unlocked", "command_failed",
        "bundle_inspected",
    ]  # fmt: skip
    failed = audit.read(env.hospital / "audit.jsonl")[3]
    assert failed.details == {"command": "bundle.open", "code": "already_opened"}
    for profile in (env.unit, env.hospital):
        text = (profile / "audit.jsonl").read_text("utf-8")
        assert "report" not in text
        assert "ulcere" not in text
        assert "photo" not in text
    out = env.ok(env.hospital, "audit", "verify")
    assert "5 entrée(s)" in out
    shown = env.ok(env.hospital, "audit", "show", "--last", "2").splitlines()
    assert [line.split()[2] for line in shown] == ["command_failed", "bundle_inspected"]


def test_audit_verify_names_the_altered_line(env: Env) -> None:
    seal(env)
    seal(env, "b2.p7m")
    path = env.unit / "audit.jsonl"
    lines = path.read_text("utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace('"size":', '"size":1')
    path.write_text("".join(lines), "utf-8")
    err = env.fails(env.unit, "audit", "verify")
    assert "ligne 2" in err
    assert "entrée modifiée" in err
