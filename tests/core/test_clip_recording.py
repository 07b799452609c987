"""Recording a clip in memory from the capture station's source, and the doctor's review of
its key frames (issue 17 §2), without Qt."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from capture.clipreview import ClipReview
from capture.clips import TimedArea, probe
from capture.recording import ClipRecording
from capture.regions import Rect
from capture.sources import VideoFileSource
from tests.support.videos import face_video


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_video(tmp_path_factory.mktemp("recording") / "camera.mp4", frames=25)


def test_every_frame_of_a_file_source_is_recorded_in_memory(camera: Path) -> None:
    recording = ClipRecording(VideoFileSource(camera, loop=False, realtime=False), 20)
    recording.start()
    recording.join(60)
    assert recording.error is None
    assert recording.frames == 25
    info = probe(recording.result())  # an MP4 in memory that FFmpeg reads back
    assert (info.width, info.height, info.has_sound) == (1280, 720, False)
    assert info.duration == pytest.approx(1.0, abs=0.05)


def test_the_recording_stops_at_its_length_and_when_asked(camera: Path) -> None:
    short = ClipRecording(VideoFileSource(camera, loop=True, realtime=False), 1.0)
    short.start()
    short.join(60)
    assert short.frames == 25  # 1 s at 25 frames a second, though the source loops on
    live = ClipRecording(VideoFileSource(camera, loop=True, realtime=True), 60)
    live.start()
    time.sleep(0.5)
    live.stop()
    live.join(10)
    assert not live.running
    assert 0 < live.recorded < 5
    assert probe(live.result()).duration < 5


def test_the_length_is_bounded_to_a_minute(camera: Path) -> None:
    assert ClipRecording(VideoFileSource(camera), 3600).seconds == 60


def test_a_source_that_cannot_open_is_an_error_not_a_crash(tmp_path: Path) -> None:
    recording = ClipRecording(VideoFileSource(tmp_path / "absent.mp4"), 5)
    recording.start()
    recording.join(10)
    assert recording.error is not None
    assert recording.result() == b""


FACE, OTHER = Rect(10, 10, 50, 50), Rect(200, 10, 40, 40)


def a_review() -> ClipReview:
    return ClipReview([(0.0, [FACE]), (0.25, [FACE, OTHER]), (0.5, [FACE])], 0.0, 0.6)


def test_a_removed_area_leaves_the_samples_and_can_come_back() -> None:
    review = a_review()
    assert review.toggle(1, 1) is False
    assert review.samples() == [(0.0, [FACE]), (0.25, [FACE]), (0.5, [FACE])]
    assert review.counts().removed == 1
    assert review.toggle(1, 1) is True
    assert review.samples()[1] == (0.25, [FACE, OTHER])
    with pytest.raises(IndexError):
        review.toggle(0, 5)


def test_an_added_area_covers_its_key_frame_s_span() -> None:
    review = a_review()
    tattoo = Rect(300, 300, 20, 20)
    review.add(1, tattoo)
    review.add(2, tattoo)
    review.add(0, Rect(0, 0, 0, 5))  # empty: ignored
    assert review.extra() == [TimedArea(tattoo, 0.0, 0.5), TimedArea(tattoo, 0.25, 0.6)]
    counts = review.counts()
    assert (counts.found, counts.removed, counts.added, counts.blurred) == (4, 0, 2, 6)
    review.drop_added(0)
    assert review.extra() == [TimedArea(tattoo, 0.25, 0.6)]


def test_a_false_area_is_removed_on_every_key_frame_it_is_followed_over() -> None:
    moving = [Rect(10 + 8 * n, 10, 50, 50) for n in range(4)]
    review = ClipReview(
        [(0.25 * n, [OTHER, moving[n]] if n != 2 else [moving[n]]) for n in range(4)]
        + [(1.0, [Rect(400, 400, 30, 30)])],  # somewhere else: not the same area
        0.0,
        1.0,
    )
    assert review.toggle_track(1, 1) == 4
    assert review.removed == {(0, 1), (1, 1), (2, 0), (3, 1)}
    assert all(OTHER in rects for _t, rects in review.samples()[:2])  # the other area stays
    assert review.samples()[4] == (1.0, [Rect(400, 400, 30, 30)])
    assert review.toggle_track(3, 1) == 4  # and back
    assert review.removed == set()
