"""A draft's clips and documents are sealed once, apart, and read back checked (issue 17)."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cases.bundleseal import seal_case
from cases.bundlestream import unpack_content
from cases.clips import Clip, ClipAreas
from cases.documents import Document
from cases.draftpayloads import DraftPayload, DraftPayloadDamaged
from cases.drafts import PAYLOAD_MISSING, DraftStore
from cases.model import Case, new_id
from crypto import stream
from tests.core.test_drafts import a_case, me
from tests.support.pki import world

CANARY = b"CANARY-clip-0d9e"


def clip_bytes(size: int, seed: int = 1) -> bytes:
    """``size`` bytes that hold the canary every 64 KiB (a scan finds any piece left clear)."""
    block = (CANARY + os.urandom(64 * 1024 - len(CANARY))) if seed else b""
    return (block * (size // len(block) + 1))[:size]


def a_clip(data: bytes, name: str = "clip-1.mp4") -> Clip:
    return Clip.of_bytes(
        name, data, duration=12.5, width=640, height=360, sound=False, areas=ClipAreas(3, 1, 0)
    )


def a_document(data: bytes, name: str = "document-1.pdf") -> Document:
    return Document.of_bytes(name, data, kind="ecg", when=dt.date(2026, 3, 4), title="ECG")


def with_payloads(clip_size: int = 3 << 20) -> Case:
    return a_case(
        clips=(a_clip(clip_bytes(clip_size)),),
        documents=(a_document(b"%PDF-1.7 " + CANARY + os.urandom(300_000)),),
    )


def store_in(tmp_path: Path) -> DraftStore:
    return DraftStore(tmp_path, me(world().doctor), world().roots)


def payload_files(store: DraftStore) -> list[Path]:
    return sorted(store.payloads.folder.glob("*.p7m"))


def test_payloads_are_sealed_apart_and_come_back_checked_after_a_restart(tmp_path: Path) -> None:
    case = with_payloads()
    path = store_in(tmp_path).save(case)
    assert path is not None
    assert len(payload_files(store_in(tmp_path))) == 3  # the photo, the clip, the document
    assert path.stat().st_size < 16 << 10  # the draft holds the text and the list only

    drafts, unreadable = store_in(tmp_path).load()
    assert unreadable == []
    again = drafts[0]
    assert isinstance(again.clips[0].payload, DraftPayload)
    assert isinstance(again.documents[0].payload, DraftPayload)
    assert again.clips[0].data == case.clips[0].data
    assert again.documents[0].data == case.documents[0].data
    assert replace(again, photos=case.photos, clips=case.clips, documents=case.documents) == case
    assert again.clips[0].details() == case.clips[0].details()
    assert again.documents[0].details() == case.documents[0].details()
    for file in tmp_path.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert CANARY not in data, file
            assert case.clips[0].sha256.encode() not in data  # nor the digest in clear
            assert case.clips[0].sha256 not in file.name


def test_an_autosave_does_not_seal_the_payloads_again(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    case = with_payloads()
    store.save(case)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in payload_files(store)}
    store.save(replace(case, summary="Ulcère du talon, plus étendu."))  # bytes in memory
    resumed = store.load()[0][0]
    store.save(replace(resumed, summary="Ulcère du talon."))  # references only
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in payload_files(store)}
    assert after == before
    assert [c.summary for c in store_in(tmp_path).load()[0]] == ["Ulcère du talon."]


def test_a_payload_removed_from_the_form_is_collected_at_the_next_save(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    case = with_payloads()
    store.save(case)
    clip_file = store.payloads.path(case.clips[0].sha256)
    assert clip_file.exists()
    store.save(replace(case, clips=()))
    assert not clip_file.exists()
    assert payload_files(store) == sorted(
        [store.payloads.path(case.documents[0].sha256), store.payloads.path(case.photos[0].sha256)]
    )


def test_discarding_or_sending_removes_the_payloads_but_not_another_drafts(
    tmp_path: Path,
) -> None:
    store = store_in(tmp_path)
    first = with_payloads()
    shared = first.documents[0]
    second = a_case(documents=(shared,))  # the same document joined to two requests
    store.save(first)
    store.save(second)
    assert len(payload_files(store)) == 3  # one file for the shared document, and the photo
    assert store.discard(first.case_id)
    assert payload_files(store) == sorted(
        [store.payloads.path(shared.sha256), store.payloads.path(second.photos[0].sha256)]
    )
    drafts, _ = store.load()
    assert drafts[0].documents[0].data == shared.data
    assert store.discard(second.case_id)
    assert payload_files(store) == []


def test_a_payload_no_draft_lists_is_removed_at_the_next_start(tmp_path: Path) -> None:
    """As after a crash between sealing a clip and writing the draft that lists it."""
    store = store_in(tmp_path)
    store.save(a_case())
    data = clip_bytes(1 << 20)
    kept = store.payloads.keep("clip-1.mp4", data, len(data), a_clip(data).sha256)
    assert kept.path.exists()  # pinned: this store is about to list it
    later = store_in(tmp_path)  # the next start
    drafts, unreadable = later.load()
    assert len(drafts) == 1
    assert unreadable == []
    assert not kept.path.exists()


def test_a_missing_or_cut_payload_is_named_and_the_draft_still_loads(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    case = with_payloads()
    store.save(case)
    store.payloads.path(case.clips[0].sha256).unlink()
    document = store.payloads.path(case.documents[0].sha256)
    document.write_bytes(document.read_bytes()[:1000])

    drafts, unreadable = store_in(tmp_path).load()
    assert [(u.code, u.case_id, u.missing) for u in unreadable] == [
        (PAYLOAD_MISSING, case.case_id, ("document-1.pdf", "clip-1.mp4"))
    ]
    assert [c.case_id for c in drafts] == [case.case_id]
    assert drafts[0].clips == ()
    assert drafts[0].documents == ()
    assert drafts[0].summary == case.summary


def test_an_altered_or_swapped_payload_is_refused_by_name_never_read(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    other = a_clip(clip_bytes(4 << 20), "clip-2.mp4")  # larger: passes the size check
    case = with_payloads()
    store.save(case)
    store.save(a_case(clips=(other,)))
    clip_file = store.payloads.path(case.clips[0].sha256)
    data = bytearray(clip_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    clip_file.write_bytes(bytes(data))
    document_file = store.payloads.path(case.documents[0].sha256)
    store.payloads.path(other.sha256).replace(document_file)  # another payload in its place

    drafts, _ = store_in(tmp_path).load()
    mine = next(c for c in drafts if c.case_id == case.case_id)
    with pytest.raises(DraftPayloadDamaged, match=r"clip-1\.mp4") as altered:
        _ = mine.clips[0].data
    assert altered.value.code == "draft_payload_damaged"
    with pytest.raises(DraftPayloadDamaged, match=r"document-1\.pdf.*other bytes"):
        _ = mine.documents[0].data


def test_a_payload_sealed_by_somebody_else_is_refused(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    case = with_payloads()
    store.save(case)
    clip_file = store.payloads.path(case.clips[0].sha256)
    intruder = world().specialist
    with stream.Sealer(clip_file, intruder.cert, intruder.key, [world().doctor.cert]) as out:
        out.write(case.clips[0].data)  # the very bytes, sealed to the doctor by another
        out.finish()
    resumed = store_in(tmp_path).load()[0][0]
    with pytest.raises(DraftPayloadDamaged, match=r"clip-1\.mp4"):
        _ = resumed.clips[0].data


def test_sending_streams_the_payloads_from_their_sealed_files(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    case = with_payloads()
    store.save(case)
    resumed = store_in(tmp_path).load()[0][0]
    doctor, specialist = world().doctor, world().specialist
    out = tmp_path / "request.p7m"
    sent = seal_case(
        out, new_id(), resumed, store._party(), [store._reader()], (doctor.cert, doctor.key),
        [specialist.cert],
    )  # fmt: skip
    with stream.open_file(sent.path, specialist.cert, specialist.key, world().roots) as opened:
        bundle = unpack_content(
            opened,
            signer_fingerprint=store.me.fingerprint,
            reader_fingerprint=store._reader().fingerprint,
        )
        assert bundle.case is not None
        assert bundle.case.clips[0].data == case.clips[0].data
        assert bundle.case.documents[0].data == case.documents[0].data

    store.payloads.path(case.clips[0].sha256).write_bytes(b"\x30\x80" + os.urandom(4 << 20))
    broken = tmp_path / "broken.p7m"
    with pytest.raises(DraftPayloadDamaged, match=r"clip-1\.mp4"):
        seal_case(
            broken, new_id(), resumed, store._party(), [store._reader()],
            (doctor.cert, doctor.key), [specialist.cert],
        )  # fmt: skip
    assert not broken.exists()
    assert not [p for p in tmp_path.glob(".*") if p.is_file()]  # no partial left


def test_a_draft_of_the_earlier_version_moves_its_clip_apart_at_its_next_save(
    tmp_path: Path,
) -> None:
    store = DraftStore(tmp_path, me(world().doctor), world().roots, stream_above=1 << 20)
    case = with_payloads()
    doctor = world().doctor
    path = store._path(case.case_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    seal_case(
        path, new_id(), case, store._party(), [store._reader()], (doctor.cert, doctor.key),
        [doctor.cert],
    )  # fmt: skip  # the clip inside the draft, as the earlier version sealed it
    old = store.load()[0][0]
    assert not isinstance(old.clips[0].payload, DraftPayload)
    store.save(replace(old, summary="Repris."))
    assert path.stat().st_size < 1 << 20
    again = store_in(tmp_path).load()[0][0]
    assert isinstance(again.clips[0].payload, DraftPayload)
    assert again.clips[0].data == case.clips[0].data


def test_an_autosave_costs_the_same_with_a_small_or_a_large_clip(tmp_path: Path) -> None:
    """The draft sealed at each autosave no longer grows with the clip, nor its time."""
    sizes: dict[int, int] = {}
    first: dict[int, float] = {}
    later: dict[int, float] = {}
    for megabytes in (2, 40):
        store = store_in(tmp_path / str(megabytes))
        case = with_payloads(megabytes << 20)
        began = time.process_time()
        store.save(case)  # seals the clip, once
        first[megabytes] = time.process_time() - began
        case = store.load()[0][0]
        began = time.process_time()
        for n in range(3):
            path = store.save(replace(case, summary=f"Saisie {n}"))
        later[megabytes] = (time.process_time() - began) / 3
        assert path is not None
        sizes[megabytes] = path.stat().st_size
    assert abs(sizes[40] - sizes[2]) < 4096  # the draft is the same size
    assert first[40] > 5 * later[40]  # sealing the clip once costs more than every autosave
    assert later[40] < 3 * later[2] + 0.05


def test_the_dicom_uid_key_of_a_request_is_kept_with_its_draft_sealed(tmp_path: Path) -> None:
    store = store_in(tmp_path)
    key = os.urandom(32)
    keyed, plain = a_case(), a_case()
    store.save(keyed, uid_key=key)
    store.save(plain)
    again = store_in(tmp_path)
    again.load()
    assert again.uid_key(keyed.case_id) == key
    assert again.uid_key(plain.case_id) is None
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert key not in file.read_bytes()
            assert key.hex().encode() not in file.read_bytes()
