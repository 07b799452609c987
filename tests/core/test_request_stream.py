"""A request with large clips and documents, from the doctor's draft to the specialist, in
memory that does not grow with its size (issue 17 §2): the draft is sealed as it is packed and
opened in bounded memory, ``Workstation.send_case`` feeds its files to the ZIP and the cipher
in blocks (cases.bundleseal) and indexes it from its manifest, nothing decrypted; no clinical
byte reaches the disk in clear; a file that is not what its manifest says leaves nothing."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest

from app.session import Session
from cases import bundleseal
from cases.bundle import Party
from cases.clips import Clip, ClipAreas
from cases.documents import Document
from cases.drafts import DraftStore
from cases.model import Case, new_id
from tests.core.test_drafts import me
from tests.core.test_workstation import a_case, unlock, wait_for
from tests.support.demo import DemoEnv
from tests.support.pki import World, world

MIB = 1 << 20
CANARY = b"CANARY-clip-4d1e"
BOUND = 10 * MIB
"""Peak of fresh Python allocations allowed while a request of :data:`CLIP` + :data:`PDF`
bytes is sealed: a path holding one whole file (or the ZIP) in memory goes far above."""
CLIP, PDF = 40 * MIB, 24 * MIB
T = TypeVar("T")


def payload(size: int) -> bytes:
    """Incompressible bytes with the canary at every mebibyte."""
    parts = []
    for start in range(0, size, MIB):
        block = bytearray(os.urandom(min(MIB, size - start)))
        block[: len(CANARY)] = CANARY
        parts.append(bytes(block))
    return b"".join(parts)


def big_case() -> Case:
    clip = Clip.of_bytes(
        "clip-1.mp4", payload(CLIP), duration=42.0, width=1280, height=720, sound=False,
        areas=ClipAreas(3, 1, 0),
    )  # fmt: skip
    document = Document.of_bytes(
        "document-1.pdf", b"%PDF-1.7\n" + payload(PDF), kind="biologie",
        when=a_case().created_at.date(), title="Bilan",
    )  # fmt: skip
    return replace(a_case(), clips=(clip,), documents=(document,))


def traced(work: Callable[[], T]) -> tuple[T, int]:
    """``work()``'s result and the peak of the Python memory it allocated."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def clear_copies(root: Path) -> list[Path]:
    """Files under ``root`` holding the canary in clear."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as file:
                while block := file.read(8 * MIB):
                    if CANARY in block:
                        found.append(path)
                        break
    return found


def test_a_large_draft_is_sent_in_flat_memory_and_indexed_at_sealing(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    drafts_folder = Path(demo_env.layout.unit) / "drafts"
    roots = unit.profile.trust_roots()
    case = big_case()
    clip_sha, document_sha = case.clips[0].sha256, case.documents[0].sha256
    path, peak = traced(partial(DraftStore(drafts_folder, doctor, roots).save, case))
    assert path is not None
    assert peak < BOUND, f"saving the draft allocated {peak / MIB:.1f} MiB"
    del case

    loaded, unreadable = DraftStore(drafts_folder, doctor, roots).load()
    assert unreadable == []
    (draft,) = loaded
    assert not isinstance(draft.clips[0].payload, bytes)  # read from the opened draft
    assert not isinstance(draft.documents[0].payload, bytes)
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    store = unit.workstation.store(doctor)
    progress: list[tuple[int, int | None]] = []

    def send() -> str:
        return unit.workstation.send_case(
            doctor, draft, to, progress=lambda done, total: progress.append((done, total))
        )

    bundle_id, peak = traced(send)
    assert peak < BOUND, f"sending allocated {peak / MIB:.1f} MiB"
    done, total = progress[-1]
    assert done == total
    assert done > CLIP + PDF
    assert len(progress) > 10  # and along the way
    row = store.index.get(bundle_id)  # indexed at sealing, from the manifest: not decrypted
    assert row is not None
    assert row.state == "admitted"
    assert store.openings == 0
    assert clear_copies(Path(demo_env.layout.unit)) == []  # drafts, archive, spool: sealed

    unit.sender.wake()
    wait_for(lambda: hospital.inbox.items("pr-dubois"), timeout=120)
    hospital.workstation.refresh_directory()
    threads, unreadable = hospital.workstation.threads(expert)
    assert unreadable == []
    assert [t.case.bundle_id for t in threads] == [bundle_id]
    request = threads[0].case.bundle.case
    assert request is not None
    assert hashlib.sha256(request.clips[0].data).hexdigest() == clip_sha
    assert hashlib.sha256(request.documents[0].data).hexdigest() == document_sha


def test_a_request_holding_its_files_in_memory_is_not_copied_to_be_sealed(
    w: World, tmp_path: Path
) -> None:
    """The app path from the form (the clip just prepared, in memory): the ZIP is never
    built whole beside it."""
    case = big_case()
    doctor = Party.of_certificate(w.doctor.cert, "dr")
    expert = Party.of_certificate(w.specialist.cert, "pr")

    def seal() -> bundleseal.Sealed:
        return bundleseal.seal_case(
            tmp_path / "request.cms", "b-big", case, doctor, [expert, doctor],
            (w.doctor.cert, w.doctor.key), [w.specialist.cert, w.doctor.cert],
        )  # fmt: skip

    sealed, peak = traced(seal)
    assert peak < BOUND, f"sealing allocated {peak / MIB:.1f} MiB"
    assert sealed.size > CLIP + PDF
    assert clear_copies(tmp_path) == []


def test_a_file_that_is_not_what_its_entry_says_leaves_nothing(w: World, tmp_path: Path) -> None:
    """A payload swapped or grown between the manifest and the ZIP (a draft's file replaced
    under a stale entry, a source still being written) is refused, and no sealed file nor
    partial one is left to be queued."""
    data = payload(3 * MIB)
    doctor = Party.of_certificate(w.doctor.cert, "dr")
    sign, to = (w.doctor.cert, w.doctor.key), [w.doctor.cert]
    right = hashlib.sha256(data).hexdigest()
    forged = [
        bundleseal.declared_member("clips/clip-1.mp4", data, len(data), "0" * 64),
        bundleseal.declared_member("clips/clip-1.mp4", data + b"more", len(data), right),
        bundleseal.declared_member("clips/clip-1.mp4", data[:-1], len(data), right),
    ]
    for member in forged:
        with pytest.raises(ValueError, match="differs"):
            bundleseal.seal_members(
                tmp_path / "out.cms", "b-x", "request", [member], doctor, [doctor], sign, to
            )
        assert list(tmp_path.iterdir()) == []


def test_a_request_above_what_a_reader_opens_is_refused_before_sealing(
    w: World, tmp_path: Path
) -> None:
    doctor = Party.of_certificate(w.doctor.cert, "dr")
    huge = bundleseal.declared_member("clips/clip-1.mp4", b"", 3 << 30, "0" * 64)
    with pytest.raises(ValueError, match="above"):
        bundleseal.seal_members(
            tmp_path / "out.cms", "b-x", "request", [huge], doctor, [doctor],
            (w.doctor.cert, w.doctor.key), [w.doctor.cert],
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_a_large_draft_altered_or_not_ours_is_unreadable_never_partial(
    w: World, tmp_path: Path
) -> None:
    doctor, other = me(w.doctor), me(w.specialist, "pr-x")
    store = DraftStore(tmp_path, doctor, w.roots, stream_above=MIB)
    case = replace(big_case(), clips=())
    path = store._path(case.case_id)  # as the earlier version saved it: its document within
    path.parent.mkdir(parents=True, exist_ok=True)
    bundleseal.seal_case(
        path, new_id(), case, store._party(), [store._reader()], (w.doctor.cert, w.doctor.key),
        [w.doctor.cert],
    )  # fmt: skip  # (a draft now holds its clips and documents apart: test_drafts_payloads)
    assert path.stat().st_size > MIB
    (again,), unreadable = DraftStore(tmp_path, doctor, w.roots, stream_above=MIB).load()
    assert unreadable == []
    assert again.documents[0].data == case.documents[0].data

    copied = tmp_path / other.info.id / path.name  # another person's folder: not theirs
    copied.parent.mkdir()
    copied.write_bytes(path.read_bytes())
    drafts, unreadable = DraftStore(tmp_path, other, w.roots, stream_above=MIB).load()
    assert drafts == []
    assert [u.code for u in unreadable] == ["not_a_recipient"]

    with path.open("r+b") as file:  # one bit flipped in the middle of the ciphertext
        file.seek(path.stat().st_size // 2)
        byte = file.read(1)
        file.seek(-1, os.SEEK_CUR)
        file.write(bytes([byte[0] ^ 1]))
    drafts, unreadable = DraftStore(tmp_path, doctor, w.roots, stream_above=MIB).load()
    assert drafts == []
    assert len(unreadable) == 1


@pytest.fixture
def w() -> World:
    return world()
