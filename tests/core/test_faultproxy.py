"""The product fault proxy (``refplatform.faultproxy``): each fault kind, bounds and counters.

Upstream is either a small TCP server written here (echo, or a sink that records what each
connection received and whether it saw the end of the stream), or the real reference platform
on 127.0.0.1 for the HTTP faults.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from outbox.errors import ErrorCode, OutboxError
from outbox.platform import PlatformClient, PlatformConfig
from refplatform.accounts import register_recipient, register_station
from refplatform.faultproxy import FaultProxy, parse_address, parse_rate
from tests.support.platform import DUMMY_CERT_PEM, RunningPlatform, start_platform

TIMEOUT = 10.0


class _Handler(socketserver.BaseRequestHandler):
    server: Upstream

    def handle(self) -> None:
        record = {"data": bytearray(), "eof": False}
        with self.server.lock:
            self.server.records.append(record)
        self.request.settimeout(TIMEOUT)
        try:
            while chunk := self.request.recv(65536):
                record["data"] += chunk  # type: ignore[operator]
                if self.server.echo:
                    self.request.sendall(chunk)
            record["eof"] = True
        except OSError:
            pass


class Upstream(socketserver.ThreadingTCPServer):
    """An echo server or a sink on 127.0.0.1 that records each connection."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = True

    def __init__(self, *, echo: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.echo = echo
        self.lock = threading.Lock()
        self.records: list[dict[str, object]] = []
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def received(self, index: int = 0) -> bytes:
        return bytes(self.records[index]["data"])  # type: ignore[call-overload]

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(TIMEOUT)


def wait_until(condition: object, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def echo() -> Iterator[Upstream]:
    server = Upstream(echo=True)
    yield server
    server.close()


@pytest.fixture
def sink() -> Iterator[Upstream]:
    server = Upstream(echo=False)
    yield server
    server.close()


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def send_all(sock: socket.socket, payload: bytes) -> None:
    """Sends ``payload`` and closes the write side; a cut line may interrupt it."""
    try:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)
    except OSError:
        pass


def test_relays_both_ways_and_counts(echo: Upstream) -> None:
    payload = os.urandom(1024 * 1024)
    with FaultProxy(("127.0.0.1", echo.port)) as proxy, connect(proxy) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        assert recv_exactly(sock, len(payload)) == payload
        sender.join(TIMEOUT)
        wait_until(lambda: proxy.counters().bytes_down == len(payload))  # counted after sending
        counters = proxy.counters()
    assert counters.bytes_up == counters.bytes_down == len(payload)
    assert counters.wire == 2 * len(payload)
    assert counters.connections == 1
    assert counters.cuts == counters.errors_503 == counters.stalls == 0


def test_cut_every_delivers_exactly_the_budget_then_an_end_of_stream(sink: Upstream) -> None:
    with FaultProxy(("127.0.0.1", sink.port)) as proxy:
        proxy.set_cut_every(100_000)
        first = os.urandom(300_000)
        with connect(proxy) as sock:
            send_all(sock, first)
        wait_until(lambda: len(sink.records) == 1 and sink.records[0]["eof"])
        assert sink.received(0) == first[:100_000], "every relayed byte arrives, no more"
        second = os.urandom(150_000)
        with connect(proxy) as sock:
            send_all(sock, second)
        wait_until(lambda: len(sink.records) == 2 and sink.records[1]["eof"])
        assert sink.received(1) == second[:100_000]
        proxy.set_cut_every(None)
        with connect(proxy) as sock:
            send_all(sock, second)  # no cut once switched off
        wait_until(lambda: len(sink.records) == 3 and sink.records[2]["eof"])
        assert sink.received(2) == second
        counters = proxy.counters()
    assert counters.cuts == 2
    assert counters.bytes_up == 200_000 + len(second)


def test_cut_budget_spans_connections(sink: Upstream) -> None:
    """The budget counts bytes over all connections: a link that drops every N bytes."""
    with FaultProxy(("127.0.0.1", sink.port)) as proxy:
        proxy.set_cut_every(50_000)
        with connect(proxy) as sock:
            send_all(sock, b"a" * 30_000)
        with connect(proxy) as sock:
            send_all(sock, b"b" * 30_000)
        wait_until(lambda: len(sink.records) == 2 and sink.records[1]["eof"])
        assert sink.received(0) == b"a" * 30_000
        assert sink.received(1) == b"b" * 20_000
        assert proxy.counters().cuts == 1


def test_latency_delays_each_direction(echo: Upstream) -> None:
    with FaultProxy(("127.0.0.1", echo.port)) as proxy, connect(proxy) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"  # connected, warm
        proxy.set_latency(0.15)
        started = time.monotonic()
        sock.sendall(b"pong")
        assert recv_exactly(sock, 4) == b"pong"
        assert time.monotonic() - started >= 0.3, "0.15 s up and 0.15 s down"
        proxy.set_latency(0)
        started = time.monotonic()
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        assert time.monotonic() - started < 0.3


def test_bandwidth_throttles_and_keeps_every_byte(echo: Upstream) -> None:
    rate, size = 100_000, 250_000
    payload = os.urandom(size)
    with FaultProxy(("127.0.0.1", echo.port)) as proxy, connect(proxy) as sock:
        proxy.set_bandwidth(rate)
        started = time.monotonic()
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        assert recv_exactly(sock, size) == payload
        elapsed = time.monotonic() - started
        sender.join(TIMEOUT)
    burst = 16 * 1024
    assert elapsed >= (size - burst) / rate, "no faster than the link"


@pytest.fixture(scope="module")
def http_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path_factory.mktemp("plain"), tls=False) as running:
        yield running


def test_503_with_retry_after_on_plain_http(http_platform: RunningPlatform) -> None:
    token = register_station(http_platform.data_dir, "fp-unit")
    with FaultProxy(("127.0.0.1", http_platform.port), seed=1) as proxy:
        proxy.set_error_503(1.0, retry_after=2)
        answer = requests.get(proxy.url() + "/api/v1/health", timeout=TIMEOUT)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "2"
        # A request with a body gets its answer too (the body is swallowed, not reset).
        headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
        answer = requests.patch(
            proxy.url() + "/files/x", data=os.urandom(300_000), headers=headers, timeout=TIMEOUT
        )
        assert answer.status_code == 503
        config = PlatformConfig(proxy.url(), token, None, connect_timeout=2, read_timeout=5)
        with PlatformClient(config) as client:
            with pytest.raises(OutboxError) as caught:
                client.health()
            assert caught.value.code == ErrorCode.SERVER_ERROR
            assert caught.value.retryable
            proxy.set_error_503(0.0)
            assert client.health()["status"] == "ok"
        counters = proxy.counters()
    assert counters.errors_503 == 3
    assert counters.tls_drops == 0


def test_503_rate_is_a_seeded_share(http_platform: RunningPlatform) -> None:
    def statuses(seed: int) -> list[int]:
        with FaultProxy(("127.0.0.1", http_platform.port), seed=seed) as proxy:
            proxy.set_error_503(0.3, retry_after=1)
            found = []
            for _ in range(40):
                with requests.Session() as session:  # a fresh connection each time
                    found.append(session.get(proxy.url() + "/api/v1/health", timeout=5).status_code)
            assert proxy.counters().errors_503 == found.count(503)
            return found

    first = statuses(7)
    assert set(first) == {200, 503}
    assert 4 <= first.count(503) <= 20
    assert statuses(7) == first, "the same seed draws the same faults"


def test_503_over_tls_drops_the_connection_instead(tmp_path: Path) -> None:
    with (
        start_platform(tmp_path, tls=True) as platform,
        FaultProxy(("127.0.0.1", platform.port)) as proxy,
    ):
        proxy.set_error_503(1.0, retry_after=1)
        with pytest.raises(requests.ConnectionError):
            requests.get(proxy.url("https") + "/api/v1/health", verify=platform.verify, timeout=5)
        assert proxy.counters().tls_drops == 1
        assert proxy.counters().errors_503 == 0
        proxy.set_error_503(0.0)
        answer = requests.get(proxy.url("https") + "/api/v1/health", verify=platform.verify)
        assert answer.status_code == 200, "TLS passes through untouched"


def test_stall_before_any_answer(http_platform: RunningPlatform) -> None:
    with FaultProxy(("127.0.0.1", http_platform.port)) as proxy:
        proxy.set_stall(1.0, window=0)
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(proxy.url() + "/api/v1/health", timeout=(2, 0.5))
        assert proxy.counters().stalls == 1
        assert proxy.counters().bytes_up == proxy.counters().bytes_down == 0
        proxy.set_stall(0.0)
        assert requests.get(proxy.url() + "/api/v1/health", timeout=5).status_code == 200


def test_stall_mid_stream_freezes_both_ways_then_is_released(sink: Upstream) -> None:
    with FaultProxy(("127.0.0.1", sink.port), seed=3) as proxy:
        proxy.set_stall(1.0, window=100_000, hold=0.5)
        with connect(proxy) as sock:
            sock.settimeout(5)
            try:
                sock.sendall(os.urandom(400_000))
                closed = sock.recv(1) == b""
            except OSError:
                closed = True
            assert closed, "the proxy lets the silent connection go after its hold"
        wait_until(lambda: len(sink.records) == 1 and sink.records[0]["eof"])
        assert len(sink.received(0)) <= 100_000, "nothing passed after the stall point"
        assert proxy.counters().stalls == 1
        assert proxy.open_connections == 0


def test_one_thread_bounded_connections_and_stop_closes_all(echo: Upstream) -> None:
    before = threading.active_count()
    proxy = FaultProxy(("127.0.0.1", echo.port), max_connections=5).start()
    socks = [connect(proxy) for _ in range(7)]
    try:
        for sock in socks[:5]:
            sock.sendall(b"hi")
            assert recv_exactly(sock, 2) == b"hi"
        for sock in socks[5:]:
            assert sock.recv(1) == b"", "over the limit: closed at once"
        assert threading.active_count() - before <= 1 + 5, "one I/O thread (+ echo handlers)"
        assert proxy.counters().refused == 2
        assert proxy.open_connections == 5
        assert proxy.stop()
        for sock in socks[:5]:
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1) == b"", "closed by stop()"
    finally:
        for sock in socks:
            sock.close()
    assert not any(t.name == "faultproxy" for t in threading.enumerate())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()


def test_resume_through_cuts_against_the_platform(tmp_path: Path) -> None:
    """Our tus client resumes after each cut; every byte lands once, little is re-sent."""
    with start_platform(tmp_path, tls=True) as platform:
        token = register_station(platform.data_dir, "cut-unit")
        register_station(platform.data_dir, "cut-hosp")
        register_recipient(
            platform.data_dir,
            recipient_id="cut-derm",
            station_id="cut-hosp",
            display_name="Dr Cut",
            role="specialist",
            specialty="dermatology",
            certificate_pem=DUMMY_CERT_PEM,
        )
        payload = os.urandom(600_000)
        with FaultProxy(("127.0.0.1", platform.port)) as proxy:
            proxy.set_cut_every(150_000)
            config = PlatformConfig(proxy.url("https"), token, platform.ca_file, read_timeout=5)
            with PlatformClient(config) as client:
                meta = {
                    "bundle_id": "cut-1",
                    "recipient": "cut-derm",
                    "sha256": hashlib.sha256(payload).hexdigest(),
                    "kind": "case",
                }
                url, offset, failures = None, 0, 0
                while offset < len(payload) and failures < 20:
                    try:
                        if url is None:
                            url = client.create(len(payload), meta)
                        offset = client.head(url)
                        offset = client.patch(url, offset, payload[offset : offset + 65536])
                    except OutboxError as err:
                        if not err.retryable:
                            raise
                        failures += 1
                assert offset == len(payload)
                assert client.delivery("cut-1")["state"] == "accepted"  # type: ignore[index]
            counters = proxy.counters()
    assert counters.cuts >= 3
    # Resumed, not re-sent. A cut loses at most the request in flight: its 64 KiB body (the
    # part the platform had not read yet when the connection died; on a loaded machine that
    # can be most of it), its headers and the new connection's TLS handshake; everything else
    # relayed was kept by the platform.
    per_cut = 65_536 + 8_192
    assert counters.bytes_up < len(payload) + (counters.cuts + 1) * per_cut


def test_parse_rate_and_address() -> None:
    assert parse_rate("4mbit") == 500_000
    assert parse_rate("500k") == 500_000
    assert parse_rate("2MiB/s") == 2 * 1024**2
    assert parse_rate("1200") == 1200
    for bad in ("", "fast", "-3k", "0", "4 parsecs"):
        with pytest.raises(ValueError, match="bandwidth"):
            parse_rate(bad)
    assert parse_address("127.0.0.1:8443") == ("127.0.0.1", 8443)
    assert parse_address("[::1]:9") == ("::1", 9)
    for bad in ("127.0.0.1", ":80", "host:http", "h:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_address(bad)


def test_settings_are_checked() -> None:
    proxy = FaultProxy(("127.0.0.1", 9))
    with pytest.raises(ValueError, match="cut_every"):
        proxy.set_cut_every(0)
    with pytest.raises(ValueError, match="rate"):
        proxy.set_error_503(1.5)
    with pytest.raises(ValueError, match="bandwidth"):
        proxy.set_bandwidth(0)
    with pytest.raises(ValueError, match="latency"):
        proxy.set_latency(-1)
    with pytest.raises(ValueError, match="stall"):
        proxy.set_stall(0.5, hold=0)
    with pytest.raises(RuntimeError):
        _ = proxy.port
    assert proxy.stop()
