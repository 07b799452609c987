"""The inbox fetcher thread: polls mailboxes, downloads new bundles, stores, then acknowledges.

The order matters for crashes: the bundle is verified and committed locally before the platform
is told to drop it, so a crash in between only means downloading it again, and the local store
dedups by bundle id. Re-exported by :mod:`outbox.inbox`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from outbox import backoff, spool
from outbox.errors import ErrorCode, OutboxError
from outbox.platform import MailboxItem, PlatformClient
from outbox.worker import Subscribers, WaitFn, Worker, event_wait

if TYPE_CHECKING:
    from outbox.inbox import Inbox, InboxItem

__all__ = ["FetchStatus", "InboxFetcher"]

log = logging.getLogger(__name__)

# Failures that concern one item; the others in the mailbox are still fetched.
_ITEM_ERRORS = (ErrorCode.CHECKSUM_MISMATCH, ErrorCode.DISK_ERROR)


@dataclass(frozen=True)
class FetchStatus:
    """Connectivity as the inbox fetcher last saw it.

    Attributes:
        reachable: Whether the last poll reached every mailbox.
        last_success_at: When a poll last reached every mailbox (clock seconds), if ever.
        last_failure_at: When a poll last failed to (clock seconds), if ever.
        error_code: The last poll's error code (``None`` if it went well). A poll that reached
            the platform can still report an item-level ``checksum_mismatch`` or ``disk_error``.
        error_detail: Its technical detail.
        consecutive_failures: Polls in a row that could not reach the platform.
    """

    reachable: bool = False
    last_success_at: float | None = None
    last_failure_at: float | None = None
    error_code: str | None = None
    error_detail: str | None = None
    consecutive_failures: int = 0


class InboxFetcher(Worker):
    """Polls recipients' mailboxes every ``interval`` seconds (and on :meth:`wake`)."""

    def __init__(
        self,
        inbox: Inbox,
        client: PlatformClient,
        recipient_ids: Iterable[str],
        *,
        interval: float = 60.0,
        retry_delay: Callable[[int], float] = backoff.retry_delay,
        wait: WaitFn = event_wait,
    ) -> None:
        """Prepares the fetcher (call :meth:`start`).

        Args:
            inbox: Where bundles are stored.
            client: The platform client (owned by the caller).
            recipient_ids: The local recipients whose mailboxes to poll.
            interval: Seconds between two polls.
            retry_delay: Seconds before polling again after the n-th failure in a row (never
                more than ``interval``).
            wait: How to sleep (tests pass one driving a fake clock).
        """
        super().__init__("inbox-fetcher", wait=wait)
        self.idle_interval = interval
        self._inbox = inbox
        self._client = client
        self._recipients = tuple(recipient_ids)
        self._interval = interval
        self._retry_delay = retry_delay
        self._items: Subscribers[InboxItem] = Subscribers()
        self._statuses: Subscribers[FetchStatus] = Subscribers()
        self.status = FetchStatus()

    def subscribe(self, callback: Callable[[InboxItem], None]) -> Callable[[], None]:
        """Registers ``callback`` for newly stored items; returns the unsubscribe function."""
        return self._items.add(callback)

    def subscribe_status(self, callback: Callable[[FetchStatus], None]) -> Callable[[], None]:
        """Registers ``callback`` for the status after each poll; returns the unsubscribe."""
        return self._statuses.add(callback)

    def step(self) -> float | None:
        """Polls every mailbox once; returns the time to the next poll."""
        try:
            item_error = self._poll()
        except OutboxError as err:
            log.info("inbox poll failed: %s (%s)", err.code, err.detail)
            failures = self.status.consecutive_failures + 1
            self._set_status(
                replace(self.status, reachable=False, last_failure_at=self._inbox.clock()),
                err,
                failures,
            )
            return min(self._interval, self._retry_delay(failures))
        self._set_status(
            replace(self.status, reachable=True, last_success_at=self._inbox.clock()), item_error, 0
        )
        return self._interval

    def _set_status(self, base: FetchStatus, err: OutboxError | None, failures: int) -> None:
        self.status = replace(
            base,
            error_code=err.code if err else None,
            error_detail=err.detail if err else None,
            consecutive_failures=failures,
        )
        self._statuses.publish(self.status)

    def _poll(self) -> OutboxError | None:
        """Fetches every new item; returns the last item-level error, if any."""
        item_error: OutboxError | None = None
        listed: set[str] = set()
        for recipient in self._recipients:
            for item in self._client.list_items(recipient):
                if self.stopping:
                    return item_error
                listed.add(item.bundle_id)
                try:
                    self._fetch(recipient, item)
                except OutboxError as err:
                    if err.code not in _ITEM_ERRORS:
                        raise
                    log.warning("inbox item %s: %s (%s)", item.bundle_id, err.code, err.detail)
                    item_error = err
        self._inbox.remove_stale_parts(listed)
        return item_error

    def _fetch(self, recipient: str, item: MailboxItem) -> None:
        try:
            spool.check_bundle_id(item.bundle_id)
        except ValueError:
            log.error("platform listed an item with an unusable bundle id; skipped")
            return
        if self._inbox.get(item.bundle_id) is None:
            stored = self._download(recipient, item)
            log.info("inbox item %s stored (%d bytes)", item.bundle_id, item.size)
            self._items.publish(stored)
        self._client.acknowledge(recipient, item.bundle_id)

    def _download(self, recipient: str, item: MailboxItem) -> InboxItem:
        """Downloads (resuming a part), verifies and stores one item."""
        part = self._inbox.part_path(item.bundle_id)
        try:
            self._client.download(recipient, item.bundle_id, part, limit=item.size)
            if part.stat().st_size != item.size or spool.sha256_file(part) != item.sha256:
                raise OutboxError(ErrorCode.CHECKSUM_MISMATCH, "downloaded bytes do not match")
            return self._inbox.store(recipient, item, part)
        except OutboxError as err:
            if err.code == ErrorCode.CHECKSUM_MISMATCH:
                spool.remove_file(part)  # start from zero next time
            raise
        except OSError as exc:
            detail = f"cannot store (errno {exc.errno})"
            raise OutboxError(ErrorCode.DISK_ERROR, detail) from exc
