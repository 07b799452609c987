"""Job events: immutable snapshots with a smoothed rate and time left, throttled per job.

:class:`JobEvents` is the outbox's publisher. Every state change is published at once; progress
of an upload is published at most once per ``progress_interval`` per job (and always for the
last byte), so a fast link never floods a UI. Callbacks run on the thread that made the change
(a sender slot, or whatever thread called an operator action): a Qt bridge must re-emit them
through a signal. Qt-free.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from outbox.jobs import Job, JobSnapshot, JobState
from outbox.worker import Subscribers

__all__ = ["DEFAULT_PROGRESS_INTERVAL", "JobEvents", "JobSnapshot", "RateMeter"]

#: At most ten progress snapshots per second and per job.
DEFAULT_PROGRESS_INTERVAL = 0.1
#: Time constant of the rate's exponential smoothing, in seconds.
RATE_TIME_CONSTANT = 2.0


class RateMeter:
    """Per-job upload rates, smoothed exponentially over :data:`RATE_TIME_CONSTANT` seconds."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        """Creates an empty meter.

        Args:
            monotonic: The clock measuring intervals (tests pass a fake one).
        """
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int, float]] = {}  # id -> (time, bytes, rate)

    def update(self, bundle_id: str, bytes_sent: int) -> float:
        """Records that ``bytes_sent`` bytes are through now; returns the smoothed rate."""
        now = self._monotonic()
        with self._lock:
            last = self._last.get(bundle_id)
            if last is None or bytes_sent < last[1]:
                self._last[bundle_id] = (now, bytes_sent, 0.0)
                return 0.0
            elapsed = now - last[0]
            if elapsed <= 0:
                return last[2]
            instant = (bytes_sent - last[1]) / elapsed
            if last[2] == 0.0:
                rate = instant
            else:
                weight = 1.0 - math.exp(-elapsed / RATE_TIME_CONSTANT)
                rate = last[2] + weight * (instant - last[2])
            self._last[bundle_id] = (now, bytes_sent, rate)
            return rate

    def rate(self, bundle_id: str) -> float:
        """Returns the last smoothed rate of a job (0 if unknown)."""
        with self._lock:
            last = self._last.get(bundle_id)
        return 0.0 if last is None else last[2]

    def forget(self, bundle_id: str) -> None:
        """Drops a job's history (its upload stopped: the next one starts afresh)."""
        with self._lock:
            self._last.pop(bundle_id, None)


class JobEvents:
    """Publishes :class:`JobSnapshot` s to subscribers; thread-safe."""

    def __init__(
        self,
        *,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Creates the publisher.

        Args:
            progress_interval: Minimum seconds between two progress snapshots of one job.
            monotonic: The clock for throttling and rates.
        """
        self.progress_interval = progress_interval
        self.meter = RateMeter(monotonic)
        self._monotonic = monotonic
        self._subscribers: Subscribers[JobSnapshot] = Subscribers()
        self._lock = threading.Lock()
        self._published: dict[str, tuple[float, JobState]] = {}

    def subscribe(self, callback: Callable[[JobSnapshot], None]) -> Callable[[], None]:
        """Registers ``callback``; returns the function that unregisters it."""
        return self._subscribers.add(callback)

    def snapshot(self, job: Job) -> JobSnapshot:
        """Returns ``job`` with its current rate and time left."""
        return JobSnapshot.of(job, self.meter.rate(job.bundle_id))

    def progress(self, job: Job, min_interval: float | None = None) -> bool:
        """Records progress and publishes it unless the job published too recently.

        Args:
            job: The job after its progress was recorded.
            min_interval: Overrides :attr:`progress_interval`.

        Returns:
            Whether a snapshot was published.
        """
        rate = self.meter.update(job.bundle_id, job.bytes_sent)
        interval = self.progress_interval if min_interval is None else min_interval
        now = self._monotonic()
        with self._lock:
            last = self._published.get(job.bundle_id)
            due = (
                last is None
                or last[1] is not job.state
                or job.bytes_sent >= job.size
                or now - last[0] >= interval
            )
            if due:
                self._published[job.bundle_id] = (now, job.state)
        if due:
            self._subscribers.publish(JobSnapshot.of(job, rate))
        return due

    def changed(self, job: Job) -> None:
        """Publishes a state change (never throttled)."""
        sending = job.state is JobState.SENDING
        if not sending:
            self.meter.forget(job.bundle_id)
        with self._lock:
            if sending:
                self._published[job.bundle_id] = (self._monotonic(), job.state)
            else:
                self._published.pop(job.bundle_id, None)
        self._subscribers.publish(self.snapshot(job))
