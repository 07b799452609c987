"""The seam between the platform's HTTP layer and where its truth is kept.

Two back-ends exist:

- **embedded** (``--data DIR``): SQLite holds the record and local files hold the bytes
  (:mod:`refplatform.db`, :mod:`refplatform.uploads`, :mod:`refplatform.mailbox`); one process.
- **distributed** (``--database postgresql://… --blobs s3://…``): PostgreSQL holds the whole
  record (:mod:`refplatform.pgrecord`, :mod:`refplatform.pguploads`) and an S3-compatible
  object store holds the bundle bytes (:mod:`refplatform.s3blobs`); any number of stateless
  replicas serve the same record (:mod:`refplatform.distributed`).

This module names the narrow interface the distributed handlers need from bundle storage
(:class:`Blobs`), and the one error every back-end raises when its engine cannot be reached
(:class:`BackendUnavailable`, answered 503 with ``Retry-After``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

__all__ = ["BackendUnavailable", "Blobs"]


class BackendUnavailable(RuntimeError):
    """The database or the object store cannot be reached now; the request may be retried.

    Nothing is half written when this is raised: the record only ever refers to objects that
    were stored whole, and a transaction either commits or leaves nothing.
    """

    def __init__(self, engine: str, detail: str) -> None:
        """Names the engine (``database`` or ``storage``) and what failed, in English."""
        super().__init__(f"{engine} unavailable: {detail}")
        self.engine = engine
        self.detail = detail


class Blobs(Protocol):
    """Immutable objects holding bundle bytes, addressed by key.

    An object is written once, whole (a write either stores every byte or none), and never
    changed; the record decides which objects are alive.
    """

    def put(self, key: str, data: bytes | bytearray | memoryview) -> None:
        """Stores ``data`` under ``key``."""

    def read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        """Yields bytes ``[start, stop)`` of an object, in blocks."""

    def delete(self, keys: Iterable[str]) -> None:
        """Removes objects (missing ones are ignored)."""

    def older_than(self, prefix: str, moment: float) -> Iterator[str]:
        """Yields the keys under ``prefix`` last written before ``moment`` (POSIX time)."""
