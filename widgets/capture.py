"""The capture station: live preview, capture, strip of kept photos, anonymisation,
measurement, annotations, and hand-over of prepared photos to the request form.

Built on the Qt-free engine in ``capture/``. Long work (decoding, quality gate, face and
marker detection, preparation, making the demo video) runs in the
:class:`app.tasks.TaskRunner`; the preview's reader runs on the engine's grabber thread.
Photos stay in memory; the only files this station writes are the synthetic demo video and
the DICOM files the doctor explicitly exports ("Exporter en DICOM…", written atomically).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import error_reason, reason
from app.tasks import BoundRunner, TaskRunner
from capture.errors import CaptureError
from capture.faces import propose_regions
from capture.folder import WatchedFolder, wipe
from capture.loading import LoadedImage
from capture.measure import Calibration, Measurement, find_marker
from capture.photo import KeptPhoto, Strip
from capture.prepare import prepare
from capture.quality import Quality, assess
from capture.regions import Image, Regions
from capture.sources import CameraSource, VideoFileSource
from cases.followup import latest_sizes
from cases.model import Case
from cases.photos import Photo
from widgets.capture_demo import write_demo_video
from widgets.capture_dicom_actions import DicomActions
from widgets.capture_handover import build_photo
from widgets.capture_import import FileImports, quality_question
from widgets.capture_panel import EditorPanel
from widgets.capture_preview import LivePreview, PreviewView
from widgets.capture_sources import VIDEO, SourceBar
from widgets.capture_strip import KeptStrip, thumbnail
from widgets.flow import FlowLayout
from widgets.geometry import size_within

log = logging.getLogger(__name__)

FOLDER_POLL_MS = 1000
PROBLEM_STYLE = "color: #a40000;"


@dataclass
class Analysis:
    """What the background analysis of a kept photo found."""

    regions: Regions
    calibration: Calibration | None
    thumb: Image


def analyse(image: LoadedImage, regions: Regions | None = None) -> Analysis:
    """Face proposals (unless already made while the file was decoded), marker calibration
    and thumbnail of a kept photo (worker thread)."""
    if regions is None:
        regions = propose_regions(image)
    pixels = image.pixels()
    calibration = find_marker(np.ascontiguousarray(cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)))
    return Analysis(regions, calibration, thumbnail(pixels))


class CaptureStation(FileImports, DicomActions, QDialog):
    """The capture station, opened from the request form.

    ``patient_ref`` (the request form's pseudonymous reference, when opened from it) is
    proposed when a photo is exported as DICOM. ``earlier`` are the requests the doctor can
    open: a calibrated measurement of a site measured in one of this patient's is compared
    with the latest.

    Signals:
        photos_ready(list): prepared :class:`cases.photos.Photo` objects for the form.
    """

    photos_ready = Signal(list)

    def __init__(
        self,
        runner: TaskRunner,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
        patient_ref: str = "",
        earlier: Sequence[Case] = (),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Prise de photos"))
        self.runner = BoundRunner(runner, self)
        self.settings = settings
        self.patient_ref = patient_ref.strip()
        self._exporting: Path | None = None
        self.strip = Strip()
        self.measures: dict[str, list[Measurement]] = {}
        self.calibrations: dict[str, Calibration | None] = {}
        self.deleted: list[tuple[int, KeptPhoto]] = []
        self.retake_id: str | None = None
        self.quality_prompt: QMessageBox | None = None
        self.close_prompt: QMessageBox | None = None
        self._discard_agreed = False
        self.folder: WatchedFolder | None = None
        self._existing: list[Path] = []
        self._folder_busy = False
        self._init_imports()
        self._temp: Path | None = None
        self._preparing: list[KeptPhoto] = []
        self._prepared: list[Photo] = []
        self._waiting: list[str] = []
        self._prepare_errors: list[tuple[KeptPhoto, str]] = []
        self._started = 0.0

        self.sources = SourceBar(settings)
        self.view = PreviewView()
        self.preview = LivePreview(self.view, self)
        self.state_label = QLabel(_("Source arrêtée"))
        self.existing_button = QPushButton()
        self.existing_button.setAutoDefault(False)
        self.existing_button.setVisible(False)
        self.existing_button.setToolTip(
            _("Des photos étaient déjà dans le dossier avant sa surveillance : les reprendre.")
        )
        self.fps_label = QLabel(_("— images/s"))
        self.capture_button = QPushButton(_("Capturer (Espace)"))
        self.retake_button = QPushButton(_("Reprendre la photo sélectionnée"))
        self.retake_button.setCheckable(True)
        self.kept = KeptStrip()
        self.up_button = QPushButton(_("◀ Placer avant"))
        self.up_button.setToolTip(_("Ctrl+↑ : la photo sélectionnée passe avant la précédente"))
        self.down_button = QPushButton(_("Placer après ▶"))
        self.down_button.setToolTip(_("Ctrl+↓ : la photo sélectionnée passe après la suivante"))
        self.delete_button = QPushButton(_("Supprimer"))
        self.undo_button = QPushButton(_("Annuler la suppression"))
        self.panel = EditorPanel()
        self.panel.set_earlier(latest_sizes(self.patient_ref, earlier))
        self.canvas = self.panel.canvas
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress_label = QLabel()
        self.add_button = QPushButton(_("Ajouter à la demande"))
        self.add_button.setToolTip(_("Ctrl+Entrée"))
        self.add_button.setDefault(False)
        self.add_button.setAutoDefault(False)
        self.close_button = QPushButton(_("Fermer"))
        for button in (self.capture_button, self.retake_button, self.close_button):
            button.setAutoDefault(False)
        self.undo_button.setEnabled(False)
        self._build_layout()
        self._connect()
        size_within(self, QSize(1500, 950))  # or its screen, if smaller

    # --- layout -----------------------------------------------------------------------------
    def _build_layout(self) -> None:
        status = QHBoxLayout()
        status.addWidget(self.state_label)
        status.addWidget(self.existing_button)
        status.addStretch()
        status.addWidget(self.fps_label)
        shoot = QHBoxLayout()
        shoot.addWidget(self.capture_button, 2)
        shoot.addWidget(self.retake_button, 1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.sources)
        left_layout.addWidget(self.view, 1)
        left_layout.addLayout(status)
        left_layout.addLayout(shoot)
        # the kept photos under the preview, the selected one's panel beside: the station
        # fits a 1280×720 screen and half of a 1920×1080 one
        strip_buttons = FlowLayout()
        for button in (self.up_button, self.down_button, self.delete_button, self.undo_button):
            button.setAutoDefault(False)
            strip_buttons.addWidget(button)
        left_layout.addWidget(QLabel("<b>" + _("Photos gardées") + "</b>"))
        left_layout.addWidget(self.kept)
        left_layout.addLayout(strip_buttons)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.panel)
        splitter.setSizes([760, 740])
        splitter.setChildrenCollapsible(False)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.progress_label)
        bottom.addStretch()
        bottom.addWidget(self.close_button)
        bottom.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message)
        layout.addLayout(bottom)

    def _connect(self) -> None:
        self.sources.start_requested.connect(self.start_source)
        self.sources.stop_requested.connect(self.stop_source)
        self.sources.import_requested.connect(self._choose_files)
        self.sources.dicom_requested.connect(self._choose_dicom)
        self.sources.pedal_key_changed.connect(self._set_pedal_key)
        self.preview.stats_changed.connect(self._show_stats)
        self.preview.state_changed.connect(self._show_state)
        self.preview.failed.connect(self._source_failed)
        self.capture_button.clicked.connect(self.capture)
        self.retake_button.toggled.connect(self._toggle_retake)
        self.kept.photo_selected.connect(self._select)
        self.up_button.clicked.connect(lambda: self.move_selected(-1))
        self.down_button.clicked.connect(lambda: self.move_selected(1))
        self.delete_button.clicked.connect(self.delete_selected)
        self.undo_button.clicked.connect(self.undo_delete)
        self.existing_button.clicked.connect(self.import_existing)
        self.panel.changed.connect(self._photo_edited)
        self.panel.message.connect(lambda text: self.say(text, problem=True))
        self.panel.export_requested.connect(self.ask_export_dicom)
        self.panel.calibrated.connect(self._calibrated_by_hand)
        self.add_button.clicked.connect(self.add_to_request)
        self.close_button.clicked.connect(self.reject)
        shortcuts: list[tuple[QKeySequence, Callable[[], None], QWidget]] = [
            (QKeySequence(Qt.Key.Key_Space), self.capture, self),
            (QKeySequence("Ctrl+Return"), self.add_to_request, self),
            (QKeySequence("Ctrl+Enter"), self.add_to_request, self),
            (QKeySequence("Ctrl+E"), self.ask_export_dicom, self),
            (QKeySequence("Ctrl+Up"), lambda: self.move_selected(-1), self),
            (QKeySequence("Ctrl+Down"), lambda: self.move_selected(1), self),
            (QKeySequence(QKeySequence.StandardKey.Undo), self.undo_delete, self),
            (QKeySequence(Qt.Key.Key_Delete), self.delete_selected, self.kept),
        ]
        for sequence, slot, owner in shortcuts:
            shortcut = QShortcut(sequence, owner, slot)
            if owner is not self:
                shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        self.pedal = QShortcut(self)
        self.pedal.activated.connect(self.capture)
        self._set_pedal_key(self.sources.pedal_key())
        self.folder_timer = QTimer(self)
        self.folder_timer.setInterval(FOLDER_POLL_MS)
        self.folder_timer.timeout.connect(self._poll_folder)

    def _set_pedal_key(self, sequence: QKeySequence) -> None:
        self.pedal.setKey(sequence)

    # --- sources ----------------------------------------------------------------------------
    def start_source(self) -> None:
        """Starts the source chosen in the source bar (camera, demo video or folder)."""
        self.stop_source()
        self.say("")
        kind = self.sources.kind()
        if kind == "camera":
            device, size = self.sources.camera()
            self.preview.start(CameraSource(device, size))
        elif kind == "video":
            path = self.sources.video_path()
            if path is not None:
                self.preview.start(VideoFileSource(path))
            else:
                self._start_demo_video()
        else:
            self._start_folder(self.sources.folder_path())

    def start_video(self, path: Path) -> None:
        """Plays ``path`` as the camera (what the tests and the demo use)."""
        self.stop_source()
        self.sources.choose(VIDEO)
        self.preview.start(VideoFileSource(path))

    def _start_demo_video(self) -> None:
        if self._temp is None:
            self._temp = Path(tempfile.mkdtemp(prefix="passavant-demo-video-"))
        target = self._temp / "demo.avi"
        if target.is_file():
            self.start_video(target)
            return
        self.view.show_message(_("Préparation de la vidéo de démonstration…"))
        self.runner.run(lambda: write_demo_video(target), self.start_video, self._failed)

    def _start_folder(self, path: Path | None) -> None:
        if path is None or not path.is_dir():
            self.say(_("Choisissez un dossier existant à surveiller."), problem=True)
            return
        self.folder = WatchedFolder(path)
        self.folder_timer.start()
        self.view.show_message(
            _("Dossier surveillé : les photos qui y arrivent sont importées.\n{path}").format(
                path=path
            )
        )
        self.state_label.setText(_("Dossier surveillé"))
        in_strip = {photo.source for photo in self.strip}
        self._existing = [path for path in self.folder.existing if path not in in_strip]
        self.existing_button.setText(
            _("Importer les {n} photo(s) déjà présentes").format(n=len(self._existing))
        )
        self.existing_button.setVisible(bool(self._existing))
        self._tell_refused(self.folder.take_refused())

    def import_existing(self) -> None:
        """Imports the photos that were in the watched folder before it was watched (left by
        an earlier session, say) and are not in the strip: like the new ones, they are wiped
        once in a request."""
        self.existing_button.setVisible(False)
        existing, self._existing = self._existing, []
        if existing:
            self.import_files(existing, from_folder=True)

    def stop_source(self) -> None:
        self.preview.stop()
        self.folder_timer.stop()
        self.folder = None
        self.existing_button.setVisible(False)

    def _poll_folder(self) -> None:
        folder = self.folder
        if folder is None or self._folder_busy:
            return
        self._folder_busy = True

        def done(paths: list[Path]) -> None:
            self._folder_busy = False
            if paths:
                self.import_files(paths, from_folder=True)
            self._tell_refused(folder.take_refused())  # links and the like, left out

        def failed(exc: BaseException) -> None:
            self._folder_busy = False
            self._failed(exc)

        self.runner.run(folder.poll, done, failed)

    def _show_stats(self, source_fps: float, shown_fps: float) -> None:
        self.fps_label.setText(
            _("{src} images/s reçues · {shown} affichées").format(
                src=round(source_fps), shown=round(shown_fps)
            )
        )

    def _show_state(self, state: str) -> None:
        labels = {
            "live": _("Caméra connectée"),
            "disconnected": _("Caméra déconnectée — reconnexion…"),
            "failed": _("Caméra perdue"),
            "ended": _("Fin de la vidéo"),
            "closed": _("Source arrêtée"),
        }
        self.state_label.setText(labels.get(state, state))

    def _source_failed(self, code: str) -> None:
        self.say(reason(code), problem=True)
        self.view.show_message(reason(code))

    # --- capture ----------------------------------------------------------------------------
    def capture(self) -> None:
        """Takes the latest preview frame through the quality gate, then keeps it."""
        frame = self.preview.latest()
        if frame is None:
            self.say(_("Aucune image à capturer : démarrez une source."), problem=True)
            return
        image = np.array(frame.image)  # ours: the grabber may reuse nothing, but be sure
        self.say("")

        def done(quality: Quality) -> None:
            if quality.ok:
                self.keep(LoadedImage.from_frame(image), quality)
            else:
                self._ask_about(image, quality)

        self.runner.run(lambda: assess(image), done, self._failed)

    def _ask_about(self, image: Image, quality: Quality) -> None:
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(_("Qualité de la photo"))
        box.setText(quality_question(quality))
        box.setInformativeText(_("Une photo nette et bien exposée est nécessaire au diagnostic."))
        keep = box.addButton(_("Garder"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(_("Reprendre"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)

        def answered() -> None:
            self.quality_prompt = None
            if box.clickedButton() is keep:
                self.keep(LoadedImage.from_frame(image), quality)
            else:
                self.say(_("Photo écartée : reprenez-la."))
            box.deleteLater()
            self.activateWindow()  # Space and the pedal capture again at once

        box.finished.connect(answered)
        self.quality_prompt = box
        box.open()

    def keep(
        self,
        image: LoadedImage,
        quality: Quality | None = None,
        regions: Regions | None = None,
        *,
        source: Path | None = None,
    ) -> KeptPhoto:
        """Adds a photo to the strip (or in place of the one being retaken) and starts its
        analysis: proposed face regions (unless given), marker calibration and thumbnail."""
        retake = self.retake_id
        # the site chosen last is offered (a retake keeps the site of the shot it replaces)
        site = self.panel.last_site if retake is None else ""
        photo = KeptPhoto(original=image, quality=quality, source=source, body_site=site)
        if retake is not None:
            try:
                old = self.strip.retake(retake, photo)
                self._forget(old.id)
            except KeyError:
                self.strip.add(photo)
            self.retake_button.setChecked(False)
        else:
            self.strip.add(photo)
        self.measures[photo.id] = []
        self.calibrations[photo.id] = None

        def done(found: Analysis) -> None:
            if photo.id not in self.measures:
                return  # deleted or replaced meanwhile
            photo.regions = found.regions
            self.calibrations[photo.id] = found.calibration
            self.kept.thumbs[photo.id] = found.thumb  # blurred on the strip once confirmed
            self.refresh_strip()
            if self.kept.current_id() == photo.id:
                self._select(photo.id)

        self.runner.run(lambda: analyse(image, regions), done, self._failed)
        self.refresh_strip(select=photo.id)
        return photo

    def _forget(self, photo_id: str) -> None:
        self.measures.pop(photo_id, None)
        self.calibrations.pop(photo_id, None)
        self.kept.thumbs.pop(photo_id, None)

    def _toggle_retake(self, on: bool) -> None:
        self.retake_id = self.kept.current_id() if on else None
        if on and self.retake_id is None:
            self.retake_button.setChecked(False)
        elif on:
            self.say(_("La prochaine capture remplacera la photo sélectionnée."))

    # --- the strip --------------------------------------------------------------------------
    def selected(self) -> KeptPhoto | None:
        photo_id = self.kept.current_id()
        if photo_id is None:
            return None
        try:
            return self.strip[self.strip.index(photo_id)]
        except KeyError:
            return None

    def refresh_strip(self, select: str | None = None) -> None:
        self.kept.show_strip(self.strip, select)
        self.undo_button.setEnabled(bool(self.deleted))

    def _select(self, photo_id: str) -> None:
        photo = self.selected() if photo_id else None
        if photo is None:
            self.panel.show_photo(None, [], None)
            return
        self.panel.show_photo(
            photo, self.measures.setdefault(photo.id, []), self.calibrations.get(photo.id)
        )

    def _calibrated_by_hand(self, calibration: Calibration) -> None:
        """A ruler marked on the selected photo calibrates its next measurements."""
        photo = self.selected()
        if photo is not None:
            self.calibrations[photo.id] = calibration

    def _photo_edited(self) -> None:
        self.refresh_strip()  # the selection stays: the canvas keeps its state

    def move_selected(self, step: int) -> None:
        """Moves the selected photo one place (``-1``: towards the start)."""
        photo = self.selected()
        if photo is None:
            return
        if step < 0:
            self.strip.move_up(photo.id)
        else:
            self.strip.move_down(photo.id)
        self.refresh_strip(select=photo.id)

    def delete_selected(self) -> None:
        """Removes the selected photo from the strip (Ctrl+Z puts it back)."""
        photo = self.selected()
        if photo is None:
            return
        self.deleted.append(self.strip.delete(photo.id))
        self.refresh_strip()
        self.say(_("Photo supprimée (Ctrl+Z pour annuler)."))

    def undo_delete(self) -> None:
        if not self.deleted:
            return
        index, photo = self.deleted.pop()
        self.strip.insert(index, photo)
        self.refresh_strip(select=photo.id)
        self.say("")

    # --- hand-over --------------------------------------------------------------------------
    def add_to_request(self) -> None:
        """Prepares every kept, confirmed photo in the background and hands them over."""
        if self._preparing:
            return
        ready, waiting = self._readiness()
        self._waiting = waiting
        if not ready:
            self.say(
                "\n".join(waiting) or _("Aucune photo gardée : capturez ou importez une photo."),
                problem=True,
            )
            return
        self._preparing, self._prepared = ready, []
        self._started = time.monotonic()
        self.progress.setRange(0, len(ready))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.add_button.setEnabled(False)
        self._prepare_next()

    def _readiness(self) -> tuple[list[KeptPhoto], list[str]]:
        """The photos ready to join the request, and a sentence for each other one, named by
        its number in the strip as it is now."""
        ready, waiting = [], []
        for number, photo in enumerate(self.strip, start=1):
            if photo.regions is None:
                waiting.append(_("Photo {n} : analyse en cours.").format(n=number))
            elif not photo.regions.confirmed:
                waiting.append(
                    _("Photo {n} : {why}").format(n=number, why=reason("anonymisation_unconfirmed"))
                )
            else:
                ready.append(photo)
        return ready, waiting

    def _prepare_next(self) -> None:
        done_count = len(self._prepared) + len(self._prepare_errors)
        total = len(self._preparing)
        self.progress.setValue(done_count)
        self.progress_label.setText(
            _("Préparation {n} / {total} — {s} s").format(
                n=done_count, total=total, s=round(time.monotonic() - self._started)
            )
        )
        if done_count >= total:
            self._finish_preparing()
            return
        photo = self._preparing[done_count]
        assert photo.original is not None
        assert photo.regions is not None
        original = photo.original
        regions = Regions(photo.regions.size, list(photo.regions))  # the set confirmed now
        regions.confirm()
        measures = list(self.measures.get(photo.id, []))
        annotations = list(photo.annotations)

        def work() -> Photo:
            prepared = prepare(original, regions=regions)
            return build_photo(prepared, photo, original.size, measures, annotations)

        def done(result: Photo) -> None:
            self._prepared.append(result)
            self._prepare_next()

        def failed(exc: BaseException) -> None:
            self._prepare_errors.append((photo, error_reason(exc)))
            self._prepare_next()

        self.runner.run(work, done, failed)

    def _finish_preparing(self) -> None:
        handed = self._prepared
        failed = {p.id: why for p, why in self._prepare_errors}
        sources = [p.source for p in self._preparing if p.id not in failed and p.source]
        sources += self._deleted_sources()  # the undo ends here
        for photo in self._preparing:
            if photo.id not in failed:
                with contextlib.suppress(KeyError):
                    self.strip.delete(photo.id)
                self._forget(photo.id)
        waiting = self._readiness()[1]  # numbered as the strip shows them now
        notes = [_("{n} photo(s) ajoutée(s) à la demande.").format(n=len(handed)), *waiting]
        notes += [
            _("Une photo n’a pas pu être préparée : {why}").format(why=w) for w in failed.values()
        ]
        self._preparing, self._prepared, self._prepare_errors = [], [], []
        self.add_button.setEnabled(True)
        self.progress.setVisible(False)
        self.deleted.clear()
        self.refresh_strip()
        self.say("\n".join(notes), problem=len(notes) > 1 or not handed)
        if handed:
            self.photos_ready.emit(handed)
        close = bool(handed) and len(self.strip) == 0
        if sources and self.sources.wipe_folder_files():
            self._wipe(sources, close_after=close)  # closes once the files are gone
        elif close:
            self.accept()

    def _deleted_sources(self) -> list[Path]:
        """The watched folder's files of the photos deleted from the strip."""
        return [photo.source for _row, photo in self.deleted if photo.source is not None]

    def _wipe(self, paths: list[Path], *, close_after: bool) -> None:
        """Overwrites and removes the watched folder's files of photos now in the request
        (in the background); a file that resists is named, and the station stays open."""

        def work() -> list[str]:
            failures = []
            for path in paths:
                try:
                    wipe(path)
                except CaptureError as exc:
                    failures.append(f"{path.name} : {reason(exc.code)}")
            return failures

        def done(failures: list[str]) -> None:
            if failures:
                self.say("\n".join(failures), problem=True)
            elif close_after:
                self.accept()

        self.runner.run(work, done, self._failed)

    # --- errors and closing -------------------------------------------------------------------
    def say(self, text: str, *, problem: bool = False) -> None:
        """Shows ``text`` on the status line under the strip: dark red when something went
        wrong or waits for the doctor, the usual colour for progress and confirmations."""
        self.message.setStyleSheet(PROBLEM_STYLE if problem else "")
        self.message.setText(text)

    def _failed(self, exc: BaseException) -> None:
        self.say(error_reason(exc), problem=True)

    def reject(self) -> None:
        """Closing (Fermer, Escape, the window's cross) with photos kept but not added asks
        first: for a patient who has left the room, a shot cannot be taken again."""
        if len(self.strip) == 0 or self._discard_agreed or self._preparing:
            if not self._preparing:  # never close while photos are being handed over
                super().reject()
            return
        if self.close_prompt is None:
            self._ask_before_closing()

    def _ask_before_closing(self) -> None:
        count = len(self.strip)
        ready = sum(1 for p in self.strip if p.regions is not None and p.regions.confirmed)
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(_("Photos non ajoutées"))
        box.setText(
            _("{n} photo(s) prise(s) ne sont pas dans la demande.").format(n=count)
            + " "
            + _("Une fois la fenêtre fermée, elles sont perdues.")
        )
        add = None
        if ready:
            add = box.addButton(
                _("Ajouter les {n} photo(s) confirmée(s)").format(n=ready),
                QMessageBox.ButtonRole.AcceptRole,
            )
        stay = box.addButton(_("Continuer la prise"), QMessageBox.ButtonRole.RejectRole)
        discard = box.addButton(
            _("Jeter les {n} photo(s)").format(n=count), QMessageBox.ButtonRole.DestructiveRole
        )
        box.setDefaultButton(add or stay)
        box.setEscapeButton(stay)

        def answered() -> None:
            self.close_prompt = None
            clicked = box.clickedButton()
            box.deleteLater()
            if clicked is discard:
                self._discard_agreed = True
                self.reject()
            elif add is not None and clicked is add:
                self.add_to_request()
            else:
                self.activateWindow()

        box.finished.connect(answered)
        self.close_prompt = box
        box.open()

    def done(self, result: int) -> None:
        """Stops the sources and the import, removes the demo video, and wipes the watched
        folder's files of the photos deleted from the strip (their undo ends), before
        closing."""
        self.stop_source()
        self._stop_imports()
        deleted = self._deleted_sources() if self.sources.wipe_folder_files() else []
        self.deleted.clear()
        if deleted:
            self.runner.run(lambda: _wipe_quietly(deleted))
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if len(self.strip) and not self._discard_agreed:
            event.ignore()  # the cross asks as Fermer does; the source goes on meanwhile
            self.reject()
            return
        self.stop_source()
        super().closeEvent(event)


def _wipe_quietly(paths: list[Path]) -> None:
    """Wipes ``paths`` once nobody is left to tell: a file that resists is logged."""
    for path in paths:
        try:
            wipe(path)
        except CaptureError as exc:
            log.warning("a deleted photo's file could not be wiped: %s", exc)
