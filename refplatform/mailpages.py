"""Pages of a mailbox listing: the ``limit`` and the opaque ``after`` cursor, on both back-ends.

``GET /api/v1/mailboxes/<r>/items[?limit=N][&after=<cursor>]`` answers at most ``limit``
items (:data:`PAGE_LIMIT` by default and at most; a larger ``limit`` is cut to it) oldest
first, and ``next``: the cursor to ask the following page with, or ``null`` when none follow.
A client of an older version ignores ``next`` and gets the first page, as before.

A cursor is the position of the last item returned: the mailbox row's sequence number, which
only grows and is never reused. Items acknowledged meanwhile are simply absent, and items
arriving meanwhile come after every position already handed out (the embedded platform writes
one transaction at a time; the distributed one serialises each mailbox's inserts with an
advisory lock held to commit, :meth:`refplatform.pguploads.PgUploads.deliver`), so walking the
pages never skips or repeats an item.

The cursor is only a position: the query is always confined to the mailbox the caller is
authorised for, so another station's cursor, or a forged one, reaches nothing beyond the
caller's own items. It is checked strictly (a 400 with a plain reason otherwise) and never
costs more than its bounded size to read.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from refplatform.web import ApiError

__all__ = [
    "MAX_POSITION",
    "PAGE_LIMIT",
    "cut_page",
    "decode_cursor",
    "encode_cursor",
    "page_params",
]

PAGE_LIMIT = 200
"""Items of a mailbox page, by default and at most."""
MAX_POSITION = (1 << 63) - 1
"""Largest sequence number a cursor may carry (the columns are signed 64-bit)."""
_TAG = b"pmb1"  # format version of the cursor's bytes
_CURSOR = re.compile(r"[A-Za-z0-9_-]{16}")  # base64url of 12 bytes, no padding
_MAX_LIMIT_DIGITS = 16

Item = TypeVar("Item")


def encode_cursor(position: int) -> str:
    """The opaque cursor of a position (a mailbox row's sequence number)."""
    raw = _TAG + position.to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(cursor: str) -> int:
    """The position a cursor names.

    Raises:
        ValueError: If it is not a cursor this platform hands out.
    """
    if not _CURSOR.fullmatch(cursor):
        raise ValueError("malformed cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor)
    except (binascii.Error, ValueError):
        raise ValueError("malformed cursor") from None
    if len(raw) != 12 or not raw.startswith(_TAG):
        raise ValueError("malformed cursor")
    position = int.from_bytes(raw[4:], "big")
    if position > MAX_POSITION:
        raise ValueError("malformed cursor")
    return position


def page_params(query: Mapping[str, str]) -> tuple[int, int]:
    """The position to list after (0: from the start) and the page size, from a query string.

    Raises:
        ApiError: 400 for a limit that is not a positive integer or a cursor that is not one
            this platform hands out.
    """
    limit = PAGE_LIMIT
    raw_limit = query.get("limit")
    if raw_limit is not None:
        if not raw_limit.isascii() or not raw_limit.isdigit() or len(raw_limit) > _MAX_LIMIT_DIGITS:
            raise ApiError(400, "bad_limit", "limit must be a positive integer.")
        if int(raw_limit) < 1:
            raise ApiError(400, "bad_limit", "limit must be a positive integer.")
        limit = min(int(raw_limit), PAGE_LIMIT)
    after = 0
    raw_after = query.get("after")
    if raw_after is not None:
        try:
            after = decode_cursor(raw_after)
        except ValueError:
            raise ApiError(
                400,
                "bad_cursor",
                "after is not a cursor this platform gave; list again without it.",
            ) from None
    return after, limit


def cut_page(
    rows: Sequence[Any], limit: int, item: Callable[[Any], Item]
) -> tuple[list[Item], int | None]:
    """A page from the ``limit + 1`` rows a back-end read after a position (each with its
    ``seq``): the first ``limit`` as items, and the position of the last one when more
    follow, else ``None``."""
    page = rows[:limit]
    more = len(rows) > limit
    return [item(row) for row in page], (int(page[-1]["seq"]) if more else None)
