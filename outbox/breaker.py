"""A circuit breaker per platform: when the platform is down, one probe at a time, paced.

Without it, twenty queued jobs each retrying on their own backoff make twenty connection
attempts per backoff window against a platform that is down. The breaker counts *connection*
failures in a row (no HTTP answer at all); after ``threshold`` of them it opens: no attempt goes
out, except one probe at a time, each after a growing, jittered pause. The first attempt that
gets any HTTP answer closes it and the queue flows again. Thread-safe and clock-injectable.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable

__all__ = ["BreakerState", "CircuitBreaker"]

log = logging.getLogger(__name__)


class BreakerState(enum.StrEnum):
    """``closed``: attempts flow; ``open``: waiting before the next probe; ``probing``: one
    probe is out."""

    CLOSED = "closed"
    OPEN = "open"
    PROBING = "probing"


class CircuitBreaker:
    """Counts connection failures and paces attempts while the platform is unreachable."""

    def __init__(
        self,
        *,
        threshold: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        """Creates a closed breaker.

        Args:
            threshold: Connection failures in a row that open it.
            base_delay: Pause before the first probe; it doubles after each failed probe.
            max_delay: The longest pause between two probes.
            clock: Monotonic seconds.
            rng: Random source of the jitter (the pause is drawn in its upper half).
        """
        if threshold < 1 or base_delay <= 0 or max_delay < base_delay:
            raise ValueError("invalid breaker settings")
        self.threshold = threshold
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._lock = threading.Lock()
        self._failures = 0
        self._open_count = 0
        self._probe_at: float | None = None  # None: closed
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The current state."""
        with self._lock:
            if self._probe_at is None:
                return BreakerState.CLOSED
            return BreakerState.PROBING if self._probing else BreakerState.OPEN

    @property
    def consecutive_failures(self) -> int:
        """Connection failures in a row so far."""
        with self._lock:
            return self._failures

    def allow(self) -> bool:
        """Asks to start an attempt; ``True`` means go (and, when open, it is the probe).

        A caller that was allowed must report the outcome with :meth:`success` or
        :meth:`failure`, or give the probe back with :meth:`release`.
        """
        with self._lock:
            if self._probe_at is None:
                return True
            if self._probing or self._clock() < self._probe_at:
                return False
            self._probing = True
            return True

    def wait_time(self) -> float | None:
        """Seconds until a probe may go (0: now), or ``None`` when closed or probing."""
        with self._lock:
            if self._probe_at is None or self._probing:
                return None
            return max(0.0, self._probe_at - self._clock())

    def release(self) -> None:
        """Gives back a probe that did not reach the network (e.g. nothing to send after all)."""
        with self._lock:
            self._probing = False

    def success(self) -> None:
        """An attempt got an HTTP answer: the platform is reachable; closes the breaker."""
        with self._lock:
            if self._probe_at is not None:
                log.info("platform reachable again: circuit closed")
            self._failures = 0
            self._open_count = 0
            self._probe_at = None
            self._probing = False

    def failure(self) -> None:
        """An attempt could not reach the platform (no HTTP answer at all)."""
        with self._lock:
            self._failures += 1
            if self._probe_at is None and self._failures < self.threshold:
                return
            if self._probe_at is None:
                log.warning("%d connection failures in a row: circuit open", self._failures)
            self._open_count += 1
            ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(self._open_count - 1, 32))
            pause = ceiling / 2 + self._rng.uniform(0.0, ceiling / 2)
            self._probe_at = self._clock() + pause
            self._probing = False
