"""The case view follows a lesion across the requests of the same patient."""

from __future__ import annotations

from dataclasses import replace

from pytestqt.qtbot import QtBot

import resources
from tests.core.test_followup import line, outline, request, thread
from tests.support.photos import sample_photo
from widgets.caseview import CaseView


def test_the_sizes_of_a_lesion_are_listed_with_their_trend(qtbot: QtBot, screenshot) -> None:  # type: ignore[no-untyped-def]
    jpeg = sample_photo(resources.sample_photos()[2], "photo-1.jpg")

    def wound(*measurements: dict[str, object]) -> object:
        return replace(jpeg, site="membre_inferieur_gauche", measurements=measurements)

    first = request(0, wound(outline(5.3, 31.0)))
    second = request(14, wound(outline(4.1, 28.0)))
    now = request(42, wound(outline(3.1, 24.0), line(25.0)))
    other_patient = request(20, wound(outline(9.0, 40.0)), patient="P-0999")
    threads = [thread(c) for c in (now, other_patient, second, first)]
    view = CaseView()
    qtbot.addWidget(view)
    view.resize(1100, 900)
    view.show()
    view.show_thread(threads[0], others=threads)
    text = view.text.toPlainText()
    assert "Suivi de la lésion" in text
    assert (
        "membre inférieur gauche : 12/10/2026 : 5,3 cm² → 26/10/2026 : 4,1 cm² → "
        "23/11/2026 : 3,1 cm² (cette demande) — surface -42 % depuis le 12/10/2026"
    ) in text
    assert "9,0 cm²" not in text  # another patient's wound
    qtbot.wait(50)  # laid out before the picture
    qtbot.waitUntil(view.photos.thumbnails_ready, timeout=10_000)  # for the picture
    screenshot(view, "case-followup")

    view.show_thread(threads[3], others=threads)  # from the oldest request, the same series
    assert "5,3 cm² (cette demande) → 26/10/2026 : 4,1 cm²" in view.text.toPlainText()
    view.show_thread(threads[1], others=threads)  # measured once: nothing to follow
    assert "Suivi de la lésion" not in view.text.toPlainText()
