"""What the case store tells the person besides the list: documents set aside, indexing.

- :class:`SetAsideBar`: a one-line bar under the notice while documents received could not be
  opened or were refused by the rules (``cases.speaking``): the reason in plain words, and a
  button that discards them (their files leave the workstation; the journal keeps ids).
- :class:`IndexingProgress`: the store tells how far it is in opening new documents (the first
  start after an upgrade indexes the whole archive, a few dozen at a time), from the worker
  thread; the workspace shows "Indexation : 412 documents sur 1 200…" while the list fills.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QPushButton, QWidget

from app.i18n import _
from app.messages import reason
from app.session import Session
from app.tasks import BoundRunner
from cases.profile import UnlockedIdentity
from cases.threads import CaseThread, Unreadable

INGEST_CHUNK = 40
"""Documents opened by one refresh at most: the list shows what is indexed so far, and the
next refresh goes on at once."""

SHOWN_FROM = 20
"""Indexing progress is announced from this many new documents (an ordinary arrival is not)."""


class SetAsideBar(QWidget):
    """Documents set aside and not discarded: what happened, and a way to discard them."""

    def __init__(self, discard: Callable[[list[str]], None], parent: QWidget | None = None):
        super().__init__(parent)
        self._discard = discard
        self._ids: list[str] = []
        self.items: list[Unreadable] = []
        self._told: set[str] = set()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setStyleSheet("color: #8a1c1c;")
        self.button = QPushButton(_("Écarter"))
        self.button.setToolTip(
            _("Écarter ces documents : ils sont retirés de ce poste (le journal garde leur trace)")
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        self.button.clicked.connect(lambda: self._discard(list(self._ids)))
        self.setVisible(False)

    def set_items(self, unreadable: list[Unreadable]) -> bool:
        """Show ``unreadable``; returns whether one of them was not told before."""
        self.items = list(unreadable)
        self._ids = [u.bundle_id for u in unreadable]
        self.setVisible(bool(unreadable))
        if not unreadable:
            return False
        latest = unreadable[-1]
        if len(unreadable) == 1:
            text = _("Un document reçu a été mis de côté : {why}").format(why=reason(latest.code))
        else:
            text = _("{n} documents reçus ont été mis de côté ; le dernier : {why}").format(
                n=len(unreadable), why=reason(latest.code)
            )
        self.label.setText(text)
        new = set(self._ids) - self._told
        self._told |= new
        return bool(new)


class IndexingProgress(QObject):
    """Carries the store's progress from the worker thread to the GUI thread.

    ``report`` is handed to ``Workstation.threads``; ``changed(done, total)`` then says how
    many documents of those found new at the first call of this indexing are opened."""

    changed = Signal(int, int)
    _reported = Signal(int, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._first_total = 0
        self.remaining = 0
        self._reported.connect(self._on_report)

    def report(self, done: int, total: int) -> None:
        """On the worker thread: ``done`` of ``total`` new documents opened by this call."""
        self._reported.emit(done, total)

    def _on_report(self, done: int, total: int) -> None:
        if self.remaining == 0:  # a new indexing starts
            self._first_total = total
        self._first_total = max(self._first_total, total)
        self.remaining = total - done
        if self._first_total >= SHOWN_FROM:
            self.changed.emit(self._first_total - self.remaining, self._first_total)

    def text(self, done: int, total: int) -> str:
        return _("Indexation : {done} documents sur {total}…").format(done=done, total=total)


class StoreFeedback(QObject):
    """A workspace's link with its person's case store: the listing work (run on the pool,
    a chunk of new documents at a time), then, on the GUI thread, the set-aside bar, the
    indexing progress on the notice line, and the next chunk's refresh."""

    def __init__(
        self,
        session: Session,
        me: UnlockedIdentity,
        runner: BoundRunner,
        notice: QLabel,
        refresh: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session, self.me, self.runner = session, me, runner
        self.notice, self.refresh = notice, refresh
        self.bar = SetAsideBar(self.discard)
        self.progress = IndexingProgress(self)
        self._told = ""  # the progress line last shown
        self.progress.changed.connect(self._tell)
        self._listing = False  # a listing is on the pool
        self._again = False  # another was asked for meanwhile

    def list_then(
        self,
        show: Callable[[tuple[list[CaseThread], list[Unreadable]]], None],
        error: Callable[[BaseException], None],
    ) -> None:
        """Lists on the pool, then ``show(result)`` here; one listing at a time.

        A listing asked for while one runs is run once that one is shown: two listings on
        the pool at once could end in the wrong order, the older shown last, and the list
        would miss what the newer found (a request just sent stayed out of the doctor's list
        until the next event). Several asked for meanwhile make one.
        """
        if self._listing:
            self._again = True
            return
        self._listing = True

        def finish() -> None:
            self._listing = False
            if self._again:
                self._again = False
                self.list_then(show, error)

        def done(result: tuple[list[CaseThread], list[Unreadable]]) -> None:
            try:
                show(result)
            finally:
                finish()

        def failed(exc: BaseException) -> None:
            try:
                error(exc)
            finally:
                finish()

        self.runner.run(self.listing, done, failed)

    def _tell(self, done: int, total: int) -> None:
        self._told = self.progress.text(done, total)
        self.notice.setText(self._told)

    def listing(self) -> tuple[list[CaseThread], list[Unreadable]]:
        """On the worker thread: the person's threads, after opening a chunk of new ones."""
        return self.session.workstation.threads(self.me, self.progress.report, INGEST_CHUNK)

    def shown(self, unreadable: list[Unreadable]) -> None:
        """After a listing was shown: the bar says what was set aside (the window asks for
        attention when something new was); indexing goes on."""
        if self.bar.set_items(unreadable):
            window = self.bar.window()
            if window is not None:
                QApplication.alert(window)
        if self.progress.remaining > 0:
            QTimer.singleShot(0, self.refresh)
        elif self._told and self.notice.text() == self._told:
            self.notice.clear()  # indexing is over: its line goes

    def discard(self, bundle_ids: list[str]) -> None:
        def failed(exc: BaseException) -> None:
            self.notice.setText(reason(getattr(exc, "code", "unreadable")))

        self.runner.run(
            lambda: self.session.workstation.discard(self.me, bundle_ids),
            lambda _count: self.refresh(),
            failed,
        )
