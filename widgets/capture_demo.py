"""The demo's stand-in for the camera: a short synthetic video made on the fly.

Nothing in it is a real patient: a skin-toned, textured plane with a wound, a 20 mm ArUco
marker on a white sticker (so measurements calibrate) and a schematic face (so the
anonymisation step has something to propose), panned slowly like a hand-held camera.
Written as Motion-JPEG AVI, which every OpenCV build reads.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from capture.markers import marker_bitmap

Pixels = npt.NDArray[np.uint8]

DEMO_SIZE = (1920, 1080)
DEMO_FRAMES = 48
DEMO_FPS = 30.0
PAN_PX = 3
"""How far the view moves between two frames."""


def _skin(width: int, height: int, rng: np.random.Generator) -> Pixels:
    shade = cv2.resize(
        rng.normal(0, 12, (6, 8)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
    )
    img = np.empty((height, width, 3), np.float32)
    img[:] = (150, 175, 215)  # BGR skin tone
    img += shade[..., None]
    img += rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(900):  # pores
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.circle(out, (x, y), 2, (110, 130, 170), -1)
    for _ in range(120):  # hairs
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(25, 70)
        end = (int(x + length * np.cos(angle)), int(y + length * np.sin(angle)))
        cv2.line(out, (x, y), end, (40, 45, 60), 1, cv2.LINE_AA)
    return out


def _face(size: int) -> Pixels:
    """A schematic grey frontal face, of the kind OpenCV's frontal cascade detects."""
    img = np.full((size, size), 90, np.uint8)
    c, s = size // 2, size / 400

    def px(v: float) -> int:
        return max(1, int(v * s))

    cv2.ellipse(img, (c, c + px(10)), (px(120), px(160)), 0, 0, 360, 185, -1)
    for side in (-1, 1):
        cv2.ellipse(img, (c + side * px(50), c - px(55)), (px(35), px(10)), 0, 180, 360, 60, px(8))
        cv2.ellipse(img, (c + side * px(50), c - px(30)), (px(26), px(13)), 0, 0, 360, 50, -1)
        cv2.circle(img, (c + side * px(50), c - px(30)), px(7), 20, -1)
    cv2.line(img, (c, c - px(20)), (c - px(12), c + px(40)), 140, px(5))
    cv2.ellipse(img, (c, c + px(45)), (px(22), px(8)), 0, 0, 180, 120, px(6))
    cv2.ellipse(img, (c, c + px(90)), (px(45), px(14)), 0, 0, 180, 70, px(9))
    cv2.ellipse(img, (c, c - px(110)), (px(125), px(70)), 0, 180, 360, 40, -1)
    return np.asarray(cv2.GaussianBlur(img, (0, 0), 3 * s), dtype=np.uint8)


def demo_scene(width: int, height: int, *, seed: int = 11) -> Pixels:
    """The panorama the demo video pans over (BGR)."""
    rng = np.random.default_rng(seed)
    out = _skin(width, height, rng)
    cx, cy = int(width * 0.55), int(height * 0.55)
    cv2.ellipse(
        out, (cx, cy), (int(height * 0.16), int(height * 0.1)), 10, 0, 360, (60, 50, 150), -1
    )
    cv2.ellipse(
        out, (cx, cy), (int(height * 0.16), int(height * 0.1)), 10, 0, 360, (40, 40, 110), 6
    )
    for _ in range(250):  # granulation
        r = rng.uniform(0, 0.08) * height
        a = rng.uniform(0, 2 * np.pi)
        centre = (int(cx + r * np.cos(a)), int(cy + 0.6 * r * np.sin(a)))
        colour = (60, 150, 200) if rng.random() < 0.3 else (40, 30, 120)
        cv2.circle(out, centre, int(rng.integers(2, 6)), colour, -1)
    side = round(height * 0.14)  # the marker, on its white sticker
    margin = side // 6
    sticker = np.full((side + 2 * margin, side + 2 * margin), 250, np.uint8)
    sticker[margin : margin + side, margin : margin + side] = marker_bitmap(0, side)
    mx, my = int(width * 0.28), int(height * 0.55)
    out[my : my + sticker.shape[0], mx : mx + sticker.shape[1]] = cv2.cvtColor(
        sticker, cv2.COLOR_GRAY2BGR
    )
    face = _face(round(height * 0.3))
    fx, fy = int(width * 0.05), int(height * 0.06)
    out[fy : fy + face.shape[0], fx : fx + face.shape[1]] = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    return out


def write_demo_video(
    path: Path,
    *,
    size: tuple[int, int] = DEMO_SIZE,
    frames: int = DEMO_FRAMES,
    fps: float = DEMO_FPS,
    blur: float = 0.0,
) -> Path:
    """Writes the demo video at ``path`` (Motion-JPEG AVI); ``blur`` defocuses every frame
    by a gaussian of that sigma (to show the quality gate at work)."""
    width, height = size
    big = demo_scene(width + frames * PAN_PX, height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise OSError("OpenCV cannot write a Motion-JPEG video here")
    try:
        for i in range(frames):
            frame = np.ascontiguousarray(big[:, i * PAN_PX : i * PAN_PX + width])
            if blur > 0:
                frame = np.asarray(cv2.GaussianBlur(frame, (0, 0), blur), dtype=np.uint8)
            writer.write(frame)
    finally:
        writer.release()
    return path
