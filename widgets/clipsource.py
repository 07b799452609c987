"""Which source a clip is recorded from: the capture station's (issue 17 §2).

When the capture station is open, the clip window records from the source chosen there: its
camera (the station's preview is stopped first: a camera serves one reader at a time; the
doctor starts it again there), the video file standing in for the camera, or the demo's
synthetic video (nothing of a patient in it: written once to a temporary folder, removed at
exit). A watched folder is not a live source: the camera is used. Without a station, the
default camera (device 0).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from PySide6.QtWidgets import QApplication

from capture.sources import CameraSource, FrameSource, VideoFileSource

_demo: Path | None = None


def capture_station_source() -> FrameSource:
    """A new source like the open capture station's (see the module)."""
    from widgets.capture import CaptureStation  # the station's module is large: load late

    for window in QApplication.topLevelWidgets():
        if isinstance(window, CaptureStation) and window.isVisible():
            kind = window.sources.kind()
            if kind == "video":
                path = window.sources.video_path()
                return VideoFileSource(path if path is not None else demo_video(), loop=False)
            window.stop_source()
            if kind == "camera":
                device, size = window.sources.camera()
                return CameraSource(device, size)
    return CameraSource(0)


def demo_video() -> Path:
    """The demo's synthetic video, written once."""
    global _demo
    if _demo is None or not _demo.is_file():
        from widgets.capture_demo import write_demo_video

        folder = Path(tempfile.mkdtemp(prefix="passavant-demo-clip-"))
        atexit.register(shutil.rmtree, folder, True)
        _demo = write_demo_video(folder / "demo.avi")
    return _demo
