"""The doctor withdraws a request no opinion answered yet; the specialist is told, cannot
answer it any more, and, when the patient withdrew consent, no longer has it at all."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QInputDialog, QWidget
from pytestqt.qtbot import QtBot

from tests.gui.test_end_to_end import WAIT, type_text, write_opinion
from tests.gui.test_opinions import requests_sent, row
from tests.support.demo import DemoEnv
from widgets.doctor import ask_withdrawal_reason
from widgets.queue import kind_label


def test_a_withdrawn_request_is_said_so_and_a_withdrawn_consent_erases_it(
    qtbot: QtBot, demo_env: DemoEnv, screenshot
) -> None:  # type: ignore[no-untyped-def]
    unit, hospital, doctor, specialist = requests_sent(qtbot, demo_env, "P-W1", "P-W2")
    # the specialist has begun an opinion on the first one, and is still writing it
    specialist.cases.setCurrentRow(row(specialist.cases.threads, "P-W1"))
    write_opinion(specialist, "Probable eczéma de contact.")
    specialist.keep_draft()
    type_text(specialist.form.text, " Dermocorticoïde ?")
    drafts = demo_env.layout.hospital / "drafts"
    qtbot.waitUntil(lambda: bool(list(drafts.rglob("*.p7m"))), timeout=WAIT)

    doctor.cases.setCurrentRow(row(doctor.cases.threads, "P-W1"))
    assert doctor.view.withdraw_button.isVisible()
    qtbot.wait(50)
    screenshot(unit, "doctor-withdraw")  # the answer awaited, and the button to withdraw
    doctor.withdraw("released")
    qtbot.waitUntil(lambda: "Demande retirée" in doctor.notice.text(), timeout=WAIT)
    first = lambda: doctor.cases.item(row(doctor.cases.threads, "P-W1")).text()  # noqa: E731
    qtbot.waitUntil(lambda: "Retirée (patient libéré ou transféré)" in first(), timeout=WAIT)
    assert "avis attendu" not in first()
    assert not doctor.view.withdraw_button.isVisible()  # withdrawn once
    assert "1 en attente d’avis" in doctor.title.text()

    line = lambda ref: specialist.cases.item(row(specialist.cases.threads, ref)).text()  # noqa: E731
    qtbot.waitUntil(lambda: "Retirée par l’unité" in line("P-W1"), timeout=WAIT)
    assert specialist.notice.text() == (
        "Demande de Dr Claire Bernard retirée par l’unité : patient libéré ou transféré."
    )
    assert "1 à traiter" in specialist.title.text()
    assert "avis en cours" not in line("P-W1")  # the unfinished opinion is discarded
    qtbot.waitUntil(lambda: not list(drafts.rglob("*.p7m")), timeout=WAIT)
    specialist.cases.setCurrentRow(row(specialist.cases.threads, "P-W1"))
    assert "Demande retirée : patient libéré ou transféré" in (specialist.view.header.text())
    assert not specialist.form.text.isEnabled()  # no answer is awaited any more
    assert not specialist.form.send_button.isEnabled()
    assert specialist.form.is_blank()  # what was being typed is not kept either
    specialist.keep_draft(last=True)
    specialist.send_opinion()  # Ctrl+Entrée: nothing happens
    assert not list(drafts.rglob("*.p7m"))
    assert specialist.form.problems.text() == ""
    qtbot.wait(50)
    screenshot(hospital, "specialist-withdrawn")

    # the patient of the second withdraws consent: the specialist's copy goes
    doctor.cases.setCurrentRow(row(doctor.cases.threads, "P-W2"))
    shown = doctor.cases.current_thread()
    assert shown is not None
    request = demo_env.layout.hospital / "inbox" / f"{shown.case.bundle_id}.cms"
    assert request.exists()
    doctor.withdraw("consent_withdrawn")
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    assert "Elle est effacée de ce poste." in specialist.notice.text()
    assert "P-W2" not in specialist.view.header.text()
    assert not request.exists()  # the request's ciphertext is gone from the disk
    qtbot.waitUntil(
        lambda: (
            "Retirée (consentement retiré par le patient)"
            in doctor.cases.item(row(doctor.cases.threads, "P-W2")).text()
        ),
        timeout=WAIT,
    )  # the unit keeps its own file


def test_the_doctor_says_why_or_changes_their_mind(qtbot: QtBot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)

    def answer(label: str | None) -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QInputDialog)
        assert "Le spécialiste en sera prévenu" in dialog.labelText()
        if label is None:
            dialog.reject()
        else:
            dialog.setTextValue(label)
            dialog.accept()

    QTimer.singleShot(0, lambda: answer("consentement retiré par le patient"))
    assert ask_withdrawal_reason(parent) == "consent_withdrawn"
    QTimer.singleShot(0, lambda: answer(None))
    assert ask_withdrawal_reason(parent) is None
    assert kind_label("withdrawal") == "Retrait de demande"  # what the secretary's queue says


def test_no_reason_is_chosen_in_advance(qtbot: QtBot) -> None:
    """Enter alone must not record "patient libéré ou transféré" (issue 16 §5)."""
    parent = QWidget()
    qtbot.addWidget(parent)
    seen: dict[str, object] = {}

    def look_then_press_enter() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QInputDialog)
        seen["shown"] = dialog.textValue()
        qtbot.keyClick(dialog, Qt.Key.Key_Return)
        seen["still_open"] = dialog.isVisible()
        dialog.setTextValue("patient libéré ou transféré")
        buttons = dialog.findChild(QDialogButtonBox)
        assert buttons is not None
        buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    QTimer.singleShot(0, look_then_press_enter)
    assert ask_withdrawal_reason(parent) == "released"
    assert seen == {"shown": "— Choisissez un motif —", "still_open": True}
