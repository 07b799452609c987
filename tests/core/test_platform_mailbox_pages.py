"""Mailbox listings in pages, over real HTTP to the embedded platform: limit, cursor, attackers.

The same walk runs against the distributed platform in
``tests/distributed/test_distributed_pages.py`` (:func:`walk_with_churn` is shared).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from outbox.inbox import Inbox, InboxFetcher
from outbox.listing import MAX_PAGES_PER_POLL
from outbox.platform import PlatformClient, PlatformConfig
from refplatform.mailpages import PAGE_LIMIT, encode_cursor
from tests.support.platform import RunningPlatform, Station, start_platform

PAYLOAD = b"sealed bundle bytes, as far as the platform knows"

#: One listing request: (query string) -> (status, JSON document).
Lister = Callable[[str], tuple[int, dict[str, object]]]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path_factory.mktemp("pages")) as running:
        yield running


@pytest.fixture(scope="module")
def unit(platform: RunningPlatform) -> Iterator[Station]:
    with Station(platform, "unit-pages") as station:
        yield station


@pytest.fixture(scope="module")
def hospital(platform: RunningPlatform) -> Iterator[Station]:
    with Station(platform, "hospital-pages") as station:
        yield station


@pytest.fixture(scope="module")
def other(platform: RunningPlatform) -> Iterator[Station]:
    """Another hospital's station: its own mailboxes, its own cursors."""
    with Station(platform, "other-pages") as station:
        yield station


def mailbox(station: Station) -> str:
    recipient = f"pr-{uuid.uuid4().hex[:12]}"
    station.add_recipient(recipient, "dermatology")
    return recipient


def fill(unit: Station, recipient: str, count: int, prefix: str = "b") -> list[str]:
    """Delivers ``count`` small bundles, in order; returns their ids."""
    ids = [f"{prefix}-{n:04d}-{uuid.uuid4().hex[:8]}" for n in range(count)]
    for bundle_id in ids:
        assert unit.send(recipient, PAYLOAD, bundle_id).status_code == 204
    return ids


def lister(station: Station, recipient: str) -> Lister:
    def ask(query: str) -> tuple[int, dict[str, object]]:
        answer = station.call("GET", f"/api/v1/mailboxes/{recipient}/items{query}")
        return answer.status_code, answer.json()

    return ask


def page_ids(document: dict[str, object]) -> list[str]:
    items = document["items"]
    assert isinstance(items, list)
    return [str(item["bundle_id"]) for item in items]


def walk_with_churn(
    ask: Lister,
    ids: list[str],
    send: Callable[[str], None],
    acknowledge: Callable[[str], None],
    limit: int = 37,
) -> None:
    """Walks a mailbox holding ``ids`` page by page while, between pages, two listed items
    are acknowledged, one not yet listed is acknowledged, and two new items arrive: every item
    present when its page is read is listed once, in order, and an acknowledged one never."""
    order = list(ids)
    seen: list[str] = []
    gone_unseen: set[str] = set()
    after: str | None = None
    pages = 0
    while True:
        query = f"?limit={limit}" + ("" if after is None else f"&after={after}")
        status, document = ask(query)
        assert status == 200, document
        listed = page_ids(document)
        assert len(listed) <= limit
        seen += listed
        pages += 1
        following = document["next"]
        if following is None:
            break
        assert isinstance(following, str)
        after = following
        for bundle_id in listed[:2]:
            acknowledge(bundle_id)
        unseen = [b for b in order if b not in set(seen) and b not in gone_unseen]
        if len(unseen) > 3:
            acknowledge(unseen[3])
            gone_unseen.add(unseen[3])
        for n in range(2):
            arrived = f"late-{pages:03d}-{n}-{uuid.uuid4().hex[:6]}"
            send(arrived)
            order.append(arrived)
    assert len(seen) == len(set(seen)), "an item was listed twice"
    assert seen == [b for b in order if b not in gone_unseen], "skipped or out of order"
    assert pages >= len(ids) // limit
    assert not gone_unseen & set(seen)


# --- the walk --------------------------------------------------------------------------------


def test_450_items_walked_with_acks_and_arrivals_between_pages(
    unit: Station, hospital: Station
) -> None:
    recipient = mailbox(hospital)
    ids = fill(unit, recipient, 450)

    def acknowledge(bundle_id: str) -> None:
        path = f"/api/v1/mailboxes/{recipient}/items/{bundle_id}"
        assert hospital.call("DELETE", path).status_code == 204

    def send(bundle_id: str) -> None:
        assert unit.send(recipient, PAYLOAD, bundle_id).status_code == 204

    walk_with_churn(lister(hospital, recipient), ids, send, acknowledge)


def test_default_and_largest_page(unit: Station, hospital: Station) -> None:
    recipient = mailbox(hospital)
    ids = fill(unit, recipient, PAGE_LIMIT + 5)
    ask = lister(hospital, recipient)
    status, first = ask("")
    assert status == 200
    assert page_ids(first) == ids[:PAGE_LIMIT], "the default page, oldest first"
    assert isinstance(first["next"], str)
    status, huge = ask("?limit=1000000000")
    assert status == 200
    assert page_ids(huge) == ids[:PAGE_LIMIT], "a huge limit is cut to the largest page"
    status, rest = ask(f"?after={first['next']}")
    assert (status, page_ids(rest), rest["next"]) == (200, ids[PAGE_LIMIT:], None)
    status, exact = ask(f"?limit=5&after={first['next']}")
    assert (page_ids(exact), exact["next"]) == (ids[PAGE_LIMIT:], None), "no empty last page"


def test_an_empty_mailbox_is_one_empty_page(hospital: Station) -> None:
    status, document = lister(hospital, mailbox(hospital))("")
    assert (status, document) == (200, {"items": [], "next": None})


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1e3", "2.5", "\uff19", "9" * 17, "", " 5"])
def test_a_bad_limit_is_a_400_with_a_reason(hospital: Station, limit: str) -> None:
    status, document = lister(hospital, mailbox(hospital))(f"?limit={limit}")
    assert status == 400
    assert document["error"] == "bad_limit"
    assert "positive integer" in str(document["detail"])


FORGED = [
    "",
    "x",
    "A" * 16,  # decodes, but not a cursor's bytes
    "A" * 17,
    encode_cursor(5) + "=",
    encode_cursor(5)[:-1] + "!",
    base64.urlsafe_b64encode(b"pmb1" + (1 << 63).to_bytes(8, "big")).decode(),
    base64.urlsafe_b64encode(b"pmb2" + (7).to_bytes(8, "big")).decode(),
    "1" * 8000,
]


@pytest.mark.parametrize("cursor", FORGED)
def test_a_forged_cursor_is_a_400_with_a_reason(hospital: Station, cursor: str) -> None:
    status, document = lister(hospital, mailbox(hospital))(f"?after={cursor}")
    assert status == 400
    assert document["error"] == "bad_cursor"
    assert "list again without it" in str(document["detail"])


# --- think like the attacker -----------------------------------------------------------------


def test_another_stations_cursor_reaches_only_the_callers_own_mailbox(
    unit: Station, hospital: Station, other: Station
) -> None:
    mine, theirs = mailbox(hospital), mailbox(other)
    their_ids = fill(unit, theirs, 6, "theirs")
    my_ids = fill(unit, mine, 6, "mine")
    their_ids += fill(unit, theirs, 6, "theirs-late")
    status, first = lister(other, theirs)("?limit=3")
    assert status == 200
    their_cursor = str(first["next"])

    status, used = lister(hospital, mine)(f"?after={their_cursor}")
    assert status == 200
    assert set(page_ids(used)) <= set(my_ids), "only the caller's own items"
    assert page_ids(used) == my_ids, "their position precedes all of mine"

    status, document = lister(hospital, theirs)(f"?after={their_cursor}")
    assert status == 403, "a cursor grants nothing: authorisation is unchanged"
    assert "items" not in document
    status, document = lister(hospital, theirs)("")
    assert status == 403


def test_a_well_formed_forged_position_stays_inside_the_mailbox(
    unit: Station, hospital: Station, other: Station
) -> None:
    theirs = mailbox(other)
    fill(unit, theirs, 4, "theirs")
    mine = mailbox(hospital)
    my_ids = fill(unit, mine, 3, "mine")
    ask = lister(hospital, mine)
    for position in (0, 1, 2, 3, 10**6):
        status, document = ask(f"?after={encode_cursor(position)}")
        assert status == 200
        assert set(page_ids(document)) <= set(my_ids)
    status, document = ask(f"?after={encode_cursor((1 << 63) - 1)}")
    assert (status, document) == (200, {"items": [], "next": None})


def test_a_cursor_reveals_no_bundle_and_no_station(unit: Station, hospital: Station) -> None:
    recipient = mailbox(hospital)
    ids = fill(unit, recipient, 3)
    status, document = lister(hospital, recipient)("?limit=1")
    assert status == 200
    cursor = str(document["next"])
    raw = base64.urlsafe_b64decode(cursor)
    assert len(cursor) == 16
    assert len(raw) == 12
    for secret in (ids[0], recipient, unit.id, hospital.id):
        assert secret.encode() not in raw
        assert secret not in cursor


# --- the client ------------------------------------------------------------------------------


def client_of(platform: RunningPlatform, station: Station) -> PlatformClient:
    config = PlatformConfig(platform.url, station.token, None, trust_env=False, read_timeout=10)
    return PlatformClient(config)


def test_the_client_walks_pages_and_stops_at_the_bound_of_a_poll(
    platform: RunningPlatform, unit: Station, hospital: Station
) -> None:
    recipient = mailbox(hospital)
    ids = fill(unit, recipient, 23)
    with client_of(platform, hospital) as client:
        first = client.list_page(recipient, limit=10)
        assert [i.bundle_id for i in first.items] == ids[:10]
        second = client.list_page(recipient, first.next, limit=10)
        assert [i.bundle_id for i in second.items] == ids[10:20]
        last = client.list_page(recipient, second.next, limit=10)
        assert ([i.bundle_id for i in last.items], last.next) == (ids[20:], None)
        assert [i.bundle_id for i in client.list_items(recipient)] == ids


def test_the_fetcher_empties_a_deep_mailbox_over_several_bounded_polls(
    platform: RunningPlatform, unit: Station, hospital: Station, tmp_path: Path
) -> None:
    recipient = mailbox(hospital)
    per_page = 3
    per_poll = per_page * MAX_PAGES_PER_POLL
    ids = fill(unit, recipient, per_poll * 2 + 4)
    with client_of(platform, hospital) as client:
        inbox = Inbox(tmp_path / "inbox.sqlite", tmp_path / "inbox")
        fetcher = InboxFetcher(inbox, client, [recipient], page_items=per_page)
        try:
            fetcher.step()
            assert sorted(i.bundle_id for i in inbox.items(recipient)) == ids[:per_poll]
            assert [i.bundle_id for i in client.list_items(recipient)] == ids[per_poll:]
            fetcher.step()
            assert len(inbox.items(recipient)) == per_poll * 2
            fetcher.step()
            assert sorted(i.bundle_id for i in inbox.items(recipient)) == sorted(ids)
            assert client.list_items(recipient) == []
            assert all(i.path.read_bytes() == PAYLOAD for i in inbox.items(recipient))
        finally:
            inbox.close()


def test_junk_at_the_head_of_a_mailbox_does_not_hide_what_follows(
    platform: RunningPlatform, unit: Station, hospital: Station, tmp_path: Path
) -> None:
    """A hostile station fills the head with items the fetcher refuses (too large, so left on
    the platform): a poll reads a bounded number of pages, the next goes on from there."""
    recipient = mailbox(hospital)
    per_page = 2
    junk = per_page * MAX_PAGES_PER_POLL + 1
    big = b"J" * 4096
    for n in range(junk):
        assert unit.send(recipient, big, f"junk-{n:03d}").status_code == 204
    wanted = fill(unit, recipient, 3, "wanted")
    with client_of(platform, hospital) as client:
        inbox = Inbox(tmp_path / "inbox.sqlite", tmp_path / "inbox")
        fetcher = InboxFetcher(inbox, client, [recipient], page_items=per_page, max_item_bytes=1024)
        try:
            fetcher.step()
            assert inbox.items(recipient) == []
            assert len(fetcher.status.refused) == per_page * MAX_PAGES_PER_POLL
            fetcher.step()  # goes on where the last poll stopped
            assert sorted(i.bundle_id for i in inbox.items(recipient)) == sorted(wanted)
            fetcher.step()  # then from the start again: the junk is still refused, not lost
            assert fetcher.status.refused[0].bundle_id == "junk-000"
            listed = [i.bundle_id for i in client.list_items(recipient)]
            assert listed == [f"junk-{n:03d}" for n in range(junk)]
        finally:
            inbox.close()
