"""The bundle's running SHA-256, saved with each piece's commit and taken up by the next writer.

Finalisation checks the digest from that state instead of reading every piece back; where a
writer could not save one (an older replica), it reads the pieces back. Both paths must reach
the same verdict as hashing the bytes the client sent.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from refplatform.sha256state import Sha256State
from tests.distributed.conftest import PIECE_SIZE, Accounts, Cluster
from tests.distributed.test_distributed_failures import deliveries, downloaded
from tests.distributed.tusraw import Tus


def _saved(cluster: Cluster, path: str) -> tuple[int, bytes | None]:
    found = cluster.uploads.saved_state(path.rsplit("/", 1)[1])
    assert found is not None
    return found


def _set_state(cluster: Cluster, path: str, state: bytes | None) -> None:
    with cluster.record.connect() as conn:
        conn.execute(
            "UPDATE uploads SET sha256_state = %s WHERE id = %s", (state, path.rsplit("/", 1)[1])
        )


def test_the_running_hash_goes_from_replica_to_replica(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(5 * PIECE_SIZE + 1000)
    tus = Tus(accounts.unit_token)
    bases = [replica.url for replica in cluster.replicas]
    path = tus.create(bases[0], accounts.recipient, "b-chain", payload)
    chunk = PIECE_SIZE + PIECE_SIZE // 2  # pieces of a whole and a half: every cut differs
    offset, turn = 0, 0
    while offset < len(payload):
        answer = tus.patch(bases[turn % 2], path, offset, payload[offset : offset + chunk])
        assert answer.status_code == 204, answer.text
        offset = int(answer.headers["Upload-Offset"])
        turn += 1
        if offset < len(payload):
            committed, state = _saved(cluster, path)
            assert committed == offset
            assert state is not None
            expected = hashlib.sha256(payload[:offset]).hexdigest()
            assert Sha256State.resume(state).hexdigest() == expected
    assert deliveries(cluster, accounts, "b-chain") == (1, 1)
    assert downloaded(cluster, accounts, "b-chain", tmp_path) == payload


def test_a_body_taken_back_takes_its_hash_back(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    payload = os.urandom(3 * PIECE_SIZE)
    tus = Tus(accounts.unit_token)
    path = tus.create(cluster.url, accounts.recipient, "b-rewound", payload)
    assert tus.patch(cluster.url, path, 0, payload[:PIECE_SIZE]).status_code == 204
    before = _saved(cluster, path)

    def too_long() -> Iterator[bytes]:  # two whole pieces committed, then past the length
        yield payload[PIECE_SIZE:]
        yield os.urandom(PIECE_SIZE)

    answer = tus.patch(cluster.url, path, PIECE_SIZE, too_long())
    assert answer.status_code == 413, answer.text
    assert _saved(cluster, path) == before, "offset and hash state back where they were"
    assert tus.patch(cluster.url, path, PIECE_SIZE, payload[PIECE_SIZE:]).status_code == 204
    assert deliveries(cluster, accounts, "b-rewound") == (1, 1)
    assert downloaded(cluster, accounts, "b-rewound", tmp_path) == payload


def test_without_a_saved_state_the_pieces_are_read_back(
    cluster: Cluster, accounts: Accounts, tmp_path: Path
) -> None:
    tus = Tus(accounts.unit_token)
    # An older replica wrote the first piece and saved no state: the others cannot go on
    # hashing, save none either, and finalisation reads the pieces as stored.
    payload = os.urandom(2 * PIECE_SIZE + 10)
    path = tus.create(cluster.url, accounts.recipient, "b-unhashed", payload)
    assert tus.patch(cluster.url, path, 0, payload[:PIECE_SIZE]).status_code == 204
    _set_state(cluster, path, None)
    assert tus.patch(cluster.url, path, PIECE_SIZE, payload[PIECE_SIZE:-10]).status_code == 204
    assert _saved(cluster, path) == (2 * PIECE_SIZE, None)
    assert tus.patch(cluster.url, path, 2 * PIECE_SIZE, payload[-10:]).status_code == 204
    assert downloaded(cluster, accounts, "b-unhashed", tmp_path) == payload
    # The same path catches a stored piece that is not what was sent (here: replaced in the
    # store behind the platform's back).
    other = os.urandom(2 * PIECE_SIZE)
    path = tus.create(cluster.url, accounts.recipient, "b-swapped", other)
    assert tus.patch(cluster.url, path, 0, other[:PIECE_SIZE]).status_code == 204
    _set_state(cluster, path, None)
    (first,) = cluster.uploads.pieces(path.rsplit("/", 1)[1])
    cluster.blobs.put(first.key, os.urandom(PIECE_SIZE))
    answer = tus.patch(cluster.url, path, PIECE_SIZE, other[PIECE_SIZE:])
    assert answer.status_code == 460, answer.text
    assert deliveries(cluster, accounts, "b-swapped") == (0, 0)


def test_a_saved_state_is_checked_not_trusted_blindly(cluster: Cluster, accounts: Accounts) -> None:
    tus = Tus(accounts.unit_token)
    payload = os.urandom(2 * PIECE_SIZE)
    # A state that is not one (garbled in the record): refused, the upload goes on unhashed.
    path = tus.create(cluster.url, accounts.recipient, "b-garbled", payload)
    assert tus.patch(cluster.url, path, 0, payload[:PIECE_SIZE]).status_code == 204
    _set_state(cluster, path, b"sha256-ctx-1:" + b"\xff" * 112)
    assert tus.patch(cluster.url, path, PIECE_SIZE, payload[PIECE_SIZE:]).status_code == 204
    assert deliveries(cluster, accounts, "b-garbled") == (1, 1)
    # A state saved for another offset (an older replica advanced the offset and left the
    # state as it was): not taken up, the upload goes on unhashed and is read back.
    path = tus.create(cluster.url, accounts.recipient, "b-stale", payload)
    assert tus.patch(cluster.url, path, 0, payload[:PIECE_SIZE]).status_code == 204
    stale = Sha256State()
    stale.update(payload[: PIECE_SIZE // 2])
    _set_state(cluster, path, stale.saved())
    assert tus.patch(cluster.url, path, PIECE_SIZE, payload[PIECE_SIZE:]).status_code == 204
    assert deliveries(cluster, accounts, "b-stale") == (1, 1)
    # A well-formed state of other bytes: the digest it gives does not match, 460, nothing
    # delivered (the check is the state's, so the state must be the bytes').
    path = tus.create(cluster.url, accounts.recipient, "b-forged", payload)
    assert tus.patch(cluster.url, path, 0, payload[:PIECE_SIZE]).status_code == 204
    forged = Sha256State()
    forged.update(os.urandom(PIECE_SIZE))
    _set_state(cluster, path, forged.saved())
    answer = tus.patch(cluster.url, path, PIECE_SIZE, payload[PIECE_SIZE:])
    assert answer.status_code == 460, answer.text
    assert deliveries(cluster, accounts, "b-forged") == (0, 0)
