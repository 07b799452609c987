"""The tele-expertise acts in the window: the warning before a fifth act in a rolling year,
and the list of acts for the billing office in the activity report (CSV, copied or saved
where the person chooses; nothing of the clinical text: ``cases.acts``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.i18n import _
from app.identity_text import identity_reason
from cases.acts import Act, acts, over_yearly_limit, table, to_csv
from cases.model import Case
from cases.threads import CaseThread


def fifth_act_warning(
    case: Case, threads: Sequence[CaseThread], now: datetime | None = None
) -> str | None:
    """The sentence warning the doctor that ``case`` would go past the yearly limit of acts
    for its patient, or ``None``. A warning, not a refusal: the doctor may send anyway."""
    earlier = over_yearly_limit(case, threads, now)
    if earlier is None:
        return None
    return _(
        "Ce patient a déjà {count} télé-expertise(s) sur les 12 derniers mois : au-delà de "
        "{limit} par an, l’acte n’est pas facturable. Cliquez de nouveau sur « Envoyer la "
        "demande » pour l’envoyer quand même."
    ).format(count=earlier, limit=table().max_per_patient)


def headers() -> list[str]:
    """The columns of :func:`cases.acts.to_csv`."""
    return [
        _("Date de la réponse"),
        _("Date de la demande"),
        _("Code demandeur"),
        _("Tarif demandeur (€)"),
        _("Code expert"),
        _("Tarif expert (€)"),
        _("Demandeur"),
        _("RPPS demandeur"),
        _("Expert"),
        _("RPPS expert"),
        _("Date du consentement"),
        _("Nom de naissance"),
        _("Prénoms"),
        _("Nom utilisé"),
        _("Sexe"),
        _("Date de naissance"),
        _("Lieu de naissance (INSEE)"),
        _("Statut de l’identité"),
        _("INS"),
        _("OID de l’INS"),
        _("Identifiant de la demande"),
    ]


def summary(rows: Sequence[Act]) -> str:
    """``3 acte(s) ; 1 incomplet(s) : RPPS de l’expert absent…``."""
    if not rows:
        return _("Aucun acte de télé-expertise (demande avec avis) pour l’instant.")
    incomplete = [act for act in rows if act.problems()]
    text = _("{count} acte(s) de télé-expertise (demandes avec avis).").format(count=len(rows))
    if incomplete:
        missing = sorted({code for act in incomplete for code in act.problems()})
        text += " " + _("{count} incomplet(s) : {what}.").format(
            count=len(incomplete),
            what=", ".join(identity_reason(code) or code for code in missing),
        )
    return text


class ActsPanel(QWidget):
    """In the activity report: how many acts, and their CSV for the billing office.

    Signals:
        exported(int): the acts (so many) were copied or saved: the window journals it
            (``acts_exported``, the count only), since the CSV names patients.
    """

    exported = Signal(int)

    def __init__(self, threads: Sequence[CaseThread], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows = acts(threads)
        self.label = QLabel(summary(self.rows))
        self.label.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.copy_button = QPushButton(_("Copier les actes"))
        self.save_button = QPushButton(_("Actes pour la facturation (CSV)…"))
        self.save_button.setToolTip(
            _(
                "Dates, cotations, RPPS, consentement et identité du patient : ce que la "
                "facturation demande, aucun texte clinique. Fichier nominatif : à enregistrer "
                "là où la facturation le range."
            )
        )
        for button in (self.copy_button, self.save_button):
            button.setEnabled(bool(self.rows))
        buttons = QHBoxLayout()
        buttons.addWidget(self.label, 1)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.status.hide()
        self.copy_button.clicked.connect(self.copy)
        self.save_button.clicked.connect(self._choose_file)

    def csv(self) -> str:
        return to_csv(self.rows, headers())

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.csv())
        self.exported.emit(len(self.rows))
        self._say(_("Actes copiés : à coller dans un tableur."))

    def _choose_file(self) -> None:
        name, _filter = QFileDialog.getSaveFileName(
            self, _("Enregistrer les actes"), "actes-teleexpertise.csv", _("CSV (*.csv)")
        )
        if name:
            self.save(Path(name))

    def save(self, path: Path) -> None:
        try:
            path.write_text(self.csv(), encoding="utf-8-sig")  # a BOM: spreadsheets read UTF-8
        except OSError as exc:
            self._say(
                _("Les actes n’ont pas pu être enregistrés : {reason}").format(reason=exc.strerror)
            )
            return
        self.exported.emit(len(self.rows))
        self._say(_("Actes enregistrés : {path}").format(path=path))

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.show()
