"""Clips travel in requests (issue 17 §2): listed in the clinical manifest with duration, size,
digest, frame size, sound and the review's areas; an older request without clips still opens;
a malformed or swapped entry is refused; at most 3 clips and 200 MB per request."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from capture.clips import prepare_clip
from cases.bundle import pack_case
from cases.clips import MAX_CLIPS, MAX_CLIPS_BYTES, Clip, ClipAreas, next_name
from tests.core.test_bundle import DOCTOR, EXPERT, a_case, code_of, entries, open_as, rebuild
from tests.support.videos import face_video


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("bundle-clips")
    source = face_video(folder / "source.mp4", frames=10, sound=False)
    prepare_clip(source, folder / "clip.mp4", samples=[])
    return (folder / "clip.mp4").read_bytes()


def a_clip(data: bytes, name: str = "clip-1.mp4", **changes: Any) -> Clip:
    fields: dict[str, Any] = {
        "duration": 0.4, "width": 1280, "height": 720, "sound": False,
        "areas": ClipAreas(found=3, removed=1, added=2),
    }  # fmt: skip
    fields.update(changes)
    return Clip.of_bytes(name, data, **fields)


def with_clips(*clips: Clip) -> bytes:
    return pack_case("b-1", a_case(clips=clips), DOCTOR, [EXPERT, DOCTOR])


def test_a_clip_travels_stored_with_its_details(clip_bytes: bytes) -> None:
    clip = a_clip(clip_bytes)
    data = with_clips(clip)
    assert entries(data)["clips/clip-1.mp4"].compress_type == zipfile.ZIP_STORED
    bundle = open_as(data)
    (got,) = bundle.case.clips
    assert got.data == clip_bytes
    assert (got.duration, got.width, got.height, got.sound) == (0.4, 1280, 720, False)
    assert got.areas == ClipAreas(3, 1, 2)
    assert got.areas.blurred == 4
    listed = {f.name: f for f in bundle.manifest.files}
    assert listed["clips/clip-1.mp4"].media_type == "video/mp4"
    entry = json.loads(bundle.manifest_json)["clinical"]["clips"][0]
    assert entry == {
        "name": "clip-1.mp4", "duration": 0.4, "size": len(clip_bytes), "sha256": clip.sha256,
        "width": 1280, "height": 720, "sound": False,
        "areas": {"found": 3, "removed": 1, "added": 2},
    }  # fmt: skip
    assert bundle.case.photos  # the photos are still there


def test_a_request_without_clips_is_written_as_before_and_opens() -> None:
    case = a_case()
    assert "clips" not in case.to_json()
    assert open_as(pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR])).case.clips == ()


def _edit_clip(change: Any) -> Any:
    def edit(manifest: dict[str, Any]) -> None:
        change(manifest["clinical"]["clips"][0])

    return edit


@pytest.mark.parametrize(
    "edit",
    [
        _edit_clip(lambda c: c.update(size=c["size"] + 1)),
        _edit_clip(lambda c: c.update(sha256="0" * 64)),
        _edit_clip(lambda c: c.update(name="../clip-1.mp4")),
        _edit_clip(lambda c: c.update(name="clip-1.mkv")),
        _edit_clip(lambda c: c.update(duration=3600)),
        _edit_clip(lambda c: c.update(duration="20")),
        _edit_clip(lambda c: c.update(width=7680)),
        _edit_clip(lambda c: c.update(height=0)),
        _edit_clip(lambda c: c.update(sound="no")),
        _edit_clip(lambda c: c.update(areas={"found": 1, "removed": 2, "added": 0})),
        _edit_clip(lambda c: c.update(areas={"found": -1, "removed": 0, "added": 0})),
        _edit_clip(lambda c: c.update(areas=4)),
        _edit_clip(lambda c: c.update(extra=1)),
        _edit_clip(lambda c: c.pop("sound")),
        lambda m: m["clinical"]["clips"].append(dict(m["clinical"]["clips"][0])),
        lambda m: m["clinical"].update(clips="clip-1.mp4"),
        lambda m: m["clinical"].pop("clips"),  # the file is then an extra one
        lambda m: m["clinical"].update(clips=[m["clinical"]["clips"][0]] * (MAX_CLIPS + 1)),
    ],
)
def test_a_malformed_clip_entry_is_refused(clip_bytes: bytes, edit: Any) -> None:
    assert code_of(rebuild(with_clips(a_clip(clip_bytes)), manifest=edit)) == "malformed_bundle"


def test_a_clip_swapped_for_the_unblurred_original_is_refused(
    clip_bytes: bytes, tmp_path: Path
) -> None:
    original = face_video(tmp_path / "original.mp4", frames=10).read_bytes()

    def swap(files: dict[str, bytes]) -> None:
        files["clips/clip-1.mp4"] = original

    assert code_of(rebuild(with_clips(a_clip(clip_bytes)), files=swap)) == "malformed_bundle"


def test_clips_are_bounded_in_number_and_size(clip_bytes: bytes) -> None:
    four = [a_clip(clip_bytes, f"clip-{n}.mp4") for n in range(1, MAX_CLIPS + 2)]
    assert "too_many_clips" in a_case(clips=tuple(four)).problems()
    assert a_case(clips=tuple(four[:MAX_CLIPS])).problems() == []
    big = [Clip("clip-1.mp4", b"", 10, MAX_CLIPS_BYTES // 2 + 1, "0" * 64, 64, 64)] * 2
    assert "clips_too_large" in a_case(clips=tuple(big)).problems()
    assert next_name(four[:2]) == "clip-3.mp4"


def test_a_clip_s_details_are_checked_when_made(clip_bytes: bytes) -> None:
    with pytest.raises(ValueError, match="name"):
        a_clip(clip_bytes, "consultation P-0147.mp4")
    with pytest.raises(ValueError, match="duration"):
        a_clip(clip_bytes, duration=61)
    with pytest.raises(ValueError, match="removed"):
        a_clip(clip_bytes, areas=ClipAreas(found=0, removed=1))


def test_a_draft_keeps_its_clips_sealed(clip_bytes: bytes, tmp_path: Path) -> None:
    """The doctor's draft (sealed, restored after a restart) keeps the clip; no clear video
    lies in the drafts' folder."""
    from cases.drafts import DraftStore
    from tests.core.test_drafts import a_case as a_draft
    from tests.core.test_drafts import me
    from tests.support.pki import world

    clip = a_clip(clip_bytes)
    DraftStore(tmp_path, me(world().doctor), world().roots).save(a_draft(clips=(clip,)))
    middle = clip_bytes[len(clip_bytes) // 2 : len(clip_bytes) // 2 + 48]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"ftypisom" not in data
            assert middle not in data
    again, unreadable = DraftStore(tmp_path, me(world().doctor), world().roots).load()
    assert unreadable == []
    [restored] = again[0].clips
    assert restored.data == clip_bytes
    assert restored.areas == clip.areas
