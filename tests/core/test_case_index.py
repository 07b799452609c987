"""The case store's index: encrypted at rest, derived from the sealed bundles, read by a refresh
instead of the bundles; payloads read from the sealed bundle when looked at."""

from __future__ import annotations

import io
import sqlite3
import stat
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

import resources
from app.session import Session
from cases.errors import BundleError
from cases.index import CaseIndex, IndexDamaged
from cases.model import Opinion
from cases.profile import Profile, UnlockedIdentity
from crypto import cms
from tests.core.test_workstation import a_case, unlock, wait_for
from tests.support.demo import DemoEnv
from tests.support.photos import sample_photo
from tests.support.pki import world

CANARY = "CANARY-index-51c9"


def a_record(text: str = CANARY) -> dict[str, object]:
    return {"manifest": text, "case_id": "c-1", "signer": {"name": "Dr X"}}


def test_records_are_sealed_and_the_file_is_the_persons_alone(tmp_path: Path) -> None:
    path = tmp_path / "index" / "dr-x.sqlite"
    index = CaseIndex(path, world().doctor.cert, world().doctor.key)
    index.put(
        "b-1",
        state="admitted",
        source="inbox",
        sha256="0" * 64,
        kind="request",
        case_id="c-1",
        record=a_record(),
    )
    index.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for file in path.parent.iterdir():
        data = file.read_bytes()
        assert CANARY.encode() not in data
        assert b"c-1" not in data  # the case id itself is only a keyed hash
    again = CaseIndex(path, world().doctor.cert, world().doctor.key)
    row = again.get("b-1")
    assert row is not None
    assert row.record == a_record()
    assert [r.bundle_id for r in again.with_case_id("c-1")] == ["b-1"]


def test_another_persons_key_does_not_open_the_index(tmp_path: Path) -> None:
    path = tmp_path / "dr-x.sqlite"
    CaseIndex(path, world().doctor.cert, world().doctor.key).close()
    with pytest.raises(IndexDamaged, match="not this person"):
        CaseIndex(path, world().specialist.cert, world().specialist.key)


def test_an_altered_or_moved_record_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "dr-x.sqlite"
    index = CaseIndex(path, world().doctor.cert, world().doctor.key)
    index.put("b-1", state="admitted", source="inbox", sha256="0" * 64, record=a_record())
    index.put("b-2", state="admitted", source="inbox", sha256="0" * 64, record=a_record("other"))
    index.close()
    db = sqlite3.connect(path)
    with db:  # b-2's sealed record copied onto b-1: associated data differ
        db.execute(
            "UPDATE documents SET record = (SELECT record FROM documents WHERE bundle_id = 'b-2')"
            " WHERE bundle_id = 'b-1'"
        )
    db.close()
    index = CaseIndex(path, world().doctor.cert, world().doctor.key)
    with pytest.raises(IndexDamaged, match="b-1"):
        index.get("b-1")


def test_a_refresh_reads_only_what_changed(tmp_path: Path) -> None:
    index = CaseIndex(tmp_path / "x.sqlite", world().doctor.cert, world().doctor.key)
    index.put("b-1", state="admitted", source="inbox", sha256="0" * 64, record=a_record())
    first = list(index.changed_since(0))
    index.put("b-2", state="waiting", source="inbox", sha256="1" * 64, record=a_record())
    later = list(index.changed_since(first[-1].version))
    assert [r.bundle_id for r in later] == ["b-2"]
    index.set_state("b-1", "erased")
    erased = index.get("b-1")
    assert erased is not None
    assert (erased.state, erased.record) == ("erased", None)  # nothing clinical is kept
    assert [r.bundle_id for r in index.changed_since(later[-1].version)] == ["b-1"]


def answered_request(
    unit: Session, hospital: Session, doctor: UnlockedIdentity, expert: UnlockedIdentity
) -> None:
    """A request with a photo sent, opened, answered; the opinion and the receipt back."""
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    unit.workstation.send_case(doctor, a_case(), to)
    unit.sender.wake()
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    hospital.workstation.refresh_directory()
    [received], _ = hospital.workstation.threads(expert)
    hospital.workstation.send_opinion(
        expert, received, Opinion(received.case_id, "Psoriasis.", outcome="on_site")
    )
    hospital.sender.wake()
    wait_for(lambda: len(unit.inbox.items("dr-bernard")) == 2)  # the receipt and the opinion


def test_a_rebuilt_index_equals_the_one_built_as_bundles_arrived(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    answered_request(unit, hospital, doctor, expert)
    listed, _ = unit.workstation.threads(doctor)
    incremental = unit.workstation.store(doctor).index.snapshot()
    assert len(incremental) == 3  # the request, the opinion, the receipt
    sent_before = len(unit.outbox.jobs())

    told: list[tuple[int, int]] = []
    count = unit.workstation.rebuild_index(doctor, lambda done, total: told.append((done, total)))
    assert count == 3
    assert told[-1] == (3, 3)
    assert unit.workstation.store(doctor).index.snapshot() == incremental
    again, _ = unit.workstation.threads(doctor)
    assert [(t.case.bundle_id, len(t.opinions)) for t in again] == [
        (t.case.bundle_id, len(t.opinions)) for t in listed
    ]
    assert len(unit.outbox.jobs()) == sent_before  # no second receipt for the opinion


def test_a_warm_refresh_opens_no_bundle_and_photos_are_read_when_looked_at(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    answered_request(unit, hospital, doctor, expert)
    [thread], _ = unit.workstation.threads(doctor)
    store = unit.workstation.store(doctor)
    opened = store.openings
    for _refresh in range(3):
        [again], _ = unit.workstation.threads(doctor)
    assert store.openings == opened  # the index answers; no bundle is decrypted
    assert again.case is thread.case  # the same objects: nothing rebuilt
    case = again.case.bundle.case
    assert case is not None
    assert store.openings == opened
    photo = case.photos[0]
    assert photo.data == a_case().photos[0].data  # read from the sealed bundle, verified
    assert store.openings == opened + 1
    assert photo.data == a_case().photos[0].data  # the case shown stays in memory
    assert store.openings == opened + 1


def test_a_damaged_index_is_rebuilt_and_the_list_still_shows(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    answered_request(unit, hospital, doctor, expert)
    [thread], _ = unit.workstation.threads(doctor)
    path = unit.workstation.store(doctor).path
    unit.workstation.forget(doctor)  # logged out
    path.write_bytes(b"this is not a database" * 100)
    [again], unreadable = unit.workstation.threads(doctor)
    assert unreadable == []
    assert again.case.bundle_id == thread.case.bundle_id
    assert [o.bundle.opinion.text for o in again.opinions] == ["Psoriasis."]  # type: ignore[union-attr]


def test_a_profile_of_the_earlier_version_is_indexed_at_first_listing(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    """The earlier version kept no index: the archive and the inbox are indexed at the first
    listing, a chunk at a time, with progress."""
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    answered_request(unit, hospital, doctor, expert)
    unit.workstation.forget(doctor)
    index_folder = unit.profile.path("index")
    for file in index_folder.iterdir():
        file.unlink()  # as the earlier version left the profile
    told: list[tuple[int, int]] = []
    first, _ = unit.workstation.threads(doctor, lambda d, t: told.append((d, t)), limit=2)
    assert told == [(1, 3), (2, 3)]  # two of three opened by this chunk
    assert len(first) <= 1
    told.clear()
    [thread], _ = unit.workstation.threads(doctor, lambda d, t: told.append((d, t)), limit=2)
    assert told == [(1, 1)]
    assert len(thread.opinions) == 1


FIXTURE = Path(__file__).parent.parent / "fixtures" / "round1-profiles.tar.gz"


def test_profiles_made_by_the_earlier_version_are_indexed_and_hold_nothing_in_clear(
    tmp_path: Path,
) -> None:
    """Profiles generated by round 1's code (``tests/fixtures/make_round1_profiles.py``),
    opened offline: each person's index is built at the first listing, a chunk at a time,
    and lists what the earlier version listed; nothing clinical lies in clear in it."""
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    unit = Session(Profile(tmp_path / "unit"), poll_interval=0.2)  # not started: offline
    hospital = Session(Profile(tmp_path / "hospital"), poll_interval=0.2)
    try:
        doctor = unlock(tmp_path / "unit", "dr-bernard")
        expert = unlock(tmp_path / "hospital", "pr-dubois")
        told: list[tuple[int, int]] = []
        unit.workstation.threads(doctor, lambda d, t: told.append((d, t)), limit=4)
        assert told[0] == (1, 8)  # 3 requests and a withdrawal sealed; 3 receipts, 1 opinion
        assert told[-1] == (4, 8)  # the first chunk
        mine, unreadable = unit.workstation.threads(doctor)
        assert unreadable == []
        by_ref = {t.case.bundle.case.patient_ref: t for t in mine}  # type: ignore[union-attr]
        assert sorted(by_ref) == ["P-R1-1", "P-R1-2", "P-R1-3"]
        [opinion] = by_ref["P-R1-1"].opinions
        assert opinion.bundle.opinion.text == "Psoriasis ROUND1-CANARY-4."  # type: ignore[union-attr]
        assert opinion.sender.display_name == "Pr Marc Dubois"  # from the certificate
        assert by_ref["P-R1-3"].withdrawal is not None
        assert by_ref["P-R1-2"].awaiting_answer
        received, unreadable = hospital.workstation.threads(expert)
        assert unreadable == []
        assert sorted(t.case.bundle.case.patient_ref for t in received) == sorted(by_ref)  # type: ignore[union-attr]
        for profile in ("unit", "hospital"):
            for file in (tmp_path / profile / "index").iterdir():
                assert b"ROUND1-CANARY" not in file.read_bytes()
    finally:
        unit.workstation.close()
        hospital.workstation.close()


def test_a_photo_is_read_only_from_the_bundle_admitted(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    """A photo is read again from the sealed file without verifying its signature twice: the
    manifest must be the one admitted, and the photo's SHA-256 the one it lists. Somebody who
    can encrypt to the doctor and swaps the file (even keeping the manifest, which they would
    have to know) gets nothing shown."""
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    answered_request(unit, hospital, doctor, expert)
    [thread], _ = unit.workstation.threads(doctor)
    path = unit.profile.path("archive") / f"{thread.case.bundle_id}.cms"
    original = path.read_bytes()
    plain = cms.open_sealed(
        original, doctor.certificate, doctor.key, unit.profile.trust_roots()
    ).content
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    photo_name = next(n for n in contents if n.startswith("photos/"))
    contents[photo_name] = contents[photo_name][:-10] + b"\x00" * 10  # another picture
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as swapped:
        for name, body in contents.items():  # the admitted manifest, kept as it is
            swapped.writestr(name, body)
    store = unit.workstation.store(doctor)
    photo = thread.case.bundle.case.photos[0]  # type: ignore[union-attr]

    path.write_bytes(cms.seal(out.getvalue(), expert.certificate, expert.key, [doctor.certificate]))
    with pytest.raises(BundleError) as changed:
        _ = photo.data
    assert changed.value.code == "bundle_changed"

    other = cms.seal(b"not this bundle", expert.certificate, expert.key, [doctor.certificate])
    store.payloads.forget()  # a new look at the file, as after another case was shown
    path.write_bytes(other)
    with pytest.raises(BundleError) as replaced:
        _ = photo.data
    assert replaced.value.code == "bundle_changed"

    store.payloads.forget()
    path.write_bytes(original)
    assert photo.data == a_case().photos[0].data


def test_a_payload_handed_on_as_a_stream_is_not_changed_by_the_next_bundle_read(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    """The store reads each bundle into one buffer it keeps for the next; a clip or document
    handed on as a stream (``SealedPayload.open``) and still being read when another bundle
    is opened must go on giving its own checked bytes, never the next bundle's (which are
    not even authenticated while they are decrypted)."""
    unit, _hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    first = a_case()
    second = replace(first, photos=(sample_photo(resources.sample_photos()[1], "photo-1.jpg"),))
    ids = [unit.workstation.send_case(doctor, case, to) for case in (first, second)]
    threads, _ = unit.workstation.threads(doctor)
    photos = {t.case.bundle_id: t.case.bundle.case.photos[0] for t in threads}  # type: ignore[union-attr]
    expected = first.photos[0].data
    assert expected != second.photos[0].data
    with photos[ids[0]].payload.open() as streamed:  # type: ignore[union-attr]
        head = streamed.read(100)
        assert photos[ids[1]].data == second.photos[0].data  # the next bundle read meanwhile
        assert head + streamed.read() == expected
