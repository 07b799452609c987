"""Recording a clip from the capture station's source, in memory (issue 17 §2).

:class:`ClipRecording` reads a :class:`capture.sources.FrameSource` on its own thread and
encodes every frame it gets into an MP4 held in memory (H.264, nearly lossless: it is the
source :func:`capture.clips.prepare_clip` then blurs and encodes for sending). The recording
holds unblurred faces, so it never touches the disk: no temporary file to forget or to find
after a crash. It stops at ``seconds`` (at most :data:`capture.clips.MAX_CLIP_S`), when asked,
or when the source ends.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np

from capture.clips import DEFAULT_CLIP_S, MAX_CLIP_S, output_size
from capture.sources import FrameSource, SourceState

log = logging.getLogger(__name__)

RECORD_CRF = "12"
"""Nearly lossless: the doctor reviews and the detector reads these frames."""


class ClipRecording:
    """One recording: :meth:`start`, then :meth:`stop` (or wait for the end); :meth:`result`.

    ``on_frame`` (called on the recording thread) receives each frame as it is recorded,
    for a live picture; ``on_end`` is called once, on the recording thread, when it ends.
    """

    def __init__(
        self,
        source: FrameSource,
        seconds: float = DEFAULT_CLIP_S,
        *,
        fps: float = 25.0,
        on_frame: Callable[[np.ndarray, float], None] | None = None,
        on_end: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.seconds = min(max(seconds, 1.0), MAX_CLIP_S)
        self.fps = fps
        self.on_frame, self.on_end = on_frame, on_end
        self.frames = 0
        self.recorded = 0.0
        self.error: BaseException | None = None
        self._clock = clock
        self._stop = threading.Event()
        self._data = b""
        self._thread = threading.Thread(target=self._run, name="passavant-clip-recording")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ends the recording early (what was recorded is kept)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def result(self) -> bytes:
        """The recorded MP4 (empty when nothing was recorded)."""
        return self._data

    def _run(self) -> None:
        buffer = io.BytesIO()
        try:
            self.source.open()
            self.fps = float(getattr(self.source, "fps", 0.0) or self.fps)
            self._record(buffer)
        except Exception as exc:  # noqa: BLE001 - reported to the window, which says it plainly
            log.warning("clip recording failed: %s", type(exc).__name__)
            self.error = exc
        finally:
            self.source.close()
            if self.error is None and self.frames:
                self._data = buffer.getvalue()
            if self.on_end is not None:
                self.on_end()

    def _record(self, buffer: io.BytesIO) -> None:
        out = None
        video = None
        started = 0.0
        last_pts = -1
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    if self.source.state in (SourceState.ENDED, SourceState.FAILED):
                        break
                    continue
                image = frame.image
                if out is None:
                    out = av.open(buffer, "w", format="mp4")
                    video = out.add_stream(
                        "libx264", rate=Fraction(self.fps).limit_denominator(1001)
                    )
                    width, height = output_size(image.shape[1], image.shape[0])
                    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
                    video.options = {"crf": RECORD_CRF, "preset": "ultrafast"}
                    started = self._clock()
                if self.source.is_live:
                    pts = round((self._clock() - started) * self.fps)
                    if pts <= last_pts:
                        continue
                else:  # a file read as fast as it decodes: every frame, at its own rate
                    pts = last_pts + 1
                if pts / self.fps >= self.seconds:
                    break
                assert video is not None
                picture = av.VideoFrame.from_ndarray(image, format="bgr24")
                if (picture.width, picture.height) != (video.width, video.height):
                    picture = picture.reformat(video.width, video.height)
                picture.pts = pts
                for packet in video.encode(picture):
                    out.mux(packet)
                last_pts = pts
                self.frames += 1
                self.recorded = (pts + 1) / self.fps
                if self.on_frame is not None:
                    self.on_frame(image, self.recorded)
            if video is not None and out is not None:
                for packet in video.encode():
                    out.mux(packet)
        finally:
            if out is not None:
                out.close()
