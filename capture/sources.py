"""Where pictures come from: a camera, a video standing in for it, a watched folder, a file.

Live sources share one small interface, :class:`FrameSource`: ``open()``, ``read()`` the next
frame (a BGR numpy array with a timestamp), ``close()``, ``size``, ``is_live`` and a
``state`` the UI can show. Implementations:

- :class:`CameraSource`: ``cv2.VideoCapture`` on a device index (or path), with a chosen
  resolution, and reconnection after an unplug: a failed read turns the state to
  ``disconnected``, then it retries with a growing delay, a bounded number of times, before
  giving up (``failed``, error ``camera_disconnected``).
- :class:`VideoFileSource`: a video file played at its own pace (or as fast as it decodes),
  looping: the camera of the demo and of the tests.

:class:`FrameGrabber` runs a source on a background thread and always hands the consumer the
*latest* frame (stale frames are dropped), with a measured frame rate, and can run an
analysis (face detection, the quality gate) on every Nth frame on a second thread. Polling
it never blocks: that is what the Qt preview does.

:class:`WatchedFolder` reports image files a photo camera's software drops into a folder,
once their size has stopped changing. Files are imported with :func:`load_image`.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import cv2

from capture.errors import CAMERA_DISCONNECTED, CAMERA_UNAVAILABLE, CaptureError
from capture.loading import LoadedImage, load_image
from capture.regions import Image

__all__ = [
    "CameraSource",
    "Frame",
    "FrameGrabber",
    "FrameSource",
    "LoadedImage",
    "SourceState",
    "VideoFileSource",
    "WatchedFolder",
    "load_image",
]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
T = TypeVar("T")


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


class FrameGrabber(Generic[T]):
    """Reads a source on a background thread; the consumer polls the latest frame.

    Args:
        source: any :class:`FrameSource`; the grabber opens and closes it.
        analyse: optional work on frames (face detection…), run on its own thread on the
            latest frame, at most once every ``analyse_every`` frames; its results are
            polled with :meth:`latest_analysis`.
        fps_window: seconds over which :attr:`fps` is measured.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        analyse: Callable[[Frame], T] | None = None,
        analyse_every: int = 5,
        fps_window: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.source = source
        self._analyse = analyse
        self._every = max(1, analyse_every)
        self._window = fps_window
        self._clock = clock
        self._lock = threading.Lock()
        self._fresh = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._latest: Frame | None = None
        self._analysis: tuple[int, T] | None = None
        self._times: deque[float] = deque(maxlen=1000)
        self._threads: list[threading.Thread] = []
        self.frames = 0
        """Frames read since start."""
        self.analysed = 0
        """Frames analysed since start."""
        self.error: Exception | None = None
        """The error that stopped the reader, if any (a :class:`CaptureError` has a code)."""

    def start(self) -> FrameGrabber[T]:
        """Starts the reader (and analysis) threads; returns at once."""
        if self._threads:
            raise RuntimeError("the grabber is already started")
        self._threads.append(threading.Thread(target=self._read_loop, name="frame-grabber"))
        if self._analyse is not None:
            self._threads.append(threading.Thread(target=self._analyse_loop, name="frame-analysis"))
        for thread in self._threads:
            thread.daemon = True
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the threads and closes the source (waits at most ``timeout`` per thread)."""
        self._stop.set()
        with self._fresh:
            self._fresh.notify_all()
        self.source.close()
        for thread in self._threads:
            thread.join(timeout)

    def __enter__(self) -> FrameGrabber[T]:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    @property
    def state(self) -> SourceState:
        return self.source.state

    def latest(self) -> Frame | None:
        """The newest frame read so far (``None`` before the first). Never blocks long."""
        with self._lock:
            return self._latest

    def latest_analysis(self) -> tuple[int, T] | None:
        """The newest analysis result and the index of the frame it was made on."""
        with self._lock:
            return self._analysis

    @property
    def fps(self) -> float:
        """Frames read per second over the last ``fps_window`` seconds."""
        now = self._clock()
        with self._lock:
            recent = [t for t in self._times if now - t <= self._window]
        if len(recent) < 2:
            return 0.0
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else 0.0

    def _read_loop(self) -> None:
        try:
            self.source.open()
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    if self.source.state in (SourceState.ENDED, SourceState.CLOSED):
                        break
                    continue
                with self._fresh:
                    self._latest = frame
                    self._times.append(frame.timestamp)
                    self.frames += 1
                    self._fresh.notify_all()
        except CaptureError as error:
            self.error = error
            log.warning("frame source stopped: %s", error.code)
        except Exception as error:  # reported to the consumer, never raised in a thread
            self.error = error
            log.exception("frame source failed")
        finally:
            self.source.close()
            with self._fresh:
                self._fresh.notify_all()

    def _analyse_loop(self) -> None:
        assert self._analyse is not None
        done = -self._every
        while not self._stop.is_set():
            with self._fresh:
                frame = self._latest
                while not self._stop.is_set() and (
                    frame is None or frame.index < done + self._every
                ):
                    if not self._threads[0].is_alive():
                        return
                    self._fresh.wait(0.5)
                    frame = self._latest
            if self._stop.is_set() or frame is None:
                return
            try:
                result = self._analyse(frame)
            except Exception:
                log.exception("frame analysis failed")
                result = None
            done = frame.index
            if result is not None:
                with self._lock:
                    self._analysis = (frame.index, result)
                    self.analysed += 1


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif"})


class WatchedFolder:
    """Reports image files newly dropped into ``path``, once they are complete.

    A file is reported once, when two successive polls saw the same size and modification
    time and it is at least ``min_age`` seconds old (a camera's software may still be
    writing it otherwise). Hidden and temporary files are ignored, and so are the files
    already there at creation unless ``include_existing``. Polling is bounded: at most
    ``max_entries`` directory entries are looked at and ``max_batch`` files reported per
    poll (the rest come with the next polls). The files are not read here.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        include_existing: bool = False,
        min_age: float = 0.5,
        max_entries: int = 10_000,
        max_batch: int = 50,
        now: Clock = time.time,
    ) -> None:
        self.path = Path(path)
        self.min_age = min_age
        self.max_entries = max_entries
        self.max_batch = max_batch
        self._now = now
        self._seen: dict[str, tuple[int, int]] = {}
        self._reported: set[str] = set()
        if not include_existing:
            self._reported.update(self._scan())

    def _scan(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        try:
            with os.scandir(self.path) as entries:
                for count, entry in enumerate(entries):
                    if count >= self.max_entries:
                        break
                    name = entry.name
                    if name.startswith(".") or name.endswith("~"):
                        continue
                    if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                        continue
                    try:
                        if not entry.is_file():
                            continue
                        info = entry.stat()
                    except OSError:
                        continue  # vanished meanwhile
                    found[name] = (info.st_size, info.st_mtime_ns)
        except OSError as exc:
            log.warning("cannot list the watched folder: %s", exc.strerror)
        return found

    def poll(self) -> list[Path]:
        """New complete image files since the last poll (sorted by name)."""
        current = self._scan()
        now_ns = int(self._now() * 1e9)
        ready = []
        for name, (size, mtime) in sorted(current.items()):
            if name in self._reported:
                continue
            stable = self._seen.get(name) == (size, mtime)
            old_enough = now_ns - mtime >= self.min_age * 1e9
            if stable and size > 0 and old_enough:
                ready.append(name)
                if len(ready) >= self.max_batch:
                    break
        self._reported.update(ready)
        self._reported &= set(current)  # forget files that were removed
        self._seen = current
        return [self.path / name for name in ready]

    def wait(self, timeout: float, interval: float = 0.25) -> list[Path]:
        """Polls until a file is ready or ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            ready = self.poll()
            if ready or time.monotonic() >= deadline:
                return ready
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


if TYPE_CHECKING:  # both sources satisfy the protocol (checked by mypy)
    _camera: FrameSource = CameraSource()
    _video: FrameSource = VideoFileSource("demo.avi")
