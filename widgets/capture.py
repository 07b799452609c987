"""The capture station: live preview, capture, strip of kept photos, anonymisation,
measurement, annotations, hand-over of prepared photos to the request form, and document
mode (pages of a paper result, joined to the request's documents).

Built on the Qt-free engine in ``capture/``. Long work (decoding, quality gate, face and
marker detection, preparation, making the demo video) runs in the
:class:`app.tasks.TaskRunner`; the preview's reader runs on the engine's grabber thread.
Photos stay in memory; the only files this station writes are the synthetic demo video and
the DICOM files the doctor explicitly exports ("Exporter en DICOM…", written atomically).

The station is this module (layout, shortcuts, capture, the strip) and mixins along its
seams: the sources (``capture_source_control``), file imports (``capture_import``), DICOM
(``capture_dicom_actions``), the hand-over of photos (``capture_handover``), document mode
(``capture_document``) and closing (``capture_closing``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import error_reason
from app.tasks import BoundRunner, TaskRunner
from capture.faces import propose_regions
from capture.loading import LoadedImage
from capture.measure import Calibration, Measurement, find_marker
from capture.photo import KeptPhoto, Strip
from capture.quality import OVEREXPOSED, Quality, assess
from capture.regions import Image, Regions
from cases.followup import latest_sizes
from cases.model import Case
from widgets.capture_closing import ClosingRules
from widgets.capture_dicom_actions import DicomActions
from widgets.capture_document import DOCUMENT, PHOTO, DocumentMode
from widgets.capture_handover import PhotoHandover
from widgets.capture_import import FileImports, quality_question
from widgets.capture_pages import WARNING_STYLE
from widgets.capture_panel import EditorPanel
from widgets.capture_preview import LivePreview, PreviewView
from widgets.capture_source_control import SourceControl
from widgets.capture_sources import SourceBar
from widgets.capture_strip import KeptStrip, thumbnail
from widgets.documents import DocumentList
from widgets.flow import FlowLayout
from widgets.geometry import size_within

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


def page_quality(quality: Quality) -> Quality:
    """A page's quality: white paper under a lamp is bright by nature, so only blur and
    darkness are asked about."""
    return dataclasses.replace(quality, flags=quality.flags - {OVEREXPOSED})


MODE_STYLE = (
    "QPushButton { padding: 3px 10px; }"
    " QPushButton:checked { background: #2d6cdf; color: white; border: 1px solid #1d4fa8; }"
)
"""The photo/document switch: the mode in force filled in blue."""


class CaptureStation(
    ClosingRules,
    SourceControl,
    FileImports,
    DicomActions,
    PhotoHandover,
    DocumentMode,
    QDialog,
):
    """The capture station, opened from the request form.

    ``patient_ref`` (the request form's pseudonymous reference, when opened from it) is
    proposed when a photo is exported as DICOM. ``earlier`` are the requests the doctor can
    open: a calibrated measurement of a site measured in one of this patient's is compared
    with the latest. ``documents`` is the request form's list of documents: given, the
    station offers document mode (Ctrl+D), whose pages join it.

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
        documents: DocumentList | None = None,
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
        self._init_sources()
        self._init_imports()
        self._init_handover()
        self._init_document_mode(documents)

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
        self.photo_mode_button = QPushButton(_("Photo"))
        self.photo_mode_button.setToolTip(_("Ctrl+D : mode photo (visages floutés) ou document"))
        self.document_mode_button = QPushButton(_("Document papier"))
        self.document_mode_button.setToolTip(
            _("Ctrl+D : mode document, pour photographier un résultat papier (sans floutage)")
        )
        self.mode_warning = QLabel(_("⚠ Mode document : visages NON floutés"))
        self.mode_warning.setStyleSheet(WARNING_STYLE)
        self.mode_warning.setWordWrap(True)
        self.mode_warning.setVisible(False)
        self.capture_button = QPushButton(_("Capturer (Espace)"))
        self.retake_button = QPushButton(_("Reprendre la photo sélectionnée"))
        self.retake_button.setCheckable(True)
        self.kept = KeptStrip()
        self.strip_title = QLabel("<b>" + _("Photos gardées") + "</b>")
        self.strips = QStackedWidget()
        self.up_button = QPushButton(_("◀ Placer avant"))
        self.up_button.setToolTip(_("Ctrl+↑ : la photo sélectionnée passe avant la précédente"))
        self.down_button = QPushButton(_("Placer après ▶"))
        self.down_button.setToolTip(_("Ctrl+↓ : la photo sélectionnée passe après la suivante"))
        self.delete_button = QPushButton(_("Supprimer"))
        self.undo_button = QPushButton(_("Annuler la suppression"))
        self.panel = EditorPanel()
        self.panel.set_earlier(latest_sizes(self.patient_ref, earlier))
        self.canvas = self.panel.canvas
        self.panes = QStackedWidget()
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
        for button in (self.photo_mode_button, self.document_mode_button):
            button.setCheckable(True)
            button.setAutoDefault(False)
            button.setVisible(documents is not None)
            button.setStyleSheet(MODE_STYLE)  # the mode in force must show at a glance
        self.photo_mode_button.setChecked(True)
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
        shoot = QHBoxLayout()  # in document mode, the warning stands where "Reprendre" was
        shoot.addWidget(self.capture_button, 2)
        shoot.addWidget(self.retake_button, 1)
        shoot.addWidget(self.mode_warning, 1)
        title = QHBoxLayout()  # the mode switch heads the strip the shots fill
        title.addWidget(self.strip_title)
        title.addStretch()
        title.addWidget(self.photo_mode_button)
        title.addWidget(self.document_mode_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.sources)
        left_layout.addWidget(self.view, 1)
        left_layout.addLayout(status)
        left_layout.addLayout(shoot)
        # the kept photos (or pages) under the preview, the selected one's panel beside: the
        # station fits a 1280×720 screen and half of a 1920×1080 one
        strip_buttons = FlowLayout()
        for button in (self.up_button, self.down_button, self.delete_button, self.undo_button):
            button.setAutoDefault(False)
            strip_buttons.addWidget(button)
        self.strips.addWidget(self.kept)
        self.strips.addWidget(self.page_strip)
        self.strips.setFixedHeight(self.kept.height())
        left_layout.addLayout(title)
        left_layout.addWidget(self.strips)
        left_layout.addLayout(strip_buttons)
        self.panes.addWidget(self.panel)
        self.panes.addWidget(self.page_pane)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.panes)
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
        self.add_button.clicked.connect(self.hand_over)
        self.close_button.clicked.connect(self.reject)
        self._connect_document_mode()
        shortcuts: list[tuple[QKeySequence, Callable[[], None], QWidget]] = [
            (QKeySequence(Qt.Key.Key_Space), self.capture, self),
            (QKeySequence("Ctrl+Return"), self.hand_over, self),
            (QKeySequence("Ctrl+Enter"), self.hand_over, self),
            (QKeySequence("Ctrl+E"), self.ask_export_dicom, self),
            (QKeySequence("Ctrl+D"), self.toggle_mode, self),
            (QKeySequence("Ctrl+Up"), lambda: self.move_selected(-1), self),
            (QKeySequence("Ctrl+Down"), lambda: self.move_selected(1), self),
            (QKeySequence(QKeySequence.StandardKey.Undo), self.undo_delete, self),
            (QKeySequence(Qt.Key.Key_Delete), self.delete_selected, self.kept),
            (QKeySequence(Qt.Key.Key_Delete), self.delete_selected, self.page_strip),
        ]
        for sequence, slot, owner in shortcuts:
            shortcut = QShortcut(sequence, owner, slot)
            if owner is not self:
                shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        self.pedal = QShortcut(self)
        self.pedal.activated.connect(self.capture)
        self._set_pedal_key(self.sources.pedal_key())

    def _set_pedal_key(self, sequence: QKeySequence) -> None:
        self.pedal.setKey(sequence)

    def hand_over(self) -> None:
        """ "Ajouter à la demande" (Ctrl+Entrée): the confirmed photos in photo mode, the
        document being photographed in document mode."""
        if self.mode == DOCUMENT:
            self.attach_document()
        else:
            self.add_to_request()

    # --- capture ----------------------------------------------------------------------------
    def capture(self) -> None:
        """Takes the latest preview frame through the quality gate, then keeps it."""
        frame = self.preview.latest()
        if frame is None:
            self.say(_("Aucune image à capturer : démarrez une source."), problem=True)
            return
        image = np.array(frame.image)  # ours: the grabber may reuse nothing, but be sure
        mode = self.mode  # what the shot is, decided now: a later switch changes nothing
        self.say("")

        def done(quality: Quality) -> None:
            if mode == DOCUMENT:
                quality = page_quality(quality)
            if quality.ok:
                self._keep_shot(image, quality, mode)
            else:
                self._ask_about(image, quality, mode)

        self.runner.run(lambda: assess(image), done, self._failed)

    def _keep_shot(self, image: Image, quality: Quality, mode: str) -> None:
        if mode == DOCUMENT:
            self.keep_page(LoadedImage.from_frame(image), quality)
        else:
            self.keep(LoadedImage.from_frame(image), quality)

    def _ask_about(self, image: Image, quality: Quality, mode: str = PHOTO) -> None:
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
                self._keep_shot(image, quality, mode)
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
        """Moves the selected photo (or page) one place (``-1``: towards the start)."""
        if self.mode == DOCUMENT:
            self.move_page(step)
            return
        photo = self.selected()
        if photo is None:
            return
        if step < 0:
            self.strip.move_up(photo.id)
        else:
            self.strip.move_down(photo.id)
        self.refresh_strip(select=photo.id)

    def delete_selected(self) -> None:
        """Removes the selected photo (or page) from the strip (Ctrl+Z puts it back)."""
        if self.mode == DOCUMENT:
            self.delete_page()
            return
        photo = self.selected()
        if photo is None:
            return
        self.deleted.append(self.strip.delete(photo.id))
        self.refresh_strip()
        self.say(_("Photo supprimée (Ctrl+Z pour annuler)."))

    def undo_delete(self) -> None:
        if self.mode == DOCUMENT:
            self.undo_delete_page()
            return
        if not self.deleted:
            return
        index, photo = self.deleted.pop()
        self.strip.insert(index, photo)
        self.refresh_strip(select=photo.id)
        self.say("")

    # --- messages -----------------------------------------------------------------------------
    def say(self, text: str, *, problem: bool = False) -> None:
        """Shows ``text`` on the status line under the strip: dark red when something went
        wrong or waits for the doctor, the usual colour for progress and confirmations."""
        self.message.setStyleSheet(PROBLEM_STYLE if problem else "")
        self.message.setText(text)

    def _failed(self, exc: BaseException) -> None:
        self.say(error_reason(exc), problem=True)
