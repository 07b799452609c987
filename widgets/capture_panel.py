"""The right-hand panel of the capture station: the selected photo's canvas, its tools, the
anonymisation confirmation, the measurement readout, the body site and the note."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QLocale, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _, language
from app.messages import body_site_label, reason
from capture.measure import RULER_ID, Calibration, MeasureError, Measurement, ruler_calibration
from capture.photo import BODY_SITES, KeptPhoto
from cases.followup import SizeOnDate, change
from widgets.capture_editor import (
    ARROW,
    BRUSH,
    CIRCLE,
    CONTOUR,
    LENGTH,
    RECT,
    RULER,
    SELECT,
    TEXT,
    PhotoCanvas,
)
from widgets.flow import FlowLayout, narrow_combo
from widgets.overlay import day, measurement_text, number, signed_percent


def calibration_text(calibration: Calibration | None) -> str:
    if calibration is None:
        return (
            _("Non étalonné : {why}").format(why=reason("no_marker"))
            + " "
            + _("Sinon, outil Règle : marquez une longueur connue sur une règle de la photo.")
        )
    if calibration.marker_id == RULER_ID:
        return _("Étalonné à la main sur une règle : {mm} mm sur {px} pixels.").format(
            mm=number(calibration.marker_mm), px=round(calibration.marker_side_px)
        )
    return _("Étalonné : marqueur de {mm} mm ({px} pixels de côté).").format(
        mm=number(calibration.marker_mm, 0), px=round(calibration.marker_side_px)
    )


class EditorPanel(QWidget):
    """Edits the selected kept photo.

    Signals:
        changed(): the site, the note or the anonymisation state changed (strip to refresh).
        message(str): a sentence for the station's message line.
        export_requested(): "Exporter en DICOM…" was clicked (the station asks the rest).
        calibrated(object): the doctor calibrated the photo by hand on a printed ruler (a
            :class:`capture.measure.Calibration`, to keep with the photo).
    """

    changed = Signal()
    message = Signal(str)
    export_requested = Signal()
    calibrated = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo: KeptPhoto | None = None
        self.earlier: dict[str, SizeOnDate] = {}
        self.last_site = ""  # the body site chosen last: offered for the next photo
        self.canvas = PhotoCanvas()
        self.tools = QButtonGroup(self)
        tool_row = FlowLayout()  # two lines in a narrow window rather than cut labels
        self.tool_buttons: dict[str, QPushButton] = {}
        for tool, label, tip in (
            (SELECT, _("Sélection"), _("Clic : choisir une zone ; Suppr : la retirer")),
            (RECT, _("Zone à flouter"), _("Glisser pour tracer un rectangle à flouter")),
            (BRUSH, _("Pinceau"), _("Peindre une zone à flouter (tatouage…)")),
            (LENGTH, _("Longueur"), _("Deux clics, ou glisser du début à la fin")),
            (CONTOUR, _("Contour"), _("Clics autour de la plaie, double-clic pour fermer")),
            (ARROW, _("Flèche"), _("Glisser de la queue à la pointe")),
            (CIRCLE, _("Cercle"), _("Glisser du centre vers le bord")),
            (TEXT, _("Texte"), _("Clic : pose le texte saisi ci-dessous")),
            (
                RULER,
                _("Règle"),
                _("Sans marqueur : deux clics (ou glisser) sur une longueur connue de la règle"),
            ),
        ):
            button = QPushButton(label)
            button.setCheckable(True)
            button.setAutoDefault(False)
            button.setToolTip(tip)
            self.tools.addButton(button)
            self.tool_buttons[tool] = button
            button.clicked.connect(lambda _checked=False, t=tool: self.canvas.set_tool(t))
            tool_row.addWidget(button)
        self.tool_buttons[SELECT].setChecked(True)
        self.blur = QCheckBox(_("Aperçu du flou (ce qui sera envoyé)"))
        self.blur.setChecked(True)
        self.confirm_button = QPushButton(_("Confirmer l’anonymisation"))
        self.confirm_button.setAutoDefault(False)
        self.export_button = QPushButton(_("Exporter en DICOM…"))
        self.export_button.setAutoDefault(False)
        self.export_button.setToolTip(
            _("Ctrl+E : la photo sélectionnée, floutée, en fichier DICOM")
        )
        self.anonymity = QLabel()
        self.anonymity.setWordWrap(True)
        self.measure = QLabel()
        self.measure.setWordWrap(True)
        # two lines kept for the readout, empty or not: a measurement must not move the
        # buttons above it (the canvas would shrink and "Confirmer" jump under the cursor)
        self.measure.setMinimumHeight(2 * self.measure.fontMetrics().lineSpacing() + 2)
        self.calibration = QLabel()
        self.calibration.setWordWrap(True)
        self.calibration.setStyleSheet("color: #555;")
        self.site = QComboBox()
        self.site.addItem(_("(à préciser)"), "")
        for code, _label in BODY_SITES:
            self.site.addItem(body_site_label(code), code)
        narrow_combo(self.site)
        self.ruler_mm = QDoubleSpinBox()
        self.ruler_mm.setRange(1.0, 500.0)
        self.ruler_mm.setDecimals(1)
        self.ruler_mm.setValue(10.0)
        self.ruler_mm.setSuffix(_(" mm"))
        self.ruler_mm.setAccessibleName(_("Longueur marquée sur la règle"))
        french = QLocale(QLocale.Language.French, QLocale.Country.France)
        self.ruler_mm.setLocale(french if language() == "fr" else QLocale.c())  # 10,0 mm
        self.note = QLineEdit()
        self.note.setPlaceholderText(_("Remarque sur cette photo"))
        self.text = QLineEdit()
        self.text.setPlaceholderText(_("Texte de l’annotation (outil Texte)"))
        self.canvas.text_source = self.text.text
        anonymise = FlowLayout()
        anonymise.addWidget(self.blur)
        anonymise.addWidget(self.confirm_button)
        anonymise.addWidget(self.export_button)
        form = QFormLayout()
        form.addRow(_("Localisation"), self.site)
        form.addRow(_("Remarque"), self.note)
        form.addRow(_("Annotation"), self.text)
        form.addRow(_("Règle"), self.ruler_mm)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(tool_row)
        # above the canvas: what is written under it (a measurement, its reason) never
        # moves "Confirmer l’anonymisation" under the cursor
        layout.addLayout(anonymise)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.anonymity)
        layout.addWidget(self.measure)
        layout.addWidget(self.calibration)
        layout.addLayout(form)

        self.blur.toggled.connect(self.canvas.set_blur_preview)
        self.confirm_button.clicked.connect(self.confirm)
        self.export_button.clicked.connect(self.export_requested)
        self.canvas.regions_changed.connect(self._regions_changed)
        self.canvas.measured.connect(self._measured)
        self.canvas.ruler_marked.connect(self._ruler_marked)
        self.canvas.measure_failed.connect(lambda code: self.message.emit(reason(code)))
        self.site.activated.connect(self._site_chosen)
        self.note.textEdited.connect(self._note_edited)
        self.show_photo(None, [], None)

    def show_photo(
        self, photo: KeptPhoto | None, measures: list[Measurement], cal: Calibration | None
    ) -> None:
        """Shows ``photo`` (``None``: nothing selected) with its measurements."""
        self.photo = photo
        self.canvas.set_photo(photo, measures, cal)
        for widget in (self.site, self.note, self.confirm_button, self.blur, self.export_button):
            widget.setEnabled(photo is not None)
        self.site.setCurrentIndex(max(0, self.site.findData(photo.body_site if photo else "")))
        self.note.setText(photo.note if photo else "")
        self.measure.setText(measurement_text(measures[-1]) if measures else "")
        self.calibration.setText(
            calibration_text(cal) if photo and photo.regions is not None else ""
        )
        by_hand = photo is not None and (cal is None or cal.marker_id == RULER_ID)
        self.tool_buttons[RULER].setEnabled(by_hand)  # a marker's calibration comes first
        self.ruler_mm.setEnabled(by_hand)
        self._show_anonymity()

    def _show_anonymity(self) -> None:
        photo = self.photo
        regions = photo.regions if photo else None
        self.confirm_button.setEnabled(regions is not None and not regions.confirmed)
        if photo is None:
            self.anonymity.setText("")
        elif regions is None:
            self.anonymity.setText(_("Recherche des visages et du marqueur…"))
        elif regions.confirmed:
            self.anonymity.setText(
                _("✔ Anonymisation confirmée : {n} zone(s) seront floutées.").format(n=len(regions))
            )
            self.anonymity.setStyleSheet("color: #1a7f37;")
        elif not len(regions):
            self.anonymity.setText(
                _("Aucun visage détecté. Vérifiez la photo (visages, tatouages), puis confirmez.")
            )
            self.anonymity.setStyleSheet("color: #a40000;")
        else:
            self.anonymity.setText(
                _(
                    "{n} zone(s) à flouter proposée(s). Vérifiez (visages, tatouages), "
                    "corrigez, puis confirmez."
                ).format(n=len(regions))
            )
            self.anonymity.setStyleSheet("color: #a40000;")

    def confirm(self) -> None:
        """The doctor confirms the areas to blur of the selected photo."""
        if self.photo is None or self.photo.regions is None:
            return
        self.photo.regions.confirm()
        self._show_anonymity()
        self.message.emit("")
        self.changed.emit()

    def _regions_changed(self) -> None:
        self._show_anonymity()
        self.changed.emit()

    def set_earlier(self, sizes: Mapping[str, SizeOnDate]) -> None:
        """The patient's latest calibrated size per body site in earlier requests: a new
        calibrated measurement of the same site says how it compares."""
        self.earlier = dict(sizes)

    def _measured(self, m: Measurement) -> None:
        text = measurement_text(m)
        if not m.calibrated:
            text += " — " + reason(m.reason)
        elif self.photo is not None and self.photo.body_site in self.earlier:
            text += compared_text(m, self.earlier[self.photo.body_site])
        self.measure.setText(text)

    def _ruler_marked(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """The doctor marked the ruler: the photo is calibrated by hand from now on."""
        try:
            cal = ruler_calibration(start, end, self.ruler_mm.value())
        except MeasureError as error:
            self.message.emit(reason(error.code))
            return
        self.canvas.calibration = cal
        self.canvas.update()
        self.calibration.setText(calibration_text(cal))
        self.calibrated.emit(cal)

    def _site_chosen(self) -> None:
        if self.photo is not None:
            self.photo.set_body_site(str(self.site.currentData()))
            self.last_site = self.photo.body_site
            self.changed.emit()

    def _note_edited(self, text: str) -> None:
        if self.photo is not None:
            self.photo.note = text


def compared_text(m: Measurement, before: SizeOnDate) -> str:
    """`` — précédente : 4,1 cm² le 26/10/2026 (-24 %)``: ``m`` against the same site's size
    in an earlier request (the area for an outline, the length for a line), or ``""`` when
    that request has no such value."""
    if m.kind == "polygon" and before.area_cm2 is not None and m.area is not None:
        previous, now, unit = before.area_cm2, m.area, _("cm²")
    elif m.kind == "line" and before.length_mm is not None:
        previous, now, unit = before.length_mm, m.length, _("mm")
    else:
        return ""
    ratio = change(previous, now)
    trend = "" if ratio is None else f" ({signed_percent(ratio)})"
    return " — " + _("précédente : {value} {unit} le {date}{trend}").format(
        value=number(previous),
        unit=unit,
        date=day(before.when),
        trend=trend,
    )
