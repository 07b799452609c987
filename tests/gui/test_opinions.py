"""The specialist's answer: each request keeps its own unfinished opinion, sealed among the
drafts and back after a logout or a restart; what the opinion advises (the outcome, when to
look again) reaches the doctor's list, view and notice line. Real workstation windows
against the demo's real platform."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.exceptions import TimeoutError as WaitTimeout
from pytestqt.qtbot import QtBot

from app.mainwindow import MainWindow
from cases.delays import add_working_days
from cases.model import Opinion
from cases.threads import CaseThread
from tests.core.test_followup import EXPERT, request, thread
from tests.gui.test_end_to_end import WAIT, log_in, send_request, type_text, write_opinion
from tests.gui.test_follow_up_request import doctor_with_a_complete_request
from tests.gui.test_workspaces import fill_complete_case, open_window
from tests.support.demo import DemoEnv
from tests.support.stacks import thread_stacks
from widgets.caselist import URGENT, CaseList, in_red, late_notice
from widgets.caseview import CaseView
from widgets.doctor import DoctorWorkspace, describe_for_doctor, needs_action
from widgets.overlay import day
from widgets.specialist import SpecialistWorkspace, describe_for_specialist, order, pressing

SECRET = "CANARY-avis-en-cours-5d1e"


def requests_sent(
    qtbot: QtBot, demo_env: DemoEnv, *refs: str
) -> tuple[MainWindow, MainWindow, DoctorWorkspace, SpecialistWorkspace]:
    """Dr Bernard sends one request per patient reference; Pr Dubois has them listed."""
    unit = open_window(qtbot, demo_env.layout.unit)
    hospital = open_window(qtbot, demo_env.layout.hospital)
    doctor = doctor_with_a_complete_request(qtbot, unit)
    for n, ref in enumerate(refs, 1):
        fill_complete_case(doctor)
        doctor.form.patient_ref.setText(ref)
        send_request(doctor.form)
        listed(qtbot, doctor, n)
    specialist = specialist_in(qtbot, hospital)
    qtbot.waitUntil(lambda: specialist.cases.count() == len(refs), timeout=WAIT)
    return unit, hospital, doctor, specialist


def listed(qtbot: QtBot, doctor: DoctorWorkspace, n: int) -> None:
    """Waits until the doctor's list shows ``n`` requests; if it does not, says what the
    window showed (a refusal under the form, a notice, a send still sealing)."""
    try:
        qtbot.waitUntil(lambda: doctor.cases.count() == n, timeout=WAIT)
    except WaitTimeout as exc:
        form = doctor.form
        ws = doctor.session.workstation
        store = ws.store(doctor.me)
        rows = [
            (r.bundle_id[:8], r.version, r.state, r.kind, (r.case_ref or "")[:8], r.source)
            for r in store.index.changed_since(0)
        ]
        fresh, aside = ws.threads(doctor.me)
        jobs = [(j.bundle_id[:8], j.kind, j.state) for j in doctor.session.outbox.jobs()]
        window = doctor.window()
        raise AssertionError(
            f"queued: {jobs}; window locked: {getattr(window, 'locked', None)};"
            f" the form's reference {form.patient_ref.text()!r}; "
            f"index rows: {rows}; listing watermark {store.lists._version}, documents"
            f" {[b[:8] for b in store.lists._docs]}; a fresh listing: {len(fresh)} threads,"
            f" {aside!r} set aside; the signature {ws._signature()} and the view"
            f" {[(k, v.signature, len(v.threads)) for k, v in ws._views.items()]};"
            f" the list's threads {len(doctor.cases.threads)}; "
            f"the bar holds {doctor.store.bar.items!r}; a listing running:"
            f" {doctor.store._listing}, another asked: {doctor.store._again};"
            f" {doctor.cases.count()} listed, not {n}; under the form: {form.problems.text()!r};"
            f" notice: {doctor.notice.text()!r}; send button: {form.send_button.text()!r}"
            f" ({'enabled' if form.send_button.isEnabled() else 'disabled'});"
            f" recipient: {getattr(form.recipient.currentData(), 'id', None)!r}\n" + thread_stacks()
        ) from exc


def specialist_in(qtbot: QtBot, hospital: MainWindow) -> SpecialistWorkspace:
    specialist = log_in(qtbot, hospital, "pr-dubois")
    assert isinstance(specialist, SpecialistWorkspace)
    return specialist


def row(threads: list[CaseThread], ref: str) -> int:
    return next(i for i, t in enumerate(threads) if t.case.bundle.case.patient_ref == ref)  # type: ignore[union-attr]


def test_each_request_keeps_its_own_opinion_and_it_is_sent_on_that_one(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    _unit, _hospital, doctor, specialist = requests_sent(qtbot, demo_env, "P-1", "P-2")
    form, cases = specialist.form, specialist.cases
    assert "2 à traiter" in specialist.title.text()
    qtbot.waitUntil(lambda: "2 en attente d’avis" in doctor.title.text(), timeout=WAIT)
    cases.setCurrentRow(row(cases.threads, "P-1"))
    write_opinion(specialist, "Avis sur P-1.", "consultation", weeks=4)
    cases.setCurrentRow(row(cases.threads, "P-2"))
    assert form.is_blank()  # not the opinion written on P-1
    assert "avis en cours" in cases.item(row(cases.threads, "P-1")).text()
    assert "avis en cours" not in cases.item(row(cases.threads, "P-2")).text()
    type_text(form.text, "Avis sur P-2.")
    cases.setCurrentRow(row(cases.threads, "P-1"))
    assert form.text.toPlainText() == "Avis sur P-1."
    assert (form.outcome.currentData(), form.review.value()) == ("consultation", 4)

    specialist.send_opinion()
    qtbot.waitUntil(
        lambda: "Avis envoyé" in cases.item(row(cases.threads, "P-1")).text(), timeout=WAIT
    )
    assert form.is_blank()  # sent: the form is empty for another opinion on P-1
    assert "avis en cours" not in cases.item(row(cases.threads, "P-1")).text()
    assert "avis en cours" in cases.item(row(cases.threads, "P-2")).text()
    qtbot.waitUntil(lambda: any(t.opinions for t in doctor.cases.threads), timeout=WAIT)
    answered = {
        t.case.bundle.case.patient_ref: [o.bundle.opinion.text for o in t.opinions]  # type: ignore[union-attr]
        for t in doctor.cases.threads
    }
    assert answered == {"P-1": ["Avis sur P-1."], "P-2": []}
    assert "1 à traiter" in specialist.title.text()
    assert "1 en attente d’avis" in doctor.title.text()
    qtbot.waitUntil(  # the doctor's workstation opened it: its signed receipt came back
        lambda: "Avis envoyé · lu par l’unité" in cases.item(row(cases.threads, "P-1")).text(),
        timeout=WAIT,
    )
    cases.setCurrentRow(row(cases.threads, "P-2"))
    assert form.text.toPlainText() == "Avis sur P-2."  # still there, unsent


def test_an_unfinished_opinion_survives_a_logout_and_a_restart_sealed(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    _unit, hospital, _doctor, specialist = requests_sent(qtbot, demo_env, "P-3")
    specialist.cases.setCurrentRow(0)
    type_text(specialist.form.text, f"Psoriasis {SECRET}")
    assert specialist._draft_timer.isActive()  # not saved yet: the logout must save it
    hospital.log_out()
    specialist = specialist_in(qtbot, hospital)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: "avis en cours" in specialist.cases.item(0).text(), timeout=WAIT)
    specialist.cases.setCurrentRow(0)
    assert specialist.form.text.toPlainText() == f"Psoriasis {SECRET}"
    specialist.form.outcome.setCurrentIndex(specialist.form.outcome.findData("on_site"))
    hospital.close()  # quit at once, the outcome not saved yet
    # a receipt on its way keeps the closed window's queue going until it is delivered; the
    # profile opens again once it has ended (cases.profilelock)
    qtbot.waitUntil(lambda: hospital.session is None, timeout=WAIT)

    hospital = open_window(qtbot, demo_env.layout.hospital)  # as after a restart
    specialist = specialist_in(qtbot, hospital)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: "avis en cours" in specialist.cases.item(0).text(), timeout=WAIT)
    specialist.cases.setCurrentRow(0)
    assert specialist.form.text.toPlainText() == f"Psoriasis {SECRET}"
    assert specialist.form.outcome.currentData() == "on_site"
    files = list((demo_env.layout.hospital / "drafts").rglob("*.p7m"))  # besides names.key
    assert len(files) == 1
    assert SECRET.encode() not in files[0].read_bytes()

    specialist.form.text.clear()  # emptied: forgotten
    specialist.form.outcome.setCurrentIndex(0)
    specialist.keep_draft()
    qtbot.waitUntil(lambda: not files[0].exists(), timeout=WAIT)
    assert "avis en cours" not in specialist.cases.item(0).text()
    hospital.close()


def test_the_last_opinion_draft_is_sealed_off_the_gui_thread_and_back_at_the_next_login(
    qtbot: QtBot, demo_env: DemoEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """At logout the opinion typed a moment before is sealed on a thread of its own, not on
    the GUI thread; the next session waits for it and finds it, sealed."""
    _unit, hospital, _doctor, specialist = requests_sent(qtbot, demo_env, "P-5")
    specialist.cases.setCurrentRow(0)
    type_text(specialist.form.text, f"Lichen plan {SECRET}")
    assert specialist._draft_timer.isActive()  # the autosave has not run: the logout saves
    opinion_id = specialist.form.opinion_id
    with caplog.at_level(logging.INFO, logger="cases.drafts"):
        hospital.log_out()
        last = specialist.last_save
        assert last is not None
        assert not last.daemon  # the process waits for it before it ends
        # no join: the next session's store waits for it before it reads the drafts
        specialist = specialist_in(qtbot, hospital)
        qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
        qtbot.waitUntil(lambda: "avis en cours" in specialist.cases.item(0).text(), timeout=WAIT)
    sealers = [r.threadName for r in caplog.records if opinion_id in r.getMessage()]
    assert sealers == ["passavant-last-draft"]  # sealed once, and not on the GUI thread
    specialist.cases.setCurrentRow(0)
    assert specialist.form.text.toPlainText() == f"Lichen plan {SECRET}"
    files = list((demo_env.layout.hospital / "drafts").rglob("*.p7m"))
    assert len(files) == 1
    assert SECRET.encode() not in files[0].read_bytes()
    hospital.close()


def test_an_opinion_says_what_to_do_before_it_is_sent(qtbot: QtBot, demo_env: DemoEnv) -> None:
    _unit, hospital, _doctor, specialist = requests_sent(qtbot, demo_env, "P-4")
    specialist.cases.setCurrentRow(0)
    type_text(specialist.form.text, "Mycose.")
    qtbot.keyClick(specialist.form.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert specialist.form.problems.text() == "Choisissez la conduite à tenir."
    session = hospital.session
    assert session is not None
    assert [j.kind for j in session.outbox.jobs()] == ["receipt"]  # no opinion queued
    specialist.form.outcome.setCurrentIndex(specialist.form.outcome.findData("on_site"))
    assert specialist.form.problems.text() == ""  # edited: the complaint goes
    qtbot.keyClick(specialist.form.text, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "Avis envoyé" in specialist.cases.item(0).text(), timeout=WAIT)
    assert "Prise en charge sur place" in specialist.cases.item(0).text()


def test_the_doctor_is_told_of_an_urgent_transfer_in_red(
    qtbot: QtBot, demo_env: DemoEnv, screenshot
) -> None:  # type: ignore[no-untyped-def]
    unit, hospital, doctor, specialist = requests_sent(qtbot, demo_env, "P-5")
    specialist.cases.setCurrentRow(0)
    write_opinion(
        specialist, "Dermohypodermite extensive, fièvre : à hospitaliser.", "urgent_transfer"
    )
    qtbot.wait(50)
    screenshot(hospital, "specialist-outcome")
    specialist.send_opinion()
    qtbot.waitUntil(lambda: "Avis reçu" in doctor.cases.item(0).text(), timeout=WAIT)
    assert "Extraction urgente" in doctor.cases.item(0).text()
    assert doctor.cases.item(0).foreground().color().name() == "#a40000"
    notice = doctor.notice.text()
    assert "Conduite à tenir : Extraction urgente." in notice
    assert "color: #a40000" in notice  # shown in red
    doctor.cases.setCurrentRow(0)
    html = doctor.view.opinions.toHtml()
    assert "Extraction urgente" in doctor.view.opinions.toPlainText()
    assert "#a40000" in html
    qtbot.wait(50)
    screenshot(unit, "doctor-urgent")


def test_the_doctors_list_says_when_to_look_again_and_when_it_is_late() -> None:
    earlier = request(0)
    now = datetime.now(UTC).replace(microsecond=0)
    late = Opinion(
        earlier.case_id, "Revoir.", created_at=now - timedelta(weeks=5),
        outcome="new_request", review_weeks=2,
    )  # fmt: skip
    soon = replace(late, created_at=now)
    due = late.review_by()
    assert due is not None
    line = describe_for_doctor(thread(earlier, (EXPERT, late)), [])
    assert "Avis reçu — Nouvelle demande à prévoir" in line
    assert f"contrôle en retard ({day(due)})" in line
    line = describe_for_doctor(thread(earlier, (EXPERT, soon)), [])
    assert f"à revoir le {day(now + timedelta(weeks=2))}" in line
    assert "retard" not in line
    older = describe_for_doctor(thread(earlier, (EXPERT, "Avis d’une version antérieure.")), [])
    assert older.endswith("Avis reçu")  # no outcome, no review: nothing more said

    # in red: a late review, or an urgent transfer advised
    assert needs_action(thread(earlier, (EXPERT, late)), [])
    assert not needs_action(thread(earlier, (EXPERT, soon)), [])
    urgent = Opinion(earlier.case_id, "À hospitaliser.", outcome="urgent_transfer")
    assert needs_action(thread(earlier, (EXPERT, urgent)), [])
    fresh = replace(earlier, created_at=now)
    assert not needs_action(thread(fresh), [])


def test_both_lists_say_when_an_answer_is_due_and_when_it_is_late(qtbot: QtBot) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    fresh = replace(request(0, patient="P-NEW"), created_at=now)
    old = request(0, patient="P-OLD")  # Monday 12 October 2026: due on Monday 19
    answered = thread(replace(request(1), created_at=now), (EXPERT, "Avis."))
    due = add_working_days(now.astimezone().date(), 5).strftime("%d/%m/%Y")
    assert f" · avis attendu d’ici le {due}" in describe_for_doctor(thread(fresh))
    assert f" · À traiter d’ici le {due}" in describe_for_specialist(thread(fresh))
    assert "avis en retard (attendu le 19/10/2026)" in describe_for_doctor(thread(old))
    assert "À traiter · délai dépassé (19/10/2026)" in describe_for_specialist(thread(old))
    for describe in (describe_for_doctor, describe_for_specialist):
        line = describe(answered)
        assert "attendu" not in line
        assert "d’ici" not in line
        assert "retard" not in line
        assert "dépassé" not in line

    # in red in both lists, the late one only
    lists = (
        CaseList(describe_for_doctor, "Mes demandes", alarming=lambda t: needs_action(t, [])),
        CaseList(describe_for_specialist, "Demandes reçues", alarming=pressing),
    )
    for cases in lists:
        qtbot.addWidget(cases)
        cases.resize(320, 300)
        cases.set_threads([thread(fresh), thread(old), answered])
        colours = [cases.item(n).foreground().color().name() for n in range(3)]
        assert [c == URGENT for c in colours] == [False, True, False]
        # selected, the row takes the selection's colours, but its red bar stays
        cases.setCurrentRow(1)
        image = cases.viewport().grab().toImage()
        left = [cases.visualItemRect(cases.item(n)) for n in range(3)]
        bars = [image.pixelColor(r.x() + 1, r.center().y()).name() for r in left]
        assert [bar == URGENT for bar in bars] == [False, True, False]

    # at login, the lists' notice line counts the late ones
    one, many = "une en retard", "{n} en retard"
    assert late_notice([thread(fresh), answered], one, many) == ""
    assert late_notice([thread(old), thread(fresh)], one, many) == in_red("une en retard")
    assert late_notice([thread(old), thread(old)], one, many) == in_red("2 en retard")

    # the header of the request shown says it too, in red once late
    view = CaseView()
    qtbot.addWidget(view)
    view.show_thread(thread(fresh))
    assert f" — réponse attendue d’ici le {due}" in view.header.text()
    view.show_thread(thread(old))
    assert in_red("délai de réponse dépassé (19/10/2026)") in view.header.text()
    view.show_thread(answered)
    assert "réponse" not in view.header.text()

    # the specialist's list: urgent first, then late, then those to answer, then the others,
    # newest first within each (the list opens on its first row: one to answer)
    urgent = thread(replace(fresh, patient_ref="P-URG", urgent=True))
    given = [answered, thread(fresh), thread(old), urgent]
    ordered = sorted(given, key=order)
    assert [t.case.bundle.case.patient_ref for t in ordered] == [  # type: ignore[union-attr]
        "P-URG", "P-OLD", "P-NEW", "P-0147"
    ]  # fmt: skip


def test_an_urgent_request_comes_first_in_red_until_answered(
    qtbot: QtBot, demo_env: DemoEnv, screenshot
) -> None:  # type: ignore[no-untyped-def]
    unit = open_window(qtbot, demo_env.layout.unit)
    hospital = open_window(qtbot, demo_env.layout.hospital)
    doctor = doctor_with_a_complete_request(qtbot, unit)
    specialist = specialist_in(qtbot, hospital)  # logged in: arrivals are announced
    doctor.form.patient_ref.setText("P-URG")
    doctor.form.urgent.setChecked(True)
    send_request(doctor.form)  # sent first: the older of the two
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    assert "urgente" in doctor.cases.item(0).text()
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    assert "color: #a40000" in specialist.notice.text()
    assert "Demande urgente de Dr Claire Bernard (Dermatologie)." in specialist.notice.text()
    qtbot.wait(1100)
    doctor.form.clear()  # the next request is a second newer: first in date order
    fill_complete_case(doctor)
    doctor.form.patient_ref.setText("P-ORD")
    send_request(doctor.form)
    qtbot.waitUntil(lambda: specialist.cases.count() == 2, timeout=WAIT)

    cases = specialist.cases
    assert row(cases.threads, "P-URG") == 0  # first, though older
    assert "· URGENT · À traiter d’ici le " in cases.item(0).text()
    assert cases.item(0).foreground().color().name() == "#a40000"
    assert cases.item(1).foreground().color().name() != "#a40000"
    cases.setCurrentRow(0)
    assert "Demande urgente" in specialist.view.header.text()
    qtbot.wait(50)
    screenshot(hospital, "specialist-urgent")
    write_opinion(specialist, "Cellulite : antibiothérapie.", "on_site")
    specialist.send_opinion()
    answered = lambda: cases.item(row(cases.threads, "P-URG"))  # noqa: E731
    qtbot.waitUntil(lambda: "Avis envoyé" in answered().text(), timeout=WAIT)
    assert row(cases.threads, "P-URG") == 1  # answered: back in date order
    assert "URGENT" not in answered().text()
    assert answered().foreground().color().name() != "#a40000"


def test_the_activity_report_counts_requests_answers_and_transfers_avoided(
    qtbot: QtBot, demo_env: DemoEnv, tmp_path: Path, screenshot
) -> None:  # type: ignore[no-untyped-def]
    unit, _hospital, doctor, specialist = requests_sent(qtbot, demo_env, "P-6", "P-7")
    specialist.cases.setCurrentRow(row(specialist.cases.threads, "P-6"))
    write_opinion(specialist, "Eczéma : dermocorticoïdes.", "on_site")
    specialist.send_opinion()
    qtbot.waitUntil(lambda: any(t.opinions for t in doctor.cases.threads), timeout=WAIT)

    assert unit.activity_action.isEnabled()
    report = unit.show_activity()
    assert report is not None
    month = datetime.now().astimezone().strftime("%m/%Y")
    table = report.table
    assert table.columnCount() == 1  # one month
    assert table.horizontalHeaderItem(0).text() == month
    figures = {
        table.verticalHeaderItem(r).text(): table.item(r, 0).text() for r in range(table.rowCount())
    }
    assert figures == {
        "Demandes": "2",
        "dont urgentes": "0",
        "dont retirées": "0",
        "Avec avis": "1",
        "Délai médian de réponse (h)": figures["Délai médian de réponse (h)"],
        "Délai médian (jours ouvrés)": figures["Délai médian (jours ouvrés)"],
        "Avis dans le délai": "1",
        "Prise en charge sur place": "1",
        "Nouvelle demande à prévoir": "0",
        "Compléments nécessaires (photos, examens)": "0",
        "Avis d’un confrère à demander": "0",
        "Consultation à l’hôpital à programmer": "0",
        "Extraction urgente": "0",
        "Extractions évitées": "1",
    }
    assert figures["Délai médian (jours ouvrés)"] in ("0,0", "1,0")  # answered at once
    summary = "2 demande(s), 1 avec avis dont 1 dans le délai, 1 extraction(s) évitée(s)"
    assert summary in report.summary.text()
    qtbot.wait(50)
    screenshot(report, "activity")
    report.save(tmp_path / "bilan.csv")
    saved = (tmp_path / "bilan.csv").read_text("utf-8-sig")
    assert saved.splitlines()[0].startswith("Mois;Demandes;dont urgentes;dont retirées;Avec avis;")
    assert saved.splitlines()[1].startswith(month[3:] + "-" + month[:2] + ";2;0;0;1;")
    for secret in ("P-6", "P-7", "Eczéma", "Résumé", "Question"):
        assert secret not in saved
    report.save(tmp_path / "missing" / "bilan.csv")  # a folder that does not exist
    assert "n’a pas pu être enregistré" in report.status.text()
    report.close()

    unit.log_out()
    assert not unit.activity_action.isEnabled()
    log_in(qtbot, unit, "sec-lambert")
    assert not unit.activity_action.isEnabled()  # the secretary opens no request
    assert unit.show_activity() is None


def test_what_arrived_while_logged_out_is_announced_at_login_and_stays_bold_until_opened(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    _unit, hospital, doctor, specialist = requests_sent(qtbot, demo_env, "P-10")
    specialist.cases.setCurrentRow(0)
    hospital.log_out()  # the specialist goes home; two requests come overnight
    for n, ref in enumerate(("P-11", "P-12"), 2):
        fill_complete_case(doctor)
        doctor.form.patient_ref.setText(ref)
        send_request(doctor.form)
        listed(qtbot, doctor, n)
    session = hospital.session
    assert session is not None
    qtbot.waitUntil(lambda: len(session.inbox.items("pr-dubois")) == 3, timeout=WAIT)

    specialist = specialist_in(qtbot, hospital)
    qtbot.waitUntil(lambda: specialist.cases.count() == 3, timeout=WAIT)
    assert specialist.notice.text() == "2 nouvelles demandes reçues."
    cases = specialist.cases
    bold = {
        t.case.bundle.case.patient_ref
        for i, t in enumerate(cases.threads)
        if cases.item(i).font().bold()
    }  # type: ignore[union-attr]
    shown = cases.current_thread()
    assert shown is not None
    # the overnight arrivals are in bold, but the one shown at once (read); P-10 was seen
    assert bold == {"P-11", "P-12"} - {shown.case.bundle.case.patient_ref}  # type: ignore[union-attr]
    assert bold

    hospital.log_out()  # unopened: still marked at the next login, not announced again
    specialist = specialist_in(qtbot, hospital)
    qtbot.waitUntil(lambda: specialist.cases.count() == 3, timeout=WAIT)
    assert specialist.notice.text() == ""
    again = {
        t.case.bundle.case.patient_ref
        for i, t in enumerate(specialist.cases.threads)
        if specialist.cases.item(i).font().bold()
    }  # type: ignore[union-attr]
    assert again == bold
    folder = demo_env.layout.hospital / "seen"
    # one file per identity, once the save in the background (an atomic write) has ended
    qtbot.waitUntil(lambda: [f.name for f in folder.iterdir()] == ["pr-dubois.json"], timeout=WAIT)
    files = list(folder.iterdir())
    for secret in ("P-1", "Résumé", "Question"):
        assert secret not in files[0].read_text("utf-8")
