"""The doctor's drafts (split from :mod:`widgets.doctor`): the request being written is sealed
to the doctor a moment after each edit, off the GUI thread, one save at a time (its photos,
clips and documents sealed apart at the first save after they join, and held by their sealed
files from then on); drafts are listed, resumed (their payloads' sealed files checked in the
background), discarded, and sealed at logout (on a thread of their own).

A mixin on :class:`widgets.doctor.DoctorWorkspace`'s own attributes (``form``, ``drafts``,
``runner``, ``draft_list``, ``draft_status``, the draft timer and flags), tested through the
workspace (``tests/gui/test_drafts.py``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidgetItem

from app.i18n import _
from app.messages import specialty_label
from cases.draftpayloads import DraftPayload
from cases.drafts import PAYLOAD_MISSING, UnreadableDraft
from cases.followup import followed
from cases.model import Case, utc_now
from cases.photos import Photo
from widgets.caselist import follows_text, keep_seen
from widgets.doctortexts import error_text, missing_text
from widgets.overlay import short_time


class DraftKeeping:
    """save_draft(), refresh_drafts(), resume, discard, and the seal at logout."""

    # the workspace's, set by DoctorWorkspace
    form: Any
    drafts: Any
    runner: Any
    cases: Any
    seen: Any
    stack: Any
    follow_button: Any
    draft_list: Any
    draft_status: Any
    discard_button: Any
    _draft_timer: Any
    _draft_saving: bool
    _draft_dirty: bool
    last_save: threading.Thread | None = None  # the one at logout, still running or ended

    _show_error: Any

    def save_draft(self) -> None:
        """Seal the form's request as a draft, off the GUI thread; one save at a time."""
        self._draft_timer.stop()
        if self._draft_saving:
            self._draft_dirty = True
            return
        if self.form.is_blank():
            return
        case = self.form.case()
        uid_key = self.form.documents.uid_key
        held = self.form.held_photos()  # an undo may put them back
        self._draft_saving = True

        def work() -> tuple[Path | None, list[tuple[Photo, DraftPayload]]]:
            path = self.drafts.save(case, version, uid_key=uid_key, held=held)
            return path, self.drafts.sealed_photos(case.photos) if path is not None else []

        def done(result: tuple[Path | None, list[tuple[Photo, DraftPayload]]]) -> None:
            path, photos = result
            self._draft_saving = False
            if path is not None:
                if self.form.case_id == case.case_id:  # said only of the request still shown
                    self.form.adopt_payloads(self.drafts.sealed_payload, photos)  # bytes freed
                    self.draft_status.setText(
                        _("Brouillon enregistré (chiffré) à {time}").format(
                            time=short_time(utc_now())
                        )
                    )
                self.refresh_drafts()
            if self._draft_dirty:
                self._draft_dirty = False
                self.save_draft()

        def failed(exc: BaseException) -> None:
            self._draft_saving = False
            self.draft_status.setText(
                _("Le brouillon n’a pas pu être enregistré : {reason}").format(
                    reason=error_text(exc)
                )
            )

        version = time.monotonic_ns()  # now: a later save, at logout say, is newer
        self.runner.run(work, done, failed)

    def refresh_drafts(self) -> None:
        def done(result: tuple[list[Case], list[UnreadableDraft]]) -> None:
            drafts, unreadable = result
            self.draft_list.clear()
            for case in drafts:
                label = case.patient_ref or _("(sans référence)")
                item = QListWidgetItem(
                    f"{label} — {specialty_label(case.specialty)} · {short_time(case.created_at)}"
                )
                item.setData(Qt.ItemDataRole.UserRole, case)
                self.draft_list.addItem(item)
            self.discard_button.setEnabled(bool(drafts))
            lacking = [u for u in unreadable if u.code == PAYLOAD_MISSING]
            unreadable = [u for u in unreadable if u.code != PAYLOAD_MISSING]
            told = [
                missing_text(u, next((c for c in drafts if c.case_id == u.case_id), None))
                for u in lacking
            ]
            if unreadable:
                told.append(
                    _("{count} brouillon(s) illisible(s) ignoré(s).").format(count=len(unreadable))
                )
            if told:
                self.draft_status.setText("\n".join(told))

        self.runner.run(self.drafts.load, done, self._show_error)

    def _resume_draft(self, item: QListWidgetItem) -> None:
        case: Case = item.data(Qt.ItemDataRole.UserRole)
        if case.case_id == self.form.case_id and self.stack.currentWidget() is self.form:
            return
        if not self.form.is_blank():
            self.save_draft()
        earlier = followed(case, self.cases.threads)
        self.form.load_case(
            case,
            followed=follows_text(earlier) if earlier else "",
            uid_key=self.drafts.uid_key(case.case_id),
        )
        self.cases.clearSelection()
        self.follow_button.setEnabled(False)
        self.stack.setCurrentWidget(self.form)
        self.draft_status.setText(_("Brouillon repris."))

        def checked(damaged: tuple[str, ...]) -> None:
            if damaged and self.form.case_id == case.case_id:
                self.draft_status.setText(
                    _(
                        "Brouillon repris, mais {names} endommagé(s) sur ce poste : retirez-le(s)"
                        " et joignez-le(s) à nouveau."
                    ).format(names=", ".join(damaged))
                )

        self.runner.run(lambda: self.drafts.damaged(case), checked, self._show_error)

    def discard_draft(self) -> None:
        """Forget the selected draft (or the one in the form) and empty the form."""
        item = self.draft_list.currentItem()
        case_id = item.data(Qt.ItemDataRole.UserRole).case_id if item else self.form.case_id
        self._draft_timer.stop()
        if case_id == self.form.case_id:
            self.form.clear()

        def done(removed: bool) -> None:
            if removed:
                self.draft_status.setText(_("Brouillon supprimé."))
            self.refresh_drafts()

        self.runner.run(lambda: self.drafts.discard(case_id), done, self._show_error)

    def leave(self) -> None:
        """The doctor logs out or quits: edits not saved yet are sealed among the drafts, on
        a thread of its own (the pool is closing; a photo or a clip joined a moment before is
        sealed there, not here: ``DraftStore.save_later``, which the process and the next
        session wait for), and what was seen is kept for the next session."""
        keep_seen(self.cases, self.seen)
        if not (self._draft_timer.isActive() or self._draft_dirty or self._draft_saving):
            return
        self._draft_timer.stop()
        if self.form.is_blank():
            return
        form = self.form
        self.last_save = self.drafts.save_later(
            form.case(), uid_key=form.documents.uid_key, held=form.held_photos()
        )
