"""Retry delays for the outbox: quick first retries, then capped exponential backoff with jitter.

Pure and clock-free: the caller adds the delay to its own clock, so tests control time. The
number of attempts is never capped (an item waits for the network as long as it takes); only the
delay between two attempts is.
"""

from __future__ import annotations

import random

# The first retries come quickly, as in tus-js-client: most failures on a flaky link are blips.
QUICK_DELAYS: tuple[float, ...] = (1.0, 3.0, 5.0)
BASE_DELAY = 10.0
MAX_DELAY = 300.0

_DEFAULT_RNG = random.Random()


def backoff_ceiling(attempt: int) -> float:
    """Returns the largest delay :func:`retry_delay` may give for ``attempt``.

    Args:
        attempt: How many attempts failed in a row (1 for the first failure).
    """
    attempt = max(1, attempt)
    if attempt <= len(QUICK_DELAYS):
        return QUICK_DELAYS[attempt - 1]
    # Bound the exponent so huge attempt counts never overflow a float.
    exponent = min(attempt - len(QUICK_DELAYS) - 1, 32)
    return min(MAX_DELAY, BASE_DELAY * 2.0**exponent)


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Returns how many seconds to wait before the next attempt.

    The quick delays are fixed; after them the delay doubles from :data:`BASE_DELAY` up to
    :data:`MAX_DELAY`, with "equal jitter": a random point in the upper half of the ceiling, so
    stations that lost the network together do not come back together, while the delay still
    grows with each failure.

    Args:
        attempt: How many attempts failed in a row (1 for the first failure). Values below 1 are
            treated as 1; there is no upper limit.
        rng: The random source (tests pass a seeded one).

    Returns:
        A delay in seconds, between half the ceiling and the ceiling of :func:`backoff_ceiling`.
    """
    ceiling = backoff_ceiling(attempt)
    if max(1, attempt) <= len(QUICK_DELAYS):
        return ceiling
    source = rng if rng is not None else _DEFAULT_RNG
    half = ceiling / 2.0
    return half + source.uniform(0.0, half)
