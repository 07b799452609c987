"""The request form: the specialty's questions."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from cases.model import Case
from tests.gui.test_end_to_end import type_text
from widgets.caseform import CaseForm


def labels(form: CaseForm) -> list[str]:
    return [form.rows.labelForField(field).text() for field in form.answer_fields.values()]


def test_the_questions_follow_the_specialty_and_what_was_typed_is_kept(qtbot: QtBot) -> None:
    form = CaseForm()
    qtbot.addWidget(form)
    form.show()
    changes: list[None] = []
    form.changed.connect(lambda: changes.append(None))
    form.specialty.setCurrentIndex(form.specialty.findData("wounds"))
    assert labels(form) == [
        "Ancienneté de la plaie",
        "Douleur (EVA 0–10)",
        "Signes d’infection",
        "Pansement actuel",
    ]
    type_text(form.answer_fields["pain"], "6/10")
    assert changes  # a draft will be saved
    assert not form.is_blank()
    assert form.case().answers == (("pain", "6/10"),)

    form.specialty.setCurrentIndex(form.specialty.findData("dermatology"))  # a wrong choice
    assert labels(form)[0] == "Début et évolution"
    assert form.case().answers == ()  # not a dermatology question
    form.specialty.setCurrentIndex(form.specialty.findData("wounds"))  # put right
    assert form.answer_fields["pain"].text() == "6/10"  # nothing retyped
    assert form.case().answers == (("pain", "6/10"),)

    saved = form.case()
    form.clear()
    assert form.case().answers == ()
    assert form.answer_fields["pain"].text() == ""
    form.load_case(saved)  # a resumed draft
    assert form.answer_fields["pain"].text() == "6/10"
    assert form.case() == saved


def test_a_draft_of_another_specialty_brings_its_questions(qtbot: QtBot) -> None:
    form = CaseForm()
    qtbot.addWidget(form)
    draft = Case(
        patient_ref="P-1",
        consent=False,
        specialty="cardiology",
        summary="",
        treatments="",
        question="",
        answers=(("ecg", "BBD"),),
    )
    form.load_case(draft)
    assert labels(form) == [
        "ECG",
        "Tension, fréquence cardiaque",
        "Symptômes (douleur, dyspnée, syncope)",
    ]
    assert form.answer_fields["ecg"].text() == "BBD"
