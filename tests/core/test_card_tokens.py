"""What a PKCS#11 module shows to the card registration (``crypto.pkcs11_tokens``,
``cases.cardsetup``), without Qt, on real SoftHSM2 tokens: tokens and certificates read
without the PIN, a CPS-like card whose certificate and key carry different labels, and a
registration that writes nothing when the card refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.cardidentity import CardIdentityRefused, card_slot, is_card_identity
from cases.cardsetup import read_encryption_file, register_from_token
from crypto import pki
from crypto.errors import MalformedMessage
from crypto.pkcs11 import (
    CardKeyMissing,
    CardModuleMissing,
    CardPinWrong,
    CardSlot,
    generate_signing_key,
    store_certificate,
)
from crypto.pkcs11_tokens import (
    MODULE_PLACES,
    list_certificates,
    list_tokens,
    proposed_modules,
    signing_key_label,
)
from crypto.pkcs12 import export_pkcs12
from tests.core.test_card_identity import _same_person_certificate, a_profile
from tests.support.pki import world
from tests.support.softhsm import PIN, SoftHsm, softhsm


@pytest.fixture
def hsm() -> SoftHsm:
    return softhsm()


def cps_like_card(hsm: SoftHsm) -> tuple[str, pki.x509.Certificate]:
    """A token whose signing key is labelled ``CPS_PRIV_SIG`` and its certificate
    ``Certificat de Signature CPS``, beside an authentication key and certificate."""
    w = world()
    label = hsm.token()
    certificates = {}
    for key_label, cert_label in (
        ("CPS_PRIV_AUT", "Certificat d'Authentification CPS"),
        ("CPS_PRIV_SIG", "Certificat de Signature CPS"),
    ):
        public = generate_signing_key(CardSlot(hsm.module, label, key_label), PIN)
        cert = _same_person_certificate(w.ca.cert, w.ca.key, w.doctor.cert, public)
        store_certificate(CardSlot(hsm.module, label, cert_label), PIN, cert)
        certificates[key_label] = cert
    return label, certificates["CPS_PRIV_SIG"]


def test_tokens_and_certificates_are_read_without_the_pin(hsm: SoftHsm) -> None:
    label, signing = cps_like_card(hsm)
    tokens = {t.label: t for t in list_tokens(hsm.module)}
    assert label in tokens
    assert tokens[label].pin is None
    assert tokens[label].model  # what the reader says of the card
    assert "" not in tokens  # SoftHSM's blank slot names nobody
    found = list_certificates(hsm.module, label)
    assert {c.label for c in found} == {
        "Certificat d'Authentification CPS",
        "Certificat de Signature CPS",
    }
    assert signing in [c.certificate for c in found]
    assert list_certificates(hsm.module, hsm.token()) == []  # a card with none


def test_the_key_of_a_certificate_is_found_whatever_its_label(hsm: SoftHsm) -> None:
    label, signing = cps_like_card(hsm)
    assert signing_key_label(hsm.module, label, PIN, signing) == "CPS_PRIV_SIG"
    with pytest.raises(CardKeyMissing):  # a certificate whose key is on no card of these
        signing_key_label(hsm.module, label, PIN, world().doctor.cert)
    with pytest.raises(CardPinWrong):
        signing_key_label(hsm.module, label, "000000", signing)


def test_a_cps_like_card_is_registered_and_unlocks(hsm: SoftHsm, tmp_path: Path) -> None:
    w = world()
    label, signing = cps_like_card(hsm)
    profile = a_profile(tmp_path / "profile")
    encryption = (w.doctor.key, w.doctor.cert)
    with pytest.raises(CardPinWrong):
        register_from_token(profile, hsm.module, label, "000000", signing, encryption)
    assert profile.identities() == []  # nothing written for a refused PIN
    info = register_from_token(profile, hsm.module, label, PIN, signing, encryption)
    assert info.id == "dr-claire-martin"
    assert info.role == "doctor"
    assert is_card_identity(profile, info.id)
    assert card_slot(profile, info.id).key_label == "CPS_PRIV_SIG"
    me = profile.unlock(info.id, PIN.encode())
    assert me.signer_certificate == signing
    with pytest.raises(CardIdentityRefused) as again:  # the same person twice
        register_from_token(profile, hsm.module, label, PIN, signing, encryption)
    assert again.value.code == "identity_exists"
    with pytest.raises(CardIdentityRefused) as bad_id:
        register_from_token(
            profile, hsm.module, label, PIN, signing, encryption, identity_id="../evil"
        )
    assert bad_id.value.code == "identity_id_refused"
    assert not (tmp_path / "evil").exists()


def test_encryption_files_are_read_within_bounds(tmp_path: Path) -> None:
    w = world()
    good = tmp_path / "ok.p12"
    good.write_bytes(export_pkcs12(w.doctor.key, w.doctor.cert, [], b"secret", "x"))
    key, cert = read_encryption_file(good, b"secret")
    assert cert == w.doctor.cert
    assert key.public_key() == cert.public_key()
    huge = tmp_path / "huge.p12"
    huge.write_bytes(b"\x30" * (4 << 20))
    with pytest.raises(MalformedMessage):
        read_encryption_file(huge, b"secret")
    with pytest.raises(CardIdentityRefused) as unreadable:
        read_encryption_file(tmp_path / "absent.p12", b"secret")
    assert unreadable.value.code == "file_unreadable"


def test_the_usual_module_places_are_proposed_when_present(tmp_path: Path) -> None:
    assert all(p.endswith(".dll") for p in MODULE_PLACES["win32"])
    present = proposed_modules("linux")
    assert all(Path(p).is_file() for p in present)
    assert set(present) <= set(MODULE_PLACES["linux"])
    assert proposed_modules("plan9") == []
    with pytest.raises(CardModuleMissing):
        list_tokens(str(tmp_path / "libabsent.so"))
