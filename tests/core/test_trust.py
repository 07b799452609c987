"""cases.trust: the profile's trust store (CAs, pinned certificates, CRLs) and address book."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from cases.errors import TrustError
from cases.profile import Profile
from cases.trust import AddressBook, TrustStore, load_certificate
from crypto import pki
from crypto.errors import MalformedMessage, UntrustedSigner
from tests.support.pki import Identity, World, world


@pytest.fixture(scope="module")
def w() -> World:
    return world()


@pytest.fixture
def store(w: World, tmp_path: Path) -> TrustStore:
    """A profile as ``Profile.create`` leaves it: ``trust/ca.pem`` holds its CA."""
    profile = Profile.create(
        tmp_path / "p",
        station_id="s",
        platform_url="",
        token="t",
        ca_pem=pki.cert_to_pem(w.ca.cert),
    )
    return TrustStore(profile.trust_dir)


def crl(ca: Identity, serials: list[int], when: datetime) -> x509.CertificateRevocationList:
    """A CRL built with pyca's builder directly (independent of crypto.pki)."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(when)
        .next_update(when + timedelta(days=7))
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca.key, hashes.SHA256())


# --- trust store --------------------------------------------------------------------------


def test_the_profiles_ca_file_is_read_as_it_is(store: TrustStore, w: World, tmp_path: Path) -> None:
    assert store.cas() == [w.ca.cert]
    assert store.cas() == Profile(tmp_path / "p").trust_roots()
    assert [(e.kind, e.fingerprint) for e in store.list()] == [("ca", pki.fingerprint(w.ca.cert))]


def test_adding_a_ca(store: TrustStore, w: World) -> None:
    path = store.add_ca(w.rogue_ca.cert)
    assert path.name == f"ca-{pki.fingerprint(w.rogue_ca.cert)[:16]}.pem"
    assert store.cas() == [w.ca.cert, w.rogue_ca.cert]
    store.add_ca(w.rogue_ca.cert)  # twice is once
    assert len(store.cas()) == 2
    pki.validate_certificate(w.rogue_doctor.cert, store.anchors(), purpose="sign")


def test_a_person_is_not_a_ca(store: TrustStore, w: World) -> None:
    with pytest.raises(TrustError) as caught:
        store.add_ca(w.doctor.cert)
    assert caught.value.code == "not_a_ca"
    assert store.cas() == [w.ca.cert]


def test_a_pinned_certificate_validates_as_itself_only(store: TrustStore, w: World) -> None:
    with pytest.raises(UntrustedSigner):
        pki.validate_certificate(w.rogue_doctor.cert, store.anchors(), purpose="sign")
    store.add_pinned(w.rogue_doctor.cert)
    assert store.pinned() == [w.rogue_doctor.cert]
    assert store.cas() == [w.ca.cert]
    pki.validate_certificate(w.rogue_doctor.cert, store.anchors(), purpose="sign")
    pki.validate_certificate(w.rogue_doctor.cert, store.anchors(), purpose="encrypt")
    # …but the rogue CA's other certificates stay untrusted.
    key = pki.new_private_key()
    other = pki.issue_person_certificate(
        w.rogue_ca.cert, w.rogue_ca.key, key.public_key(),
        common_name="Dr X", role="doctor", organization="O", can_decrypt=True,
    )  # fmt: skip
    with pytest.raises(UntrustedSigner):
        pki.validate_certificate(other, store.anchors(), purpose="sign")
    kinds = sorted(e.kind for e in store.list())
    assert kinds == ["ca", "pinned"]


def test_a_ca_is_not_pinned(store: TrustStore, w: World) -> None:
    with pytest.raises(TrustError) as caught:
        store.add_pinned(w.rogue_ca.cert)
    assert caught.value.code == "not_end_entity"


def test_revocation_lists(store: TrustStore, w: World) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    first = crl(w.ca, [w.doctor.cert.serial_number], now - timedelta(hours=1))
    path = store.add_crl(first.public_bytes(serialization.Encoding.DER))
    assert path.suffix == ".crl"
    assert [c.get_revoked_certificate_by_serial_number(w.doctor.cert.serial_number) is not None
            for c in store.crls()] == [True]  # fmt: skip
    newer = crl(w.ca, [], now)
    store.add_crl(newer)
    assert store.crls() == [newer]  # one list per CA: the newest
    with pytest.raises(TrustError) as caught:
        store.add_crl(first)
    assert caught.value.code == "stale_crl"
    with pytest.raises(TrustError) as caught:
        store.add_crl(crl(w.rogue_ca, [], now))  # signed by a CA we do not trust
    assert caught.value.code == "untrusted_crl"
    with pytest.raises(MalformedMessage):
        store.add_crl(b"not a crl")
    assert [e.kind for e in store.list()] == ["ca", "crl"]


def test_a_damaged_trust_file_is_skipped(store: TrustStore, w: World) -> None:
    store.add_ca(w.rogue_ca.cert)
    (store.folder / "ca-broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    (store.folder / "x.crl").write_bytes(b"garbage")
    assert store.cas() == [w.ca.cert, w.rogue_ca.cert]
    assert store.crls() == []


def test_an_empty_store(tmp_path: Path) -> None:
    empty = TrustStore(tmp_path / "nothing")
    assert (empty.cas(), empty.pinned(), empty.crls(), empty.list()) == ([], [], [], [])


# --- certificates from files --------------------------------------------------------------


def test_certificates_load_from_pem_and_der(w: World) -> None:
    assert load_certificate(pki.cert_to_pem(w.doctor.cert)) == w.doctor.cert
    assert load_certificate(w.doctor.cert.public_bytes(serialization.Encoding.DER)) == w.doctor.cert
    with pytest.raises(MalformedMessage):
        load_certificate(b"hello")


# --- address book -------------------------------------------------------------------------


@pytest.fixture
def book(tmp_path: Path) -> AddressBook:
    return AddressBook(tmp_path / "addressbook.json")


def test_a_contact_comes_from_its_certificate(book: AddressBook, w: World) -> None:
    contact = book.add(w.specialist.cert, specialty="dermatology")
    assert contact.name == "Dr Paul Lefèvre"
    assert contact.role == "specialist"
    assert contact.organization == "Hôpital Saint-Louis"
    assert contact.fingerprint == pki.fingerprint(w.specialist.cert)
    assert contact.certificate == w.specialist.cert
    saved = json.loads(book.path.read_text("utf-8"))
    assert saved["version"] == 1
    assert saved["contacts"][0]["specialty"] == "dermatology"
    assert "BEGIN CERTIFICATE" in saved["contacts"][0]["certificate_pem"]
    assert AddressBook(book.path).contacts() == [contact]
    assert [p.name for p in book.path.parent.iterdir()] == ["addressbook.json"]  # no temp left


def test_lookup_by_name_or_fingerprint(book: AddressBook, w: World) -> None:
    book.add(w.specialist.cert)
    book.add(w.other_specialist.cert, name="Dermato Cochin")
    fingerprint = pki.fingerprint(w.other_specialist.cert)
    assert book.find("dermato cochin") is not None
    assert book.find(fingerprint).name == "Dermato Cochin"  # type: ignore[union-attr]
    colons = ":".join(fingerprint[i : i + 2] for i in range(0, 16, 2)).upper()
    assert book.find(colons).name == "Dermato Cochin"  # type: ignore[union-attr]
    assert book.find(fingerprint[:6]) is None  # too short to be a fingerprint
    assert book.find("Dr Nobody") is None


def test_an_ambiguous_prefix_is_refused(book: AddressBook, w: World) -> None:
    book.add(w.specialist.cert)
    raw = json.loads(book.path.read_text("utf-8"))
    twin = dict(
        raw["contacts"][0],
        name="Twin",
        fingerprint=raw["contacts"][0]["fingerprint"][:8] + "0" * 56,
    )
    raw["contacts"].append(twin)
    book.path.write_text(json.dumps(raw), "utf-8")
    with pytest.raises(TrustError) as caught:
        book.find(twin["fingerprint"][:8])
    assert caught.value.code == "ambiguous_contact"


def test_a_name_belongs_to_one_certificate(book: AddressBook, w: World) -> None:
    book.add(w.specialist.cert, name="Dermatologue")
    with pytest.raises(TrustError) as caught:
        book.add(w.other_specialist.cert, name="dermatologue")
    assert caught.value.code == "duplicate_contact"
    book.add(w.other_specialist.cert, name="Dermatologue", replace=True)  # renewed certificate
    assert [c.fingerprint for c in book.contacts()] == [pki.fingerprint(w.other_specialist.cert)]
    book.add(w.other_specialist.cert, name="Dermato")  # same certificate: updated in place
    assert [c.name for c in book.contacts()] == ["Dermato"]
    assert book.remove("Dermato")
    assert not book.remove("Dermato")
    assert book.contacts() == []


def test_a_secretary_cannot_be_a_contact(book: AddressBook, w: World) -> None:
    with pytest.raises(TrustError) as caught:
        book.add(w.secretary.cert)
    assert caught.value.code == "invalid_recipient"


def test_resolve_a_file_a_name_or_a_fingerprint(
    book: AddressBook, w: World, tmp_path: Path
) -> None:
    book.add(w.specialist.cert, name="Saint-Louis")
    pem, der = tmp_path / "c.pem", tmp_path / "c.der"
    pem.write_bytes(pki.cert_to_pem(w.doctor.cert))
    der.write_bytes(w.doctor.cert.public_bytes(serialization.Encoding.DER))
    assert book.resolve(str(pem)) == w.doctor.cert
    assert book.resolve(str(der)) == w.doctor.cert
    assert book.resolve("Saint-Louis") == w.specialist.cert
    assert book.resolve(pki.fingerprint(w.specialist.cert)[:12]) == w.specialist.cert
    with pytest.raises(TrustError) as caught:
        book.resolve("Nobody")
    assert caught.value.code == "unknown_contact"
    (tmp_path / "junk.pem").write_bytes(b"junk")
    with pytest.raises(MalformedMessage):
        book.resolve(str(tmp_path / "junk.pem"))


def test_a_damaged_address_book_says_so(book: AddressBook) -> None:
    book.path.write_text("{not json", "utf-8")
    with pytest.raises(TrustError) as caught:
        book.contacts()
    assert caught.value.code == "addressbook_damaged"
