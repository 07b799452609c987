"""The Qt-free path of a case: seal → outbox → platform → inbox → open → opinion → back.

Runs the real sessions of both demo workstations against the real platform, without Qt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import resources
from app.demo import DEMO_PASSPHRASE
from app.session import Session
from cases.bundle import pack_case
from cases.errors import BundleError, InvalidCase
from cases.model import Case
from cases.photos import import_photo
from cases.profile import Profile, UnlockedIdentity
from crypto import cms
from crypto.errors import InvalidRecipient, NotARecipient
from tests.support.demo import DemoEnv


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def unlock(root: Path, identity: str) -> UnlockedIdentity:
    return Profile(root).unlock(identity, DEMO_PASSPHRASE.encode())


@pytest.fixture
def sessions(demo_env: DemoEnv) -> Iterator[tuple[Session, Session]]:
    unit = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    hospital = Session(Profile(demo_env.layout.hospital), poll_interval=0.2)
    for session in (unit, hospital):
        session.start()
    try:
        yield unit, hospital
    finally:
        for session in (unit, hospital):
            session.stop()


def a_case() -> Case:
    photo = import_photo(resources.sample_photos()[0], "photo-1.jpg")
    return Case(
        patient_ref="P-1",
        consent=True,
        specialty="dermatology",
        summary="Plaque érythémateuse.",
        treatments="",
        question="Psoriasis ?",
        photos=(photo,),
    )


def test_round_trip_without_qt(sessions: tuple[Session, Session], demo_env: DemoEnv) -> None:
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    unit.sender.wake()
    wait_for(lambda: unit.outbox.get(bundle_id).state == "delivered")  # type: ignore[union-attr]
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    hospital.workstation.refresh_directory()
    threads, unreadable = hospital.workstation.threads(expert)
    assert unreadable == []
    assert [t.case.bundle.case.question for t in threads] == ["Psoriasis ?"]  # type: ignore[union-attr]
    assert threads[0].case.sender.mailbox == "dr-bernard"
    hospital.workstation.send_opinion(expert, threads[0], "Psoriasis en plaques.")
    hospital.sender.wake()
    wait_for(lambda: unit.inbox.items("dr-bernard"))
    threads, unreadable = unit.workstation.threads(doctor)
    assert unreadable == []
    assert [o.bundle.opinion.text for o in threads[0].opinions] == ["Psoriasis en plaques."]  # type: ignore[union-attr]
    assert threads[0].job is not None
    assert threads[0].job.state == "delivered"


def test_incomplete_case_is_not_queued(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    with pytest.raises(InvalidCase):
        unit.workstation.send_case(doctor, Case("P-1", False, "dermatology", "x", "", "?"), to)
    assert unit.outbox.jobs() == []


def test_a_tampered_archive_copy_is_reported_not_shown(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    path = demo_env.layout.unit / "archive" / f"{bundle_id}.cms"
    data = bytearray(path.read_bytes())
    data[-40] ^= 0xFF
    path.write_bytes(bytes(data))
    threads, unreadable = unit.workstation.threads(doctor)
    assert threads == []
    assert [(u.bundle_id, u.code) for u in unreadable] == [(bundle_id, "decryption_failed")]


def test_the_secretary_can_open_nothing(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    secretary = unlock(demo_env.layout.unit, "sec-lambert")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    sealed = (demo_env.layout.unit / "outbox" / f"{bundle_id}.cms").read_bytes()
    with pytest.raises(NotARecipient):
        cms.open_sealed(
            sealed,
            secretary.certificate,
            secretary.key,
            Profile(demo_env.layout.unit).trust_roots(),
        )
    with pytest.raises(InvalidRecipient):  # nothing can ever be sealed for her
        cms.seal(b"x", doctor.certificate, doctor.key, [secretary.certificate])
    assert unit.workstation.threads(secretary) == ([], [])


def test_a_forwarded_bundle_is_refused(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    """The doctor's signed case re-encrypted by someone else to a third party is refused."""
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    from cases.bundle import Party

    me = Party("dr-bernard", "Dr", doctor.fingerprint)
    plain = pack_case("b-1", a_case(), me, [me])  # addressed to the doctor only
    signed = cms.sign(plain, doctor.certificate, doctor.key)
    forwarded = cms.encrypt(signed, [expert.certificate])  # someone re-encrypts it
    with pytest.raises(BundleError) as caught:
        unit.workstation.open(expert, forwarded)
    assert caught.value.code == "not_addressed_to_you"


def test_the_demo_platform_stops_when_its_parent_goes(demo_env: DemoEnv) -> None:
    """Closing the stdin pipe is what a parent's death (even kill -9) does to it."""
    assert demo_env.process.stdin is not None
    demo_env.process.stdin.close()
    assert demo_env.process.wait(15) == 0
