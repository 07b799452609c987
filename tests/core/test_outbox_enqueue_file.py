"""Outbox.enqueue_file: a sealed bundle queued from a file, streamed into the spool."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from outbox.queue import Outbox


def test_enqueue_file_copies_streams_and_is_idempotent(tmp_path: Path) -> None:
    sealed = tmp_path / "b.p7m"
    data = os.urandom(3 * (1 << 20) + 5)  # spans several copy blocks
    sealed.write_bytes(data)
    outbox = Outbox(tmp_path / "q.sqlite", tmp_path / "outbox")
    try:
        job = outbox.enqueue_file("b-1", "specialist", "Dr L", "request", sealed)
        assert job.size == len(data)
        assert job.sha256 == hashlib.sha256(data).hexdigest()
        spooled = outbox.spool_path("b-1")
        assert spooled.read_bytes() == data
        assert spooled.stat().st_mode & 0o777 == 0o600
        assert sealed.read_bytes() == data  # the sealed file itself is kept
        assert not [p for p in spooled.parent.iterdir() if p != spooled]  # no temporary left
        # a second hand-over of the same bundle queues nothing new
        sealed.write_bytes(b"something else")
        again = outbox.enqueue_file("b-1", "specialist", "Dr L", "request", sealed)
        assert again.sha256 == job.sha256
        assert spooled.read_bytes() == data
    finally:
        outbox.close()


def test_enqueue_file_of_a_missing_file_queues_nothing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "q.sqlite", tmp_path / "outbox")
    try:
        try:
            outbox.enqueue_file("b-2", "s", "S", "request", tmp_path / "gone.p7m")
        except OSError:
            pass
        else:
            raise AssertionError("a missing file was queued")
        assert outbox.get("b-2") is None
        assert list((tmp_path / "outbox").iterdir()) == []
    finally:
        outbox.close()
