"""The platform client against the real reference platform: calls and error mapping."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time

import pytest

from outbox.errors import ERROR_CODES, ErrorCode, OutboxError
from outbox.platform import PlatformClient, PlatformConfig
from outbox.transport import error_for_status
from tests.core.test_outbox_sender import Station, platform, station
from tests.support.netfault import Mode

__all__ = ["platform", "station"]  # fixtures shared with the sender tests


MIB = 1024 * 1024


def meta(station: Station, bundle_id: str, payload: bytes) -> dict[str, str]:
    digest = hashlib.sha256(payload).hexdigest()
    return {"bundle_id": bundle_id, "recipient": station.recipient, "sha256": digest, "kind": "x"}


def failure(call: object, *args: object) -> OutboxError:
    assert callable(call)
    with pytest.raises(OutboxError) as caught:
        call(*args)
    return caught.value


def test_directory_and_health(station: Station) -> None:
    assert station.client.health()["status"] == "ok"
    entries = {entry.id: entry for entry in station.client.directory()}
    mine = entries[station.recipient]
    assert (mine.display_name, mine.specialty, mine.station) == (
        "Dr Derm",
        "dermatology",
        station.hospital,
    )
    assert "BEGIN CERTIFICATE" in mine.certificate_pem


def test_upload_delivery_download_and_ack(station: Station) -> None:
    payload = os.urandom(40_000)
    client = station.client
    assert client.delivery("p-1") is None
    url = client.create(len(payload), meta(station, "p-1", payload))
    assert url.startswith(client.config.url + "/files/")
    assert client.head(url) == 0
    assert client.patch(url, 0, payload[:10_000]) == 10_000
    conflict = failure(client.patch, url, 0, payload[:10_000])
    assert (conflict.status, conflict.code, conflict.retryable) == (409, "server_error", True)
    assert client.patch(url, 10_000, payload[10_000:]) == len(payload)
    assert client.delivery("p-1")["state"] == "accepted"
    part = station.outbox.spool_dir / "p-1.part"
    part.write_bytes(payload[:25_000])
    seen: list[int] = []
    station.reader.download(station.recipient, "p-1", part, progress=seen.append)
    assert part.read_bytes() == payload
    assert seen[0] > 25_000, "resumed after the bytes the part already held"
    assert seen[-1] == len(payload)
    station.reader.acknowledge(station.recipient, "p-1")
    station.reader.acknowledge(station.recipient, "p-1")  # idempotent
    assert station.mailbox() == []


def test_rejections_map_to_stable_codes(station: Station) -> None:
    client = station.client
    unknown = failure(client.create, 10, {**meta(station, "p-2", b"x"), "recipient": "nobody"})
    assert (unknown.code, unknown.retryable) == ("unknown_recipient", False)
    huge = failure(client.create, 10**13, meta(station, "p-3", b"x"))
    assert (huge.code, huge.retryable) == ("too_large", False)
    url = client.create(5, meta(station, "p-4", b"other"))
    mismatch = failure(client.patch, url, 0, b"wrong")
    assert (mismatch.code, mismatch.status) == ("checksum_mismatch", 460)
    url = client.create(5, meta(station, "p-5", b"abcde"))
    client.terminate(url)
    client.terminate(url)  # already gone: fine
    gone = failure(client.head, url)
    assert gone.code == "upload_expired"
    assert gone.status in (404, 410)


def test_bad_token_and_unknown_ca(station: Station) -> None:
    bad_token = dataclasses.replace(station.client.config, token="not-a-valid-token-" + "x" * 30)
    with PlatformClient(bad_token) as client:
        denied = failure(client.directory)
    assert (denied.code, denied.retryable) == ("auth_failed", False)
    with PlatformClient(dataclasses.replace(station.client.config, ca_file=None)) as client:
        untrusted = failure(client.directory)
    assert (untrusted.code, untrusted.retryable) == ("tls_error", False)
    assert station.client.config.token not in repr(station.client.config)


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        (Mode.REFUSE, "network_unreachable"),
        (Mode.DROP, "network_unreachable"),
        (Mode.STALL, "timeout"),
    ],
)
def test_network_faults_fail_fast(station: Station, mode: Mode, code: str) -> None:
    station.proxy.set_mode(mode)
    config = dataclasses.replace(station.client.config, read_timeout=1)
    with PlatformClient(config) as client:
        started = time.monotonic()
        error = failure(client.directory)
    assert (error.code, error.retryable) == (code, True)
    assert time.monotonic() - started < 5, "bounded by the configured timeouts"


def test_status_mapping_covers_the_protocol() -> None:
    expected = {
        401: "auth_failed",
        403: "auth_failed",
        404: "rejected",
        410: "rejected",
        412: "rejected",
        413: "too_large",
        423: "server_error",
        429: "server_error",
        460: "checksum_mismatch",
        500: "server_error",
        503: "server_error",
    }
    for status, code in expected.items():
        assert error_for_status(status, "").code == code
    for status in (404, 410):
        gone = error_for_status(status, "", upload=True)
        assert (gone.code, gone.retryable) == ("upload_expired", True)
    assert error_for_status(422, '{"error":"unknown_recipient"}').code == "unknown_recipient"
    assert error_for_status(422, "").code == "rejected"
    assert error_for_status(409, '{"error":"bundle_taken"}').retryable is False
    assert {code.value for code in ErrorCode} == ERROR_CODES
    with pytest.raises(ValueError, match="nope"):
        OutboxError("nope")


def test_config_hides_the_token() -> None:
    config = PlatformConfig("https://platform.example", "s3cret-token", None)
    assert "s3cret" not in repr(config)


def test_silent_socket_mid_download_times_out_then_resumes(station: Station) -> None:
    payload = os.urandom(8 * 1024 * 1024)
    url = station.reader.create(len(payload), meta(station, "p-big", payload))
    station.reader.patch(url, 0, payload)
    config = dataclasses.replace(station.reader_config, url=station.proxy.url(), read_timeout=2)
    part = station.outbox.spool_dir / "p-big.part"
    with PlatformClient(config) as reader:
        started = time.monotonic()
        with pytest.raises(OutboxError) as caught:
            reader.download(
                station.recipient,
                "p-big",
                part,
                # stall once a good part has arrived, so the resume has something to skip
                progress=lambda done: done >= MIB and station.proxy.set_mode(Mode.STALL),
            )
        stalled = caught.value
        assert (stalled.code, stalled.retryable) == ("timeout", True)
        assert time.monotonic() - started < 10
        resumed_from = part.stat().st_size
        assert MIB <= resumed_from < len(payload)
        station.proxy.set_mode(Mode.PASS)
        station.proxy.reset_counters()
        reader.download(station.recipient, "p-big", part)
    assert part.read_bytes() == payload
    # only what was missing crossed the wire again (plus headers and TLS framing)
    assert station.proxy.bytes_down < len(payload) - resumed_from + 256 * 1024
