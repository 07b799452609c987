"""Card identities (``cases.cardidentity``, ``crypto.pkcs11``) on a real SoftHSM2 token: the
signing key never leaves the token, the decryption key stays a software key bound to the
card, the PIN is typed and never kept. Real CA, real CMS, ``openssl cms``, the real platform.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from cases import cardidentity
from cases.anchor import checkpoint_content, sign_checkpoint
from cases.cardidentity import CardPairingRefused, add_card_identity
from cases.model import Opinion
from cases.profile import IdentityInfo, Profile, UnlockedIdentity
from crypto import audit, cms, pki
from crypto.passphrase import DEMO_PASSPHRASE
from crypto.pkcs11 import (
    CardAbsent,
    CardLocked,
    CardModuleMissing,
    CardPinWrong,
    CardSlot,
    TokenSigningKey,
    generate_signing_key,
    read_certificate,
    store_certificate,
)
from outbox.platform import JournalCheckpoint
from tests.core.test_workstation import a_case, unlock, wait_for
from tests.support.demo import DemoEnv
from tests.support.pki import world
from tests.support.softhsm import FINAL_TRY, LOCKED, PIN, SoftHsm, softhsm
from tests.support.tools import require_tool


@pytest.fixture
def hsm() -> SoftHsm:
    return softhsm()


def _same_person_certificate(
    ca_cert: pki.x509.Certificate,
    ca_key: pki.PrivateKey,
    like: pki.x509.Certificate,
    public: pki.PublicKey,
) -> pki.x509.Certificate:
    """A signing-only certificate of the person ``like`` names (the card's certificate)."""
    organization = like.subject.get_attributes_for_oid(pki.x509.NameOID.ORGANIZATION_NAME)
    return pki.issue_person_certificate(
        ca_cert,
        ca_key,
        public,
        common_name=pki.display_name(like),
        role=pki.role_of(like) or "doctor",
        organization=str(organization[0].value),
        can_decrypt=False,
    )


@dataclass
class Card:
    slot: CardSlot
    certificate: pki.x509.Certificate


def new_card(
    hsm: SoftHsm, module_ca: tuple[pki.x509.Certificate, pki.PrivateKey], like: pki.x509.Certificate
) -> Card:
    """A token with a key pair generated on it and its certificate from the CA."""
    slot = CardSlot(hsm.module, hsm.token(), "Signature CPS")
    public = generate_signing_key(slot, PIN)
    certificate = _same_person_certificate(*module_ca, like, public)
    store_certificate(slot, PIN, certificate)
    return Card(slot, certificate)


def a_profile(root: Path) -> Profile:
    return Profile.create(
        root,
        station_id="poste-test",
        platform_url="http://127.0.0.1:9",
        token="t" * 32,
        ca_pem=pki.cert_to_pem(world().ca.cert),
        token_in_keyring=False,
    )


DOCTOR = IdentityInfo("dr-martin", "Dr Claire Martin", "doctor", "USMP Fresnes")


@pytest.fixture
def registered(hsm: SoftHsm, tmp_path: Path) -> tuple[Profile, Card]:
    w = world()
    card = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    profile = a_profile(tmp_path / "profile")
    add_card_identity(
        profile, DOCTOR, card.slot, PIN, card.certificate, w.doctor.cert, w.doctor.key
    )
    return profile, card


def test_a_bundle_signed_on_the_card_verifies_with_openssl_and_ours(
    registered: tuple[Profile, Card], tmp_path: Path
) -> None:
    profile, card = registered
    me = profile.unlock(DOCTOR.id, PIN.encode())
    assert isinstance(me.signer_key, TokenSigningKey)
    assert me.signer_certificate == card.certificate
    assert me.certificate == world().doctor.cert  # the software certificate reads
    assert me.fingerprint == pki.fingerprint(card.certificate)
    assert me.reader_fingerprint == pki.fingerprint(world().doctor.cert)
    assert read_certificate(card.slot) == card.certificate  # what the card carries

    content = b"une demande de tele-expertise" * 100
    w = world()
    sealed = cms.seal(
        content, me.signer_certificate, me.signer_key, [w.specialist.cert, me.certificate]
    )
    opened = cms.open_sealed(sealed, w.specialist.cert, w.specialist.key, w.roots)
    assert opened.content == content
    assert opened.signer == card.certificate
    mine = cms.open_sealed(sealed, me.certificate, me.key, w.roots)  # the author rereads it
    assert mine.content == content

    openssl = require_tool("openssl")
    w.specialist.write(tmp_path, "specialist")
    (tmp_path / "ca.pem").write_bytes(pki.cert_to_pem(w.ca.cert))
    (tmp_path / "sealed.der").write_bytes(sealed)
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run([openssl, "cms", "-decrypt", "-inform", "DER", "-in", "sealed.der",
                    "-recip", "specialist.pem", "-inkey", "specialist.key", "-out", "signed.der"],
                   **run)  # type: ignore[call-overload]  # fmt: skip
    subprocess.run([openssl, "cms", "-verify", "-inform", "DER", "-in", "signed.der",
                    "-CAfile", "ca.pem", "-binary", "-out", "content.bin"],
                   **run)  # type: ignore[call-overload]  # fmt: skip
    assert (tmp_path / "content.bin").read_bytes() == content
    # a changed byte of the signed content breaks the signature for openssl too
    signed = bytearray((tmp_path / "signed.der").read_bytes())
    at = bytes(signed).index(b"une demande")
    signed[at] ^= 1
    (tmp_path / "forged.der").write_bytes(bytes(signed))
    forged = subprocess.run([openssl, "cms", "-verify", "-inform", "DER", "-in", "forged.der",
                             "-CAfile", "ca.pem", "-binary", "-out", "x.bin"],
                            cwd=tmp_path, capture_output=True)  # fmt: skip
    assert forged.returncode != 0


def test_the_card_key_never_decrypts_nor_leaves(registered: tuple[Profile, Card]) -> None:
    profile, _card = registered
    me = profile.unlock(DOCTOR.id, PIN.encode())
    with pytest.raises(TypeError):
        me.signer_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    # a bundle cannot be "signed" with the software certificate and the card's key
    with pytest.raises(ValueError, match="does not belong"):
        cms.sign(b"x", me.certificate, me.signer_key)


def test_a_wrong_pin_says_so_and_the_last_try_is_shown(
    registered: tuple[Profile, Card], hsm: SoftHsm
) -> None:
    profile, card = registered
    with pytest.raises(CardPinWrong) as wrong:
        profile.unlock(DOCTOR.id, b"000000")
    assert wrong.value.code in ("card_pin_wrong", "card_pin_wrong_low")
    hsm.set_pin_flags(card.slot.token_label, FINAL_TRY)
    with pytest.raises(CardPinWrong) as final:
        profile.unlock(DOCTOR.id, b"111111")
    assert final.value.code == "card_pin_wrong_final"
    assert final.value.tries == "final"
    # the right PIN still opens it, and the profile's own delay never applied
    assert profile.unlock(DOCTOR.id, PIN.encode()).info == DOCTOR
    assert profile.unlock_delay(DOCTOR.id) == 0


def test_a_blocked_card_is_not_even_tried(registered: tuple[Profile, Card], hsm: SoftHsm) -> None:
    profile, card = registered
    hsm.set_pin_flags(card.slot.token_label, LOCKED)
    with pytest.raises(CardLocked) as locked:
        profile.unlock(DOCTOR.id, PIN.encode())  # even the right PIN: the card is blocked
    assert locked.value.code == "card_locked"


def test_a_removed_card_is_said_absent_at_login_and_while_signing(
    registered: tuple[Profile, Card], hsm: SoftHsm
) -> None:
    profile, card = registered
    me = profile.unlock(DOCTOR.id, PIN.encode())
    hsm.remove(card.slot.token_label)
    with pytest.raises(CardAbsent) as signing:
        cms.sign(b"after the card left", me.signer_certificate, me.signer_key)
    assert signing.value.code == "card_absent"
    with pytest.raises(CardAbsent):
        profile.unlock(DOCTOR.id, PIN.encode())


def test_a_missing_token_or_module_is_plain(
    registered: tuple[Profile, Card], tmp_path: Path
) -> None:
    profile, card = registered
    folder = profile.identity_folder(DOCTOR.id)
    text = (folder / cardidentity.CARD_FILE).read_text("utf-8")
    (folder / cardidentity.CARD_FILE).write_text(
        text.replace(card.slot.token_label, "carte-inconnue"), "utf-8"
    )
    with pytest.raises(CardAbsent):
        profile.unlock(DOCTOR.id, PIN.encode())
    (folder / cardidentity.CARD_FILE).write_text(
        text.replace(card.slot.module, str(tmp_path / "nothing.so")), "utf-8"
    )
    with pytest.raises(CardModuleMissing) as gone:
        profile.unlock(DOCTOR.id, PIN.encode())
    assert gone.value.code == "card_module_missing"


def test_an_encryption_certificate_of_someone_else_is_refused(hsm: SoftHsm, tmp_path: Path) -> None:
    w = world()
    card = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    profile = a_profile(tmp_path / "p")
    with pytest.raises(CardPairingRefused) as other:  # the specialist's reading key
        add_card_identity(
            profile, DOCTOR, card.slot, PIN, card.certificate, w.specialist.cert, w.specialist.key
        )
    assert other.value.reason == "subject"
    with pytest.raises(CardPairingRefused) as rogue:  # a look-alike from another CA
        add_card_identity(
            profile, DOCTOR, card.slot, PIN, card.certificate, w.rogue_doctor.cert,
            w.rogue_doctor.key,
        )  # fmt: skip
    assert rogue.value.reason == "issuer"
    assert not profile.identity_folder(DOCTOR.id).exists()  # nothing written
    # registered right, then the encryption certificate is swapped on disk: refused at unlock
    add_card_identity(
        profile, DOCTOR, card.slot, PIN, card.certificate, w.doctor.cert, w.doctor.key
    )
    (profile.identity_folder(DOCTOR.id) / "cert.pem").write_bytes(
        pki.cert_to_pem(w.specialist.cert)
    )
    with pytest.raises(CardPairingRefused):
        profile.unlock(DOCTOR.id, PIN.encode())


def test_another_card_of_the_same_person_does_not_open_the_identity(
    registered: tuple[Profile, Card], hsm: SoftHsm
) -> None:
    profile, _card = registered
    w = world()
    other = new_card(hsm, (w.ca.cert, w.ca.key), w.doctor.cert)
    folder = profile.identity_folder(DOCTOR.id)
    text = (folder / cardidentity.CARD_FILE).read_text("utf-8")
    (folder / cardidentity.CARD_FILE).write_text(
        text.replace(_card.slot.token_label, other.slot.token_label), "utf-8"
    )
    with pytest.raises(CardPairingRefused) as refused:
        profile.unlock(DOCTOR.id, PIN.encode())
    assert refused.value.reason == "card_key"


def _demo_card_person(
    demo_env: DemoEnv, hsm: SoftHsm, root: Path, identity_id: str
) -> tuple[Card, UnlockedIdentity]:
    """A demo person registered again as a card identity: the card signs, their demo key
    (the certificate the platform's directory holds) reads."""
    layout = demo_env.layout
    software = unlock(root, identity_id)
    ca_cert = pki.load_cert_pem((layout.ca / "ca.pem").read_bytes())
    ca_key = pki.load_private_key(layout.ca / "ca.key", DEMO_PASSPHRASE.encode(), kind="any")
    card = new_card(hsm, (ca_cert, ca_key), software.certificate)
    profile = Profile(root)
    shutil.rmtree(profile.identity_folder(identity_id))
    add_card_identity(
        profile, software.info, card.slot, PIN, card.certificate, software.certificate,
        software.key,
    )  # fmt: skip
    return card, profile.unlock(identity_id, PIN.encode())


def _demo_card_doctor(demo_env: DemoEnv, hsm: SoftHsm) -> tuple[Card, UnlockedIdentity]:
    return _demo_card_person(demo_env, hsm, demo_env.layout.unit, "dr-bernard")


def test_a_card_doctor_and_a_specialist_through_the_real_platform(
    demo_env: DemoEnv, hsm: SoftHsm, tmp_path: Path
) -> None:
    from app.session import Session

    card, doctor = _demo_card_doctor(demo_env, hsm)
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    unit = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    hospital = Session(Profile(demo_env.layout.hospital), poll_interval=0.2)
    for session in (unit, hospital):
        session.start()
    try:
        to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
        bundle_id = unit.workstation.send_case(doctor, a_case(), to)
        wait_for(lambda: hospital.inbox.items("pr-dubois"))
        hospital.workstation.refresh_directory()
        [received], unreadable = hospital.workstation.threads(expert)
        assert unreadable == []
        assert received.case.sender.fingerprint == pki.fingerprint(card.certificate)

        # the specialist's receipt reaches the card doctor's outbox job
        def acknowledged() -> bool:
            unit.workstation.threads(doctor)  # the doctor's station takes in the receipt
            job = unit.outbox.get(bundle_id)
            return job is not None and job.state == "acknowledged"

        wait_for(acknowledged)
        hospital.workstation.send_opinion(
            expert, received, Opinion(received.case_id, "Psoriasis en plaques.", outcome="on_site")
        )

        def answered() -> bool:
            threads, _ = unit.workstation.threads(doctor)
            return bool(threads and threads[0].opinions)

        wait_for(answered)
        [mine], unreadable = unit.workstation.threads(doctor)
        assert unreadable == []
        assert mine.opinions[0].sender.fingerprint == expert.fingerprint
    finally:
        for session in (unit, hospital):
            session.stop()

    # the archived copy: openssl reads it with the doctor's software key and verifies the card
    openssl = require_tool("openssl")
    sealed = (demo_env.layout.unit / "archive" / f"{bundle_id}.cms").read_bytes()
    (tmp_path / "sealed.der").write_bytes(sealed)
    (tmp_path / "me.pem").write_bytes(pki.cert_to_pem(doctor.certificate))
    (tmp_path / "me.key").write_bytes(
        doctor.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    shutil.copy(demo_env.layout.ca / "ca.pem", tmp_path / "ca.pem")
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run([openssl, "cms", "-decrypt", "-inform", "DER", "-in", "sealed.der",
                    "-recip", "me.pem", "-inkey", "me.key", "-out", "signed.der"],
                   **run)  # type: ignore[call-overload]  # fmt: skip
    subprocess.run([openssl, "cms", "-verify", "-inform", "DER", "-in", "signed.der",
                    "-CAfile", "ca.pem", "-binary", "-out", "bundle.bin",
                    "-signer", "signer.pem"], **run)  # type: ignore[call-overload]  # fmt: skip
    signer = pki.load_cert_pem((tmp_path / "signer.pem").read_bytes())
    assert signer == card.certificate


def test_the_pin_is_nowhere_in_the_profile(demo_env: DemoEnv, hsm: SoftHsm) -> None:
    _card, doctor = _demo_card_doctor(demo_env, hsm)
    profile = Profile(demo_env.layout.unit)
    with pytest.raises(CardPinWrong):
        profile.unlock("dr-bernard", b"424242")  # a wrong PIN, too, stays nowhere
    # the wrong PIN logged the card out; the right one logs in again, and the identity
    # unlocked before signs again through the new session
    profile.unlock("dr-bernard", PIN.encode())
    # the journal's checkpoint is signed on the card, and verifies as the card's
    count, head = audit.head(profile.audit_path)
    when = "2026-12-07T01:00:00Z"
    signed = sign_checkpoint(profile.station_id, JournalCheckpoint(count, head, when), doctor)
    ca = pki.load_cert_pem((demo_env.layout.ca / "ca.pem").read_bytes())
    verified = cms.verify(base64.b64decode(signed.signature or ""), [ca])
    assert verified.signer == doctor.signer_certificate
    assert verified.content == checkpoint_content(profile.station_id, count, head, when)
    needles = [PIN.encode(), b"424242", PIN.encode("utf-16-le")]
    for path in demo_env.layout.unit.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path


def test_identity_new_on_a_card_then_login_with_its_pin(
    hsm: SoftHsm, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    w = world()
    ca_dir = tmp_path / "ca"
    ca_dir.mkdir()
    w.ca.write(ca_dir, "ca")
    profile = a_profile(tmp_path / "cli")
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text(PIN + "\n", "utf-8")
    label = hsm.token()
    args = ["--profile", str(profile.root), "identity", "new", "Dr Lucie Roy", "--role",
            "doctor", "--ca-dir", str(ca_dir), "--pkcs11-module", hsm.module,
            "--token-label", label, "--key-label", "Signature",
            "--pin-file", str(pin_file)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr()
    me = Profile(profile.root).unlock("dr-lucie-roy", PIN.encode())
    assert isinstance(me.signer_key, TokenSigningKey)
    # bundle seal signs on the card; the specialist pairs the card with the reading cert
    w.specialist.write(tmp_path, "specialist")
    (tmp_path / "note.txt").write_text("bilan", "utf-8")
    sealed_path = tmp_path / "out.p7m"
    seal = ["--profile", str(profile.root), "bundle", "seal", "--signer", "dr-lucie-roy",
            "--to", str(tmp_path / "specialist.pem"), "-o", str(sealed_path),
            "--passphrase-file", str(pin_file), str(tmp_path / "note.txt")]  # fmt: skip
    assert main(seal) == 0, capsys.readouterr()
    opened = cms.open_sealed(sealed_path.read_bytes(), w.specialist.cert, w.specialist.key, w.roots)
    assert opened.signer == me.signer_certificate
    assert cardidentity.paired_reader(opened.signer, opened.others, w.roots) == (
        me.reader_fingerprint
    )
    # a card identity is not exported: its signing key stays on the card
    export = ["--profile", str(profile.root), "identity", "export", "dr-lucie-roy",
              "-o", str(tmp_path / "x.p12"), "--passphrase-file", str(pin_file)]  # fmt: skip
    assert main(export) != 0
    assert "carte" in capsys.readouterr().err
    assert not (tmp_path / "x.p12").exists()
    assert pki.can_decrypt(me.certificate)
    assert not pki.can_decrypt(me.signer_certificate)
    # the card is now a CPS-like card: import registers it in another profile from a .p12
    (tmp_path / "wrong.txt").write_text("000000\n", "utf-8")
    other = a_profile(tmp_path / "other")
    from crypto.pkcs12 import export_pkcs12

    (tmp_path / "enc.p12").write_bytes(
        export_pkcs12(me.key, me.certificate, [w.ca.cert], b"un secret pour l'export", "Roy")
    )
    (tmp_path / "p12pass.txt").write_text("un secret pour l'export\n", "utf-8")
    base = ["--profile", str(other.root), "identity", "import", str(tmp_path / "enc.p12"),
            "--passphrase-file", str(tmp_path / "p12pass.txt"), "--pkcs11-module", hsm.module,
            "--token-label", label, "--key-label", "Signature"]  # fmt: skip
    assert main([*base, "--pin-file", str(tmp_path / "wrong.txt")]) != 0
    said = capsys.readouterr().err
    assert "PIN" in said
    assert "Traceback" not in said
    assert main([*base, "--pin-file", str(pin_file)]) == 0, capsys.readouterr()
    assert Profile(other.root).unlock("dr-lucie-roy", PIN.encode()).fingerprint == me.fingerprint


def test_a_card_specialists_receipt_and_opinion_are_admitted_by_the_doctor(
    demo_env: DemoEnv, hsm: SoftHsm
) -> None:
    """The specialist signs on the card; the doctor's station, which encrypted the request
    to the specialist's software certificate, pairs the two and admits both."""
    from app.session import Session

    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    card, expert = _demo_card_person(demo_env, hsm, demo_env.layout.hospital, "pr-dubois")
    unit = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    hospital = Session(Profile(demo_env.layout.hospital), poll_interval=0.2)
    for session in (unit, hospital):
        session.start()
    try:
        to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
        assert to.certificate_pem.encode() == pki.cert_to_pem(expert.certificate)
        bundle_id = unit.workstation.send_case(doctor, a_case(), to)
        wait_for(lambda: hospital.inbox.items("pr-dubois"))
        hospital.workstation.refresh_directory()
        [received], unreadable = hospital.workstation.threads(expert)
        assert unreadable == []

        def acknowledged() -> bool:
            unit.workstation.threads(doctor)
            job = unit.outbox.get(bundle_id)
            return job is not None and job.state == "acknowledged"

        wait_for(acknowledged)  # the receipt signed on the card was admitted
        opinion_id = hospital.workstation.send_opinion(
            expert, received, Opinion(received.case_id, "Eczéma de contact.", outcome="on_site")
        )

        def answered() -> bool:
            threads, _ = unit.workstation.threads(doctor)
            return bool(threads and threads[0].opinions)

        wait_for(answered)
        [mine], unreadable = unit.workstation.threads(doctor)
        assert unreadable == []
        [opinion] = mine.opinions
        assert opinion.bundle_id == opinion_id
        assert opinion.sender.fingerprint == pki.fingerprint(card.certificate)
        assert opinion.signer_reader == pki.fingerprint(expert.certificate)

        def opinion_acknowledged() -> bool:  # the doctor's receipt, taken in by the card
            hospital.workstation.threads(expert)
            job = hospital.outbox.get(opinion_id)
            return job is not None and job.state == "acknowledged"

        wait_for(opinion_acknowledged)
    finally:
        for session in (unit, hospital):
            session.stop()


def test_a_signature_cannot_borrow_someone_elses_reading_certificate() -> None:
    """What a signer embeds counts as its reading certificate only when it is its pair: a
    forger who embeds the specialist's certificate, or a look-alike from another CA, is not
    counted as the request's recipient."""
    w = world()
    key = pki.new_private_key("ec")
    mine = pki.issue_person_certificate(
        w.ca.cert, w.ca.key, key.public_key(), common_name="Dr Claire Martin", role="doctor",
        organization="USMP Fresnes", can_decrypt=True,
    )  # fmt: skip
    signed = cms.sign(b"x", w.doctor.cert, w.doctor.key, extra_certificates=[w.specialist.cert])
    verified = cms.verify(signed, w.roots)
    assert verified.others == (w.specialist.cert,)
    assert cardidentity.paired_reader(verified.signer, verified.others, w.roots) is None
    assert cardidentity.paired_reader(w.doctor.cert, [w.rogue_doctor.cert], w.roots) is None
    assert cardidentity.paired_reader(w.doctor.cert, [mine], w.roots) == pki.fingerprint(mine)
    assert cardidentity.paired_reader(w.doctor.cert, [mine], [w.rogue_ca.cert]) is None
