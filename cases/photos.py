"""A clinical photo as a case holds it: the prepared JPEG and what the doctor said of it.

Photos are made by the capture engine only (:func:`capture.prepare.prepare`, through the
capture station, after the doctor confirmed what to blur): upright, capped, sRGB, without
EXIF, GPS, XMP or maker notes. Photos leave the workstation only inside a sealed bundle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Photo:
    """A clinical photo held in memory, ready to go into a bundle.

    Attributes:
        name: a neutral file name inside the bundle (never the original file name, which
            may carry a patient's name).
        data: JPEG bytes without metadata.
        width, height: pixel size after orientation.
        site: body site code (``capture`` engine's list, e.g. ``"main_droite"``), or "".
        note: the doctor's note on this photo.
        measurements: calibrated or pixel measurements (``capture.measure.Measurement``
            as dicts), kept beside the pixels, never drawn into them.
        annotations: arrows, circles and text (vector data, a separate layer).
    """

    name: str
    data: bytes
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
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()
