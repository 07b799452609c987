"""Nothing clinical lies on disk in clear, after a whole workflow.

Every text field carries a canary string; the photos carry known bytes. The doctor drafts
(autosaved), sends; the specialist opens and answers; the doctor reads the opinion. Then
every file of both workstation profiles, of the platform, and of the temporary directory the
processes used is scanned: zero hits. The temporary directory is a fresh one, set through
``TMPDIR`` (the platform subprocess) and ``tempfile.tempdir`` (this process), before anything
starts.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

import resources
from app.mainwindow import MainWindow
from tests.gui.test_end_to_end import (
    WAIT,
    add_photos,
    log_in,
    send_request,
    type_text,
    write_opinion,
)
from tests.gui.test_identity import fill_identity
from tests.support.demo import DemoEnv, running_demo
from widgets.doctor import DoctorWorkspace
from widgets.specialist import SpecialistWorkspace

CANARIES = {
    "patient_ref": "CNRY-PATIENT-4411",
    "summary": "CNRY-SUMMARY-érythème-4412",
    "treatments": "CNRY-TREATMENT-4413",
    "question": "CNRY-QUESTION-4414",
    "answer": "CNRY-ANSWER-4416",
    "opinion": "CNRY-OPINION-4415",
    # the patient's identity (issue 19): names are letters only, so the canaries are too
    "birth_name": "Cnrybirthnamequatre",
    "first_names": "Cnryfirstnamequatre",
    "used_name": "Cnryusednamequatre",
    "birth_date": "1985-03-14",
    "ins": "285037511204553",
}


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def demo_in_private_tmp(
    private_tmp: Path, demo_template: Path, tmp_path: Path
) -> Iterator[DemoEnv]:
    with running_demo(demo_template, tmp_path / "demo") as env:
        yield env


def scan(roots: list[Path], needles: dict[str, bytes]) -> list[str]:
    hits = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                hits += [f"{name} in {path}" for name, needle in needles.items() if needle in data]
    return hits


def test_a_whole_workflow_leaves_nothing_clinical_in_clear(
    qtbot: QtBot, demo_in_private_tmp: DemoEnv, private_tmp: Path
) -> None:
    env = demo_in_private_tmp
    unit = MainWindow(env.layout.unit, poll_interval=0.3)
    hospital = MainWindow(env.layout.hospital, poll_interval=0.3)
    for window in (unit, hospital):
        qtbot.addWidget(window)
        window.show()

    doctor = log_in(qtbot, unit, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    form = doctor.form
    qtbot.waitUntil(lambda: form.recipient.currentData() is not None, timeout=WAIT)
    type_text(form.patient_ref, CANARIES["patient_ref"])
    form.consent.setChecked(True)
    type_text(form.summary, CANARIES["summary"])
    type_text(form.treatments, CANARIES["treatments"])
    type_text(form.question, CANARIES["question"])
    type_text(form.answer_fields["onset"], CANARIES["answer"])  # a dermatology question
    fill_identity(
        form,
        status="qualified",
        ins=CANARIES["ins"],
        birth_name=CANARIES["birth_name"],
        first_names=CANARIES["first_names"],
        used_name=CANARIES["used_name"],
    )
    add_photos(qtbot, doctor, resources.sample_photos()[:2], kept=2)
    photos = [p.data for p in form.photos.photos()]
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)  # a draft was saved
    send_request(form)
    session = unit.session
    assert session is not None
    qtbot.waitUntil(lambda: [j.state for j in session.outbox.jobs()] == ["delivered"], timeout=WAIT)

    specialist = log_in(qtbot, hospital, "pr-dubois")
    assert isinstance(specialist, SpecialistWorkspace)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    specialist.cases.setCurrentRow(0)
    assert CANARIES["summary"] in specialist.view.text.toPlainText()
    assert CANARIES["answer"] in specialist.view.text.toPlainText()
    assert CANARIES["birth_name"].upper() in specialist.view.header.text()
    assert "INS (NIR) 2 85 03 75 112 045 53" in specialist.view.header.text()  # it travelled
    write_opinion(specialist, CANARIES["opinion"])
    drafts = env.layout.hospital / "drafts"
    qtbot.waitUntil(lambda: any(drafts.rglob("*.p7m")), timeout=WAIT)  # a draft was sealed
    specialist.form.send_button.click()
    qtbot.waitUntil(
        lambda: doctor.cases.count() == 1 and "Avis reçu" in doctor.cases.item(0).text(),
        timeout=WAIT,
    )
    doctor.cases.setCurrentRow(0)
    assert CANARIES["opinion"] in doctor.view.opinions.toPlainText()
    # the signed reports for the records (issue 19 §3): written only where the person
    # chose (outside what is scanned), in memory until then
    chosen = private_tmp.parent / "chosen"
    chosen.mkdir()
    for workspace, name in ((doctor, "copie.pdf"), (specialist, "cr.pdf")):
        workspace.save_report(chosen / name)
        qtbot.waitUntil(lambda n=name: (chosen / n).exists(), timeout=WAIT)  # type: ignore[misc]
        qtbot.waitUntil(lambda w=workspace: w.view.records_button.isEnabled(), timeout=WAIT)  # type: ignore[misc]
    middle = len(photos[0]) // 2
    assert photos[0][middle : middle + 48] in (chosen / "cr.pdf").read_bytes()  # seen if left
    for window in (unit, hospital):
        window.close()

    needles = {name: text.encode("utf-8") for name, text in CANARIES.items()}
    for i, data in enumerate(photos):
        for offset in (200, len(data) // 2, len(data) - 300):
            needles[f"photo {i + 1} at {offset}"] = data[offset : offset + 48]
    roots = [env.layout.root, private_tmp]
    # The scan itself must be able to find a leak: plant one and see it found.
    planted = private_tmp / "planted.txt"
    planted.write_text(CANARIES["opinion"], "utf-8")
    assert scan(roots, needles) == [f"opinion in {planted}"]
    planted.unlink()
    assert scan(roots, needles) == []
