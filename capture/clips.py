"""Short video clips for a request: faces blurred on every frame, no sound unless asked, no
metadata (issue 17 §2).

:func:`prepare_clip` reads a video (the camera's recording, or a file), keeps ``start`` to
``end`` (at most :data:`MAX_CLIP_S` seconds), and writes an MP4 (H.264, FFmpeg's libx264 as
PyAV ships it; at most 1080p; ``yuv420p`` so every player opens it):

* **faces** are looked for on frames sampled every :data:`SAMPLE_S` seconds with the photo
  detector (:func:`capture.faces.detect_faces`), and **followed between samples**: a frame
  between two samples blurs the union of both samples' areas, each grown by
  :data:`FOLLOW_MARGIN` (a face moves between two samples); the doctor's own areas
  (``extra``: per time range) are added. Blurring is :func:`capture.regions.redact`, the
  photos' irreversible pixelation, applied to the decoded frames before they are encoded:
  nothing of the faces reaches the file;
* **sound** is dropped unless ``keep_sound`` (a consultation room carries voices and names);
* **metadata**: the file is written with FFmpeg's bit-exact flag and no tag (no creation
  time, device, location, encoder version); checked with ``ffprobe`` and ``exiftool``.

The source's cost is bounded before anything is decoded: at most :data:`MAX_SOURCE_S` seconds
of video (a 4-hour recording is refused, not read), frames of at most
:data:`MAX_FRAME_PIXELS`, at most :data:`MAX_SOURCE_BYTES`. Frames are streamed: memory does
not grow with the clip's length. A damaged file is a :class:`ClipError`, never a crash.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from capture.regions import Rect, redact

log = logging.getLogger(__name__)

DEFAULT_CLIP_S = 20.0
MAX_CLIP_S = 60.0
MAX_SOURCE_S = 15 * 60.0
"""A recording longer than a quarter of an hour is not a clip to trim: refused unread."""
MAX_SOURCE_BYTES = 2 * 1024 * 1024 * 1024
MAX_FRAME_PIXELS = 3840 * 2160
MAX_FPS = 60.0
MAX_EDGE, MAX_SHORT_EDGE = 1920, 1080
SAMPLE_S = 0.25
FOLLOW_MARGIN = 0.25
CRF = "23"

Frame = NDArray[np.uint8]
Detector = Callable[[Frame], list[Rect]]
Source = Path | bytes
"""A video file, or a video held in memory (a recording that never touched the disk)."""


class ClipError(Exception):
    """A clip that cannot be prepared. ``code``: ``not_a_video``, ``video_damaged``,
    ``video_too_long``, ``video_too_large``, ``clip_range`` (start/end outside the video or
    past :data:`MAX_CLIP_S`), ``unreadable``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int
    height: int
    fps: float
    has_sound: bool


@dataclass(frozen=True)
class TimedArea:
    """An area the doctor added (or that replaces the detector's), from ``start`` to ``end``
    seconds of the source."""

    rect: Rect
    start: float
    end: float


@dataclass
class ClipReport:
    """What :func:`prepare_clip` did: for the CLI and the doctor's review."""

    frames: int = 0
    seconds: float = 0.0
    width: int = 0
    height: int = 0
    sound_kept: bool = False
    samples: list[tuple[float, list[Rect]]] = field(default_factory=list)

    @property
    def areas_found(self) -> int:
        return sum(len(rects) for _t, rects in self.samples)


def probe(source: Source) -> VideoInfo:
    """The video's duration, size, rate and whether it has sound, checked against the
    bounds; nothing is decoded."""
    try:
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
    except OSError as exc:
        raise ClipError("unreadable", f"cannot read the file: {exc.strerror}") from exc
    if size > MAX_SOURCE_BYTES:
        raise ClipError("video_too_large", f"{size} bytes is over {MAX_SOURCE_BYTES}")
    with _open(source) as container:
        return _info(container)


def _open(source: Source) -> Any:
    try:
        if isinstance(source, bytes):
            return av.open(io.BytesIO(source), "r")
        return av.open(str(source), "r")
    except av.error.FFmpegError as exc:
        raise ClipError("not_a_video", f"not a video FFmpeg reads: {exc}") from exc


def _info(container: Any) -> VideoInfo:
    if not container.streams.video:
        raise ClipError("not_a_video", "no video stream")
    stream = container.streams.video[0]
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    rate = float(stream.average_rate or stream.guessed_rate or 25)
    duration = _duration(container, stream)
    if duration > MAX_SOURCE_S:
        raise ClipError("video_too_long", f"{duration:.0f} s is over {MAX_SOURCE_S:.0f} s")
    if not 0 < width * height <= MAX_FRAME_PIXELS or not 0 < rate <= 1000:
        raise ClipError("video_too_large", f"{width}x{height} at {rate:.1f} frames a second")
    return VideoInfo(duration, width, height, min(rate, MAX_FPS), bool(container.streams.audio))


def _duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / av.time_base
    raise ClipError("video_damaged", "the video does not say how long it is")


def output_size(width: int, height: int) -> tuple[int, int]:
    """At most 1920 × 1080 (either way round), even sides (H.264 with 4:2:0 needs them)."""
    scale = min(1.0, MAX_EDGE / max(width, height), MAX_SHORT_EDGE / min(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def frames(source: Source, start: float, end: float) -> Iterator[tuple[float, Frame]]:
    """The source's frames from ``start`` to ``end`` seconds, BGR, with their times."""
    with _open(source) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                when = float(frame.pts * stream.time_base)
                if when < start - 1e-6:
                    continue
                if when > end + 1e-6:
                    break
                yield when, frame.to_ndarray(format="bgr24")
        except av.error.FFmpegError as exc:
            raise ClipError("video_damaged", f"the video cannot be decoded: {exc}") from exc


def find_faces(
    source: Source,
    start: float,
    end: float,
    detector: Detector,
    *,
    every: float = SAMPLE_S,
    progress: Callable[[float], None] | None = None,
) -> list[tuple[float, list[Rect]]]:
    """The faces on frames sampled every ``every`` seconds (the first and last included)."""
    samples: list[tuple[float, list[Rect]]] = []
    last: tuple[float, Frame] | None = None
    next_at = start
    for when, frame in frames(source, start, end):
        last = (when, frame)
        if when + 1e-6 >= next_at:
            samples.append((when, detector(frame)))
            next_at = when + every
            if progress is not None:
                progress((when - start) / max(end - start, 1e-6))
    if last is not None and (not samples or samples[-1][0] < last[0]):
        samples.append((last[0], detector(last[1])))
    return samples


def areas_at(
    when: float,
    samples: Sequence[tuple[float, list[Rect]]],
    extra: Iterable[TimedArea],
    size: tuple[int, int],
) -> list[Rect]:
    """What to blur on the frame at ``when``: the faces of the samples just before and just
    after it (grown by :data:`FOLLOW_MARGIN`), and the doctor's areas of that moment."""
    before = [s for s in samples if s[0] <= when + 1e-6]
    after = [s for s in samples if s[0] >= when - 1e-6]
    near = ([before[-1]] if before else []) + ([after[0]] if after else [])
    rects = [_grown(r, size) for _t, found in near for r in found]
    rects += [_clipped(a.rect, size) for a in extra if a.start - 1e-6 <= when <= a.end + 1e-6]
    return [r for r in rects if r.area > 0]


def _grown(rect: Rect, size: tuple[int, int]) -> Rect:
    dx, dy = math.ceil(rect.width * FOLLOW_MARGIN), math.ceil(rect.height * FOLLOW_MARGIN)
    return _clipped(Rect(rect.x - dx, rect.y - dy, rect.width + 2 * dx, rect.height + 2 * dy), size)


def _clipped(rect: Rect, size: tuple[int, int]) -> Rect:
    return rect.intersection(Rect(0, 0, size[0], size[1]))


def prepare_clip(
    source: Source,
    target: Path | io.BytesIO,
    *,
    start: float = 0.0,
    end: float | None = None,
    keep_sound: bool = False,
    detector: Detector | None = None,
    extra: Sequence[TimedArea] = (),
    samples: Sequence[tuple[float, list[Rect]]] | None = None,
    progress: Callable[[float], None] | None = None,
) -> ClipReport:
    """Write ``source``'s ``start``–``end`` to ``target`` as an MP4 with faces blurred on every
    frame (see the module). ``samples`` are faces already found (the doctor reviewed them);
    else they are found now with ``detector`` (default: the photo detector). ``target`` may
    be a :class:`io.BytesIO`: the clip is then never written to the disk.

    Raises:
        ClipError: see :class:`ClipError`.
    """
    info = probe(source)
    stop = info.duration if end is None else min(end, info.duration)
    if not 0 <= start < stop or stop - start > MAX_CLIP_S + 1e-6:
        raise ClipError("clip_range", f"{start:.1f}–{stop:.1f} s of a {info.duration:.1f} s video")
    if samples is None:
        samples = find_faces(source, start, stop, detector or photo_detector())
    report = ClipReport(samples=list(samples), sound_kept=keep_sound and info.has_sound)
    width, height = output_size(info.width, info.height)
    rate = Fraction(info.fps).limit_denominator(1001)
    part: Path | io.BytesIO = target
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
    try:
        opened = part if isinstance(part, io.BytesIO) else str(part)
        with av.open(opened, "w", format="mp4", options={"fflags": "+bitexact"}) as out:
            out.metadata.clear()
            video = out.add_stream("libx264", rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = {"crf": CRF, "preset": "veryfast"}
            sound = out.add_stream("aac", rate=48000) if report.sound_kept else None
            for when, frame in frames(source, start, stop):
                redact(frame, [(r, _full(r)) for r in areas_at(when, samples, extra, _size(frame))])
                if frame.shape[1] != width or frame.shape[0] != height:
                    frame = np.asarray(
                        cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA), np.uint8
                    )
                picture = av.VideoFrame.from_ndarray(frame, format="bgr24")
                picture.pts = None
                for packet in video.encode(picture):
                    out.mux(packet)
                report.frames += 1
                if progress is not None:
                    progress((when - start) / max(stop - start, 1e-6))
            for packet in video.encode():
                out.mux(packet)
            if sound is not None:  # every stream is added before the first packet
                _copy_sound(source, out, sound, start, stop)
        if isinstance(part, Path) and isinstance(target, Path):
            part.replace(target)
    except av.error.FFmpegError as exc:
        _discard(part)
        raise ClipError("video_damaged", f"the clip cannot be written: {exc}") from exc
    except BaseException:
        _discard(part)
        raise
    report.seconds, report.width, report.height = stop - start, width, height
    return report


def _discard(part: Path | io.BytesIO) -> None:
    if isinstance(part, Path):
        part.unlink(missing_ok=True)
    else:
        part.seek(0)
        part.truncate()


def _size(frame: Frame) -> tuple[int, int]:
    return int(frame.shape[1]), int(frame.shape[0])


def _full(rect: Rect) -> Frame:
    return np.full((rect.height, rect.width), 255, np.uint8)


def _copy_sound(source: Source, out: Any, sound: Any, start: float, stop: float) -> None:
    """The sound of ``start``–``stop``, re-encoded as AAC (asked for explicitly)."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
    with _open(source) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            when = float(frame.pts * stream.time_base)
            if when < start or when > stop:
                continue
            for again in resampler.resample(frame):
                again.pts = None
                for packet in sound.encode(again):
                    out.mux(packet)
    for packet in sound.encode():
        out.mux(packet)


def photo_detector() -> Detector:
    """The photos' face detector (:func:`capture.faces.detect_faces`), on a frame."""
    from capture.faces import detect_faces

    def detect(frame: Frame) -> list[Rect]:
        return [region.bounds() for region in detect_faces(frame)]

    return detect
