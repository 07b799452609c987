"""Deliveries and mailboxes over real HTTP: accept, list, download by range, acknowledge."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support.platform import RunningPlatform, Station, start_platform

PAYLOAD = os.urandom(200_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    with start_platform(tmp_path_factory.mktemp("mailbox")) as running:
        yield running


@pytest.fixture(scope="module")
def unit(platform: RunningPlatform) -> Iterator[Station]:
    with Station(platform, "unit") as station:
        station.add_recipient("dr-bernard")
        yield station


@pytest.fixture(scope="module")
def hospital(platform: RunningPlatform) -> Iterator[Station]:
    with Station(platform, "hospital") as station:
        yield station


@pytest.fixture
def recipient(hospital: Station) -> str:
    """A fresh, empty mailbox read by the hospital station."""
    recipient_id = f"pr-{uuid.uuid4().hex[:12]}"
    hospital.add_recipient(recipient_id, "dermatology")
    return recipient_id


def _items(station: Station, recipient: str) -> list[dict[str, object]]:
    answer = station.call("GET", f"/api/v1/mailboxes/{recipient}/items")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items


def test_directory_lists_recipients_with_their_station(unit: Station, hospital: Station) -> None:
    hospital.add_recipient("pr-dubois", "dermatology")
    answer = unit.call("GET", "/api/v1/directory")
    assert answer.status_code == 200
    entries = {entry["id"]: entry for entry in answer.json()["recipients"]}
    assert entries["pr-dubois"]["station"] == "hospital"
    assert entries["pr-dubois"]["specialty"] == "dermatology"
    assert entries["pr-dubois"]["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert entries["dr-bernard"]["specialty"] is None
    assert set(entries["dr-bernard"]) == {
        "id",
        "display_name",
        "role",
        "specialty",
        "station",
        "certificate_pem",
    }


def test_full_delivery_download_and_acknowledgement(
    unit: Station, hospital: Station, recipient: str
) -> None:
    bundle_id = str(uuid.uuid4())
    url = unit.create(recipient, PAYLOAD, bundle_id, kind="case")
    for start in range(0, len(PAYLOAD), 70_000):
        assert unit.patch(url, start, PAYLOAD[start : start + 70_000]).status_code == 204

    [item] = _items(hospital, recipient)
    assert item["bundle_id"] == bundle_id
    assert item["kind"] == "case"
    assert item["size"] == len(PAYLOAD)
    assert item["sha256"] == SHA
    assert item["sender_station"] == "unit"
    assert str(item["received_at"]).endswith("Z")

    item_path = f"/api/v1/mailboxes/{recipient}/items/{bundle_id}"
    whole = hospital.call("GET", item_path)
    assert whole.status_code == 200
    assert whole.content == PAYLOAD
    assert whole.headers["Content-Type"] == "application/octet-stream"
    assert whole.headers["ETag"].strip('"') == SHA
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Length"] == str(len(PAYLOAD))

    tail = hospital.call("GET", item_path, headers={"Range": "bytes=150000-"})
    assert tail.status_code == 206
    assert tail.content == PAYLOAD[150_000:]
    assert tail.headers["Content-Range"] == f"bytes 150000-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
    middle = hospital.call("GET", item_path, headers={"Range": "bytes=10-19"})
    assert middle.status_code == 206
    assert middle.content == PAYLOAD[10:20]
    assert middle.headers["Content-Range"] == f"bytes 10-19/{len(PAYLOAD)}"
    past_end = hospital.call("GET", item_path, headers={"Range": f"bytes={len(PAYLOAD)}-"})
    assert past_end.status_code == 416
    assert past_end.headers["Content-Range"] == f"bytes */{len(PAYLOAD)}"

    delivery = unit.call("GET", f"/api/v1/deliveries/{bundle_id}")
    assert delivery.status_code == 200
    record = delivery.json()
    assert record["bundle_id"] == bundle_id
    assert record["recipient"] == recipient
    assert record["state"] == "accepted"
    assert record["sha256"] == SHA
    assert record["accepted_at"].endswith("Z")
    assert hospital.call("GET", f"/api/v1/deliveries/{bundle_id}").status_code == 404
    assert unit.call("GET", f"/api/v1/deliveries/{uuid.uuid4()}").status_code == 404

    assert hospital.call("DELETE", item_path).status_code == 204
    assert _items(hospital, recipient) == []
    assert hospital.call("GET", item_path).status_code == 404
    assert hospital.call("DELETE", item_path).status_code == 204
    assert unit.call("GET", f"/api/v1/deliveries/{bundle_id}").json()["state"] == "accepted"
    assert list((hospital.platform.data_dir / "mailboxes" / recipient).iterdir()) == []


def test_items_are_listed_oldest_first(unit: Station, hospital: Station, recipient: str) -> None:
    sent = [str(uuid.uuid4()) for _ in range(3)]
    for bundle_id in sent:
        assert unit.send(recipient, bundle_id.encode() * 10, bundle_id).status_code == 204
    assert [item["bundle_id"] for item in _items(hospital, recipient)] == sent


def test_duplicates_are_dropped_even_after_acknowledgement(
    unit: Station, hospital: Station, recipient: str
) -> None:
    bundle_id = str(uuid.uuid4())
    for _ in range(2):
        final = unit.send(recipient, PAYLOAD, bundle_id)
        assert final.status_code == 204
        assert final.headers["Upload-Offset"] == str(len(PAYLOAD))
    assert [item["bundle_id"] for item in _items(hospital, recipient)] == [bundle_id]
    item_path = f"/api/v1/mailboxes/{recipient}/items/{bundle_id}"
    assert hospital.call("DELETE", item_path).status_code == 204
    assert unit.send(recipient, PAYLOAD, bundle_id).status_code == 204
    assert _items(hospital, recipient) == []
    assert list((unit.platform.data_dir / "uploads").iterdir()) == []


def test_a_checksum_mismatch_is_refused_with_460(
    unit: Station, hospital: Station, recipient: str
) -> None:
    bundle_id = str(uuid.uuid4())
    url = unit.create(recipient, PAYLOAD, bundle_id, sha256="0" * 64)
    answer = unit.patch(url, 0, PAYLOAD)
    assert answer.status_code == 460
    assert answer.json()["error"] == "checksum_mismatch"
    assert answer.headers["Tus-Resumable"] == "1.0.0"
    assert _items(hospital, recipient) == []
    assert unit.call("HEAD", url, tus=True).status_code == 404
    assert unit.call("GET", f"/api/v1/deliveries/{bundle_id}").status_code == 404
    assert not (unit.platform.data_dir / "mailboxes" / recipient).exists()


def test_mailboxes_are_read_only_by_their_station(
    unit: Station, hospital: Station, recipient: str
) -> None:
    bundle_id = str(uuid.uuid4())
    assert unit.send(recipient, PAYLOAD, bundle_id).status_code == 204
    item_path = f"/api/v1/mailboxes/{recipient}/items/{bundle_id}"
    for method, path in [("GET", f"/api/v1/mailboxes/{recipient}/items"), ("GET", item_path)]:
        answer = unit.call(method, path)
        assert answer.status_code == 403
        assert answer.json()["error"] == "forbidden"
    assert unit.call("DELETE", item_path).status_code == 403
    assert unit.call("GET", "/api/v1/mailboxes/nobody/items").status_code == 404
    assert len(_items(hospital, recipient)) == 1


def test_only_the_uploaded_bytes_are_stored(tmp_path_factory: pytest.TempPathFactory) -> None:
    marker = b"NOT-CMS-JUST-BYTES" + os.urandom(32)
    payload = os.urandom(50_000) + marker + os.urandom(50_000)
    with (
        start_platform(tmp_path_factory.mktemp("opaque")) as platform,
        Station(platform, "unit") as unit,
    ):
        unit.add_recipient("pr-dubois")
        assert unit.send("pr-dubois", payload, "bundle-1", kind="case").status_code == 204
        platform.stop()
        files = {
            str(p.relative_to(platform.data_dir)): p.read_bytes()
            for p in platform.data_dir.rglob("*")
            if p.is_file()
        }
    assert files.pop("mailboxes/pr-dubois/bundle-1.bin") == payload
    assert set(files) <= {"platform.sqlite", "platform.sqlite-wal", "platform.sqlite-shm"}
    assert all(marker not in content for content in files.values())
