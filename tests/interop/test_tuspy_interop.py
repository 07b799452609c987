"""Interop: ``tuspy`` (the tus project's Python client) as an independent client of our platform.

``test_tus_interop.py`` checks our client against an independent server; this checks our server
against an independent client. tuspy talks to the reference platform over TLS (it only knows
``verify=True``, so the throwaway CA is given through ``REQUESTS_CA_BUNDLE``, which ``requests``
reads), creates an upload, is interrupted (a process that stops half-way, then a link cut by
the product fault proxy), resumes from the platform's offset, and the bundle lands once in the
recipient's mailbox, byte-identical.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tusclient.client import TusClient

from outbox.platform import PlatformClient, PlatformConfig
from refplatform.accounts import register_recipient, register_station
from refplatform.faultproxy import FaultProxy
from tests.support.platform import DUMMY_CERT_PEM, RunningPlatform, start_platform

CHUNK = 64 * 1024


@dataclass
class Stations:
    platform: RunningPlatform
    token: str
    reader: PlatformClient

    def metadata(self, bundle_id: str, payload: bytes) -> dict[str, str]:
        sha = hashlib.sha256(payload).hexdigest()
        return {"bundle_id": bundle_id, "recipient": "tuspy-derm", "sha256": sha, "kind": "case"}

    def client(self, base: str) -> TusClient:
        return TusClient(base + "/files/", headers={"Authorization": f"Bearer {self.token}"})

    def landed(self, bundle_id: str, payload: bytes, tmp_path: Path) -> None:
        """The mailbox lists the bundle once, and its bytes are the payload's."""
        listed = [i.bundle_id for i in self.reader.list_items("tuspy-derm")]
        assert listed.count(bundle_id) == 1, listed
        part = tmp_path / f"{bundle_id}.part"
        self.reader.download("tuspy-derm", bundle_id, part)
        assert part.read_bytes() == payload


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path_factory.mktemp("tuspy"), tls=True) as running:
        yield running


@pytest.fixture
def stations(platform: RunningPlatform, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stations]:
    assert platform.ca_file is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(platform.ca_file))
    token = register_station(platform.data_dir, "tuspy-unit")
    reader_token = register_station(platform.data_dir, "tuspy-hosp")
    register_recipient(
        platform.data_dir,
        recipient_id="tuspy-derm",
        station_id="tuspy-hosp",
        display_name="Dr Tuspy",
        role="specialist",
        specialty="dermatology",
        certificate_pem=DUMMY_CERT_PEM,
    )
    with PlatformClient(PlatformConfig(platform.url, reader_token, platform.ca_file)) as reader:
        yield Stations(platform, token, reader)


def test_create_stop_half_way_then_resume_from_the_offset(
    stations: Stations, tmp_path: Path
) -> None:
    payload = os.urandom(5 * CHUNK + 777)
    client = stations.client(stations.platform.url)
    first = client.uploader(
        file_stream=io.BytesIO(payload),
        chunk_size=CHUNK,
        metadata=stations.metadata("tuspy-1", payload),
    )
    first.upload(stop_at=2 * CHUNK)  # the process stops here, keeping only the URL
    assert first.url is not None
    assert first.offset == 2 * CHUNK
    assert stations.reader.list_items("tuspy-derm") == [], "not finished: not delivered"

    second = client.uploader(file_stream=io.BytesIO(payload), chunk_size=CHUNK, url=first.url)
    assert second.offset == 2 * CHUNK, "tuspy read our HEAD's Upload-Offset"
    second.upload()
    assert second.offset == len(payload)
    stations.landed("tuspy-1", payload, tmp_path)

    again = client.uploader(
        file_stream=io.BytesIO(payload),
        chunk_size=CHUNK,
        metadata=stations.metadata("tuspy-1", payload),
    )
    again.upload()  # the same bundle a second time: the platform keeps one
    stations.landed("tuspy-1", payload, tmp_path)


def test_resume_after_cuts_with_retries(stations: Stations, tmp_path: Path) -> None:
    payload = os.urandom(900_000)
    with FaultProxy(("127.0.0.1", stations.platform.port)) as proxy:
        proxy.set_cut_every(200_000)
        uploader = stations.client(proxy.url("https")).uploader(
            file_stream=io.BytesIO(payload),
            chunk_size=CHUNK,
            metadata=stations.metadata("tuspy-2", payload),
            retries=20,
            retry_delay=0,
        )
        uploader.upload()
        counters = proxy.counters()
    assert uploader.offset == len(payload)
    assert counters.cuts >= 3, "the link really dropped"
    # Resumed, not restarted: at most a TLS record and a chunk in flight lost per cut.
    assert counters.bytes_up < len(payload) + counters.cuts * (CHUNK + 20_000)
    stations.landed("tuspy-2", payload, tmp_path)
    record = stations.reader.delivery("tuspy-2")
    assert record is None, "a delivery record is only shown to the sending station"
    sender = PlatformConfig(stations.platform.url, stations.token, stations.platform.ca_file)
    with PlatformClient(sender) as client:
        accepted = client.delivery("tuspy-2")
    assert accepted is not None
    assert accepted["state"] == "accepted"
