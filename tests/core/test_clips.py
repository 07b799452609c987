"""Short video clips (issue 17 §2): faces blurred on every frame, no sound unless asked, no
metadata; bad input refused plainly. Real videos made by the tests, checked with ffprobe and
exiftool (independent tools)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.cli import main
from capture.clips import MAX_CLIP_S, ClipError, TimedArea, prepare_clip, probe
from capture.regions import Rect
from tests.support.tools import require_tool
from tests.support.videos import face_at, face_video, long_video


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_video(tmp_path_factory.mktemp("clips") / "consultation.mp4")


@pytest.fixture(scope="module")
def prepared(source: Path) -> tuple[Path, object]:
    target = source.with_name("prepared.mp4")
    report = prepare_clip(source, target)
    return target, report


def sharpness(path: Path, area: Rect) -> list[float]:
    """The variance of the Laplacian inside ``area`` on every frame (detail: a face is high,
    a blurred one near zero)."""
    values = []
    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            image = frame.to_ndarray(format="bgr24")
            r = face_at(n) if area.width == 0 else area
            grey = cv2.cvtColor(
                image[r.y : r.y + r.height, r.x : r.x + r.width], cv2.COLOR_BGR2GRAY
            )
            values.append(float(cv2.Laplacian(grey, cv2.CV_64F).var()))
    return values


MOVING_FACE = Rect(0, 0, 0, 0)  # "wherever the face is on that frame"


def ffprobe(path: Path) -> dict[str, object]:
    tool = require_tool("ffprobe")
    run = subprocess.run(
        [tool, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(run.stdout)
    return result


def test_the_face_is_blurred_on_every_frame(source: Path, prepared: tuple[Path, object]) -> None:
    target, _report = prepared
    before, after = sharpness(source, MOVING_FACE), sharpness(target, MOVING_FACE)
    assert len(after) == len(before) == 50
    assert min(before) > 300  # a real face has detail on every frame
    assert max(after) < 20, [round(v) for v in after]  # and none is left, on any frame
    background = Rect(20, 650, 200, 60)  # the backdrop away from the face stays as it was
    assert abs(np.mean(sharpness(target, background)) - np.mean(sharpness(source, background))) < 5


def test_the_sound_is_dropped_by_default_and_kept_when_asked(
    source: Path, prepared: tuple[Path, object]
) -> None:
    kinds = [s["codec_type"] for s in ffprobe(source)["streams"]]  # type: ignore[index, attr-defined]
    assert sorted(kinds) == ["audio", "video"]
    target, _report = prepared
    streams = ffprobe(target)["streams"]
    assert [s["codec_type"] for s in streams] == ["video"]  # type: ignore[attr-defined, index]
    assert streams[0]["codec_name"] == "h264"  # type: ignore[index]
    with_sound = source.with_name("with-sound.mp4")
    report = prepare_clip(source, with_sound, start=0.4, end=1.2, keep_sound=True)
    assert report.sound_kept
    assert sorted(s["codec_type"] for s in ffprobe(with_sound)["streams"]) == ["audio", "video"]  # type: ignore[attr-defined, index]


def test_no_metadata_survives(source: Path, prepared: tuple[Path, object]) -> None:
    tags = ffprobe(source)["format"]["tags"]  # type: ignore[index]
    assert {"creation_time", "location", "title"} <= set(tags)  # what a camera writes
    target, _report = prepared
    kept = ffprobe(target)["format"].get("tags", {})  # type: ignore[attr-defined]
    assert not {"creation_time", "location", "title", "encoder"} & set(kept), kept
    for stream in ffprobe(target)["streams"]:  # type: ignore[attr-defined]
        assert "creation_time" not in stream.get("tags", {})
    exif = subprocess.run(
        [require_tool("exiftool"), "-j", "-G", str(target)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(exif.stdout)[0]
    for key, value in found.items():
        if key.startswith("QuickTime:") and "Date" in key:
            assert value == "0000:00:00 00:00:00", (key, value)
    assert not [k for k in found if "GPS" in k or "Location" in k or k.endswith(":Title")]
    assert b"P-0147" not in target.read_bytes()


def test_the_doctor_s_own_areas_are_blurred_too(source: Path) -> None:
    tattoo = Rect(1000, 600, 120, 80)
    before = sharpness(source, tattoo)
    target = source.with_name("tattoo.mp4")
    prepare_clip(source, target, end=1.0, extra=[TimedArea(tattoo, 0.0, 1.0)], samples=[])
    after = sharpness(target, tattoo)
    assert max(after) <= max(before)  # a flat backdrop there: nothing to lose, nothing added
    assert len(after) == 26  # 0 to 1 s at 25 frames a second, both ends included


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda p: p.write_bytes(b"not a video at all") and p, "not_a_video"),
        (lambda p: long_video(p, 4 * 3600), "video_too_long"),
    ],
)
def test_bad_input_is_refused_with_its_reason(tmp_path: Path, make: object, code: str) -> None:
    path = tmp_path / "input.mp4"
    assert callable(make)
    make(path)
    with pytest.raises(ClipError) as caught:
        prepare_clip(path, tmp_path / "out.mp4")
    assert caught.value.code == code
    assert not (tmp_path / "out.mp4").exists()
    assert not (tmp_path / "out.mp4.part").exists()


def test_a_truncated_video_is_refused_not_crashed(source: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    with pytest.raises(ClipError) as caught:
        prepare_clip(cut, tmp_path / "out.mp4")
    assert caught.value.code in ("not_a_video", "video_damaged")


def test_an_excerpt_longer_than_a_minute_is_refused(tmp_path: Path) -> None:
    long = long_video(tmp_path / "ten-minutes.mp4", 600)
    assert probe(long).duration >= 600
    with pytest.raises(ClipError) as caught:
        prepare_clip(long, tmp_path / "out.mp4", start=0, end=MAX_CLIP_S + 5)
    assert caught.value.code == "clip_range"


def test_the_command_line(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "clip.mp4"
    assert main(["clip", "prepare", str(source), "-o", str(out), "--end", "0.6"]) == 0
    printed = capsys.readouterr().out
    assert "Visages floutés" in printed
    assert "Son supprimé." in printed
    assert out.exists()
    bad = tmp_path / "notes.txt"
    bad.write_text("pas une vidéo")
    assert main(["clip", "prepare", str(bad), "-o", str(tmp_path / "x.mp4")]) == 1
    assert "n’est pas une vidéo lisible" in capsys.readouterr().err
