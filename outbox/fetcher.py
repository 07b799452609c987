"""The inbox fetcher thread: polls mailboxes, downloads new bundles, stores, then acknowledges.

The order matters for crashes: the bundle is verified and committed locally before the platform
is told to drop it, so a crash in between only means downloading it again, and the local store
dedups by bundle id. Re-exported by :mod:`outbox.inbox`.

Any station may put anything in a mailbox, so what is downloaded unasked is bounded (issue 15):
an item the listing says is larger than ``max_item_bytes`` (by default
:data:`MAX_ITEM_BYTES`, more than any bundle a reader opens), or that would take the inbox
past ``max_inbox_bytes`` (:data:`MAX_INBOX_BYTES`) or leave less than ``disk_reserve``
(:data:`DISK_RESERVE`) free on its disk, is refused *before* a byte of it is fetched. A
refused item is neither downloaded nor acknowledged: it stays on the platform, where a
legitimate bundle is not lost (it comes once the inbox has room, or the limit is raised) and
junk is for the platform's operator to remove. :attr:`FetchStatus.refused` names each one with
the station that sent it (from the listing), for the window to show.

A poll reads each mailbox in pages (:mod:`outbox.listing`), at most
:data:`~outbox.listing.MAX_PAGES_PER_POLL` of them: a mailbox deeper than that (filled during
an outage, or by a hostile station) is read on at the next poll from where this one stopped,
then from its start again, so items left on the platform at its head never hide those behind.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from outbox import backoff, spool
from outbox.errors import ErrorCode, OutboxError
from outbox.listing import MAX_PAGES_PER_POLL
from outbox.platform import MailboxItem, PlatformClient
from outbox.worker import Subscribers, WaitFn, Worker, event_wait

if TYPE_CHECKING:
    from outbox.inbox import Inbox, InboxItem

__all__ = ["FetchStatus", "InboxFetcher", "RefusedItem"]

log = logging.getLogger(__name__)

# Failures that concern one item; the others in the mailbox are still fetched.
_ITEM_ERRORS = (ErrorCode.CHECKSUM_MISMATCH, ErrorCode.DISK_ERROR)

MAX_ITEM_BYTES = (2 << 30) + (16 << 20)
"""Largest item downloaded: the largest bundle a station seals and a reader opens as a stream
(``cases.bundleformat.MAX_STREAM_SIZE``, 2 GiB of files; stored photos and clips do not shrink
when zipped), plus its ZIP, signature and encryption framing. A download streams to disk, so
this bounds the disk an item may take, not memory."""
MAX_INBOX_BYTES = 32 * 1024**3
"""Received bundles kept on the workstation, in all (they stay, sealed, as its record):
about a thousand requests of 30 MB."""
DISK_RESERVE = 1024**3
"""Free space a download must leave on the inbox's disk."""
ITEM_TOO_LARGE = "inbox_item_too_large"
"""Code of an item refused for its size."""
INBOX_FULL = "inbox_full"
"""Code of an item refused for lack of room (inbox bound or disk)."""
_SHOWN = 64  # characters of a station name or a kind kept for display


def _shown(text: str) -> str:
    """Text from the listing, fit to show: printable characters, :data:`_SHOWN` at most."""
    return "".join(c for c in text if c.isprintable())[:_SHOWN]


def _free_space(directory: Path) -> int:
    return shutil.disk_usage(directory).free


@dataclass(frozen=True)
class RefusedItem:
    """An item of a mailbox that was not downloaded, and why (nothing clinical: the
    platform's listing only).

    Attributes:
        bundle_id: The item's bundle id.
        recipient_id: The local recipient whose mailbox holds it.
        sender_station: The station that sent it, as the platform lists it.
        kind: The kind the platform lists.
        size: The size the platform lists, in bytes.
        code: :data:`ITEM_TOO_LARGE` or :data:`INBOX_FULL`.
    """

    bundle_id: str
    recipient_id: str
    sender_station: str
    kind: str
    size: int
    code: str


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
        refused: The items the last poll that went through left on the platform, with who
            sent them (see the module's documentation).
    """

    reachable: bool = False
    last_success_at: float | None = None
    last_failure_at: float | None = None
    error_code: str | None = None
    error_detail: str | None = None
    consecutive_failures: int = 0
    refused: tuple[RefusedItem, ...] = ()


class _Walk:
    """The items of one poll's walk through a mailbox, page by page (each page is asked once
    the previous one is handled, so acknowledgements and new items between pages are
    fine): at most :data:`~outbox.listing.MAX_PAGES_PER_POLL` pages, from ``after`` (or the
    start). ``rest`` is then the cursor the next poll goes on from, ``None`` at the end."""

    def __init__(
        self, client: PlatformClient, recipient: str, after: str | None, limit: int | None
    ) -> None:
        self._client = client
        self._recipient = recipient
        self._limit = limit
        self.rest = after

    def __iter__(self) -> Iterator[MailboxItem]:
        for _ in range(MAX_PAGES_PER_POLL):
            page = self._client.list_page(self._recipient, self.rest, self._limit)
            self.rest = page.next
            yield from page.items
            if self.rest is None:
                return


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
        max_item_bytes: int = MAX_ITEM_BYTES,
        max_inbox_bytes: int = MAX_INBOX_BYTES,
        disk_reserve: int = DISK_RESERVE,
        free_space: Callable[[Path], int] = _free_space,
        page_items: int | None = None,
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
            max_item_bytes: Largest item downloaded, as the listing announces it.
            max_inbox_bytes: Most bytes the stored bundles may take, in all.
            disk_reserve: Free bytes a download must leave on the inbox's disk.
            free_space: Free bytes on the disk of a directory (tests pass their own).
            page_items: Items asked per page of a listing (the platform's default if
                ``None``).
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
        self._max_item = max_item_bytes
        self._max_inbox = max_inbox_bytes
        self._reserve = disk_reserve
        self._free_space = free_space
        self._told: set[tuple[str, str]] = set()  # refusals logged (those still standing)
        self._resume: dict[str, str] = {}  # where the next poll goes on, per deep mailbox
        self._page_items = page_items
        self._stored = 0  # bytes of the stored bundles, as of this poll
        self.status = FetchStatus()

    def subscribe(self, callback: Callable[[InboxItem], None]) -> Callable[[], None]:
        """Registers ``callback`` for newly stored items; returns the unsubscribe function."""
        return self._items.add(callback)

    def subscribe_status(self, callback: Callable[[FetchStatus], None]) -> Callable[[], None]:
        """Registers ``callback`` for the status after each poll; returns the unsubscribe."""
        return self._statuses.add(callback)

    def step(self) -> float | None:
        """Polls every mailbox once; returns the time to the next poll."""
        refused: list[RefusedItem] = []
        try:
            item_error = self._poll(refused)
        except OutboxError as err:
            log.info("inbox poll failed: %s (%s)", err.code, err.detail)
            failures = self.status.consecutive_failures + 1
            self._set_status(
                replace(self.status, reachable=False, last_failure_at=self._inbox.clock()),
                err,
                failures,
            )
            return min(self._interval, self._retry_delay(failures))
        self._told = {(r.bundle_id, r.code) for r in refused}
        base = replace(
            self.status,
            reachable=True,
            last_success_at=self._inbox.clock(),
            refused=tuple(refused),
        )
        self._set_status(base, item_error, 0)
        return self._interval

    def _set_status(self, base: FetchStatus, err: OutboxError | None, failures: int) -> None:
        self.status = replace(
            base,
            error_code=err.code if err else None,
            error_detail=err.detail if err else None,
            consecutive_failures=failures,
        )
        self._statuses.publish(self.status)

    def _poll(self, refused: list[RefusedItem]) -> OutboxError | None:
        """Fetches every new item, adding to ``refused`` those left on the platform; returns
        the last item-level error, if any."""
        item_error: OutboxError | None = None
        listed: set[str] = set()
        whole = True  # every mailbox listed from its start to its end
        self._stored = self._inbox.total_size()
        for recipient in self._recipients:
            resumed = self._resume.pop(recipient, None)
            walked = self._walk(recipient, resumed)
            for item in walked:
                if self.stopping:
                    return item_error
                code = self._refusal(item)
                if code is not None:
                    refused.append(self._refused(recipient, item, code))
                    if code == INBOX_FULL:
                        listed.add(item.bundle_id)  # its part waits for room
                    continue
                listed.add(item.bundle_id)
                try:
                    self._fetch(recipient, item)
                except OutboxError as err:
                    if err.code not in _ITEM_ERRORS:
                        raise
                    log.warning("inbox item %s: %s (%s)", item.bundle_id, err.code, err.detail)
                    item_error = err
            if walked.rest is not None:
                self._resume[recipient] = walked.rest
            whole = whole and resumed is None and walked.rest is None
        if whole:  # a part of an item not listed is stale only if the whole mailbox was
            self._inbox.remove_stale_parts(listed)
        return item_error

    def _walk(self, recipient: str, after: str | None) -> _Walk:
        return _Walk(self._client, recipient, after, self._page_items)

    def _refusal(self, item: MailboxItem) -> str | None:
        """Why ``item`` is not to be downloaded (a code), or ``None``; one already stored
        is never refused (it is only acknowledged)."""
        try:
            if self._inbox.get(spool.check_bundle_id(item.bundle_id)) is not None:
                return None
        except ValueError:
            return None  # an unusable id: skipped by _fetch
        if item.size > self._max_item:
            return ITEM_TOO_LARGE
        if self._stored + item.size > self._max_inbox:
            return INBOX_FULL
        part = self._inbox.part_path(item.bundle_id)
        try:
            have = part.stat().st_size if part.exists() else 0
            free = self._free_space(self._inbox.directory)
        except OSError:
            return None  # the download will say what is wrong with the disk
        if free - (item.size - have) < self._reserve:
            return INBOX_FULL
        return None

    def _refused(self, recipient: str, item: MailboxItem, code: str) -> RefusedItem:
        refused = RefusedItem(
            bundle_id=item.bundle_id,
            recipient_id=recipient,
            sender_station=_shown(item.sender_station),
            kind=_shown(item.kind),
            size=item.size,
            code=code,
        )
        if (item.bundle_id, code) not in self._told:  # once, not at every poll
            self._told.add((item.bundle_id, code))
            log.warning(
                "inbox item %s from station %r (%d bytes) left on the platform: %s",
                item.bundle_id,
                refused.sender_station,
                item.size,
                code,
            )
        return refused

    def _fetch(self, recipient: str, item: MailboxItem) -> None:
        try:
            spool.check_bundle_id(item.bundle_id)
        except ValueError:
            log.error("platform listed an item with an unusable bundle id; skipped")
            return
        if self._inbox.get(item.bundle_id) is None:
            stored = self._download(recipient, item)
            self._stored += stored.size
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
