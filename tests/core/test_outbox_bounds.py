"""Bounded answers from the platform and a bounded inbox (issue 15).

The platform's answers come from a stand-in server here (plain HTTP on 127.0.0.1) that
streams what a broken or hostile platform could: a 91 MB mailbox listing (which cost 540 MB
to parse), a length announced over the bound, a gzip bomb, JSON nested a million deep, a
directory too long. The inbox's bounds run against the real reference platform: an item
too large, an inbox full, a disk nearly full; what is refused stays on the platform, is not
downloaded, and the fetcher's status names the station that sent it.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.bundle import MAX_TOTAL_SIZE
from outbox import fetcher as fetcher_module
from outbox import platform as platform_module
from outbox.errors import ErrorCode, OutboxError
from outbox.inbox import InboxFetcher, RefusedItem
from outbox.platform import PlatformClient, PlatformConfig
from tests.core.test_inbox_fetcher import Hospital, hospital, platform, station

__all__ = ["hospital", "platform", "station"]  # fixtures shared with the inbox tests

MIB = 1024 * 1024
SECONDS = 2.0


# --- a platform that answers what the test says ---------------------------------------------

Route = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body in separate writes: no 40 ms wait
    server: Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _route(self) -> None:
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.fixed(b'{"error": "not_found"}', status=404)
        else:
            route(self)

    do_GET = do_POST = do_DELETE = _route

    def fixed(
        self, body: bytes, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.write(body)

    def streamed(self, chunks: Iterable[bytes], *, headers: dict[str, str] | None = None) -> None:
        """A chunked answer of unannounced length; stops when the client hangs up."""
        self.send_response(200)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            if not self.write(b"%x\r\n%s\r\n" % (len(chunk), chunk)):
                return
        self.write(b"0\r\n\r\n")

    def write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False
        self.server.sent += len(data)
        return True


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.sent = 0

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-answer is what these tests do

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def client(self) -> PlatformClient:
        return PlatformClient(PlatformConfig(self.url, "token", trust_env=False, read_timeout=5))


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    running = Server()
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


@pytest.fixture
def client(server: Server) -> Iterator[PlatformClient]:
    server.routes.clear()
    server.sent = 0
    with server.client() as made:
        yield made


@contextmanager
def bounded(seconds: float = SECONDS, peak: int = 16 * MIB) -> Iterator[None]:
    tracemalloc.start()
    started = time.process_time()  # the CPU spent, the server thread's included: not the load
    try:
        yield
    finally:
        elapsed = time.process_time() - started
        _current, highest = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert highest < peak, f"allocated {highest / MIB:.1f} MiB"


def refused(call: Callable[[], object], peak: int = 16 * MIB) -> OutboxError:
    with bounded(peak=peak), pytest.raises(OutboxError) as caught:
        call()
    assert caught.value.code == ErrorCode.SERVER_ERROR
    return caught.value


ITEMS = "/api/v1/mailboxes/derm/items"
DIRECTORY = "/api/v1/directory"


def item(n: int, *, size: int = 1000, station: str = "unit-1") -> dict[str, object]:
    return {
        "bundle_id": f"b-{n:08d}",
        "kind": "request",
        "size": size,
        "sha256": "ab" * 32,
        "sender_station": station,
        "received_at": "2026-11-23T10:00:00Z",
    }


def listing_chunks(total: int) -> Iterator[bytes]:
    """A mailbox listing of about ``total`` bytes, made as it is sent."""
    yield b'{"items": ['
    sent, n = 0, 0
    while sent < total:
        chunk = b",".join(json.dumps(item(n + i)).encode() for i in range(400))
        yield (b"," if n else b"") + chunk
        sent += len(chunk)
        n += 400
    yield b"]}"


# --- the platform's answers -----------------------------------------------------------------


def test_a_91_megabyte_listing_is_abandoned_early(server: Server, client: PlatformClient) -> None:
    """The issue's answer: 91 MB parsed whole into 540 MB; now abandoned past 4 MiB."""
    server.routes[ITEMS] = lambda h: h.streamed(listing_chunks(91 * 1000 * 1000))
    error = refused(lambda: client.list_items("derm"))
    assert "past" in error.detail
    time.sleep(0.2)  # the server notices the hang-up
    assert server.sent < 16 * MIB, "the rest was never read"


def test_an_announced_length_over_the_bound_is_not_read(
    server: Server, client: PlatformClient
) -> None:
    size = 50 * MIB
    server.routes[ITEMS] = lambda h: h.streamed(
        listing_chunks(size), headers={"Content-Length": str(size)}
    )
    error = refused(lambda: client.list_items("derm"))
    assert "refused" in error.detail


def test_a_gzip_bomb_is_abandoned(server: Server, client: PlatformClient) -> None:
    bomb = gzip.compress(b'{"items": [' + b" " * (64 * MIB) + b"]}", compresslevel=6)
    assert len(bomb) < 1 * MIB
    server.routes[ITEMS] = lambda h: h.fixed(bomb, headers={"Content-Encoding": "gzip"})
    refused(lambda: client.list_items("derm"))


def test_json_nested_a_million_deep_is_malformed(server: Server, client: PlatformClient) -> None:
    server.routes[ITEMS] = lambda h: h.fixed(b"[" * 1_000_000)
    assert "malformed" in refused(lambda: client.list_items("derm")).detail
    server.routes[DIRECTORY] = lambda h: h.fixed(b'{"recipients": ' + b"[" * 1_000_000)
    refused(client.directory)


def test_a_long_listing_gives_its_first_items(server: Server, client: PlatformClient) -> None:
    count = platform_module.MAX_LISTED_ITEMS + 500
    body = json.dumps({"items": [item(n) for n in range(count)]}).encode()
    assert len(body) < platform_module.MAX_JSON_BYTES
    server.routes[ITEMS] = lambda h: h.fixed(body)
    listed = client.list_items("derm")
    assert [i.bundle_id for i in listed] == [f"b-{n:08d}" for n in range(len(listed))]
    assert len(listed) == platform_module.MAX_LISTED_ITEMS


def test_a_negative_size_is_malformed(server: Server, client: PlatformClient) -> None:
    server.routes[ITEMS] = lambda h: h.fixed(json.dumps({"items": [item(1, size=-5)]}).encode())
    assert "negative" in refused(lambda: client.list_items("derm")).detail


def directory_entry(n: int) -> dict[str, object]:
    return {
        "id": f"r-{n}",
        "display_name": f"Dr {n}",
        "role": "specialist",
        "specialty": "dermatology",
        "station": "hosp-1",
        "certificate_pem": "-----BEGIN CERTIFICATE-----\n" + "A" * 64 + "\n",
    }


def test_the_directory_is_bounded(server: Server, client: PlatformClient) -> None:
    entries = [directory_entry(n) for n in range(platform_module.MAX_DIRECTORY_ENTRIES + 1)]
    server.routes[DIRECTORY] = lambda h: h.fixed(json.dumps({"recipients": entries}).encode())
    assert "entries refused" in refused(client.directory).detail
    server.routes[DIRECTORY] = lambda h: h.fixed(json.dumps({"recipients": entries[:40]}).encode())
    assert len(client.directory()) == 40
    huge = platform_module.MAX_DIRECTORY_BYTES + MIB
    chunks = (b" " * 65536 for _ in range(huge // 65536))
    server.routes[DIRECTORY] = lambda h: h.streamed(chunks)
    refused(client.directory, peak=platform_module.MAX_DIRECTORY_BYTES + 8 * MIB)


def test_bodies_nothing_is_read_from_are_dropped(server: Server, client: PlatformClient) -> None:
    """An acknowledgement answered with a huge body: the body is abandoned, the call done."""
    path = "/api/v1/mailboxes/derm/items/b-1"
    server.routes[path] = lambda h: h.streamed(b"x" * 65536 for _ in range(1600))  # 100 MiB
    with bounded():
        client.acknowledge("derm", "b-1")
    server.routes[path] = lambda h: h.fixed(b"", status=204)
    client.acknowledge("derm", "b-1")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)
LISTING = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {
            "items": st.lists(
                st.fixed_dictionaries({}, optional={k: JSON for k in item(0)}), max_size=5
            )
        }
    ),
    st.builds(
        lambda items: {"items": items}, st.lists(st.builds(item, st.integers(0, 99)), max_size=5)
    ),
)


@settings(
    max_examples=100,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(document=LISTING, raw=st.one_of(st.none(), st.binary(max_size=64)))
def test_any_listing_is_items_or_a_server_error(
    server: Server, client: PlatformClient, document: object, raw: bytes | None
) -> None:
    body = raw if raw is not None else json.dumps(document).encode()
    server.routes[ITEMS] = lambda h: h.fixed(body)
    try:
        listed = client.list_items("derm")
    except OutboxError as exc:
        outcome = str(exc.code)
    else:
        assert all(i.size >= 0 and isinstance(i.bundle_id, str) for i in listed)
        outcome = "listed"
    assert outcome in ("listed", ErrorCode.SERVER_ERROR)


# --- the inbox -------------------------------------------------------------------------------


def test_the_default_item_bound_opens_every_bundle_a_reader_accepts() -> None:
    """Every request a station may seal (up to ``MAX_STREAM_SIZE`` of files, which the
    reader opens as a stream) is downloaded: a station sending 600 MiB of clips and
    documents must not have its request refused by the specialist's inbox."""
    from cases.bundleformat import MAX_STREAM_SIZE

    assert fetcher_module.MAX_ITEM_BYTES > MAX_TOTAL_SIZE
    assert fetcher_module.MAX_ITEM_BYTES > MAX_STREAM_SIZE


def fetch_once(hospital: Hospital, **options: object) -> InboxFetcher:
    fetcher = InboxFetcher(hospital.inbox, hospital.client, [hospital.station.recipient], **options)
    fetcher.subscribe(hospital.items.append)
    fetcher.subscribe_status(hospital.statuses.append)
    fetcher.step()
    return fetcher


def test_an_item_too_large_is_left_on_the_platform_and_named(hospital: Hospital) -> None:
    hospital.deliver("r-small", b"s" * 20_000)
    hospital.deliver("r-large", b"L" * 300_000)
    hospital.station.proxy.reset_counters()
    fetch_once(hospital, max_item_bytes=100_000)
    assert [i.bundle_id for i in hospital.items] == ["r-small"]
    assert hospital.inbox.get("r-large") is None
    assert hospital.station.proxy.bytes_down < 100_000, "not downloaded"
    assert hospital.station.mailbox() == ["r-large"], "not acknowledged: it stays"
    status = hospital.statuses[-1]
    assert status.reachable
    assert status.error_code is None
    assert status.refused == (
        RefusedItem(
            bundle_id="r-large",
            recipient_id=hospital.station.recipient,
            sender_station=hospital.station.unit,
            kind="reply",
            size=300_000,
            code=fetcher_module.ITEM_TOO_LARGE,
        ),
    )


def test_a_full_inbox_waits_for_room(hospital: Hospital) -> None:
    for n in range(3):
        hospital.deliver(f"r-{n}", bytes([n]) * 50_000)
    fetch_once(hospital, max_inbox_bytes=120_000)
    assert sorted(i.bundle_id for i in hospital.items) == ["r-0", "r-1"]
    assert [(r.bundle_id, r.code) for r in hospital.statuses[-1].refused] == [
        ("r-2", fetcher_module.INBOX_FULL)
    ]
    assert hospital.station.mailbox() == ["r-2"]
    hospital.inbox.remove("r-0")  # the person discarded a bundle: room again
    fetch_once(hospital, max_inbox_bytes=120_000)
    assert hospital.inbox.get("r-2") is not None
    assert hospital.statuses[-1].refused == ()
    assert hospital.station.mailbox() == []


def test_a_nearly_full_disk_refuses_and_keeps_what_was_fetched(hospital: Hospital) -> None:
    hospital.deliver("r-disk", b"d" * 80_000)
    part = hospital.inbox.part_path("r-disk")
    part.write_bytes(b"d" * 30_000)  # a download begun earlier
    free = {"bytes": 1_000_000 + 40_000}  # the reserve, and less than the 50,000 missing

    def free_space(directory: Path) -> int:
        assert directory == hospital.inbox.directory
        return free["bytes"]

    fetch_once(hospital, disk_reserve=1_000_000, free_space=free_space)
    assert [r.code for r in hospital.statuses[-1].refused] == [fetcher_module.INBOX_FULL]
    assert part.stat().st_size == 30_000, "the part waits for room"
    free["bytes"] += 20_000
    fetch_once(hospital, disk_reserve=1_000_000, free_space=free_space)
    assert hospital.inbox.get("r-disk") is not None


def test_a_refusal_is_logged_once_and_its_station_name_is_fit_to_show(
    hospital: Hospital, caplog: pytest.LogCaptureFixture
) -> None:
    hospital.deliver("r-big", b"B" * 50_000)
    fetcher = fetch_once(hospital, max_item_bytes=1_000)
    fetcher.step()
    logged = [r for r in caplog.records if "left on the platform" in r.getMessage()]
    assert len(logged) == 1
    refusal = fetcher_module._shown("unit\n\x1b[31m" + "x" * 500)
    assert refusal.isprintable()
    assert len(refusal) == 64


def test_each_refusal_has_its_sentence() -> None:
    from app.messages import reason

    generic = reason("no_such_code")
    for code in (fetcher_module.ITEM_TOO_LARGE, fetcher_module.INBOX_FULL):
        assert reason(code) != generic.replace("no_such_code", code), code
        assert "plateforme" in reason(code)
