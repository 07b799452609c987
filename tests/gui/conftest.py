"""GUI tests: real widgets offscreen, against the real platform on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app import gui
from app.i18n import language, set_language
from app.mainwindow import MainWindow

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


@pytest.fixture(autouse=True)
def _languages_restored() -> Iterator[None]:
    """A test that switches the language (the menu, or a locked window's) leaves the next one
    as it found it: our texts in the language they had, Qt's own texts in English."""
    before = language()
    yield
    if language() != before:
        set_language(before)
    app = QApplication.instance()
    if gui._INSTALLED and isinstance(app, QApplication):
        gui.install_qt_translations(app, "en")


@pytest.fixture(autouse=True)
def _windows_stopped() -> Iterator[None]:
    """Every window's queue, inbox and task pool stop with its test, the hidden ones too: a
    window closed with sends under way goes on sending in the background (issue 16), and one
    never closed goes on fetching, into the next tests, against a platform and a profile that
    are gone."""
    yield
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, MainWindow):
            widget.shutdown()
