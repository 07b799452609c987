"""Core events → Qt signals.

The outbox sender and the inbox fetcher are plain threads that call their subscribers from
their own thread. :class:`CoreBridge` re-emits those calls as signals; Qt queues them to the
GUI thread, where the widgets' slots run.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal


class CoreBridge(QObject):
    """Signals:
    job_changed(Job): an outbox job changed state or progress.
    inbox_received(InboxItem): a bundle arrived in this workstation's inbox.
    status_changed(object): the platform connection status changed.
    """

    job_changed = Signal(object)
    inbox_received = Signal(object)
    status_changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: list[Callable[[], None]] = []

    def keep(self, unsubscribe: Callable[[], None]) -> None:
        """Remember a core subscription so :meth:`detach` can undo it."""
        self._unsubscribe.append(unsubscribe)

    def detach(self) -> None:
        for undo in self._unsubscribe:
            undo()
        self._unsubscribe.clear()
