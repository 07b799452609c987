"""A pinned certificate is checked against its issuer's revocation list when that CA is in
the trust store (issue 15): for signing (opening bundles) and for encryption (choosing
recipients). A pinned certificate of an unknown issuer stays trusted as it is; lists that
its CA did not sign are treated as for a chain. OpenSSL agrees on the revocation."""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from cases.profile import Profile
from cases.trust import TrustStore
from cases.workstation import Workstation
from crypto import cms, pki
from crypto.errors import CertificateRevoked, InvalidRecipient, UntrustedSigner
from outbox.platform import DirectoryEntry
from tests.support.pki import World, world
from tests.support.tools import require_tool

Purpose = Literal["sign", "encrypt"]
CONTENT = b"Avis sur la demande 2026-0042 : naevus banal.\n"


@dataclass(frozen=True)
class Pair:
    cert: x509.Certificate
    key: pki.PrivateKey


@dataclass(frozen=True)
class Partner:
    """A partner hospital's CA (EC, quick to make) and one of its specialists."""

    ca: Pair
    specialist: Pair


@functools.cache
def partner() -> Partner:
    ca = Pair(*pki.create_ca("CHU partenaire — Autorité de certification", kind="ec"))
    key = pki.new_private_key("ec")
    cert = pki.issue_person_certificate(
        ca.cert, ca.key, key.public_key(), common_name="Dr Partenaire", role="specialist",
        organization="CHU partenaire", can_decrypt=True,
    )  # fmt: skip
    return Partner(ca, Pair(cert, key))


@pytest.fixture(scope="module")
def w() -> World:
    return world()


@pytest.fixture(scope="module")
def p() -> Partner:
    return partner()


@pytest.fixture
def profile(w: World, tmp_path: Path) -> Profile:
    """A profile whose trust store holds its CA (``trust/ca.pem``), as created."""
    return Profile.create(
        tmp_path / "p",
        station_id="s",
        platform_url="",
        token="t",
        ca_pem=pki.cert_to_pem(w.ca.cert),
        token_in_keyring=False,
    )


def validate(profile: Profile, cert: x509.Certificate, purpose: Purpose) -> None:
    """What opening a bundle (``sign``) and choosing a recipient (``encrypt``) check."""
    pki.validate_certificate(cert, profile.trust_roots(), purpose=purpose, crls=profile.crls())


def choose_recipient(profile: Profile, cert: x509.Certificate) -> x509.Certificate:
    """``Workstation._recipient_certificate``, the check made before sealing to someone."""
    entry = DirectoryEntry(
        id="x", display_name="x", role="specialist", specialty=None, station="s",
        certificate_pem=pki.cert_to_pem(cert).decode("ascii"),
    )  # fmt: skip
    this: Any = SimpleNamespace(profile=profile)
    return Workstation._recipient_certificate(this, entry)


# --- the issuer is a CA of the store -------------------------------------------------------


def test_a_revoked_pinned_certificate_is_refused(profile: Profile, w: World, p: Partner) -> None:
    store = profile.trust_store()
    store.add_pinned(p.specialist.cert)  # pinned first, its hospital's CA trusted later
    store.add_ca(p.ca.cert)
    sealed = cms.seal(CONTENT, p.specialist.cert, p.specialist.key, [w.specialist.cert])
    opened = cms.open_sealed(
        sealed, w.specialist.cert, w.specialist.key, profile.trust_roots(), crls=profile.crls()
    )
    assert opened.content == CONTENT
    assert choose_recipient(profile, p.specialist.cert) == p.specialist.cert

    store.add_crl(pki.issue_crl(p.ca.cert, p.ca.key, [p.specialist.cert.serial_number]))
    with pytest.raises(CertificateRevoked, match="revoked") as caught:
        cms.open_sealed(
            sealed, w.specialist.cert, w.specialist.key, profile.trust_roots(),
            crls=profile.crls(),
        )  # fmt: skip
    assert caught.value.code == "certificate_revoked"
    with pytest.raises(CertificateRevoked):
        validate(profile, p.specialist.cert, "sign")
    with pytest.raises(InvalidRecipient, match="revoked") as refused:
        choose_recipient(profile, p.specialist.cert)
    assert refused.value.code == "invalid_recipient"
    with pytest.raises(InvalidRecipient):
        validate(profile, p.specialist.cert, "encrypt")


def test_a_pinned_certificate_under_the_profiles_own_ca(profile: Profile, w: World) -> None:
    store = profile.trust_store()
    store.add_pinned(w.doctor.cert)  # also chains to ca.pem: pinned, it is its own anchor
    store.add_crl(pki.issue_crl(w.ca.cert, w.ca.key, [w.doctor.cert.serial_number]))
    with pytest.raises(CertificateRevoked) as caught:
        validate(profile, w.doctor.cert, "sign")
    assert caught.value.code == "certificate_revoked"
    with pytest.raises(InvalidRecipient, match="revoked"):
        validate(profile, w.doctor.cert, "encrypt")


def test_a_pinned_certificate_not_listed_is_accepted(
    profile: Profile, w: World, p: Partner
) -> None:
    store = profile.trust_store()
    store.add_ca(p.ca.cert)
    store.add_pinned(p.specialist.cert)
    store.add_crl(pki.issue_crl(p.ca.cert, p.ca.key, [p.specialist.cert.serial_number + 1, 7]))
    store.add_crl(pki.issue_crl(w.ca.cert, w.ca.key, [p.specialist.cert.serial_number]))
    validate(profile, p.specialist.cert, "sign")  # the other CA's list does not apply
    validate(profile, p.specialist.cert, "encrypt")
    assert choose_recipient(profile, p.specialist.cert) == p.specialist.cert


# --- the issuer is unknown -----------------------------------------------------------------


def test_a_pinned_certificate_of_an_unknown_issuer_stays_accepted(
    profile: Profile, w: World, p: Partner
) -> None:
    store = profile.trust_store()
    # The rogue CA bears our CA's name, with another key: our CA did not issue this one, and
    # our CA's list, which happens to hold the same serial number, is not about it.
    assert w.rogue_doctor.cert.issuer == w.ca.cert.subject
    store.add_pinned(w.rogue_doctor.cert)
    store.add_crl(pki.issue_crl(w.ca.cert, w.ca.key, [w.rogue_doctor.cert.serial_number]))
    validate(profile, w.rogue_doctor.cert, "sign")
    validate(profile, w.rogue_doctor.cert, "encrypt")
    # A CA the store does not hold: its list cannot be trusted, the pin stands.
    store.add_pinned(p.specialist.cert)
    theirs = pki.issue_crl(p.ca.cert, p.ca.key, [p.specialist.cert.serial_number])
    crls = [*profile.crls(), theirs]
    purposes: tuple[Purpose, ...] = ("sign", "encrypt")
    for purpose in purposes:
        pki.validate_certificate(
            p.specialist.cert, profile.trust_roots(), purpose=purpose, crls=crls
        )


# --- lists its CA did not sign: as for a chain --------------------------------------------


def _forged(w: World) -> x509.CertificateRevocationList:
    """A list naming our CA, with our CA's key identifier, signed by another key."""
    now = datetime.now(UTC)
    ski = w.ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(w.ca.cert.subject)
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(w.doctor.cert.serial_number)
            .revocation_date(now)
            .build()
        )
        .sign(w.rogue_ca.key, hashes.SHA256())
    )


def _outcome(cert: x509.Certificate, roots: list[x509.Certificate], crl: Any) -> str:
    try:
        pki.validate_certificate(cert, roots, purpose="sign", crls=[crl])
    except CertificateRevoked:
        return "revoked"
    except UntrustedSigner as exc:
        return "status unknown" if "not signed by it" in str(exc) else "untrusted"
    return "accepted"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("listing others", "accepted"),
        ("revoking", "revoked"),
        ("another key's", "accepted"),  # the rogue CA: same name, its own key identifier
        ("forged", "status unknown"),  # our CA's name and key identifier, not its signature
    ],
)
def test_lists_count_as_for_a_chain(w: World, kind: str, expected: str) -> None:
    serial = w.doctor.cert.serial_number
    crl = {
        "listing others": lambda: pki.issue_crl(w.ca.cert, w.ca.key, [serial + 1]),
        "revoking": lambda: pki.issue_crl(w.ca.cert, w.ca.key, [serial]),
        "another key's": lambda: pki.issue_crl(w.rogue_ca.cert, w.rogue_ca.key, [serial]),
        "forged": lambda: _forged(w),
    }[kind]()
    chained = _outcome(w.doctor.cert, [w.ca.cert], crl)
    pinned = _outcome(w.doctor.cert, [w.ca.cert, w.doctor.cert], crl)
    assert (chained, pinned) == (expected, expected)


# --- OpenSSL agrees -----------------------------------------------------------------------


def test_openssl_finds_the_pinned_certificate_revoked(
    profile: Profile, p: Partner, tmp_path: Path
) -> None:
    openssl = require_tool("openssl")
    store: TrustStore = profile.trust_store()
    store.add_ca(p.ca.cert)
    store.add_pinned(p.specialist.cert)
    folder = tmp_path / "openssl"
    folder.mkdir()
    anchors = b"".join(pki.cert_to_pem(cert) for cert in profile.trust_roots())
    (folder / "anchors.pem").write_bytes(anchors)  # the store's CAs and its pinned one
    (folder / "pinned.pem").write_bytes(pki.cert_to_pem(p.specialist.cert))

    def verify(revoked: list[int]) -> subprocess.CompletedProcess[str]:
        crl = pki.issue_crl(p.ca.cert, p.ca.key, revoked)
        (folder / "crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        return subprocess.run(
            [openssl, "verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "anchors.pem",
             "pinned.pem"],
            cwd=folder, capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip

    clean = verify([p.specialist.cert.serial_number + 1])
    assert clean.returncode == 0, clean.stdout + clean.stderr
    validate(profile, p.specialist.cert, "sign")

    verdict = verify([p.specialist.cert.serial_number])
    assert verdict.returncode != 0
    assert "revoked" in verdict.stdout + verdict.stderr
    store.add_crl((folder / "crl.pem").read_bytes())  # the very list OpenSSL was given
    with pytest.raises(CertificateRevoked):
        validate(profile, p.specialist.cert, "sign")
