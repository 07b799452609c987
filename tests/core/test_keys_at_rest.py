"""Identity keys at rest: scrypt in a standard PKCS#8 file, old files re-wrapped at their next
unlock, new passphrases checked, a passphrase changed atomically (issue 15, "keys at rest")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import serialization

from cases.profile import IdentityInfo, PassphraseRefused, Profile
from crypto import pki
from crypto.errors import MalformedMessage, WrongPassphrase
from tests.support.pki import World, world
from tests.support.tools import require_tool

PASSPHRASE = b"lanterne quai brume vingt"  # passes the policy
SCRYPT_OID = "1.3.6.1.4.1.11591.4.11"
DOCTOR = IdentityInfo("dr-martin", "Dr Claire Martin", "doctor", "USMP Fresnes")


@pytest.fixture(scope="module")
def w() -> World:
    return world()


def make_profile(root: Path, w: World, *, demo: bool = False) -> Profile:
    return Profile.create(
        root,
        station_id=root.name,
        platform_url="",
        token="t",
        ca_pem=pki.cert_to_pem(w.ca.cert),
        demo=demo,
        token_in_keyring=False,
    )


def pbes2_parameters(path: Path) -> dict[str, object]:
    """What the key file says about its encryption, read with asn1crypto (not with our code)."""
    _label, _headers, der = asn1_pem.unarmor(path.read_bytes())
    algorithm = asn1_keys.EncryptedPrivateKeyInfo.load(der)["encryption_algorithm"]
    assert algorithm["algorithm"].native == "pbes2"
    parameters = algorithm["parameters"]
    kdf = parameters["key_derivation_func"]
    found: dict[str, object] = {
        "kdf": kdf["algorithm"].dotted,
        "cipher": parameters["encryption_scheme"]["algorithm"].native,
    }
    if found["kdf"] == SCRYPT_OID:  # scrypt-params: salt, N, r, p (RFC 7914 section 7)
        salt, n, r, p = (kdf["parameters"].parsed.native[str(i)] for i in range(4))
        found.update(salt=len(salt), n=n, r=r, p=p)
    else:
        found["iterations"] = kdf["parameters"]["iteration_count"].native
    return found


def save_the_old_way(path: Path, key: pki.PrivateKey, passphrase: bytes) -> None:
    """As Passavant wrote key files before: pyca's BestAvailableEncryption (PBKDF2, 2,048)."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    )
    os.chmod(path, 0o600)


def test_key_files_use_scrypt_at_the_full_cost(w: World, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    pki.save_private_key(path, w.doctor.key, PASSPHRASE)
    assert pbes2_parameters(path) == {
        "kdf": SCRYPT_OID,
        "cipher": "aes256_cbc",
        "salt": 16,
        "n": 2**14,
        "r": 8,
        "p": 32,
    }
    assert pki.key_wrapping(path) == pki.KEY_WRAPPING
    loaded = pki.load_private_key(path, PASSPHRASE)
    assert loaded.private_numbers() == w.doctor.key.private_numbers()
    with pytest.raises(WrongPassphrase):
        pki.load_private_key(path, b"lanterne quai brume vingt-deux")


def test_the_cost_is_at_least_the_pkcs12_exports_and_opens_in_openssl() -> None:
    # OpenSSL decrypts PBES2-scrypt with at most 32 MiB: N·r = 2^17 uses 16 MiB
    assert pki.KEY_WRAPPING.memory <= 16 * 1024**2
    assert pki.KEY_WRAPPING.at_least(pki.LIGHT_WRAPPING)
    assert not pki.LIGHT_WRAPPING.at_least(pki.KEY_WRAPPING)


def test_openssl_opens_the_new_key_files(w: World, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    path = tmp_path / "key.pem"
    pki.save_private_key(path, w.doctor.key, PASSPHRASE)
    done = subprocess.run(
        [openssl, "pkey", "-in", str(path), "-passin", "file:/dev/stdin", "-pubout"],
        input=PASSPHRASE + b"\n",
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert serialization.load_pem_public_key(done.stdout) == w.doctor.cert.public_key()


class ScryptParams(asn1_core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012  # asn1crypto's declaration style
        ("salt", asn1_core.OctetString),
        ("cost_parameter", asn1_core.Integer),
        ("block_size", asn1_core.Integer),
        ("parallelization_parameter", asn1_core.Integer),
    ]


def test_an_absurd_scrypt_cost_is_refused_without_computing_it(w: World, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    pki.save_private_key(path, w.doctor.key, PASSPHRASE, wrapping=pki.LIGHT_WRAPPING)
    _label, _headers, der = asn1_pem.unarmor(path.read_bytes())
    info = asn1_keys.EncryptedPrivateKeyInfo.load(der)
    kdf = info["encryption_algorithm"]["parameters"]["key_derivation_func"]
    salt = kdf["parameters"].parse(ScryptParams)["salt"].native
    kdf["parameters"] = ScryptParams(  # hours of work, if anyone computed it
        {"salt": salt, "cost_parameter": 2**14, "block_size": 8, "parallelization_parameter": 2**20}
    )
    path.write_bytes(asn1_pem.armor("ENCRYPTED PRIVATE KEY", info.dump(force=True)))
    with pytest.raises(MalformedMessage, match="scrypt cost"):
        pki.load_private_key(path, PASSPHRASE)
    with pytest.raises(MalformedMessage):
        pki.key_wrapping(path)


def test_an_old_key_is_rewrapped_at_its_next_unlock(w: World, tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "unit", w)
    profile.add_identity(DOCTOR, w.doctor.cert, w.doctor.key, PASSPHRASE)
    key_file = profile.identity_folder(DOCTOR.id) / "key.pem"
    save_the_old_way(key_file, w.doctor.key, PASSPHRASE)
    assert pbes2_parameters(key_file)["iterations"] == 2048
    assert pki.key_wrapping(key_file) is None

    with pytest.raises(WrongPassphrase):  # a wrong passphrase re-wraps nothing
        profile.unlock(DOCTOR.id, b"lanterne quai brume trente")
    assert pbes2_parameters(key_file)["iterations"] == 2048

    me = profile.unlock(DOCTOR.id, PASSPHRASE)
    assert me.key.private_numbers() == w.doctor.key.private_numbers()
    assert pbes2_parameters(key_file) == {
        "kdf": SCRYPT_OID,
        "cipher": "aes256_cbc",
        "salt": 16,
        "n": 2**14,
        "r": 8,
        "p": 32,
    }
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in key_file.parent.iterdir()) == [
        "cert.pem",
        "identity.json",
        "key.pem",
    ]  # no temporary file left
    rewrapped = key_file.read_bytes()
    again = Profile(profile.root).unlock(DOCTOR.id, PASSPHRASE)  # still unlocks (a restart)
    assert again.key.private_numbers() == w.doctor.key.private_numbers()
    assert key_file.read_bytes() == rewrapped  # wrapped once, not at every unlock


def test_a_key_changed_meanwhile_is_not_rewrapped(w: World, tmp_path: Path) -> None:
    """A passphrase changed by another process between reading and re-wrapping stays."""
    profile = make_profile(tmp_path / "unit", w)
    profile.add_identity(DOCTOR, w.doctor.cert, w.doctor.key, PASSPHRASE)
    key_file = profile.identity_folder(DOCTOR.id) / "key.pem"
    save_the_old_way(key_file, w.doctor.key, PASSPHRASE)
    current = key_file.read_bytes()
    profile._rewrap(DOCTOR.id, b"what was read before", w.doctor.key, PASSPHRASE)
    assert key_file.read_bytes() == current


def test_the_demo_passphrase_only_in_a_demo_profile(w: World, tmp_path: Path) -> None:
    plain = make_profile(tmp_path / "real", w)
    with pytest.raises(PassphraseRefused) as refused:
        plain.add_identity(DOCTOR, w.doctor.cert, w.doctor.key, b"demo")
    assert "passphrase_demo_only" in refused.value.problems
    assert refused.value.code == "passphrase_too_short"
    assert not plain.identity_folder(DOCTOR.id).exists()  # nothing written

    demo = make_profile(tmp_path / "demo", w, demo=True)
    demo.add_identity(DOCTOR, w.doctor.cert, w.doctor.key, b"demo")
    key_file = demo.identity_folder(DOCTOR.id) / "key.pem"
    # public, so light: the demo and its tests unlock often
    assert pki.key_wrapping(key_file) == pki.LIGHT_WRAPPING
    save_the_old_way(key_file, w.doctor.key, b"demo")
    demo.unlock(DOCTOR.id, b"demo")
    assert pki.key_wrapping(key_file) == pki.LIGHT_WRAPPING  # re-wrapped, lightly

    other = IdentityInfo("dr-roux", "Dr Paul Roux", "doctor", "USMP")
    demo.add_identity(other, w.specialist.cert, w.specialist.key, PASSPHRASE)
    assert pki.key_wrapping(demo.identity_folder(other.id) / "key.pem") == pki.KEY_WRAPPING


def test_weak_passphrases_are_refused_for_new_identities(w: World, tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "unit", w)
    for weak, code in (
        (b"", "passphrase_too_short"),
        (b"password1234", "passphrase_too_weak"),
        (b"Claire Martin 1975", "passphrase_is_a_name"),
        (b"dr-martin-dr-martin", "passphrase_is_a_name"),
    ):
        with pytest.raises(PassphraseRefused) as refused:
            profile.add_identity(DOCTOR, w.doctor.cert, w.doctor.key, weak)
        assert code in refused.value.problems, weak
    assert profile.identities() == []


def test_changing_the_passphrase(w: World, tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "unit", w)
    profile.add_identity(DOCTOR, w.doctor.cert, w.doctor.key, PASSPHRASE)
    key_file = profile.identity_folder(DOCTOR.id) / "key.pem"
    before = key_file.read_bytes()
    with pytest.raises(PassphraseRefused):  # checked before anything else
        profile.change_passphrase(DOCTOR.id, b"not even tried", b"short")
    with pytest.raises(WrongPassphrase):
        profile.change_passphrase(DOCTOR.id, b"wrong one entirely", b"orage velours piano sept")
    assert key_file.read_bytes() == before
    assert profile.unlock_failures.failures(DOCTOR.id) == 1  # the wrong one was counted

    new = b"orage velours piano sept"
    profile.change_passphrase(DOCTOR.id, PASSPHRASE, new)
    with pytest.raises(WrongPassphrase):
        profile.unlock(DOCTOR.id, PASSPHRASE)
    assert profile.unlock(DOCTOR.id, new).key.private_numbers() == w.doctor.key.private_numbers()
    assert pki.key_wrapping(key_file) == pki.KEY_WRAPPING
    assert key_file.stat().st_mode & 0o777 == 0o600
