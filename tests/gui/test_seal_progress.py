"""Sealing progress on the request form: reported from the worker thread that seals, shown
on the send button in the GUI thread, in French and English."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app import i18n
from widgets.caseform import CaseForm
from widgets.sealprogress import SealProgress


@pytest.fixture(params=["fr", "en"])
def language(request: pytest.FixtureRequest) -> Iterator[str]:
    i18n.set_language(request.param)
    try:
        yield request.param
    finally:
        i18n.set_language("fr")


def test_progress_from_a_worker_thread_is_shown_on_the_send_button(
    qtbot: QtBot, language: str, screenshot: Callable[..., Path]
) -> None:
    form = CaseForm()
    qtbot.addWidget(form)
    form.resize(960, 700)
    form.show()
    sealing = SealProgress(form)
    sealing.percent.connect(form.set_sealing_progress)
    seen: list[int] = []
    sealing.percent.connect(seen.append)
    form.set_busy(True)
    threads: list[int] = []

    def seal() -> None:  # what Workstation.send_case calls, on the worker thread
        threads.append(threading.get_ident())
        total = 10_000_000
        for done in range(0, total + 1, 65_536):
            sealing.report(done, total)
        sealing.report(4_200_000, total)  # the last word before the end: 42 %

    worker = threading.Thread(target=seal)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] == 42)
    assert threads[0] != threading.get_ident()
    assert len(seen) == len(set(seen[:-1])) + 1  # each percent once (then the 42)
    expected = {"fr": "Scellement en cours… 42 %", "en": "Sealing… 42 %"}[language]
    assert form.send_button.text() == expected
    assert not form.send_button.isEnabled()
    screenshot(form, f"seal-progress-{language}")
    form.set_busy(False)  # done: the button is back, and a late report changes nothing
    sealing.report(5_000_000, 10_000_000)
    qtbot.waitUntil(lambda: seen[-1] == 50)
    idle = {"fr": "Envoyer la demande", "en": "Send the request"}[language]
    assert form.send_button.text() == idle
