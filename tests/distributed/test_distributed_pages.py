"""Mailbox pages on the distributed platform: the cursor one replica hands out is good on the
other, and the walk with acknowledgements and arrivals between pages (shared with the
embedded platform's test, :func:`walk_with_churn`) lists every item once, in order."""

from __future__ import annotations

import hashlib
import itertools
import threading

import requests

from outbox.platform import PlatformClient
from tests.core.test_platform_mailbox_pages import PAYLOAD, walk_with_churn
from tests.distributed.conftest import Accounts, Cluster


def send(client: PlatformClient, recipient: str, bundle_id: str) -> None:
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    meta = {"bundle_id": bundle_id, "recipient": recipient, "sha256": digest}
    url = client.create(len(PAYLOAD), meta)
    assert client.patch(url, 0, PAYLOAD) == len(PAYLOAD)


def test_pages_walked_across_both_replicas_with_churn(cluster: Cluster, accounts: Accounts) -> None:
    unit = accounts.client(cluster.url)
    ids = [f"pg-{n:03d}" for n in range(90)]
    for bundle_id in ids:
        send(unit, accounts.recipient, bundle_id)
    bases = itertools.cycle(replica.url for replica in cluster.replicas)
    headers = {"Authorization": f"Bearer {accounts.hospital_token}"}
    path = f"/api/v1/mailboxes/{accounts.recipient}/items"

    def ask(query: str) -> tuple[int, dict[str, object]]:
        answer = requests.get(next(bases) + path + query, headers=headers, timeout=10)
        return answer.status_code, answer.json()

    def acknowledge(bundle_id: str) -> None:
        answer = requests.delete(f"{cluster.url}{path}/{bundle_id}", headers=headers, timeout=10)
        assert answer.status_code == 204, answer.text

    walk_with_churn(ask, ids, lambda b: send(unit, accounts.recipient, b), acknowledge, limit=11)
    unit.close()


def test_a_walk_during_concurrent_deliveries_skips_nothing(
    cluster: Cluster, accounts: Accounts
) -> None:
    """Deliveries finishing on both replicas while the specialist's station walks the pages:
    walks that go on from the last cursor they were given see every item (the last page,
    having no cursor after it, is read again until a new one follows it), none out of
    order within a page."""
    senders = [accounts.client(replica.url) for replica in cluster.replicas]
    ids = [f"cc-{n:03d}" for n in range(60)]
    errors: list[BaseException] = []

    def deliver(client: PlatformClient, mine: list[str]) -> None:
        try:
            for bundle_id in mine:
                send(client, accounts.recipient, bundle_id)
        except Exception as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(senders[k], ids[k::2])) for k in range(2)]
    for thread in threads:
        thread.start()
    reader = accounts.client(cluster.url, hospital=True)
    seen: list[str] = []
    after: str | None = None
    for _ in range(2_000):  # bounded: deliveries end in seconds
        page = reader.list_page(accounts.recipient, after, limit=4)
        listed = [item.bundle_id for item in page.items]
        assert len(listed) == len(set(listed))
        seen += [b for b in listed if b not in seen]
        if page.next is not None:
            after = page.next
        elif not any(thread.is_alive() for thread in threads) and len(seen) >= len(ids):
            break
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(seen) == sorted(ids), "an item was skipped"
    for client in (*senders, reader):
        client.close()
