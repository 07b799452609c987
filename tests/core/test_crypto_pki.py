"""crypto.pki: certificates, key files, validation, and a real TLS handshake."""

from __future__ import annotations

import hashlib
import http.server
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import pki
from crypto.errors import InvalidRecipient, MalformedMessage, UntrustedSigner, WrongPassphrase
from tests.support.pki import World, world
from tests.support.tools import require_tool

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(scope="module")
def w() -> World:
    return world()


E = TypeVar("E", bound=x509.ExtensionType)


def ext(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(kind)


def test_ca_is_a_self_signed_root_with_path_length_zero(w: World) -> None:
    ca = w.ca.cert
    constraints = ext(ca, x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value == x509.BasicConstraints(ca=True, path_length=0)
    usage = ext(ca, x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    assert not usage.digital_signature
    assert ext(ca, x509.SubjectKeyIdentifier)
    ca.verify_directly_issued_by(ca)
    assert w.ca.key.key_size == pki.RSA_BITS == 3072


def test_person_certificate_carries_name_role_and_usages(w: World) -> None:
    cert = w.doctor.cert
    assert pki.display_name(cert) == "Dr Claire Martin"
    assert pki.role_of(cert) == "doctor"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "USMP Fresnes"
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_encipherment
    assert ext(cert, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    )
    assert ext(cert, x509.BasicConstraints).value == x509.BasicConstraints(
        ca=False, path_length=None
    )
    aki = ext(cert, x509.AuthorityKeyIdentifier).value
    ca_ski = ext(w.ca.cert, x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    assert pki.can_decrypt(cert)
    cert.verify_directly_issued_by(w.ca.cert)


def test_secretary_certificate_cannot_decrypt(w: World) -> None:
    usage = ext(w.secretary.cert, x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_encipherment
    assert not pki.can_decrypt(w.secretary.cert)
    assert pki.role_of(w.secretary.cert) == "secretary"


@pytest.mark.parametrize(
    ("role", "can_decrypt"), [("secretary", True), ("nurse", False), ("", True)]
)
def test_person_certificate_refuses_bad_roles(w: World, role: str, can_decrypt: bool) -> None:
    with pytest.raises(ValueError, match=r"role|secretary"):
        pki.issue_person_certificate(
            w.ca.cert,
            w.ca.key,
            w.doctor.key.public_key(),
            common_name="X",
            role=role,
            organization="Y",
            can_decrypt=can_decrypt,
        )


def test_validity_is_backdated_and_capped_by_the_ca(w: World) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    cert = pki.issue_person_certificate(
        w.ca.cert,
        w.ca.key,
        w.doctor.key.public_key(),
        common_name="Dr Long",
        role="doctor",
        organization="U",
        can_decrypt=True,
        now=now,
        days=100_000,
    )
    assert cert.not_valid_before_utc == now - timedelta(minutes=5)
    assert cert.not_valid_after_utc == w.ca.cert.not_valid_after_utc


def test_server_certificate_names_hosts(w: World) -> None:
    san = ext(w.server.cert, x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert list(ext(w.server.cert, x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    with pytest.raises(ValueError, match="host"):
        pki.issue_server_certificate(w.ca.cert, w.ca.key, w.server.key.public_key(), hosts=[])


def test_fingerprint_and_pem_round_trip(w: World) -> None:
    cert = w.specialist.cert
    der = cert.public_bytes(serialization.Encoding.DER)
    assert pki.fingerprint(cert) == hashlib.sha256(der).hexdigest()
    assert pki.load_cert_pem(pki.cert_to_pem(cert)) == cert
    with pytest.raises(MalformedMessage):
        pki.load_cert_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_display_name_without_common_name(w: World) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org only")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(w.doctor.key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2027, 1, 1, tzinfo=UTC))
        .sign(w.doctor.key, hashes.SHA256())
    )
    assert pki.display_name(cert) == "O=Org only"
    assert pki.role_of(cert) is None
    assert not pki.can_decrypt(cert)


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["doctor", "specialist", "secretary"])
def test_valid_people_may_sign(w: World, who: str) -> None:
    pki.validate_certificate(getattr(w, who).cert, w.roots, purpose="sign")


@pytest.mark.parametrize("who", ["doctor", "specialist"])
def test_clinicians_may_receive(w: World, who: str) -> None:
    pki.validate_certificate(getattr(w, who).cert, w.roots, purpose="encrypt")


@pytest.mark.parametrize(
    ("who", "purpose", "offset_days", "error", "message"),
    [
        ("secretary", "encrypt", 0, InvalidRecipient, "keyEncipherment"),
        ("rogue_doctor", "sign", 0, UntrustedSigner, "trusted certification authority"),
        ("rogue_doctor", "encrypt", 0, InvalidRecipient, "trusted certification authority"),
        ("server", "sign", 0, UntrustedSigner, "emailProtection"),
        ("ca", "sign", 0, UntrustedSigner, "certification authority, not a person"),
        ("doctor", "sign", 900, UntrustedSigner, "expired"),
        ("specialist", "encrypt", 900, InvalidRecipient, "expired"),
        ("doctor", "sign", -1, UntrustedSigner, "not valid before"),
    ],
)
def test_validation_refusals(
    w: World, who: str, purpose: str, offset_days: int, error: type[Exception], message: str
) -> None:
    now = datetime.now(UTC) + timedelta(days=offset_days)
    with pytest.raises(error, match=message):
        pki.validate_certificate(getattr(w, who).cert, w.roots, now=now, purpose=purpose)  # type: ignore[arg-type]


def test_validation_without_roots_is_refused(w: World) -> None:
    with pytest.raises(UntrustedSigner, match="no trusted root"):
        pki.validate_certificate(w.doctor.cert, [], purpose="sign")


def test_openssl_agrees_on_smime_purposes(w: World, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(pki.cert_to_pem(w.ca.cert))

    def check(who: str, purpose: str) -> int:
        cert_path, _ = getattr(w, who).write(tmp_path, who)
        args: list[str | Path] = [
            openssl,
            "verify",
            "-CAfile",
            ca_path,
            "-purpose",
            purpose,
            cert_path,
        ]
        return subprocess.run(args, capture_output=True, check=False, timeout=60).returncode

    assert check("doctor", "smimesign") == 0
    assert check("specialist", "smimeencrypt") == 0
    assert check("secretary", "smimesign") == 0
    assert check("secretary", "smimeencrypt") != 0
    assert check("rogue_doctor", "smimesign") != 0


# --- key files --------------------------------------------------------------------------


def test_key_file_round_trip_mode_and_atomicity(w: World, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"previous content")
    pki.save_private_key(path, w.doctor.key, PASSPHRASE)
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    if os.name == "posix":
        assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]  # no temporary file left
    loaded = pki.load_private_key(path, PASSPHRASE)
    assert loaded.private_numbers() == w.doctor.key.private_numbers()


def test_key_file_is_standard_pkcs8_for_openssl(w: World, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    path = tmp_path / "key.pem"
    pki.save_private_key(path, w.doctor.key, PASSPHRASE)
    args = [openssl, "pkey", "-in", str(path), "-passin", f"pass:{PASSPHRASE.decode()}", "-noout"]
    assert subprocess.run(args, capture_output=True, check=False, timeout=60).returncode == 0


def test_wrong_passphrase(w: World, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    pki.save_private_key(path, w.doctor.key, PASSPHRASE)
    with pytest.raises(WrongPassphrase) as caught:
        pki.load_private_key(path, b"not the passphrase")
    assert caught.value.code == "wrong_passphrase"


def corrupt_variants(good: bytes, unencrypted: bytes) -> list[bytes]:
    return [b"", b"garbage", good[: len(good) // 2], good.replace(b"ENCRYPTED ", b""), unencrypted]


def test_corrupt_key_files_are_malformed(w: World, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    pki.save_private_key(path, w.doctor.key, PASSPHRASE)
    good = path.read_bytes()
    plain = w.doctor.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for variant in corrupt_variants(good, plain):
        path.write_bytes(variant)
        with pytest.raises(MalformedMessage):
            pki.load_private_key(path, PASSPHRASE)


def test_empty_passphrase_is_refused(w: World, tmp_path: Path) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # pyca's own message
        pki.save_private_key(tmp_path / "key.pem", w.doctor.key, b"")
    assert list(tmp_path.iterdir()) == []


# --- TLS ----------------------------------------------------------------------------------


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_url(w: World, tmp_path: Path) -> Iterator[str]:
    cert_path, key_path = w.server.write(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_server_certificate_passes_requests_verification(
    w: World, tmp_path: Path, https_url: str
) -> None:
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(pki.cert_to_pem(w.ca.cert))
    with requests.Session() as session:
        response = session.get(https_url, verify=str(ca_path), timeout=10)
    assert response.status_code == 200
    assert response.content == b"ok"


def test_server_certificate_is_refused_under_another_ca(
    w: World, tmp_path: Path, https_url: str
) -> None:
    rogue_path = tmp_path / "rogue.pem"
    rogue_path.write_bytes(pki.cert_to_pem(w.rogue_ca.cert))
    with requests.Session() as session, pytest.raises(requests.exceptions.SSLError):
        session.get(https_url, verify=str(rogue_path), timeout=10)


def test_crypto_never_imports_qt() -> None:
    code = (
        "import sys, crypto.cms, crypto.pki, crypto.errors; "
        "sys.exit(any(m.split('.')[0] in ('PySide6', 'shiboken6') for m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    assert (
        subprocess.run([sys.executable, "-c", code], cwd=root, check=False, timeout=60).returncode
        == 0
    )
