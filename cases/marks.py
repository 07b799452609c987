"""The specialist's own marks on the request's photos, sent back inside the signed opinion.

While reading a request, the specialist may measure (a length, an outline's area, with the
photo's calibration when it has one) and annotate (an arrow or a circle with a short text)
the photos. These marks are plain data in the same shapes as the doctor's
(``cases.photos.Photo.measurements`` and ``annotations``), grouped by the photo they were
drawn on, named by its ``name`` in the request. They travel in the opinion's ``clinical``
part under ``marks`` (``docs/bundle-format.md``), so the unit's doctor sees them on the
photos when reading the opinion. An opinion without them (every earlier version) has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cases.photos import MAX_ANNOTATIONS, MAX_MEASUREMENTS, checked_annotation, checked_measurement

MAX_MARKED_PHOTOS = 64
"""At most this many photos carry marks in one opinion (a request holds fewer)."""
MAX_NAME = 200


@dataclass(frozen=True)
class PhotoMarks:
    """What the specialist drew on one photo of the request.

    Attributes:
        photo: the photo's ``name`` in the request (``photos/<name>`` in its bundle).
        measurements: lines and outlines, as ``capture.measure.Measurement.to_dict`` writes.
        annotations: arrows, circles and texts, as ``capture.photo``'s ``to_dict`` writes.
    """

    photo: str
    measurements: tuple[Mapping[str, Any], ...] = ()
    annotations: tuple[Mapping[str, Any], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.measurements or self.annotations)

    def to_json(self) -> dict[str, object]:
        return {
            "photo": self.photo,
            "measurements": [dict(m) for m in self.measurements],
            "annotations": [dict(a) for a in self.annotations],
        }


def marks_to_json(marks: Iterable[PhotoMarks]) -> list[dict[str, object]]:
    """The ``marks`` list of an opinion's ``clinical`` part (photos without marks left out)."""
    return [m.to_json() for m in marks if m]


def marks_from_json(value: Any) -> tuple[PhotoMarks, ...]:
    """The marks an opinion's ``clinical`` part carries (``None``: an opinion without any).

    Every measurement and annotation is checked as a request's photo's are (types, finite
    numbers, bounded sizes); a photo named twice is merged into one entry.

    Raises:
        ValueError: the list or one of its entries is malformed.
    """
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_MARKED_PHOTOS:
        raise ValueError(f"an opinion's marks are not a list of at most {MAX_MARKED_PHOTOS}")
    found: dict[str, PhotoMarks] = {}
    for entry in value:
        if not isinstance(entry, dict) or set(entry) - {"photo", "measurements", "annotations"}:
            raise ValueError("an opinion's marks entry is not a photo's marks")
        name = entry.get("photo")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise ValueError("an opinion's marks do not name a photo")
        measurements = _list(entry.get("measurements", []), MAX_MEASUREMENTS)
        annotations = _list(entry.get("annotations", []), MAX_ANNOTATIONS)
        before = found.get(name, PhotoMarks(name))
        merged = PhotoMarks(
            name,
            before.measurements + tuple(checked_measurement(m) for m in measurements),
            before.annotations + tuple(checked_annotation(a) for a in annotations),
        )
        if len(merged.measurements) > MAX_MEASUREMENTS or len(merged.annotations) > (
            MAX_ANNOTATIONS
        ):
            raise ValueError("a photo carries too many marks")
        found[name] = merged
    return tuple(found.values())


def marks_for(marks: Iterable[PhotoMarks], photo: str) -> PhotoMarks:
    """The marks drawn on the photo named ``photo`` (empty when none)."""
    for entry in marks:
        if entry.photo == photo:
            return entry
    return PhotoMarks(photo)


def with_marks(marks: Iterable[PhotoMarks], replaced: PhotoMarks) -> tuple[PhotoMarks, ...]:
    """``marks`` with the entry of ``replaced.photo`` replaced (removed when empty), in the
    order the photos were first marked."""
    kept: list[PhotoMarks] = []
    placed = False
    for entry in marks:
        if entry.photo == replaced.photo:
            placed = True
            if replaced:
                kept.append(replaced)
        elif entry:
            kept.append(entry)
    if not placed and replaced:
        kept.append(replaced)
    return tuple(kept)


def _list(value: Any, limit: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise ValueError(f"a list of marks is not a list of at most {limit} items")
    return value
