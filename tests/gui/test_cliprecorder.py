"""The doctor's clip window (issue 17 §2): recorded from the capture station's source (a video
file stands in for the camera), the faces found on the key frames are blurred on every frame
of what is sent; an area removed in the review stays sharp, one drawn is blurred; the sound
is off unless ticked; the review must be confirmed first; nothing is written to the disk."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from capture.clips import probe
from capture.regions import Rect
from capture.sources import VideoFileSource
from tests.core.test_clips import MOVING_FACE, sharpness
from tests.gui.test_at_rest import private_tmp  # noqa: F401
from tests.support.videos import face_video
from widgets.cliprecorder import ClipRecorder
from widgets.clipwork import CLIP_THREAD

TATTOO = Rect(900, 480, 240, 160)  # a part of the backdrop the doctor wants hidden


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_video(tmp_path_factory.mktemp("recorder") / "camera.mp4", frames=30)


def reviewed(qtbot: QtBot, window: ClipRecorder) -> None:
    qtbot.waitUntil(lambda: window.review is not None and not window.job, timeout=120_000)


def prepared(qtbot: QtBot, window: ClipRecorder, folder: Path) -> Path:
    with qtbot.waitSignal(window.clip_ready, timeout=180_000):
        window.add_button.click()
    assert window.clip is not None
    out = folder / "sent.mp4"  # what the request carries, written here to measure it
    out.write_bytes(window.clip.data)
    return out


def test_a_recorded_clip_has_the_face_blurred_on_every_frame_and_no_sound(
    qtbot: QtBot,
    camera_file: Path,
    tmp_path: Path,
    private_tmp: Path,  # noqa: F811
) -> None:
    window = ClipRecorder(
        make_source=lambda: VideoFileSource(camera_file, loop=False, realtime=False)
    )
    qtbot.addWidget(window)
    window.show()
    assert window.length.value() == 20
    assert window.length.maximum() == 60
    folders = (tmp_path.parent, private_tmp)  # this session's folders, and the temporary one

    def videos() -> set[Path]:
        return {p for f in folders for p in f.rglob("*") if p.suffix in {".mp4", ".part", ".avi"}}

    before = videos()
    window.record_button.click()
    assert window.stop_button.isEnabled()
    qtbot.waitUntil(lambda: window.recording is None, timeout=30_000)
    reviewed(qtbot, window)
    review = window.review
    assert review is not None
    assert all(rects for _t, rects in review.found), "the face is found on every key frame"
    assert window.strip.count() == len(review.found)
    assert not window.sound.isChecked()  # sound off by default
    assert not window.sound.isEnabled()  # a recording has no sound to keep
    assert not window.add_button.isEnabled()  # not before the review is confirmed
    window.confirm.setChecked(True)
    assert window.add_button.isEnabled()
    sent = prepared(qtbot, window, tmp_path)
    after = sharpness(sent, MOVING_FACE)
    assert len(after) == 30
    assert max(after) < 20, [round(v) for v in after]
    assert min(sharpness(camera_file, MOVING_FACE)) > 300
    assert not probe(sent).has_sound
    clip = window.clip
    assert clip is not None
    assert (clip.name, clip.sound, clip.width, clip.height) == ("clip-1.mp4", False, 1280, 720)
    assert clip.areas.found == review.counts().found
    assert videos() - before == {sent}, "no recording nor prepared clip was written to the disk"


def test_a_removed_area_stays_sharp_and_a_drawn_one_is_blurred(
    qtbot: QtBot, camera_file: Path, tmp_path: Path
) -> None:
    window = ClipRecorder()
    qtbot.addWidget(window)
    window.show()
    assert not window.record_button.isEnabled()  # no source: choose a file
    window.use(camera_file)
    reviewed(qtbot, window)
    review = window.review
    assert review is not None
    window.strip.setCurrentRow(0)
    qtbot.waitUntil(lambda: window.view.sample == 0, timeout=20_000)
    rect = review.found[0][1][0]  # Shift+click: the face removed on every key frame it is followed
    centre = window.view._to_widget(rect).center()
    qtbot.mouseClick(
        window.view, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, centre
    )
    assert all((i, 0) in review.removed for i in range(len(review.found)))
    for index in range(len(review.found)):  # and a tattoo drawn on each
        window.strip.setCurrentRow(index)
        qtbot.waitUntil(lambda i=index: window.view.sample == i, timeout=20_000)
        for area, _rect, blurred in review.kept(index):  # a second area found there, if any
            if blurred:
                review.toggle(index, area)
        window.view.draw_area(TATTOO)
    assert review.counts().removed == sum(len(r) for _t, r in review.found)
    assert review.counts().added == len(review.found)
    assert not window.confirm.isChecked()
    window.confirm.setChecked(True)
    sent = prepared(qtbot, window, tmp_path)
    assert np.median(sharpness(sent, MOVING_FACE)) > 100  # the removed area is not blurred
    assert max(sharpness(sent, TATTOO)) < 5  # the drawn one is, on every frame
    assert min(sharpness(camera_file, TATTOO)) >= 0


def test_the_sound_is_kept_only_when_ticked(
    qtbot: QtBot, camera_file: Path, tmp_path: Path
) -> None:
    window = ClipRecorder()
    qtbot.addWidget(window)
    window.use(camera_file)
    reviewed(qtbot, window)
    assert window.sound.isEnabled()
    assert not window.sound.isChecked()
    window.sound.setChecked(True)
    window.confirm.setChecked(True)
    sent = prepared(qtbot, window, tmp_path)
    assert probe(sent).has_sound
    assert window.clip is not None
    assert window.clip.sound


def test_a_file_that_is_not_a_video_is_refused_plainly(qtbot: QtBot, tmp_path: Path) -> None:
    bad = tmp_path / "résultat.mp4"
    bad.write_bytes(b"%PDF-1.7 not a video")
    window = ClipRecorder()
    qtbot.addWidget(window)
    window.use(bad)
    qtbot.waitUntil(lambda: bool(window.status.text()) and "Lecture" not in window.status.text())
    assert "vidéo" in window.status.text()
    assert window.review is None
    assert not window.add_button.isEnabled()


def test_the_worker_is_the_clip_thread() -> None:
    from widgets.clipwork import CLIP_WORKER

    assert (
        CLIP_WORKER.submit(lambda: threading.current_thread().name).result().startswith(CLIP_THREAD)
    )


def demo_face_sharpness(path: Path) -> list[float]:
    """Detail inside the demo video's face (it pans left by PAN_PX a frame), on every frame."""
    import av
    import cv2

    from widgets.capture_demo import DEMO_FRAMES, DEMO_SIZE, PAN_PX

    width, height = DEMO_SIZE
    left, top, side = (
        int((width + DEMO_FRAMES * PAN_PX) * 0.05),
        int(height * 0.06),
        round(height * 0.3),
    )
    values = []
    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            image = frame.to_ndarray(format="bgr24")
            x = max(0, left - n * PAN_PX)
            grey = cv2.cvtColor(
                image[top : top + side, x : x + side - PAN_PX * DEMO_FRAMES], cv2.COLOR_BGR2GRAY
            )
            values.append(float(cv2.Laplacian(grey, cv2.CV_64F).var()))
    return values


def test_the_recorder_on_the_demo_video_blurs_its_face_on_every_frame(
    qtbot: QtBot, tmp_path: Path
) -> None:
    from widgets.capture_demo import DEMO_FRAMES, write_demo_video

    demo = write_demo_video(tmp_path / "demo.avi")
    window = ClipRecorder(make_source=lambda: VideoFileSource(demo, loop=False, realtime=False))
    qtbot.addWidget(window)
    window.record()
    qtbot.waitUntil(lambda: window.recording is None, timeout=30_000)
    reviewed(qtbot, window)
    assert window.review is not None
    assert all(rects for _t, rects in window.review.found)
    window.confirm.setChecked(True)
    sent = prepared(qtbot, window, tmp_path)
    before, after = demo_face_sharpness(demo), demo_face_sharpness(sent)
    assert len(after) == DEMO_FRAMES
    assert min(before) > 5  # the schematic face's eyes and mouth
    assert max(after) < 1.5, [round(v, 2) for v in after]


def test_the_countdown_shows_and_stop_ends_early(
    qtbot: QtBot, camera_file: Path, tmp_path: Path
) -> None:
    window = ClipRecorder(
        make_source=lambda: VideoFileSource(camera_file, loop=True, realtime=True)
    )
    qtbot.addWidget(window)
    window.show()
    window.length.setValue(20)
    window.record_button.click()
    qtbot.waitUntil(
        lambda: window.view.sample == -1 and not window.view.image.isNull(), timeout=10_000
    )
    assert "Enregistrement : encore" in window.countdown.text()
    left = int(window.countdown.text().split("encore")[1].split()[0])
    assert 10 <= left <= 20  # counting down from 20 (the first frame may take seconds)
    assert not window.choose_button.isEnabled()
    assert window.grab().save(str(tmp_path / "recording.png"))
    window.stop_button.click()
    qtbot.waitUntil(lambda: window.recording is None, timeout=10_000)
    assert window.countdown.text() == ""
    qtbot.waitUntil(lambda: window.info is not None, timeout=30_000)
    assert window.info is not None
    assert window.info.duration < 10  # stopped early, what was recorded kept
    assert window.end.value() == pytest.approx(window.info.duration, abs=0.1)


def test_the_form_records_from_the_capture_station_s_source(
    qtbot: QtBot, camera_file: Path, tmp_path: Path
) -> None:
    from PySide6.QtCore import QSettings

    from app.tasks import TaskRunner
    from widgets.capture import CaptureStation
    from widgets.clips import ClipList

    runner = TaskRunner()
    station = CaptureStation(
        runner, QSettings(str(tmp_path / "capture.ini"), QSettings.Format.IniFormat)
    )
    qtbot.addWidget(station)
    station.show()
    try:
        station.start_video(camera_file)  # the station's source: a video standing in for the camera
        station.sources.video.setText(str(camera_file))
        clips = ClipList()
        qtbot.addWidget(clips)
        recorder = clips.open_recorder()
        assert recorder is not None
        assert recorder.record_button.isEnabled()
        recorder.record_button.click()
        qtbot.waitUntil(lambda: recorder.recording is None, timeout=30_000)
        qtbot.waitUntil(lambda: recorder.info is not None, timeout=30_000)
        assert recorder.info is not None
        assert recorder.info.duration == pytest.approx(1.2, abs=0.1)  # the station's 30 frames
    finally:
        station.done(0)
        runner.shutdown()


def test_a_camera_that_does_not_answer_is_said_plainly(qtbot: QtBot, tmp_path: Path) -> None:
    window = ClipRecorder(make_source=lambda: VideoFileSource(tmp_path / "no-camera.mp4"))
    qtbot.addWidget(window)
    window.record()
    qtbot.waitUntil(lambda: window.recording is None, timeout=10_000)
    assert "caméra ne répond pas" in window.status.text()
    assert window.source is None
    assert window.record_button.isEnabled()  # try again, or choose a file
    assert window.choose_button.isEnabled()


def test_the_preview_and_the_face_search_run_on_the_clip_thread(
    qtbot: QtBot, camera_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from widgets import cliprecorder

    threads: list[str] = []
    original_frame, original_find = cliprecorder.frame_at, cliprecorder.engine.find_faces

    def frame_at(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return original_frame(*args, **kwargs)

    def find_faces(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return original_find(*args, **kwargs)

    monkeypatch.setattr(cliprecorder, "frame_at", frame_at)
    monkeypatch.setattr(cliprecorder.engine, "find_faces", find_faces)
    window = ClipRecorder()
    qtbot.addWidget(window)
    window.show()
    window.use(camera_file)
    reviewed(qtbot, window)
    window.position.setValue(8)  # 0.8 s
    qtbot.waitUntil(lambda: len(threads) >= 4, timeout=20_000)
    assert threads
    assert all(name.startswith(CLIP_THREAD) for name in threads), threads


def test_trimming_keeps_only_the_chosen_part(
    qtbot: QtBot, camera_file: Path, tmp_path: Path
) -> None:
    window = ClipRecorder()
    qtbot.addWidget(window)
    window.use(camera_file)
    reviewed(qtbot, window)
    window.confirm.setChecked(True)
    window.start.setValue(0.4)
    window.end.setValue(1.0)
    assert window.review is None  # trimmed: the key frames are looked at again
    assert not window.confirm.isChecked()
    assert not window.add_button.isEnabled()
    window.search_button.click()
    reviewed(qtbot, window)
    assert window.review is not None
    assert window.review.found[0][0] == pytest.approx(0.4, abs=0.05)
    window.confirm.setChecked(True)
    sent = prepared(qtbot, window, tmp_path)
    assert probe(sent).duration == pytest.approx(0.6, abs=0.08)
    assert window.clip is not None
    assert window.clip.duration == pytest.approx(0.6, abs=0.05)
