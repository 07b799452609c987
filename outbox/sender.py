"""The sender: a scheduler thread and a bounded number of upload slots pushing jobs with tus.

The scheduler thread hands due jobs (urgent first, then in queue order) to at most ``parallel``
upload slots (two by default), each a thread with its own platform client. A job that fails
only delays itself: the others keep flowing. A per-platform :class:`~outbox.breaker.
CircuitBreaker` stops a retry storm when the platform is unreachable: one probe at a time.

For each job: if no upload is recorded, ask the platform whether it already accepted the bundle
(a crash after the last byte must not send it twice), then create the upload (the bundle id is
its identity, in ``Upload-Metadata``) and record its URL at once; otherwise ``HEAD`` the upload
and resume at the platform's offset. Chunks are read from the spool file one at a time, sized by
a :class:`~outbox.chunks.ChunkSizer`, and sent back to back. Protocol answers are handled in
place: 409/423 → ``HEAD`` and resume; 404/410 (upload expired or removed) → a new upload from
zero; 413 → a smaller chunk; 460 (SHA-256 mismatch) → resent from zero once, quarantined if it
happens again. The job counts as delivered only when the platform says "accepted". Any other
retryable failure schedules another attempt (after the platform's ``Retry-After`` or a jittered
backoff); a failure that needs a human quarantines the job.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from outbox import backoff, spool
from outbox.breaker import CircuitBreaker
from outbox.chunks import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, ChunkSizer
from outbox.errors import ErrorCode, OutboxError
from outbox.events import JobSnapshot
from outbox.jobs import Job, JobState
from outbox.platform import PlatformClient
from outbox.queue import Outbox
from outbox.worker import WaitFn, Worker, event_wait

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_PARALLEL", "Sender"]

log = logging.getLogger(__name__)

DEFAULT_PARALLEL = 2
#: Failures that mean the platform could not be reached at all.
CONNECTION_CODES = frozenset(
    {ErrorCode.NETWORK_UNREACHABLE.value, ErrorCode.TIMEOUT.value, ErrorCode.PROXY_ERROR.value}
)
_MAX_CONFLICTS = 3
_MAX_NEW_UPLOADS = 3  # uploads created within one attempt (expired, checksum resend)


class Sender(Worker):
    """Sends the outbox's due jobs from background threads.

    Snapshots go to the outbox's subscribers (:meth:`subscribe` is a shortcut): every state
    change, and progress at most every ``progress_interval`` seconds per job.
    """

    idle_interval = 5.0  # also picks up changes made by another process (the command line)

    def __init__(
        self,
        outbox: Outbox,
        client: PlatformClient,
        *,
        parallel: int = DEFAULT_PARALLEL,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        min_chunk_size: int | None = None,
        max_chunk_size: int | None = None,
        retry_delay: Callable[[int], float] = backoff.retry_delay,
        progress_interval: float | None = None,
        breaker: CircuitBreaker | None = None,
        client_factory: Callable[[], PlatformClient] | None = None,
        wait: WaitFn = event_wait,
    ) -> None:
        """Prepares the sender (call :meth:`start`).

        Args:
            outbox: The queue to drain.
            client: The platform client of the first upload slot (owned by the caller, who
                closes it after :meth:`stop`).
            parallel: How many uploads may run at once.
            chunk_size: The first chunk size (adaptive afterwards).
            min_chunk_size: The smallest chunk (default 64 KiB, or ``chunk_size`` if smaller).
            max_chunk_size: The largest chunk (default 8 MiB, or ``chunk_size`` if larger).
            retry_delay: Seconds to wait after the n-th failure in a row (when the platform
                gave no ``Retry-After``).
            progress_interval: Minimum seconds between two progress snapshots of one job
                (default: the outbox's).
            breaker: The platform's circuit breaker (a new one by default).
            client_factory: Makes the clients of the other slots (default: a new
                :class:`PlatformClient` on ``client``'s configuration); the sender closes them.
            wait: How to sleep (tests pass one driving a fake clock).

        Raises:
            ValueError: If ``parallel`` or a chunk size is not positive.
        """
        if parallel < 1:
            raise ValueError("parallel must be at least 1")
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        super().__init__("outbox-sender", wait=wait)
        self._outbox = outbox
        self._parallel = parallel
        if min_chunk_size is None:
            min_chunk_size = min(MIN_CHUNK_SIZE, chunk_size)
        if max_chunk_size is None:
            max_chunk_size = max(MAX_CHUNK_SIZE, chunk_size)
        self._sizer = ChunkSizer(chunk_size, minimum=min_chunk_size, maximum=max_chunk_size)
        self._retry_delay = retry_delay
        self._progress_interval = progress_interval
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        factory = client_factory or (lambda: PlatformClient(client.config))
        self._owned = [factory() for _slot in range(parallel - 1)]
        self._clients: queue.SimpleQueue[PlatformClient] = queue.SimpleQueue()
        for each in (client, *self._owned):
            self._clients.put(each)
        self._lock = threading.Lock()
        self._slots: dict[str, threading.Thread] = {}
        self._termination_failed: set[str] = set()

    @property
    def chunk_size(self) -> int:
        """The size of the next chunk (adaptive)."""
        return self._sizer.size

    def subscribe(self, callback: Callable[[JobSnapshot], None]) -> Callable[[], None]:
        """Registers ``callback`` for job snapshots (see :meth:`Outbox.subscribe`)."""
        return self._outbox.subscribe(callback)

    def is_alive(self) -> bool:
        """Whether the scheduler thread or an upload slot still runs."""
        with self._lock:
            slots = list(self._slots.values())
        return super().is_alive() or any(t.is_alive() for t in slots)

    def stop(self, timeout: float = 60.0) -> bool:
        """Asks the scheduler and the slots to finish, and joins them.

        Uploads stop at their next chunk boundary (a request in flight ends within the platform
        timeouts) and go back in line. Called from a subscriber (a sender thread), it only asks.

        Returns:
            ``True`` if no sender thread is left running.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            self._stopping.set()  # no slot starts from now on
            from_a_slot = threading.current_thread() in self._slots.values()
        if from_a_slot:
            self._wake.set()
            return False
        stopped = super().stop(timeout)
        while True:
            with self._lock:
                left = [t for t in self._slots.values() if t.is_alive()]
            if not left or time.monotonic() >= deadline:
                break
            for thread in left:
                thread.join(max(0.0, deadline - time.monotonic()))
        if left:
            log.error("%d upload slot(s) did not stop in time", len(left))
            return False
        for client in self._owned:
            client.close()
        return stopped

    # Scheduling.

    def step(self) -> float | None:
        """Runs one attempt of the first due job on the calling thread; returns the sleep time.

        For tests and benchmarks driving a sender that was not started.
        """
        client = self._clients.get()
        try:
            self._terminate_cancelled(client)
        finally:
            self._clients.put(client)
        now = self._outbox.clock()
        due = self._outbox.due_jobs(now, limit=1)
        if due and self.breaker.allow():
            job = self._outbox.claim(due[0].bundle_id)
            if job is None:
                self.breaker.release()
                return 0.0
            client = self._clients.get()
            try:
                self._send(job, client)
            finally:
                self._clients.put(client)
            return 0.0
        return self._sleep_time(now)

    def round(self) -> float | None:
        """One scheduling round of the thread: fills the free slots with due jobs."""
        self._terminate_in_passing()
        if self.stopping:
            return None
        now = self._outbox.clock()
        with self._lock:
            busy = set(self._slots)
        free = self._parallel - len(busy)
        if free <= 0:
            return None  # a slot that finishes wakes the scheduler
        for job in self._outbox.due_jobs(now, limit=free + len(busy)):
            if free <= 0:
                break
            if job.bundle_id in busy:
                continue
            if not self.breaker.allow():
                break
            claimed = self._outbox.claim(job.bundle_id)
            if claimed is None:
                self.breaker.release()
                continue
            self._start_slot(claimed)
            free -= 1
        if free <= 0:
            return None
        return self._sleep_time(now)

    def _sleep_time(self, now: float) -> float | None:
        next_due = self._outbox.next_due_at()
        if next_due is None:
            return None
        delay = next_due - now
        if delay > 0:
            return delay
        # Due jobs are waiting: for the breaker's next probe, or for a slot to finish.
        probe = self.breaker.wait_time()
        return None if probe is None else max(probe, 0.01)

    def _start_slot(self, job: Job) -> None:
        thread = threading.Thread(
            target=self._run_slot, args=(job,), name="outbox-upload", daemon=True
        )
        with self._lock:
            if self.stopping:  # stop() came in meanwhile: leave the job for the next start
                self._outbox.release(job.bundle_id)
                self.breaker.release()
                return
            self._slots[job.bundle_id] = thread
            thread.start()

    def _run_slot(self, job: Job) -> None:
        client = self._clients.get()
        try:
            self._send(job, client)
        except Exception:
            log.exception("upload slot: unexpected error")
        finally:
            self._clients.put(client)
            with self._lock:
                self._slots.pop(job.bundle_id, None)
            self.wake()

    def _terminate_in_passing(self) -> None:
        """Terminates cancelled uploads with a free client, if one is free and the platform up."""
        if self.breaker.wait_time() is not None:
            return
        try:
            client = self._clients.get_nowait()
        except queue.Empty:
            return
        try:
            self._terminate_cancelled(client)
        finally:
            self._clients.put(client)

    def _terminate_cancelled(self, client: PlatformClient) -> None:
        for job in self._outbox.cancelled_uploads():
            if job.bundle_id in self._termination_failed or job.upload_url is None:
                continue
            try:
                client.terminate(job.upload_url)
            except OutboxError as err:
                log.info("could not terminate upload of %s: %s", job.bundle_id, err.code)
                if err.retryable and err.code != ErrorCode.UPLOAD_EXPIRED:
                    # Try again after the next start; the platform expires it meanwhile.
                    self._termination_failed.add(job.bundle_id)
                    continue
            spool.remove_file(self._outbox.spool_path(job.bundle_id))
            self._outbox.set_upload_url(job.bundle_id, None)

    # One attempt.

    def _send(self, job: Job, client: PlatformClient) -> Job:
        """Runs one attempt of a claimed job; records its outcome and the breaker's."""
        answers = client.answers
        error: OutboxError | None = None
        try:
            job = self._upload(job, client)
        except OutboxError as err:
            error = err
        except OSError as exc:
            error = OutboxError(ErrorCode.DISK_ERROR, f"cannot read spool file (errno {exc.errno})")
        except Exception as exc:
            # A bug must not leave the job in "sending" until the next start: retry it later.
            log.exception("bundle %s: unexpected error", job.bundle_id)
            error = OutboxError(ErrorCode.SERVER_ERROR, f"internal error ({type(exc).__name__})")
        if client.answers > answers:
            self.breaker.success()
        elif error is not None and error.code in CONNECTION_CODES:
            self.breaker.failure()
        else:
            self.breaker.release()
        if error is not None:
            job = self._fail(job.bundle_id, error)
        return job

    def _fail(self, bundle_id: str, err: OutboxError) -> Job:
        log.warning("bundle %s not sent: %s (%s)", bundle_id, err.code, err.detail)
        if err.code == ErrorCode.UPLOAD_EXPIRED:
            # The platform dropped (or never had) this upload: start a new one next time.
            self._outbox.set_upload_url(bundle_id, None)
        if err.retryable:
            return self._outbox.mark_retry(bundle_id, err, self._retry_delay)
        return self._outbox.mark_failed(bundle_id, err)

    def _accepted(self, client: PlatformClient, bundle_id: str) -> bool:
        record = client.delivery(bundle_id)
        return record is not None and record.get("state") == "accepted"

    def _resume_point(self, job: Job, client: PlatformClient) -> tuple[Job, str | None, int]:
        """Asks the platform how much of the recorded upload it holds (``None``: start anew)."""
        url = job.upload_url
        if url is None:
            return job, None, 0
        try:
            offset = client.head(url)
        except OutboxError as err:
            if err.code != ErrorCode.UPLOAD_EXPIRED:
                raise
            log.info("upload of %s is gone (%s); checking delivery", job.bundle_id, err.detail)
            return self._outbox.set_upload_url(job.bundle_id, None), None, 0
        if offset > job.size:
            log.warning("platform holds more bytes than bundle %s; starting anew", job.bundle_id)
            return self._outbox.set_upload_url(job.bundle_id, None), None, 0
        return job, url, offset

    def _upload(self, job: Job, client: PlatformClient) -> Job:
        path = self._outbox.spool_path(job.bundle_id)
        job, url, offset = self._resume_point(job, client)
        created = 0
        while True:
            if url is None:
                if self._accepted(client, job.bundle_id):
                    log.info("bundle %s was already accepted", job.bundle_id)
                    return self._outbox.mark_delivered(job.bundle_id)
                if created >= _MAX_NEW_UPLOADS:
                    raise OutboxError(ErrorCode.SERVER_ERROR, "uploads keep vanishing")
                self._check_spool(job, path)
                metadata = {
                    "bundle_id": job.bundle_id,
                    "recipient": job.recipient_id,
                    "sha256": job.sha256,
                    "kind": job.kind,
                }
                url, offset = client.create(job.size, metadata), 0
                created += 1
                job = self._outbox.set_upload_url(job.bundle_id, url)
                log.info("bundle %s: upload created", job.bundle_id)
            elif offset != job.bytes_sent:
                log.info("bundle %s: resuming at %d of %d bytes", job.bundle_id, offset, job.size)
                job = self._outbox.record_progress(job.bundle_id, offset)
            try:
                job = self._push(job, client, url, offset, path)
            except OutboxError as err:
                if err.code == ErrorCode.UPLOAD_EXPIRED:
                    log.info("bundle %s: upload gone (%s); anew", job.bundle_id, err.detail)
                    job, url = self._outbox.set_upload_url(job.bundle_id, None), None
                    continue
                if err.code == ErrorCode.CHECKSUM_MISMATCH:
                    if self._outbox.record_checksum_failure(job.bundle_id) >= 2:
                        detail = f"{err.detail}; refused again after a resend from zero"
                        raise OutboxError(
                            ErrorCode.CHECKSUM_MISMATCH, detail, retryable=False, status=err.status
                        ) from err
                    log.warning("bundle %s: checksum refused; resending from zero", job.bundle_id)
                    refreshed = self._outbox.get(job.bundle_id)
                    job, url = (refreshed or job), None
                    continue
                raise
            break
        if job.state is not JobState.SENDING or job.bytes_sent < job.size:
            return job  # paused, cancelled or stopping between two chunks
        if self._accepted(client, job.bundle_id):
            log.info("bundle %s delivered", job.bundle_id)
            return self._outbox.mark_delivered(job.bundle_id)
        raise OutboxError(ErrorCode.SERVER_ERROR, "upload complete but not accepted yet")

    def _check_spool(self, job: Job, path: Path) -> None:
        if not path.exists():
            raise OutboxError(ErrorCode.DISK_ERROR, "spool file missing")
        if path.stat().st_size != job.size or spool.sha256_file(path) != job.sha256:
            raise OutboxError(ErrorCode.DISK_ERROR, "spool file damaged")

    def _push(self, job: Job, client: PlatformClient, url: str, offset: int, path: Path) -> Job:
        """PATCHes chunks from ``offset``; stops early if paused, cancelled or stopping."""
        conflicts = 0
        with path.open("rb") as src:
            while offset < job.size:
                current = self._outbox.get(job.bundle_id)
                if current is None or current.state is not JobState.SENDING:
                    return current or job
                if self.stopping or self._outbox.all_paused:
                    return self._outbox.release(job.bundle_id)
                src.seek(offset)
                chunk = src.read(min(self._sizer.size, job.size - offset))
                if not chunk:
                    raise OutboxError(ErrorCode.DISK_ERROR, "spool file shorter than the job")
                try:
                    new_offset = client.patch(url, offset, chunk)
                except OutboxError as err:
                    if err.status in (409, 423) and conflicts < _MAX_CONFLICTS:
                        conflicts += 1
                        if err.status == 423:  # another request still holds it: let it end
                            self._wait(self._wake, 0.25 * conflicts)
                        new_offset = client.head(url)
                        log.info("bundle %s: %s, at %d", job.bundle_id, err.detail, new_offset)
                    elif err.status == 413:
                        smaller = self._sizer.too_large(len(chunk))
                        if smaller is None:
                            raise OutboxError(
                                ErrorCode.TOO_LARGE,
                                f"{err.detail}; even {len(chunk)}-byte chunks are refused",
                                status=413,
                            ) from err
                        log.info("bundle %s: chunk too large, now %d bytes", job.bundle_id, smaller)
                        new_offset = client.head(url)
                    else:
                        if err.code in CONNECTION_CODES:
                            self._sizer.failure()
                        raise
                else:
                    if new_offset <= offset:
                        raise OutboxError(ErrorCode.SERVER_ERROR, "platform offset did not advance")
                    self._sizer.success()
                if new_offset > job.size:
                    raise OutboxError(ErrorCode.UPLOAD_EXPIRED, "platform holds too many bytes")
                offset = new_offset
                job = self._outbox.record_progress(job.bundle_id, offset)
                self._outbox.events.progress(job, self._progress_interval)
        return job
