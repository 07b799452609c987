"""A page of a mailbox listing, as the platform answers it, checked before it is used.

The platform lists a mailbox in pages (``refplatform.mailpages``): ``{"items": [...], "next":
<cursor or null>}``. A platform of the previous version answers ``{"items": [...]}`` with every
item and no ``next``: that is one page with nothing following, taken as before (its first
:data:`MAX_LISTED_ITEMS`). Anything else is a ``server_error``; nothing here trusts the
platform to stop (the caller bounds the pages of one poll, :data:`MAX_PAGES_PER_POLL`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from outbox.errors import ErrorCode, OutboxError

__all__ = [
    "MAX_CURSOR_CHARS",
    "MAX_LISTED_ITEMS",
    "MAX_PAGES_PER_POLL",
    "ItemPage",
    "MailboxItem",
    "parse_page",
]

log = logging.getLogger(__name__)

MAX_LISTED_ITEMS = 1_000
"""Items of one listing answer taken (oldest first, as the platform lists them); a platform
of the current version sends at most 200 per page, one of the previous version sends all."""
MAX_PAGES_PER_POLL = 5
"""Pages of one mailbox read in one poll (200 items each on the platform of this version):
one poll never runs for ever however deep the mailbox, and the next poll goes on from there."""
MAX_CURSOR_CHARS = 256
"""Longest ``next`` cursor accepted (the platform's are 16 characters)."""


@dataclass(frozen=True)
class MailboxItem:
    """A bundle waiting in a recipient's mailbox on the platform."""

    bundle_id: str
    kind: str
    size: int
    sha256: str
    sender_station: str
    received_at: str


@dataclass(frozen=True)
class ItemPage:
    """One page of a mailbox listing.

    Attributes:
        items: Its items, oldest first.
        next: The cursor asking for the following page, or ``None`` when none follow (or the
            platform is of a version without pages).
    """

    items: list[MailboxItem]
    next: str | None


def parse_page(body: Any) -> ItemPage:
    """The page a listing answer holds.

    Raises:
        OutboxError: ``server_error`` if it is not a listing.
    """
    try:
        listed = body["items"]
        if not isinstance(listed, list):
            raise TypeError("items is not a list")
        following = body.get("next")
        if following is not None and not _usable_cursor(following):
            raise ValueError("next is not a cursor")
        if len(listed) > MAX_LISTED_ITEMS:
            log.warning("mailbox lists %d items: the first %d taken", len(listed), MAX_LISTED_ITEMS)
        items = [
            MailboxItem(
                bundle_id=str(i["bundle_id"]),
                kind=str(i["kind"]),
                size=int(i["size"]),
                sha256=str(i["sha256"]).lower(),
                sender_station=str(i["sender_station"]),
                received_at=str(i["received_at"]),
            )
            for i in listed[:MAX_LISTED_ITEMS]
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OutboxError(ErrorCode.SERVER_ERROR, "malformed mailbox listing") from exc
    if any(item.size < 0 for item in items):
        raise OutboxError(ErrorCode.SERVER_ERROR, "malformed mailbox listing: negative size")
    return ItemPage(items, following)


def _usable_cursor(value: object) -> bool:
    """A cursor goes back into a URL's query: printable ASCII of bounded length."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_CURSOR_CHARS
        and value.isascii()
        and value.isprintable()
    )
