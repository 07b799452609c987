"""The platform's tus 1.0 endpoints and authentication, over real HTTP against a subprocess."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tests.support.platform import RunningPlatform, Station, start_platform, tus_metadata

MAX_SIZE = 1_000_000
PAYLOAD = os.urandom(30_000)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path_factory.mktemp("tus"), max_size=MAX_SIZE) as running:
        yield running


@pytest.fixture(scope="module")
def unit(platform: RunningPlatform) -> Iterator[Station]:
    with Station(platform, "unit") as station:
        yield station


@pytest.fixture(scope="module")
def hospital(platform: RunningPlatform) -> Iterator[Station]:
    with Station(platform, "hospital") as station:
        station.add_recipient("pr-dubois", "dermatology")
        yield station


def _bundle_id() -> str:
    return str(uuid.uuid4())


def _creation_headers(length: int | str = len(PAYLOAD), **meta: str) -> dict[str, str]:
    values = {
        "bundle_id": _bundle_id(),
        "recipient": "pr-dubois",
        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
    }
    values.update(meta)
    return {"Upload-Length": str(length), "Upload-Metadata": tus_metadata(**values)}


def test_health_needs_no_token_but_everything_else_does(
    platform: RunningPlatform, unit: Station
) -> None:
    with Station(platform, "anonymous") as anonymous:
        anonymous.session.headers.pop("Authorization")
        health = anonymous.call("GET", "/api/v1/health")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert health.json()["version"]
        for method, path in [
            ("GET", "/api/v1/directory"),
            ("GET", "/api/v1/deliveries/x"),
            ("GET", "/api/v1/mailboxes/pr-dubois/items"),
            ("OPTIONS", "/files/"),
            ("POST", "/files/"),
        ]:
            answer = anonymous.call(method, path, tus=True)
            assert answer.status_code == 401, (method, path)
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
            assert answer.json()["error"] == "unauthorized"
        bad = anonymous.call("POST", "/files/", tus=True, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert bad.headers["Tus-Resumable"] == "1.0.0"


def test_options_describes_the_server(unit: Station) -> None:
    answer = unit.call("OPTIONS", "/files/")
    assert answer.status_code == 204
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    extensions = answer.headers["Tus-Extension"].split(",")
    assert set(extensions) == {"creation", "termination", "expiration"}
    assert answer.headers["Tus-Max-Size"] == str(MAX_SIZE)


@pytest.mark.parametrize("version", [None, "0.2.2", "1.0"])
def test_requests_without_tus_1_0_0_get_412(unit: Station, version: str | None) -> None:
    headers = _creation_headers()
    if version is not None:
        headers["Tus-Resumable"] = version
    answer = unit.call("POST", "/files/", headers=headers)
    assert answer.status_code == 412
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert answer.headers["Tus-Resumable"] == "1.0.0"


def test_creation_answers_location_and_expiry(unit: Station, hospital: Station) -> None:
    answer = unit.call("POST", "/files/", tus=True, headers=_creation_headers())
    assert answer.status_code == 201
    assert answer.headers["Location"].startswith(unit.platform.url + "/files/")
    expires = parsedate_to_datetime(answer.headers["Upload-Expires"]).timestamp()
    assert 23 * 3600 < expires - time.time() < 25 * 3600
    head = unit.call("HEAD", answer.headers["Location"], tus=True)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(PAYLOAD))
    assert head.headers["Cache-Control"] == "no-store"
    assert head.headers["Upload-Expires"] == answer.headers["Upload-Expires"]
    assert head.headers["Tus-Resumable"] == "1.0.0"


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({"Upload-Metadata": "x"}, 400, "invalid_header"),
        (_creation_headers(length="abc"), 400, "invalid_header"),
        (_creation_headers(length="-5"), 400, "invalid_header"),
        (_creation_headers(length=0), 400, "invalid_header"),
        ({**_creation_headers(), "Upload-Defer-Length": "1"}, 400, "invalid_header"),
        ({"Upload-Length": "10"}, 400, "invalid_metadata"),
        ({"Upload-Length": "10", "Upload-Metadata": "bundle_id !!!"}, 400, "invalid_metadata"),
        (_creation_headers(sha256="abc"), 400, "invalid_metadata"),
        (_creation_headers(bundle_id="../../etc"), 400, "invalid_metadata"),
        (_creation_headers(recipient=""), 400, "invalid_metadata"),
        (_creation_headers(length=MAX_SIZE + 1), 413, "too_large"),
        (_creation_headers(recipient="nobody"), 422, "unknown_recipient"),
    ],
)
def test_creation_is_validated(
    unit: Station, hospital: Station, headers: dict[str, str], status: int, error: str
) -> None:
    answer = unit.call("POST", "/files/", tus=True, headers=headers)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert "Location" not in answer.headers


def test_patch_checks_type_offset_and_length(unit: Station, hospital: Station) -> None:
    url = unit.create("pr-dubois", PAYLOAD, _bundle_id())
    octets = "application/offset+octet-stream"
    wrong_type = {"Upload-Offset": "0", "Content-Type": "application/octet-stream"}
    assert unit.call("PATCH", url, tus=True, headers=wrong_type, data=b"x").status_code == 415
    no_offset = {"Content-Type": octets}
    assert unit.call("PATCH", url, tus=True, headers=no_offset, data=b"x").status_code == 400
    first = unit.patch(url, 0, PAYLOAD[:1000])
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == "1000"
    assert first.headers["Upload-Expires"]
    stale = unit.patch(url, 0, PAYLOAD[:1000])
    assert stale.status_code == 409
    assert stale.json()["error"] == "offset_mismatch"
    assert unit.patch(url, 1000, PAYLOAD[1000:] + b"extra").status_code == 413
    assert unit.offset(url) == 1000
    assert unit.patch(url, 1000, PAYLOAD[1000:20000]).headers["Upload-Offset"] == "20000"
    last = unit.patch(url, 20000, PAYLOAD[20000:])
    assert last.status_code == 204
    assert last.headers["Upload-Offset"] == str(len(PAYLOAD))
    assert unit.offset(url) == len(PAYLOAD)


def test_chunked_bodies_are_streamed_and_bounded(unit: Station, hospital: Station) -> None:
    url = unit.create("pr-dubois", PAYLOAD, _bundle_id())
    headers = {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}

    def pieces(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    too_long = unit.session.patch(
        url,
        data=pieces(PAYLOAD + b"x"),
        headers={**headers, "Tus-Resumable": "1.0.0"},
        timeout=10,
        verify=unit.platform.verify,
    )
    assert too_long.status_code == 413
    assert unit.offset(url) == 0
    fits = unit.session.patch(
        url,
        data=pieces(PAYLOAD),
        headers={**headers, "Tus-Resumable": "1.0.0"},
        timeout=10,
        verify=unit.platform.verify,
    )
    assert fits.status_code == 204
    assert fits.headers["Upload-Offset"] == str(len(PAYLOAD))


def test_termination_removes_the_upload(unit: Station, hospital: Station) -> None:
    url = unit.create("pr-dubois", PAYLOAD, _bundle_id())
    assert unit.patch(url, 0, PAYLOAD[:10]).status_code == 204
    upload_id = url.rsplit("/", 1)[1]
    part = unit.platform.data_dir / "uploads" / f"{upload_id}.part"
    assert part.exists()
    assert unit.call("DELETE", url, tus=True).status_code == 204
    assert not part.exists()
    assert unit.call("HEAD", url, tus=True).status_code == 404
    assert unit.patch(url, 10, PAYLOAD[10:20]).status_code == 404
    assert unit.call("DELETE", url, tus=True).status_code == 404


def test_uploads_are_invisible_to_other_stations(unit: Station, hospital: Station) -> None:
    url = unit.create("pr-dubois", PAYLOAD, _bundle_id())
    assert hospital.call("HEAD", url, tus=True).status_code == 404
    assert hospital.patch(url, 0, PAYLOAD).status_code == 404
    assert hospital.call("DELETE", url, tus=True).status_code == 404
    assert unit.offset(url) == 0


def test_a_bundle_id_delivered_by_one_station_is_refused_to_another(
    unit: Station, hospital: Station
) -> None:
    bundle_id = _bundle_id()
    assert unit.send("pr-dubois", PAYLOAD, bundle_id).status_code == 204
    headers = _creation_headers(bundle_id=bundle_id)
    answer = hospital.call("POST", "/files/", tus=True, headers=headers)
    assert answer.status_code == 409
    assert answer.json()["error"] == "bundle_taken"


def test_unknown_routes_answer_json_errors(unit: Station) -> None:
    missing = unit.call("GET", "/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong_method = unit.call("PUT", "/files/abc", tus=True)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Tus-Resumable"] == "1.0.0"


def test_unfinished_uploads_expire(tmp_path: Path) -> None:
    with start_platform(tmp_path, upload_ttl=1) as platform, Station(platform, "unit") as unit:
        unit.add_recipient("pr-dubois")
        touched = unit.create("pr-dubois", PAYLOAD, _bundle_id())
        untouched = unit.create("pr-dubois", PAYLOAD, _bundle_id())
        assert unit.patch(touched, 0, PAYLOAD[:100]).status_code == 204
        parts = platform.data_dir / "uploads"
        assert len(list(parts.iterdir())) == 2
        deadline = time.monotonic() + 10
        while list(parts.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(parts.iterdir()) == []  # removed by the periodic sweep, unasked
        for url in (touched, untouched):
            gone = unit.call("HEAD", url, tus=True)
            assert gone.status_code == 410
            assert unit.patch(url, 100, PAYLOAD[100:]).status_code == 410
