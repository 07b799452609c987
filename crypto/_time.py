"""Clock helper shared by the ``crypto`` modules.

Every function that depends on the current time takes an optional ``now`` so that tests
(and callers replaying old messages) control the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(now: datetime | None) -> datetime:
    """Return ``now`` as an aware UTC datetime, or the current time when ``None``.

    Args:
        now: A datetime; a naive one is taken to be in UTC already.

    Returns:
        An aware datetime in UTC.
    """
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        return now.replace(tzinfo=UTC)
    return now.astimezone(UTC)
