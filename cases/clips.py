"""A short video clip attached to a request (issue 17 §2).

The capture engine makes a clip (:func:`capture.clips.prepare_clip`): faces blurred on every
frame after the doctor reviewed the areas found, no sound unless the doctor chose to keep it,
no metadata, at most :data:`MAX_CLIP_S` seconds and 1080p, H.264 in MP4. It travels in the
sealed bundle as ``clips/clip-N.mp4`` and the manifest lists it (``clinical.clips``,
``docs/bundle-format.md``) with its duration, size, digest, frame size, whether sound was
kept, and how many areas the doctor's review left blurred. Like a photo's, a received clip's
bytes stay in the sealed bundle until somebody plays it (a :class:`cases.photos.Payload`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cases.photos import Payload

MAX_CLIPS = 3
MAX_CLIPS_BYTES = 200 * 1024 * 1024
"""The clips of one request, in all."""
MAX_CLIP_S = 60.0
MAX_EDGE = 1920
MAX_AREAS = 100_000
"""A bound on each count of areas a manifest may state (a minute sampled four times a
second, with many faces, stays far below)."""
MEDIA_TYPE = "video/mp4"
_NAME = re.compile(r"clip-[1-9][0-9]{0,3}\.mp4")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIELDS = {"name", "duration", "size", "sha256", "width", "height", "sound", "areas"}
_AREAS = {"found", "removed", "added"}


@dataclass(frozen=True)
class ClipAreas:
    """What the doctor's review of the key frames left: the areas the detector found on
    them, those of them the doctor removed (not blurred), and the areas the doctor added."""

    found: int = 0
    removed: int = 0
    added: int = 0

    @property
    def blurred(self) -> int:
        return self.found - self.removed + self.added

    def details(self) -> dict[str, int]:
        return {"found": self.found, "removed": self.removed, "added": self.added}


@dataclass(frozen=True)
class Clip:
    """A clip ready to go into a bundle, or read from one.

    Attributes:
        name: ``clip-N.mp4`` (never the original file name).
        payload: the MP4's bytes, or what reads them from the sealed bundle.
        duration: seconds.
        size, sha256: of the bytes, as the manifest lists them.
        width, height: the frames' size in pixels.
        sound: whether the doctor chose to keep the sound.
        areas: what the review left blurred.
    """

    name: str
    payload: bytes | Payload
    duration: float
    size: int
    sha256: str
    width: int
    height: int
    sound: bool = False
    areas: ClipAreas = ClipAreas()

    @classmethod
    def of_bytes(
        cls,
        name: str,
        data: bytes,
        *,
        duration: float,
        width: int,
        height: int,
        sound: bool,
        areas: ClipAreas,
    ) -> Clip:
        """A new clip made of ``data`` (an MP4 :func:`capture.clips.prepare_clip` wrote)."""
        digest = hashlib.sha256(data).hexdigest()
        clip = cls(check_name(name), data, round(duration, 3), len(data), digest, width, height,
                   sound, areas)  # fmt: skip
        return cls.from_details(clip.details(), data)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPE

    @property
    def data(self) -> bytes:
        """The bytes (read from the sealed bundle on each call when not in memory: call it
        off the GUI thread)."""
        payload = self.payload
        return payload if isinstance(payload, bytes) else payload.read()

    def details(self) -> dict[str, object]:
        """What a bundle's manifest says of this clip besides its bytes."""
        return {
            "name": self.name,
            "duration": self.duration,
            "size": self.size,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "sound": self.sound,
            "areas": self.areas.details(),
        }

    @classmethod
    def from_details(cls, meta: Mapping[str, Any], data: bytes | Payload) -> Clip:
        """The clip a manifest's entry (:meth:`details`) describes.

        Raises:
            ValueError: the entry is malformed (its size and digest are compared with the
                file's by the bundle reader).
        """
        if not isinstance(meta, Mapping) or set(meta) != _FIELDS:
            raise ValueError("a clip entry's fields differ from format 1")
        digest, duration, sound, areas = (
            meta["sha256"],
            meta["duration"],
            meta["sound"],
            meta["areas"],
        )
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise ValueError("a clip's digest is not 64 hex digits")
        if not isinstance(duration, int | float) or isinstance(duration, bool):
            raise ValueError("a clip's duration is not a number")
        if not 0 < duration <= MAX_CLIP_S + 0.5:
            raise ValueError(f"a clip's duration is not within 0–{MAX_CLIP_S:.0f} s")
        if not isinstance(sound, bool):
            raise ValueError("a clip's sound is not true or false")
        if not isinstance(areas, Mapping) or set(areas) != _AREAS:
            raise ValueError("a clip's areas differ from format 1")
        counts = ClipAreas(
            *(_count(areas[k], MAX_AREAS, zero=True) for k in ("found", "removed", "added"))
        )
        if counts.removed > counts.found:
            raise ValueError("a clip's review removed more areas than were found")
        return cls(
            check_name(meta["name"]), data, float(duration),
            _count(meta["size"], MAX_CLIPS_BYTES, zero=True), digest,
            _count(meta["width"], MAX_EDGE), _count(meta["height"], MAX_EDGE), sound, counts,
        )  # fmt: skip


def check_name(name: Any) -> str:
    """``name`` if it is a clip's name in a bundle, else ``ValueError``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError("a clip's name is not clip-N.mp4")
    return name


def next_name(existing: tuple[Clip, ...] | list[Clip]) -> str:
    """A neutral name for one more clip of ``existing``."""
    taken = {c.name for c in existing}
    return next(f"clip-{n}.mp4" for n in range(1, 10_000) if f"clip-{n}.mp4" not in taken)


def clip_problems(clips: tuple[Clip, ...]) -> list[str]:
    """Codes of what keeps these clips from going in one request (``cases.model.Case``)."""
    found = []
    if len(clips) > MAX_CLIPS:
        found.append("too_many_clips")
    if sum(c.size for c in clips) > MAX_CLIPS_BYTES:
        found.append("clips_too_large")
    return found


def _count(value: Any, bound: int, *, zero: bool = False) -> int:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not (0 if zero else 1) <= value <= bound
    ):
        raise ValueError("a clip's size, frame size or area count is not a whole number in bounds")
    return value
