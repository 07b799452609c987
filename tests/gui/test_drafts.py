"""An unfinished request survives logout and restart, sealed; sending it removes the draft."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

import resources
from cases.documents import Document
from cases.draftpayloads import DraftPayload
from cases.photos import Photo
from tests.core.test_drafts_payloads import CANARY as CLIP_CANARY
from tests.core.test_drafts_payloads import a_clip, a_document, clip_bytes
from tests.gui.test_end_to_end import WAIT, log_in, send_request, type_text
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from tests.support.documents import radiograph
from tests.support.photos import sample_photo
from widgets.doctor import DoctorWorkspace

CANARY = "CANARY-brouillon-91c2"


def doctor_in(qtbot: QtBot, demo_env: DemoEnv) -> tuple[object, DoctorWorkspace]:
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.form.recipient.currentData() is not None, timeout=WAIT)
    return window, doctor


def test_a_draft_is_saved_while_typing_and_resumed_after_a_restart(
    qtbot: QtBot, demo_env: DemoEnv, screenshot: Callable[[QWidget, str], Path]
) -> None:
    window, doctor = doctor_in(qtbot, demo_env)
    type_text(doctor.form.patient_ref, "P-77")
    type_text(doctor.form.summary, f"Ulcère {CANARY}")
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    assert "P-77" in doctor.draft_list.item(0).text()
    assert "Brouillon enregistré" in doctor.draft_status.text()

    drafts = demo_env.layout.unit / "drafts"
    files = list(drafts.rglob("*.p7m"))  # besides names.key, the key of the drafts' names
    assert len(files) == 1
    assert CANARY.encode() not in files[0].read_bytes()

    window.close()  # type: ignore[attr-defined]
    window, doctor = doctor_in(qtbot, demo_env)  # a new window, as after a restart
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    assert doctor.form.is_blank()
    doctor.draft_list.setCurrentRow(0)
    doctor._resume_draft(doctor.draft_list.item(0))
    assert doctor.form.patient_ref.text() == "P-77"
    assert CANARY in doctor.form.summary.toPlainText()
    window.resize(1200, 800)  # type: ignore[attr-defined]
    qtbot.waitUntil(doctor.form.photos.thumbnails_ready, timeout=WAIT)  # for the picture
    screenshot(window, "doctor-draft-resumed")

    doctor.form.consent.setChecked(True)
    type_text(doctor.form.question, "Avis ?")
    begun = doctor.form.case().created_at
    qtbot.wait(1100)  # sent a second later, at least
    send_request(doctor.form)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 0, timeout=WAIT)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    assert doctor.draft_status.text() == ""  # "saved at …" would now be untrue
    sent = doctor.cases.threads[0].case.bundle.case
    assert sent is not None
    assert sent.created_at > begun  # dated when sent, not when the draft was begun
    qtbot.wait(2 * 1500)  # a late autosave must not bring the sent request back
    assert list(drafts.rglob("*.p7m")) == []
    assert doctor.draft_list.count() == 0


def test_new_request_keeps_the_current_one_as_a_draft_and_it_can_be_deleted(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    _window, doctor = doctor_in(qtbot, demo_env)
    type_text(doctor.form.patient_ref, "P-1")
    qtbot.mouseClick(doctor.new_button, Qt.MouseButton.LeftButton)
    assert doctor.form.is_blank()
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)

    doctor.draft_list.setCurrentRow(0)
    qtbot.mouseClick(doctor.discard_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 0, timeout=WAIT)
    assert doctor.draft_status.text() == "Brouillon supprimé."
    assert not any(Path(demo_env.layout.unit / "drafts").rglob("*.p7m"))


def test_what_was_typed_just_before_a_logout_or_a_quit_is_kept(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    window, doctor = doctor_in(qtbot, demo_env)
    type_text(doctor.form.patient_ref, "P-78")
    assert doctor._draft_timer.isActive()  # the autosave has not run yet
    window.log_out()  # type: ignore[attr-defined]
    doctor = log_in(qtbot, window, "dr-bernard")  # type: ignore[arg-type]
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    doctor._resume_draft(doctor.draft_list.item(0))
    type_text(doctor.form.summary, "Ulcère talon")
    assert doctor._draft_timer.isActive()
    window.close()  # type: ignore[attr-defined]  # Ctrl+Q, at once

    window, doctor = doctor_in(qtbot, demo_env)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    doctor._resume_draft(doctor.draft_list.item(0))
    assert doctor.form.patient_ref.text() == "P-78"
    assert doctor.form.summary.toPlainText() == "Ulcère talon"


def test_a_clip_and_a_document_join_the_draft_once_then_the_form_holds_their_sealed_files(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    """Issue 17: autosave seals the text, not the clip again; the form frees the bytes; the
    request sent from the draft carries them, and its payloads leave with the draft."""
    window, doctor = doctor_in(qtbot, demo_env)
    clip = a_clip(clip_bytes(2 << 20))
    document = a_document(b"%PDF-1.7 " + CANARY.encode() + os.urandom(200_000))
    type_text(doctor.form.patient_ref, "P-79")
    doctor.form.clips.add(clip)
    doctor.form.documents._append(document)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    qtbot.waitUntil(
        lambda: isinstance(doctor.form.clips.clips()[0].payload, DraftPayload), timeout=WAIT
    )
    held = doctor.form.case()
    assert isinstance(held.documents[0].payload, DraftPayload)
    files = sorted(doctor.drafts.payloads.folder.glob("*.p7m"))
    assert len(files) == 2
    for file in Path(demo_env.layout.unit).rglob("*"):  # the whole profile: sealed only
        if file.is_file():
            data = file.read_bytes()
            assert CLIP_CANARY not in data, file
            assert CANARY.encode() not in data, file
    stamps = [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files]
    (draft,) = doctor.drafts.folder.glob("*.p7m")
    saved = draft.stat().st_mtime_ns

    type_text(doctor.form.summary, "Plaie du talon")
    qtbot.waitUntil(lambda: draft.stat().st_mtime_ns != saved, timeout=WAIT)
    qtbot.waitUntil(lambda: not doctor._draft_saving, timeout=WAIT)
    assert [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files] == stamps  # not again

    window.close()  # type: ignore[attr-defined]
    window, doctor = doctor_in(qtbot, demo_env)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    doctor._resume_draft(doctor.draft_list.item(0))
    resumed = doctor.form.case()
    assert isinstance(resumed.clips[0].payload, DraftPayload)
    assert resumed.summary == "Plaie du talon"
    doctor.form.consent.setChecked(True)
    type_text(doctor.form.question, "Avis ?")
    send_request(doctor.form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    sent = doctor.cases.threads[0].case.bundle.case
    assert sent is not None
    assert sent.clips[0].data == clip.data
    assert sent.documents[0].data == document.data
    qtbot.waitUntil(lambda: not any(doctor.drafts.payloads.folder.glob("*.p7m")), timeout=WAIT)


def test_a_draft_whose_clip_file_is_gone_or_altered_says_which_and_still_opens(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    window, doctor = doctor_in(qtbot, demo_env)
    clip = a_clip(clip_bytes(1 << 20))
    document = a_document(b"%PDF-1.7 " + os.urandom(100_000))
    type_text(doctor.form.patient_ref, "P-80")
    doctor.form.clips.add(clip)
    doctor.form.documents._append(document)
    qtbot.waitUntil(
        lambda: isinstance(doctor.form.clips.clips()[0].payload, DraftPayload), timeout=WAIT
    )
    window.close()  # type: ignore[attr-defined]
    doctor.drafts.payloads.path(clip.sha256).unlink()  # lost (a restore from a backup…)
    altered = doctor.drafts.payloads.path(document.sha256)
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped: the same size
    altered.write_bytes(bytes(data))

    window, doctor = doctor_in(qtbot, demo_env)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: "clip-1.mp4" in doctor.draft_status.text(), timeout=WAIT)
    assert "P-80" in doctor.draft_status.text()
    doctor._resume_draft(doctor.draft_list.item(0))
    assert doctor.form.patient_ref.text() == "P-80"
    assert doctor.form.clips.clips() == ()
    qtbot.waitUntil(lambda: "document-1.pdf" in doctor.draft_status.text(), timeout=WAIT)
    assert "endommagé" in doctor.draft_status.text()
    assert [d.name for d in doctor.form.documents.documents()] == ["document-1.pdf"]


def same_study(data: bytes) -> bytes:
    """Another image of the study ``data`` holds (its own SOP instance)."""
    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(io.BytesIO(data))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def study_of(data: bytes) -> str:
    import pydicom

    return str(pydicom.dcmread(io.BytesIO(data)).StudyInstanceUID)


def attach_dicom(qtbot: QtBot, doctor: DoctorWorkspace, path: Path) -> Document:
    documents = doctor.form.documents
    count = len(documents.documents())
    documents.attach(path)
    qtbot.waitUntil(lambda: documents.details is not None, timeout=WAIT)
    assert documents.details is not None
    documents.details.accept()
    qtbot.waitUntil(lambda: len(documents.documents()) == count + 1, timeout=WAIT)
    return documents.documents()[-1]


def test_dicom_images_attached_before_and_after_a_restart_stay_one_study(
    qtbot: QtBot, demo_env: DemoEnv, tmp_path: Path
) -> None:
    first_image = radiograph()
    first, second = tmp_path / "one.dcm", tmp_path / "two.dcm"
    first.write_bytes(first_image)
    second.write_bytes(same_study(first_image))
    window, doctor = doctor_in(qtbot, demo_env)
    type_text(doctor.form.patient_ref, "P-81")
    before = attach_dicom(qtbot, doctor, first)
    qtbot.waitUntil(
        lambda: isinstance(doctor.form.documents.documents()[0].payload, DraftPayload),
        timeout=WAIT,
    )
    window.close()  # type: ignore[attr-defined]

    window, doctor = doctor_in(qtbot, demo_env)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    doctor._resume_draft(doctor.draft_list.item(0))
    after = attach_dicom(qtbot, doctor, second)
    assert study_of(after.data) == study_of(before.data)  # one study, the request's key
    assert study_of(before.data) != study_of(first_image)  # replaced all the same

    doctor.new_case()  # another request: another key, another study
    type_text(doctor.form.patient_ref, "P-82")
    other = attach_dicom(qtbot, doctor, first)
    assert study_of(other.data) != study_of(before.data)


def form_photos(count: int) -> list[Photo]:
    """Photos as the capture station hands them to the form (prepared JPEGs)."""
    photos = [sample_photo(path, "x.jpg") for path in resources.sample_photos()[:count]]
    return [replace(p, name=f"photo-{n}.jpg") for n, p in enumerate(photos, 1)]


def test_photos_join_the_draft_once_then_the_form_holds_their_sealed_files(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    """An autosave seals the text, not the photos again; the thumbnails stay; the request
    sent from the draft carries the photos, and their files leave with the draft."""
    window, doctor = doctor_in(qtbot, demo_env)
    photos = form_photos(2)
    type_text(doctor.form.patient_ref, "P-83")
    doctor.form.add_photos(photos)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    strip = doctor.form.photos
    qtbot.waitUntil(
        lambda: all(isinstance(p.payload, DraftPayload) for p in strip.photos()), timeout=WAIT
    )
    qtbot.waitUntil(strip.thumbnails_ready, timeout=WAIT)
    assert [p.details() for p in strip.photos()] == [p.details() for p in photos]
    files = sorted(doctor.drafts.payloads.folder.glob("*.p7m"))
    assert len(files) == 2
    for file in Path(demo_env.layout.unit).rglob("*"):  # the whole profile: sealed only
        if file.is_file():
            data = file.read_bytes()
            for photo in photos:
                assert photo.data[2000:2064] not in data, file
    stamps = [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files]
    (draft,) = doctor.drafts.folder.glob("*.p7m")
    saved = draft.stat().st_mtime_ns
    type_text(doctor.form.summary, "Plaie du talon")
    qtbot.waitUntil(lambda: draft.stat().st_mtime_ns != saved, timeout=WAIT)
    qtbot.waitUntil(lambda: not doctor._draft_saving, timeout=WAIT)
    assert [(f.stat().st_ino, f.stat().st_mtime_ns) for f in files] == stamps  # not again
    assert draft.stat().st_size < 16 << 10  # the text and the list only

    window.close()  # type: ignore[attr-defined]
    window, doctor = doctor_in(qtbot, demo_env)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    doctor._resume_draft(doctor.draft_list.item(0))
    resumed = doctor.form.case()
    assert all(isinstance(p.payload, DraftPayload) for p in resumed.photos)
    qtbot.waitUntil(doctor.form.photos.thumbnails_ready, timeout=WAIT)
    doctor.form.consent.setChecked(True)
    type_text(doctor.form.question, "Avis ?")
    send_request(doctor.form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)
    sent = doctor.cases.threads[0].case.bundle.case
    assert sent is not None
    assert [p.data for p in sent.photos] == [p.data for p in photos]
    qtbot.waitUntil(lambda: not any(doctor.drafts.payloads.folder.glob("*.p7m")), timeout=WAIT)


def test_a_photo_taken_out_then_put_back_after_an_autosave_is_kept(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    window, doctor = doctor_in(qtbot, demo_env)
    photos = form_photos(2)
    type_text(doctor.form.patient_ref, "P-84")
    doctor.form.add_photos(photos)
    strip = doctor.form.photos
    qtbot.waitUntil(
        lambda: all(isinstance(p.payload, DraftPayload) for p in strip.photos()), timeout=WAIT
    )
    qtbot.waitUntil(strip.thumbnails_ready, timeout=WAIT)
    strip.item(1).setSelected(True)
    doctor.form._remove_photos()
    qtbot.waitUntil(lambda: doctor._draft_timer.isActive(), timeout=WAIT)
    doctor.save_draft()  # the draft without it
    qtbot.waitUntil(lambda: not doctor._draft_saving, timeout=WAIT)
    assert len(list(doctor.drafts.payloads.folder.glob("*.p7m"))) == 2  # undo may need it
    doctor.form.undo_remove()
    window.close()  # type: ignore[attr-defined]  # saved at once, as it is

    window, doctor = doctor_in(qtbot, demo_env)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    doctor._resume_draft(doctor.draft_list.item(0))
    assert [p.data for p in doctor.form.case().photos] == [p.data for p in photos]


def test_a_draft_whose_photo_file_is_gone_or_altered_says_which_in_french(
    qtbot: QtBot, demo_env: DemoEnv
) -> None:
    window, doctor = doctor_in(qtbot, demo_env)
    photos = form_photos(3)
    type_text(doctor.form.patient_ref, "P-85")
    doctor.form.add_photos(photos)
    qtbot.waitUntil(
        lambda: all(isinstance(p.payload, DraftPayload) for p in doctor.form.photos.photos()),
        timeout=WAIT,
    )
    window.close()  # type: ignore[attr-defined]
    payloads = doctor.drafts.payloads
    payloads.path(photos[0].sha256).unlink()  # lost
    small, large = sorted(photos[1:], key=lambda p: len(p.data))  # large's file: not short
    payloads.path(small.sha256).write_bytes(payloads.path(large.sha256).read_bytes())

    window, doctor = doctor_in(qtbot, demo_env)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: "photo-1.jpg" in doctor.draft_status.text(), timeout=WAIT)
    assert "P-85" in doctor.draft_status.text()
    assert "introuvable" in doctor.draft_status.text()
    doctor._resume_draft(doctor.draft_list.item(0))
    assert [p.name for p in doctor.form.case().photos] == ["photo-2.jpg", "photo-3.jpg"]
    qtbot.waitUntil(lambda: small.name in doctor.draft_status.text(), timeout=WAIT)
    assert "endommagé" in doctor.draft_status.text()
    assert large.name not in doctor.draft_status.text()
    qtbot.waitUntil(doctor.form.photos.thumbnails_ready, timeout=WAIT)
    doctor.form.consent.setChecked(True)
    type_text(doctor.form.summary, "Plaie.")
    type_text(doctor.form.question, "Avis ?")
    send_request(doctor.form)  # refused: never sent with another photo's bytes
    qtbot.waitUntil(lambda: small.name in doctor.form.problems.text(), timeout=WAIT)
    assert "endommagé" in doctor.form.problems.text()
    assert doctor.cases.count() == 0


def test_a_clip_joined_just_before_logout_is_sealed_off_the_gui_thread_and_kept(
    qtbot: QtBot, demo_env: DemoEnv, caplog: pytest.LogCaptureFixture
) -> None:
    window, doctor = doctor_in(qtbot, demo_env)
    clip = a_clip(clip_bytes(4 << 20))
    type_text(doctor.form.patient_ref, "P-86")
    doctor.form.clips.add(clip)
    assert doctor._draft_timer.isActive()  # the autosave has not run yet
    with caplog.at_level(logging.INFO, logger="cases.draftpayloads"):
        window.log_out()  # type: ignore[attr-defined]
        last = doctor.last_save
        assert last is not None
        last.join(timeout=WAIT / 1000)
    sealers = {r.threadName for r in caplog.records if "payload was sealed" in r.message}
    assert sealers == {"passavant-last-draft"}  # not the GUI thread
    doctor = log_in(qtbot, window, "dr-bernard")  # type: ignore[arg-type]
    assert isinstance(doctor, DoctorWorkspace)
    qtbot.waitUntil(lambda: doctor.draft_list.count() == 1, timeout=WAIT)
    doctor._resume_draft(doctor.draft_list.item(0))
    assert doctor.form.patient_ref.text() == "P-86"
    (kept,) = doctor.form.clips.clips()
    assert isinstance(kept.payload, DraftPayload)
    assert kept.data == clip.data
