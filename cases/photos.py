"""A clinical photo as a case holds it: the prepared JPEG and what the doctor said of it.

Photos are made by the capture engine only (:func:`capture.prepare.prepare`, through the
capture station, after the doctor confirmed what to blur): upright, capped, sRGB, without
EXIF, GPS, XMP or maker notes. Photos leave the workstation only inside a sealed bundle.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

MAX_NOTE = 4000
MAX_MEASUREMENTS = 100
MAX_ANNOTATIONS = 200
MAX_POINTS = 2000
MAX_LABEL = 500


class Payload(Protocol):
    """Bytes read when they are needed: a photo of a received case stays in its sealed
    bundle until the person looks at it (:mod:`cases.store`)."""

    def read(self) -> bytes:
        """The bytes (decrypting them from the sealed bundle if need be)."""
        ...


@dataclass(frozen=True)
class Photo:
    """A clinical photo, ready to go into a bundle or read from one.

    Attributes:
        name: a neutral file name inside the bundle (never the original file name, which
            may carry a patient's name).
        payload: JPEG bytes without metadata, or a :class:`Payload` that reads them from
            the sealed bundle when asked (:attr:`data`).
        width, height: pixel size after orientation.
        site: body site code (``capture`` engine's list, e.g. ``"main_droite"``), or "".
        note: the doctor's note on this photo.
        measurements: calibrated or pixel measurements (``capture.measure.Measurement``
            as dicts), kept beside the pixels, never drawn into them.
        annotations: arrows, circles and text (vector data, a separate layer).
    """

    name: str
    payload: bytes | Payload
    width: int
    height: int
    media_type: str = "image/jpeg"
    site: str = ""
    note: str = ""
    measurements: tuple[Mapping[str, Any], ...] = ()
    annotations: tuple[Mapping[str, Any], ...] = ()

    def details(self) -> dict[str, object]:
        """What a bundle's manifest says of this photo besides its bytes."""
        return {
            "name": self.name,
            "width": self.width,
            "height": self.height,
            "sha256": self.sha256,
            "site": self.site,
            "note": self.note,
            "measurements": [dict(m) for m in self.measurements],
            "annotations": [dict(a) for a in self.annotations],
        }

    @property
    def data(self) -> bytes:
        """The JPEG bytes (read from the sealed bundle on each call when not in memory: call
        it off the GUI thread, and keep the result rather than asking twice)."""
        payload = self.payload
        return payload if isinstance(payload, bytes) else payload.read()

    @property
    def sha256(self) -> str:
        """The JPEG's SHA-256; a payload that knows it (a draft's photo in its sealed file,
        which checks its bytes against it when read) is not read for it."""
        known = getattr(self.payload, "sha256", None)
        if isinstance(known, str) and len(known) == 64:
            return known
        return hashlib.sha256(self.data).hexdigest()

    @classmethod
    def from_details(cls, meta: Mapping[str, Any], data: bytes | Payload) -> Photo:
        """The photo a manifest's entry (:meth:`details`) describes, ``data`` being its bytes
        (or what reads them).

        The site, note, measurements and annotations are checked as plain data (types,
        finite numbers, bounded sizes) and kept in the shape :meth:`details` writes; an entry
        without them (an older writer) gets none.

        Raises:
            ValueError: an entry is malformed.
        """
        site, note = meta.get("site", ""), meta.get("note", "")
        if not isinstance(site, str) or len(site) > 64:
            raise ValueError("a photo's site is not a short text")
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise ValueError("a photo's note is not a text of at most 4000 characters")
        return cls(
            name=_text(meta["name"]),
            payload=data,
            width=_count(meta["width"]),
            height=_count(meta["height"]),
            site=site,
            note=note,
            measurements=tuple(
                _measurement(m) for m in _bounded(meta.get("measurements", []), MAX_MEASUREMENTS)
            ),
            annotations=tuple(
                _annotation(a) for a in _bounded(meta.get("annotations", []), MAX_ANNOTATIONS)
            ),
        )


def _text(value: Any, limit: int = MAX_LABEL) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError("a photo field is not a short text")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError("a photo's size is not a positive whole number")
    return value


def _bounded(value: Any, limit: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise ValueError(f"a photo's list is not a list of at most {limit} items")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("a photo's number is not a finite number")
    return float(value)


def _size(value: Any) -> float:
    number = _number(value)
    if number < 0:
        raise ValueError("a length, area or radius is negative")
    return number


def _optional_size(value: Any) -> float | None:
    return None if value is None else _size(value)


def _point(value: Any) -> list[float]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("a point is not two numbers")
    return [_number(value[0]), _number(value[1])]


def _fields(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("a measurement or annotation is not an object")
    return value


def _measurement(value: Any) -> dict[str, Any]:
    """A measurement as ``capture.measure.Measurement.to_dict`` writes it, checked."""
    raw = _fields(value)
    kind, calibrated = raw["kind"], raw["calibrated"]
    if not isinstance(calibrated, bool) or raw["unit"] != ("mm" if calibrated else "px"):
        raise ValueError("a measurement's unit does not match its calibration")
    points = [_point(p) for p in _bounded(raw["points"], MAX_POINTS)]
    if not ((kind == "line" and len(points) == 2) or (kind == "polygon" and len(points) >= 3)):
        raise ValueError("a measurement is neither a line nor an outline")
    reason = raw.get("reason")
    return {
        "kind": kind,
        "points": points,
        "calibrated": calibrated,
        "unit": raw["unit"],
        "length": _size(raw["length"]),
        "perimeter": _optional_size(raw.get("perimeter")),
        "area": _optional_size(raw.get("area")),
        "reason": None if reason is None else _text(reason),
        "marker_mm": _optional_size(raw.get("marker_mm")),
    }


def _annotation(value: Any) -> dict[str, Any]:
    """An annotation as ``capture.photo``'s ``to_dict`` writes it, checked."""
    raw = _fields(value)
    kind = raw["kind"]
    if kind == "arrow":
        return {"kind": kind, "start": _point(raw["start"]), "end": _point(raw["end"])}
    if kind == "circle":
        return {"kind": kind, "centre": _point(raw["centre"]), "radius": _size(raw["radius"])}
    if kind == "text":
        return {"kind": kind, "position": _point(raw["position"]), "text": _text(raw["text"])}
    raise ValueError("an annotation is neither an arrow, a circle nor a text")


def checked_measurement(value: Any) -> dict[str, Any]:
    """A measurement read from a bundle (a photo's, or an opinion's marks), checked as
    :meth:`Photo.from_details` checks it. Raises ``ValueError``, ``KeyError`` or
    ``TypeError`` when malformed."""
    return _measurement(value)


def checked_annotation(value: Any) -> dict[str, Any]:
    """An annotation read from a bundle, checked as :meth:`Photo.from_details` checks it."""
    return _annotation(value)
