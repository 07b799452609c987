"""Priorities through the widgets: the doctor sends urgently, the secretary reorders the queue."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app import i18n
from app.mainwindow import MainWindow
from app.session import Session
from outbox.jobs import JobState
from tests.gui.test_end_to_end import WAIT, log_in, send_request, visible_text
from tests.gui.test_workspaces import fill_complete_case, open_window
from tests.support.demo import DemoEnv
from tests.support.jobs import make_job
from widgets.doctor import DoctorWorkspace
from widgets.queue import Column, JobTableModel, send_positions
from widgets.secretary import SecretaryWorkspace


def doctor_of(qtbot: QtBot, window: MainWindow) -> DoctorWorkspace:
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.form.recipient.currentData() is not None, timeout=WAIT)
    return doctor


def order(session: Session) -> list[str]:
    return [job.bundle_id for job in session.outbox.queue_order()]


def row_of(secretary: SecretaryWorkspace, bundle_id: str) -> int:
    model = secretary.model
    return next(r for r in range(model.rowCount()) if model.job(r).bundle_id == bundle_id)


def cell(secretary: SecretaryWorkspace, bundle_id: str, column: Column) -> object:
    return secretary.model.index(row_of(secretary, bundle_id), column).data()


def test_an_urgent_request_is_queued_urgent_and_the_box_resets(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = doctor_of(qtbot, window)
    form = doctor.form
    assert not form.urgent.isChecked()
    assert "avant les autres" in form.urgent.toolTip()
    fill_complete_case(doctor)
    form.urgent.setChecked(True)
    send_request(form)
    session = window.session
    assert session is not None
    qtbot.waitUntil(lambda: len(session.outbox.jobs()) == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: form.patient_ref.text() == "", timeout=WAIT)
    assert session.outbox.jobs()[0].priority == "urgent"
    assert not form.urgent.isChecked()  # cleared with the form

    fill_complete_case(doctor)  # the next one is normal unless ticked again
    send_request(form)
    qtbot.waitUntil(lambda: len(session.outbox.jobs()) == 2, timeout=WAIT)
    assert sorted(job.priority for job in session.outbox.jobs()) == ["normal", "urgent"]
    window.close()


def test_platform_down_the_secretary_reorders_the_queue(
    qtbot: QtBot,
    demo_env: DemoEnv,
    screenshot,  # type: ignore[no-untyped-def]
) -> None:
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = doctor_of(qtbot, window)
    demo_env.process.terminate()
    demo_env.process.wait(10)
    session = window.session
    assert session is not None
    for count in (1, 2):
        fill_complete_case(doctor)
        send_request(doctor.form)
        qtbot.waitUntil(lambda c=count: len(session.outbox.jobs()) == c, timeout=WAIT)
        qtbot.waitUntil(lambda: doctor.form.patient_ref.text() == "", timeout=WAIT)
    qtbot.waitUntil(
        lambda: {j.state for j in session.outbox.jobs()} == {JobState.WAITING_RETRY}, timeout=WAIT
    )
    first, second = order(session)
    window.log_out()
    secretary = log_in(qtbot, window, "sec-lambert")
    assert isinstance(secretary, SecretaryWorkspace)
    qtbot.waitUntil(lambda: secretary.model.rowCount() == 2, timeout=WAIT)
    assert cell(secretary, first, Column.ORDER) == "1"
    assert cell(secretary, second, Column.ORDER) == "2"
    assert cell(secretary, first, Column.PRIORITY) == "Normale"

    # The second goes up: it leaves first.
    secretary.table.selectRow(row_of(secretary, second))
    qtbot.waitUntil(secretary.move_up_button.isEnabled, timeout=WAIT)
    qtbot.mouseClick(secretary.move_up_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: order(session) == [second, first], timeout=WAIT)
    qtbot.waitUntil(lambda: cell(secretary, second, Column.ORDER) == "1", timeout=WAIT)
    assert cell(secretary, first, Column.ORDER) == "2"

    # The first, marked urgent, overtakes it; the table says so.
    secretary.table.selectRow(row_of(secretary, first))
    qtbot.waitUntil(lambda: secretary.priority_button.text() == "Envoyer en premier", timeout=WAIT)
    qtbot.mouseClick(secretary.priority_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: order(session) == [first, second], timeout=WAIT)
    assert session.outbox.get(first).priority == "urgent"  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: cell(secretary, first, Column.PRIORITY) == "Urgent", timeout=WAIT)
    assert cell(secretary, first, Column.ORDER) == "1"
    assert cell(secretary, second, Column.PRIORITY) == "Normale"
    index = secretary.model.index(row_of(secretary, first), Column.PRIORITY)
    assert index.data(Qt.ItemDataRole.FontRole).bold()
    assert "Urgent" in visible_text(secretary)
    screenshot(window, "secretary-priorities")

    # The same action (Ctrl+U, still on the first) now says "normal" and puts it back behind.
    qtbot.waitUntil(lambda: secretary.priority_button.text() == "Envoyer à son rang", timeout=WAIT)
    window.activateWindow()
    secretary.table.setFocus()
    qtbot.keyClick(secretary.table, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: order(session) == [second, first], timeout=WAIT)
    qtbot.waitUntil(lambda: cell(secretary, first, Column.PRIORITY) == "Normale", timeout=WAIT)
    assert [j.priority for j in session.outbox.queue_order()] == ["normal", "normal"]

    # Ctrl+Up moves the selected one up again.
    secretary.table.selectRow(row_of(secretary, first))
    qtbot.waitUntil(secretary.move_up_button.isEnabled, timeout=WAIT)
    qtbot.keyClick(secretary.table, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: order(session) == [first, second], timeout=WAIT)
    window.close()


def test_send_positions_put_urgent_first_then_rank_and_skip_the_done() -> None:
    jobs = [
        make_job(1, "pending"),
        make_job(2, "delivered"),
        make_job(3, "retry", rank=0.5),
        make_job(4, "paused", priority="urgent"),
        make_job(5, "cancelled", priority="urgent"),
    ]
    assert send_positions(jobs) == {"00000004-bbbb": 1, "00000003-bbbb": 2, "00000001-bbbb": 3}


def test_the_model_follows_a_priority_change_and_stays_valid(
    qtmodeltester,  # type: ignore[no-untyped-def]
) -> None:
    model = JobTableModel()
    jobs = [make_job(1, "pending"), make_job(2, "retry"), make_job(3, "delivered")]
    model.set_jobs(jobs)
    qtmodeltester.check(model)
    rows = {model.job(r).bundle_id: r for r in range(model.rowCount())}
    assert model.index(rows["00000002-bbbb"], Column.ORDER).data() == "2"
    assert model.index(rows["00000003-bbbb"], Column.ORDER).data() == ""
    model.update_job(replace(jobs[1], priority="urgent", rank=9.0))
    assert model.index(rows["00000002-bbbb"], Column.ORDER).data() == "1"
    assert model.index(rows["00000002-bbbb"], Column.PRIORITY).data() == "Urgent"
    assert model.index(rows["00000001-bbbb"], Column.ORDER).data() == "2"
    qtmodeltester.check(model)


def test_the_priority_controls_in_english(qtbot: QtBot) -> None:
    i18n.set_language("en")
    try:
        model = JobTableModel()
        model.set_jobs([make_job(1, "pending", priority="urgent")])
        assert model.headerData(Column.PRIORITY, Qt.Orientation.Horizontal) == "Priority"
        assert model.index(0, Column.PRIORITY).data() == "Urgent"
        assert model.index(0, Column.PRIORITY).data(Qt.ItemDataRole.ToolTipRole) == (
            "Leaves before normal sends."
        )
    finally:
        i18n.set_language("fr")


@pytest.fixture(autouse=True)
def _french_after_each_test():  # type: ignore[no-untyped-def]
    yield
    i18n.set_language("fr")
