"""crypto.cms: SignedData and AuthEnvelopedData, checked against asn1crypto and OpenSSL."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto import _der, cms, pki
from crypto.errors import (
    BadSignature,
    DecryptionFailed,
    InvalidRecipient,
    MalformedMessage,
    NotARecipient,
    TruncatedMessage,
    UntrustedSigner,
)
from tests.support.pki import Identity, World, world
from tests.support.tools import require_tool

CONTENT = b"Case 2026-0042: lesion on the left forearm, 3 photos.\n" * 40
LARGE = os.urandom(2 * 1024 * 1024 + 12345)  # spans several 1 MiB work chunks


@pytest.fixture(scope="module")
def w() -> World:
    return world()


def mutate(message: bytes, change: Callable[[Any], None]) -> bytes:
    """Re-encode ``message`` after ``change`` edited its asn1crypto ContentInfo content."""
    info = asn1_cms.ContentInfo.load(message)
    change(info["content"])
    return bytes(info.dump(force=True))


def der(identity: Identity) -> bytes:
    return identity.cert.public_bytes(serialization.Encoding.DER)


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.mark.parametrize("length", [0, 1, 127, 128, 255, 256, 65535, 65536, 2**24])
def test_der_headers_match_asn1crypto(length: int) -> None:
    encoded = asn1_core.OctetString(b"\x00" * length).dump()
    assert _der.header(_der.OCTET_STRING, length) == encoded[: len(encoded) - length]


# --- SignedData -------------------------------------------------------------------------


def test_sign_then_verify(w: World) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    verified = cms.verify(cms.sign(CONTENT, w.doctor.cert, w.doctor.key, now=now), w.roots)
    assert verified.content == CONTENT
    assert pki.fingerprint(verified.signer) == pki.fingerprint(w.doctor.cert)
    assert verified.signed_at == now


def test_signed_data_profile(w: World) -> None:
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key)
    info = asn1_cms.ContentInfo.load(signed)
    assert info.dump(force=True) == signed  # our hand-framed DER is canonical
    assert info["content_type"].native == "signed_data"
    data = info["content"]
    assert data["encap_content_info"]["content"].native == CONTENT
    assert len(data["certificates"]) == 1
    signer = data["signer_infos"][0]
    assert signer["sid"].name == "issuer_and_serial_number"
    assert signer["digest_algorithm"]["algorithm"].native == "sha256"
    algorithm = signer["signature_algorithm"]
    assert algorithm["algorithm"].native == "rsassa_pss"
    assert algorithm["parameters"].native["salt_length"] == 32
    assert algorithm["parameters"]["mask_gen_algorithm"].native["parameters"]["algorithm"] == (
        "sha256"
    )
    names = [a["type"].native for a in signer["signed_attrs"]]
    assert sorted(names) == ["content_type", "message_digest", "signing_time"]


def test_empty_and_large_content(w: World) -> None:
    for content in (b"", LARGE):
        signed = cms.sign(content, w.doctor.cert, w.doctor.key)
        assert cms.verify(signed, w.roots).content == content


def test_altered_content_is_a_bad_signature(w: World) -> None:
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key)
    tampered = flip(signed, signed.index(CONTENT) + 10)
    with pytest.raises(BadSignature, match="digest") as caught:
        cms.verify(tampered, w.roots)
    assert caught.value.code == "bad_signature"


def test_altered_signed_attributes_are_a_bad_signature(w: World) -> None:
    def backdate(data: Any) -> None:
        attributes = data["signer_infos"][0]["signed_attrs"]
        for attribute in attributes:
            if attribute["type"].native == "signing_time":
                attribute["values"] = [
                    asn1_cms.Time({"utc_time": datetime(2026, 1, 1, tzinfo=UTC)})
                ]

    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key)
    with pytest.raises(BadSignature, match="signature"):
        cms.verify(mutate(signed, backdate), w.roots)


def test_altered_signature_is_a_bad_signature(w: World) -> None:
    def damage(data: Any) -> None:
        signer = data["signer_infos"][0]
        signer["signature"] = flip(signer["signature"].native, 7)

    with pytest.raises(BadSignature):
        cms.verify(mutate(cms.sign(CONTENT, w.doctor.cert, w.doctor.key), damage), w.roots)


def test_signer_from_another_ca_is_untrusted(w: World) -> None:
    signed = cms.sign(CONTENT, w.rogue_doctor.cert, w.rogue_doctor.key)
    with pytest.raises(UntrustedSigner) as caught:
        cms.verify(signed, w.roots)
    assert caught.value.code == "untrusted_signer"


def test_signature_made_after_expiry_is_untrusted(w: World) -> None:
    later = datetime.now(UTC) + timedelta(days=900)
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key, now=later)
    with pytest.raises(UntrustedSigner, match="expired"):
        cms.verify(signed, w.roots, now=later)


def test_signature_made_before_expiry_still_verifies_later(w: World) -> None:
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key)
    later = datetime.now(UTC) + timedelta(days=900)
    assert cms.verify(signed, w.roots, now=later).content == CONTENT


def test_signing_time_ahead_of_our_clock_is_validated_at_our_time(w: World) -> None:
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=900)  # after expiry
    signed = cms.sign(CONTENT, w.doctor.cert, w.doctor.key, now=ahead)
    verified = cms.verify(signed, w.roots)  # the certificate is valid now
    assert verified.signed_at == ahead  # reported as claimed


def test_mismatched_key_is_a_programming_error(w: World) -> None:
    with pytest.raises(ValueError, match="private key"):
        cms.sign(CONTENT, w.doctor.cert, w.specialist.key)


# --- AuthEnvelopedData ------------------------------------------------------------------


def test_every_recipient_can_decrypt_and_others_cannot(w: World) -> None:
    enveloped = cms.encrypt(LARGE, [w.specialist.cert, w.doctor.cert])
    assert cms.decrypt(enveloped, w.specialist.cert, w.specialist.key) == LARGE
    assert cms.decrypt(enveloped, w.doctor.cert, w.doctor.key) == LARGE
    for outsider in (w.other_specialist, w.secretary, w.rogue_doctor):
        with pytest.raises(NotARecipient) as caught:
            cms.decrypt(enveloped, outsider.cert, outsider.key)
        assert caught.value.code == "not_a_recipient"


def test_auth_enveloped_data_profile(w: World) -> None:
    enveloped = cms.encrypt(CONTENT, [w.specialist.cert, w.specialist.cert, w.doctor.cert])
    info = asn1_cms.ContentInfo.load(enveloped)
    assert info.dump(force=True) == enveloped  # our hand-framed DER is canonical
    assert info["content_type"].native == "authenticated_enveloped_data"
    data = info["content"]
    assert data["version"].native == "v0"
    recipients = [r.chosen for r in data["recipient_infos"]]
    assert len(recipients) == 2  # the duplicate certificate got one entry
    for recipient in recipients:
        assert recipient["rid"].name == "issuer_and_serial_number"
        oaep = recipient["key_encryption_algorithm"]
        assert oaep["algorithm"].native == "rsaes_oaep"
        assert oaep["parameters"]["hash_algorithm"]["algorithm"].native == "sha256"
        assert oaep["parameters"]["mask_gen_algorithm"]["parameters"]["algorithm"].native == (
            "sha256"
        )
    encrypted = data["auth_encrypted_content_info"]
    algorithm = encrypted["content_encryption_algorithm"]
    assert algorithm["algorithm"].native == "aes256_gcm"
    assert len(algorithm["parameters"]["aes_nonce"].native) == 12
    assert algorithm["parameters"]["aes_icvlen"].native == 16
    assert len(encrypted["encrypted_content"].native) == len(CONTENT)  # tag excluded
    assert len(data["mac"].native) == 16


def test_secretary_is_refused_as_recipient(w: World) -> None:
    with pytest.raises(InvalidRecipient, match="keyEncipherment") as caught:
        cms.encrypt(CONTENT, [w.specialist.cert, w.secretary.cert])
    assert caught.value.code == "invalid_recipient"
    with pytest.raises(InvalidRecipient, match="keyEncipherment"):
        cms.seal(CONTENT, w.doctor.cert, w.doctor.key, [w.secretary.cert])
    with pytest.raises(ValueError, match="recipient"):
        cms.encrypt(CONTENT, [])


def test_altered_ciphertext_tag_or_key_fails_decryption(w: World) -> None:
    enveloped = cms.encrypt(CONTENT, [w.specialist.cert])

    def ciphertext(data: Any) -> None:
        encrypted = data["auth_encrypted_content_info"]
        encrypted["encrypted_content"] = flip(encrypted["encrypted_content"].native, 100)

    def tag(data: Any) -> None:
        data["mac"] = flip(data["mac"].native, 0)

    def wrapped_key(data: Any) -> None:
        recipient = data["recipient_infos"][0].chosen
        recipient["encrypted_key"] = flip(recipient["encrypted_key"].native, 50)

    for change in (ciphertext, tag, wrapped_key):
        with pytest.raises(DecryptionFailed) as caught:
            cms.decrypt(mutate(enveloped, change), w.specialist.cert, w.specialist.key)
        assert caught.value.code == "decryption_failed"


def _with_auth_attributes(recipient: Identity, content: bytes) -> bytes:
    """An AuthEnvelopedData with authenticated attributes, built independently of crypto.cms."""
    key, nonce = AESGCM.generate_key(256), os.urandom(12)
    attributes = asn1_cms.CMSAttributes([{"type": "content_type", "values": ["data"]}])
    sealed = AESGCM(key).encrypt(nonce, content, attributes.dump())
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = recipient.cert.public_key().encrypt(key, oaep)  # type: ignore[union-attr]
    sha256 = {"algorithm": "sha256"}
    ktri = {
        "version": "v0",
        "rid": {
            "issuer_and_serial_number": {
                "issuer": asn1_x509.Certificate.load(der(recipient)).issuer,
                "serial_number": recipient.cert.serial_number,
            }
        },
        "key_encryption_algorithm": {
            "algorithm": "rsaes_oaep",
            "parameters": {
                "hash_algorithm": sha256,
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": sha256},
            },
        },
        "encrypted_key": wrapped,
    }
    data = asn1_cms.AuthEnvelopedData(
        {
            "version": "v0",
            "recipient_infos": [asn1_cms.RecipientInfo({"ktri": ktri})],
            "auth_encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": {
                    "algorithm": "aes256_gcm",
                    "parameters": {"aes_nonce": nonce, "aes_icvlen": 16},  # registered by us
                },
                "encrypted_content": sealed[:-16],
            },
            "auth_attrs": attributes,
            "mac": sealed[-16:],
        }
    )
    info = asn1_cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": data})
    return bytes(info.dump())


def test_authenticated_attributes_are_authenticated(w: World) -> None:
    enveloped = _with_auth_attributes(w.specialist, CONTENT)
    assert cms.decrypt(enveloped, w.specialist.cert, w.specialist.key) == CONTENT

    def relabel(data: Any) -> None:
        data["auth_attrs"] = [{"type": "content_type", "values": ["signed_data"]}]

    with pytest.raises(DecryptionFailed):
        cms.decrypt(mutate(enveloped, relabel), w.specialist.cert, w.specialist.key)


# --- seal / open_sealed -----------------------------------------------------------------


def test_seal_then_open_for_each_recipient(w: World) -> None:
    sealed = cms.seal(LARGE, w.doctor.cert, w.doctor.key, [w.specialist.cert, w.doctor.cert])
    for reader in (w.specialist, w.doctor):
        opened = cms.open_sealed(sealed, reader.cert, reader.key, w.roots)
        assert opened.content == LARGE
        assert opened.signer == w.doctor.cert
    with pytest.raises(NotARecipient):
        cms.open_sealed(sealed, w.other_specialist.cert, w.other_specialist.key, w.roots)


def test_open_sealed_checks_the_signer(w: World) -> None:
    sealed = cms.seal(CONTENT, w.rogue_doctor.cert, w.rogue_doctor.key, [w.specialist.cert])
    with pytest.raises(UntrustedSigner):
        cms.open_sealed(sealed, w.specialist.cert, w.specialist.key, w.roots)
    later = datetime.now(UTC) + timedelta(days=900)
    sealed = cms.seal(CONTENT, w.doctor.cert, w.doctor.key, [w.specialist.cert], now=later)
    with pytest.raises(UntrustedSigner, match="expired"):
        cms.open_sealed(sealed, w.specialist.cert, w.specialist.key, w.roots, now=later)


@pytest.fixture(scope="module")
def samples(w: World) -> dict[str, bytes]:
    return {
        "signed": cms.sign(CONTENT, w.doctor.cert, w.doctor.key),
        "sealed": cms.seal(CONTENT, w.doctor.cert, w.doctor.key, [w.specialist.cert]),
    }


MALFORMED: dict[str, tuple[Callable[[dict[str, bytes]], bytes], str]] = {
    "empty": (lambda _: b"", "malformed"),
    "garbage": (lambda _: b"this is not DER at all", "malformed"),
    "random": (lambda _: b"\x04" + random.Random(5).randbytes(4095), "malformed"),
    "truncated signed": (lambda s: s["signed"][:-40], "truncated"),
    "truncated sealed": (lambda s: s["sealed"][: len(s["sealed"]) // 2], "truncated"),
    "cut in the header": (lambda s: s["sealed"][:3], "truncated"),
    "trailing bytes": (lambda s: s["sealed"] + b"\x00", "malformed"),
    "nested too deep": (lambda _: b"\x30\x80" * 200, "malformed"),
    "huge length": (lambda _: b"\x30\x88\xff\xff\xff\xff\xff\xff\xff\xff", "malformed"),
    "indefinite primitive": (lambda _: b"\x04\x80\x00\x00", "malformed"),
    "inner length overruns": (lambda _: b"\x30\x04\x06\x05\x2a\x03", "malformed"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_garbage_is_malformed(w: World, samples: dict[str, bytes], name: str) -> None:
    make, code = MALFORMED[name]
    data = make(samples)
    with pytest.raises(MalformedMessage) as caught:
        cms.verify(data, w.roots)
    assert caught.value.code == code
    assert isinstance(caught.value, TruncatedMessage) == (code == "truncated")
    with pytest.raises(MalformedMessage) as caught:
        cms.decrypt(data, w.specialist.cert, w.specialist.key)
    assert caught.value.code == code
    with pytest.raises(MalformedMessage) as caught:
        cms.open_sealed(data, w.specialist.cert, w.specialist.key, w.roots)
    assert caught.value.code == code


def test_wrong_kind_of_message_is_malformed(w: World, samples: dict[str, bytes]) -> None:
    with pytest.raises(MalformedMessage, match="signed data"):
        cms.verify(samples["sealed"], w.roots)
    with pytest.raises(MalformedMessage, match="enveloped"):
        cms.decrypt(samples["signed"], w.specialist.cert, w.specialist.key)
    with pytest.raises(MalformedMessage, match="ContentInfo"):
        cms.verify(der(w.doctor), w.roots)  # a certificate is not a ContentInfo


# --- OpenSSL interoperability -----------------------------------------------------------


class OpenSSL:
    """Runs ``openssl`` in a folder holding the test PKI's certificates and keys."""

    def __init__(self, folder: Path, w: World) -> None:
        self.binary = require_tool("openssl")
        self.folder = folder
        (folder / "ca.pem").write_bytes(pki.cert_to_pem(w.ca.cert))
        for name in ("doctor", "specialist"):
            getattr(w, name).write(folder, name)

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
def openssl(w: World, tmp_path: Path) -> OpenSSL:
    return OpenSSL(tmp_path, w)


@pytest.mark.parametrize("content", [CONTENT, LARGE], ids=["small", "large"])
def test_openssl_opens_our_sealed_message(w: World, openssl: OpenSSL, content: bytes) -> None:
    sealed = cms.seal(content, w.doctor.cert, w.doctor.key, [w.specialist.cert, w.doctor.cert])
    openssl.write("sealed.der", sealed)
    openssl("cms", "-decrypt", "-inform", "DER", "-in", "sealed.der", "-recip", "specialist.pem",
            "-inkey", "specialist.key", "-out", "signed.der")  # fmt: skip
    openssl("cms", "-verify", "-inform", "DER", "-in", "signed.der", "-CAfile", "ca.pem",
            "-binary", "-out", "content.bin")  # fmt: skip
    assert openssl.read("content.bin") == content


@pytest.mark.parametrize("stream", [False, True], ids=["der", "ber-stream"])
def test_we_decrypt_openssl_auth_enveloped_data(w: World, openssl: OpenSSL, stream: bool) -> None:
    openssl.write("content.bin", LARGE)
    openssl("cms", "-encrypt", "-binary", "-aes-256-gcm", "-recip", "specialist.pem",
            "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256",
            "-in", "content.bin", "-outform", "DER", "-out", "enveloped.der",
            *(["-stream"] if stream else []))  # fmt: skip
    enveloped = openssl.read("enveloped.der")
    assert enveloped.startswith(b"\x30\x80") == stream  # BER indefinite length when streamed
    assert cms.decrypt(enveloped, w.specialist.cert, w.specialist.key) == LARGE
    with pytest.raises(NotARecipient):
        cms.decrypt(enveloped, w.doctor.cert, w.doctor.key)


@pytest.mark.parametrize(
    "options",
    [[], ["-keyopt", "rsa_padding_mode:pss"], ["-stream"]],
    ids=["pkcs1v15", "pss", "ber-stream"],
)
def test_we_verify_openssl_signed_data(w: World, openssl: OpenSSL, options: list[str]) -> None:
    openssl.write("content.bin", LARGE)
    openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", "content.bin",
            "-signer", "doctor.pem", "-inkey", "doctor.key", "-outform", "DER",
            "-out", "signed.der", *options)  # fmt: skip
    signed = openssl.read("signed.der")
    signer_info = asn1_cms.ContentInfo.load(signed)["content"]["signer_infos"][0]
    expected = "rsassa_pss" if "rsa_padding_mode:pss" in options else "rsassa_pkcs1v15"
    assert signer_info["signature_algorithm"]["algorithm"].native == expected
    verified = cms.verify(signed, w.roots)
    assert verified.content == LARGE
    assert verified.signer == w.doctor.cert
    assert verified.signed_at is not None


@pytest.mark.parametrize(
    "options",
    [["-aes-256-gcm"], ["-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"]],
    ids=["pkcs1v15-key-transport", "cbc-enveloped-data"],
)
def test_weaker_openssl_profiles_are_refused(
    w: World, openssl: OpenSSL, options: list[str]
) -> None:
    openssl.write("content.bin", CONTENT)
    openssl("cms", "-encrypt", "-binary", "-recip", "specialist.pem", *options,
            "-in", "content.bin", "-outform", "DER", "-out", "enveloped.der")  # fmt: skip
    with pytest.raises(MalformedMessage):
        cms.decrypt(openssl.read("enveloped.der"), w.specialist.cert, w.specialist.key)
