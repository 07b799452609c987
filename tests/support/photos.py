"""Case photos for tests, made the way the capture station makes them."""

from __future__ import annotations

from pathlib import Path

from capture.faces import propose_regions
from capture.loading import load_image
from capture.prepare import prepare
from cases.photos import Photo


def sample_photo(path: Path, name: str) -> Photo:
    """``path`` through the capture engine (detection, confirmation, preparation) as the
    :class:`Photo` called ``name`` that the form would receive."""
    loaded = load_image(path, max_long_edge=3000)
    regions = propose_regions(loaded)
    regions.confirm()
    prepared = prepare(loaded, regions=regions)
    return Photo(name=name, payload=prepared.data, width=prepared.width, height=prepared.height)
