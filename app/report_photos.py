"""The report's photos (reportlab): each JPEG as it is, with what was drawn over it.

Over a photo go, in the photo's own pixel coordinates mapped to the printed picture, the
doctor's layers (measurements in yellow, annotations in red, as the report always drew them)
and then each opinion's marks (:mod:`cases.marks`), the specialist's lines, outlines,
arrows, circles and short texts, in the viewer's colour for a specialist
(``widgets.annotate.SPECIALIST_COLOUR``): the same shapes at the same places on the photo as
the specialist drew them. Everything is clipped to the picture, so a mark reaching past the
photo's edge never draws over the report's text. The values measured are said under the
picture (:func:`photo_facts`, :func:`marks_lines`). No Qt: the PDF and what ``Ctrl+P``
prints are these same pages.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.i18n import _, language
from app.messages import body_site_label
from cases.marks import PhotoMarks
from cases.photos import Photo

PHOTO_WIDTH_PT = 240.0
"""A photo's printed width (about 8.5 cm)."""

DOCTOR_MEASURE = (1.0, 0.85, 0.0)
DOCTOR_ANNOTATION = (0.9, 0.1, 0.1)
SPECIALIST = (0x64 / 255, 0xD2 / 255, 1.0)
"""``#64d2ff``, the viewer's colour for the specialist's marks."""
LABEL_BOX = (0.08, 0.08, 0.08)
HEAD_PT = 8.0
"""An arrow head's sides, in points (the viewer draws 14 screen pixels)."""
MAX_LABEL = 80

Point = tuple[float, float]


def _number(value: float, digits: int = 1) -> str:
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language() == "fr" else text


def measurement_text(m: Any) -> str:
    """``12,4 mm`` or ``3,2 cm² (longueur 12,4 mm)``, or the pixel value marked uncalibrated
    (the words of the case view)."""
    if m.get("calibrated"):
        if m.get("kind") == "line":
            return _("{v} mm").format(v=_number(m["length"]))
        return _("{a} cm² (longueur {l} mm)").format(
            a=_number(m.get("area") or 0.0), l=_number(m["length"])
        )
    if m.get("kind") == "line":
        return _("{v} px (non étalonné)").format(v=_number(m["length"], 0))
    return _("{a} px² (non étalonné)").format(a=_number(m.get("area") or 0.0, 0))


def _measured(measurements: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        _("{what} : {value}").format(
            what=_("Longueur") if m.get("kind") == "line" else _("Surface"),
            value=measurement_text(m),
        )
        for m in measurements
    ]


def photo_facts(photo: Photo) -> list[str]:
    """The doctor's facts on a photo: its site, note and measurements."""
    facts = []
    if photo.site:
        facts.append(_("Localisation : {site}").format(site=body_site_label(photo.site)))
    if photo.note.strip():
        facts.append(_("Remarque : {note}").format(note=photo.note.strip()))
    return facts + _measured(photo.measurements)


def marks_lines(author: str, marks: PhotoMarks) -> list[str]:
    """What ``author`` marked on a photo, for the caption (empty when nothing)."""
    if not marks:
        return []
    facts = _measured(marks.measurements)
    facts += [
        _("« {text} »").format(text=str(a["text"])[:MAX_LABEL])
        for a in marks.annotations
        if a.get("kind") == "text" and a.get("text")
    ]
    head = _("Marques de {name} (en bleu)").format(name=author)
    return [head + (" — " + _(" ; ").join(facts) if facts else "")]


def photo_flowable(
    photo: Photo,
    data: bytes,
    marks: Sequence[PhotoMarks],
    *,
    font: str,
    clean: Callable[[str], str],
) -> Any:
    """The JPEG as it is (no re-encoding), the doctor's layers then ``marks`` drawn over it,
    their texts set in ``font`` after ``clean`` (characters the font lacks replaced)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.platypus import Flowable

    width = PHOTO_WIDTH_PT
    height = width * photo.height / photo.width
    scale = width / photo.width

    def at(p: Sequence[float]) -> Point:
        """A photo pixel (origin top left, y down) to the picture's points (y up)."""
        return p[0] * scale, height - p[1] * scale

    class Picture(Flowable):  # type: ignore[misc]
        def wrap(self, *_args: Any) -> tuple[float, float]:
            return width, height

        def draw(self) -> None:
            c = self.canv
            c.drawImage(ImageReader(io.BytesIO(data)), 0, 0, width, height)
            if not (photo.measurements or photo.annotations or any(marks)):
                return  # a photo without marks is the photo alone
            c.saveState()
            frame = c.beginPath()
            frame.rect(0, 0, width, height)
            c.clipPath(frame, stroke=0, fill=0)
            _draw(c, photo.measurements, photo.annotations, DOCTOR_MEASURE, DOCTOR_ANNOTATION)
            for found in marks:
                _draw(c, found.measurements, found.annotations, SPECIALIST, SPECIALIST, 2.0)
            c.restoreState()

    def _draw(
        c: Any,
        measurements: Sequence[Mapping[str, Any]],
        annotations: Sequence[Mapping[str, Any]],
        line_colour: tuple[float, float, float],
        mark_colour: tuple[float, float, float],
        line_width: float = 1.5,
    ) -> None:
        c.setLineWidth(line_width)
        c.setStrokeColorRGB(*line_colour)
        for m in measurements:
            points = [at(p) for p in m.get("points", [])]
            if len(points) < 2:
                continue
            path = c.beginPath()
            path.moveTo(*points[0])
            for p in points[1:]:
                path.lineTo(*p)
            if m.get("kind") == "polygon":
                path.close()
            c.drawPath(path, stroke=1, fill=0)
        c.setStrokeColorRGB(*mark_colour)
        for a in annotations:
            kind = a.get("kind")
            if kind == "arrow":
                (x0, y0), (x1, y1) = at(a["start"]), at(a["end"])
                c.line(x0, y0, x1, y1)
                angle = math.atan2(y1 - y0, x1 - x0)
                for side in (-1, 1):  # the head, as the viewer draws it
                    tip = angle + math.pi + side * 0.45
                    c.line(x1, y1, x1 + HEAD_PT * math.cos(tip), y1 + HEAD_PT * math.sin(tip))
            elif kind == "circle":
                x, y = at(a["centre"])
                c.circle(x, y, a["radius"] * scale, stroke=1, fill=0)
            elif kind == "text":
                _label(c, at(a["position"]), clean(str(a["text"])[:MAX_LABEL]), mark_colour)

    def _label(c: Any, point: Point, text: str, colour: tuple[float, float, float]) -> None:
        """``text`` in ``colour`` on a dark box just above and right of ``point`` (the
        viewer's label)."""
        size = 7.5
        c.setFont(font, size)
        box_width = c.stringWidth(text, font, size) + 4
        x, y = point[0] + 2, point[1] + 1
        c.setFillColorRGB(*LABEL_BOX)
        c.rect(x, y, box_width, size + 3, stroke=0, fill=1)
        c.setFillColorRGB(*colour)
        c.drawString(x + 2, y + 2.5, text)

    return Picture()
