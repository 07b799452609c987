"""The client's walk through a mailbox's pages against platforms this version cannot change:
one of the previous version (no pages), and a hostile one (a cursor that never ends).

The platform of this version is in ``test_platform_mailbox_pages.py``; these answers are
scripted by the HTTP server of ``test_outbox_bounds.py``.
"""

from __future__ import annotations

import json

import pytest

from outbox.errors import ErrorCode, OutboxError
from outbox.listing import MAX_PAGES_PER_POLL
from outbox.platform import PlatformClient
from tests.core.test_outbox_bounds import ITEMS, Server, client, item, server

__all__ = ["client", "server"]


def answer(document: object) -> bytes:
    return json.dumps(document).encode()


def test_a_platform_of_the_previous_version_is_one_page(
    server: Server, client: PlatformClient
) -> None:
    body = answer({"items": [item(n) for n in range(450)]})
    server.routes[ITEMS] = lambda h: h.fixed(body)
    listed = client.list_items("derm")
    assert [i.bundle_id for i in listed] == [f"b-{n:08d}" for n in range(450)]
    assert server.requests == [ITEMS], "one request, no limit or cursor it would not know"
    page = client.list_page("derm")
    assert (len(page.items), page.next) == (450, None)


def test_a_cursor_that_never_ends_stops_at_the_bound_of_a_poll(
    server: Server, client: PlatformClient
) -> None:
    loop = answer({"items": [item(1)], "next": "again"})
    server.routes[ITEMS] = lambda h: h.fixed(loop)
    server.routes[ITEMS + "?after=again"] = lambda h: h.fixed(loop)
    server.requests.clear()
    listed = client.list_items("derm")
    assert len(listed) == MAX_PAGES_PER_POLL
    assert len(server.requests) == MAX_PAGES_PER_POLL


def test_the_cursor_goes_back_escaped(server: Server, client: PlatformClient) -> None:
    tricky = "a&limit=1000000#/../x y"
    server.routes[ITEMS] = lambda h: h.fixed(answer({"items": [item(1)], "next": tricky}))
    escaped = ITEMS + "?after=a%26limit%3D1000000%23%2F..%2Fx%20y"
    server.routes[escaped] = lambda h: h.fixed(answer({"items": [item(2)], "next": None}))
    server.requests.clear()
    assert [i.bundle_id for i in client.list_items("derm")] == ["b-00000001", "b-00000002"]
    assert server.requests == [ITEMS, escaped]


@pytest.mark.parametrize("following", [5, "", "x" * 257, "caf\u00e9", "a\nb", ["a"], {"a": 1}])
def test_a_next_that_is_no_cursor_is_a_server_error(
    server: Server, client: PlatformClient, following: object
) -> None:
    server.routes[ITEMS] = lambda h: h.fixed(answer({"items": [], "next": following}))
    with pytest.raises(OutboxError) as caught:
        client.list_items("derm")
    assert caught.value.code == ErrorCode.SERVER_ERROR
    assert "malformed" in caught.value.detail
