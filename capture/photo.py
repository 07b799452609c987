"""The photos the doctor keeps for a case: body site, note, regions, measures, annotations.

A :class:`KeptPhoto` holds the photo in memory (the original :class:`LoadedImage` until it
is prepared, then the :class:`Prepared` JPEG), what the doctor said about it and the
vector annotations drawn over it. Annotations are a separate layer: the pixels are never
painted over. The :class:`Strip` is the ordered row of kept photos of the capture screen.

``BODY_SITES`` pairs stable codes with French labels as plain data: the UI shows them
through ``app.messages.body_site_label`` (which wraps each label in ``_()`` so it is
translated), never by reading the labels here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capture.loading import LoadedImage
from capture.prepare import Prepared
from capture.quality import Quality
from capture.regions import Regions

BODY_SITES: tuple[tuple[str, str], ...] = (
    ("visage", "visage"),
    ("cuir_chevelu", "cuir chevelu"),
    ("cou", "cou"),
    ("thorax", "thorax"),
    ("abdomen", "abdomen"),
    ("dos", "dos"),
    ("membre_superieur_droit", "membre supérieur droit"),
    ("membre_superieur_gauche", "membre supérieur gauche"),
    ("main_droite", "main droite"),
    ("main_gauche", "main gauche"),
    ("membre_inferieur_droit", "membre inférieur droit"),
    ("membre_inferieur_gauche", "membre inférieur gauche"),
    ("pied_droit", "pied droit"),
    ("pied_gauche", "pied gauche"),
    ("organes_genitaux", "organes génitaux"),
    ("autre", "autre"),
)
"""(code, French label) of every body site, in the order the UI lists them. The codes are
the ones ``cases.photos.Photo.site`` and ``capture.dicom.SITES`` use."""
BODY_SITE_CODES = frozenset(code for code, _label in BODY_SITES)

Point = tuple[float, float]


@dataclass(frozen=True)
class Arrow:
    """An arrow from ``start`` to ``end`` (the head), in upright full-resolution pixels."""

    start: Point
    end: Point
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def to_dict(self) -> dict[str, object]:
        """The annotation as plain data (for ``cases.photos.Photo.annotations``)."""
        return {"kind": "arrow", "start": list(self.start), "end": list(self.end)}


@dataclass(frozen=True)
class Circle:
    """A circle around ``centre``."""

    centre: Point
    radius: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def to_dict(self) -> dict[str, object]:
        """The annotation as plain data."""
        return {"kind": "circle", "centre": list(self.centre), "radius": self.radius}


@dataclass(frozen=True)
class Text:
    """A short text label at ``position`` (its top-left corner)."""

    position: Point
    text: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def to_dict(self) -> dict[str, object]:
        """The annotation as plain data."""
        return {"kind": "text", "position": list(self.position), "text": self.text}


Annotation = Arrow | Circle | Text


def annotation_from_dict(data: Mapping[str, Any]) -> Annotation:
    """The annotation a ``to_dict`` wrote (as a bundle's photo carries it).

    Raises:
        ValueError: ``data`` is not an arrow, a circle nor a text.
    """

    def point(value: Any) -> Point:
        x, y = value
        return float(x), float(y)

    kind = data.get("kind")
    if kind == "arrow":
        return Arrow(point(data["start"]), point(data["end"]))
    if kind == "circle":
        return Circle(point(data["centre"]), float(data["radius"]))
    if kind == "text":
        return Text(point(data["position"]), str(data["text"]))
    raise ValueError(f"unknown annotation kind {kind!r}")


@dataclass
class KeptPhoto:
    """One photo kept for the case, in memory.

    Attributes:
        original: the loaded picture (file import or camera frame), until dropped.
        prepared: the case-ready JPEG, once :func:`capture.prepare.prepare` has run.
        body_site: a code of :data:`BODY_SITES`, or ``""`` while not chosen.
        regions: the areas to blur (upright full-resolution coordinates).
        length_mm, area_cm2, calibrated: filled by ``capture.measure``.
        annotations: arrows, circles and texts drawn over the photo (never burnt in).
        source: the watched folder's file it came from, to wipe once the photo has joined
            a request (``None`` for camera shots and files imported by hand).
    """

    original: LoadedImage | None = None
    prepared: Prepared | None = None
    body_site: str = ""
    note: str = ""
    regions: Regions | None = None
    quality: Quality | None = None
    length_mm: float | None = None
    area_cm2: float | None = None
    calibrated: bool = False
    annotations: list[Annotation] = field(default_factory=list)
    source: Path | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.original is None and self.prepared is None:
            raise ValueError("a kept photo needs its original or its prepared JPEG")
        self.set_body_site(self.body_site)

    def set_body_site(self, code: str) -> None:
        """Sets the body site. Raises ``ValueError`` for an unknown code."""
        if code and code not in BODY_SITE_CODES:
            raise ValueError(f"unknown body site {code!r}")
        self.body_site = code

    def annotate(self, annotation: Annotation) -> Annotation:
        """Adds an annotation on top of the photo; returns it."""
        self.annotations.append(annotation)
        return annotation

    def remove_annotation(self, annotation_id: str) -> Annotation:
        """Removes an annotation by id. Raises ``KeyError`` if there is none."""
        for index, annotation in enumerate(self.annotations):
            if annotation.id == annotation_id:
                return self.annotations.pop(index)
        raise KeyError(annotation_id)


class Strip:
    """The ordered photos of the case being captured."""

    def __init__(self) -> None:
        self._photos: list[KeptPhoto] = []

    def __iter__(self) -> Iterator[KeptPhoto]:
        return iter(list(self._photos))

    def __len__(self) -> int:
        return len(self._photos)

    def __getitem__(self, index: int) -> KeptPhoto:
        return self._photos[index]

    def index(self, photo_id: str) -> int:
        """Position of the photo with ``photo_id``. Raises ``KeyError``."""
        for index, photo in enumerate(self._photos):
            if photo.id == photo_id:
                return index
        raise KeyError(photo_id)

    def add(self, photo: KeptPhoto) -> int:
        """Appends ``photo``; returns its position."""
        if any(p.id == photo.id for p in self._photos):
            raise ValueError("this photo is already in the strip")
        self._photos.append(photo)
        return len(self._photos) - 1

    def insert(self, index: int, photo: KeptPhoto) -> None:
        """Puts ``photo`` back at ``index`` (undoing a delete)."""
        if any(p.id == photo.id for p in self._photos):
            raise ValueError("this photo is already in the strip")
        self._photos.insert(index, photo)

    def delete(self, photo_id: str) -> tuple[int, KeptPhoto]:
        """Removes a photo; returns where it was and the photo, for an undo."""
        index = self.index(photo_id)
        return index, self._photos.pop(index)

    def retake(self, photo_id: str, replacement: KeptPhoto) -> KeptPhoto:
        """Replaces a photo by a new shot at the same position; returns the old one.

        The body site and note carry over to the new shot when it has none.
        """
        index = self.index(photo_id)
        old = self._photos[index]
        if not replacement.body_site:
            replacement.set_body_site(old.body_site)
        if not replacement.note:
            replacement.note = old.note
        self._photos[index] = replacement
        return old

    def move_up(self, photo_id: str) -> int:
        """Moves a photo one place towards the start; returns its new position."""
        index = self.index(photo_id)
        if index > 0:
            self._photos[index - 1], self._photos[index] = (
                self._photos[index],
                self._photos[index - 1],
            )
            index -= 1
        return index

    def move_down(self, photo_id: str) -> int:
        """Moves a photo one place towards the end; returns its new position."""
        index = self.index(photo_id)
        if index < len(self._photos) - 1:
            self._photos[index + 1], self._photos[index] = (
                self._photos[index],
                self._photos[index + 1],
            )
            index += 1
        return index
