"""EC P-256 identities, ECDSA SignedData and ECDH (RFC 5753) recipients, checked against
an independent re-computation of the key agreement and against OpenSSL both ways."""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from crypto import cms, pki
from crypto.errors import (
    BadSignature,
    DecryptionFailed,
    InvalidRecipient,
    MalformedMessage,
    NotARecipient,
    UntrustedSigner,
)
from tests.support.pki import World, world
from tests.support.tools import require_tool

CONTENT = b"Case 2026-0107: burn on the right hand, 2 photos.\n" * 30
PASSPHRASE = b"correct horse battery staple"

E = TypeVar("E", bound=x509.ExtensionType)


@dataclass(frozen=True)
class Person:
    """A certificate and its private key, RSA or EC."""

    cert: x509.Certificate
    key: pki.PrivateKey

    def write(self, folder: Path, name: str) -> None:
        (folder / f"{name}.pem").write_bytes(pki.cert_to_pem(self.cert))
        (folder / f"{name}.key").write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


@dataclass(frozen=True)
class EcWorld:
    """An EC CA with EC and RSA people, and EC people under the RSA test CA."""

    ca: Person
    doctor: Person  # EC, under the EC CA
    specialist: Person  # RSA, under the EC CA
    unit: Person  # EC, under the EC CA
    secretary: Person  # EC, under the EC CA, cannot decrypt
    rsa_ca_specialist: Person  # EC, under the RSA test CA

    @property
    def roots(self) -> list[x509.Certificate]:
        return [self.ca.cert, world().ca.cert]


def person(ca: Person, name: str, role: str, kind: pki.KeyKind) -> Person:
    key = pki.new_private_key(kind)
    cert = pki.issue_person_certificate(
        ca.cert,
        ca.key,
        key.public_key(),
        common_name=name,
        role=role,
        organization="USMP Fresnes",
        can_decrypt=role != "secretary",
    )
    return Person(cert, key)


@functools.cache
def ec_world() -> EcWorld:
    ca = Person(*pki.create_ca("Passavant Test EC — Autorité", kind="ec"))
    rsa_ca = Person(world().ca.cert, world().ca.key)
    return EcWorld(
        ca=ca,
        doctor=person(ca, "Dr Inès Moreau", "doctor", "ec"),
        specialist=person(ca, "Dr Hugo Petit", "specialist", "rsa"),
        unit=person(ca, "USMP Fresnes — archive", "unit", "ec"),
        secretary=person(ca, "M. Karim Haddad", "secretary", "ec"),
        rsa_ca_specialist=person(rsa_ca, "Dr Léa Roux", "specialist", "ec"),
    )


@pytest.fixture(scope="module")
def e() -> EcWorld:
    return ec_world()


@pytest.fixture(scope="module")
def w() -> World:
    return world()


def ext(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(kind)


def mutate(message: bytes, change: Any) -> bytes:
    info = asn1_cms.ContentInfo.load(message)
    change(info["content"])
    return bytes(info.dump(force=True))


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- keys and certificates ----------------------------------------------------------------


def test_new_private_key_kinds() -> None:
    assert isinstance(pki.new_private_key(), rsa.RSAPrivateKey)
    key = pki.new_private_key("ec")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    with pytest.raises(ValueError, match="kind"):
        pki.new_private_key("dsa")  # type: ignore[call-overload]


def test_ec_ca_signs_with_ecdsa(e: EcWorld) -> None:
    ca = e.ca.cert
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    ca.verify_directly_issued_by(ca)
    usage = ext(ca, x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    for who in (e.doctor, e.specialist, e.unit):
        assert who.cert.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
        who.cert.verify_directly_issued_by(ca)


@pytest.mark.parametrize(
    ("who", "agreement", "encipherment"),
    [("doctor", True, False), ("unit", True, False), ("secretary", False, False),
     ("specialist", False, True)],
)  # fmt: skip
def test_person_key_usage_follows_the_key_type(
    e: EcWorld, who: str, agreement: bool, encipherment: bool
) -> None:
    cert = getattr(e, who).cert
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_agreement == agreement
    assert usage.value.key_encipherment == encipherment
    assert pki.can_decrypt(cert) == (agreement or encipherment)
    assert pki.role_of(cert) == who
    assert ext(cert, x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    )


def test_unit_role_must_decrypt(e: EcWorld) -> None:
    assert "unit" in pki.ROLES
    with pytest.raises(ValueError, match="unit"):
        pki.issue_person_certificate(
            e.ca.cert,
            e.ca.key,
            e.unit.key.public_key(),
            common_name="X",
            role="unit",
            organization="Y",
            can_decrypt=False,
        )


def test_unsupported_keys_are_refused(e: EcWorld) -> None:
    small = ec.generate_private_key(ec.SECP192R1())
    with pytest.raises(ValueError, match="keys"):
        pki.issue_person_certificate(
            e.ca.cert,
            e.ca.key,
            small.public_key(),
            common_name="X",
            role="doctor",
            organization="Y",
            can_decrypt=True,
        )
    # A certificate made by hand for such a key (with keyAgreement) still cannot receive.
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "P-192")])
    usage = x509.KeyUsage(True, False, False, False, True, False, False, False, False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(e.ca.cert.subject)
        .public_key(small.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(minutes=5))
        .not_valid_after(datetime.now(UTC) + timedelta(days=30))
        .add_extension(usage, critical=True)
        .sign(e.ca.key, hashes.SHA256())
    )
    assert not pki.can_decrypt(cert)
    with pytest.raises(InvalidRecipient, match="unsupported key"):
        cms.encrypt(CONTENT, [cert])


@pytest.mark.parametrize("who", ["doctor", "specialist", "unit", "secretary"])
def test_ec_ca_people_validate_for_signing(e: EcWorld, who: str) -> None:
    pki.validate_certificate(getattr(e, who).cert, e.roots, purpose="sign")


@pytest.mark.parametrize("who", ["doctor", "specialist", "unit", "rsa_ca_specialist"])
def test_decrypting_people_validate_as_recipients(e: EcWorld, who: str) -> None:
    pki.validate_certificate(getattr(e, who).cert, e.roots, purpose="encrypt")


def test_ec_secretary_is_refused_as_recipient(e: EcWorld) -> None:
    with pytest.raises(InvalidRecipient, match="keyAgreement"):
        pki.validate_certificate(e.secretary.cert, e.roots, purpose="encrypt")
    with pytest.raises(InvalidRecipient, match="keyAgreement"):
        cms.seal(CONTENT, e.doctor.cert, e.doctor.key, [e.unit.cert, e.secretary.cert])


def test_ec_server_certificate(e: EcWorld, tmp_path: Path) -> None:
    key = pki.new_private_key("ec")
    cert = pki.issue_server_certificate(e.ca.cert, e.ca.key, key.public_key(), hosts=["localhost"])
    usage = ext(cert, x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_encipherment
    assert not usage.key_agreement
    openssl = require_tool("openssl")
    (tmp_path / "ca.pem").write_bytes(pki.cert_to_pem(e.ca.cert))
    (tmp_path / "server.pem").write_bytes(pki.cert_to_pem(cert))
    args = [openssl, "verify", "-CAfile", "ca.pem", "-purpose", "sslserver", "server.pem"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr


def test_openssl_accepts_ec_people_for_signing(e: EcWorld, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    (tmp_path / "ca.pem").write_bytes(pki.cert_to_pem(e.ca.cert))
    e.doctor.write(tmp_path, "doctor")
    args = [openssl, "verify", "-CAfile", "ca.pem", "-purpose", "smimesign", "doctor.pem"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr


# --- key files ----------------------------------------------------------------------------


def test_ec_key_file_round_trip(e: EcWorld, w: World, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    assert isinstance(e.doctor.key, ec.EllipticCurvePrivateKey)
    pki.save_private_key(path, e.doctor.key, PASSPHRASE)
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert path.stat().st_mode & 0o777 == 0o600
    for kind in ("ec", "any"):
        loaded = pki.load_private_key(path, PASSPHRASE, kind=kind)  # type: ignore[call-overload]
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        assert loaded.private_numbers() == e.doctor.key.private_numbers()
    with pytest.raises(MalformedMessage, match="RSA"):
        pki.load_private_key(path, PASSPHRASE)  # the default still expects RSA
    pki.save_private_key(path, w.doctor.key, PASSPHRASE)
    assert isinstance(pki.load_private_key(path, PASSPHRASE, kind="any"), rsa.RSAPrivateKey)
    with pytest.raises(MalformedMessage, match="EC"):
        pki.load_private_key(path, PASSPHRASE, kind="ec")


def test_ec_key_file_is_standard_for_openssl(e: EcWorld, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    path = tmp_path / "key.pem"
    pki.save_private_key(path, e.doctor.key, PASSPHRASE)
    args = [openssl, "pkey", "-in", str(path), "-passin", f"pass:{PASSPHRASE.decode()}",
            "-pubout"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    public = serialization.load_pem_public_key(done.stdout)
    assert public == e.doctor.cert.public_key()


# --- ECDSA SignedData ---------------------------------------------------------------------


def test_ecdsa_signed_data(e: EcWorld) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    signed = cms.sign(CONTENT, e.doctor.cert, e.doctor.key, now=now)
    info = asn1_cms.ContentInfo.load(signed)
    assert info.dump(force=True) == signed
    signer = info["content"]["signer_infos"][0]
    algorithm = signer["signature_algorithm"]
    assert algorithm["algorithm"].dotted == "1.2.840.10045.4.3.2"  # ecdsa-with-SHA256
    assert isinstance(algorithm["parameters"], asn1_core.Void)  # absent (RFC 5758)
    verified = cms.verify(signed, e.roots)
    assert verified.content == CONTENT
    assert verified.signer == e.doctor.cert
    assert verified.signed_at == now
    # The signature is an independent, standard ECDSA signature over the signed attributes.
    public = e.doctor.cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    attributes = signer["signed_attrs"].untag().dump()
    public.verify(signer["signature"].native, attributes, ec.ECDSA(hashes.SHA256()))


def test_altered_ecdsa_signature_is_bad(e: EcWorld) -> None:
    def damage(data: Any) -> None:
        signer = data["signer_infos"][0]
        signature = signer["signature"].native
        signer["signature"] = flip(signature, len(signature) - 3)

    signed = cms.sign(CONTENT, e.doctor.cert, e.doctor.key)
    with pytest.raises(BadSignature):
        cms.verify(mutate(signed, damage), e.roots)


@pytest.mark.parametrize("algorithm", ["rsassa_pss", "sha256_rsa"])
def test_rsa_algorithm_on_an_ec_signer_is_malformed(e: EcWorld, algorithm: str) -> None:
    def relabel(data: Any) -> None:
        signer = data["signer_infos"][0]
        signer["signature_algorithm"] = {"algorithm": algorithm}

    signed = cms.sign(CONTENT, e.doctor.cert, e.doctor.key)
    with pytest.raises(MalformedMessage, match="EC signer"):
        cms.verify(mutate(signed, relabel), e.roots)


def test_ecdsa_algorithm_on_an_rsa_signer_is_malformed(w: World) -> None:
    def relabel(data: Any) -> None:
        data["signer_infos"][0]["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}

    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key)
    with pytest.raises(MalformedMessage, match="RSA signer"):
        cms.verify(mutate(signed, relabel), w.roots)


def test_ec_signer_from_another_ca_is_untrusted(e: EcWorld, w: World) -> None:
    signed = cms.sign(CONTENT, e.doctor.cert, e.doctor.key)
    with pytest.raises(UntrustedSigner, match="trusted certification authority"):
        cms.verify(signed, w.roots)


# --- ECDH recipients (KeyAgreeRecipientInfo) ----------------------------------------------

KDF_SHA256 = "1.3.132.1.11.1"  # dhSinglePass-stdDH-sha256kdf-scheme
AES256_WRAP = "2.16.840.1.101.3.4.1.45"


def shared_info_by_hand(kek_bits: int) -> bytes:
    """ECC-CMS-SharedInfo (RFC 5753 §7.2) for id-aes256-wrap, no ukm, written byte by byte."""
    key_info = bytes.fromhex("300b060960864801650304012d")  # SEQUENCE { id-aes256-wrap }
    supp_pub_info = bytes.fromhex("a2060404") + kek_bits.to_bytes(4, "big")
    body = key_info + supp_pub_info
    return bytes([0x30, len(body)]) + body


def test_kari_profile_and_independent_key_agreement(e: EcWorld) -> None:
    enveloped = cms.encrypt(CONTENT, [e.unit.cert, e.specialist.cert])
    info = asn1_cms.ContentInfo.load(enveloped)
    assert info.dump(force=True) == enveloped
    data = info["content"]
    names = [r.name for r in data["recipient_infos"]]
    assert sorted(names) == ["kari", "ktri"]
    kari = next(r.chosen for r in data["recipient_infos"] if r.name == "kari")
    assert kari["version"].native == "v3"
    assert isinstance(kari["ukm"], asn1_core.Void)
    originator = kari["originator"]
    assert originator.name == "originator_key"
    assert originator.chosen["algorithm"]["algorithm"].dotted == "1.2.840.10045.2.1"
    assert isinstance(originator.chosen["algorithm"]["parameters"], asn1_core.Void)
    point = originator.chosen["public_key"].native
    assert len(point) == 65
    assert point[0] == 4
    scheme = kari["key_encryption_algorithm"]
    assert scheme["algorithm"].dotted == KDF_SHA256
    assert scheme["parameters"]["algorithm"].dotted == AES256_WRAP
    assert isinstance(scheme["parameters"]["parameters"], asn1_core.Void)
    (encrypted,) = kari["recipient_encrypted_keys"]
    rid = encrypted["rid"]
    assert rid.name == "issuer_and_serial_number"
    assert rid.chosen["serial_number"].native == e.unit.cert.serial_number
    wrapped = encrypted["encrypted_key"].native
    assert len(wrapped) == 40  # a 32-byte key wrapped with RFC 3394
    # Recompute the whole key agreement with pyca primitives, then decrypt with AESGCM.
    unit_key = e.unit.key
    assert isinstance(unit_key, ec.EllipticCurvePrivateKey)
    ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    secret = unit_key.exchange(ec.ECDH(), ephemeral)
    kek = X963KDF(hashes.SHA256(), 32, shared_info_by_hand(256)).derive(secret)
    content_key = keywrap.aes_key_unwrap(kek, wrapped)
    encrypted_info = data["auth_encrypted_content_info"]
    nonce = encrypted_info["content_encryption_algorithm"]["parameters"]["aes_nonce"].native
    ciphertext = encrypted_info["encrypted_content"].native + data["mac"].native
    assert AESGCM(content_key).decrypt(nonce, ciphertext, None) == CONTENT


def test_mixed_recipients_each_open_and_others_cannot(e: EcWorld, w: World) -> None:
    recipients = [e.unit.cert, e.specialist.cert, e.doctor.cert, w.specialist.cert]
    sealed = cms.seal(CONTENT, e.doctor.cert, e.doctor.key, recipients)
    for reader in (e.unit, e.specialist, e.doctor, w.specialist):
        opened = cms.open_sealed(sealed, reader.cert, reader.key, e.roots)
        assert opened.content == CONTENT
        assert opened.signer == e.doctor.cert
    for outsider in (e.rsa_ca_specialist, e.secretary, w.doctor):
        with pytest.raises(NotARecipient):
            cms.open_sealed(sealed, outsider.cert, outsider.key, e.roots)


def test_rsa_signer_to_ec_recipients(e: EcWorld, w: World) -> None:
    sealed = cms.seal(CONTENT, w.doctor.cert, w.doctor.key, [e.rsa_ca_specialist.cert])
    opened = cms.open_sealed(sealed, e.rsa_ca_specialist.cert, e.rsa_ca_specialist.key, w.roots)
    assert opened.content == CONTENT
    assert opened.signer == w.doctor.cert


def test_ephemeral_keys_are_fresh(e: EcWorld) -> None:
    def points(message: bytes) -> list[bytes]:
        data = asn1_cms.ContentInfo.load(message)["content"]
        return [
            r.chosen["originator"].chosen["public_key"].native
            for r in data["recipient_infos"]
            if r.name == "kari"
        ]

    first = points(cms.encrypt(CONTENT, [e.unit.cert, e.doctor.cert]))
    second = points(cms.encrypt(CONTENT, [e.unit.cert, e.doctor.cert]))
    assert len(set(first + second)) == 4


def _first_kari(data: Any) -> Any:
    return next(r.chosen for r in data["recipient_infos"] if r.name == "kari")


def _other_point(data: Any) -> None:
    kari = _first_kari(data)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    kari["originator"].chosen["public_key"] = other.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _off_curve(data: Any) -> None:
    kari = _first_kari(data)
    point = kari["originator"].chosen["public_key"].native
    kari["originator"].chosen["public_key"] = flip(point, 40)


def _wrapped_key(data: Any) -> None:
    encrypted = _first_kari(data)["recipient_encrypted_keys"][0]
    encrypted["encrypted_key"] = flip(encrypted["encrypted_key"].native, 3)


def _add_ukm(data: Any) -> None:
    _first_kari(data)["ukm"] = b"\x00" * 16  # changes the KDF input


def _sha1_kdf(data: Any) -> None:
    _first_kari(data)["key_encryption_algorithm"]["algorithm"] = "1.3.133.16.840.63.0.2"


def _aes_wrap_with_null(data: Any) -> None:
    wrap = _first_kari(data)["key_encryption_algorithm"]["parameters"]
    wrap["parameters"] = asn1_core.Null()


def _version_2(data: Any) -> None:
    _first_kari(data)["version"] = "v2"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (_other_point, DecryptionFailed),
        (_off_curve, DecryptionFailed),
        (_wrapped_key, DecryptionFailed),
        (_add_ukm, DecryptionFailed),
        (_sha1_kdf, MalformedMessage),
        (_aes_wrap_with_null, MalformedMessage),
        (_version_2, MalformedMessage),
    ],
)
def test_altered_key_agreement_is_refused(e: EcWorld, change: Any, error: type[Exception]) -> None:
    enveloped = cms.encrypt(CONTENT, [e.unit.cert])
    with pytest.raises(error):
        cms.decrypt(mutate(enveloped, change), e.unit.cert, e.unit.key)


def test_rsa_key_does_not_match_a_key_agreement_entry(e: EcWorld, w: World) -> None:
    # The only entry is for an EC certificate; a reader holding an RSA key is not in it.
    enveloped = cms.encrypt(CONTENT, [e.unit.cert])
    with pytest.raises(NotARecipient):
        cms.decrypt(enveloped, w.specialist.cert, w.specialist.key)
    with pytest.raises(ValueError, match="private key"):
        cms.decrypt(enveloped, e.unit.cert, e.doctor.key)


# --- OpenSSL interoperability -------------------------------------------------------------


class OpenSSL:
    """Runs ``openssl`` in a folder holding both CAs and the EC world's people."""

    def __init__(self, folder: Path, e: EcWorld) -> None:
        self.binary = require_tool("openssl")
        self.folder = folder
        roots = b"".join(pki.cert_to_pem(root) for root in e.roots)
        (folder / "roots.pem").write_bytes(roots)
        for name in ("doctor", "specialist", "unit"):
            getattr(e, name).write(folder, name)

    def __call__(self, *args: str) -> None:
        result = subprocess.run(
            [self.binary, *args], cwd=self.folder, capture_output=True, check=False, timeout=120
        )
        stderr = result.stderr.decode(errors="replace")
        assert result.returncode == 0, f"openssl {' '.join(args[:2])} failed: {stderr}"

    def write(self, name: str, data: bytes) -> str:
        (self.folder / name).write_bytes(data)
        return name

    def read(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()


@pytest.fixture
def openssl(e: EcWorld, tmp_path: Path) -> OpenSSL:
    return OpenSSL(tmp_path, e)


@pytest.mark.parametrize("reader", ["unit", "specialist"])
def test_openssl_opens_our_ec_sealed_message(e: EcWorld, openssl: OpenSSL, reader: str) -> None:
    sealed = cms.seal(CONTENT, e.doctor.cert, e.doctor.key, [e.specialist.cert, e.unit.cert])
    openssl.write("sealed.der", sealed)
    openssl("cms", "-decrypt", "-inform", "DER", "-in", "sealed.der", "-recip", f"{reader}.pem",
            "-inkey", f"{reader}.key", "-out", "signed.der")  # fmt: skip
    openssl("cms", "-verify", "-inform", "DER", "-in", "signed.der", "-CAfile", "roots.pem",
            "-binary", "-out", "content.bin")  # fmt: skip
    assert openssl.read("content.bin") == CONTENT


@pytest.mark.parametrize(
    ("stream", "keyid"),
    [(False, False), (True, False), (False, True)],
    ids=["der", "ber-stream", "subject-key-identifiers"],
)
def test_we_open_what_openssl_signs_and_encrypts_with_ec(
    e: EcWorld, openssl: OpenSSL, stream: bool, keyid: bool
) -> None:
    openssl.write("content.bin", CONTENT)
    openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", "content.bin",
            "-signer", "doctor.pem", "-inkey", "doctor.key", "-outform", "DER",
            "-out", "signed.der")  # fmt: skip
    openssl("cms", "-encrypt", "-binary", "-aes-256-gcm",
            "-recip", "unit.pem", "-keyopt", "ecdh_kdf_md:sha256",
            "-recip", "specialist.pem", "-keyopt", "rsa_padding_mode:oaep",
            "-keyopt", "rsa_oaep_md:sha256",
            "-in", "signed.der", "-outform", "DER", "-out", "sealed.der",
            *(["-stream"] if stream else []), *(["-keyid"] if keyid else []))  # fmt: skip
    sealed = openssl.read("sealed.der")
    assert sealed.startswith(b"\x30\x80") == stream
    if keyid:  # recipients named by subject key identifier (rKeyId for key agreement)
        data = asn1_cms.ContentInfo.load(sealed)["content"]
        kari = next(r.chosen for r in data["recipient_infos"] if r.name == "kari")
        assert kari["recipient_encrypted_keys"][0]["rid"].name == "r_key_id"
    for reader in (e.unit, e.specialist):
        opened = cms.open_sealed(sealed, reader.cert, reader.key, e.roots)
        assert opened.content == CONTENT
        assert opened.signer == e.doctor.cert
        assert opened.signed_at is not None
    with pytest.raises(NotARecipient):
        cms.open_sealed(sealed, e.doctor.cert, e.doctor.key, e.roots)


def test_openssl_default_sha1_kdf_is_refused(e: EcWorld, openssl: OpenSSL) -> None:
    openssl.write("content.bin", CONTENT)
    openssl("cms", "-encrypt", "-binary", "-aes-256-gcm", "-recip", "unit.pem",
            "-in", "content.bin", "-outform", "DER", "-out", "enveloped.der")  # fmt: skip
    with pytest.raises(MalformedMessage, match="sha1kdf"):
        cms.decrypt(openssl.read("enveloped.der"), e.unit.cert, e.unit.key)
