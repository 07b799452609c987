"""Videos made by the tests: a real face moving across the frame, with sound and with the
metadata a phone or camera writes (creation time, place, title)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from capture.regions import Rect
from tests.support.real_faces import ASTRONAUT_FACE, astronaut

WIDTH, HEIGHT, FPS = 1280, 720, 25
TOP, LEFT, STEP = 100, 100, 8  # where the 512-px portrait is pasted, and how it moves


def face_at(frame: int) -> Rect:
    """Where the face's skin is on ``frame`` of :func:`face_video`."""
    x = LEFT + frame * STEP
    return Rect(
        x + ASTRONAUT_FACE.x, TOP + ASTRONAUT_FACE.y, ASTRONAUT_FACE.width, ASTRONAUT_FACE.height
    )


def face_video(path: Path, *, frames: int = 50, sound: bool = True) -> Path:
    portrait = astronaut()
    out = av.open(str(path), "w")
    out.metadata["creation_time"] = "2026-12-01T10:00:00Z"
    out.metadata["location"] = "+48.8566+002.3522/"
    out.metadata["title"] = "Consultation P-0147"
    video = out.add_stream("libx264", rate=FPS)
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    audio = out.add_stream("aac", rate=48000) if sound else None
    for n in range(frames):
        image = np.full((HEIGHT, WIDTH, 3), (120, 140, 170), np.uint8)
        x = LEFT + n * STEP
        image[TOP : TOP + 512, x : x + 512] = portrait
        for packet in video.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    if audio is not None:
        t = np.arange(48000 * frames // FPS) / 48000
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, len(tone) - 1024, 1024):
            chunk = tone[k : k + 1024]
            frame = av.AudioFrame.from_ndarray(
                np.stack([chunk, chunk]), format="fltp", layout="stereo"
            )
            frame.sample_rate = 48000
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    out.close()
    return path


def long_video(path: Path, seconds: int) -> Path:
    """Two frames ``seconds`` apart: a recording that long, in a few kilobytes."""
    out = av.open(str(path), "w")
    video = out.add_stream("libx264", rate=1)
    video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
    video.codec_context.time_base = video.time_base = Fraction(1, 1)
    for pts in (0, seconds):
        frame = av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8), format="bgr24")
        frame.pts = pts
        for packet in video.encode(frame):
            out.mux(packet)
    for packet in video.encode():
        out.mux(packet)
    out.close()
    return path
