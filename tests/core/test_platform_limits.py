"""Connection-level limits of the real platform on 127.0.0.1: header timeout, connection caps,
body idle timeout, and a bounded log under a flood of half-open connections."""

from __future__ import annotations

import json
import os
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import RunningPlatform, Station, start_platform

HEADER_TIMEOUT = 3.0
PER_ADDRESS = 64
ATTACKERS = 300
#: The attacker's own address: all of 127.0.0.0/8 is loopback on Linux.
ATTACKER_ADDRESS = "127.0.0.2"


def _half_open(platform: RunningPlatform, source: str) -> socket.socket:
    """A connection that starts a request and never finishes its headers."""
    sock = socket.create_connection(
        ("127.0.0.1", platform.port), timeout=5, source_address=(source, 0)
    )
    sock.sendall(b"POST /files/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n")
    return sock


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes (raises if it is still open at deadline)."""
    received = bytearray()
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            raise AssertionError("the server kept the connection open") from None
        except ConnectionResetError:
            return bytes(received)
        if not chunk:
            return bytes(received)
        received += chunk


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    with start_platform(
        tmp_path,
        header_timeout=HEADER_TIMEOUT,
        max_connections_per_address=PER_ADDRESS,
    ) as running:
        yield running


def test_half_open_connections_neither_block_stations_nor_fill_the_log(
    platform: RunningPlatform,
) -> None:
    with Station(platform, "unit") as unit, Station(platform, "hospital") as hospital:
        hospital.add_recipient("pr-dubois", "dermatology")
        opened = time.monotonic()
        attackers = [_half_open(platform, ATTACKER_ADDRESS) for _ in range(ATTACKERS)]
        try:
            # A few trickle a header line now and then: that must not extend their deadline.
            for sock in attackers[:5]:
                sock.sendall(b"X-Slow: 1\r\n")
            started = time.monotonic()
            payload = os.urandom(200_000)
            bundle_id = str(uuid.uuid4())
            answer = unit.send("pr-dubois", payload, bundle_id)
            assert answer.status_code == 204, answer.text
            listing = hospital.call("GET", "/api/v1/mailboxes/pr-dubois/items")
            assert listing.status_code == 200
            assert [item["bundle_id"] for item in listing.json()["items"]] == [bundle_id]
            assert time.monotonic() - started < 3.0, "a real station waited behind the flood"
            time.sleep(1.0)
            for sock in attackers[:5]:
                sock.sendall(b"X-Slow: 2\r\n")

            # Over the per-address cap: 503 at once, saying why, with Retry-After.
            deadline = opened + HEADER_TIMEOUT + 3.0
            answers = [_read_until_closed(sock, deadline) for sock in attackers]
            closed_at = time.monotonic()
        finally:
            for sock in attackers:
                sock.close()
    refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
    timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408")]
    assert len(refused) == ATTACKERS - PER_ADDRESS
    assert len(timed_out) == PER_ADDRESS, "the admitted ones are closed at the header timeout"
    head, _, body = refused[0].partition(b"\r\n\r\n")
    assert b"Retry-After: " in head
    assert json.loads(body)["error"] == "too_many_connections"
    assert closed_at - opened >= HEADER_TIMEOUT - 0.5, "closed only once the timeout passed"
    log = platform.stderr_path.read_text(encoding="utf-8")
    assert platform.stderr_path.stat().st_size < 16_000, log[-2000:]
    assert 1 <= log.count("refused a connection") <= 5
    assert 1 <= log.count("no complete request headers") <= 5


def test_the_global_cap_answers_503_rather_than_hanging(tmp_path: Path) -> None:
    with (
        start_platform(tmp_path, max_connections=8, max_connections_per_address=0) as platform,
        Station(platform, "unit") as unit,
    ):
        idle = [_half_open(platform, f"127.0.0.{3 + n}") for n in range(8)]
        try:
            time.sleep(0.3)
            started = time.monotonic()
            answer = unit.call("GET", "/api/v1/health")
            assert time.monotonic() - started < 2.0
            assert answer.status_code == 503
            assert answer.json()["error"] == "too_many_connections"
            assert "too many open connections" in answer.json()["detail"]
            assert int(answer.headers["Retry-After"]) > 0
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.3)
        unit.session.close()
        assert unit.call("GET", "/api/v1/health").status_code == 200


def test_a_request_body_that_stops_arriving_is_dropped(tmp_path: Path) -> None:
    with (
        start_platform(tmp_path, idle_timeout=1) as platform,
        Station(platform, "unit") as unit,
    ):
        sock = socket.create_connection(("127.0.0.1", platform.port), timeout=5)
        body_start = b'{"count": 1, '
        sock.sendall(
            b"POST /api/v1/journal/checkpoints HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {unit.token}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
            + body_start
        )
        started = time.monotonic()
        _read_until_closed(sock, started + 6.0)
        assert time.monotonic() - started >= 1.0
        sock.close()
        assert unit.call("GET", "/api/v1/health").status_code == 200  # still serving
        assert "stopped sending the body" in platform.stderr_path.read_text(encoding="utf-8")


def test_an_answer_the_client_stops_reading_is_dropped(tmp_path: Path) -> None:
    with (
        start_platform(tmp_path, idle_timeout=1) as platform,
        Station(platform, "unit") as unit,
        Station(platform, "hospital") as hospital,
    ):
        hospital.add_recipient("pr-dubois")
        payload = os.urandom(24 * 1024 * 1024)
        bundle_id = str(uuid.uuid4())
        assert unit.send("pr-dubois", payload, bundle_id).status_code == 204
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", platform.port))
        sock.sendall(
            f"GET /api/v1/mailboxes/pr-dubois/items/{bundle_id} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Bearer {hospital.token}\r\n\r\n".encode()
        )
        log = platform.stderr_path
        deadline = time.monotonic() + 15
        while "stopped reading the answer" not in log.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, "the server kept writing to a client not reading"
            time.sleep(0.2)
        sock.close()
        # The item is still there for a reader that reads.
        again = hospital.call("GET", f"/api/v1/mailboxes/pr-dubois/items/{bundle_id}")
        assert again.content == payload


def test_over_tls_a_handshake_or_headers_never_finished_are_dropped(tmp_path: Path) -> None:
    with start_platform(tmp_path, tls=True, header_timeout=HEADER_TIMEOUT) as platform:
        silent = [
            socket.create_connection(("127.0.0.1", platform.port), timeout=5) for _ in range(20)
        ]
        context = ssl.create_default_context(cafile=str(platform.ca_file))
        raw = socket.create_connection(("127.0.0.1", platform.port), timeout=5)
        handshaken = context.wrap_socket(raw, server_hostname="127.0.0.1")
        handshaken.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        deadline = started + HEADER_TIMEOUT + 3.0
        try:
            for sock in silent:  # no TLS handshake at all
                _read_until_closed(sock, deadline)
            answer = _read_until_closed(handshaken, deadline)
        finally:
            for sock in [*silent, handshaken]:
                sock.close()
        assert answer.startswith(b"HTTP/1.1 408")
        assert time.monotonic() - started >= HEADER_TIMEOUT - 0.5
