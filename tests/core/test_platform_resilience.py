"""Interrupted uploads, server crashes and restarts, and HTTPS, against a real subprocess.

Half-sent bodies are produced with raw sockets: the client announces a full ``Content-Length``,
sends only part of it, and then goes away (or the server is killed meanwhile).
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.support.platform import RunningPlatform, Station, start_platform, tus_metadata

PAYLOAD = os.urandom(600_000)
HALF = len(PAYLOAD) // 2


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _open_patch(station: Station, url: str, offset: int, total: int, sent: bytes) -> socket.socket:
    """Starts a PATCH announcing ``total`` body bytes but sends only ``sent``."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        f"Authorization: Bearer {station.token}\r\n"
        "Tus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {offset}\r\n"
        "Content-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {total}\r\n\r\n"
    )
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    ca_file = station.platform.ca_file
    if ca_file is not None:
        context = ssl.create_default_context(cafile=str(ca_file))
        sock = context.wrap_socket(sock, server_hostname=parts.hostname)
    sock.sendall(head.encode("ascii") + sent)
    return sock  # closing it sends no TLS close_notify: an abrupt end, as on a lost link


def _mailbox(station: Station, recipient: str) -> list[str]:
    answer = station.call("GET", f"/api/v1/mailboxes/{recipient}/items")
    assert answer.status_code == 200
    return [item["bundle_id"] for item in answer.json()["items"]]


def _download(station: Station, recipient: str, bundle_id: str) -> bytes:
    answer = station.call("GET", f"/api/v1/mailboxes/{recipient}/items/{bundle_id}")
    assert answer.status_code == 200
    return answer.content


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_bytes_of_an_aborted_patch_are_kept_and_the_upload_resumes(
    tmp_path: Path, tls: bool
) -> None:
    with start_platform(tmp_path, tls=tls) as platform, Station(platform, "unit") as unit:
        unit.add_recipient("pr-dubois")
        url = unit.create("pr-dubois", PAYLOAD, "bundle-1")
        with _open_patch(unit, url, 0, len(PAYLOAD), PAYLOAD[:HALF]):
            assert _wait_until(lambda: unit.offset(url) > 0)
        # The client went away mid-body. Once the server has noticed (an empty PATCH at the
        # reported offset is no longer locked out), the upload goes on from what was written.
        assert _wait_until(lambda: unit.patch(url, unit.offset(url), b"").status_code == 204)
        offset = unit.offset(url)
        if tls:
            # uvicorn drops what still sat in its TLS and HTTP buffers when it saw the
            # disconnect: fewer bytes may be kept, never wrong ones.
            assert 0 < offset <= HALF
        else:
            assert offset == HALF
        assert unit.patch(url, offset, PAYLOAD[offset:]).status_code == 204
        assert _mailbox(unit, "pr-dubois") == ["bundle-1"]
        assert _download(unit, "pr-dubois", "bundle-1") == PAYLOAD


def test_a_second_writer_is_told_the_upload_is_locked(tmp_path: Path) -> None:
    with start_platform(tmp_path) as platform, Station(platform, "unit") as unit:
        unit.add_recipient("pr-dubois")
        url = unit.create("pr-dubois", PAYLOAD, "bundle-1")
        with _open_patch(unit, url, 0, len(PAYLOAD), PAYLOAD[:1000]):
            assert _wait_until(lambda: unit.offset(url) == 1000)
            locked = unit.patch(url, 1000, PAYLOAD[1000:2000])
            assert locked.status_code == 423
            assert locked.json()["error"] == "upload_locked"
            assert unit.call("DELETE", url, tus=True).status_code == 423
        assert _wait_until(lambda: unit.patch(url, 1000, b"").status_code == 204)
        assert unit.patch(url, 1000, PAYLOAD[1000:]).status_code == 204
        assert _mailbox(unit, "pr-dubois") == ["bundle-1"]


def test_a_stalled_body_does_not_hold_the_upload(tmp_path: Path) -> None:
    with start_platform(tmp_path, idle_timeout=0.5) as platform, Station(platform, "unit") as unit:
        unit.add_recipient("pr-dubois")
        url = unit.create("pr-dubois", PAYLOAD, "bundle-1")
        with _open_patch(unit, url, 0, len(PAYLOAD), PAYLOAD[:1000]):  # then silence
            assert _wait_until(lambda: unit.offset(url) == 1000)  # HEAD never takes the lock
            assert _wait_until(lambda: unit.patch(url, 1000, b"").status_code == 204)
            assert unit.patch(url, 1000, PAYLOAD[1000:]).status_code == 204
        assert _mailbox(unit, "pr-dubois") == ["bundle-1"]


def test_stopping_ends_open_uploads_at_once_and_keeps_their_bytes(tmp_path: Path) -> None:
    platform = start_platform(tmp_path)
    with platform, Station(platform, "unit") as unit:
        unit.add_recipient("pr-dubois")
        url = unit.create("pr-dubois", PAYLOAD, "bundle-1")
        with _open_patch(unit, url, 0, len(PAYLOAD), PAYLOAD[:HALF]):
            assert _wait_until(lambda: unit.offset(url) == HALF)
            began = time.monotonic()
            assert platform.stop() == 0
            # Not the 5 s the platform gives open requests to end: it ended them at once.
            assert time.monotonic() - began < 4.5
        platform.start()
        assert unit.offset(url) == HALF


def test_kill_9_mid_upload_then_restart_resumes_from_a_consistent_offset(
    tmp_path: Path,
) -> None:
    with start_platform(tmp_path) as platform, Station(platform, "unit") as unit:
        unit.add_recipient("pr-dubois")
        assert unit.send("pr-dubois", b"accepted before the crash", "before").status_code == 204
        url = unit.create("pr-dubois", PAYLOAD, "during")
        with _open_patch(unit, url, 0, len(PAYLOAD), PAYLOAD[:HALF]):
            assert _wait_until(lambda: unit.offset(url) == HALF)
            platform.kill()
        platform.start()
        assert platform.url == urlsplit(url)._replace(path="").geturl()
        offset = unit.offset(url)
        assert offset == HALF
        assert unit.patch(url, offset, PAYLOAD[offset:]).status_code == 204
        assert _mailbox(unit, "pr-dubois") == ["before", "during"]
        assert _download(unit, "pr-dubois", "during") == PAYLOAD
        assert _download(unit, "pr-dubois", "before") == b"accepted before the crash"


def test_sigterm_stops_cleanly_and_data_survives_a_restart(tmp_path: Path) -> None:
    platform = start_platform(tmp_path)
    with platform, Station(platform, "unit") as unit:
        unit.add_recipient("pr-dubois")
        assert unit.send("pr-dubois", PAYLOAD, "bundle-1").status_code == 204
        assert platform.stop() == 0
        assert "Traceback" not in platform.log_tail(200)
        platform.start()
        assert _mailbox(unit, "pr-dubois") == ["bundle-1"]
        assert unit.call("GET", "/api/v1/deliveries/bundle-1").status_code == 200


def test_ready_file_holds_the_url(tmp_path: Path) -> None:
    ready = tmp_path / "ready.txt"
    with start_platform(tmp_path, ready_file=ready) as platform:
        assert ready.read_text(encoding="utf-8").strip() == platform.url
        assert (platform.work_dir / "platform-1.out").read_text().splitlines() == [
            f"Passavant platform listening on {platform.url}"
        ]


def test_https_with_the_platform_ca(tmp_path: Path) -> None:
    with start_platform(tmp_path, tls=True) as platform, Station(platform, "unit") as unit:
        assert platform.url.startswith("https://127.0.0.1:")
        assert platform.ca_file is not None
        unit.add_recipient("pr-dubois")
        with pytest.raises(requests.exceptions.SSLError):
            unit.session.get(platform.url + "/api/v1/health", timeout=10, verify=True)
        url = unit.create("pr-dubois", PAYLOAD, "bundle-1")
        assert unit.patch(url, 0, PAYLOAD[:HALF]).status_code == 204
        assert unit.patch(url, HALF, PAYLOAD[HALF:]).status_code == 204
        assert _download(unit, "pr-dubois", "bundle-1") == PAYLOAD
        delivery = unit.call("GET", "/api/v1/deliveries/bundle-1").json()
        assert delivery["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()


def test_inconsistent_tls_options_are_refused(tmp_path: Path) -> None:
    platform = RunningPlatform(
        tmp_path / "data", tmp_path / "run", extra_args=("--tls-cert", str(tmp_path / "x.pem"))
    )
    with pytest.raises(RuntimeError, match="tls-key"):
        platform.start(timeout=10)


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_bodies_are_streamed_not_held_in_memory(tmp_path: Path) -> None:
    block = os.urandom(1024 * 1024)
    blocks = 128
    digest = hashlib.sha256()
    for _ in range(blocks):
        digest.update(block)
    with start_platform(tmp_path) as platform, Station(platform, "unit") as unit:
        unit.add_recipient("pr-dubois")
        meta = tus_metadata(bundle_id="big", recipient="pr-dubois", sha256=digest.hexdigest())
        headers = {"Upload-Length": str(blocks * len(block)), "Upload-Metadata": meta}
        url = unit.call("POST", "/files/", tus=True, headers=headers).headers["Location"]
        answer = unit.session.patch(
            url,
            data=(block for _ in range(blocks)),  # chunked: never one big buffer here either
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
            timeout=60,
        )
        assert answer.status_code == 204
        item = "/api/v1/mailboxes/pr-dubois/items/big"
        received = hashlib.sha256()
        with unit.session.get(platform.url + item, stream=True, timeout=60) as download:
            assert download.status_code == 200
            for piece in download.iter_content(1024 * 1024):
                received.update(piece)
        assert received.hexdigest() == digest.hexdigest()
        assert platform.pid is not None
        assert _peak_rss(platform.pid) < 100 * 1024 * 1024
