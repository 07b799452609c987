"""The capture station's DICOM actions: import an exam image, export a kept photo.

A mixin of :class:`widgets.capture.CaptureStation`: it uses the station's strip, runner,
settings, status line and per-photo measures and calibrations. The work (reading,
preparing, wrapping, writing) runs in the background; the only file written is the one the
doctor chose, atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QLineEdit

from app.i18n import _
from app.messages import error_reason, reason
from app.tasks import BoundRunner
from capture.dicom import to_dicom
from capture.dicom_import import DicomImage, load_dicom
from capture.errors import DicomError
from capture.loading import LoadedImage
from capture.measure import Calibration, Measurement
from capture.photo import KeptPhoto, Strip
from capture.prepare import prepare
from capture.regions import Regions
from outbox.spool import atomic_write
from widgets.capture_dicom import DicomDialog
from widgets.capture_handover import scaled_measurement

DICOM_FOLDER_KEY = "capture/dicom_folder"


def scaled_calibration(cal: Calibration, fx: float, fy: float) -> Calibration:
    """``cal`` for the same photo resized by ``fx`` × ``fy`` (pixel centres kept aligned, as
    a resize does): a point of the resized photo maps to the same millimetres on the plane."""
    if fx == 1.0 and fy == 1.0:
        return cal
    resized_to_original = np.array(
        [[1 / fx, 0.0, 0.5 / fx - 0.5], [0.0, 1 / fy, 0.5 / fy - 0.5], [0.0, 0.0, 1.0]]
    )
    matrix = cal.matrix @ resized_to_original
    matrix = matrix / matrix[2, 2]
    return Calibration(
        homography=tuple((float(r[0]), float(r[1]), float(r[2])) for r in matrix),
        marker_id=cal.marker_id,
        marker_mm=cal.marker_mm,
        corners_px=tuple(((x + 0.5) * fx - 0.5, (y + 0.5) * fy - 0.5) for x, y in cal.corners_px),
    )


def dicom_of(
    original: LoadedImage,
    regions: Regions,
    *,
    patient_ref: str,
    site: str | None,
    measurement: Measurement | None,
    calibration: Calibration | None,
) -> bytes:
    """The DICOM VL Photographic Image of a kept photo (worker thread): the photo prepared
    as for the request (confirmed areas blurred, no metadata, long edge capped), with the
    site, the measurement and the marker calibration brought to the JPEG's pixels."""
    prepared = prepare(original, regions=regions)
    fx, fy = prepared.width / original.size[0], prepared.height / original.size[1]
    return to_dicom(
        prepared.data,
        patient_ref=patient_ref,
        site=site,
        measurement=(
            Measurement.from_dict(scaled_measurement(measurement, fx)) if measurement else None
        ),
        calibration=scaled_calibration(calibration, fx, fy) if calibration else None,
    )


class DicomActions:
    """Import of a DICOM image into the strip, and export of the selected photo as DICOM.

    Besides the attributes below, the station provides ``selected()``, ``keep()``, ``say()``
    and ``_failed()``.
    """

    runner: BoundRunner
    settings: QSettings | None
    strip: Strip
    measures: dict[str, list[Measurement]]
    calibrations: dict[str, Calibration | None]
    patient_ref: str
    _exporting: Path | None = None

    def _choose_dicom(self) -> None:
        name, _filter = QFileDialog.getOpenFileName(
            self, _("Importer un DICOM"), "", _("DICOM (*.dcm *.dicom);;Tous les fichiers (*)")
        )
        if name:
            self.import_dicom(Path(name))

    def import_dicom(self, path: Path) -> None:
        """Reads a DICOM in the background, then opens the window/level dialog."""

        def done(image: DicomImage) -> None:
            self.dicom_dialog = DicomDialog(image, self)
            dialog = self.dicom_dialog

            def finished(result: int) -> None:
                if result == QDialog.DialogCode.Accepted:
                    self.keep(LoadedImage.from_frame(dialog.frame()))
                dialog.deleteLater()

            dialog.finished.connect(finished)
            dialog.open()

        def failed(exc: BaseException) -> None:
            if isinstance(exc, DicomError):
                self.say(f"{path.name} : {reason(exc.code)}", problem=True)
            else:
                self._failed(exc)

        self.runner.run(lambda: load_dicom(path), done, failed)

    # --- DICOM export -------------------------------------------------------------------------
    def set_patient_ref(self, patient_ref: str) -> None:
        """The pseudonymous patient reference the DICOM export proposes."""
        self.patient_ref = patient_ref.strip()

    def _export_refusal(self, photo: KeptPhoto | None) -> str:
        """Why ``photo`` cannot be exported now (``""``: it can)."""
        if photo is None:
            return _("Sélectionnez la photo à exporter.")
        if photo.original is None or photo.regions is None:
            return _("Analyse de la photo en cours : exportez-la dans un instant.")
        if not photo.regions.confirmed:
            return _("Confirmez les zones à flouter (visages) avant d’exporter la photo en DICOM.")
        if self._exporting is not None:
            return _("Un export DICOM est déjà en cours.")
        return ""

    def ask_export_dicom(self) -> None:
        """The "Exporter en DICOM…" action (Ctrl+E): asks the patient reference and the
        file, then exports the selected photo (see :meth:`export_dicom`)."""
        photo = self.selected()
        refusal = self._export_refusal(photo)
        if refusal:
            self.say(refusal, problem=True)
            return
        ref, ok = QInputDialog.getText(
            self,
            _("Exporter en DICOM"),
            _("Référence pseudonyme du patient (jamais le nom) :"),
            QLineEdit.EchoMode.Normal,
            self.patient_ref,
        )
        if not ok:
            return
        if not ref.strip():
            self.say(reason("missing_patient_ref"), problem=True)
            return
        folder = str(self.settings.value(DICOM_FOLDER_KEY, "")) if self.settings else ""
        number = self.strip.index(photo.id) + 1 if photo is not None else 1
        name, _filter = QFileDialog.getSaveFileName(
            self,
            _("Exporter en DICOM"),
            str(Path(folder) / f"photo-{number}.dcm") if folder else f"photo-{number}.dcm",
            _("DICOM (*.dcm)"),
        )
        if not name:
            return
        path = Path(name)
        if not path.suffix:
            path = path.with_suffix(".dcm")
        if self.settings is not None:
            self.settings.setValue(DICOM_FOLDER_KEY, str(path.parent))
        self.export_dicom(path, ref)

    def export_dicom(self, path: Path, patient_ref: str | None = None) -> bool:
        """Exports the selected photo to ``path`` as a DICOM VL Photographic Image.

        The photo must have its anonymisation confirmed. It is prepared in the background
        (confirmed areas blurred, metadata dropped), wrapped with its body site, its last
        measurement and its marker calibration (Pixel Spacing), and written atomically.
        ``patient_ref`` defaults to the station's :attr:`patient_ref`. Returns whether the
        export started; the message line says how it ended.
        """
        photo = self.selected()
        refusal = self._export_refusal(photo)
        ref = (self.patient_ref if patient_ref is None else patient_ref).strip()
        if not refusal and not ref:
            refusal = reason("missing_patient_ref")
        if refusal or photo is None or photo.original is None or photo.regions is None:
            self.say(refusal, problem=True)
            return False
        self.patient_ref = ref  # proposed again for the next photo
        original = photo.original
        regions = Regions(photo.regions.size, list(photo.regions))  # the set confirmed now
        regions.confirm()
        site = photo.body_site or None
        measures = self.measures.get(photo.id, [])
        measurement = measures[-1] if measures else None
        calibration = self.calibrations.get(photo.id)

        def work() -> None:
            data = dicom_of(
                original,
                regions,
                patient_ref=ref,
                site=site,
                measurement=measurement,
                calibration=calibration,
            )
            atomic_write(path, data)

        def done(_result: None) -> None:
            self._exporting = None
            self.say(_("DICOM enregistré : {name}").format(name=path.name))

        def failed(exc: BaseException) -> None:
            self._exporting = None
            if isinstance(exc, OSError):
                why = _("écriture impossible de {name} ({error})").format(
                    name=path.name, error=exc.strerror or exc
                )
            else:
                why = error_reason(exc)
            self.say(_("DICOM non enregistré : {why}").format(why=why), problem=True)

        self._exporting = path
        self.say(_("Export DICOM en cours…"))
        self.runner.run(work, done, failed)
        return True
