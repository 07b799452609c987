"""Frame sources: a video standing in for the camera, unplug and replug, the grabber, a folder.

The "camera" is a real ``cv2.VideoCapture`` on a video file made by the test: removing the
file while frames are read is the unplug, putting it back the replug.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from pathlib import Path

import pytest

from capture.errors import CaptureError
from capture.faces import detect_faces
from capture.folder import WatchedFolder, wipe
from capture.grabber import FrameGrabber
from capture.sources import CameraSource, Frame, SourceState, VideoFileSource
from tests.support import scenes

DEADLINE = 20.0  # seconds any polling loop below may take at most


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames of 640×480 at 30 fps, each stamped with its index."""
    return scenes.scene_video(tmp_path_factory.mktemp("video") / "scene.avi", count=30)


def read_all(source: VideoFileSource | CameraSource, limit: int) -> list[Frame]:
    frames = []
    for _ in range(limit):
        frame = source.read()
        if frame is None:
            break
        frames.append(frame)
    return frames


def test_video_plays_in_order_and_loops(video: Path) -> None:
    states: list[SourceState] = []
    source = VideoFileSource(video, realtime=False, on_state=states.append)
    assert source.size == (0, 0)
    source.open()
    assert source.size == (640, 480)
    assert not source.is_live
    frames = read_all(source, 75)
    source.close()
    assert [f.index for f in frames] == list(range(75))
    assert [scenes.read_index(f.image) for f in frames] == [i % 30 for i in range(75)]
    assert frames[0].image.shape == (480, 640, 3)
    assert states == [SourceState.LIVE, SourceState.CLOSED]


def test_video_without_loop_ends(video: Path) -> None:
    source = VideoFileSource(video, realtime=False, loop=False)
    source.open()
    assert len(read_all(source, 100)) == 30
    assert source.state is SourceState.ENDED
    source.close()


def test_realtime_video_keeps_its_pace(video: Path) -> None:
    source = VideoFileSource(video, realtime=True)
    source.open()
    assert source.is_live
    started = time.monotonic()
    frames = read_all(source, 16)
    elapsed = time.monotonic() - started
    source.close()
    assert len(frames) == 16
    assert elapsed >= 15 / 30 - 0.02  # frame 15 is due half a second after frame 0
    assert frames[-1].timestamp - frames[0].timestamp >= 15 / 30 - 0.02


def test_missing_video_or_camera_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(CaptureError) as caught:
        VideoFileSource(tmp_path / "absent.avi").open()
    assert caught.value.code == "camera_unavailable"
    camera = CameraSource(97, retry_delays=(0.01,))
    with pytest.raises(CaptureError) as caught:
        camera.open()
    assert caught.value.code == "camera_unavailable"
    assert camera.state is SourceState.FAILED


def test_camera_unplugged_then_back(video: Path, tmp_path: Path) -> None:
    device = tmp_path / "camera.avi"
    shutil.copy(video, device)
    states: list[SourceState] = []
    camera = CameraSource(str(device), None, retry_delays=(0.01, 0.02), on_state=states.append)
    camera.open()
    assert camera.size == (640, 480)
    assert len(read_all(camera, 100)) == 30  # the "camera" stops delivering: unplugged
    assert camera.state is SourceState.DISCONNECTED
    device.rename(tmp_path / "away.avi")
    assert camera.read() is None  # a reconnection attempt fails
    assert camera.read() is None
    assert camera.attempts == 2
    assert camera.state is SourceState.DISCONNECTED
    (tmp_path / "away.avi").rename(device)  # plugged back
    frame = camera.read()
    assert frame is not None
    assert frame.index == 30  # the counter goes on
    assert camera.state is SourceState.LIVE
    assert camera.attempts == 0
    assert states == [SourceState.LIVE, SourceState.DISCONNECTED, SourceState.LIVE]
    camera.close()


def test_camera_gives_up_after_its_attempts(video: Path, tmp_path: Path) -> None:
    device = tmp_path / "camera.avi"
    shutil.copy(video, device)
    camera = CameraSource(str(device), None, retry_delays=(0.001,), max_attempts=3)
    camera.open()
    read_all(camera, 100)
    device.unlink()
    assert camera.read() is None
    assert camera.read() is None
    with pytest.raises(CaptureError) as caught:
        camera.read()
    assert caught.value.code == "camera_disconnected"
    assert camera.attempts == 3
    assert camera.state is SourceState.FAILED
    camera.close()


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_grabber_hands_over_the_latest_frame_and_analyses(video: Path) -> None:
    analysed: list[int] = []

    def analyse(frame: Frame) -> int:
        analysed.append(frame.index)
        time.sleep(0.02)  # slower than reading: frames must be skipped, not queued
        return len(detect_faces(frame.image))

    grabber: FrameGrabber[int] = FrameGrabber(
        VideoFileSource(video, realtime=False), analyse=analyse, analyse_every=5
    )
    assert grabber.latest() is None
    with grabber:
        wait_for(lambda: grabber.frames >= 60 and grabber.analysed >= 3, "frames")
        first = grabber.latest()
        assert first is not None
        # A slow consumer (the reader has moved on by several frames meanwhile)…
        wait_for(lambda: grabber.frames > first.index + 5, "the reader to move on")
        later = grabber.latest()
        assert later is not None
        assert later.index > first.index + 1  # …gets the newest frame, the others dropped
        assert grabber.fps > 0
        result = grabber.latest_analysis()
        assert result is not None
        assert result[1] == 0  # no face in the wound scene
        assert grabber.state is SourceState.LIVE
    assert not grabber.running
    assert grabber.source.state is SourceState.CLOSED
    assert grabber.error is None
    steps = [b - a for a, b in itertools.pairwise(analysed)]
    assert min(steps) >= 5  # at most one analysis every 5 frames


def test_grabber_paced_like_a_camera(video: Path) -> None:
    with FrameGrabber(VideoFileSource(video, realtime=True)) as grabber:
        wait_for(lambda: grabber.frames >= 20, "20 frames")
        assert 10 <= grabber.fps <= 40  # the video's 30 fps, measured (never faster)
    assert not grabber.running


def test_grabber_reports_a_source_that_cannot_open(tmp_path: Path) -> None:
    grabber: FrameGrabber[None] = FrameGrabber(VideoFileSource(tmp_path / "absent.avi"))
    grabber.start()
    wait_for(lambda: not grabber.running, "the reader to stop")
    assert isinstance(grabber.error, CaptureError)
    assert grabber.error.code == "camera_unavailable"
    assert grabber.latest() is None
    grabber.stop()


def test_grabber_stops_promptly_on_a_slow_paced_video(tmp_path: Path) -> None:
    slow = scenes.scene_video(tmp_path / "slow.avi", count=3, fps=0.5)  # a frame every 2 s
    grabber: FrameGrabber[None] = FrameGrabber(VideoFileSource(slow, realtime=True))
    grabber.start()
    wait_for(lambda: grabber.frames >= 1, "the first frame")
    started = time.monotonic()
    grabber.stop()
    assert time.monotonic() - started < 1.5  # the wait for the next frame is interrupted
    assert not grabber.running


# --- watched folder ----------------------------------------------------------------------


class FakeNow:
    def __init__(self) -> None:
        self.value = time.time()

    def __call__(self) -> float:
        return self.value


def test_watched_folder_reports_complete_new_images_once(tmp_path: Path) -> None:
    (tmp_path / "old.jpg").write_bytes(b"x" * 10)
    now = FakeNow()
    (tmp_path / "notes.txt").write_bytes(b"x")
    folder = WatchedFolder(tmp_path, min_age=0.5, now=now)
    assert folder.poll() == []  # files already there are not new...
    assert folder.existing == [tmp_path / "old.jpg"]  # ...they are listed apart
    assert WatchedFolder(tmp_path, include_existing=True).existing == []
    growing = tmp_path / "IMG_0002.JPG"
    growing.write_bytes(b"a" * 100)
    for name in (".hidden.jpg", "notes.txt", "IMG_0003.jpg~"):
        (tmp_path / name).write_bytes(b"b" * 100)
    (tmp_path / "sub.jpg").mkdir()
    now.value += 10
    assert folder.poll() == []  # seen once: its size is not known to be stable yet
    with growing.open("ab") as out:
        out.write(b"a" * 100)  # still being written
    now.value += 10
    assert folder.poll() == []
    now.value += 10
    assert folder.poll() == [growing]  # same size and time twice in a row, old enough
    assert folder.poll() == []  # reported once only
    fresh = tmp_path / "IMG_0004.heic"
    fresh.write_bytes(b"c" * 50)
    os.utime(fresh, (now.value, now.value))
    folder.poll()
    assert folder.poll() == []  # stable, but written a moment ago (min_age)
    now.value += 1
    assert folder.poll() == [fresh]


def test_watched_folder_wait_and_limits(tmp_path: Path) -> None:
    folder = WatchedFolder(tmp_path, min_age=0.0, max_batch=2)
    for i in range(3):
        (tmp_path / f"p{i}.png").write_bytes(b"p")
    first = folder.wait(timeout=5, interval=0.01)
    assert [p.name for p in first] == ["p0.png", "p1.png"]
    assert [p.name for p in folder.poll()] == ["p2.png"]
    started = time.monotonic()
    assert folder.wait(timeout=0.2, interval=0.05) == []
    assert time.monotonic() - started < 2
    assert WatchedFolder(tmp_path / "missing").poll() == []


def test_wipe_overwrites_the_photo_then_removes_it(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.JPG"
    photo.write_bytes(scenes.encode_jpeg(scenes.skin_scene(640, 480)))
    size = photo.stat().st_size
    with photo.open("rb") as held:  # a descriptor still open shows the bytes left behind
        wipe(photo)  # once the name is gone (a second name, a hard link, is refused)
        assert not photo.exists()
        assert held.read() == bytes(size)  # overwritten in place, not just unlinked
    wipe(photo)  # already gone: nothing to do


def test_a_directory_in_place_of_the_photo_gives_not_wiped(tmp_path: Path) -> None:
    odd = tmp_path / "IMG_0003.JPG"
    odd.mkdir()  # what even root cannot open for writing
    with pytest.raises(CaptureError) as caught:
        wipe(odd)
    assert caught.value.code == "not_wiped"
    assert odd.is_dir()
