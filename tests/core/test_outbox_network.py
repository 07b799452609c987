"""What networks do to uploads: front ends (503 + Retry-After, 413 body caps), corruption (460),
the platform's own refusals, and hospital networks (HTTP CONNECT proxy, system proxy settings,
custom CA bundles).

Answers a TLS stream cannot carry (a 503 from a front end, a flipped byte) need plain HTTP: those
tests run the platform without TLS, behind the fault proxy.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from outbox.breaker import BreakerState
from outbox.errors import OutboxError
from outbox.jobs import JobState
from outbox.platform import PlatformClient, PlatformConfig
from tests.core.test_outbox_sender import Station, platform, station, wait_until
from tests.support.connectproxy import ConnectProxy
from tests.support.netfault import Mode
from tests.support.platform import RunningPlatform, make_tls_files, start_platform

__all__ = ["platform", "station"]  # fixtures shared with the sender tests

KIB = 1024
MIB = 1024 * KIB
PLATFORM_MAX = 3 * MIB


@pytest.fixture(scope="module")
def plain_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path_factory.mktemp("plain"), max_size=PLATFORM_MAX) as running:
        yield running


@pytest.fixture
def plain(plain_platform: RunningPlatform, tmp_path: Path) -> Iterator[Station]:
    unit = Station(plain_platform, tmp_path)
    yield unit
    unit.close()


def download(station: Station, bundle_id: str, tmp_path: Path) -> bytes:
    part = tmp_path / f"{bundle_id}.check"
    station.reader.download(station.recipient, bundle_id, part)
    return part.read_bytes()


# --- front ends and the platform's answers ----------------------------------------------------


def test_retry_after_in_seconds_is_honoured(plain: Station) -> None:
    plain.proxy.unavailable("7")
    plain.enqueue("b-503", os.urandom(5000))
    sender = plain.sender(retry_delay=lambda n: 0.05)
    wait_until(lambda: plain.state("b-503") is JobState.WAITING_RETRY)
    job = plain.outbox.get("b-503")
    assert job is not None
    assert job.next_attempt_at is not None
    assert job.next_attempt_at - job.updated_at == pytest.approx(7.0, abs=0.01)
    assert job.last_error_code == "server_error"
    assert job.last_error_detail == "HTTP 503 unavailable: Service unavailable (netfault)."
    assert sender.breaker.state is BreakerState.CLOSED, "an answer means the platform is up"
    plain.proxy.set_mode(Mode.PASS)
    plain.outbox.retry_now("b-503")
    sender.wake()
    wait_until(lambda: plain.state("b-503") is JobState.DELIVERED)


def test_retry_after_as_an_http_date_is_honoured(plain: Station) -> None:
    plain.proxy.unavailable(formatdate(time.time() + 120, usegmt=True))
    plain.enqueue("b-503-date", os.urandom(5000))
    plain.sender(retry_delay=lambda n: 0.05)
    wait_until(lambda: plain.state("b-503-date") is JobState.WAITING_RETRY)
    job = plain.outbox.get("b-503-date")
    assert job is not None
    assert job.next_attempt_at is not None
    assert 117 <= job.next_attempt_at - job.updated_at <= 120.5


def test_a_body_cap_shrinks_the_chunks_and_the_upload_goes_on(
    plain: Station, tmp_path: Path
) -> None:
    payload = os.urandom(2 * MIB)
    plain.enqueue("b-413", payload)
    plain.proxy.limit_body(300 * KIB)
    sender = plain.sender(chunk_size=MIB, max_chunk_size=8 * MIB)
    wait_until(lambda: plain.state("b-413") is JobState.DELIVERED, timeout=30)
    assert plain.proxy.answered == 2, "1 MiB and 512 KiB were refused, 256 KiB went through"
    assert sender.chunk_size == 256 * KIB, "and it never grows back into the cap"
    assert not [s for s in plain.snapshots if s.state is JobState.WAITING_RETRY]
    assert download(plain, "b-413", tmp_path) == payload


def test_a_cap_below_the_smallest_chunk_quarantines_with_the_reason(plain: Station) -> None:
    plain.enqueue("b-413-tiny", os.urandom(300 * KIB))
    plain.enqueue("b-413-small", os.urandom(30 * KIB))
    plain.proxy.limit_body(40 * KIB)
    plain.sender(chunk_size=MIB, min_chunk_size=64 * KIB, max_chunk_size=MIB, parallel=1)
    wait_until(lambda: plain.state("b-413-tiny") is JobState.QUARANTINED, timeout=30)
    job = plain.outbox.get("b-413-tiny")
    assert job is not None
    assert job.last_error_code == "too_large"
    assert "even 65536-byte chunks are refused" in (job.last_error_detail or "")
    wait_until(lambda: plain.state("b-413-small") is JobState.DELIVERED, timeout=30)


def test_a_checksum_refusal_is_resent_from_zero_once(plain: Station, tmp_path: Path) -> None:
    payload = os.urandom(200 * KIB)
    plain.enqueue("b-460", payload)
    plain.proxy.corrupt(1)  # one flipped byte on the way
    plain.sender(chunk_size=64 * KIB, max_chunk_size=64 * KIB)
    wait_until(lambda: plain.state("b-460") is JobState.DELIVERED, timeout=30)
    urls = {s.upload_url for s in plain.snapshots if s.upload_url}
    assert len(urls) == 2, "resent in a new upload"
    assert not [s for s in plain.snapshots if s.state is JobState.WAITING_RETRY]
    assert download(plain, "b-460", tmp_path) == payload


def test_a_repeated_checksum_refusal_is_quarantined(plain: Station) -> None:
    plain.enqueue("b-460-again", os.urandom(100 * KIB))
    plain.proxy.corrupt(None)  # every time
    sender = plain.sender()
    wait_until(lambda: plain.state("b-460-again") is JobState.QUARANTINED, timeout=30)
    job = plain.outbox.get("b-460-again")
    assert job is not None
    assert job.last_error_code == "checksum_mismatch"
    assert "refused again after a resend from zero" in (job.last_error_detail or "")
    assert plain.mailbox() == []
    plain.proxy.corrupt(0)  # the link is fixed; the operator retries
    plain.outbox.retry_now("b-460-again")
    sender.wake()
    wait_until(lambda: plain.state("b-460-again") is JobState.DELIVERED, timeout=30)


def test_the_platforms_reasons_reach_the_job_detail(plain: Station) -> None:
    plain.enqueue("b-nobody", b"x" * 100, recipient="nobody-here")
    plain.enqueue("b-huge", os.urandom(PLATFORM_MAX + 1))
    plain.sender()
    wait_until(lambda: plain.state("b-huge") is JobState.QUARANTINED)
    wait_until(lambda: plain.state("b-nobody") is JobState.QUARANTINED)
    nobody, huge = plain.outbox.get("b-nobody"), plain.outbox.get("b-huge")
    assert nobody is not None
    assert huge is not None
    assert nobody.last_error_code == "unknown_recipient"
    assert nobody.last_error_detail == (
        "HTTP 422 unknown_recipient: The recipient is not registered."
    )
    assert huge.last_error_code == "too_large"
    assert huge.last_error_detail == (
        f"HTTP 413 too_large: Upload-Length exceeds the maximum of {PLATFORM_MAX} bytes."
    )


def test_a_head_refusal_names_its_reason_in_a_header(plain: Station) -> None:
    with pytest.raises(OutboxError) as gone:
        plain.client.head(plain.client.config.url + "/files/0123456789abcdef")
    assert gone.value.code == "upload_expired"
    assert gone.value.detail == "HTTP 404 not_found"


# --- hospital networks ----------------------------------------------------------------------


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as proxy:
        yield proxy


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("NO_PROXY", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def direct_config(station: Station, **changes: object) -> PlatformConfig:
    """The unit's configuration, straight to the platform (not through the fault proxy)."""
    return dataclasses.replace(
        station.client.config,
        url=station.reader_config.url,
        **changes,  # type: ignore[arg-type]
    )


def test_an_explicit_connect_proxy_carries_the_upload(
    station: Station, connect_proxy: ConnectProxy, no_proxy_env: pytest.MonkeyPatch
) -> None:
    client = PlatformClient(direct_config(station, proxy=connect_proxy.url))
    station.enqueue("b-proxy", os.urandom(300 * KIB))
    try:
        station.sender(client)
        wait_until(lambda: station.state("b-proxy") is JobState.DELIVERED)
    finally:
        for sender in station._senders:
            sender.stop(10)
        client.close()
    port = station.reader_config.url.rsplit(":", 1)[1]
    assert connect_proxy.tunnels >= 1
    assert set(connect_proxy.targets) == {f"127.0.0.1:{port}"}
    assert station.proxy.connections == 0, "nothing went the direct way"
    assert station.mailbox() == ["b-proxy"]


def test_system_proxy_settings_are_honoured(
    station: Station, connect_proxy: ConnectProxy, no_proxy_env: pytest.MonkeyPatch
) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", connect_proxy.url)
    with PlatformClient(direct_config(station)) as client:
        assert client.health()["status"] == "ok"
    assert connect_proxy.tunnels == 1
    with PlatformClient(direct_config(station, trust_env=False)) as client:
        assert client.health()["status"] == "ok"
    assert connect_proxy.tunnels == 1, "trust_env=False ignores the environment"
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    with PlatformClient(direct_config(station)) as client:
        assert client.health()["status"] == "ok"
    assert connect_proxy.tunnels == 1, "NO_PROXY bypasses the proxy"


def test_a_proxy_demanding_credentials_is_a_proxy_error(
    station: Station, no_proxy_env: pytest.MonkeyPatch
) -> None:
    with ConnectProxy(require_auth=True) as strict:
        client = PlatformClient(direct_config(station, proxy=strict.url))
        station.enqueue("b-407", b"x" * 1000)
        try:
            station.sender(client)
            wait_until(lambda: station.state("b-407") is JobState.WAITING_RETRY)
        finally:
            for sender in station._senders:
                sender.stop(10)
            client.close()
        assert strict.refused >= 1
    job = station.outbox.get("b-407")
    assert job is not None
    assert (job.last_error_code, job.attempts) == ("proxy_error", 1)


def test_a_wrong_ca_bundle_is_a_tls_error_even_through_a_proxy(
    station: Station, connect_proxy: ConnectProxy, no_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other_ca = make_tls_files(tmp_path / "other").ca_file
    for proxy in (None, connect_proxy.url):
        # ca_bundle replaces ca_file (which is right here): verification uses the bundle.
        config = direct_config(station, ca_bundle=other_ca, proxy=proxy)
        with PlatformClient(config) as client, pytest.raises(OutboxError) as refused:
            client.directory()
        assert (refused.value.code, refused.value.retryable) == ("tls_error", False)
    with PlatformClient(direct_config(station, ca_bundle=station.reader_config.ca_file)) as client:
        assert client.directory(), "the right bundle works"


def test_config_checks_and_hides_secrets() -> None:
    config = PlatformConfig(
        "https://platform.example", "s3cret-token", None, proxy="http://u:pa55@proxy:3128"
    )
    assert "s3cret" not in repr(config)
    assert "pa55" not in repr(config)
    assert config.verify is True, "TLS verification is on by default"
    with pytest.raises(ValueError, match="proxy"):
        PlatformConfig("https://platform.example", "t", None, proxy="socks5://proxy:1080")
    with pytest.raises(ValueError, match="timeouts"):
        PlatformConfig("https://platform.example", "t", None, idle_timeout=0)
