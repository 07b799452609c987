"""The photos of a case one at a time, large, in a window of their own.

The photo is shown on a :class:`widgets.viewer.ZoomCanvas` (wheel zoom around the cursor,
drag to pan, fit and 1:1). "Comparer" puts beside it a photo of an earlier request of the
same lesion (:mod:`widgets.compare`), zoomed and panned with it. The specialist answering
the request draws their own measurements and annotations (:mod:`widgets.annotate`), which
go into the opinion being written; the doctor reading the opinion sees them, in blue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import reason
from capture.measure import Calibration, MeasureError
from cases.earlier import EarlierPhoto, counterpart, of_the_lesion
from cases.marks import PhotoMarks, marks_for, with_marks
from cases.photos import Photo
from widgets.annotate import SPECIALIST_COLOUR, MarkTools, added, calibration_of, mark_of
from widgets.compare import ComparePane, link
from widgets.photofacts import (
    annotations_of,
    marks_facts,
    measurements_of,
    photo_bytes,
    photo_caption,
    photo_facts,
    read_annotations,
    read_measurements,
)
from widgets.viewer import PAN, ZoomCanvas

ZOOMS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Zoom steps kept for :meth:`PhotoViewer.set_zoom` callers (the wheel zooms freely)."""

Authored = tuple[str, tuple[PhotoMarks, ...]]
"""Marks sent back in an opinion, with the name of the specialist who drew them."""


class PhotoViewer(QDialog):
    """The photos of a case, one at a time.

    Keys: Page Down / Page Up, the next and previous photo; A shows or hides the
    measurements and annotations; F fits the photo to the window; 1 shows it at 100 %;
    + and - zoom around the centre, the wheel around the cursor; the arrows pan; C puts the
    earlier photo of the lesion beside it; Escape closes.

    Signals:
        marks_edited(object): the specialist's marks changed (a tuple of ``PhotoMarks``).
    """

    marks_edited = Signal(object)

    def __init__(
        self,
        photos: list[Photo],
        row: int,
        parent: QWidget | None = None,
        previews: Callable[[Photo], QImage | None] = lambda photo: None,
    ) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setModal(False)
        self.previews = previews
        self.photos: list[Photo] = []
        self.row = 0
        self.earlier: list[EarlierPhoto] = []
        self.opinion_marks: list[Authored] = []
        self.own: tuple[PhotoMarks, ...] = ()
        self.editable = False
        self._undo: list[tuple[PhotoMarks, ...]] = []
        self.picture = ZoomCanvas()
        self.compare = ComparePane()
        self.compare.hide()
        link(self.picture, self.compare.canvas)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.picture)
        self.split.addWidget(self.compare)
        self.split.setChildrenCollapsible(False)
        self.overlay = QCheckBox(_("Mesures et annotations (A)"))
        self.overlay.setChecked(True)
        self.previous_button = QPushButton(_("◀ Précédente"))
        self.next_button = QPushButton(_("Suivante ▶"))
        self.compare_button = QPushButton(_("Comparer (C)"))
        self.compare_button.setCheckable(True)
        self.compare_button.setToolTip(
            _("Met à côté une photo d’une demande antérieure de la même lésion")
        )
        self.fit_button = QPushButton(_("Ajuster (F)"))
        self.actual_button = QPushButton(_("100 % (1)"))
        self.tools = MarkTools()
        self.tools.hide()  # the specialist answering only
        self.scale_note = QLabel()  # what the specialist's measurements are calibrated by
        self.scale_note.setWordWrap(True)
        self.scale_note.setStyleSheet("color: #555;")
        self.scale_note.hide()
        self.facts = QLabel()
        self.facts.setTextFormat(Qt.TextFormat.PlainText)  # the note is the sender's text
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #a40000;")
        self.problem.hide()
        bar = QHBoxLayout()
        parts: list[QWidget] = [self.previous_button, self.next_button, self.compare_button]
        for part in parts:
            bar.addWidget(part)
        bar.addStretch()
        parts = [self.overlay, self.fit_button, self.actual_button]
        for part in parts:
            bar.addWidget(part)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.tools)
        layout.addWidget(self.scale_note)
        layout.addWidget(self.split, 1)
        layout.addWidget(self.problem)
        layout.addWidget(self.facts)
        self._connect()
        self._size_to_screen()
        self.set_photos(photos, row)
        self.picture.setFocus()  # the arrows pan, the wheel zooms, from the start

    def _connect(self) -> None:
        self.overlay.toggled.connect(self.picture.set_overlay)
        self.overlay.toggled.connect(self.compare.canvas.set_overlay)
        self.previous_button.clicked.connect(lambda: self.show_row(self.row - 1))
        self.next_button.clicked.connect(lambda: self.show_row(self.row + 1))
        self.compare_button.toggled.connect(self.set_comparing)
        self.fit_button.clicked.connect(lambda: self.set_zoom(None))
        self.actual_button.clicked.connect(lambda: self.set_zoom(1.0))
        self.compare.chosen.connect(self._earlier_chosen)
        self.tools.tool_chosen.connect(self.picture.set_tool)
        self.tools.undo_requested.connect(self.undo_mark)
        self.picture.gesture.connect(self._drawn)
        self.picture.analysed.connect(self._show_facts)
        for keys, action in (
            (Qt.Key.Key_PageDown, lambda: self.show_row(self.row + 1)),
            (Qt.Key.Key_PageUp, lambda: self.show_row(self.row - 1)),
            (Qt.Key.Key_A, self.overlay.toggle),
            (Qt.Key.Key_C, self.compare_button.toggle),
            (Qt.Key.Key_F, lambda: self.set_zoom(None)),
            (Qt.Key.Key_1, lambda: self.set_zoom(1.0)),
            (Qt.Key.Key_Plus, lambda: self.step_zoom(1)),
            (Qt.Key.Key_Minus, lambda: self.step_zoom(-1)),
            (Qt.Key.Key_Escape, self.close),
        ):
            QShortcut(QKeySequence(keys), self, action)
        button: QPushButton
        for button in (
            self.previous_button,
            self.next_button,
            self.compare_button,
            self.fit_button,
            self.actual_button,
        ):
            button.setAutoDefault(False)

    def _size_to_screen(self) -> None:
        """1100 × 760 at most, and never more than the screen it opens on."""
        screen = QGuiApplication.primaryScreen()
        room = screen.availableGeometry().size() if screen is not None else QSize(1100, 760)
        self.resize(min(1100, room.width() - 40), min(760, room.height() - 60))

    # --- what is shown ------------------------------------------------------------------------
    def set_photos(self, photos: list[Photo], row: int) -> None:
        self.photos = list(photos)
        self.show_row(row)

    def set_context(
        self,
        earlier: Sequence[EarlierPhoto],
        opinion_marks: Sequence[Authored],
        own: tuple[PhotoMarks, ...],
        editable: bool,
    ) -> None:
        """The earlier photos of the patient, the marks of the opinions received, and the
        specialist's own marks (drawn with the tools when ``editable``)."""
        self.earlier, self.opinion_marks = list(earlier), list(opinion_marks)
        self.own, self.editable = own, editable
        self._undo = []
        self.tools.setVisible(editable)
        self.scale_note.setVisible(editable)
        if not editable:
            self.tools.choose(PAN)
        if self.photos:
            self.show_row(self.row)

    def set_own_marks(self, own: tuple[PhotoMarks, ...], editable: bool) -> None:
        """The specialist's marks as the opinion form holds them (another draft loaded)."""
        if own != self.own or editable != self.editable:
            self.set_context(self.earlier, self.opinion_marks, own, editable)

    def show_row(self, row: int) -> None:
        if not self.photos:
            return
        self.row = max(0, min(row, len(self.photos) - 1))
        photo = self.photos[self.row]
        doctors = measurements_of(photo)
        self.picture.show_photo(
            (photo.width, photo.height),
            lambda: photo_bytes(photo),
            self.previews(photo),
            analyse=lambda image: calibration_of(image, doctors),
        )
        self._show_layers()
        caption = photo_caption(photo, self.row + 1)
        self.setWindowTitle(
            _("{caption} ({n} sur {total})").format(
                caption=caption, n=self.row + 1, total=len(self.photos)
            )
        )
        self.previous_button.setEnabled(self.row > 0)
        self.next_button.setEnabled(self.row < len(self.photos) - 1)
        lesion = of_the_lesion(photo, self.earlier)
        self.compare_button.setEnabled(bool(lesion))
        self.compare_button.setText(_("Comparer (C)") if lesion else _("Pas de photo antérieure"))
        self.compare.set_photos(lesion, counterpart(photo, lesion))
        self.set_comparing(self.compare_button.isChecked() and bool(lesion))
        self._say("")
        self._show_facts()

    def _show_layers(self) -> None:
        photo = self.photos[self.row]
        marks = []
        for _author, opinion in self.opinion_marks:
            found = marks_for(opinion, photo.name)
            marks.append(
                (
                    read_measurements(found.measurements),
                    read_annotations(found.annotations),
                    SPECIALIST_COLOUR,
                )
            )
        mine = marks_for(self.own, photo.name)
        marks.append(
            (
                read_measurements(mine.measurements),
                read_annotations(mine.annotations),
                SPECIALIST_COLOUR,
            )
        )
        self.picture.set_layers(measurements_of(photo), annotations_of(photo), marks)

    def _show_facts(self) -> None:
        if not self.photos:
            return
        photo = self.photos[self.row]
        facts = photo_facts(photo) or [_("Ni localisation, ni remarque, ni mesure.")]
        for author, opinion in self.opinion_marks:
            title = _("Marques de {name} (en bleu) :").format(name=author)
            facts += marks_facts(title, marks_for(opinion, photo.name))
        if self.editable:
            facts += marks_facts(_("Vos marques (en bleu) :"), marks_for(self.own, photo.name))
            self.scale_note.setText(self._calibration_text())
        self.facts.setText("\n".join(facts))

    def _calibration_text(self) -> str:
        if not self.picture.analysis_done:
            return _("Recherche de l’étalonnage de la photo…")
        cal = self.picture.analysis
        if not isinstance(cal, Calibration):
            return _("Vos mesures seront en pixels : {why}").format(why=reason("no_marker"))
        if cal.marker_id < 0:
            return _("Vos mesures sont étalonnées sur la règle marquée par le médecin.")
        return _("Vos mesures sont étalonnées par le marqueur de la photo.")

    # --- zoom ---------------------------------------------------------------------------------
    def set_zoom(self, zoom: float | None) -> None:
        """Fits the photo (``None``) or shows it at ``zoom`` screen pixels per photo pixel;
        the earlier photo follows."""
        if zoom is None:
            self.picture.fit()
        else:
            self.picture.set_view(zoom)
            self.picture.view_changed.emit()

    def step_zoom(self, direction: int) -> None:
        self.picture.step_zoom(direction)

    # --- comparing ----------------------------------------------------------------------------
    def set_comparing(self, on: bool) -> None:
        on = on and bool(self.compare.photos)
        self.compare.setVisible(on)
        if self.compare_button.isChecked() != on:
            self.compare_button.setChecked(on)
        if on:
            half = max(1, self.split.width() // 2)
            self.split.setSizes([half, half])
            self.compare.canvas.set_relative_view(*self.picture.relative_view())

    def _earlier_chosen(self, earlier: EarlierPhoto | None) -> None:
        if earlier is not None:
            self.compare.canvas.set_relative_view(*self.picture.relative_view())

    # --- the specialist's marks ---------------------------------------------------------------
    def _drawn(self, tool: str, points: list[tuple[float, float]]) -> None:
        if not self.editable or not self.photos:
            return
        photo = self.photos[self.row]
        cal = self.picture.analysis if isinstance(self.picture.analysis, Calibration) else None
        try:
            measurements, annotations = mark_of(tool, points, cal, self.tools.text.text())
        except MeasureError as error:
            self._say(reason(error.code))
            return
        self._say("")
        mine = marks_for(self.own, photo.name)
        self._undo.append(self.own)
        self._set_own(with_marks(self.own, added(mine, measurements, annotations)))

    def _say(self, problem: str) -> None:
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))

    def undo_mark(self) -> None:
        """Takes back the last mark drawn (on any photo of the case)."""
        if self._undo:
            self._set_own(self._undo.pop())

    def _set_own(self, own: tuple[PhotoMarks, ...]) -> None:
        self.own = own
        self._show_layers()
        self._show_facts()
        self.marks_edited.emit(own)
