"""Adaptive chunk size for tus ``PATCH`` requests.

Starts at 1 MiB; doubles after each chunk that gets through, up to 8 MiB (fewer round trips on a
good link); halves after a failure, down to 64 KiB (less to resend on a flaky one). A ``413``
(a proxy's body limit) halves it *and* lowers the ceiling, so it never grows back into the limit.
Shared by the upload slots of one sender (the link is theirs in common); thread-safe.
"""

from __future__ import annotations

import threading

__all__ = ["DEFAULT_CHUNK_SIZE", "MAX_CHUNK_SIZE", "MIN_CHUNK_SIZE", "ChunkSizer"]

KIB = 1024
DEFAULT_CHUNK_SIZE = 1024 * KIB
MIN_CHUNK_SIZE = 64 * KIB
MAX_CHUNK_SIZE = 8 * 1024 * KIB


class ChunkSizer:
    """The current chunk size and the rules that move it."""

    def __init__(
        self,
        initial: int = DEFAULT_CHUNK_SIZE,
        *,
        minimum: int = MIN_CHUNK_SIZE,
        maximum: int = MAX_CHUNK_SIZE,
    ) -> None:
        """Creates the sizer.

        Args:
            initial: The first chunk size (clamped to the bounds).
            minimum: The smallest size a failure or a 413 may bring it to.
            maximum: The largest size successes may bring it to.

        Raises:
            ValueError: If a bound is not positive or ``minimum > maximum``.
        """
        if minimum <= 0 or initial <= 0 or minimum > maximum:
            raise ValueError("chunk sizes must be positive with minimum <= maximum")
        self.minimum = minimum
        self._ceiling = maximum
        self._size = min(max(initial, minimum), maximum)
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes to put in the next ``PATCH``."""
        with self._lock:
            return self._size

    @property
    def ceiling(self) -> int:
        """The largest size successes may reach (lowered by a 413)."""
        with self._lock:
            return self._ceiling

    def success(self) -> int:
        """A chunk got through: doubles the size (up to the ceiling); returns it."""
        with self._lock:
            self._size = min(self._size * 2, self._ceiling)
            return self._size

    def failure(self) -> int:
        """A chunk failed on the network: halves the size (down to the minimum); returns it."""
        with self._lock:
            self._size = max(self._size // 2, self.minimum)
            return self._size

    def too_large(self, rejected: int) -> int | None:
        """A body of ``rejected`` bytes got a 413: halves below it and caps the growth there.

        Returns:
            The new size, or ``None`` if even the minimum was refused (nothing smaller to try).
        """
        with self._lock:
            if rejected <= self.minimum:
                return None
            self._size = max(min(self._size, rejected // 2), self.minimum)
            self._ceiling = max(self._size, self.minimum)
            return self._size
