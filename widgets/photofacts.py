"""What a photo of a case says, in words and as layers: its bytes, its caption, the facts
the doctor recorded, and the measurements and annotations drawn on it (the doctor's, and
the specialist's marks sent back in an opinion)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from app.i18n import _
from app.messages import body_site_label
from capture.measure import Measurement
from capture.photo import Annotation, annotation_from_dict
from cases.errors import CaseError
from cases.marks import PhotoMarks
from cases.photos import Photo
from crypto.errors import CryptoError
from widgets.overlay import measurement_text

log = logging.getLogger(__name__)

T = TypeVar("T")


def photo_bytes(photo: Photo) -> bytes:
    """The photo's JPEG, read from its sealed bundle if need be (call it off the GUI thread);
    empty when it can no longer be read (the bundle was erased, altered or removed): the
    strip and the viewer then show the photo as unreadable."""
    try:
        return photo.data
    except (CaseError, CryptoError, OSError) as exc:
        log.warning("photo %s cannot be read: %s", photo.name, getattr(exc, "code", exc))
        return b""


def _readable(
    items: Iterable[Mapping[str, Any]], read: Callable[[Mapping[str, Any]], T]
) -> list[T]:
    """``read`` of each item; those a newer writer shaped differently are left out."""
    found = []
    for data in items:
        try:
            found.append(read(data))
        except (KeyError, TypeError, ValueError):
            log.warning("a measurement or annotation of a photo could not be read")
    return found


def read_measurements(items: Iterable[Mapping[str, Any]]) -> list[Measurement]:
    return _readable(items, Measurement.from_dict)


def read_annotations(items: Iterable[Mapping[str, Any]]) -> list[Annotation]:
    return _readable(items, annotation_from_dict)


def measurements_of(photo: Photo) -> list[Measurement]:
    """The photo's measurements."""
    return read_measurements(photo.measurements)


def annotations_of(photo: Photo) -> list[Annotation]:
    """The photo's arrows, circles and texts."""
    return read_annotations(photo.annotations)


def photo_caption(photo: Photo, number: int) -> str:
    """``Photo 2 · main droite``, or ``Photo 2`` when no site was given."""
    if photo.site:
        return _("Photo {n} · {site}").format(n=number, site=body_site_label(photo.site))
    return _("Photo {n}").format(n=number)


def measured_facts(measurements: Iterable[Measurement]) -> list[str]:
    """``Longueur : 12,4 mm``, a sentence per measurement."""
    return [
        _("{what} : {value}").format(
            what=_("Longueur") if m.kind == "line" else _("Surface"), value=measurement_text(m)
        )
        for m in measurements
    ]


def photo_facts(photo: Photo) -> list[str]:
    """What the doctor recorded about the photo, a sentence per fact, in reading order."""
    facts = []
    if photo.site:
        facts.append(_("Localisation : {site}").format(site=body_site_label(photo.site)))
    if photo.note.strip():
        facts.append(_("Remarque : {note}").format(note=photo.note.strip()))
    facts += measured_facts(measurements_of(photo))
    count = len(photo.annotations)
    if count:
        facts.append(_("{n} annotation(s) dessinée(s) sur la photo").format(n=count))
    return facts


def marks_facts(title: str, marks: PhotoMarks) -> list[str]:
    """What a specialist measured and noted on a photo, under ``title``, for the lines
    under it."""
    if not marks:
        return []
    texts = [str(a["text"]) for a in marks.annotations if a.get("kind") == "text" and a.get("text")]
    lines = [title]
    lines += ["  " + line for line in measured_facts(read_measurements(marks.measurements))]
    lines += ["  " + _("« {text} »").format(text=text) for text in texts]
    return lines
