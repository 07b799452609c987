"""The per-station limits hold across replicas: reservations, quotas, routes (PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import threading
import time

import requests

from refplatform.pglimits import PgLimitsStore
from refplatform.quotas import Quota, Route
from tests.distributed.conftest import Accounts, Cluster


def create(base: str, token: str, recipient: str, bundle_id: str, size: int) -> requests.Response:
    fields = {
        "bundle_id": bundle_id,
        "recipient": recipient,
        "sha256": hashlib.sha256(bundle_id.encode()).hexdigest(),
    }
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())
    return requests.post(
        base + "/files/",
        headers={
            "Authorization": f"Bearer {token}",
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(size),
            "Upload-Metadata": meta,
        },
        timeout=10,
    )


def test_a_bundle_id_is_reserved_for_the_first_station_on_every_replica(
    cluster: Cluster, accounts: Accounts
) -> None:
    other = cluster.record.register_station(f"other-{accounts.unit}")
    r1, r2 = (replica.url for replica in cluster.replicas)
    assert create(r1, accounts.unit_token, accounts.recipient, "b-reserved", 100).status_code == 201
    taken = create(r2, other, accounts.recipient, "b-reserved", 100)
    assert taken.status_code == 409
    assert taken.json()["error"] == "bundle_taken"
    assert create(r2, accounts.unit_token, accounts.recipient, "b-reserved", 100).status_code == 201


def test_a_quota_of_one_open_upload_admits_one_creation_across_replicas(
    cluster: Cluster, accounts: Accounts
) -> None:
    limits = PgLimitsStore(cluster.record)
    limits.set_quota(accounts.unit, Quota(open_uploads=1), time.time())
    bases = [replica.url for replica in cluster.replicas]
    barrier = threading.Barrier(2)
    answers: list[requests.Response] = []

    def one(n: int) -> None:
        barrier.wait(10)
        answers.append(create(bases[n], accounts.unit_token, accounts.recipient, f"b-q{n}", 10))

    threads = [threading.Thread(target=one, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201, 429], codes
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()["error"] == "quota_open_uploads"
    assert refused.headers["Retry-After"].isdigit()
    assert limits.open_uploads(accounts.unit, time.time()) == (1, 10)


def test_routes_decide_who_writes_to_whom(cluster: Cluster, accounts: Accounts) -> None:
    limits = PgLimitsStore(cluster.record)
    outsider = f"outsider-{accounts.unit}"
    outsider_token = cluster.record.register_station(outsider)
    route = Route(accounts.unit, "station", accounts.hospital)
    assert limits.add_route(route, time.time())
    try:
        allowed = create(cluster.url, accounts.unit_token, accounts.recipient, "b-routed", 10)
        assert allowed.status_code == 201
        refused = create(cluster.url, outsider_token, accounts.recipient, "b-unrouted", 10)
        assert refused.status_code == 403
        assert refused.json()["error"] == "route_forbidden"
        assert route in limits.routes()
    finally:
        assert limits.remove_route(route)  # no route at all: the other tests' default
    assert create(cluster.url, outsider_token, accounts.recipient, "b-free", 10).status_code == 201
