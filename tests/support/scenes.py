"""Synthetic test images and videos for the capture engine, made with numpy and OpenCV.

Nothing here is a real patient or a real photo: a textured skin scene with a wound, the
schematic faces that OpenCV's Haar cascades do detect, a real 200-megapixel PNG that
compresses to a few kilobytes, an Adobe RGB (1998) ICC profile built byte by byte, and JPEG
files loaded with every kind of identifying metadata. All generated at test time: no binary
test file is committed.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

Pixels = npt.NDArray[np.uint8]

SKIN_BGR = (150, 175, 215)


def skin_scene(width: int = 1600, height: int = 1200, *, seed: int = 0) -> Pixels:
    """A sharp, textured BGR skin scene with a wound, hairs and a ruler-like edge.

    The scene looks the same at any size (features scale with it), so a 24-megapixel
    version scaled down to 640 pixels resembles a small one scaled the same way.
    """
    rng = np.random.default_rng(seed)
    shade = cv2.resize(
        rng.normal(0, 12, (6, 8)).astype(np.float32),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    img = np.empty((height, width, 3), np.float32)
    img[:] = SKIN_BGR
    img += shade[..., None]
    img += rng.normal(0, 5, (height, width, 1)).astype(np.float32)  # fine grain
    out = np.clip(img, 0, 255).astype(np.uint8)
    unit = max(width, height) / 1600
    for _ in range(int(400 * unit * unit)):  # pores
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.circle(out, (x, y), max(1, round(2 * unit)), (110, 130, 170), -1)
    for _ in range(int(60 * unit)):  # hairs
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(20, 60) * unit
        end = (int(x + length * np.cos(angle)), int(y + length * np.sin(angle)))
        cv2.line(out, (x, y), end, (40, 45, 60), max(1, round(unit)), cv2.LINE_AA)
    cx, cy = width // 2, height // 2
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    radii = rng.uniform(0.12, 0.2, 24) * min(width, height)
    wound = np.stack([cx + radii * np.cos(angles), cy + 0.7 * radii * np.sin(angles)], 1)
    cv2.fillPoly(out, [wound.astype(np.int32)], (50, 40, 160), cv2.LINE_AA)
    for _ in range(int(300 * unit * unit)):  # granulation and fibrin
        r = rng.uniform(0, 0.8) * radii.min()
        a = rng.uniform(0, 2 * np.pi)
        colour = (60, 150, 200) if rng.random() < 0.3 else (40, 30, 120)
        centre = (int(cx + r * np.cos(a)), int(cy + 0.7 * r * np.sin(a)))
        cv2.circle(out, centre, max(1, round(rng.uniform(2, 6) * unit)), colour, -1)
    ruler_y = height - round(80 * unit)
    cv2.rectangle(
        out,
        (round(40 * unit), ruler_y),
        (width // 2, ruler_y + round(40 * unit)),
        (235, 235, 235),
        -1,
    )
    for i in range(round(40 * unit), width // 2, max(4, round(12 * unit))):
        cv2.line(
            out, (i, ruler_y), (i, ruler_y + round(15 * unit)), (20, 20, 20), max(1, round(unit))
        )
    return out


def blurred(img: Pixels, sigma: float) -> Pixels:
    """``img`` out of focus (gaussian of ``sigma`` pixels)."""
    return cv2.GaussianBlur(img, (0, 0), sigma)


def exposed(img: Pixels, gain: float) -> Pixels:
    """``img`` with every value multiplied by ``gain`` and clipped (2.2: blown out)."""
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def frontal_face(size: int, *, skin: int = 185, background: int = 90) -> Pixels:
    """A schematic grey frontal face that OpenCV's frontal cascades detect."""
    img = np.full((size, size), background, np.uint8)
    c, s = size // 2, size / 400

    def px(v: float) -> int:
        return max(1, int(v * s))

    cv2.ellipse(img, (c, c + px(10)), (px(120), px(160)), 0, 0, 360, skin, -1)
    for side in (-1, 1):
        cv2.ellipse(img, (c + side * px(50), c - px(55)), (px(35), px(10)), 0, 180, 360, 60, px(8))
        cv2.ellipse(img, (c + side * px(50), c - px(30)), (px(26), px(13)), 0, 0, 360, 50, -1)
        cv2.circle(img, (c + side * px(50), c - px(30)), px(7), 20, -1)
    cv2.line(img, (c, c - px(20)), (c - px(12), c + px(40)), 140, px(5))
    cv2.ellipse(img, (c, c + px(45)), (px(22), px(8)), 0, 0, 180, 120, px(6))
    cv2.ellipse(img, (c, c + px(90)), (px(45), px(14)), 0, 0, 180, 70, px(9))
    cv2.ellipse(img, (c, c - px(110)), (px(125), px(70)), 0, 180, 360, 40, -1)
    return cv2.GaussianBlur(img, (0, 0), 3 * s)


def profile_face(size: int, *, facing_left: bool = True) -> Pixels:
    """A schematic grey face in profile. OpenCV's profile cascade detects it facing left
    only; facing right, only its mirror is detected."""
    img = np.full((size, size), 90, np.uint8)
    s = size / 400

    def poly(points: list[tuple[int, int]]) -> npt.NDArray[np.int32]:
        return (np.array(points, np.float64) * s).astype(np.int32)

    head = [
        (250, 60),
        (310, 90),
        (330, 160),
        (320, 250),
        (290, 320),
        (240, 360),
        (200, 380),
        (160, 370),
        (150, 340),
        (140, 320),
        (135, 300),
        (150, 290),
        (140, 275),
        (125, 262),
        (140, 250),
        (130, 235),
        (100, 215),
        (125, 200),
        (130, 160),
        (140, 110),
        (180, 70),
    ]
    cv2.fillPoly(img, [poly(head)], 185)
    hair = [
        (140, 110),
        (180, 60),
        (250, 50),
        (320, 85),
        (340, 160),
        (330, 220),
        (300, 170),
        (260, 110),
        (190, 100),
    ]
    cv2.fillPoly(img, [poly(hair)], 45)
    cv2.ellipse(img, (int(170 * s), int(180 * s)), (int(14 * s), int(8 * s)), 0, 0, 360, 40, -1)
    cv2.line(img, (int(150 * s), int(160 * s)), (int(190 * s), int(158 * s)), 60, int(7 * s))
    cv2.ellipse(
        img, (int(265 * s), int(215 * s)), (int(18 * s), int(32 * s)), 0, 0, 360, 150, int(6 * s)
    )
    cv2.line(img, (int(140 * s), int(282 * s)), (int(165 * s), int(285 * s)), 80, int(5 * s))
    img = cv2.GaussianBlur(img, (0, 0), 5 * s)
    return img if facing_left else np.ascontiguousarray(img[:, ::-1])


def with_face(scene: Pixels, face: Pixels, x: int, y: int) -> Pixels:
    """A copy of the BGR ``scene`` with the grey ``face`` pasted at ``x``, ``y``."""
    out = scene.copy()
    h, w = face.shape[:2]
    out[y : y + h, x : x + w] = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    return out


def stamp_index(frame: Pixels, index: int) -> None:
    """Writes ``index`` (16 bits) into the top-left corner as black/white 16-px blocks, so a
    consumer of a video can tell which frame it got even after JPEG compression."""
    for bit in range(16):
        value = 255 if index >> bit & 1 else 0
        frame[0:16, bit * 16 : bit * 16 + 16] = value


def read_index(frame: Pixels) -> int:
    """The index :func:`stamp_index` wrote."""
    return sum(
        1 << bit for bit in range(16) if frame[4:12, bit * 16 + 4 : bit * 16 + 12].mean() > 127
    )


def write_video(path: Path, frames: Iterable[Pixels], fps: float) -> Path:
    """Writes BGR ``frames`` (all the same size) as Motion-JPEG AVI at ``path``."""
    writer: cv2.VideoWriter | None = None
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
                assert writer.isOpened(), "OpenCV cannot write MJPG AVI here"
            writer.write(frame)
    finally:
        if writer is not None:
            writer.release()
    return path


def scene_video(
    path: Path, *, width: int = 640, height: int = 480, count: int = 30, fps: float = 30.0
) -> Path:
    """A video panning over a skin scene, each frame stamped with its index."""
    big = skin_scene(width + count * 4, height, seed=7)

    def frames() -> Iterable[Pixels]:
        for i in range(count):
            frame = np.ascontiguousarray(big[:, i * 4 : i * 4 + width])
            stamp_index(frame, i)
            yield frame

    return write_video(path, frames(), fps)


def encode_jpeg(bgr: Pixels, quality: int = 95, **options: object) -> bytes:
    """``bgr`` as JPEG bytes through Pillow (options: exif=, xmp=, comment=, icc_profile=)."""
    out = io.BytesIO()
    Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).save(
        out, "JPEG", quality=quality, **options
    )
    return out.getvalue()


XMP_FILE_NAME = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
    b'xmpMM:PreservedFileName="DUPONT_Jean_plaie.jpg"/></rdf:RDF></x:xmpmeta>'
    b'<?xpacket end="w"?>'
)
"""XMP naming the original file after a patient."""

SECRETS = (b"DUPONT", b"SERIAL-123456", b"MAKERNOTE-SECRET", b"48 deg", b"Dr Martin")
"""Byte strings of :func:`jpeg_with_metadata` that must not survive preparation."""


def identifying_exif(orientation: int) -> bytes:
    """EXIF with an orientation, GPS, a camera serial, maker notes, an author, a file name."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = "DUPONT_Jean_plaie.jpg"  # ImageDescription
    exif[0x013B] = "Dr Martin"  # Artist
    exif[0x010F] = "ACME"  # Make
    exif[0x0110] = "ACME Derm 3000"  # Model
    sub = exif.get_ifd(0x8769)
    sub[0x927C] = b"MAKERNOTE-SECRET"
    sub[0xA431] = "SERIAL-123456"  # BodySerialNumber
    sub[0x9003] = "2026:11:02 10:31:07"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 0.0), 3: "E", 4: (2.0, 21.0, 0.0)})
    return exif.tobytes()


def iptc_segment(byline: str) -> bytes:
    """A JPEG APP13 (Photoshop IRB) segment holding an IPTC By-line."""
    value = byline.encode()
    iptc = b"\x1c\x02\x00\x00\x02\x00\x04" + b"\x1c\x02\x50" + struct.pack(">H", len(value))
    iptc += value
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc))
    resource += iptc + (b"\x00" if len(iptc) % 2 else b"")
    body = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


def jpeg_with_metadata(
    bgr: Pixels, *, orientation: int = 1, icc_profile: bytes | None = None
) -> bytes:
    """A JPEG of ``bgr`` carrying EXIF (GPS, serial, maker notes…), XMP, IPTC and a comment."""
    options: dict[str, object] = {
        "exif": identifying_exif(orientation),
        "xmp": XMP_FILE_NAME,
        "comment": b"patient DUPONT Jean, cellule 12",
    }
    if icc_profile is not None:
        options["icc_profile"] = icc_profile
    data = encode_jpeg(bgr, **options)
    return data[:2] + iptc_segment("DUPONT Jean") + data[2:]


def png_bomb(width: int = 20_000, height: int = 10_000) -> bytes:
    """A real, valid 1-bit PNG of ``width`` × ``height`` white pixels (200 megapixels by
    default) that compresses to a few tens of kilobytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


# --- an Adobe RGB (1998) ICC profile, v2 matrix/TRC, built byte by byte -----------------

ADOBE_RGB_TO_XYZ_D65 = np.array(
    [
        [0.5767309, 0.1855540, 0.1881852],
        [0.2973769, 0.6273491, 0.0752741],
        [0.0270343, 0.0706872, 0.9911085],
    ]
)
XYZ_D65_TO_SRGB = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ]
)
ADOBE_GAMMA = 563 / 256


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + _s15(x) + _s15(y) + _s15(z)


def adobe_rgb_icc() -> bytes:
    """The Adobe RGB (1998) primaries (D50-adapted, as in Adobe's own profile), gamma 563/256."""
    text = b"Test Adobe RGB (1998)"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text) + 1) + text + b"\x00"
    desc += b"\x00" * 8 + b"\x00" * 3 + b"\x00" * 67  # empty Unicode and ScriptCode parts
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">I", 1) + struct.pack(">H", 563) + b"\x00\x00"
    tags = [
        (b"desc", desc),
        (b"cprt", b"text\x00\x00\x00\x00" + b"public domain test profile\x00"),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.60974, 0.31111, 0.01947)),
        (b"gXYZ", _xyz(0.20528, 0.62567, 0.06087)),
        (b"bXYZ", _xyz(0.14919, 0.06322, 0.74457)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += b"\x00" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I", size) + b"none" + b"\x02\x10\x00\x00" + b"mntrRGB XYZ "
    header += struct.pack(">6H", 2000, 1, 1, 0, 0, 0) + b"acsp" + b"\x00" * 4
    header += b"\x00" * 24  # flags, manufacturer, model, attributes, rendering intent
    header += _s15(0.9642) + _s15(1.0) + _s15(0.8249)  # PCS illuminant D50
    header += b"\x00" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def adobe_to_srgb(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """The sRGB value of an Adobe RGB (1998) colour, by the textbook formulas (D65)."""
    linear = (np.array(rgb, np.float64) / 255) ** ADOBE_GAMMA
    srgb_linear = np.clip(XYZ_D65_TO_SRGB @ (ADOBE_RGB_TO_XYZ_D65 @ linear), 0, 1)
    encoded = np.where(
        srgb_linear <= 0.0031308, 12.92 * srgb_linear, 1.055 * srgb_linear ** (1 / 2.4) - 0.055
    )
    r, g, b = (float(v) * 255 for v in encoded)
    return r, g, b
