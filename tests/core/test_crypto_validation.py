"""Validation on opening: expiry at the signing time, revocation lists, typed errors with
stable codes and a French sentence each; OpenSSL agrees on the revocation lists."""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from app.i18n import _
from app.messages import reason
from crypto import cms, errors, pki
from crypto.errors import (
    CertificateExpired,
    CertificateRevoked,
    InvalidRecipient,
    UntrustedSigner,
)
from tests.support.pki import World, world
from tests.support.tools import require_tool

CONTENT = b"Opinion on case 2026-0042: benign naevus, no excision needed.\n"


@dataclass(frozen=True)
class Pair:
    cert: x509.Certificate
    key: pki.PrivateKey


@dataclass(frozen=True)
class Pkis:
    """The RSA test CA (with its people) and an EC CA with an EC doctor and an RSA reader."""

    rsa: World
    ec_ca: Pair
    ec_doctor: Pair
    ec_reader: Pair


@functools.cache
def pkis() -> Pkis:
    ca = Pair(*pki.create_ca("Passavant Test EC — Autorité de révocation", kind="ec"))

    def person(kind: pki.KeyKind, role: str) -> Pair:
        key = pki.new_private_key(kind)
        cert = pki.issue_person_certificate(
            ca.cert, ca.key, key.public_key(), common_name=role, role=role,
            organization="USMP", can_decrypt=True,
        )  # fmt: skip
        return Pair(cert, key)

    return Pkis(world(), ca, person("ec", "doctor"), person("rsa", "specialist"))


@pytest.fixture(scope="module")
def p() -> Pkis:
    return pkis()


@pytest.fixture(scope="module")
def w() -> World:
    return world()


# --- CRL issuance -------------------------------------------------------------------------


def test_issue_crl(w: World) -> None:
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    serials = [w.doctor.cert.serial_number, 12345, 12345]
    crl = pki.issue_crl(w.ca.cert, w.ca.key, serials, now=now, days=3)
    assert crl.issuer == w.ca.cert.subject
    assert crl.last_update_utc == now
    assert crl.next_update_utc == now + timedelta(days=3)
    assert crl.is_signature_valid(w.ca.cert.public_key())  # type: ignore[arg-type]
    assert sorted(entry.serial_number for entry in crl) == sorted({*serials})
    entry = crl.get_revoked_certificate_by_serial_number(w.doctor.cert.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == now
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == int(now.timestamp())
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = w.ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    with pytest.raises(ValueError, match="private key"):
        pki.issue_crl(w.ca.cert, w.rogue_ca.key, [1])


def test_openssl_checks_our_crls(w: World, p: Pkis, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    for name, ca, revoked in (("rsa", w.ca, w.doctor), ("ec", p.ec_ca, p.ec_doctor)):
        folder = tmp_path / name
        folder.mkdir()
        crl = pki.issue_crl(ca.cert, ca.key, [revoked.cert.serial_number])
        (folder / "ca.pem").write_bytes(pki.cert_to_pem(ca.cert))
        (folder / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        (folder / "revoked.pem").write_bytes(pki.cert_to_pem(revoked.cert))

        def run(*args: str, cwd: Path = folder) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [openssl, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
            )

        checked = run("crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout")
        assert checked.returncode == 0
        assert "verify OK" in checked.stderr + checked.stdout
        verdict = run("verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "ca.pem",
                      "revoked.pem")  # fmt: skip
        assert verdict.returncode != 0
        assert "revoked" in verdict.stdout + verdict.stderr


# --- revocation on opening ----------------------------------------------------------------


def test_revoked_signer_is_refused(w: World) -> None:
    sealed = cms.seal(CONTENT, w.doctor.cert, w.doctor.key, [w.specialist.cert])
    others = pki.issue_crl(w.ca.cert, w.ca.key, [w.secretary.cert.serial_number, 7])
    opened = cms.open_sealed(sealed, w.specialist.cert, w.specialist.key, w.roots, crls=[others])
    assert opened.content == CONTENT
    crl = pki.issue_crl(w.ca.cert, w.ca.key, [w.doctor.cert.serial_number])
    with pytest.raises(CertificateRevoked, match="revoked") as caught:
        cms.open_sealed(sealed, w.specialist.cert, w.specialist.key, w.roots, crls=[others, crl])
    assert caught.value.code == "certificate_revoked"
    assert isinstance(caught.value, UntrustedSigner)  # callers catching the parent still do
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key)
    with pytest.raises(CertificateRevoked):
        cms.verify(signed, w.roots, crls=[crl])


def test_revocation_applies_whatever_the_claimed_signing_time(w: World) -> None:
    backdated = datetime.now(UTC) - timedelta(minutes=1)  # before the revocation below
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key, now=backdated)
    crl = pki.issue_crl(w.ca.cert, w.ca.key, [w.doctor.cert.serial_number])
    with pytest.raises(CertificateRevoked):
        cms.verify(signed, w.roots, crls=[crl])


def test_revoked_ec_signer_under_an_ec_ca(p: Pkis) -> None:
    sealed = cms.seal(CONTENT, p.ec_doctor.cert, p.ec_doctor.key, [p.ec_reader.cert])
    roots = [p.ec_ca.cert]
    assert cms.open_sealed(sealed, p.ec_reader.cert, p.ec_reader.key, roots).content == CONTENT
    crl = pki.issue_crl(p.ec_ca.cert, p.ec_ca.key, [p.ec_doctor.cert.serial_number])
    with pytest.raises(CertificateRevoked):
        cms.open_sealed(sealed, p.ec_reader.cert, p.ec_reader.key, roots, crls=[crl])


def test_crls_of_other_cas_are_ignored(w: World, p: Pkis) -> None:
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key)
    # The rogue CA has the same name as ours but another key: its list does not apply.
    rogue = pki.issue_crl(w.rogue_ca.cert, w.rogue_ca.key, [w.doctor.cert.serial_number])
    elsewhere = pki.issue_crl(p.ec_ca.cert, p.ec_ca.key, [w.doctor.cert.serial_number])
    assert cms.verify(signed, w.roots, crls=[rogue, elsewhere]).content == CONTENT


def _forged_crl(w: World) -> x509.CertificateRevocationList:
    """A list that names our CA, with our CA's key identifier, but is signed by another key."""
    now = datetime.now(UTC)
    ski = w.ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(w.ca.cert.subject)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .sign(w.rogue_ca.key, hashes.SHA256())
    )


def test_a_forged_crl_makes_the_status_unknown(w: World) -> None:
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key)
    with pytest.raises(UntrustedSigner, match="not signed by it") as caught:
        cms.verify(signed, w.roots, crls=[_forged_crl(w)])
    assert not isinstance(caught.value, CertificateRevoked)
    with pytest.raises(InvalidRecipient, match="not signed by it"):
        pki.validate_certificate(
            w.specialist.cert, w.roots, purpose="encrypt", crls=[_forged_crl(w)]
        )


def test_revoked_recipient_is_invalid(w: World) -> None:
    crl = pki.issue_crl(w.ca.cert, w.ca.key, [w.specialist.cert.serial_number])
    with pytest.raises(InvalidRecipient, match="revoked") as caught:
        pki.validate_certificate(w.specialist.cert, w.roots, purpose="encrypt", crls=[crl])
    assert caught.value.code == "invalid_recipient"
    pki.validate_certificate(w.doctor.cert, w.roots, purpose="encrypt", crls=[crl])


# --- expiry -------------------------------------------------------------------------------


def test_signature_made_after_expiry_is_certificate_expired(w: World) -> None:
    later = datetime.now(UTC) + timedelta(days=900)
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key, now=later)
    with pytest.raises(CertificateExpired, match="expired") as caught:
        cms.verify(signed, w.roots, now=later)
    assert caught.value.code == "certificate_expired"
    assert isinstance(caught.value, UntrustedSigner)
    # Signed while valid, read after expiry: accepted (validated at the signing time).
    earlier = cms.sign(CONTENT, w.doctor.cert, w.doctor.key)
    assert cms.verify(earlier, w.roots, now=later).content == CONTENT


def test_expired_recipient_is_invalid_not_expired_signer(w: World) -> None:
    later = datetime.now(UTC) + timedelta(days=900)
    with pytest.raises(InvalidRecipient, match="expired") as caught:
        pki.validate_certificate(w.specialist.cert, w.roots, now=later, purpose="encrypt")
    assert not isinstance(caught.value, CertificateExpired)


def test_not_yet_valid_is_untrusted_but_not_expired(w: World) -> None:
    before = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(UntrustedSigner, match="not valid before") as caught:
        pki.validate_certificate(w.doctor.cert, w.roots, now=before, purpose="sign")
    assert type(caught.value) is UntrustedSigner


def test_expired_ca_is_certificate_expired() -> None:
    start = datetime.now(UTC) - timedelta(days=30)
    ca_cert, ca_key = pki.create_ca("Short-lived CA", now=start, days=10, kind="ec")
    key = pki.new_private_key("ec")
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Dr Outlived"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "doctor"),
        ]
    )
    usage = x509.KeyUsage(True, False, False, False, True, False, False, False, False)
    cert = (  # made by hand: pki caps a certificate at its CA's expiry, on purpose
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=100))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    signed = cms.sign(CONTENT, cert, key)  # now: after the CA expired, the person has not
    with pytest.raises(CertificateExpired, match="certification authority"):
        cms.verify(signed, [ca_cert])
    inside = start + timedelta(days=5)
    assert cms.verify(cms.sign(CONTENT, cert, key, now=inside), [ca_cert]).content == CONTENT


# --- codes and sentences ------------------------------------------------------------------


def test_every_crypto_error_has_a_stable_code_and_a_french_sentence() -> None:
    fallback = _("Erreur inattendue ({code}).")
    codes = {}
    for name in errors.__all__:
        kind = getattr(errors, name)
        codes[name] = kind.code
        if kind is not errors.CryptoError:
            assert reason(kind.code) != fallback.format(code=kind.code), name
    assert len(set(codes.values())) == len(codes)  # no two errors share a code
    assert codes["CertificateExpired"] == "certificate_expired"
    assert codes["CertificateRevoked"] == "certificate_revoked"
    assert codes["TruncatedMessage"] == "truncated"
    assert issubclass(errors.TruncatedMessage, errors.MalformedMessage)
