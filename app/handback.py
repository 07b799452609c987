"""Handing a worker thread's result back to a widget, on the GUI thread, safely.

A worker thread must not emit a widget's own signal: the widget may be deleted on the GUI
thread at that very moment, and emitting on a QObject being destroyed by another thread
crashes the process (a segmentation fault was seen in the photo strip's thumbnail worker
while a test closed its window; ``contextlib.suppress(RuntimeError)`` cannot catch that
race, only the case where the deletion is already complete).

Instead the worker calls :func:`hand_back` with the widget, the method to call and its
arguments. One relay object, created once for the whole application and never deleted,
carries the call to the GUI thread, where the widget is checked to still exist before its
method runs. Widgets are deleted only on the GUI thread, so that check cannot race.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot


class _Relay(QObject):
    """Lives on the GUI thread for the whole run; never deleted."""

    parcel = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.parcel.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _deliver(self, parcel: tuple[QObject, Callable[..., Any], tuple[Any, ...], Any]) -> None:
        receiver, method, args, dropped = parcel
        if shiboken6.isValid(receiver):
            method(*args)
        elif dropped is not None:
            dropped()


_relay: _Relay | None = None
_creating = threading.Lock()


def _the_relay() -> _Relay:
    global _relay
    with _creating:
        if _relay is None:
            relay = _Relay()
            app = QCoreApplication.instance()
            if app is not None and relay.thread() is not app.thread():
                relay.moveToThread(app.thread())  # made on a worker: pushed to the GUI thread
            _relay = relay
        return _relay


def prepare() -> None:
    """Creates the relay now (call it on the GUI thread, e.g. when a widget that hands work
    out is built), so that the first worker never has to."""
    _the_relay()


def hand_back(
    receiver: QObject,
    method: Callable[..., Any],
    *args: Any,
    dropped: Callable[[], Any] | None = None,
) -> None:
    """From any thread: ``method(*args)`` on the GUI thread, if ``receiver`` (the widget
    ``method`` belongs to) still exists then; else nothing.

    Pass a plain function or lambda that touches the widget only when it runs (``lambda:
    self._show(result)``), not ``self.some_signal.emit``: reading a widget's signal or
    attribute on the worker thread is itself a touch of the widget.

    ``dropped``, if given, runs instead (on the GUI thread) when the widget is gone: to
    release what the result holds (an open document, say)."""
    _the_relay().parcel.emit((receiver, method, args, dropped))
