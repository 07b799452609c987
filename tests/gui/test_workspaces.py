"""The workspaces' behaviour beyond the happy path: errors in plain French, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from pytestqt.qtbot import QtBot

import resources
from app import i18n
from app.mainwindow import MainWindow
from app.session import Session
from crypto import audit
from tests.gui.test_end_to_end import WAIT, log_in, send_request
from tests.support.demo import DemoEnv
from tests.support.jobs import make_job
from widgets.doctor import DoctorWorkspace
from widgets.queue import JobTableModel
from widgets.secretary import SecretaryWorkspace

ROOT = Path(__file__).resolve().parents[2]


def open_window(qtbot: QtBot, root: Path) -> MainWindow:
    window = MainWindow(root, poll_interval=0.3)
    qtbot.addWidget(window)
    window.show()
    return window


def fill_complete_case(doctor: DoctorWorkspace) -> None:
    form = doctor.form
    form.patient_ref.setText("P-9")
    form.consent.setChecked(True)
    form.summary.setPlainText("Résumé")
    form.question.setPlainText("Question ?")


def send_then_hand_over(
    qtbot: QtBot, demo_env: DemoEnv, trouble: Callable[[], object], state: str
) -> tuple[MainWindow, Session, SecretaryWorkspace]:
    """The doctor sends a complete request after ``trouble`` happens; once its job reaches
    ``state``, the doctor logs out and the secretary logs in and sees it."""
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.form.recipient.currentData() is not None, timeout=WAIT)
    trouble()
    fill_complete_case(doctor)
    send_request(doctor.form)
    session = window.session
    assert session is not None
    qtbot.waitUntil(lambda: [j.state for j in session.outbox.jobs()] == [state], timeout=WAIT)
    window.log_out()
    secretary = log_in(qtbot, window, "sec-lambert")
    assert isinstance(secretary, SecretaryWorkspace)
    qtbot.waitUntil(lambda: secretary.model.rowCount() == 1, timeout=WAIT)
    return window, session, secretary


def test_wrong_passphrase_says_so_and_lets_you_retry(qtbot: QtBot, demo_env: DemoEnv) -> None:
    window = open_window(qtbot, demo_env.layout.unit)
    window.login.select("dr-bernard")
    window.login.passphrase.setText("pas le bon")
    qtbot.mouseClick(window.login.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.login.error.text() != "", timeout=WAIT)
    assert window.login.error.text() == "Mot de passe incorrect."
    assert window.workspace is None
    assert window.login.button.isEnabled()
    window.login.passphrase.setText("demo")
    qtbot.mouseClick(window.login.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(window.workspace, DoctorWorkspace), timeout=WAIT)


def test_a_corrupt_photo_is_refused_plainly_and_the_good_ones_kept(
    qtbot: QtBot, demo_env: DemoEnv, tmp_path: Path
) -> None:
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    broken = tmp_path / "IMG_0042.jpg"
    broken.write_bytes(resources.sample_photos()[0].read_bytes()[:3000])
    doctor.form.photos_requested.emit([broken, resources.sample_photos()[1]])
    station = doctor.capture_station
    assert station is not None  # dropped files open in the capture station
    qtbot.waitUntil(lambda: len(station.strip) == 1, timeout=WAIT)
    assert "IMG_0042.jpg" in station.message.text()
    assert "pas une photo lisible" in station.message.text()
    qtbot.waitUntil(lambda: station.strip[0].regions is not None, timeout=WAIT)
    station.add_to_request()  # not confirmed yet: refused, with the reason
    assert doctor.form.photos.photos() == []
    station.kept.setCurrentRow(0)
    station.panel.confirm()
    station.add_to_request()
    qtbot.waitUntil(lambda: len(doctor.form.photos.photos()) == 1, timeout=WAIT)
    # removing a photo can be undone
    doctor.form.photos.setCurrentRow(0)
    doctor.form.remove_button.click()
    assert doctor.form.photos.photos() == []
    doctor.form.undo_remove()
    assert len(doctor.form.photos.photos()) == 1


def test_an_incomplete_request_lists_what_is_missing_and_queues_nothing(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.form.recipient.currentData() is not None, timeout=WAIT)
    doctor.form.patient_ref.setText("P-9")
    doctor.form.submit()
    text = doctor.form.problems.text()
    assert "Le consentement du patient est requis." in text
    assert "Rédigez le résumé clinique." in text
    assert "Posez la question au spécialiste." in text
    assert window.session is not None
    assert window.session.outbox.jobs() == []


def test_platform_down_the_secretary_sees_why_and_operates_the_queue(
    qtbot: QtBot,
    demo_env: DemoEnv,
    screenshot,  # type: ignore[no-untyped-def]
) -> None:
    def platform_goes_away() -> None:
        demo_env.process.terminate()
        demo_env.process.wait(10)

    window, session, secretary = send_then_hand_over(qtbot, demo_env, platform_goes_away, "retry")
    qtbot.waitUntil(lambda: "injoignable" in secretary.connection.text(), timeout=WAIT)
    model = secretary.model
    # the connection line can say so while the attempt in flight is still being given up
    qtbot.waitUntil(lambda: model.index(0, 5).data() == "Nouvel essai prévu", timeout=WAIT)
    assert "injoignable" in model.index(0, 9).data()
    screenshot(window, "secretary-outage")
    secretary.table.selectRow(0)
    secretary.cancel_reason.setCurrentIndex(secretary.cancel_reason.findData("wrong_recipient"))
    assert secretary.cancel_reason.currentText() == "Mauvais destinataire"
    for button, state, label in (
        (secretary.pause_button, "paused", "En pause"),
        (secretary.resume_button, None, None),
        (secretary.cancel_button, "cancelled", "Annulé"),
    ):
        qtbot.waitUntil(button.isEnabled, timeout=WAIT)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        if state is None:
            qtbot.waitUntil(lambda: session.outbox.jobs()[0].state != "paused", timeout=WAIT)
            continue
        qtbot.waitUntil(lambda s=state: session.outbox.jobs()[0].state == s, timeout=WAIT)
        qtbot.waitUntil(lambda lb=label: model.index(0, 5).data() == lb, timeout=WAIT)
        secretary.table.selectRow(0)
    assert session.outbox.jobs()[0].cancel_reason == "wrong_recipient"
    journal = [(e.event, dict(e.details)) for e in audit.read(session.profile.audit_path)]
    cancelled = [details for event, details in journal if event == "bundle_cancelled"]
    assert [d["reason"] for d in cancelled] == ["wrong_recipient"]
    window.close()


def test_english_interface(qtbot: QtBot, demo_env: DemoEnv, screenshot) -> None:  # type: ignore[no-untyped-def]
    i18n.set_language("en")
    try:
        window = open_window(qtbot, demo_env.layout.unit)
        assert window.login.button.text() == "Log in"
        doctor = log_in(qtbot, window, "dr-bernard")
        assert isinstance(doctor, DoctorWorkspace)
        assert doctor.form.send_button.text() == "Send the request"
        assert doctor.follow_button.text() == "Follow-up request"
        assert doctor.cases.search.placeholderText().startswith("Search")
        window.resize(1200, 800)
        qtbot.wait(50)
        assert not doctor.cases.search.hasFocus()  # Ctrl+F for that; the list comes first
        screenshot(window, "doctor-english")
    finally:
        i18n.set_language("fr")


def test_the_window_remembers_its_size(qtbot: QtBot, tmp_path: Path) -> None:
    first = open_window(qtbot, tmp_path)
    first.resize(700, 500)
    first.close()
    second = open_window(qtbot, tmp_path)
    assert second.size() == QSize(700, 500)
    second.close()


def test_an_unconfigured_profile_explains_itself(qtbot: QtBot, tmp_path: Path) -> None:
    window = open_window(qtbot, tmp_path / "nothing-here")
    text = window.pages.currentWidget().text()  # type: ignore[attr-defined]
    assert "pas encore configuré" in text
    assert "passavant demo" in text
    window.close()


def test_the_app_starts_and_quits_cleanly(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-m", "app", "--profile", str(tmp_path), "--smoke-test"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 window(s) visible: True" in result.stderr


def test_queue_model_is_a_valid_qt_model(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = JobTableModel()
    jobs = [
        make_job(
            i,
            state,
            bundle_id=f"{i:08d}-aaaa",
            attempts=i,
            bytes_sent=i * 100,
            last_error_code="timeout" if state == "retry" else None,
        )
        for i, state in enumerate(["pending", "retry", "delivered"])
    ]
    model.set_jobs(jobs)
    qtmodeltester.check(model)
    model.update_job(jobs[0])
    assert model.rowCount() == 3


@pytest.fixture(autouse=True)
def _french_after_each_test():  # type: ignore[no-untyped-def]
    yield
    i18n.set_language("fr")


def test_a_revoked_station_blocks_the_queue_and_one_action_unblocks_it(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    """The platform refuses the workstation: jobs are blocked with a plain reason; once the
    access is restored, "retry all blocked" delivers them."""
    from refplatform import accounts

    data = demo_env.layout.platform / "data"
    token = (demo_env.layout.unit / "station.token").read_text().strip()
    window, session, secretary = send_then_hand_over(
        qtbot, demo_env, lambda: accounts.register_station(data, "demo-unit"), "failed"
    )  # a new token was registered: ours is revoked
    assert secretary.model.index(0, 5).data() == "Bloqué : action requise"
    assert "jeton d’accès invalide" in secretary.model.index(0, 9).data()
    qtbot.waitUntil(lambda: "connexion refusée" in secretary.connection.text(), timeout=WAIT)
    qtbot.waitUntil(secretary.retry_all_button.isEnabled, timeout=WAIT)
    accounts.register_station(data, "demo-unit", token=token)  # access restored
    qtbot.mouseClick(secretary.retry_all_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: [j.state for j in session.outbox.jobs()] == ["delivered"], timeout=WAIT)
    qtbot.waitUntil(lambda: secretary.model.index(0, 5).data() == "Remis", timeout=WAIT)
    window.close()
