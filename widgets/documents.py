"""The documents a doctor attaches to a request: exam results, tracings, letters, images.

"Joindre un document…" takes a PDF, a DICOM image or a photo of a paper result; the file is
read and made safe off the GUI thread (:func:`capture.documents.prepare_document`), then the
doctor gives it a type, a date and a short title in :class:`DocumentDetails`, which also says
what was removed from it (JavaScript, metadata…). A file that cannot be attached is refused
with one plain sentence under the list; nothing else changes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QDate, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.document_texts import refusal, removed_lines, type_label, warning_lines
from app.i18n import _
from app.messages import human_size
from app.tasks import DedicatedWorker
from capture.documents import PreparedDocument
from cases.documents import (
    DOCUMENT_TYPES,
    MAX_DOCUMENTS,
    MAX_DOCUMENTS_BYTES,
    MAX_TITLE,
    Document,
    next_name,
)
from cases.draftpayloads import DraftPayload
from widgets.flow import FlowLayout

MAX_FILE_BYTES = 330 * 1024 * 1024
"""Bytes read from a file to attach (the largest DICOM accepted, and a little more)."""

_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="passavant-documents")
"""The one thread that reads, prepares and decodes documents for these windows (started at
first use; shared, so a window opened and closed leaves no thread behind)."""


class Worker(DedicatedWorker):
    """Runs work on :data:`_WORKER`; its result comes back on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(_WORKER, parent)


def describe(document: Document) -> str:
    """One line: type, date, title, pages and size."""
    pages = _("{n} pages").format(n=document.pages) if document.pages > 1 else _("1 page")
    return _("{type} — {date} — {title} ({pages}, {size})").format(
        type=type_label(document.kind),
        date=document.date.strftime("%d/%m/%Y"),
        title=document.title or _("sans titre"),
        pages=pages,
        size=human_size(document.size),
    )


def read_and_prepare(path: Path, uid_key: bytes | None = None) -> PreparedDocument:
    """On a worker: the file's bytes (bounded) made safe; a DICOM's UIDs replaced under
    ``uid_key``, the request's (else this process's own key)."""
    from capture.dicom_deid import request_key
    from capture.documents import DocumentRefused, prepare_document

    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise DocumentRefused("not_a_document", "larger than any document accepted")
    with request_key(uid_key) if uid_key else contextlib.nullcontext():
        return prepare_document(data)


class DocumentDetails(QDialog):
    """Type, date and title of a document being attached, and what was removed from it."""

    def __init__(
        self,
        prepared: PreparedDocument,
        parent: QWidget | None = None,
        *,
        document: Document | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(_("Joindre un document"))
        self.prepared = prepared
        self.kind = QComboBox()
        for code in DOCUMENT_TYPES:
            self.kind.addItem(type_label(code), code)
        guess = "imagerie" if prepared.suffix == "dcm" else "biologie"
        self.kind.setCurrentIndex(self.kind.findData(document.kind if document else guess))
        self.when = QDateEdit()
        self.when.setCalendarPopup(True)
        self.when.setDisplayFormat("dd/MM/yyyy")
        self.when.setMaximumDate(QDate.currentDate())
        self.when.setDate(_qdate(document.date) if document else QDate.currentDate())
        self.title = QLineEdit(document.title if document else "")
        self.title.setMaxLength(MAX_TITLE)
        self.title.setPlaceholderText(_("Ex. : NFS, ionogramme ; ECG de repos"))
        self.removed = QLabel("\n".join(removed_lines(prepared.removed)))
        self.removed.setWordWrap(True)
        form = QFormLayout()
        form.addRow(_("Type"), self.kind)
        form.addRow(_("Date de l’examen"), self.when)
        form.addRow(_("Titre"), self.title)
        form.addRow(_("Nettoyage"), self.removed)
        warnings = warning_lines(getattr(prepared, "warnings", ()))  # a DICOM's burned-in text
        self.warning = QLabel("\n".join(warnings))
        self.warning.setWordWrap(True)
        self.warning.setVisible(bool(warnings))
        form.addRow(self.warning)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(_("Joindre"))
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(_("Annuler"))
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)

    def fields(self) -> tuple[str, dt.date, str]:
        """The type, the date and the title given."""
        day = self.when.date()
        return (
            str(self.kind.currentData()),
            dt.date(day.year(), day.month(), day.day()),
            self.title.text().strip(),
        )

    def document(self, existing: tuple[Document, ...]) -> Document:
        """The document as described, named after ``existing`` ones."""
        kind, when, title = self.fields()
        return Document.of_bytes(
            next_name(existing, self.prepared.suffix),
            self.prepared.data,
            kind=kind,
            when=when,
            title=title,
            pages=self.prepared.pages,
        )


def _qdate(day: dt.date) -> QDate:
    return QDate(day.year, day.month, day.day)


class DocumentList(QWidget):
    """The documents of the request being written, with "Joindre", "Modifier" and "Retirer".

    Signals:
        changed(): a document was attached, described again or removed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._worker = Worker(self)
        self._documents: list[Document] = []
        self.uid_key: bytes | None = None  # one per request: its DICOM images, one study
        self.details: DocumentDetails | None = None  # the one being filled in, if any
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.list.setAccessibleName(_("Documents joints"))
        self.attach_button = QPushButton(_("Joindre un document…"))
        self.attach_button.setToolTip(
            _("PDF (biologie, ECG, courrier), image DICOM, ou photo d’un résultat papier")
        )
        self.edit_button = QPushButton(_("Modifier…"))
        self.remove_button = QPushButton(_("Retirer le document"))
        self.status = QLabel()
        self.status.setWordWrap(True)
        label = QLabel(_("Documents : résultats d’examens, tracés, courriers"))
        label.setWordWrap(True)
        buttons = FlowLayout()
        for button in (self.attach_button, self.edit_button, self.remove_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(label)
        layout.addLayout(buttons)
        layout.addWidget(self.list)
        layout.addWidget(self.status)
        self.attach_button.clicked.connect(self._choose)
        self.edit_button.clicked.connect(self._edit)
        self.remove_button.clicked.connect(self.remove_selected)
        self.list.itemSelectionChanged.connect(self._update)
        self.list.itemDoubleClicked.connect(lambda _item: self._edit())
        self._update()

    def documents(self) -> tuple[Document, ...]:
        return tuple(self._documents)

    def set_documents(self, documents: list[Document], uid_key: bytes | None = None) -> None:
        """The documents of another request; ``uid_key``: its DICOM UID key, kept with its
        draft (else one is made when a first document is attached)."""
        self.uid_key = uid_key
        self._documents = list(documents)
        self.status.clear()
        self._refill()

    def adopt(self, sealed: Callable[[str], DraftPayload | None]) -> None:
        """Hold each document (in memory, or in a draft of the earlier version) by its sealed
        file once the draft has it
        (``sealed(sha256)``, ``cases.draftpayloads``): its bytes are then freed, and read
        back, checked, when it is viewed or sent. Not an edit: nothing is emitted."""
        for row, document in enumerate(self._documents):
            if not isinstance(document.payload, DraftPayload) and (kept := sealed(document.sha256)):
                self._documents[row] = replace(document, payload=kept)

    # --- attaching ------------------------------------------------------------------------
    def _choose(self) -> None:
        name, _filter = QFileDialog.getOpenFileName(
            self,
            _("Joindre un document"),
            "",
            _("Documents (*.pdf *.dcm *.jpg *.jpeg *.png *.tif *.tiff *.heic)")
            + ";;"
            + _("Tous les fichiers (*)"),
        )
        if name:
            self.attach(Path(name))

    def attach(self, path: Path) -> None:
        """Reads and prepares ``path`` off the GUI thread, then asks for its details."""
        if len(self._documents) >= MAX_DOCUMENTS:
            self._say(_("Au plus {n} documents par demande.").format(n=MAX_DOCUMENTS), error=True)
            return
        self.attach_button.setEnabled(False)
        self._say(_("Préparation du document…"))
        if self.uid_key is None:  # as capture.dicom_deid.new_request_key (not imported here)
            self.uid_key = secrets.token_bytes(32)
        key = self.uid_key
        self._worker.run(lambda: read_and_prepare(path, key), self._prepared, self._refused)

    def _prepared(self, prepared: PreparedDocument) -> None:
        self._update()
        self.status.clear()
        self.details = DocumentDetails(prepared, self)
        self.details.accepted.connect(self._described)
        self.details.finished.connect(self._details_closed)
        self.details.open()

    def _refused(self, error: BaseException) -> None:
        self._update()
        if isinstance(error, OSError):
            self._say(_("Ce fichier ne peut pas être lu."), error=True)
            return
        self._say(refusal(getattr(error, "code", None)), error=True)

    def _described(self) -> None:
        details = self.details
        if details is None:
            return
        problem = self.room_for(len(details.prepared.data))
        if problem:
            self._say(problem, error=True)
            return
        self._append(details.document(self.documents()))

    def room_for(self, size: int) -> str:
        """``""`` if one more document of ``size`` bytes may join, else why not (French)."""
        if len(self._documents) >= MAX_DOCUMENTS:
            return _("Au plus {n} documents par demande.").format(n=MAX_DOCUMENTS)
        if sum(d.size for d in self._documents) + size > MAX_DOCUMENTS_BYTES:
            return _("Les documents d’une demande ne peuvent dépasser {size} en tout.").format(
                size=human_size(MAX_DOCUMENTS_BYTES)
            )
        return ""

    def add_prepared(
        self, prepared: PreparedDocument, *, kind: str, when: dt.date, title: str
    ) -> str:
        """Adds a document already made safe and described (the pages the capture station
        photographed in document mode), exactly as one attached here: ``""`` once added,
        else the sentence that says why not (nothing changed)."""
        problem = self.room_for(len(prepared.data))
        if problem:
            return problem
        self._append(
            Document.of_bytes(
                next_name(self.documents(), prepared.suffix),
                prepared.data,
                kind=kind,
                when=when,
                title=title,
                pages=prepared.pages,
            )
        )
        return ""

    def _append(self, document: Document) -> None:
        self._documents.append(document)
        self.status.clear()
        self._refill()
        self.list.setCurrentRow(len(self._documents) - 1)
        self.changed.emit()

    def _details_closed(self) -> None:
        if self.details is not None:
            self.details.deleteLater()
        self.details = None

    # --- editing and removing -------------------------------------------------------------
    def _edit(self) -> None:
        row = self.list.currentRow()
        if not 0 <= row < len(self._documents):
            return
        old = self._documents[row]
        described = PreparedDocument(old.name.rsplit(".", 1)[1], b"", old.pages, ())
        dialog = DocumentDetails(described, self, document=old)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            kind, when, title = dialog.fields()
            self._documents[row] = replace(old, kind=kind, date=when, title=title)
            self._refill()
            self.changed.emit()
        dialog.deleteLater()

    def remove_selected(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self._documents):
            del self._documents[row]
            self._refill()
            self.changed.emit()

    # --- display --------------------------------------------------------------------------
    def _refill(self) -> None:
        self.list.clear()
        for document in self._documents:
            item = QListWidgetItem(describe(document))
            item.setToolTip(item.text())
            self.list.addItem(item)
        self.list.setVisible(bool(self._documents))
        self._update()

    def _update(self) -> None:
        selected = 0 <= self.list.currentRow() < len(self._documents)
        self.attach_button.setEnabled(len(self._documents) < MAX_DOCUMENTS)
        self.edit_button.setEnabled(selected)
        self.remove_button.setEnabled(selected)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setStyleSheet("color: #a40000;" if error else "")
        self.status.setText(text)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft)
