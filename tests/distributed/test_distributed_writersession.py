"""A PATCH's writer session: token and lock in one statement, no lock left behind, and the
writers' connections replaced without a check after PostgreSQL restarts.

Who else could write: a client without a valid token must be refused before the upload's lock
is even tried (401 while the lock is held, never 423: it learns nothing of what is written),
and another station gets 404; no request, whatever its answer, may leave its lock behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import requests

from refplatform.pgrecord import PgRecord, lock_key
from refplatform.pgwriter import WriterLock
from tests.distributed.conftest import Accounts, Cluster
from tests.distributed.engines import wait_until
from tests.distributed.tusraw import Tus

MIB = 1024 * 1024


def lock_is_free(cluster: Cluster, upload_path: str) -> bool:
    """Whether the upload's writer lock can be taken now (then given back at once)."""
    lock = WriterLock(cluster.record, upload_path.rsplit("/", 1)[1])
    if not lock.acquire():
        return False
    lock.release()
    return True


def test_a_bad_token_is_refused_before_the_lock_and_another_station_gets_404(
    cluster: Cluster, accounts: Accounts
) -> None:
    payload = os.urandom(2 * MIB)
    owner = Tus(accounts.unit_token)
    path = owner.create(cluster.url, accounts.recipient, "b-ws-order", payload)
    revoked_token = cluster.record.register_station(f"{accounts.unit}-gone")
    assert cluster.record.revoke_station(f"{accounts.unit}-gone")
    holder = WriterLock(cluster.record, path.rsplit("/", 1)[1])
    assert holder.acquire()
    try:
        for replica in cluster.replicas:
            for token in ("not-a-token", revoked_token):
                answer = Tus(token).patch(replica.url, path, 0, payload[:MIB])
                assert answer.status_code == 401, answer.text
                assert "WWW-Authenticate" in answer.headers
            other = Tus(accounts.hospital_token).patch(replica.url, path, 0, payload[:MIB])
            assert other.status_code == 404, other.text
            locked = owner.patch(replica.url, path, 0, payload[:MIB])
            assert locked.status_code == 423, locked.text
            # The headers' refusals come before 404 and 423, as on the embedded platform.
            wrong_type = requests.patch(
                replica.url + path,
                headers={**owner.headers, "Upload-Offset": "0", "Content-Type": "text/plain"},
                data=b"x",
                timeout=10,
            )
            assert wrong_type.status_code == 415, wrong_type.text
    finally:
        holder.release()
    assert owner.patch(cluster.url, path, 0, payload[:MIB]).status_code == 204
    assert owner.offset(cluster.url, path) == MIB


def test_no_answer_leaves_the_writer_lock_behind(cluster: Cluster, accounts: Accounts) -> None:
    payload = os.urandom(3 * MIB)
    tus = Tus(accounts.unit_token)
    path = tus.create(cluster.url, accounts.recipient, "b-ws-free", payload)
    for replica in cluster.replicas:  # each replica's writers' connections, reused
        offset = tus.offset(cluster.url, path)
        assert (
            tus.patch(replica.url, path, offset, payload[offset : offset + MIB]).status_code == 204
        )
        assert lock_is_free(cluster, path)
        assert tus.patch(replica.url, path, offset, b"x").status_code == 409  # stale offset
        assert lock_is_free(cluster, path)
        assert Tus("not-a-token").patch(replica.url, path, 0, b"x").status_code == 401
        assert lock_is_free(cluster, path)
    offset = tus.offset(cluster.url, path)
    assert tus.patch(cluster.url, path, offset, payload[offset:]).status_code == 204  # finalised
    assert lock_is_free(cluster, path)
    assert tus.offset(cluster.url, path) == len(payload)


def test_a_connection_given_back_without_its_unlock_is_reset_by_the_pool(
    cluster: Cluster,
) -> None:
    """The pool's reset skips a connection whose locks were freed a moment ago, and only
    that one: a connection given back another way (an error path) has its locks freed."""
    record = PgRecord(cluster.postgres.url, max_connections=1, max_writers=1, timeout=10)
    try:
        first, second = lock_key(f"ws-first-{os.getpid()}"), lock_key(f"ws-second-{os.getpid()}")
        conn, _ = record.writer_session("SELECT pg_advisory_lock(%s)", (first,))
        record.end_writer_session(conn)
        assert _free(cluster, first)  # at once: before a PATCH's answer leaves
        again, _ = record.writer_session("SELECT pg_advisory_lock(%s)", (second,))
        assert again is conn  # the same session (one writer at most)
        record.writers.putconn(again)  # no end_writer_session: as when a request fails
        # The pool resets a returned connection on its own worker, a moment later.
        wait_until(lambda: _free(cluster, second), 10, "the pool's reset to free the lock")
    finally:
        record.close()


def _free(cluster: Cluster, key: int) -> bool:
    with cluster.record.connect() as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (key,)).fetchone()
        assert row is not None
        if row["got"]:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return bool(row["got"])


def heads(tus: Tus, url: str) -> Callable[[], bool]:
    """Whether a HEAD of ``url`` answers 200."""
    return lambda: tus.head(url, "").status_code == 200


def test_patches_right_after_postgresql_restarts_need_no_retry(
    cluster: Cluster, accounts: Accounts
) -> None:
    """The writers' pool checks no connection before lending it: a dead one (PostgreSQL
    restarted) is dropped and the lock statement runs on another, within the request."""
    payload = os.urandom(4 * MIB)
    tus = Tus(accounts.unit_token)
    path = tus.create(cluster.url, accounts.recipient, "b-ws-restart", payload)
    offset = 0
    for replica in cluster.replicas:  # both replicas' writers' pools hold a connection now
        assert (
            tus.patch(replica.url, path, offset, payload[offset : offset + MIB]).status_code == 204
        )
        offset += MIB
    cluster.postgres.stop()
    cluster.postgres.start()
    for replica in cluster.replicas:  # HEAD's pool checks its connections: up at once
        wait_until(heads(tus, replica.url + path), 30, "HEAD after the restart")
    for replica in cluster.replicas:
        answer = tus.patch(replica.url, path, offset, payload[offset : offset + MIB])
        assert answer.status_code == 204, (replica.name, answer.status_code, answer.text)
        offset += MIB
    assert tus.offset(cluster.url, path) == offset == len(payload)
