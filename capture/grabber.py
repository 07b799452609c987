"""The preview's engine: a source read on a background thread, the latest frame on demand.

:class:`FrameGrabber` always hands the consumer the *latest* frame (stale frames are
dropped), with a measured frame rate, and can run an analysis (face detection, the quality
gate) on every Nth frame on a second thread. Polling it never blocks: that is what the Qt
preview does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from capture.errors import CaptureError
from capture.sources import Clock, Frame, FrameSource, SourceState

log = logging.getLogger(__name__)

T = TypeVar("T")


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
