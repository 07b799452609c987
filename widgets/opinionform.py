"""The specialist's answer: the opinion's text, what the unit should do, when to look again."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import outcome_label, reason
from cases.marks import PhotoMarks
from cases.model import MAX_REVIEW_WEEKS, OUTCOMES, Opinion, new_id
from outbox.platform import DirectoryEntry
from widgets.caselist import URGENT
from widgets.directorytext import entry_label, entry_tooltip, rpps_caption
from widgets.flow import narrow_combo


class OpinionForm(QWidget):
    """The opinion being written on one case.

    Signals:
        changed: the text, the outcome or the review delay was edited by the person.
        submitted: the person asked to send it (the button, or Ctrl+Entrée).
        marks_loaded(object): another opinion was loaded; its marks on the photos (a tuple
            of ``PhotoMarks``) are to be shown in the photo viewer.
    """

    changed = Signal()
    submitted = Signal()
    marks_loaded = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.opinion_id = new_id()  # kept while the same opinion is drafted, saved and sent
        self.marks: tuple[PhotoMarks, ...] = ()  # drawn in the photo viewer
        self.marks_label = QLabel()
        self.marks_label.setWordWrap(True)
        self.marks_label.hide()
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText(_("Votre avis : diagnostic, traitement proposé…"))
        self.text.setAccessibleName(_("Votre avis"))
        self.text.setMaximumHeight(120)
        self.outcome = QComboBox()
        self.outcome.setAccessibleName(_("Conduite à tenir"))
        self.outcome.addItem(_("Conduite à tenir…"), None)
        for code in OUTCOMES:
            self.outcome.addItem(outcome_label(code), code)
        urgent = self.outcome.findData("urgent_transfer")
        self.outcome.setItemData(urgent, QBrush(QColor(URGENT)), Qt.ItemDataRole.ForegroundRole)
        self.colleague = QComboBox()
        self.colleague.setAccessibleName(_("Confrère à qui demander l’avis"))
        self.colleague.setToolTip(
            _("L’unité lui adressera la demande (les confrères de l’annuaire de la plateforme)")
        )
        self.colleague.hide()  # for the outcome "refer" only
        self.colleague_rpps = QLabel()  # the directory's RPPS of the colleague chosen
        self.colleague_rpps.setStyleSheet("color: #555;")
        self.colleague_rpps.hide()
        self._colleagues: dict[str, DirectoryEntry] = {}
        self.review = QSpinBox()
        self.review.setAccessibleName(_("Revoir la lésion dans"))
        self.review.setRange(0, MAX_REVIEW_WEEKS)
        self.review.setSpecialValueText(_("pas de contrôle prévu"))
        self.review.setPrefix(_("revoir dans "))
        self.review.setSuffix(_(" semaine(s)"))
        self.review.setToolTip(
            _("Le médecin de l’unité verra la date de contrôle dans sa liste de demandes.")
        )
        self.send_button = QPushButton(_("Envoyer l’avis"))
        self.send_button.setToolTip(_("Ctrl+Entrée"))
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(f"color: {URGENT};")

        # the colleague has a line of its own (a name and a specialty are long), and the
        # send button stays at the right end: the form fits half a screen
        for combo in (self.outcome, self.colleague):
            narrow_combo(combo)
        row = QHBoxLayout()
        row.addWidget(self.outcome, 1)
        row.addWidget(self.review)
        send_row = QHBoxLayout()
        send_row.addWidget(self.problems, 1)
        send_row.addWidget(self.send_button, alignment=Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>" + _("Votre avis") + "</b>"))
        layout.addWidget(self.text)
        layout.addWidget(self.marks_label)
        layout.addLayout(row)
        layout.addWidget(self.colleague)
        layout.addWidget(self.colleague_rpps)
        layout.addLayout(send_row)

        self.text.textChanged.connect(self._edited)
        self.outcome.currentIndexChanged.connect(self._edited)
        self.outcome.currentIndexChanged.connect(self._show_colleagues)
        self.colleague.currentIndexChanged.connect(self._edited)
        self.colleague.currentIndexChanged.connect(self._show_colleagues)
        self.review.valueChanged.connect(self._edited)
        self.send_button.clicked.connect(self.submitted)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.submitted.emit)

    def set_colleagues(self, entries: list[DirectoryEntry]) -> None:
        """The specialists an opinion may refer the unit to (the directory, without the
        specialist writing); the one chosen stays chosen."""
        chosen = self.colleague.currentData()
        self._colleagues = {entry.id: entry for entry in entries}
        with QSignalBlocker(self.colleague):
            self.colleague.clear()
            self.colleague.addItem(_("Quel confrère ?"), None)
            for entry in entries:
                self.colleague.addItem(entry_label(entry), (entry.id, entry.display_name))
                tip = entry_tooltip(entry)
                last = self.colleague.count() - 1
                self.colleague.setItemData(last, tip, Qt.ItemDataRole.ToolTipRole)
            self._choose_colleague(chosen)
        self._show_colleagues()

    def _choose_colleague(self, chosen: tuple[str, str] | None) -> None:
        """Select ``chosen`` (mailbox, name), added if the directory no longer lists it."""
        if chosen is None:
            self.colleague.setCurrentIndex(0)
            return
        for i in range(self.colleague.count()):
            data = self.colleague.itemData(i)
            if data is not None and data[0] == chosen[0]:
                self.colleague.setCurrentIndex(i)
                return
        self.colleague.addItem(chosen[1], chosen)
        self.colleague.setCurrentIndex(self.colleague.count() - 1)

    def _show_colleagues(self) -> None:
        """The colleague's chooser for the outcome "refer", with the RPPS number the
        directory lists for the one chosen."""
        referring = self.outcome.currentData() == "refer"
        self.colleague.setVisible(referring)
        chosen = self.colleague.currentData()
        entry = self._colleagues.get(chosen[0]) if chosen else None
        self.colleague_rpps.setText(rpps_caption(entry))
        self.colleague_rpps.setVisible(referring and entry is not None)

    def _edited(self) -> None:
        self.problems.clear()
        self.changed.emit()

    def opinion(self, case_id: str) -> Opinion:
        """What the form holds, as an opinion on ``case_id`` written now."""
        weeks = self.review.value()
        outcome = self.outcome.currentData()
        colleague = self.colleague.currentData() if outcome == "refer" else None
        return Opinion(
            case_id=case_id,
            text=self.text.toPlainText().strip(),
            opinion_id=self.opinion_id,
            outcome=outcome,
            review_weeks=weeks or None,
            refer_to=colleague[0] if colleague else None,
            refer_name=colleague[1] if colleague else "",
            marks=self.marks,
        )

    def is_blank(self) -> bool:
        return (
            not self.text.toPlainText().strip()
            and self.outcome.currentData() is None
            and not self.review.value()
            and not any(self.marks)
        )

    def set_marks(self, marks: tuple[PhotoMarks, ...]) -> None:
        """The specialist's measurements and annotations drawn on the photos (the viewer's),
        sent with the opinion."""
        self.marks = marks
        self._show_marks()
        self._edited()

    def _show_marks(self) -> None:
        count = sum(len(m.measurements) for m in self.marks)
        notes = sum(1 for m in self.marks for a in m.annotations if a.get("kind") != "text")
        self.marks_label.setText(
            _("Joint à l’avis : {m} mesure(s) et {a} annotation(s) sur les photos.").format(
                m=count, a=notes
            )
        )
        self.marks_label.setVisible(bool(count or notes))

    def load(self, opinion: Opinion | None) -> None:
        """Show an unfinished ``opinion`` again, or an empty form for a new one (without
        signalling a change: nothing was edited)."""
        widgets = (self.text, self.outcome, self.review, self.colleague)
        for widget in widgets:
            widget.blockSignals(True)
        self.opinion_id = opinion.opinion_id if opinion else new_id()
        self.text.setPlainText(opinion.text if opinion else "")
        index = self.outcome.findData(opinion.outcome) if opinion and opinion.outcome else 0
        self.outcome.setCurrentIndex(max(index, 0))
        self.review.setValue((opinion.review_weeks or 0) if opinion else 0)
        if opinion is not None and opinion.refer_to:
            self._choose_colleague((opinion.refer_to, opinion.refer_name or opinion.refer_to))
        else:
            self._choose_colleague(None)
        for widget in widgets:
            widget.blockSignals(False)
        self.marks = opinion.marks if opinion is not None else ()
        self._show_marks()
        self._show_colleagues()
        self.problems.clear()
        self.marks_loaded.emit(self.marks)

    def renew(self) -> None:
        """Let what is written next be another opinion (the one emptied was forgotten)."""
        self.opinion_id = new_id()

    def show_problems(self, codes: list[str]) -> None:
        self.problems.setText("\n".join(reason(code) for code in codes))

    def show_error(self, text: str) -> None:
        self.problems.setText(text)

    def set_editable(self, editable: bool) -> None:
        for widget in (self.text, self.outcome, self.colleague, self.review, self.send_button):
            widget.setEnabled(editable)
