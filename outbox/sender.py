"""The sender thread: takes due jobs one at a time and pushes them to the platform with tus.

For each job: if no upload is recorded, ask the platform whether it already accepted the bundle
(a crash after the last byte must not send it twice), then create the upload and record its URL
at once; otherwise HEAD the upload and resume at the platform's offset. Chunks are read from the
spool file one at a time. The job counts as delivered only when the platform says "accepted".
A retryable failure schedules another attempt with backoff; any other quarantines the job and
the queue moves on to the next one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from outbox import backoff, spool
from outbox.errors import ErrorCode, OutboxError
from outbox.jobs import Job, JobState
from outbox.platform import PlatformClient
from outbox.queue import Outbox
from outbox.worker import Subscribers, WaitFn, Worker, event_wait

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 1024 * 1024
_MAX_OFFSET_CONFLICTS = 3


class Sender(Worker):
    """Sends the outbox's due jobs in a background thread and publishes job snapshots.

    The clock is the outbox's. Subscribers are called on the sender thread with a :class:`Job`
    on every state change it makes and on progress (at most every ``progress_interval`` seconds,
    and always for the last chunk). Operator actions return their own snapshot to the caller.
    """

    def __init__(
        self,
        outbox: Outbox,
        client: PlatformClient,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        retry_delay: Callable[[int], float] = backoff.retry_delay,
        progress_interval: float = 0.1,
        wait: WaitFn = event_wait,
    ) -> None:
        """Prepares the sender (call :meth:`start`).

        Args:
            outbox: The queue to drain.
            client: The platform client (owned by the caller, who closes it after :meth:`stop`).
            chunk_size: Bytes per PATCH; keep it under the proxies' body limits.
            retry_delay: Seconds to wait after the n-th failure in a row.
            progress_interval: Minimum seconds between two progress snapshots.
            wait: How to sleep (tests pass one driving a fake clock).
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        super().__init__("outbox-sender", wait=wait)
        self._outbox = outbox
        self._client = client
        self._chunk_size = chunk_size
        self._retry_delay = retry_delay
        self._progress_interval = progress_interval
        self._last_progress = 0.0
        self._subscribers: Subscribers[Job] = Subscribers()
        self._termination_failed: set[str] = set()

    def subscribe(self, callback: Callable[[Job], None]) -> Callable[[], None]:
        """Registers ``callback`` for job snapshots; returns the function that unregisters it."""
        return self._subscribers.add(callback)

    def step(self) -> float | None:
        """Terminates cancelled uploads, then sends the first due job; returns the sleep time."""
        self._terminate_cancelled()
        now = self._outbox.clock()
        due = self._outbox.due_jobs(now)
        if due:
            self._send(due[0])
            return 0.0
        next_due = self._outbox.next_due_at()
        return None if next_due is None else max(0.0, next_due - now)

    def _publish(self, job: Job) -> None:
        self._subscribers.publish(job)

    def _terminate_cancelled(self) -> None:
        for job in self._outbox.cancelled_uploads():
            if job.bundle_id in self._termination_failed or job.upload_url is None:
                continue
            try:
                self._client.terminate(job.upload_url)
            except OutboxError as err:
                log.info("could not terminate upload of %s: %s", job.bundle_id, err.code)
                if err.retryable and err.code != ErrorCode.UPLOAD_EXPIRED:
                    # Try again after the next start; the platform expires it meanwhile.
                    self._termination_failed.add(job.bundle_id)
                    continue
            spool.remove_file(self._outbox.spool_path(job.bundle_id))
            self._publish(self._outbox.set_upload_url(job.bundle_id, None))

    def _send(self, due: Job) -> None:
        job = self._outbox.claim(due.bundle_id)
        if job is None:
            return
        self._publish(job)
        try:
            job = self._upload(job)
        except OutboxError as err:
            job = self._fail(job.bundle_id, err)
        except OSError as exc:
            detail = f"cannot read spool file (errno {exc.errno})"
            job = self._fail(job.bundle_id, OutboxError(ErrorCode.DISK_ERROR, detail))
        except Exception as exc:
            # A bug must not leave the job in "sending" until the next start: retry it later.
            log.exception("bundle %s: unexpected error", job.bundle_id)
            detail = f"internal error ({type(exc).__name__})"
            job = self._fail(job.bundle_id, OutboxError(ErrorCode.SERVER_ERROR, detail))
        self._publish(job)

    def _fail(self, bundle_id: str, err: OutboxError) -> Job:
        log.warning("bundle %s not sent: %s (%s)", bundle_id, err.code, err.detail)
        if err.code in (ErrorCode.UPLOAD_EXPIRED, ErrorCode.CHECKSUM_MISMATCH):
            # The platform dropped (or never had) this upload: start a new one next time.
            self._outbox.set_upload_url(bundle_id, None)
        if err.retryable:
            return self._outbox.mark_retry(bundle_id, err, self._retry_delay)
        return self._outbox.mark_failed(bundle_id, err)

    def _accepted(self, bundle_id: str) -> bool:
        record = self._client.delivery(bundle_id)
        return record is not None and record.get("state") == "accepted"

    def _upload(self, job: Job) -> Job:
        path = self._outbox.spool_path(job.bundle_id)
        url, offset = job.upload_url, 0
        if url is not None:
            try:
                offset = self._client.head(url)
            except OutboxError as err:
                if err.code != ErrorCode.UPLOAD_EXPIRED:
                    raise
                log.info("upload of %s is gone; checking delivery", job.bundle_id)
                url = None
        if url is None:
            if self._accepted(job.bundle_id):
                log.info("bundle %s was already accepted", job.bundle_id)
                return self._outbox.mark_delivered(job.bundle_id)
            self._check_spool(job, path)
            metadata = {
                "bundle_id": job.bundle_id,
                "recipient": job.recipient_id,
                "sha256": job.sha256,
                "kind": job.kind,
            }
            url = self._client.create(job.size, metadata)
            job = self._outbox.set_upload_url(job.bundle_id, url)
            log.info("bundle %s: upload created", job.bundle_id)
        elif offset > job.size:
            raise OutboxError(ErrorCode.UPLOAD_EXPIRED, "platform holds more bytes than the bundle")
        else:
            log.info("bundle %s: resuming at %d of %d bytes", job.bundle_id, offset, job.size)
            job = self._outbox.record_progress(job.bundle_id, offset)
        job = self._push(job, url, offset, path)
        if job.bytes_sent < job.size:  # paused, cancelled or stopping between two chunks
            return job
        if self._accepted(job.bundle_id):
            log.info("bundle %s delivered", job.bundle_id)
            return self._outbox.mark_delivered(job.bundle_id)
        raise OutboxError(ErrorCode.SERVER_ERROR, "upload complete but not accepted yet")

    def _check_spool(self, job: Job, path: Path) -> None:
        if not path.exists():
            raise OutboxError(ErrorCode.DISK_ERROR, "spool file missing")
        if path.stat().st_size != job.size or spool.sha256_file(path) != job.sha256:
            raise OutboxError(ErrorCode.DISK_ERROR, "spool file damaged")

    def _push(self, job: Job, url: str, offset: int, path: Path) -> Job:
        """PATCHes chunks from ``offset``; stops early if paused, cancelled or stopping."""
        conflicts = 0
        with path.open("rb") as src:
            while offset < job.size:
                current = self._outbox.get(job.bundle_id)
                if current is None or current.state is not JobState.SENDING:
                    return current or job
                if self.stopping:
                    return self._outbox.release(job.bundle_id)
                src.seek(offset)
                chunk = src.read(min(self._chunk_size, job.size - offset))
                if not chunk:
                    raise OutboxError(ErrorCode.DISK_ERROR, "spool file shorter than the job")
                try:
                    new_offset = self._client.patch(url, offset, chunk)
                except OutboxError as err:
                    if err.status != 409 or conflicts >= _MAX_OFFSET_CONFLICTS:
                        raise
                    conflicts += 1
                    new_offset = self._client.head(url)
                    log.info("bundle %s: offset conflict, resync at %d", job.bundle_id, new_offset)
                else:
                    if new_offset <= offset:
                        raise OutboxError(ErrorCode.SERVER_ERROR, "platform offset did not advance")
                if new_offset > job.size:
                    raise OutboxError(ErrorCode.UPLOAD_EXPIRED, "platform holds too many bytes")
                offset = new_offset
                job = self._outbox.record_progress(job.bundle_id, offset)
                self._progress(job)
        return job

    def _progress(self, job: Job) -> None:
        now = time.monotonic()
        if job.bytes_sent >= job.size or now - self._last_progress >= self._progress_interval:
            self._last_progress = now
            self._publish(job)
