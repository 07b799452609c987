"""The pieces of the card registration screen (``widgets.cardsetup``) that only show: the
table of a token's certificates and the one-line summaries of a certificate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from app.card_text import usage_names
from app.i18n import _
from cases.cardidentity import can_sign
from crypto import pki
from crypto.pkcs11_tokens import TokenCertificate

ERROR_STYLE = "color: #a40000;"
GOOD_STYLE = "color: #1a6b1a;"


def issuer_name(cert: x509.Certificate) -> str:
    """The issuing authority's common name (or its whole name)."""
    found = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if found:
        value = found[0].value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return cert.issuer.rfc4514_string()


def validity(cert: x509.Certificate, now: datetime | None = None) -> str:
    """``du 07/12/2026 au 06/12/2029``, and whether it is not valid today."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    text = _("du {start} au {end}").format(
        start=start.strftime("%d/%m/%Y"), end=end.strftime("%d/%m/%Y")
    )
    today = now or datetime.now(UTC)
    if today > end:
        text += " " + _("(expiré)")
    elif today < start:
        text += " " + _("(pas encore valable)")
    return text


def summary(cert: x509.Certificate) -> str:
    """Holder, issuer, validity and usages on one line."""
    return _("{holder} — délivré par {issuer}, valable {validity} ; usages : {usages}").format(
        holder=pki.display_name(cert),
        issuer=issuer_name(cert),
        validity=validity(cert),
        usages=usage_names(cert),
    )


def message_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    return label


def show(label: QLabel, text: str, *, error: bool = False, good: bool = False) -> None:
    label.setStyleSheet(ERROR_STYLE if error else GOOD_STYLE if good else "")
    label.setText(text)


class CertificateTable(QTableWidget):
    """The certificates a token carries: holder, issuer, validity, usages; one row picked.
    A certificate that cannot sign is shown greyed (it can still be picked, and is then
    refused in plain words)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 4, parent)
        self.setAccessibleName(_("Certificats de la carte"))
        self.setHorizontalHeaderLabels([_("Titulaire"), _("Émetteur"), _("Validité"), _("Usages")])
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        header = self.horizontalHeader()  # the columns share the room; a cell too long for
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)  # it: its tooltip, the note
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setMinimumHeight(120)
        self.certificates: list[TokenCertificate] = []

    def fill(self, certificates: Sequence[TokenCertificate]) -> None:
        self.certificates = list(certificates)
        self.clearContents()
        self.setRowCount(len(self.certificates))
        for row, found in enumerate(self.certificates):
            cert = found.certificate
            cells = (pki.display_name(cert), issuer_name(cert), validity(cert), usage_names(cert))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(summary(cert))
                if not can_sign(cert):
                    item.setForeground(self.palette().placeholderText())
                self.setItem(row, column, item)
        signing = [n for n, c in enumerate(self.certificates) if can_sign(c.certificate)]
        if self.certificates:
            self.selectRow(signing[0] if signing else 0)

    def chosen(self) -> TokenCertificate | None:
        rows = self.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.certificates):
            return None
        return self.certificates[rows[0].row()]

    def choose(self, label: str) -> None:
        """Pick the certificate the token carries under ``label``."""
        for row, found in enumerate(self.certificates):
            if found.label == label:
                self.selectRow(row)
                return
