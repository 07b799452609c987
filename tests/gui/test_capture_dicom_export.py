"""Exporting a kept photo of the capture station as a DICOM VL Photographic Image."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from capture.measure import find_marker
from tests.gui import test_capture
from tests.gui.test_capture import ANALYSIS_WAIT, click, keep_frame
from tests.gui.test_capture_close import answer_close
from tests.gui.test_end_to_end import WAIT, log_in
from tests.gui.test_workspaces import open_window
from tests.support import aruco_scenes, scenes
from tests.support.demo import DemoEnv
from tests.support.tools import require_tool
from widgets.capture import CaptureStation
from widgets.capture_editor import LENGTH
from widgets.doctor import DoctorWorkspace

station = test_capture.station  # the same fixture: a station on its own task runner
REFUSED = "Confirmez les zones à flouter (visages) avant d’exporter la photo en DICOM."
# the scene's camera looks straight at the plane from 260 mm with a 1500 px focal length
FRONTAL_MM_PER_PX = aruco_scenes.DISTANCE_MM / aruco_scenes.FOCAL_PX


def validate(path: Path) -> tuple[list[str], list[str], list[str]]:
    """dciodvfy's errors, warnings and whole output for a DICOM file."""
    tool = require_tool("dciodvfy")
    result = subprocess.run(
        [tool, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    lines = (result.stdout + result.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if line.startswith("Warning")]
    return errors, warnings, lines


def choose_site(station: CaptureStation, code: str) -> None:
    station.panel.site.setCurrentIndex(station.panel.site.findData(code))
    station.panel.site.activated.emit(station.panel.site.currentIndex())


def export(qtbot: QtBot, station: CaptureStation, path: Path, ref: str | None = None) -> str:
    """Starts the export, checks it runs in the background, and returns the final message."""
    assert station.export_dicom(path, ref)
    # the work is queued on the task runner: nothing written yet, the GUI thread is free
    assert station.message.text() == "Export DICOM en cours…"
    qtbot.waitUntil(lambda: station._exporting is None, timeout=WAIT)
    return station.message.text()


def test_a_calibrated_photo_exports_a_valid_dicom_with_ref_site_and_scale(
    qtbot: QtBot, station: CaptureStation, tmp_path: Path
) -> None:
    scene = aruco_scenes.render()
    keep_frame(qtbot, station, scene.image)
    station.kept.setCurrentRow(0)
    choose_site(station, "main_gauche")
    station.panel.tool_buttons[LENGTH].click()
    click(qtbot, station, scene.line_px[0])
    click(qtbot, station, scene.line_px[1])
    [line] = station.measures[station.strip[0].id]
    assert line.calibrated
    qtbot.mouseClick(station.panel.confirm_button, Qt.MouseButton.LeftButton)

    target = tmp_path / "export" / "plaie.dcm"
    assert export(qtbot, station, target, "P-0042") == "DICOM enregistré : plaie.dcm"
    assert sorted(p.name for p in target.parent.iterdir()) == ["plaie.dcm"]  # no temp file left
    errors, warnings, lines = validate(target)
    assert "VLPhotographicImage" in lines
    assert errors == []
    assert warnings == []

    ds = pydicom.dcmread(target)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4"
    assert ds.PatientID == "P-0042"
    assert str(ds.PatientName) == "P-0042^"
    assert ds.ImageLaterality == "L"
    assert ds.AnatomicRegionSequence[0].CodeValue == "85562004"  # hand
    assert (ds.Columns, ds.Rows) == aruco_scenes.IMAGE_SIZE
    row, column = (float(v) for v in ds.PixelSpacing)
    assert row == pytest.approx(FRONTAL_MM_PER_PX, rel=0.02)
    assert column == pytest.approx(FRONTAL_MM_PER_PX, rel=0.02)
    assert "Mesure étalonnée : longueur" in ds.ImageComments
    assert station.patient_ref == "P-0042"  # proposed again for the next photo
    assert len(station.strip) == 1  # the export hands nothing over: the photo stays


def test_the_scale_follows_the_capped_jpeg(
    qtbot: QtBot, station: CaptureStation, tmp_path: Path
) -> None:
    """A 3200-pixel photo is exported at 3000 pixels: Pixel Spacing is for those pixels."""
    scene = aruco_scenes.render()
    big = cv2.resize(scene.image, (3200, 2400), interpolation=cv2.INTER_CUBIC)
    full_resolution = find_marker(big)
    assert full_resolution is not None
    keep_frame(qtbot, station, big)
    station.kept.setCurrentRow(0)
    station.panel.confirm()
    target = tmp_path / "grande.dcm"
    assert export(qtbot, station, target, "P-7") == "DICOM enregistré : grande.dcm"
    ds = pydicom.dcmread(target)
    assert (ds.Columns, ds.Rows) == (3000, 2250)
    spacing = np.array([float(v) for v in ds.PixelSpacing])
    expected = FRONTAL_MM_PER_PX / 2 * 3200 / 3000
    assert spacing == pytest.approx([expected, expected], rel=0.02)
    # and not the full-resolution spacing, 6 % finer
    assert spacing[0] > full_resolution.spacing_at_marker()[0] * 1.04
    assert validate(target)[0] == []


def test_without_a_marker_there_is_no_pixel_spacing(
    qtbot: QtBot, station: CaptureStation, tmp_path: Path
) -> None:
    keep_frame(qtbot, station, aruco_scenes.render(marker=False).image)
    station.kept.setCurrentRow(0)
    station.panel.confirm()
    target = tmp_path / "sans-marqueur.dcm"
    assert export(qtbot, station, target, "P-8") == "DICOM enregistré : sans-marqueur.dcm"
    ds = pydicom.dcmread(target)
    assert "PixelSpacing" not in ds
    assert ds.ImageLaterality == "U"  # no site chosen
    assert "AnatomicRegionSequence" not in ds
    assert validate(target)[0] == []


def test_an_unconfirmed_photo_is_refused(
    qtbot: QtBot, station: CaptureStation, tmp_path: Path
) -> None:
    keep_frame(qtbot, station, scenes.skin_scene(640, 480, seed=3))
    station.kept.setCurrentRow(0)
    target = tmp_path / "out" / "refusee.dcm"
    assert not station.export_dicom(target, "P-1")
    assert station.message.text() == REFUSED
    station.message.clear()
    qtbot.keyClick(station, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert station.message.text() == REFUSED  # Ctrl+E refuses before asking anything
    station.message.clear()
    assert station.panel.export_button.text() == "Exporter en DICOM…"
    qtbot.mouseClick(station.panel.export_button, Qt.MouseButton.LeftButton)
    assert station.message.text() == REFUSED
    qtbot.wait(200)
    assert not target.parent.exists()  # nothing was written


def test_a_bad_reference_or_an_unwritable_place_is_said_in_french(
    qtbot: QtBot, station: CaptureStation, tmp_path: Path
) -> None:
    keep_frame(qtbot, station, scenes.skin_scene(640, 480, seed=4))
    station.kept.setCurrentRow(0)
    station.panel.confirm()
    out = tmp_path / "out"
    out.mkdir()
    target = out / "photo.dcm"
    assert not station.export_dicom(target, "  ")
    assert station.message.text() == "Indiquez la référence du patient."
    message = export(qtbot, station, target, "Dupont^Jean")
    assert message.startswith("DICOM non enregistré : Référence patient invalide")
    blocker = out / "un-fichier"
    blocker.write_bytes(b"")
    message = export(qtbot, station, blocker / "photo.dcm", "P-9")
    assert message.startswith("DICOM non enregistré : écriture impossible de photo.dcm (")
    assert sorted(p.name for p in out.iterdir()) == ["un-fichier"]


def test_the_doctors_patient_reference_is_proposed(
    qtbot: QtBot, demo_env: DemoEnv, tmp_path: Path
) -> None:
    window = open_window(qtbot, demo_env.layout.unit)
    doctor = log_in(qtbot, window, "dr-bernard")
    assert isinstance(doctor, DoctorWorkspace)
    doctor.form.patient_ref.setText("UCSA-2025-17")
    qtbot.mouseClick(doctor.form.capture_button, Qt.MouseButton.LeftButton)
    station = doctor.capture_station
    assert station is not None
    qtbot.waitUntil(station.isVisible, timeout=WAIT)
    assert station.patient_ref == "UCSA-2025-17"
    keep_frame(qtbot, station, scenes.skin_scene(640, 480, seed=5))
    qtbot.waitUntil(lambda: station.strip[0].regions is not None, timeout=ANALYSIS_WAIT)
    station.kept.setCurrentRow(0)
    choose_site(station, "pied_droit")
    station.panel.confirm()
    target = tmp_path / "formulaire.dcm"
    assert export(qtbot, station, target) == "DICOM enregistré : formulaire.dcm"
    ds = pydicom.dcmread(target)
    assert ds.PatientID == "UCSA-2025-17"
    assert ds.ImageLaterality == "R"
    assert ds.AnatomicRegionSequence[0].CodeValue == "56459004"  # foot
    assert validate(target)[0] == []
    station.reject()  # exported, not added: asked, then thrown away
    answer_close(qtbot, station, "Jeter")
    qtbot.waitUntil(lambda: doctor.capture_station is None, timeout=WAIT)
