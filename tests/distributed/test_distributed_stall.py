"""A replica frozen (SIGSTOP, not dead) while it writes an upload, then woken (SIGCONT).

What a long GC pause, swap storm or a stopped VM does: the process keeps its sockets and its
PostgreSQL session, so nothing tells the others it is gone. The upload must resume through the
other replica once PostgreSQL has ended the frozen session (``idle_session_timeout``, the
writer's stall limit), and the frozen replica's late write, when it wakes, must change nothing:
the bundle is delivered once, byte-identical.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from refplatform.dist_finalise import piece_key
from refplatform.pgwriter import WriterLock
from tests.distributed.conftest import PIECE_SIZE, Accounts, Cluster
from tests.distributed.engines import Replica, wait_until
from tests.distributed.test_distributed_failures import deliveries, downloaded
from tests.distributed.tusraw import Tus

MIB = 1024 * 1024
#: What the frozen replica holds in memory, not yet a whole piece, when it is stopped.
PARTIAL = 100 * 1024
#: The replicas run with ``--idle-timeout 5``: PostgreSQL ends a writer's idle session after
#: 35 s (``refplatform.distributed``); the resumption must come soon after.
STALL_LIMIT = 5 + 30.0


def _paused_body(
    data: bytes, sent_until: threading.Event, go_on: threading.Event
) -> Iterator[bytes]:
    """Yields ``data`` in 64 KiB blocks, then waits for ``go_on`` before ending the body."""
    for start in range(0, len(data), 64 * 1024):
        yield data[start : start + 64 * 1024]
    sent_until.set()
    go_on.wait(STALL_LIMIT + 60)


def _resume(url: str, path: str, headers: dict[str, str], payload: bytes, limit: float) -> int:
    """The client's loop through the balancer: HEAD, PATCH the rest; 423 and timeouts retried
    (a request HAProxy sent to the frozen replica before its health check saw it gone)."""
    deadline = time.monotonic() + limit
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            head = requests.head(url + path, headers=headers, timeout=3)
            if head.status_code != 200:
                time.sleep(0.5)
                continue
            offset = int(head.headers["Upload-Offset"])
            answer = requests.patch(
                url + path,
                headers={
                    **headers,
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
                data=payload[offset:],
                timeout=10,
            )
        except requests.RequestException:
            continue
        if answer.status_code == 204:
            assert int(answer.headers["Upload-Offset"]) == len(payload)
            return attempts
        assert answer.status_code in (409, 423), (answer.status_code, answer.text)
        time.sleep(0.5)
    raise AssertionError(f"not resumed after {limit:.0f} s ({attempts} attempts)")


def _pid(replica: Replica) -> int:
    assert replica.process is not None
    assert replica.alive
    return replica.process.pid


def test_a_frozen_replica_holding_the_lock_cannot_corrupt_the_upload_when_it_wakes(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(4 * MIB)
    tus = Tus(accounts.unit_token)
    r1, r2 = cluster.replicas
    path = tus.create(r1.url, accounts.recipient, "b-frozen", payload)
    upload_id = path.rsplit("/", 1)[1]
    frozen_at = 2 * PIECE_SIZE
    sent, go_on = threading.Event(), threading.Event()
    answers: list[requests.Response | BaseException] = []

    def send() -> None:
        body = _paused_body(payload[: frozen_at + PARTIAL], sent, go_on)
        try:
            answers.append(tus.patch(r1.url, path, 0, body, timeout=STALL_LIMIT + 90))
        except requests.RequestException as exc:
            answers.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    pid = _pid(r1)
    stopped = False
    try:
        # Two pieces committed; the next 100 KiB received by r1, held in memory, not a piece.
        assert sent.wait(30)
        wait_until(lambda: tus.offset(r2.url, path) == frozen_at, 30, "two committed pieces")
        time.sleep(0.5)
        os.kill(pid, signal.SIGSTOP)
        stopped = True
        frozen = time.monotonic()
        assert tus.offset(r2.url, path) == frozen_at
        # The frozen replica's session still holds the writer lock: the other one refuses.
        refused = tus.patch(r2.url, path, frozen_at, payload[frozen_at:])
        assert refused.status_code == 423, refused.text
        assert tus.offset(r2.url, path) == frozen_at
        # The client resumes through the balancer once PostgreSQL has ended that session.
        _resume(cluster.url, path, tus.headers, payload, STALL_LIMIT + 45)
        resumed_after = time.monotonic() - frozen
        assert resumed_after < STALL_LIMIT + 30, f"resumed {resumed_after:.0f} s after"
        assert deliveries(cluster, accounts, "b-frozen") == (1, 1)
        pieces = cluster.uploads.pieces(upload_id)
        assert sum(piece.size for piece in pieces) == len(payload)
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        go_on.set()
    # Awake: r1 finds its body stalled past the idle timeout, stores the 100 KiB it held as a
    # piece at the offset it knew, and tries to commit it on its ended session.
    sender.join(30)
    assert not sender.is_alive()
    assert answers, "the frozen replica's request ended"
    late = answers[0]
    if isinstance(late, requests.Response):
        assert late.status_code == 503, (late.status_code, late.text)
    prefix = piece_key(upload_id, frozen_at, "")

    def late_object() -> list[str]:
        named = {piece.key for piece in cluster.uploads.pieces(upload_id)}
        stored = cluster.blobs.older_than(f"pieces/{upload_id}/", time.time() + 60)
        return [key for key in stored if key.startswith(prefix) and key not in named]

    wait_until(lambda: bool(late_object()), 20, "the woken replica's late write")
    (orphan,) = late_object()
    assert b"".join(cluster.blobs.read(orphan, 0, PARTIAL)) == payload[frozen_at:][:PARTIAL]
    # Its write landed in the store, yet nothing in the record moved: same pieces, same offset.
    assert cluster.uploads.pieces(upload_id) == pieces
    found = cluster.uploads.get(upload_id)
    assert found is not None
    assert (found[0].state, found[1]) == ("complete", len(payload))
    for replica in (r1, r2):
        assert tus.offset(replica.url, path) == len(payload)
    # Even a writer whose session had survived is refused by the compare-and-set.
    lock = WriterLock(cluster.record, upload_id)
    assert lock.acquire()
    try:
        assert not lock.commit_piece(frozen_at, PARTIAL, orphan, time.time())
    finally:
        lock.release()
    assert cluster.uploads.pieces(upload_id) == pieces
    assert deliveries(cluster, accounts, "b-frozen") == (1, 1)
    assert downloaded(cluster, accounts, "b-frozen", tmp_path) == payload
    # r1 serves again, and knows the upload complete.
    assert requests.get(r1.url + "/api/v1/health", timeout=5).status_code == 200
