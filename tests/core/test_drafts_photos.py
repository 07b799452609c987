"""A draft's photos are sealed once, apart, like its clips, and read back checked."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cases.bundleseal import case_members, seal_case, seal_members
from cases.bundlestream import unpack_content
from cases.draftlisting import DRAFT_PAYLOADS
from cases.draftpayloads import DraftPayload, DraftPayloadDamaged
from cases.drafts import PAYLOAD_MISSING, DraftStore
from cases.model import Case, new_id
from cases.photos import Photo
from crypto import stream
from tests.core.test_drafts import a_case, me
from tests.support.pki import world

CANARY = b"CANARY-photo-5b1e"


def photo_bytes(size: int) -> bytes:
    """``size`` bytes holding the canary every 16 KiB (a scan finds any piece left clear)."""
    block = CANARY + os.urandom(16 * 1024 - len(CANARY))
    return (block * (size // len(block) + 1))[:size]


def with_photos(count: int = 3, size: int = 200_000) -> Case:
    model = a_case().photos[0]
    photos = tuple(
        replace(model, name=f"photo-{n}.jpg", payload=photo_bytes(size), note=f"Photo {n}.")
        for n in range(1, count + 1)
    )
    return a_case(photos=photos)


def store_in(tmp_path: Path, who: str = "dr-martin") -> DraftStore:
    identity = world().doctor if who == "dr-martin" else world().other_specialist
    return DraftStore(tmp_path, me(identity, who), world().roots)


def files_of(store: DraftStore) -> dict[str, tuple[int, int]]:
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in store.payloads.folder.glob("*.p7m")
    }


def old_style_save(store: DraftStore, case: Case) -> Path:
    """A draft as the previous version's ``DraftStore.save`` sealed it: the photos inside
    the draft's own bundle, the clips and documents apart (none here)."""
    me_ = store.me
    path = store._path(case.case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    seal_members(
        path, new_id(), "request", case_members(case), store._party(), [store._reader()],
        (me_.signer_certificate, me_.signer_key), [me_.certificate], case_id=case.case_id,
        clinical={**case.to_json(), DRAFT_PAYLOADS: []},
    )  # fmt: skip
    return path


def test_photos_are_sealed_once_and_an_autosave_seals_only_the_text(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    case = with_photos(3)
    path = store.save(case)
    assert path is not None
    assert len(files_of(store)) == 3
    sealed = files_of(store)
    assert path.stat().st_size < 16 << 10  # the text and the list: no photo inside

    held = replace(case, photos=tuple(p for _photo, p in zip_adopted(store, case)))
    assert all(isinstance(p.payload, DraftPayload) for p in held.photos)
    for n in range(3):  # autosaves of the form, holding the photos by their sealed files
        store.save(replace(held, summary=f"Saisie {n}"))
    store.save(replace(case, summary="Saisie 3"))  # or their bytes still: hashed, not sealed
    assert files_of(store) == sealed  # never sealed again
    assert path.stat().st_size < 16 << 10

    (again,), unreadable = store_in(tmp_path).load()
    assert unreadable == []
    assert [p.data for p in again.photos] == [p.data for p in case.photos]  # in order
    assert [p.details() for p in again.photos] == [p.details() for p in case.photos]
    assert again.summary == "Saisie 3"
    for file in tmp_path.rglob("*"):  # nothing in clear: not a piece, not a digest
        if file.is_file():
            data = file.read_bytes()
            assert CANARY not in data, file
            for photo in case.photos:
                assert photo.sha256.encode() not in data, file
                assert photo.sha256 not in file.name


def zip_adopted(store: DraftStore, case: Case) -> list[tuple[Photo, Photo]]:
    """The form's photos and what it holds instead once the draft sealed them."""
    adopted = dict((id(photo), payload) for photo, payload in store.sealed_photos(case.photos))
    assert len(adopted) == len(case.photos)
    return [(p, replace(p, payload=adopted[id(p)])) for p in case.photos]


def test_a_draft_of_the_previous_version_with_its_photos_inside_still_opens(
    tmp_path: Path,
) -> None:
    store = store_in(tmp_path)
    case = with_photos(2)
    path = old_style_save(store, case)
    inside = path.stat().st_size
    assert inside > 400_000  # the photos are in it

    (old,), unreadable = store.load()
    assert unreadable == []
    assert [p.data for p in old.photos] == [p.data for p in case.photos]
    assert not any(isinstance(p.payload, DraftPayload) for p in old.photos)
    assert old.photos[0].details() == case.photos[0].details()

    store.save(replace(old, summary="Repris."))  # moved apart at its next save
    assert path.stat().st_size < 16 << 10
    (again,), _ = store_in(tmp_path).load()
    assert all(isinstance(p.payload, DraftPayload) for p in again.photos)
    assert [p.data for p in again.photos] == [p.data for p in case.photos]
    assert again.summary == "Repris."


def test_a_missing_or_cut_photo_is_named_and_the_draft_opens_without_it(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    case = with_photos(3)
    store.save(case)
    gone, cut, short = (store.payloads.path(p.sha256) for p in case.photos)
    gone.unlink()
    cut.write_bytes(cut.read_bytes()[:5000])  # below the photo's size: seen at load
    data = short.read_bytes()
    short.write_bytes(data[: len(data) - 40])  # its tail only: seen when read

    (again,), unreadable = store_in(tmp_path).load()
    assert [(u.code, u.case_id, u.missing) for u in unreadable] == [
        (PAYLOAD_MISSING, case.case_id, ("photo-1.jpg", "photo-2.jpg"))
    ]
    assert [p.name for p in again.photos] == ["photo-3.jpg"]
    assert DraftStore.damaged(again) == ("photo-3.jpg",)
    with pytest.raises(DraftPayloadDamaged, match=r"photo-3\.jpg"):
        _ = again.photos[0].data


def test_another_profiles_photo_swapped_in_is_refused(tmp_path: Path) -> None:
    """Another person on this workstation drafts a request with the very same photo: their
    sealed file, copied in the place of mine, is refused (sealed to them, by them)."""
    mine, theirs = store_in(tmp_path), store_in(tmp_path, "sp-other")
    case = with_photos(1)
    mine.save(case)
    theirs.save(replace(case, case_id=new_id()))
    their_file = theirs.payloads.path(case.photos[0].sha256)
    assert their_file.exists()
    assert their_file.parent != mine.payloads.folder
    my_file = mine.payloads.path(case.photos[0].sha256)
    shutil.copyfile(their_file, my_file)

    (resumed,), _ = store_in(tmp_path).load()
    assert DraftStore.damaged(resumed) == ("photo-1.jpg",)
    with pytest.raises(DraftPayloadDamaged, match=r"photo-1\.jpg"):
        _ = resumed.photos[0].data

    intruder = world().other_specialist  # sealed *to me* by another: refused too
    with stream.Sealer(my_file, intruder.cert, intruder.key, [world().doctor.cert]) as out:
        out.write(case.photos[0].data)
        out.finish()
    with pytest.raises(DraftPayloadDamaged, match=r"photo-1\.jpg"):
        _ = resumed.photos[0].data


def test_a_replayed_older_photo_file_is_refused(tmp_path: Path) -> None:
    """The photo taken first, then replaced by another: the first one's sealed file, kept
    from a copy of the disk, put back in the place of the second's."""
    store = store_in(tmp_path)
    first = with_photos(1)
    store.save(first)
    older = store.payloads.path(first.photos[0].sha256).read_bytes()
    second_photo = replace(first.photos[0], payload=photo_bytes(180_000))
    store.save(replace(first, photos=(second_photo,)))
    assert not store.payloads.path(first.photos[0].sha256).exists()  # collected
    store.payloads.path(second_photo.sha256).write_bytes(older)  # larger: passes the size check

    (resumed,), unreadable = store_in(tmp_path).load()
    assert unreadable == []
    with pytest.raises(DraftPayloadDamaged, match=r"photo-1\.jpg.*other bytes"):
        _ = resumed.photos[0].data
    assert DraftStore.damaged(resumed) == ("photo-1.jpg",)


def test_a_replayed_older_draft_names_the_photo_it_lists_and_uses_no_other(
    tmp_path: Path,
) -> None:
    store = store_in(tmp_path)
    first = with_photos(1)
    path = store.save(first)
    assert path is not None
    older = path.read_bytes()  # a copy of the disk, taken then
    second_photo = replace(first.photos[0], payload=photo_bytes(220_000))
    store.save(replace(first, photos=(second_photo,), summary="Plus tard."))
    path.write_bytes(older)  # the older draft put back: its photo's file is gone

    (resumed,), unreadable = store_in(tmp_path).load()
    assert [(u.code, u.missing) for u in unreadable] == [(PAYLOAD_MISSING, ("photo-1.jpg",))]
    assert resumed.photos == ()  # not the later photo in its place
    assert resumed.summary == first.summary


def test_sending_streams_the_photos_from_their_sealed_files(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    case = with_photos(2)
    store.save(case)
    (resumed,), _ = store_in(tmp_path).load()
    members = case_members(resumed)
    assert all(isinstance(m.source, DraftPayload) for m in members[:2])  # not read here
    doctor, specialist = world().doctor, world().specialist
    sent = seal_case(
        tmp_path / "request.p7m", new_id(), resumed, store._party(), [store._reader()],
        (doctor.cert, doctor.key), [specialist.cert],
    )  # fmt: skip
    with stream.open_file(sent.path, specialist.cert, specialist.key, world().roots) as opened:
        bundle = unpack_content(
            opened,
            signer_fingerprint=store.me.fingerprint,
            reader_fingerprint=store._reader().fingerprint,
        )
        assert bundle.case is not None
        assert [p.data for p in bundle.case.photos] == [p.data for p in case.photos]
        assert [p.details() for p in bundle.case.photos] == [p.details() for p in case.photos]

    store.payloads.path(case.photos[1].sha256).write_bytes(b"\x30\x80" + os.urandom(300_000))
    broken = tmp_path / "broken.p7m"
    with pytest.raises(DraftPayloadDamaged, match=r"photo-2\.jpg"):
        seal_case(
            broken, new_id(), resumed, store._party(), [store._reader()],
            (doctor.cert, doctor.key), [specialist.cert],
        )  # fmt: skip
    assert not broken.exists()
    assert not [p for p in tmp_path.glob(".*") if p.is_file()]  # no partial left


def test_a_photo_taken_out_stays_sealed_while_an_undo_may_put_it_back(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    case = with_photos(2)
    store.save(case)
    held = replace(case, photos=tuple(p for _photo, p in zip_adopted(store, case)))
    kept, removed = held.photos
    store.save(replace(held, photos=(kept,)), held=(removed,))  # taken out, undo possible
    assert store.payloads.path(removed.sha256).exists()
    store.save(held)  # put back by the undo: read from where it lies, not sealed again
    (again,), unreadable = store_in(tmp_path).load()
    assert unreadable == []
    assert [p.data for p in again.photos] == [p.data for p in case.photos]

    store.save(replace(held, photos=(kept,)))  # taken out for good (no undo left)
    assert not store.payloads.path(removed.sha256).exists()
    assert store.discard(case.case_id)  # sent or discarded: its photos' files go with it
    assert files_of(store) == {}


def test_the_last_save_runs_on_its_own_thread_and_the_next_session_waits_for_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = store_in(tmp_path)
    case = with_photos(12, 300_000)
    with caplog.at_level(logging.INFO, logger="cases.draftpayloads"):
        thread = store.save_later(case)
        assert thread is not threading.current_thread()
        assert not thread.daemon
        drafts, unreadable = store_in(tmp_path).load()  # the next session: waits for it
        assert not thread.is_alive()
    assert unreadable == []
    assert [p.data for p in drafts[0].photos] == [p.data for p in case.photos]
    sealers = {r.threadName for r in caplog.records if "payload was sealed" in r.message}
    assert sealers == {"passavant-last-draft"}


def test_an_autosave_costs_the_same_with_one_or_twelve_photos(tmp_path: Path) -> None:
    """The draft sealed at each autosave no longer grows with the photos, nor its time."""
    sizes: dict[int, int] = {}
    first: dict[int, float] = {}
    later: dict[int, float] = {}
    for count in (1, 12):
        store = store_in(tmp_path / str(count))
        case = with_photos(count, 1 << 20)
        began = time.process_time()
        store.save(case)  # seals the photos, once
        first[count] = time.process_time() - began
        case = store.load()[0][0]
        began = time.process_time()
        for n in range(3):
            path = store.save(replace(case, summary=f"Saisie {n}"))
        later[count] = (time.process_time() - began) / 3
        assert path is not None
        sizes[count] = path.stat().st_size
    assert sizes[12] - sizes[1] < 11 * 1024  # the list grows by an entry, not by a photo
    assert first[12] > 3 * later[12]  # sealing the photos once costs more than an autosave
    assert later[12] < 3 * later[1] + 0.05
