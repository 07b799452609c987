"""From a prepared photo to the ``cases.photos.Photo`` the request form takes.

The engine measures and annotates in upright full-resolution pixels; the prepared JPEG may
be smaller (its long edge is capped). Points are scaled to the JPEG's pixels here, so that
what travels with the photo lines up with it; pixel lengths and areas scale too, while
millimetres and square centimetres do not depend on the picture's size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from capture.measure import Measurement
from capture.photo import Annotation, Arrow, Circle, KeptPhoto, Text
from capture.prepare import Prepared
from cases.photos import Photo


def scaled_measurement(m: Measurement, factor: float) -> dict[str, Any]:
    """``m`` as plain data, its points (and pixel values) scaled by ``factor``."""
    data = m.to_dict()
    data["points"] = [[x * factor, y * factor] for x, y in m.points]
    if not m.calibrated:
        data["length"] = m.length * factor
        if m.perimeter is not None:
            data["perimeter"] = m.perimeter * factor
        if m.area is not None:
            data["area"] = m.area * factor * factor
    return data


def scaled_annotation(a: Annotation, factor: float) -> dict[str, object]:
    """``a`` as plain data, its coordinates scaled by ``factor``."""
    if isinstance(a, Arrow):
        scaled: Annotation = Arrow(
            (a.start[0] * factor, a.start[1] * factor), (a.end[0] * factor, a.end[1] * factor)
        )
    elif isinstance(a, Circle):
        scaled = Circle((a.centre[0] * factor, a.centre[1] * factor), a.radius * factor)
    else:
        assert isinstance(a, Text)
        scaled = Text((a.position[0] * factor, a.position[1] * factor), a.text)
    return scaled.to_dict()


def build_photo(
    prepared: Prepared,
    kept: KeptPhoto,
    original_size: tuple[int, int],
    measurements: Sequence[Measurement],
    annotations: Sequence[Annotation],
) -> Photo:
    """The form's :class:`Photo`: the prepared JPEG with the site, note, measurements and
    annotations of ``kept`` (coordinates in the JPEG's pixels)."""
    factor = prepared.width / original_size[0]
    measures: tuple[Mapping[str, Any], ...] = tuple(
        scaled_measurement(m, factor) for m in measurements
    )
    return Photo(
        name=prepared.name,
        payload=prepared.data,
        width=prepared.width,
        height=prepared.height,
        site=kept.body_site,
        note=kept.note,
        measurements=measures,
        annotations=tuple(scaled_annotation(a, factor) for a in annotations),
    )
