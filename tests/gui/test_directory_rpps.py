"""The RPPS number of the platform's directory in the choosers, and the signed one winning.

The demo registers its specialists with their RPPS numbers: the doctor's chooser shows the
one of the specialist chosen (the real platform on 127.0.0.1, the real client), in French and
in English. A directory that lists another number than the one a request is signed with is
said so above the request's text; the act keeps the signed one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app import i18n
from cases.acts import Act
from outbox.platform import DirectoryEntry
from tests.gui.fit import fit
from tests.gui.test_end_to_end import WAIT, write_opinion
from tests.gui.test_follow_up_request import doctor_with_a_complete_request
from tests.gui.test_opinions import requests_sent
from tests.gui.test_small_screens import SCREENS
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from widgets.caseform import CaseForm
from widgets.opinionform import OpinionForm

DUBOIS, ROUX, BERNARD = "10002345675", "10003456786", "10001234565"  # app/demo.py
KEPT = {"fr": "L’acte retient le RPPS signé", "en": "The act keeps the signed RPPS"}


def entry(rid: str, name: str, rpps: str | None, specialty: str = "dermatology") -> DirectoryEntry:
    return DirectoryEntry(rid, name, "specialist", specialty, "hosp", "", "", rpps)


def test_the_doctor_s_chooser_shows_the_rpps_the_demo_registered(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    unit = open_window(qtbot, demo_env.layout.unit)
    doctor = doctor_with_a_complete_request(qtbot, unit)
    combo = doctor.form.recipient

    def listed() -> dict[str, str | None]:
        entries = (combo.itemData(i) for i in range(combo.count()))
        return {e.id: e.rpps for e in entries if e is not None}

    # through the platform's API and the client (the copy kept, then the fresh one)
    qtbot.waitUntil(lambda: listed() == {"pr-dubois": DUBOIS, "pr-roux": ROUX}, timeout=WAIT)
    roux = next(i for i in range(combo.count()) if combo.itemData(i).id == "pr-roux")
    combo.setCurrentIndex(roux)
    assert doctor.form.recipient_rpps.isVisible()
    assert doctor.form.recipient_rpps.text() == f"RPPS {ROUX}"
    assert ROUX in combo.toolTip()


def test_the_chooser_shows_the_chosen_one_s_number_or_says_there_is_none(qtbot: QtBot) -> None:
    form = CaseForm()
    qtbot.addWidget(form)
    form.show()
    assert not form.recipient_rpps.isVisible()  # no directory yet: nothing to show
    form.set_recipients([entry("pr-dubois", "Pr Marc Dubois", DUBOIS), entry("dr-x", "Dr X", None)])
    assert form.recipient.currentData().id == "pr-dubois"
    assert form.recipient_rpps.text() == f"RPPS {DUBOIS}"
    tip = form.recipient.itemData(0, Qt.ItemDataRole.ToolTipRole)
    assert "Pr Marc Dubois" in tip
    assert DUBOIS in tip
    form.recipient.setCurrentIndex(1)
    assert form.recipient_rpps.text() == "RPPS non indiqué par l’annuaire"
    assert form.recipient_rpps.isVisible()
    i18n.set_language("en")
    try:
        form.set_recipients([entry("dr-x", "Dr X", None)])
        assert form.recipient_rpps.text() == "RPPS not given by the directory"
    finally:
        i18n.set_language("fr")


def test_the_colleague_s_number_shows_when_referring(qtbot: QtBot) -> None:
    form = OpinionForm()
    qtbot.addWidget(form)
    form.show()
    form.set_colleagues(
        [entry("pr-roux", "Pr Sophie Roux", ROUX, "wounds"), entry("dr-y", "Dr Y", None)]
    )
    assert not form.colleague_rpps.isVisible()
    form.outcome.setCurrentIndex(form.outcome.findData("refer"))
    assert form.colleague.isVisible()
    assert not form.colleague_rpps.isVisible()  # no colleague chosen yet
    form.colleague.setCurrentIndex(1)
    assert form.colleague_rpps.isVisible()
    assert form.colleague_rpps.text() == f"RPPS {ROUX}"
    assert ROUX in form.colleague.itemData(1, Qt.ItemDataRole.ToolTipRole)
    form.colleague.setCurrentIndex(2)
    assert form.colleague_rpps.text() == "RPPS non indiqué par l’annuaire"
    form.outcome.setCurrentIndex(form.outcome.findData("consultation"))
    assert not form.colleague_rpps.isVisible()


def test_a_directory_contradicting_a_signed_number_is_said_and_the_signed_one_wins(
    qtbot: QtBot, demo_env: DemoEnv, tmp_path: Path
) -> None:
    _unit, hospital, doctor, specialist = requests_sent(qtbot, demo_env, "P-RPPS")
    specialist.cases.setCurrentRow(0)
    view = specialist.view
    thread = specialist.cases.threads[0]
    assert thread.case.bundle.case.requester_rpps == BERNARD  # signed by Dr Bernard
    bernard = next(e for e in view.directory if e.id == "dr-bernard")
    assert bernard.rpps == BERNARD  # the demo's directory agrees: nothing said
    assert "annuaire" not in view.text.toPlainText()
    # a platform (or its administrator) listing another number for Dr Bernard
    view.directory = [replace(e, rpps=DUBOIS) if e is bernard else e for e in view.directory]
    view.show_thread(thread)

    shown = view.text.toPlainText()
    said = (
        f"Dr Claire Bernard a signé avec le RPPS {BERNARD} ; l’annuaire de la plateforme"
        f" indique {DUBOIS}. L’acte retient le RPPS signé."
    )
    assert shown.startswith(said)  # first, before the request's text
    assert f"RPPS du demandeur {BERNARD}" in shown  # the signed one, where it always is
    for lang in ("fr", "en"):  # the sentence fits the screens, in both languages
        i18n.set_language(lang)
        try:
            view.show_thread(thread)
            assert KEPT[lang] in view.text.toPlainText()
            for name, size in SCREENS.items():
                assert fit(hospital, size) == [], (lang, name)
                assert hospital.grab().save(str(tmp_path / f"rpps-differs-{lang}-{name}.png"))
        finally:
            i18n.set_language("fr")
    view.show_thread(thread)

    write_opinion(specialist, "Eczéma de contact probable.", "on_site")
    specialist.send_opinion()
    qtbot.waitUntil(lambda: "Avis reçu" in doctor.cases.item(0).text(), timeout=WAIT)
    doctor.cases.setCurrentRow(0)
    answered = doctor.cases.threads[0]
    dubois = next(e for e in doctor.view.directory if e.id == "pr-dubois")
    doctor.view.directory = [replace(dubois, rpps=ROUX)]  # the directory says Roux's number
    doctor.view.show_thread(answered)
    assert f"Pr Marc Dubois a signé avec le RPPS {DUBOIS}" in doctor.view.text.toPlainText()
    assert f"(RPPS {DUBOIS})" in doctor.view.opinions.toPlainText()  # the signed one shown
    act = Act.of_thread(answered)
    assert act is not None
    assert (act.requester_rpps, act.expert_rpps) == (BERNARD, DUBOIS)  # the signed ones
