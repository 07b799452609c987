"""GUI tests: real widgets offscreen, against the real platform on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def screenshot(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Save a widget's picture; also into docs/screenshots when PASSAVANT_SCREENSHOTS=1."""

    def save(widget, name: str) -> Path:  # type: ignore[no-untyped-def]
        path = tmp_path / f"{name}.png"
        assert widget.grab().save(str(path))
        if os.environ.get("PASSAVANT_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            assert widget.grab().save(str(SCREENSHOTS / f"{name}.png"))
        return path

    return save
