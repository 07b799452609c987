"""What dies, and what must survive: replicas killed, concurrent writers, engines restarted."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from pathlib import Path

import requests

from refplatform.dist_finalise import Finaliser, piece_key
from refplatform.pgwriter import WriterLock
from tests.distributed.conftest import PIECE_SIZE, Accounts, Cluster
from tests.distributed.engines import wait_until
from tests.distributed.tusraw import Tus, slow_body

MIB = 1024 * 1024


def deliveries(cluster: Cluster, accounts: Accounts, bundle_id: str) -> tuple[int, int]:
    """(delivery records, mailbox items) of a bundle for the test's recipient."""
    with cluster.record.connect() as conn:
        row = conn.execute(
            "SELECT (SELECT COUNT(*) FROM deliveries WHERE recipient_id = %(r)s"
            " AND bundle_id = %(b)s) AS d, (SELECT COUNT(*) FROM mailbox_items"
            " WHERE recipient_id = %(r)s AND bundle_id = %(b)s) AS m",
            {"r": accounts.recipient, "b": bundle_id},
        ).fetchone()
    assert row is not None
    return int(row["d"]), int(row["m"])


def downloaded(cluster: Cluster, accounts: Accounts, bundle_id: str, tmp_path: Path) -> bytes:
    reader = accounts.client(cluster.url, hospital=True)
    part = tmp_path / f"{bundle_id}.part"
    try:
        reader.download(accounts.recipient, bundle_id, part)
    finally:
        reader.close()
    return part.read_bytes()


def test_kill_9_of_the_replica_carrying_an_upload_resumes_through_the_other(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(4 * MIB)
    tus = Tus(accounts.unit_token)
    r1, r2 = cluster.replicas
    path = tus.create(r1.url, accounts.recipient, "b-kill", payload)
    cut: list[BaseException] = []

    def send() -> None:
        try:
            tus.patch(r1.url, path, 0, slow_body(payload, 64 * 1024, 0.03))
        except requests.RequestException as exc:
            cut.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    # Mid-body: some pieces committed (as any replica sees), most of the body still to come.
    wait_until(lambda: tus.offset(r2.url, path) >= 2 * PIECE_SIZE, 30, "two committed pieces")
    r1.kill()
    killed_at = time.monotonic()
    sender.join(30)
    assert cut, "the request died with its replica"
    # The client's first retry, through the balancer, lands on the living replica.
    client = accounts.client(cluster.url)
    offset = client.head(cluster.url + path)
    resumed_after = time.monotonic() - killed_at
    assert offset % PIECE_SIZE == 0, "only whole committed pieces count"
    assert 2 * PIECE_SIZE <= offset < len(payload)
    assert client.patch(cluster.url + path, offset, payload[offset:]) == len(payload)
    assert resumed_after < 15, f"resumed {resumed_after:.1f} s after the replica's death"
    assert deliveries(cluster, accounts, "b-kill") == (1, 1)
    assert downloaded(cluster, accounts, "b-kill", tmp_path) == payload
    client.close()


def test_concurrent_patches_through_two_replicas_one_is_refused(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(2 * MIB)
    tus = Tus(accounts.unit_token)
    r1, r2 = (replica.url for replica in cluster.replicas)
    path = tus.create(r1, accounts.recipient, "b-race", payload)
    first = payload[:MIB]
    started = threading.Event()
    answers: dict[str, requests.Response] = {}

    def slow() -> None:
        body = slow_body(first, 64 * 1024, 0.06, lambda sent: started.set())
        answers["slow"] = tus.patch(r1, path, 0, body)

    writer = threading.Thread(target=slow)
    writer.start()
    assert started.wait(10)
    time.sleep(0.2)
    answers["fast"] = tus.patch(r2, path, 0, first)
    writer.join(30)
    assert answers["fast"].status_code == 423, answers["fast"].text
    assert answers["slow"].status_code == 204
    assert tus.offset(r1, path) == tus.offset(r2, path) == MIB
    # The peer's test: both at once, same offset, one to each replica. One wins, nothing lost.
    barrier = threading.Barrier(2)
    racers: list[requests.Response] = []

    def race(base: str) -> None:
        barrier.wait(10)
        racers.append(tus.patch(base, path, MIB, payload[MIB : MIB + 512 * 1024]))

    threads = [threading.Thread(target=race, args=(base,)) for base in (r1, r2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    codes = sorted(answer.status_code for answer in racers)
    assert codes in ([204, 409], [204, 423]), codes
    assert tus.offset(r2, path) == MIB + 512 * 1024
    rest = tus.patch(r1, path, MIB + 512 * 1024, payload[MIB + 512 * 1024 :])
    assert rest.status_code == 204
    assert downloaded(cluster, accounts, "b-race", tmp_path) == payload


def test_the_same_bundle_through_both_replicas_is_delivered_once(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(3 * PIECE_SIZE)
    tus = Tus(accounts.unit_token)
    bases = [replica.url for replica in cluster.replicas]
    paths = [tus.create(base, accounts.recipient, "b-twice", payload) for base in bases]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def upload(base: str, path: str) -> None:
        barrier.wait(10)
        codes.append(tus.patch(base, path, 0, payload).status_code)

    threads = [
        threading.Thread(target=upload, args=pair) for pair in zip(bases, paths, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert codes == [204, 204]
    assert deliveries(cluster, accounts, "b-twice") == (1, 1)
    with cluster.record.connect() as conn:
        kept = conn.execute(
            "SELECT COUNT(DISTINCT blob_id) AS n FROM pieces WHERE blob_id = ANY(%s)",
            ([path.rsplit("/", 1)[1] for path in paths],),
        ).fetchone()
    assert kept is not None
    assert kept["n"] == 1, "the duplicate's pieces are dropped"
    assert downloaded(cluster, accounts, "b-twice", tmp_path) == payload


def test_a_finalisation_left_by_a_dead_replica_is_finished_by_the_sweeper(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(2 * PIECE_SIZE + 1000)
    path = Tus(accounts.unit_token).create(cluster.url, accounts.recipient, "b-orphaned", payload)
    upload_id = path.rsplit("/", 1)[1]
    # Exactly what a replica leaves when it dies after its last commit, before the delivery.
    lock = WriterLock(cluster.record, upload_id)
    assert lock.acquire()
    try:
        for start in range(0, len(payload), PIECE_SIZE):
            piece = payload[start : start + PIECE_SIZE]
            key = piece_key(upload_id, start, "dead")
            cluster.blobs.put(key, piece)
            assert lock.commit_piece(start, len(piece), key, time.time())
    finally:
        lock.release()
    assert deliveries(cluster, accounts, "b-orphaned") == (0, 0)
    wait_until(lambda: deliveries(cluster, accounts, "b-orphaned") == (1, 1), 20, "the sweeper")
    assert downloaded(cluster, accounts, "b-orphaned", tmp_path) == payload


def test_a_replica_killed_around_finalisation_loses_and_duplicates_nothing(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(6 * MIB)
    tus = Tus(accounts.unit_token)
    r1 = cluster.replicas[0]
    path = tus.create(r1.url, accounts.recipient, "b-final", payload)
    assert tus.patch(r1.url, path, 0, payload[: 3 * MIB]).status_code == 204
    sent_all = threading.Event()

    def all_sent(sent: int) -> None:
        if sent == 3 * MIB:
            sent_all.set()

    def last_chunk() -> None:
        body = slow_body(payload[3 * MIB :], MIB, 0, all_sent)
        with contextlib.suppress(requests.RequestException):  # cut by the kill, or not
            tus.patch(r1.url, path, 3 * MIB, body)

    writer = threading.Thread(target=last_chunk)
    writer.start()
    assert sent_all.wait(20)
    time.sleep(0.05)
    r1.kill()
    writer.join(20)
    client = accounts.client(cluster.url)
    offset = client.head(cluster.url + path)
    if offset < len(payload):
        assert client.patch(cluster.url + path, offset, payload[offset:]) == len(payload)
    wait_until(lambda: deliveries(cluster, accounts, "b-final") == (1, 1), 20, "the delivery")
    assert downloaded(cluster, accounts, "b-final", tmp_path) == payload
    client.close()


def test_storage_stopped_and_restarted_mid_upload(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(2 * MIB)
    tus = Tus(accounts.unit_token)
    path = tus.create(cluster.url, accounts.recipient, "b-s3", payload)
    assert tus.patch(cluster.url, path, 0, payload[:MIB]).status_code == 204
    cluster.seaweed.stop(kill=True)
    try:
        refused = tus.patch(cluster.url, path, MIB, payload[MIB:])
        assert refused.status_code == 503
        assert refused.headers["Retry-After"].isdigit()
        assert refused.json()["error"] == "unavailable"
        assert tus.offset(cluster.url, path) == MIB, "the record still answers, unchanged"
    finally:
        cluster.seaweed.start()
    answers: list[int] = []

    def resumed() -> bool:
        answer = tus.patch(cluster.url, path, tus.offset(cluster.url, path), payload[MIB:])
        answers.append(answer.status_code)
        return answer.status_code == 204

    wait_until(resumed, 30, "the upload's resumption")
    assert set(answers) <= {204, 503}
    assert downloaded(cluster, accounts, "b-s3", tmp_path) == payload
    assert deliveries(cluster, accounts, "b-s3") == (1, 1)


def test_postgresql_restarted_mid_upload(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(2 * MIB)
    tus = Tus(accounts.unit_token)
    path = tus.create(cluster.url, accounts.recipient, "b-pg", payload)
    assert tus.patch(cluster.url, path, 0, payload[:MIB]).status_code == 204
    cluster.postgres.stop()
    try:
        refused = tus.patch(cluster.url, path, MIB, payload[MIB:])
        assert refused.status_code == 503
        assert "Retry-After" in refused.headers
        assert tus.head(cluster.url, path).status_code == 503
    finally:
        cluster.postgres.start()

    def answers() -> bool:
        return tus.head(cluster.url, path).status_code == 200

    wait_until(answers, 30, "the record after PostgreSQL's restart")
    assert tus.offset(cluster.url, path) == MIB
    assert tus.patch(cluster.url, path, MIB, payload[MIB:]).status_code == 204
    assert downloaded(cluster, accounts, "b-pg", tmp_path) == payload
    assert deliveries(cluster, accounts, "b-pg") == (1, 1)


def test_sweeper_expires_abandoned_uploads_and_removes_orphans(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    tus = Tus(accounts.unit_token)
    kept = os.urandom(PIECE_SIZE + 10)
    done = tus.create(cluster.url, accounts.recipient, "b-kept", kept)
    assert tus.patch(cluster.url, done, 0, kept).status_code == 204
    abandoned = os.urandom(2 * PIECE_SIZE)
    path = tus.create(cluster.url, accounts.recipient, "b-abandoned", abandoned)
    assert tus.patch(cluster.url, path, 0, abandoned[:PIECE_SIZE]).status_code == 204
    upload_id = path.rsplit("/", 1)[1]
    stray = piece_key("0" * 32, 0, "stray")  # stored, never committed: a cut request's piece
    cluster.blobs.put(stray, b"stray bytes")
    later = 1.5 * 86400.0  # past the upload's 24 h, before its record is forgotten (48 h)
    sweeper = Finaliser(
        cluster.uploads,
        cluster.blobs,
        clock=lambda: time.time() + later,
        ttl=86400.0,
        finalise_grace=5,
        orphan_grace=60,
    )
    done_now = sweeper.sweep()
    assert done_now["expired"] >= 1
    assert done_now["orphans"] >= 1
    assert tus.head(cluster.url, path).status_code == 410
    left = set(cluster.blobs.older_than("pieces/", time.time() + 60))
    assert stray not in left
    assert not any(key.startswith(f"pieces/{upload_id}/") for key in left)
    assert downloaded(cluster, accounts, "b-kept", tmp_path) == kept
    assert hashlib.sha256(kept).hexdigest() == cluster.uploads.items(accounts.recipient)[0].sha256
