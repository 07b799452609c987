"""The embedded platform's own protocol tests, run against a replica of the distributed one.

The tus and mailbox tests of ``tests/core`` that speak only HTTP (not those that look into the
embedded data folder) run here unchanged, with their fixtures backed by PostgreSQL and S3: the
API does not change with the back-end. The replica here has ``--max-size 1000000``, as the
embedded tests' platform has.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from refplatform.pgrecord import PgRecord
from tests.core import test_platform_mailbox as mailbox_tests
from tests.core import test_platform_tus as tus_tests
from tests.distributed.conftest import PEM, Cluster
from tests.distributed.engines import Replica
from tests.support.platform import Station

_RUN = itertools.count()


@dataclass
class DistributedPlatform:
    """What the embedded tests read of a running platform."""

    url: str
    record: PgRecord
    data_dir: Path  # a throwaway folder: only for stations the tests make themselves
    verify: bool | str = True


class DistributedStation(Station):
    """A station registered in PostgreSQL (its name made unique unless ``exact``)."""

    def __init__(
        self, platform: DistributedPlatform, station_id: str, *, exact: bool = False
    ) -> None:
        self.platform = platform  # type: ignore[assignment]
        self.id = station_id if exact else f"{station_id}-{next(_RUN)}"
        self.token = platform.record.register_station(self.id)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def add_recipient(self, recipient_id: str, specialty: str | None = None) -> None:
        self.platform.record.register_recipient(  # type: ignore[attr-defined]
            recipient_id=recipient_id,
            station_id=self.id,
            display_name=f"Dr {recipient_id}",
            role="specialist" if specialty else "doctor",
            specialty=specialty,
            certificate_pem=PEM,
        )


@pytest.fixture(scope="module")
def platform(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DistributedPlatform]:
    cluster.engines_up()
    folder = tmp_path_factory.mktemp("conformance")
    replica = Replica(
        "conformance",
        cluster.postgres.url,
        cluster.replicas[0].blobs,
        folder,
        extra=["--max-size", str(tus_tests.MAX_SIZE), "--piece-size", str(64 * 1024)],
    )
    replica.start()
    try:
        yield DistributedPlatform(replica.url, cluster.record, folder / "embedded")
    finally:
        replica.stop()


@pytest.fixture(scope="module")
def tus_unit(platform: DistributedPlatform) -> Iterator[Station]:
    with DistributedStation(platform, "unit") as station:
        yield station


@pytest.fixture(scope="module")
def tus_hospital(platform: DistributedPlatform) -> Iterator[Station]:
    with DistributedStation(platform, "hospital") as station:
        # The tus tests address "pr-dubois"; the database is shared: take it over if needed.
        station.add_recipient("pr-dubois", "dermatology")
        yield station


@pytest.fixture(scope="module")
def mailbox_unit(platform: DistributedPlatform) -> Iterator[Station]:
    with DistributedStation(platform, "unit", exact=True) as station:
        station.add_recipient("dr-bernard")
        yield station


@pytest.fixture(scope="module")
def mailbox_hospital(platform: DistributedPlatform) -> Iterator[Station]:
    # The directory test names its stations "unit" and "hospital".
    with DistributedStation(platform, "hospital", exact=True) as station:
        yield station


@pytest.fixture
def recipient(mailbox_hospital: Station) -> str:
    """A fresh, empty mailbox read by the hospital station (as the embedded tests have it)."""
    recipient_id = f"pr-{uuid.uuid4().hex[:12]}"
    mailbox_hospital.add_recipient(recipient_id, "dermatology")
    return recipient_id


TUS = [
    "test_options_describes_the_server",
    "test_requests_without_tus_1_0_0_get_412",
    "test_creation_answers_location_and_expiry",
    "test_creation_is_validated",
    "test_patch_checks_type_offset_and_length",
    "test_chunked_bodies_are_streamed_and_bounded",
    "test_uploads_are_invisible_to_other_stations",
    "test_a_bundle_id_delivered_by_one_station_is_refused_to_another",
    "test_unknown_routes_answer_json_errors",
]
MAILBOX = [
    "test_directory_lists_recipients_with_their_station",
    "test_items_are_listed_oldest_first",
    "test_mailboxes_are_read_only_by_their_station",
    "test_a_fingerprint_shared_by_two_recipients_is_refused",
    "test_every_refusal_says_why",
]


def _call(test: object, arguments: dict[str, object], request: pytest.FixtureRequest) -> None:
    code = test.__code__  # type: ignore[attr-defined]
    names = code.co_varnames[: code.co_argcount]
    given = {name: arguments[name] for name in names if name in arguments}
    for name in names:
        if name not in given:
            given[name] = request.getfixturevalue(name)
    test(**given)  # type: ignore[operator]


def _cases(test: object) -> list[dict[str, object]]:
    """The argument sets of a test's ``parametrize`` mark (one empty set without one)."""
    cases: list[dict[str, object]] = [{}]
    for mark in getattr(test, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names = mark.args[0]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        rows = [row if len(names) > 1 else (row,) for row in mark.args[1]]
        cases = [{**case, **dict(zip(names, row, strict=True))} for case in cases for row in rows]
    return cases


@pytest.mark.parametrize("name", TUS)
def test_tus_protocol_as_embedded(
    name: str, tus_unit: Station, tus_hospital: Station, request: pytest.FixtureRequest
) -> None:
    test = getattr(tus_tests, name)
    for case in _cases(test):
        _call(test, {"unit": tus_unit, "hospital": tus_hospital, **case}, request)


@pytest.mark.parametrize("name", MAILBOX)
def test_mailbox_api_as_embedded(
    name: str, mailbox_unit: Station, mailbox_hospital: Station, request: pytest.FixtureRequest
) -> None:
    test = getattr(mailbox_tests, name)
    for case in _cases(test):
        _call(test, {"unit": mailbox_unit, "hospital": mailbox_hospital, **case}, request)
