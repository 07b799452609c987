"""Run blocking work off the GUI thread and hand the result back on it.

Crypto, disk and network calls go through :class:`TaskRunner`. The callbacks run on the GUI
thread; the work function must never touch a widget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from app.handback import hand_back

log = logging.getLogger(__name__)


class TaskRunner(QObject):
    """A small thread pool whose results come back on the GUI thread (app/handback.py).

    Signals:
        busy_changed(int): how many tasks are running, for a busy indicator.
    """

    busy_changed = Signal(int)

    def __init__(self, parent: QObject | None = None, workers: int = 2) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="passavant-task")
        self._running = 0
        self._closed = False

    def run(
        self,
        work: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        *,
        owner: QObject | None = None,
    ) -> None:
        """Run ``work()`` in the pool; then ``on_done(result)`` or ``on_error(exc)`` here.

        When ``owner`` is given and has been destroyed by the time the work ends (a workspace
        closed at logout, say), the result is dropped instead of reaching a dead widget.
        """
        if self._closed:
            return
        self._running += 1
        self.busy_changed.emit(self._running)
        future = self._pool.submit(work)
        callbacks = (on_done, on_error, owner)
        future.add_done_callback(lambda f: hand_back(self, lambda: self._deliver(callbacks, f)))

    def _deliver(self, callbacks: tuple[Any, Any, Any], future: Future[Any]) -> None:
        self._running -= 1
        self.busy_changed.emit(self._running)
        on_done, on_error, owner = callbacks
        if self._closed or (owner is not None and not shiboken6.isValid(owner)):
            return
        exc = future.exception()
        if exc is None:
            if on_done is not None:
                on_done(future.result())
        elif on_error is not None:
            on_error(exc)
        else:
            log.error("background task failed", exc_info=exc)

    def shutdown(self) -> None:
        """Wait for running work to end; later results are dropped."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


class BoundRunner:
    """A :class:`TaskRunner` whose results are dropped once ``owner`` is destroyed."""

    def __init__(self, runner: TaskRunner, owner: QObject) -> None:
        self._runner, self._owner = runner, owner

    def run(
        self,
        work: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._runner.run(work, on_done, on_error, owner=self._owner)


class DedicatedWorker(QObject):
    """Runs work on ``executor`` (a thread of its own, shared by a kind of window: documents,
    clips) and hands the result back on the GUI thread; dropped if this object is gone by
    then (the window was closed).
    """

    def __init__(self, executor: ThreadPoolExecutor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor

    def run(
        self,
        work: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        def job() -> None:
            value: Any = None
            error: BaseException | None = None
            try:
                value = work()
            except Exception as exc:  # noqa: BLE001 - handed to on_error, on the GUI thread
                error = exc
            hand_back(self, lambda: self._deliver((on_done, on_error), value, error))

        self._executor.submit(job)

    def _deliver(self, callbacks: tuple[Any, Any], value: Any, error: Any) -> None:
        on_done, on_error = callbacks
        if error is None:
            on_done(value)
        elif on_error is not None:
            on_error(error)
