"""Interop: our tus client against an independent tus 1.0 server (@tus/server + @tus/file-store).

The reference platform in ``refplatform/`` was written by us, so a shared misreading of the tus
1.0 specification would pass every other test. Here :class:`PlatformClient` talks over real
sockets to the tus project's own Node.js server, run from ``tus-server.mjs`` on 127.0.0.1, and
each test reads what that server stored on disk (``ID`` holds the bytes, ``ID.json`` the upload
record with the decoded metadata).

The pinned packages come from ``package-lock.json``: the first test of a session runs
``npm ci`` when they are not installed. Without node or npm, with a node too old for the pinned
@tus/server, or when ``npm ci`` fails, the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

from outbox.errors import ErrorCode, OutboxError
from outbox.platform import PlatformClient, PlatformConfig, encode_metadata
from tests.support.tools import require_tool

HERE = Path(__file__).resolve().parent
MIN_NODE = (20, 19)  # engines of @tus/server 2.x and @tus/file-store 2.x
NPM_CI_TIMEOUT = 300.0
START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
READY = re.compile(r"tus-server ready (http://127\.0\.0\.1:\d+)/files/")

CHUNK = 64 * 1024
LENGTH = 3 * CHUNK + 1234  # four PATCHes, the last one short


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _unavailable(message: str) -> NoReturn:
    """Skips the test, but fails it under ``CI=true`` (the rule of ``require_tool``)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must provide it: see .ci/run)")
    pytest.skip(message)
    raise AssertionError("unreachable")


def _pinned_packages_installed() -> bool:
    """Tells whether ``node_modules`` holds exactly the versions ``package.json`` pins."""
    pins: dict[str, str] = _json(HERE / "package.json")["dependencies"]
    for name, version in pins.items():
        manifest = HERE / "node_modules" / name / "package.json"
        if not manifest.is_file() or _json(manifest)["version"] != version:
            return False
    return True


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable, with the pinned @tus packages installed next to this file."""
    node = require_tool("node")
    npm = require_tool("npm")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    found = re.match(r"v(\d+)\.(\d+)\.", version)
    if found is None or (int(found[1]), int(found[2])) < MIN_NODE:
        wanted = ".".join(map(str, MIN_NODE))
        _unavailable(f"`node` {version} is too old for the pinned @tus/server (needs >= {wanted})")
    if not _pinned_packages_installed():
        command = [npm, "ci", "--no-audit", "--no-fund"]
        try:
            result = subprocess.run(
                command, cwd=HERE, capture_output=True, text=True, timeout=NPM_CI_TIMEOUT
            )
        except subprocess.TimeoutExpired:
            _unavailable(f"`npm ci` in tests/interop took more than {NPM_CI_TIMEOUT:.0f} s")
        if result.returncode != 0 or not _pinned_packages_installed():
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            _unavailable(f"`npm ci` failed in tests/interop (exit {result.returncode}):\n{tail}")
    return node


@dataclass(frozen=True)
class TusServer:
    """A running @tus/server and the directory its file store writes to."""

    url: str  # the origin, e.g. http://127.0.0.1:40123; uploads live under /files/
    store: Path

    def config(self) -> PlatformConfig:
        # The token is sent (our client always does) and ignored: the server has no auth.
        return PlatformConfig(self.url, "interop-token", None, connect_timeout=2, read_timeout=5)

    def _file(self, upload_url: str) -> Path:
        path = urlsplit(upload_url).path
        assert path.startswith("/files/"), upload_url
        upload_id = path.removeprefix("/files/")
        assert re.fullmatch(r"[0-9a-f]+", upload_id), upload_url
        return self.store / upload_id

    def data(self, upload_url: str) -> bytes:
        """The bytes @tus/file-store holds for an upload."""
        return self._file(upload_url).read_bytes()

    def record(self, upload_url: str) -> dict[str, Any]:
        """The ``.json`` record @tus/file-store keeps next to an upload (decoded metadata)."""
        record: dict[str, Any] = _json(self._file(upload_url).with_suffix(".json"))
        return record

    def holds(self, upload_url: str) -> bool:
        file = self._file(upload_url)
        return file.exists() or file.with_suffix(".json").exists()


def _wait_ready(process: subprocess.Popen[bytes], out: Path, err: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = _text(out)
        if "\n" in text:
            ready = READY.fullmatch(text.splitlines()[0])
            if ready is None:
                pytest.fail(f"unexpected first line from tus-server.mjs: {text!r}")
            return ready[1]
        if process.poll() is not None:
            pytest.fail(f"tus-server.mjs exited with {process.returncode}:\n{_text(err)}")
        time.sleep(0.02)
    pytest.fail(f"tus-server.mjs not ready after {START_TIMEOUT:.0f} s:\n{_text(err)}")


def _stop(process: subprocess.Popen[bytes], err: Path) -> None:
    crashed = process.poll()
    if crashed is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
            pytest.fail("tus-server.mjs ignored SIGTERM")
    if process.returncode != 0:
        pytest.fail(f"tus-server.mjs exited with {process.returncode}:\n{_text(err)}")


@pytest.fixture
def tus(node: str, tmp_path: Path) -> Iterator[TusServer]:
    """A fresh @tus/server on a free port of 127.0.0.1, stopped (SIGTERM) after the test."""
    store = tmp_path / "store"
    out, err = tmp_path / "tus-server.out", tmp_path / "tus-server.err"
    command = [node, str(HERE / "tus-server.mjs"), str(store), "0"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=HERE, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
    try:
        yield TusServer(_wait_ready(process, out, err), store)
    finally:
        _stop(process, err)


@pytest.fixture
def client(tus: TusServer) -> Iterator[PlatformClient]:
    with PlatformClient(tus.config()) as platform:
        yield platform


def _payload(length: int = LENGTH, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(length)


def _metadata(payload: bytes) -> dict[str, str]:
    # The four keys the sender puts in every upload (outbox/sender.py).
    return {
        "bundle_id": "0b6f1c2e-4d5a-4e8b-9c3d-2a1f0e9d8c7b",
        "recipient": "dr-martin-dermato-chu",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "kind": "case",
    }


def _push(client: PlatformClient, url: str, payload: bytes, offset: int, end: int) -> int:
    """PATCHes ``payload[offset:end]`` in chunks, checking each new offset the server reports."""
    while offset < end:
        chunk = payload[offset : min(offset + CHUNK, end)]
        new_offset = client.patch(url, offset, chunk)
        assert new_offset == offset + len(chunk)
        offset = new_offset
    return offset


def test_upload_in_chunks_stores_our_exact_bytes(tus: TusServer, client: PlatformClient) -> None:
    payload = _payload()
    url = client.create(len(payload), _metadata(payload))
    assert url.startswith(f"{tus.url}/files/")
    assert client.head(url) == 0  # a HEAD MUST carry Upload-Offset, even 0
    assert tus.data(url) == b""

    assert _push(client, url, payload, 0, len(payload)) == len(payload)

    assert client.head(url) == len(payload)
    assert tus.data(url) == payload
    assert tus.record(url)["size"] == len(payload)


def test_a_new_client_resumes_from_the_offset_head_returns(tus: TusServer) -> None:
    payload = _payload(seed=2)
    half = len(payload) // 2 + 7  # not on a chunk boundary
    with PlatformClient(tus.config()) as first:
        url = first.create(len(payload), _metadata(payload))
        _push(first, url, payload, 0, half)

    # As after a restart of the station: only the persisted URL survives.
    with PlatformClient(tus.config()) as second:
        offset = second.head(url)
        assert offset == half
        _push(second, url, payload, offset, len(payload))
        assert second.head(url) == len(payload)
    assert tus.data(url) == payload


def test_resume_after_a_patch_cut_mid_body_trusts_the_server_offset(tus: TusServer) -> None:
    payload = _payload(seed=3)
    with PlatformClient(tus.config()) as first:
        url = first.create(len(payload), _metadata(payload))
        _push(first, url, payload, 0, CHUNK)

    # A station dying mid-PATCH: the request announces the rest, sends part of it, and the
    # socket goes away. @tus/server keeps whatever bytes reached it, so only HEAD knows the offset.
    sent = CHUNK + 5000
    parts = urlsplit(url)
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: {CHUNK}\r\nContent-Type: application/offset+octet-stream\r\n"
        f"Content-Length: {len(payload) - CHUNK}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as cut:
        cut.sendall(head.encode("ascii") + payload[CHUNK:sent])

    with PlatformClient(tus.config()) as second:
        offset = second.head(url)
        assert CHUNK <= offset <= sent
        _push(second, url, payload, offset, len(payload))
        assert second.head(url) == len(payload)
    assert tus.data(url) == payload


def test_an_offset_mismatch_is_a_retryable_server_error(
    tus: TusServer, client: PlatformClient
) -> None:
    payload = _payload(seed=4)
    url = client.create(len(payload), _metadata(payload))
    _push(client, url, payload, 0, CHUNK)

    for wrong in (0, CHUNK - 1, CHUNK + 1):
        with pytest.raises(OutboxError) as caught:
            client.patch(url, wrong, payload[wrong : wrong + 100])
        # @tus/server answers 409 Conflict; outbox/transport.py maps a 409 without
        # "bundle_taken" to server_error, retryable, and the sender resyncs on status 409.
        assert caught.value.code == ErrorCode.SERVER_ERROR
        assert caught.value.retryable is True
        assert caught.value.status == 409

    # "Without modifying the upload resource": the sender's recovery (HEAD, go on) completes it.
    assert tus.data(url) == payload[:CHUNK]
    offset = client.head(url)
    assert offset == CHUNK
    _push(client, url, payload, offset, len(payload))
    assert tus.data(url) == payload


def test_a_terminated_upload_is_expired(tus: TusServer, client: PlatformClient) -> None:
    payload = _payload(seed=5)
    url = client.create(len(payload), _metadata(payload))
    _push(client, url, payload, 0, CHUNK)

    client.terminate(url)
    assert not tus.holds(url)

    with pytest.raises(OutboxError) as caught:
        client.head(url)
    assert caught.value.code == ErrorCode.UPLOAD_EXPIRED
    assert caught.value.status in (404, 410)
    with pytest.raises(OutboxError) as caught:
        client.patch(url, CHUNK, payload[CHUNK : 2 * CHUNK])
    assert caught.value.code == ErrorCode.UPLOAD_EXPIRED
    client.terminate(url)  # already gone counts as done


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="sender-keys"),
        # Values whose base64 uses "+", "/" and "=" (standard alphabet, padded) and UTF-8.
        pytest.param({"note": "Lésion ~??? à l'épaule ÿ"}, id="non-ascii"),
    ],
)
def test_upload_metadata_round_trips_through_the_server(
    tus: TusServer, client: PlatformClient, extra: dict[str, str]
) -> None:
    payload = _payload(seed=6)
    metadata = _metadata(payload) | extra
    for value in extra.values():  # the premise of this case, whatever our encoder does
        standard = base64.b64encode(value.encode()).decode()
        assert all(c in standard for c in "+/="), standard

    url = client.create(len(payload), metadata)

    # @tus/server decoded the header itself (base64 to UTF-8) into its .json record.
    stored = tus.record(url)["metadata"]
    assert stored == metadata
    assert stored["sha256"] == hashlib.sha256(payload).hexdigest()
    # And it would have refused an alphabet or padding it does not accept (400), so check the
    # encoding we sent is exactly the standard one.
    for pair in encode_metadata(metadata).split(","):
        key, value = pair.split(" ")
        assert base64.b64decode(value, validate=True).decode() == metadata[key]
