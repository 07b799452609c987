"""What the case store tells the person in the workspace: a document set aside is told once,
stays in a one-line bar and can be discarded; a profile's first indexing shows its progress
while the list fills. Real windows offscreen, against the demo's real platform."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app import i18n
from app.session import Session
from cases.model import Case
from cases.profile import Profile
from tests.core.test_workstation import unlock
from tests.gui.test_end_to_end import WAIT, log_in
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from tests.support.forge import drop_in_inbox
from widgets import casestore
from widgets.doctor import DoctorWorkspace

Shot = Callable[[QWidget, str], Path]


def requests_sealed(demo_env: DemoEnv, count: int) -> None:
    """``count`` requests of Dr Bernard sealed and queued (not sent), before any window."""
    session = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    try:
        doctor = unlock(demo_env.layout.unit, "dr-bernard")
        to = next(e for e in session.workstation.refresh_directory() if e.id == "pr-dubois")
        for n in range(count):
            case = Case(
                patient_ref=f"P-{n:03d}",
                consent=True,
                specialty="wounds",
                summary="Ulcère.",
                treatments="",
                question="Évolution ?",
            )
            session.workstation.send_case(doctor, case, to)
    finally:
        session.stop()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_damaged_document_is_told_once_and_can_be_discarded(
    qtbot: QtBot, demo_env: DemoEnv, screenshot: Shot, language: str
) -> None:
    session = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    drop_in_inbox(session, "dr-bernard", "damaged-bundle", os.urandom(4000))
    session.stop()
    i18n.set_language(language)
    try:
        window = open_window(qtbot, demo_env.layout.unit)
        window.resize(1280, 720)
        doctor = log_in(qtbot, window, "dr-bernard")
        assert isinstance(doctor, DoctorWorkspace)
        bar = doctor.store.bar
        qtbot.waitUntil(bar.isVisible, timeout=WAIT)
        told = {
            "fr": "Un document reçu a été mis de côté : Le document reçu est illisible",
            "en": "A document received was set aside: The received document is unreadable",
        }[language]
        assert bar.label.text().startswith(told)
        assert bar.button.text() == {"fr": "Écarter", "en": "Discard"}[language]
        assert bar.geometry().right() <= doctor.width()  # fits a 1280-pixel window
        screenshot(window, f"doctor-set-aside-{language}")

        assert bar.label.text() not in doctor.notice.text()  # said once, in the bar
        assert not bar.set_items(bar.items)  # the same document again is no news
        assert bar.isVisible()

        qtbot.mouseClick(bar.button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not bar.isVisible(), timeout=WAIT)
        inbox = window.session.inbox  # type: ignore[union-attr]
        assert inbox.get("damaged-bundle") is None  # the file left the workstation
    finally:
        i18n.set_language("fr")


def test_the_first_indexing_shows_its_progress_while_the_list_fills(
    qtbot: QtBot, demo_env: DemoEnv, monkeypatch: pytest.MonkeyPatch, screenshot: Shot
) -> None:
    requests_sealed(demo_env, 24)
    for file in (demo_env.layout.unit / "index").iterdir():
        file.unlink()  # sealed bundles and no index: as an earlier version left the profile
    monkeypatch.setattr(casestore, "INGEST_CHUNK", 5)
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    seen: list[tuple[int, int]] = []
    counts: list[int] = []
    notices: list[str] = []
    doctor.store.progress.changed.connect(lambda done, total: seen.append((done, total)))
    doctor.store.progress.changed.connect(lambda *_: counts.append(doctor.cases.count()))
    doctor.store.progress.changed.connect(lambda *_: notices.append(doctor.notice.text()))
    qtbot.waitUntil(lambda: doctor.cases.count() == 24, timeout=WAIT)
    assert seen, "no progress was told"
    assert seen[-1] == (24, 24)
    assert all(total == 24 for _done, total in seen)
    assert [done for done, _total in seen] == sorted(done for done, _total in seen)
    assert 0 < min(c for c in counts if c) < 24  # the list filled as it went
    assert "Indexation : 24 documents sur 24…" in notices
    screenshot(window, "doctor-indexing")
    qtbot.waitUntil(lambda: "Indexation" not in doctor.notice.text(), timeout=WAIT)  # over
