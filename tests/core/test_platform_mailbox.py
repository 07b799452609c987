"""Deliveries and mailboxes over real HTTP: accept, list, download by range, acknowledge."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator

import pytest

from refplatform import accounts
from tests.support.platform import RunningPlatform, Station, start_platform, tus_metadata

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
        "certificate_sha256",
        "rpps",
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


def _pem_and_fingerprint() -> tuple[str, str]:
    der = os.urandom(120)
    body = base64.b64encode(der).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    return pem, hashlib.sha256(der).hexdigest()


def test_a_mailbox_is_addressed_by_its_certificate_fingerprint(
    unit: Station, hospital: Station
) -> None:
    pem, fingerprint = _pem_and_fingerprint()
    recipient = f"pr-{uuid.uuid4().hex[:12]}"
    accounts.register_recipient(
        hospital.platform.data_dir,
        recipient_id=recipient,
        station_id=hospital.id,
        display_name="Pr Fingerprint",
        role="specialist",
        specialty="dermatology",
        certificate_pem=pem,
    )
    listed = {e["id"]: e for e in unit.call("GET", "/api/v1/directory").json()["recipients"]}
    assert listed[recipient]["certificate_sha256"] == fingerprint
    by_id, by_print = str(uuid.uuid4()), str(uuid.uuid4())
    assert unit.send(recipient, PAYLOAD, by_id).status_code == 204
    assert unit.send(f"sha256:{fingerprint}", PAYLOAD, by_print).status_code == 204
    for address in (recipient, fingerprint, f"sha256:{fingerprint.upper()}"):
        assert [i["bundle_id"] for i in _items(hospital, address)] == [by_id, by_print]
    path = f"/api/v1/mailboxes/{fingerprint}/items/{by_print}"
    assert hospital.call("GET", path).content == PAYLOAD
    delivery = unit.call("GET", f"/api/v1/deliveries/{by_print}?recipient={fingerprint}")
    assert delivery.json()["recipient"] == recipient
    assert unit.call("GET", f"/api/v1/mailboxes/{fingerprint}/items").status_code == 403
    assert hospital.call("GET", f"/api/v1/mailboxes/{'0' * 64}/items").status_code == 404


def test_a_fingerprint_shared_by_two_recipients_is_refused(unit: Station, recipient: str) -> None:
    # Every recipient of these tests has the same dummy certificate.
    dummy = hashlib.sha256(base64.b64decode("MIIBdGVzdA==")).hexdigest()
    meta = tus_metadata(bundle_id="b-ambiguous", recipient=dummy, sha256=SHA)
    headers = {"Upload-Length": str(len(PAYLOAD)), "Upload-Metadata": meta}
    answer = unit.call("POST", "/files/", tus=True, headers=headers)
    assert answer.status_code == 409
    assert answer.json() == {
        "error": "ambiguous_recipient",
        "detail": "Several recipients share this certificate; name the recipient by id.",
    }


def test_every_refusal_says_why(unit: Station, hospital: Station, recipient: str) -> None:
    """Each 4xx carries {"error": code, "detail": sentence} (HEAD: the code in a header)."""
    url = unit.create(recipient, PAYLOAD, str(uuid.uuid4()))
    octets = {"Content-Type": "application/offset+octet-stream"}
    cases = [
        ("GET", "/api/v1/nothing-here", {}, False, 404),
        ("GET", f"/api/v1/mailboxes/{recipient}/items", {}, False, 403),
        ("POST", "/files/", {"Upload-Length": "10"}, True, 400),
        ("POST", "/files/", {"Upload-Length": "10"}, False, 412),
        ("PATCH", url, {"Upload-Offset": "0"}, True, 415),
        ("PATCH", url, {**octets, "Upload-Offset": "5"}, True, 409),
        ("PATCH", url + "0", {**octets, "Upload-Offset": "0"}, True, 404),
        ("PUT", url, {}, True, 405),
    ]
    for method, path, headers, tus, status in cases:
        answer = unit.call(method, path, tus=tus, headers=headers, data=b"12345")
        assert answer.status_code == status, (method, path)
        body = answer.json()
        assert set(body) == {"error", "detail"}, body
        assert body["error"]
        assert body["detail"]
    gone = unit.call("HEAD", url + "0", tus=True)
    assert gone.status_code == 404
    assert gone.headers["X-Error-Code"] == "not_found"
    unit.session.headers["Authorization"] = "Bearer " + "x" * 40
    try:
        denied = unit.call("GET", "/api/v1/directory")
    finally:
        unit.session.headers["Authorization"] = f"Bearer {unit.token}"
    assert denied.status_code == 401
    assert denied.json()["error"] == "unauthorized"


def test_a_revoked_station_is_refused_at_once(platform: RunningPlatform) -> None:
    with Station(platform, "short-lived") as station:
        assert station.call("GET", "/api/v1/directory").status_code == 200
        assert accounts.revoke_station(platform.data_dir, "short-lived")
        refused = station.call("GET", "/api/v1/directory")
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized"
