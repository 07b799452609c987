"""The doctor's request form: patient reference, consent, clinical text, photos, recipient."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.i18n import _
from app.messages import answer_label, reason, specialty_label
from cases.draftpayloads import DraftPayload
from cases.model import SPECIALTIES, Case, new_id, utc_now
from cases.photos import Photo
from cases.sections import MAX_ANSWER, SECTIONS, answers_of
from outbox.platform import DirectoryEntry
from widgets.clips import ClipList
from widgets.directorytext import entry_label, entry_tooltip, rpps_caption
from widgets.documents import DocumentList
from widgets.flow import FlowLayout, narrow_combo
from widgets.identityform import ConsentDate, IdentityBox
from widgets.photos import PhotoStrip

PhotoImporter = Callable[[list[Path], int], None]


class CaseForm(QWidget):
    """A new tele-expertise request.

    Signals:
        send_requested(Case, DirectoryEntry): the doctor asked to send a complete request.
        changed(): the doctor edited something (the workspace saves the draft a moment later).
        photos_requested(list[Path]): files to import (the workspace imports them off the
            GUI thread and calls :meth:`add_photos`).
        capture_requested(): the doctor wants to take photos (the workspace opens the
            capture station and calls :meth:`add_photos` with what it returns).
    """

    send_requested = Signal(object, object)
    photos_requested = Signal(list)
    capture_requested = Signal()
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.patient_ref = QLineEdit()
        self.patient_ref.setPlaceholderText(_("Référence pseudonyme (jamais le nom)"))
        self.consent = QCheckBox(_("Le patient a donné son accord pour les photos et l’envoi"))
        self.consent_date = ConsentDate()  # the patient's identity and the act: issue 19
        self.identity = IdentityBox()
        self.warn_before_send: Callable[[Case], str | None] | None = None  # the 5th act
        self._warned: str | None = None  # the case id warned of: sent at the next click
        self.specialty = QComboBox()
        for code in SPECIALTIES:
            self.specialty.addItem(specialty_label(code), code)
        self.recipient = QComboBox()
        for combo in (self.specialty, self.recipient):
            narrow_combo(combo)  # a long name does not widen the form
        self.recipient_rpps = QLabel()  # the directory's RPPS of the one chosen (issue 19)
        self.recipient_rpps.setStyleSheet("color: #555;")
        self.recipient_rpps.setVisible(False)
        self.summary = QPlainTextEdit()
        self.treatments = QPlainTextEdit()
        self.question = QPlainTextEdit()
        for box, hint in (
            (self.summary, _("Histoire, examen, évolution…")),
            (self.treatments, _("Traitements en cours, allergies…")),
            (self.question, _("Ce que vous demandez au spécialiste")),
        ):
            box.setPlaceholderText(hint)
            box.setTabChangesFocus(True)
        self.photos = PhotoStrip()
        self.documents = DocumentList()  # exam results, tracings, letters (issue 17)
        self.clips = ClipList()  # short videos, faces blurred (issue 17 §2)
        self.add_button = QPushButton(_("Ajouter des photos…"))
        self.capture_button = QPushButton(_("Prendre des photos…"))
        self.remove_button = QPushButton(_("Retirer la sélection"))
        self.send_button = QPushButton(_("Envoyer la demande"))
        self.send_button.setDefault(True)
        self.send_button.setToolTip(_("Ctrl+Entrée"))
        self.urgent = QCheckBox(_("Urgent"))
        self.urgent.setToolTip(
            _(
                "Le spécialiste voit la demande marquée urgente, en tête de sa liste ; elle "
                "quitte la file d’envoi avant les autres. À réserver à ce qui ne peut pas "
                "attendre."
            )
        )
        self.follows: str | None = None
        self.follows_label = QLabel()
        self.follows_label.setWordWrap(True)
        self.follows_label.setVisible(False)
        self.follows_label.linkActivated.connect(lambda _link: self.unlink())
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #a40000;")
        self._removed: list[list[tuple[int, Photo]]] = []
        self.case_id = new_id()
        self.created_at = utc_now()
        self._loading = False

        self.rows = form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # labels above, if narrow
        form.addRow(_("Référence patient"), self.patient_ref)
        consent_row = QVBoxLayout()  # the box, and the day under it: narrow windows too
        consent_row.addWidget(self.consent)
        consent_row.addWidget(self.consent_date)
        form.addRow("", consent_row)
        form.addRow(_("Spécialité"), self.specialty)
        recipient_row = QVBoxLayout()  # the chooser, and its RPPS number under it
        recipient_row.addWidget(self.recipient)
        recipient_row.addWidget(self.recipient_rpps)
        form.addRow(_("Spécialiste"), recipient_row)
        # the specialty's questions come here (rows 4…), rebuilt when the specialty changes
        self.answer_fields: dict[str, QLineEdit] = {}
        self._answers: dict[str, str] = {}  # every answer typed, kept across specialties
        form.addRow(_("Résumé clinique"), self.summary)
        form.addRow(_("Traitements"), self.treatments)
        form.addRow(_("Question"), self.question)
        photo_buttons = FlowLayout()  # above the strip: in view with the form scrolled up
        photos_label = QLabel(_("Photos (glisser-déposer possible ; pas de visage)"))
        photos_label.setWordWrap(True)  # the label and the buttons wrap in a narrow window
        photo_buttons.addWidget(self.add_button)
        photo_buttons.addWidget(self.capture_button)
        photo_buttons.addWidget(self.remove_button)
        # the fields scroll on a small screen; what is wrong and the send button stay in view
        fields = QWidget()
        layout = QVBoxLayout(fields)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("<h2>" + _("Nouvelle demande d’avis") + "</h2>")
        layout.addWidget(self.title)
        layout.addWidget(self.follows_label)
        layout.addWidget(self.identity)
        layout.addLayout(form)
        layout.addWidget(photos_label)
        layout.addLayout(photo_buttons)
        layout.addWidget(self.photos)
        layout.addWidget(self.documents)
        layout.addWidget(self.clips)
        self.scroll = QScrollArea()
        self.scroll.setWidget(fields)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.addWidget(self.scroll, 1)
        outer.addWidget(self.problems)
        send_row = QHBoxLayout()
        send_row.addStretch()
        send_row.addWidget(self.urgent)
        send_row.addWidget(self.send_button)
        outer.addLayout(send_row)

        self.add_button.clicked.connect(self._choose_files)
        self.capture_button.clicked.connect(self.capture_requested)
        self.remove_button.clicked.connect(self._remove_photos)
        self.send_button.clicked.connect(self.submit)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.submit)
        QShortcut(QKeySequence.StandardKey.Undo, self.photos, self.undo_remove)
        self.patient_ref.textEdited.connect(self.changed)
        self.consent.clicked.connect(self.changed)
        self.consent_date.changed.connect(self._identity_changed)
        self.identity.changed.connect(self._identity_changed)
        self.urgent.clicked.connect(self.changed)
        self.documents.changed.connect(self.changed)
        self.clips.changed.connect(self.changed)
        self.specialty.activated.connect(self.changed)
        self.specialty.currentIndexChanged.connect(lambda _index: self._ask_questions())
        self.specialty.currentIndexChanged.connect(lambda _index: self._follow_specialty())
        self.recipient.currentIndexChanged.connect(lambda _index: self._show_recipient_rpps())
        self._ask_questions()
        for box in (self.summary, self.treatments, self.question):
            box.textChanged.connect(self._text_changed)

    # --- the specialty's questions -------------------------------------------------------
    def _ask_questions(self) -> None:
        """The rows of the current specialty's questions, filled with what was typed."""
        for field in self.answer_fields.values():
            self.rows.removeRow(field)
        self.answer_fields = {}
        for row, key in enumerate(SECTIONS.get(str(self.specialty.currentData()), ()), start=4):
            field = QLineEdit(self._answers.get(key, ""))
            field.setMaxLength(MAX_ANSWER)
            field.setAccessibleName(answer_label(key))
            field.textEdited.connect(lambda text, key=key: self._answered(key, text))
            self.rows.insertRow(row, answer_label(key), field)
            self.answer_fields[key] = field

    def _answered(self, key: str, text: str) -> None:
        self._answers[key] = text
        self.changed.emit()

    # --- recipients ---------------------------------------------------------------------
    def set_recipients(self, entries: list[DirectoryEntry]) -> None:
        """The directory's specialists, those of the request's specialty first."""
        self._entries = list(entries)
        current = self.recipient.currentData()
        self.recipient.clear()
        chosen = self.specialty.currentData()
        entries = sorted(entries, key=lambda e: e.specialty != chosen)  # stable: keeps order
        for entry in entries:
            self.recipient.addItem(entry_label(entry), entry)
            tip = entry_tooltip(entry)
            self.recipient.setItemData(self.recipient.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        if not entries:
            self.recipient.addItem(_("Annuaire indisponible (plateforme jamais jointe)"), None)
        for i in range(self.recipient.count()):
            if current is not None and self.recipient.itemData(i) == current:
                self.recipient.setCurrentIndex(i)
        self._show_recipient_rpps()

    def _show_recipient_rpps(self) -> None:
        """The RPPS number the directory lists for the specialist chosen, under the chooser."""
        entry = self.recipient.currentData()
        self.recipient_rpps.setText(rpps_caption(entry))
        self.recipient_rpps.setVisible(entry is not None)
        self.recipient.setToolTip(entry_tooltip(entry) if entry is not None else "")

    def _follow_specialty(self) -> None:
        """The recipients follow the specialty chosen: its specialists come first, and one
        of them is chosen when the one selected practises another."""
        entries = getattr(self, "_entries", None)
        if not entries:
            return
        current = self.recipient.currentData()
        self.set_recipients(entries)
        chosen = self.specialty.currentData()
        if current is not None and current.specialty not in (None, "", chosen):
            first = self.recipient.itemData(0)
            if first is not None and first.specialty == chosen:
                self.recipient.setCurrentIndex(0)

    def select_recipient(self, fingerprint: str, mailbox: str = "") -> bool:
        """Select the specialist with this certificate fingerprint (or, when the directory or
        the caller gives no fingerprint, this mailbox); False when the directory does not list
        them."""
        for i in range(self.recipient.count()):
            entry = self.recipient.itemData(i)
            if entry is None:
                continue
            known = entry.certificate_sha256.lower()
            by_mailbox = bool(mailbox) and entry.id == mailbox and not (known and fingerprint)
            if (known and known == fingerprint.lower()) or by_mailbox:
                self.recipient.setCurrentIndex(i)
                return True
        return False

    # --- photos -------------------------------------------------------------------------
    def _choose_files(self) -> None:
        names, _filter = QFileDialog.getOpenFileNames(
            self,
            _("Ajouter des photos"),
            "",
            _("Images (*.jpg *.jpeg *.png *.tif *.tiff *.heic *.heif)"),
        )
        if names:
            self.photos_requested.emit([Path(n) for n in names])

    def next_photo_number(self) -> int:
        return len(self.photos.photos()) + 1

    def add_photos(self, photos: list[Photo]) -> None:
        self.photos.add_photos(photos)
        if photos:
            self.changed.emit()

    def _remove_photos(self) -> None:
        removed = self.photos.remove_selected()
        if removed:
            self._removed.append(removed)
            self.changed.emit()

    def undo_remove(self) -> None:
        if self._removed:
            self.photos.restore(self._removed.pop())
            self.changed.emit()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.photos_requested.emit(paths)

    # --- sending ------------------------------------------------------------------------
    def case(self) -> Case:
        return Case(
            patient_ref=self.patient_ref.text().strip(),
            consent=self.consent.isChecked(),
            specialty=str(self.specialty.currentData()),
            summary=self.summary.toPlainText().strip(),
            treatments=self.treatments.toPlainText().strip(),
            question=self.question.toPlainText().strip(),
            photos=tuple(self.photos.photos()),
            documents=self.documents.documents(),
            clips=self.clips.clips(),
            case_id=self.case_id,
            created_at=self.created_at,
            follows=self.follows,
            answers=answers_of(str(self.specialty.currentData()), self._answers),
            urgent=self.urgent.isChecked(),
            identity=self.identity.identity(),
            consent_date=self.consent_date.value() if self.consent.isChecked() else None,
        )

    def adopt_payloads(
        self,
        sealed: Callable[[str], DraftPayload | None],
        photos: Sequence[tuple[Photo, DraftPayload]] = (),
    ) -> None:
        """The photos, clips and documents the draft has sealed apart are held by their
        sealed files from now on, not their bytes (``sealed(sha256)``:
        ``DraftStore.sealed_payload``; ``photos``: ``DraftStore.sealed_photos``)."""
        self.photos.adopt(photos)
        self.documents.adopt(sealed)
        self.clips.adopt(sealed)

    def held_photos(self) -> list[Photo]:
        """The photos taken out that an undo may put back (their sealed files are kept)."""
        return [photo for removed in self._removed for _row, photo in removed]

    def _identity_changed(self) -> None:
        if not self._loading:
            self.changed.emit()

    def _text_changed(self) -> None:
        if not self._loading:
            self.changed.emit()

    def is_blank(self) -> bool:
        """Nothing typed and no photo: not worth keeping as a draft."""
        case = self.case()
        texts = (case.patient_ref, case.summary, case.treatments, case.question)
        return (
            not any(texts)
            and not case.photos
            and not case.documents
            and not case.clips
            and not case.consent
            and not case.answers
            and case.identity is None
        )

    def load_case(
        self, case: Case, *, followed: str = "", title: str = "", uid_key: bytes | None = None
    ) -> None:
        """Fill the form with a saved draft or a follow-up request (it keeps the case's id);
        ``followed`` describes the earlier request it follows up, if any; ``title`` replaces
        the form's own ("Demande de suivi"…); ``uid_key`` is the draft's DICOM UID key."""
        self._loading = True
        self.clear()
        self.case_id, self.created_at = case.case_id, case.created_at
        self._set_follows(case.follows, followed)
        if title:
            self.title.setText("<h2>" + escape(title) + "</h2>")
        self.patient_ref.setText(case.patient_ref)
        self.consent.setChecked(case.consent)
        self.consent_date.reset(case.consent_date)
        self.identity.load(case.identity)
        self.urgent.setChecked(case.urgent)
        self._answers = dict(case.answers)
        index = self.specialty.findData(case.specialty)
        if index >= 0:
            with QSignalBlocker(self.specialty):  # the questions are asked once, below
                self.specialty.setCurrentIndex(index)
        self._ask_questions()
        self.summary.setPlainText(case.summary)
        self.treatments.setPlainText(case.treatments)
        self.question.setPlainText(case.question)
        self.photos.set_photos(list(case.photos))
        self.documents.set_documents(list(case.documents), uid_key)
        self.clips.set_clips(list(case.clips))
        self._loading = False

    def _set_follows(self, case_id: str | None, followed: str) -> None:
        self.follows = case_id
        self.follows_label.setVisible(case_id is not None)
        title = _("Demande de suivi") if case_id is not None else _("Nouvelle demande d’avis")
        self.title.setText("<h2>" + escape(title) + "</h2>")
        if case_id is not None:
            self.follows_label.setText(
                escape(followed or _("Suite d’une demande antérieure."))
                + f' — <a href="unlink">{escape(_("Retirer le lien"))}</a>'
            )

    def unlink(self) -> None:
        """Make the request a new one rather than the follow-up of an earlier one."""
        if self.follows is not None:
            self._set_follows(None, "")
            self.changed.emit()

    def submit(self) -> None:
        if not self.send_button.isEnabled():  # being sealed: one send per click, never two
            return
        case = self.case()
        problems = case.problems()
        recipient = self.recipient.currentData()
        if recipient is None:
            problems.append("missing_recipient")
        if problems:
            self.show_problems(problems)
            return
        self.show_problems([])
        warn = self.warn_before_send if self._warned != case.case_id else None
        if warn is not None and (warning := warn(case)):  # warned, not stopped: click again
            self._warned = case.case_id
            self.show_error(warning)
            return
        self.send_requested.emit(case, recipient)

    def show_problems(self, codes: list[str]) -> None:
        self.problems.setText("\n".join(reason(c) for c in codes))

    def show_error(self, text: str) -> None:
        self.problems.setText(text)

    def set_busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.send_button.setText(_("Scellement en cours…") if busy else _("Envoyer la demande"))

    def set_sealing_progress(self, percent: int) -> None:
        """While busy: how much of the request is sealed (``widgets.sealprogress``)."""
        if not self.send_button.isEnabled():
            self.send_button.setText(_("Scellement en cours… {percent} %").format(percent=percent))

    def clear(self) -> None:
        """Empty the form for a new request (with a new case id); emits no ``changed``."""
        loading, self._loading = self._loading, True
        self.patient_ref.clear()
        for box in (self.summary, self.treatments, self.question):
            box.clear()
        self.consent.setChecked(False)
        self.consent_date.reset()
        self.identity.clear()
        self._warned = None
        self.urgent.setChecked(False)
        self._answers = {}
        self._ask_questions()
        self.photos.set_photos([])
        self.documents.set_documents([])
        self.clips.set_clips([])
        self._removed.clear()
        self.problems.clear()
        self._set_follows(None, "")
        self.case_id = new_id()
        self.created_at = utc_now()
        self._loading = loading
