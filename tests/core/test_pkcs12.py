"""crypto.pkcs12: our .p12 files open in OpenSSL, and we open OpenSSL's, RSA and EC."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crypto import pki
from crypto.errors import MalformedMessage, WrongPassphrase
from crypto.pkcs12 import PrivateKey, export_pkcs12, import_pkcs12
from tests.support.pki import World, world
from tests.support.tools import require_tool

PASS = b"correct horse battery"


@pytest.fixture(scope="module")
def w() -> World:
    return world()


@pytest.fixture(scope="module")
def ec_identity() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed P-256 certificate built with pyca alone (independent of crypto.pki)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unité EC")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = require_tool("openssl")
    result = subprocess.run(
        [binary, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"openssl {args[0]} failed: {result.stderr}"
    return result


def write_key(path: Path, key: PrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def same_key(a: PrivateKey, b: PrivateKey) -> bool:
    return a.public_key() == b.public_key()


def test_round_trip_keeps_key_certificate_and_chain(w: World) -> None:
    data = export_pkcs12(w.doctor.key, w.doctor.cert, [w.ca.cert], PASS, "Dr Claire Martin")
    key, cert, chain = import_pkcs12(data, PASS)
    assert same_key(key, w.doctor.key)
    assert cert == w.doctor.cert
    assert chain == [w.ca.cert]


def test_openssl_opens_our_export_with_the_strong_profile(w: World, tmp_path: Path) -> None:
    data = export_pkcs12(w.doctor.key, w.doctor.cert, [w.ca.cert], PASS, "Dr Claire Martin")
    (tmp_path / "x.p12").write_bytes(data)
    result = openssl(
        "pkcs12", "-in", "x.p12", "-passin", f"pass:{PASS.decode()}", "-nodes", "-info",
        cwd=tmp_path,
    )  # fmt: skip
    info = result.stderr
    assert "MAC: sha256" in info
    assert "PBES2, PBKDF2, AES-256-CBC" in info
    assert "PRF hmacWithSHA256" in info
    assert "RC2" not in info
    assert "3DES" not in info
    certs = x509.load_pem_x509_certificates(result.stdout.encode())
    assert set(certs) == {w.doctor.cert, w.ca.cert}
    key = serialization.load_pem_private_key(
        result.stdout[result.stdout.index("-----BEGIN PRIVATE KEY") :].encode(), None
    )
    assert key.public_key() == w.doctor.key.public_key()
    assert "friendlyName: Dr Claire Martin" in result.stdout


def test_openssl_refuses_our_export_with_a_wrong_passphrase(w: World, tmp_path: Path) -> None:
    (tmp_path / "x.p12").write_bytes(export_pkcs12(w.doctor.key, w.doctor.cert, [], PASS, "x"))
    binary = require_tool("openssl")
    result = subprocess.run(
        [binary, "pkcs12", "-in", "x.p12", "-passin", "pass:wrong", "-nodes"],
        cwd=tmp_path, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_we_import_what_openssl_exports(
    w: World, ec_identity: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    tmp_path: Path, kind: str,
) -> None:  # fmt: skip
    key, cert = (w.specialist.key, w.specialist.cert) if kind == "rsa" else ec_identity
    write_key(tmp_path / "key.pem", key)
    (tmp_path / "cert.pem").write_bytes(pki.cert_to_pem(cert))
    (tmp_path / "ca.pem").write_bytes(pki.cert_to_pem(w.ca.cert))
    openssl(
        "pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-certfile", "ca.pem",
        "-name", "imported", "-passout", "pass:s3cret", "-out", "o.p12", cwd=tmp_path,
    )  # fmt: skip
    got_key, got_cert, chain = import_pkcs12((tmp_path / "o.p12").read_bytes(), b"s3cret")
    assert same_key(got_key, key)
    assert got_cert == cert
    assert chain == [w.ca.cert]
    with pytest.raises(WrongPassphrase):
        import_pkcs12((tmp_path / "o.p12").read_bytes(), b"s3cret!")


def test_ec_round_trip_opens_in_openssl(
    ec_identity: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], tmp_path: Path
) -> None:
    key, cert = ec_identity
    data = export_pkcs12(key, cert, [], PASS, "Unité EC")
    got_key, got_cert, chain = import_pkcs12(data, PASS)
    assert isinstance(got_key, ec.EllipticCurvePrivateKey)
    assert same_key(got_key, key)
    assert (got_cert, chain) == (cert, [])
    (tmp_path / "x.p12").write_bytes(data)
    result = openssl(
        "pkcs12", "-in", "x.p12", "-passin", f"pass:{PASS.decode()}", "-nodes", cwd=tmp_path
    )
    assert "BEGIN PRIVATE KEY" in result.stdout


def test_an_empty_passphrase_file_from_openssl_opens(w: World, tmp_path: Path) -> None:
    w.doctor.write(tmp_path, "doctor")
    openssl(
        "pkcs12", "-export", "-in", "doctor.pem", "-inkey", "doctor.key", "-passout", "pass:",
        "-out", "o.p12", cwd=tmp_path,
    )  # fmt: skip
    key, cert, _chain = import_pkcs12((tmp_path / "o.p12").read_bytes(), b"")
    assert cert == w.doctor.cert
    assert same_key(key, w.doctor.key)


def test_wrong_passphrase(w: World) -> None:
    data = export_pkcs12(w.doctor.key, w.doctor.cert, [], PASS, "x")
    with pytest.raises(WrongPassphrase):
        import_pkcs12(data, b"not it")
    with pytest.raises(WrongPassphrase):
        import_pkcs12(data, b"")


@pytest.mark.parametrize("cut", [0, 1, 40, -40])
def test_truncated_or_garbage_is_malformed(w: World, cut: int) -> None:
    data = export_pkcs12(w.doctor.key, w.doctor.cert, [], PASS, "x")
    with pytest.raises(MalformedMessage):
        import_pkcs12(data[:cut], PASS)


def test_a_certificate_is_not_a_pkcs12_file(w: World) -> None:
    with pytest.raises(MalformedMessage):
        import_pkcs12(pki.cert_to_pem(w.doctor.cert), PASS)
    with pytest.raises(MalformedMessage):
        import_pkcs12(w.doctor.cert.public_bytes(serialization.Encoding.DER), PASS)


def test_a_file_without_key_is_refused(w: World, tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(pki.cert_to_pem(w.doctor.cert))
    openssl(
        "pkcs12", "-export", "-nokeys", "-in", "cert.pem", "-passout", "pass:x",
        "-out", "o.p12", cwd=tmp_path,
    )  # fmt: skip
    with pytest.raises(MalformedMessage):
        import_pkcs12((tmp_path / "o.p12").read_bytes(), b"x")


def test_export_checks_its_inputs(w: World) -> None:
    with pytest.raises(ValueError, match="passphrase"):
        export_pkcs12(w.doctor.key, w.doctor.cert, [], b"", "x")
    with pytest.raises(ValueError, match="does not belong"):
        export_pkcs12(w.specialist.key, w.doctor.cert, [], PASS, "x")
