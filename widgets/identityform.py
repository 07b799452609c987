"""The patient's identity in the request form: a compact, collapsible two-column group.

The traits (birth name, first names, used name, sex, birth date, birthplace code), the
identity's status and, when the identity is qualified, the INS (NIR or NIA). The INS field
is open only for a qualified identity: it would not be sent otherwise (``cases.identity``).
There is no field for the prison registration number: it is not a health identifier. The
whole travels only in the request's encrypted clinical part.
"""

from __future__ import annotations

from datetime import date, datetime

from PySide6.QtCore import QDate, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.identity_text import sex_label, status_label
from cases.identity import (
    MAX_NAME,
    OID_NIA,
    OID_NIR,
    SEXES,
    STATUSES,
    Ins,
    PatientIdentity,
    normalise_ins,
)

WIDE = 560
"""From this width the identity's fields go two pairs a line."""
MINIMUM = 320
"""The narrowest the group gets (one pair a line)."""
NO_DATE = date(1, 1, 1)
"""A birth date that could not be read: ``PatientIdentity.problems`` names it."""


def parse_day(text: str) -> date | None:
    """``14/03/1985`` (or ``14031985``, ``1985-03-14``) as a date; ``None`` if it is not one."""
    text = text.strip()
    for pattern in ("%d/%m/%Y", "%d%m%Y", "%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


class IdentityBox(QGroupBox):
    """The patient's identity, folded away until the doctor ticks its title.

    Signals:
        changed(): the doctor edited a field (the form saves its draft a moment later).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(_("Identité du patient (chiffrée)"), parent)
        self.setToolTip(
            _(
                "Pour le dossier de l’hôpital et la facturation de l’acte. Seuls le "
                "spécialiste destinataire et l’unité la lisent ; ni le secrétariat, ni la "
                "plateforme. Jamais le numéro d’écrou."
            )
        )
        self.setCheckable(True)
        self.setChecked(False)
        self.body = QWidget()
        self.birth_name = self._name(_("Nom de naissance"))
        self.first_names = self._name(_("Tous les prénoms de naissance"))
        self.used_name = self._name(_("Nom utilisé, s’il diffère"))
        self.sex = QComboBox()
        self.sex.addItem("—", "")
        for code in SEXES:
            self.sex.addItem(sex_label(code), code)
        self.birth_date = QLineEdit()
        self.birth_date.setPlaceholderText(_("JJ/MM/AAAA"))
        self.birth_date.setMaxLength(10)
        self.birthplace = QLineEdit()
        self.birthplace.setPlaceholderText(_("code INSEE, ex. 75112"))
        self.birthplace.setMaxLength(5)
        self.status = QComboBox()
        for code in STATUSES:
            self.status.addItem(status_label(code), code)
        self.ins = QLineEdit()
        self.ins.setPlaceholderText(_("15 caractères, clé comprise"))
        self.ins.setMaxLength(21)  # grouped by spaces as the card prints it
        self.ins_kind = QComboBox()
        self.ins_kind.addItem(_("NIR"), OID_NIR)
        self.ins_kind.addItem(_("NIA"), OID_NIA)
        self.ins.setMinimumWidth(self.ins.fontMetrics().horizontalAdvance("0" * 24))
        self.ins_hint = QLabel()
        self.ins_hint.setWordWrap(True)
        self.ins_hint.setStyleSheet("color: palette(dark);")
        self.grid = QGridLayout(self.body)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(8)
        ins_row = QWidget()  # the number and its kind, in one cell
        ins_layout = QHBoxLayout(ins_row)
        ins_layout.setContentsMargins(0, 0, 0, 0)
        ins_layout.addWidget(self.ins, 1)
        ins_layout.addWidget(self.ins_kind)
        # in reading order; two pairs a line when there is room, one when narrow
        self.cells: list[tuple[QLabel, QWidget]] = [
            (QLabel(_("Nom de naissance")), self.birth_name),
            (QLabel(_("Prénoms")), self.first_names),
            (QLabel(_("Nom utilisé")), self.used_name),
            (QLabel(_("Sexe")), self.sex),
            (QLabel(_("Né(e) le")), self.birth_date),
            (QLabel(_("Lieu de naissance")), self.birthplace),
            (QLabel(_("Statut")), self.status),
            (QLabel(_("INS")), ins_row),
        ]
        self.columns = 0
        self._lay_out(2)
        self.setMinimumWidth(MINIMUM)  # narrower than two pairs a line: one pair a line
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.body)
        self.body.setVisible(False)
        self.toggled.connect(self._toggled)
        for edit in (self.birth_name, self.first_names, self.used_name, self.birth_date,
                     self.birthplace, self.ins):  # fmt: skip
            edit.textEdited.connect(self.changed)
        for combo in (self.sex, self.status, self.ins_kind):
            combo.activated.connect(self.changed)
        self.status.currentIndexChanged.connect(lambda _index: self._status_changed())
        self._status_changed()

    def _lay_out(self, pairs: int) -> None:
        """Place the fields ``pairs`` label-and-field pairs a line; the INS, the longest, on
        a line of its own under the status, whose hint then goes beside it."""
        if pairs == self.columns:
            return
        self.columns = pairs
        for label, field in self.cells:
            self.grid.removeWidget(label)
            self.grid.removeWidget(field)
        self.grid.removeWidget(self.ins_hint)
        *traits, (ins_label, ins_field) = self.cells
        for n, (label, field) in enumerate(traits):
            row, pair = divmod(n, pairs)
            self.grid.addWidget(label, row, 2 * pair)
            self.grid.addWidget(field, row, 2 * pair + 1)
        last = (len(traits) - 1) // pairs  # the status's line
        if pairs == 2:
            self.grid.addWidget(self.ins_hint, last, 2, 1, 2)
        else:
            self.grid.addWidget(self.ins_hint, last + 2, 0, 1, 2)
        self.grid.addWidget(ins_label, last + 1, 0)
        self.grid.addWidget(ins_field, last + 1, 1, 1, 2 * pairs - 1)
        for column in range(4):
            self.grid.setColumnStretch(column, 1 if column % 2 and column < 2 * pairs else 0)
        self.body.updateGeometry()
        self.updateGeometry()  # the form gives the group the height it now needs

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Two pairs a line from :data:`WIDE` pixels, one below (a narrow window)."""
        super().resizeEvent(event)
        pairs = 2 if event.size().width() >= WIDE else 1
        if pairs != self.columns:  # after this resize, not inside it
            QTimer.singleShot(0, lambda: self._lay_out(2 if self.width() >= WIDE else 1))

    def _name(self, hint: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setPlaceholderText(hint)
        edit.setMaxLength(MAX_NAME)
        return edit

    def _toggled(self, on: bool) -> None:
        self.body.setVisible(on)
        self.changed.emit()

    def _status_changed(self) -> None:
        qualified = self.status.currentData() == "qualified"
        self.ins.setEnabled(qualified)
        self.ins_kind.setEnabled(qualified)
        self.ins_hint.setText(
            _("L’INS sera transmis avec l’identité qualifiée.")
            if qualified
            else _(
                "L’INS n’est transmis que si l’identité est qualifiée (pièce d’identité "
                "vérifiée et téléservice INSi) : sinon, les traits seuls."
            )
        )

    # --- values ------------------------------------------------------------------------------
    def identity(self) -> PatientIdentity | None:
        """What the fields say, or ``None`` when the group is folded or left blank. A field
        that cannot be read gives an identity whose ``problems()`` say which."""
        if not self.isChecked() or self.is_blank():
            return None
        typed_ins = normalise_ins(self.ins.text())
        ins = None
        if typed_ins and self.status.currentData() == "qualified":
            ins = Ins(typed_ins, str(self.ins_kind.currentData()))
        return PatientIdentity(
            birth_name=self.birth_name.text().strip(),
            first_names=" ".join(self.first_names.text().split()),
            used_name=self.used_name.text().strip(),
            sex=str(self.sex.currentData()),
            birth_date=parse_day(self.birth_date.text()) or NO_DATE,
            birthplace=self.birthplace.text().strip().upper(),
            status=str(self.status.currentData()),
            ins=ins,
        )

    def is_blank(self) -> bool:
        texts = (self.birth_name, self.first_names, self.used_name, self.birth_date,
                 self.birthplace, self.ins)  # fmt: skip
        return not any(edit.text().strip() for edit in texts) and not self.sex.currentData()

    def load(self, identity: PatientIdentity | None) -> None:
        """Show ``identity`` (unfolded), or empty and fold the group for ``None``."""
        self.clear()
        if identity is None:
            return
        self.setChecked(True)
        self.birth_name.setText(identity.birth_name)
        self.first_names.setText(identity.first_names)
        self.used_name.setText(identity.used_name)
        self.sex.setCurrentIndex(max(0, self.sex.findData(identity.sex)))
        if identity.birth_date != NO_DATE:
            self.birth_date.setText(identity.birth_date.strftime("%d/%m/%Y"))
        self.birthplace.setText(identity.birthplace)
        self.status.setCurrentIndex(max(0, self.status.findData(identity.status)))
        if identity.ins is not None:
            self.ins.setText(identity.ins.grouped())
            self.ins_kind.setCurrentIndex(max(0, self.ins_kind.findData(identity.ins.oid)))

    def clear(self) -> None:
        for edit in (self.birth_name, self.first_names, self.used_name, self.birth_date,
                     self.birthplace, self.ins):  # fmt: skip
            edit.clear()
        self.sex.setCurrentIndex(0)
        self.status.setCurrentIndex(0)
        self.ins_kind.setCurrentIndex(0)
        self.setChecked(False)


class ConsentDate(QWidget):
    """``Accord recueilli le [date]`` under the consent box: the day the patient agreed
    (today by default, never in the future), an act's field (``cases.acts``)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QDateEdit()
        self.edit.setCalendarPopup(True)
        self.edit.setDisplayFormat("dd/MM/yyyy")
        self.edit.setAccessibleName(_("Date de l’accord du patient"))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel(_("Accord recueilli le")))
        layout.addWidget(self.edit)
        layout.addStretch()
        self.reset()
        self.edit.dateChanged.connect(lambda _day: self.changed.emit())

    def reset(self, day: date | None = None) -> None:
        today = QDate.currentDate()
        self.edit.setMaximumDate(today)
        if day is not None and day <= date.today():
            self.edit.setDate(QDate(day.year, day.month, day.day))
        else:
            self.edit.setDate(today)

    def value(self) -> date:
        chosen = self.edit.date()
        return date(chosen.year(), chosen.month(), chosen.day())
