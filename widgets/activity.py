"""The activity report window: requests a month, answer times, outcomes, transfers avoided.

Counts only (``cases.activity``): it can be copied or saved as CSV for the unit's or the
hospital's yearly report without carrying any patient's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import outcome_label
from cases.activity import MonthActivity, monthly, to_csv
from cases.delays import REPLY_DAYS
from cases.model import OUTCOMES
from cases.threads import CaseThread
from widgets.acts import ActsPanel
from widgets.geometry import size_within
from widgets.overlay import number


def headers() -> list[str]:
    return [
        _("Mois"),
        _("Demandes"),
        _("dont urgentes"),
        _("dont retirées"),
        _("Avec avis"),
        _("Délai médian de réponse (h)"),
        _("Délai médian (jours ouvrés)"),
        _("Avis dans le délai"),
        *(outcome_label(code) for code in OUTCOMES),
        _("Extractions évitées"),
    ]


def month_label(row: MonthActivity) -> str:
    """``11/2026`` for the month ``2026-11``."""
    return f"{row.month[5:]}/{row.month[:4]}"


def cells(row: MonthActivity) -> list[str]:
    median = row.median_hours
    return [
        month_label(row),
        str(row.requests),
        str(row.urgent),
        str(row.withdrawn),
        str(row.answered),
        "—" if median is None else number(median),
        "—" if row.median_working_days is None else number(row.median_working_days),
        str(row.on_time),
        *(str(row.outcomes.get(code, 0)) for code in OUTCOMES),
        str(row.avoided),
    ]


class ActivityReport(QDialog):
    """The activity of the requests this person can open, month by month."""

    def __init__(self, threads: Sequence[CaseThread], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Bilan d’activité"))
        self.rows = monthly(threads)
        names = headers()
        # one column a month, the latest first; one row a figure (the CSV has one line a month)
        self.table = QTableWidget(len(names) - 1, len(self.rows))
        self.table.setHorizontalHeaderLabels([month_label(row) for row in self.rows])
        self.table.setVerticalHeaderLabels(names[1:])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for c, row in enumerate(self.rows):
            for r, text in enumerate(cells(row)[1:]):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(r, c, item)
        self.table.horizontalHeader().setMinimumSectionSize(90)
        self.table.resizeColumnsToContents()
        self.summary = QLabel(self._summary())
        self.summary.setWordWrap(True)
        self.status = QLabel()
        buttons = QDialogButtonBox()
        close = buttons.addButton(_("Fermer"), QDialogButtonBox.ButtonRole.RejectRole)
        close.setDefault(True)
        self.copy_button = QPushButton(_("Copier"))
        self.copy_button.setToolTip(_("Ctrl+C — à coller dans un tableur"))
        self.save_button = QPushButton(_("Enregistrer en CSV…"))
        for button in (self.copy_button, self.save_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
            button.setEnabled(bool(self.rows))
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        legend = QLabel(
            _(
                "Des comptes seulement : ni référence de patient, ni texte clinique. "
                "Dans le délai : premier avis signé au plus tard le {days}e jour ouvré "
                "après la demande (le jour ouvré suivant si elle est urgente). "
                "Extractions évitées : avis « sur place » ou « nouvelle demande »."
            ).format(days=REPLY_DAYS)
        )
        legend.setWordWrap(True)
        layout.addWidget(legend)
        layout.addWidget(self.status)
        self.acts = ActsPanel(threads)  # the acts for the billing office (cases.acts)
        layout.addWidget(self.acts)
        layout.addWidget(buttons)
        buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self.copy)
        self.save_button.clicked.connect(self._choose_file)
        QShortcut(QKeySequence.StandardKey.Copy, self, self.copy)
        size_within(self, QSize(720, 640))  # every figure in view, if the screen has room

    def _summary(self) -> str:
        if not self.rows:
            return _("Aucune demande pour l’instant.")
        return _(
            "Depuis {first} : {requests} demande(s), {answered} avec avis dont "
            "{on_time} dans le délai, {avoided} extraction(s) évitée(s)."
        ).format(
            first=month_label(self.rows[-1]),
            requests=sum(r.requests for r in self.rows),
            answered=sum(r.answered for r in self.rows),
            on_time=sum(r.on_time for r in self.rows),
            avoided=sum(r.avoided for r in self.rows),
        )

    def csv(self) -> str:
        return to_csv(self.rows, headers())

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.csv())
        self.status.setText(_("Copié : à coller dans un tableur."))

    def _choose_file(self) -> None:
        name, _filter = QFileDialog.getSaveFileName(
            self, _("Enregistrer le bilan"), "bilan-passavant.csv", _("CSV (*.csv)")
        )
        if name:
            self.save(Path(name))

    def save(self, path: Path) -> None:
        try:
            path.write_text(self.csv(), encoding="utf-8-sig")  # a BOM: spreadsheets read UTF-8
        except OSError as exc:
            self.status.setText(
                _("Le bilan n’a pas pu être enregistré : {reason}").format(reason=exc.strerror)
            )
            return
        self.status.setText(_("Bilan enregistré : {path}").format(path=path))
