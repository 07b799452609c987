"""Retry delays for the outbox: capped exponential backoff with full jitter, and Retry-After.

Pure and clock-free: the caller adds the delay to its own clock, so tests control time. The
number of attempts is never capped (an item waits for the network as long as it takes); only the
delay between two attempts is.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

__all__ = [
    "BASE_DELAY",
    "MAX_DELAY",
    "MAX_RETRY_AFTER",
    "MIN_DELAY",
    "backoff_ceiling",
    "honour_retry_after",
    "parse_retry_after",
    "retry_delay",
]

#: The ceiling of the first retry; it doubles with each failure in a row.
BASE_DELAY = 1.0
#: The ceiling never goes past this (5 min): a station finds the network back soon enough.
MAX_DELAY = 300.0
#: Full jitter may draw a delay near zero; this floor keeps a failing job from spinning.
MIN_DELAY = 0.25
#: The longest ``Retry-After`` honoured; a platform asking for more is asked again then.
MAX_RETRY_AFTER = 3600.0

_DEFAULT_RNG = random.Random()


def backoff_ceiling(attempt: int) -> float:
    """Returns the largest delay :func:`retry_delay` may give for ``attempt``.

    ``BASE_DELAY * 2 ** (attempt - 1)``, capped at :data:`MAX_DELAY`.

    Args:
        attempt: How many attempts failed in a row (1 for the first failure).
    """
    # Bound the exponent so huge attempt counts never overflow a float.
    exponent = min(max(1, attempt) - 1, 32)
    return min(MAX_DELAY, BASE_DELAY * 2.0**exponent)


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Returns how many seconds to wait before the next attempt ("full jitter").

    A uniform draw between :data:`MIN_DELAY` and the ceiling of :func:`backoff_ceiling`:
    stations that lost the network together spread their retries over the whole window
    instead of coming back together, and the expected delay still doubles with each failure.

    Args:
        attempt: How many attempts failed in a row (1 for the first failure). Values below 1 are
            treated as 1; there is no upper limit.
        rng: The random source (tests pass a seeded one).

    Returns:
        A delay in seconds, in ``[MIN_DELAY, backoff_ceiling(attempt)]``.
    """
    ceiling = backoff_ceiling(attempt)
    source = rng if rng is not None else _DEFAULT_RNG
    return max(MIN_DELAY, source.uniform(0.0, ceiling))


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Reads an HTTP ``Retry-After`` header: delay-seconds or an HTTP-date.

    Args:
        value: The header's value, or ``None``.
        now: Wall-clock seconds (for an HTTP-date).

    Returns:
        Seconds to wait (never negative), or ``None`` if absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(min(int(text), 10**9))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return max(0.0, moment.timestamp() - now())


def honour_retry_after(seconds: float | None) -> float | None:
    """Clamps a platform's ``Retry-After`` to ``[0, MAX_RETRY_AFTER]`` (``None`` stays None)."""
    if seconds is None:
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)
