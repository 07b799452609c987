"""Live sources of pictures: a camera, or a video standing in for it.

Live sources share one small interface, :class:`FrameSource`: ``open()``, ``read()`` the next
frame (a BGR numpy array with a timestamp), ``close()``, ``size``, ``is_live`` and a
``state`` the UI can show. Implementations:

- :class:`CameraSource`: ``cv2.VideoCapture`` on a device index (or path), with a chosen
  resolution, and reconnection after an unplug: a failed read turns the state to
  ``disconnected``, then it retries with a growing delay, a bounded number of times, before
  giving up (``failed``, error ``camera_disconnected``).
- :class:`VideoFileSource`: a video file played at its own pace (or as fast as it decodes),
  looping: the camera of the demo and of the tests.

:class:`capture.grabber.FrameGrabber` runs a source on a background thread for the preview;
:class:`capture.folder.WatchedFolder` reports the files a photo camera's software drops into a
folder; files are loaded with :func:`capture.loading.load_image`.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2

from capture.errors import CAMERA_DISCONNECTED, CAMERA_UNAVAILABLE, CaptureError
from capture.regions import Image

__all__ = ["CameraSource", "Frame", "FrameSource", "SourceState", "VideoFileSource"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class SourceState(enum.StrEnum):
    """What a source is doing; the capture screen shows it."""

    CLOSED = "closed"
    LIVE = "live"
    DISCONNECTED = "disconnected"  # lost; retrying with backoff
    FAILED = "failed"  # gave up (camera_disconnected / camera_unavailable)
    ENDED = "ended"  # a video that does not loop reached its end


StateCallback = Callable[[SourceState], None]


@dataclass(frozen=True)
class Frame:
    """One picture from a source: BGR pixels, ``time.monotonic()`` when read, a counter."""

    image: Image
    timestamp: float
    index: int


class FrameSource(Protocol):
    """A source of frames. ``read`` blocks at most about one frame period (or one retry
    delay while reconnecting) and returns ``None`` when it has no frame to give now."""

    @property
    def size(self) -> tuple[int, int]: ...

    @property
    def is_live(self) -> bool: ...

    @property
    def state(self) -> SourceState: ...

    def open(self) -> None: ...

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


def _quiet_opencv() -> None:
    """OpenCV prints its own warnings on stderr (``can't open camera by index``); we report
    failures through :class:`CaptureError` instead."""
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class _Base:
    """State, callback, frame counter and an interruptible wait, shared by the sources."""

    def __init__(self, on_state: StateCallback | None, clock: Clock) -> None:
        self._state = SourceState.CLOSED
        self._on_state = on_state
        self._clock = clock
        self._closing = threading.Event()
        self._io = threading.Lock()  # held around every VideoCapture call
        self._capture: cv2.VideoCapture | None = None
        self._size = (0, 0)
        self._count = 0

    @property
    def state(self) -> SourceState:
        return self._state

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the frames (``(0, 0)`` before the first open)."""
        return self._size

    def _set_state(self, state: SourceState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._on_state is not None:
            try:
                self._on_state(state)
            except Exception:  # a UI callback must never kill the reader
                log.exception("state callback failed")

    def _frame(self, image: Image) -> Frame:
        frame = Frame(image, self._clock(), self._count)
        self._count += 1
        return frame

    def _release(self) -> None:
        with self._io:
            if self._capture is not None:
                self._capture.release()
                self._capture = None

    def close(self) -> None:
        """Stops the source; safe from another thread (waits for a read in progress)."""
        self._closing.set()
        self._release()
        self._set_state(SourceState.CLOSED)


class CameraSource(_Base):
    """A camera through ``cv2.VideoCapture``, reconnecting after an unplug.

    Args:
        device: the camera index (0 is the first camera) or a device path; a video file
            path works too (that is how the tests unplug and replug a "camera").
        resolution: the width and height to ask for; the camera may give another (see
            ``size`` once open).
        retry_delays: seconds to wait before each reconnection attempt; the last one is
            repeated until ``max_attempts`` attempts have failed.
        on_state: called on every state change, from the reading thread.
    """

    is_live = True

    def __init__(
        self,
        device: int | str = 0,
        resolution: tuple[int, int] | None = (1920, 1080),
        *,
        retry_delays: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
        max_attempts: int = 10,
        on_state: StateCallback | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(on_state, clock)
        self.device = device
        self.resolution = resolution
        self.retry_delays = tuple(retry_delays) or (1.0,)
        self.max_attempts = max_attempts
        self.attempts = 0
        """Failed reconnection attempts since the camera was lost."""
        self._next_try = 0.0

    def _connect(self) -> bool:
        _quiet_opencv()
        capture = cv2.VideoCapture(self.device)
        if not capture.isOpened():
            capture.release()
            return False
        if isinstance(self.device, int):
            # UVC cameras give 1080p at 30 fps only in Motion-JPEG (raw YUYV: about 5 fps);
            # a camera without it keeps its own format.
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        if self.resolution is not None:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.resolution[0])
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.resolution[1])
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        with self._io:
            self._capture = capture
            self._size = (width, height)
        return True

    def open(self) -> None:
        """Opens the camera.

        Raises:
            CaptureError: ``camera_unavailable`` (no such camera, or busy).
        """
        self._closing.clear()
        if not self._connect():
            self._set_state(SourceState.FAILED)
            raise CaptureError(CAMERA_UNAVAILABLE, f"cannot open camera {self.device!r}")
        self.attempts = 0
        self._set_state(SourceState.LIVE)

    def read(self) -> Frame | None:
        """The next frame; ``None`` while disconnected (after waiting for the next retry).

        Raises:
            CaptureError: ``camera_disconnected`` once ``max_attempts`` reconnections failed.
        """
        if self._state is SourceState.LIVE:
            with self._io:
                ok, image = self._capture.read() if self._capture else (False, None)
            if ok and image is not None:
                return self._frame(image)
            if self._closing.is_set():
                return None
            log.warning("camera %r stopped delivering frames", self.device)
            self._release()
            self.attempts = 0
            self._next_try = self._clock() + self.retry_delays[0]
            self._set_state(SourceState.DISCONNECTED)
            return None
        if self._state is SourceState.DISCONNECTED:
            return self._reconnect()
        if self._state is SourceState.FAILED:
            raise CaptureError(CAMERA_DISCONNECTED, f"camera {self.device!r} is lost")
        return None

    def _reconnect(self) -> Frame | None:
        wait = self._next_try - self._clock()
        if wait > 0 and self._closing.wait(wait):
            return None
        if self._connect():
            with self._io:
                ok, image = self._capture.read() if self._capture else (False, None)
            if ok and image is not None:
                log.info("camera %r is back", self.device)
                self.attempts = 0
                self._set_state(SourceState.LIVE)
                return self._frame(image)
            self._release()
        self.attempts += 1
        if self.attempts >= self.max_attempts:
            self._set_state(SourceState.FAILED)
            raise CaptureError(CAMERA_DISCONNECTED, f"camera {self.device!r} did not come back")
        delay = self.retry_delays[min(self.attempts, len(self.retry_delays) - 1)]
        self._next_try = self._clock() + delay
        return None


class VideoFileSource(_Base):
    """A video file standing in for the camera.

    Args:
        loop: start again at the end (otherwise the state becomes ``ended``).
        realtime: deliver frames at the video's own rate, like a camera; otherwise as fast
            as they decode.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        loop: bool = True,
        realtime: bool = True,
        on_state: StateCallback | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(on_state, clock)
        self.path = Path(path)
        self.loop = loop
        self.realtime = realtime
        self.fps = 0.0
        self._started = 0.0

    @property
    def is_live(self) -> bool:
        return self.realtime

    def _connect(self) -> bool:
        _quiet_opencv()
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            return False
        with self._io:
            self._capture = capture
            self._size = (
                int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            )
            self.fps = float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
        return True

    def open(self) -> None:
        """Opens the video. Raises :class:`CaptureError` ``camera_unavailable``."""
        self._closing.clear()
        if not self.path.is_file() or not self._connect():
            self._set_state(SourceState.FAILED)
            raise CaptureError(CAMERA_UNAVAILABLE, "cannot open the video file")
        self._started = self._clock()
        self._set_state(SourceState.LIVE)

    def read(self) -> Frame | None:
        """The next frame (after waiting for its time when ``realtime``), or ``None``."""
        if self._state is not SourceState.LIVE:
            return None
        if self.realtime:
            due = self._started + self._count / self.fps
            wait = due - self._clock()
            if wait > 0 and self._closing.wait(wait):
                return None
        with self._io:
            ok, image = self._capture.read() if self._capture else (False, None)
        if ok and image is not None:
            return self._frame(image)
        if self._closing.is_set():
            return None
        if not self.loop:
            self._set_state(SourceState.ENDED)
            return None
        self._release()
        if self._connect():
            with self._io:
                ok, image = self._capture.read() if self._capture else (False, None)
            if ok and image is not None:
                return self._frame(image)
        self._set_state(SourceState.FAILED)
        raise CaptureError(CAMERA_DISCONNECTED, "the video file cannot be read again")


if TYPE_CHECKING:  # both sources satisfy the protocol (checked by mypy)
    _camera: FrameSource = CameraSource()
    _video: FrameSource = VideoFileSource("demo.avi")
