"""A background thread that sleeps on an event, with subscribers for what it publishes.

Both the sender and the inbox fetcher are built on it. Callbacks run on the worker thread: a Qt
bridge must re-emit them through a signal. A callback that raises is logged and skipped; it never
stops the worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

WaitFn = Callable[[threading.Event, float], object]
"""How the worker waits: ``wait(event, seconds)`` returns early once ``event`` is set."""


def event_wait(event: threading.Event, seconds: float) -> bool:
    """The default wait: ``event.wait(seconds)``."""
    return event.wait(seconds)


class Subscribers(Generic[T]):
    """A thread-safe list of callbacks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[T], None]] = []

    def add(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Registers ``callback``; returns a function that unregisters it."""
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def publish(self, value: T) -> None:
        """Calls every callback with ``value``; one that raises does not stop the others."""
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(value)
            except Exception:
                log.exception("subscriber %r raised", callback)


class Worker:
    """A restartable-once thread running :meth:`step` until stopped.

    Subclasses implement :meth:`step`, which does one round of work and returns how long to
    sleep before the next (``None``: until woken or :attr:`idle_interval`).
    """

    idle_interval = 60.0

    def __init__(self, name: str, *, wait: WaitFn = event_wait) -> None:
        """Prepares the thread (not started).

        Args:
            name: The thread's name, for logs and debuggers.
            wait: How to sleep; tests pass one that advances a fake clock.
        """
        self._name = name
        self._wait = wait
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called: long work should end at the next safe point."""
        return self._stopping.is_set()

    def is_alive(self) -> bool:
        """Whether the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Starts the thread.

        Raises:
            RuntimeError: If it was already started.
        """
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Ends the current sleep so work is looked for now."""
        self._wake.set()

    def stop(self, timeout: float = 60.0) -> bool:
        """Asks the thread to finish and joins it.

        A request in flight ends within the platform timeouts; the thread stops at the next safe
        point (between two chunks).

        Called on the worker thread itself (from a subscriber), it only asks and returns.

        Args:
            timeout: Seconds to wait for the thread.

        Returns:
            ``True`` if no thread is left running.
        """
        self._stopping.set()
        self._wake.set()
        if self._thread is threading.current_thread():
            return False
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("%s did not stop within %.1f s", self._name, timeout)
                return False
        return True

    def step(self) -> float | None:
        """Does one round of work; returns seconds to sleep (``None``: idle)."""
        raise NotImplementedError

    def round(self) -> float | None:
        """What the thread runs in a loop; :meth:`step` unless a subclass schedules otherwise."""
        return self.step()

    def _run(self) -> None:
        log.debug("%s started", self._name)
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                delay = self.round()
            except Exception:
                log.exception("%s: unexpected error", self._name)
                delay = self.idle_interval
            if self._stopping.is_set():
                break
            seconds = self.idle_interval if delay is None else min(delay, self.idle_interval)
            if seconds > 0:
                self._wait(self._wake, seconds)
        log.debug("%s stopped", self._name)
