"""A bound on what the platform's log can grow by: repeated records are counted, not written.

A review saw 536 MB of the same error in 90 s: every failed connection wrote its traceback.
:class:`RepeatBound` is a :class:`logging.Filter` for the log's handlers. Records are keyed by
logger, level and message *template* (the ``%s`` text before its arguments, so an attacker's
varying input does not make new keys). Within each window, the first ``burst`` records of a key
pass; the others are counted, and the next record of that key after the window says how many
were left out. Over all keys, at most ``ceiling`` records pass per window. Each record's text
is cut to ``max_chars`` and its traceback to ``max_traceback`` characters.

So the log grows by at most about ``ceiling * (max_chars + max_traceback)`` bytes per window,
whatever arrives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["RepeatBound", "install_log_bounds"]

_Key = tuple[str, int, str]


@dataclass
class _Tally:
    window_start: float
    passed: int = 0
    dropped: int = 0
    dropped_total: int = field(default=0)


class RepeatBound(logging.Filter):
    """Lets through a bounded number of records per key and per window (thread-safe)."""

    def __init__(
        self,
        *,
        window: float = 60.0,
        burst: int = 5,
        ceiling: int = 300,
        max_chars: int = 1000,
        max_traceback: int = 4000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Sets the bounds.

        Args:
            window: Seconds of one counting window.
            burst: Records of one key written per window.
            ceiling: Records of all keys written per window.
            max_chars: Longest message written (longer ones are cut, marked ``…``).
            max_traceback: Longest traceback written.
            clock: Monotonic seconds (tests pass a fake one).
        """
        super().__init__()
        self.window = window
        self.burst = burst
        self.ceiling = ceiling
        self.max_chars = max_chars
        self.max_traceback = max_traceback
        self.clock = clock
        self._tallies: dict[_Key, _Tally] = {}
        self._lock = threading.Lock()
        self._window_start = clock()
        self._passed = 0
        #: Records left out so far (all keys).
        self.suppressed = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the record is written; shortens it when it is."""
        if getattr(record, "_bounded", False):  # already judged by another handler's filter
            return bool(getattr(record, "_bounded_pass", True))
        now = self.clock()
        key: _Key = (record.name, record.levelno, str(record.msg)[:200])
        with self._lock:
            if now - self._window_start >= self.window:
                self._window_start, self._passed = now, 0
                if len(self._tallies) > 10_000:  # keys are templates, but stay bounded anyway
                    self._tallies.clear()
            tally = self._tallies.get(key)
            if tally is None or now - tally.window_start >= self.window:
                left_out = 0 if tally is None else tally.dropped
                tally = _Tally(window_start=now)
                self._tallies[key] = tally
            else:
                left_out = 0
            allowed = tally.passed < self.burst and self._passed < self.ceiling
            if allowed:
                tally.passed += 1
                self._passed += 1
            else:
                tally.dropped += 1
                self.suppressed += 1
        record._bounded = True
        record._bounded_pass = allowed
        if allowed:
            self._shorten(record, left_out)
        return allowed

    def _shorten(self, record: logging.LogRecord, left_out: int) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not stop the log  # noqa: BLE001
            message = str(record.msg)
        if len(message) > self.max_chars:
            message = message[: self.max_chars] + "…"
        if left_out:
            message += (
                f" ({left_out} similar message(s) left out in the previous {self.window:g} s)"
            )
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and len(record.exc_text) > self.max_traceback:
            record.exc_text = "…" + record.exc_text[-self.max_traceback :]
        record.exc_info = None


def install_log_bounds(
    logger: logging.Logger | None = None, bound: RepeatBound | None = None
) -> RepeatBound:
    """Adds one :class:`RepeatBound` (a default one if none given) to every handler of
    ``logger`` (the root by default).

    Call after the handlers are set up; handlers added later are not covered.
    """
    target = logger or logging.getLogger()
    bound = bound or RepeatBound()
    for handler in target.handlers:
        handler.addFilter(bound)
    return bound
