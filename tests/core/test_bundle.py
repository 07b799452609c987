"""The bundle format 1: round trips, the manifest, integrity, unsafe archives, replays."""

from __future__ import annotations

import io
import json
import struct
import threading
import zipfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import resources
from capture.measure import Measurement
from capture.photo import Arrow, Circle, Text
from cases.bundle import (
    FORMAT,
    OpenedRegistry,
    Party,
    pack_case,
    pack_files,
    pack_opinion,
    pack_receipt,
    unpack,
)
from cases.errors import (
    AlreadyOpened,
    BundleError,
    InvalidCase,
    MalformedBundle,
    UnsupportedFormat,
)
from cases.model import Case, Opinion
from cases.photos import Photo
from tests.support.photos import sample_photo

DOCTOR = Party("dr-a", "Dr A", "aa" * 32, "doctor", "USMP Fresnes")
EXPERT = Party("pr-b", "Pr B", "bb" * 32, "specialist", "Hôpital Saint-Louis")
ARCHIVE = Party("", "", "dd" * 32)  # the unit archive, known by its fingerprint only
OTHER = "cc" * 32
T0 = datetime(2026, 11, 23, 9, 30, 0, tzinfo=UTC)


def a_case(**changes: object) -> Case:
    photos = tuple(
        sample_photo(p, f"photo-{i}.jpg") for i, p in enumerate(resources.sample_photos()[:2], 1)
    )
    fields: dict[str, object] = {
        "patient_ref": "P-0147",
        "consent": True,
        "specialty": "wounds",
        "summary": "Ulcère de jambe depuis 3 semaines.",
        "treatments": "Pansement hydrocolloïde",
        "question": "Faut-il un avis vasculaire ?",
        "photos": photos,
    }
    fields.update(changes)
    return Case(**fields)  # type: ignore[arg-type]


def open_as(data: bytes, signer: Party = DOCTOR, reader: Party = EXPERT, **kw: Any) -> Any:
    return unpack(
        data, signer_fingerprint=signer.fingerprint, reader_fingerprint=reader.fingerprint, **kw
    )


def entries(data: bytes) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: info for info in archive.infolist()}


def rebuild(
    data: bytes,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    files: Callable[[dict[str, bytes]], None] | None = None,
) -> bytes:
    """Re-zip a bundle after editing its manifest and/or its files (no re-hashing)."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        contents = {info.filename: source.read(info) for info in source.infolist()}
    raw = json.loads(contents.pop("manifest.json"))
    if manifest:
        manifest(raw)
    if files:
        files(contents)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        target.writestr("manifest.json", json.dumps(raw))
        for name, body in contents.items():
            target.writestr(name, body)
    return out.getvalue()


def code_of(data: bytes, **kw: Any) -> str:
    with pytest.raises(BundleError) as caught:
        open_as(data, **kw)
    return caught.value.code


# --- round trips and the manifest ---------------------------------------------------------


def test_case_round_trip_keeps_text_and_photos() -> None:
    case = a_case()
    data = pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR, ARCHIVE], created=T0)
    bundle = open_as(data)
    assert bundle.manifest.kind == "request"
    assert bundle.manifest.bundle_id == "b-1"
    assert bundle.manifest.case_id == case.case_id
    assert bundle.manifest.created == T0
    assert bundle.case == case
    assert [p.data for p in bundle.case.photos] == [p.data for p in case.photos]
    assert bundle.opinion is None
    assert bundle.manifest.recipients == (EXPERT, DOCTOR, ARCHIVE)
    assert open_as(data, reader=ARCHIVE).case == case  # the archive may open it too


def test_the_manifest_follows_format_1() -> None:
    case = a_case()
    data = pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR, ARCHIVE], created=T0)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == 1 == FORMAT
    assert manifest["kind"] == "request"
    assert manifest["in_reply_to"] is None
    assert manifest["created"] == "2026-11-23T09:30:00Z"
    assert manifest["recipients"] == ["bb" * 32, "aa" * 32, "dd" * 32]
    assert manifest["sender"] == {
        "name": "Dr A",
        "role": "doctor",
        "organization": "USMP Fresnes",
        "fingerprint": "aa" * 32,
        "mailbox": "dr-a",
    }
    photo = case.photos[0]
    assert manifest["files"][0] == {
        "name": "photos/photo-1.jpg",
        "media_type": "image/jpeg",
        "size": len(photo.data),
        "sha256": photo.sha256,
    }
    assert manifest["clinical"]["summary"] == case.summary
    assert manifest["clinical"]["case_id"] == manifest["case_id"]


def test_photos_are_stored_and_text_is_deflated() -> None:
    files = {"notes.txt": b"texte " * 500, "scan.png": b"\x89PNG....", "x.jpg": b"\xff\xd8..."}
    data = pack_files("b-3", files, DOCTOR, [EXPERT])
    infos = entries(data)
    assert infos["manifest.json"].compress_type == zipfile.ZIP_DEFLATED
    assert infos["notes.txt"].compress_type == zipfile.ZIP_DEFLATED
    assert infos["scan.png"].compress_type == zipfile.ZIP_STORED
    assert infos["x.jpg"].compress_type == zipfile.ZIP_STORED
    bundle = open_as(data)
    assert dict(bundle.files) == files
    assert bundle.case is None
    assert [f.media_type for f in bundle.manifest.files] == [
        "text/plain",
        "image/png",
        "image/jpeg",
    ]


def described(photo: Photo) -> Photo:
    """``photo`` with what the capture station adds: a site, a note, a calibrated outline, an
    uncalibrated line, and an annotation of each kind (as ``widgets.capture_handover`` writes
    them)."""
    outline = Measurement(
        "polygon", ((10.0, 10.0), (110.0, 10.0), (60.0, 90.0)), True, "mm", 100.0,
        perimeter=288.7, area=0.4, marker_mm=20.0,
    )  # fmt: skip
    line = Measurement("line", ((0.0, 0.0), (30.0, 40.0)), False, "px", 50.0, reason="no_marker")
    return replace(
        photo,
        site="membre_inferieur_gauche",
        note="Bord inférieur décollé.",
        measurements=(outline.to_dict(), line.to_dict()),
        annotations=(
            Arrow((5.0, 5.0), (50.0, 60.0)).to_dict(),
            Circle((60.0, 40.0), 25.0).to_dict(),
            Text((12.0, 80.0), "fibrine").to_dict(),
        ),
    )


def test_a_photo_keeps_its_site_note_measurements_and_annotations() -> None:
    case = a_case(photos=(described(a_case().photos[0]),))
    data = pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR], created=T0)
    photo = open_as(data).case.photos[0]
    assert photo == case.photos[0]
    assert photo.site == "membre_inferieur_gauche"
    assert photo.note == "Bord inférieur décollé."
    outline, line = (Measurement.from_dict(m) for m in photo.measurements)
    assert (outline.area_cm2, outline.length_mm, line.length_mm) == (0.4, 100.0, None)
    assert [a["kind"] for a in photo.annotations] == ["arrow", "circle", "text"]


def test_a_photo_entry_of_an_older_writer_opens_without_details() -> None:
    data = pack_case("b-1", a_case(photos=(described(a_case().photos[0]),)), DOCTOR, [EXPERT])

    def strip(manifest: dict[str, Any]) -> None:
        for key in ("site", "note", "measurements", "annotations"):
            del manifest["clinical"]["photos"][0][key]

    photo = open_as(rebuild(data, manifest=strip)).case.photos[0]
    assert (photo.site, photo.note, photo.measurements, photo.annotations) == ("", "", (), ())


def _photo_entry(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda manifest: edit(manifest["clinical"]["photos"][0])


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p.update(site=3),
        lambda p: p.update(note="x" * 4001),
        lambda p: p.update(width=0),
        lambda p: p.update(measurements={}),
        lambda p: p.update(annotations=[{"kind": "arrow", "start": [0, 0]}] * 201),
        lambda p: p["measurements"][0].update(unit="px"),  # calibrated, yet in pixels
        lambda p: p["measurements"][0].update(area=-1.0),
        lambda p: p["measurements"][0].update(points=[[0, 0], [1, 1]]),  # a two-point outline
        lambda p: p["measurements"][1].update(points=[[0, 0], [1, float("nan")]]),
        lambda p: p["measurements"][1].update(length="50"),
        lambda p: p["annotations"][0].update(kind="blur"),
        lambda p: p["annotations"][1].update(radius=True),
        lambda p: p["annotations"][2].update(text=["fibrine"]),
        lambda p: p["annotations"].append("arrow"),
    ],
)
def test_a_malformed_photo_entry_is_refused(edit: Callable[[dict[str, Any]], None]) -> None:
    data = pack_case("b-1", a_case(photos=(described(a_case().photos[0]),)), DOCTOR, [EXPERT])
    assert open_as(data).case is not None  # untouched, it opens
    assert code_of(rebuild(data, manifest=_photo_entry(edit))) == "malformed_bundle"


def test_a_follow_up_request_names_the_request_it_follows() -> None:
    case = a_case(follows="c-earlier")
    data = pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR], created=T0)
    assert open_as(data).case.follows == "c-earlier"

    def forget(manifest: dict[str, Any]) -> None:  # an older writer: no such field
        del manifest["clinical"]["follows"]

    assert open_as(rebuild(data, manifest=forget)).case.follows is None


@pytest.mark.parametrize(
    "follows",
    [3, "", "x" * 129, ["c-earlier"]],
)
def test_a_malformed_follow_up_link_is_refused(follows: object) -> None:
    data = pack_case("b-1", a_case(follows="c-earlier"), DOCTOR, [EXPERT])

    def edit(manifest: dict[str, Any]) -> None:
        manifest["clinical"]["follows"] = follows

    assert code_of(rebuild(data, manifest=edit)) == "malformed_bundle"


def test_an_urgent_request_says_so_and_an_older_one_is_not_urgent() -> None:
    urgent = a_case(urgent=True)
    data = pack_case("b-1", urgent, DOCTOR, [EXPERT])
    assert open_as(data).case.urgent is True

    def older(manifest: dict[str, Any]) -> None:
        del manifest["clinical"]["urgent"]

    assert open_as(rebuild(data, manifest=older)).case.urgent is False


@pytest.mark.parametrize("flag", [1, "true", None])
def test_an_urgency_that_is_not_true_or_false_is_refused(flag: object) -> None:
    data = pack_case("b-1", a_case(), DOCTOR, [EXPERT])

    def edit(manifest: dict[str, Any]) -> None:
        manifest["clinical"]["urgent"] = flag

    assert code_of(rebuild(data, manifest=edit)) == "malformed_bundle"


def test_a_request_cannot_follow_itself() -> None:
    case = a_case()
    data = pack_case("b-1", case, DOCTOR, [EXPERT])

    def edit(manifest: dict[str, Any]) -> None:
        manifest["clinical"]["follows"] = case.case_id

    assert code_of(rebuild(data, manifest=edit)) == "malformed_bundle"


def test_opinion_round_trip_names_the_request() -> None:
    opinion = Opinion(case_id="c-1", text="Avis : compression veineuse.")
    data = pack_opinion("b-2", opinion, EXPERT, [DOCTOR, EXPERT], in_reply_to="b-1")
    bundle = open_as(data, signer=EXPERT, reader=DOCTOR)
    assert bundle.opinion == opinion
    assert bundle.manifest.kind == "opinion"
    assert bundle.manifest.in_reply_to == "b-1"
    assert bundle.manifest.case_id == "c-1"


def test_an_opinion_carries_its_outcome_and_review_delay() -> None:
    opinion = Opinion(case_id="c-1", text="Ulcère veineux.", outcome="consultation", review_weeks=6)
    data = pack_opinion("b-2", opinion, EXPERT, [DOCTOR, EXPERT], in_reply_to="b-1")
    opened = open_as(data, signer=EXPERT, reader=DOCTOR).opinion
    assert opened == opinion
    assert opened.review_by() == opinion.created_at + timedelta(weeks=6)


def test_an_opinion_of_an_earlier_writer_opens_without_outcome() -> None:
    opinion = Opinion(case_id="c-1", text="Avis.", outcome="on_site")
    data = pack_opinion("b-2", opinion, EXPERT, [DOCTOR, EXPERT], in_reply_to="b-1")

    def older(manifest: dict[str, Any]) -> None:
        del manifest["clinical"]["outcome"], manifest["clinical"]["review_weeks"]

    opened = open_as(rebuild(data, manifest=older), signer=EXPERT, reader=DOCTOR).opinion
    assert (opened.outcome, opened.review_weeks, opened.review_by()) == (None, None, None)


def test_an_outcome_a_later_version_adds_is_kept_as_it_is() -> None:
    opinion = Opinion(case_id="c-1", text="Avis.", outcome="on_site")
    data = pack_opinion("b-2", opinion, EXPERT, [DOCTOR, EXPERT], in_reply_to="b-1")

    def later(manifest: dict[str, Any]) -> None:
        manifest["clinical"]["outcome"] = "day_hospital"

    opened = open_as(rebuild(data, manifest=later), signer=EXPERT, reader=DOCTOR).opinion
    assert opened.outcome == "day_hospital"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outcome", ""),
        ("outcome", "Extraction urgente"),
        ("outcome", 3),
        ("review_weeks", 0),
        ("review_weeks", 53),
        ("review_weeks", "2"),
        ("review_weeks", 2.5),
        ("review_weeks", True),
    ],
)
def test_a_malformed_outcome_or_review_delay_is_refused(field: str, value: object) -> None:
    opinion = Opinion(case_id="c-1", text="Avis.", outcome="on_site", review_weeks=2)
    data = pack_opinion("b-2", opinion, EXPERT, [DOCTOR, EXPERT], in_reply_to="b-1")

    def edit(manifest: dict[str, Any]) -> None:
        manifest["clinical"][field] = value

    assert code_of(rebuild(data, manifest=edit), signer=EXPERT, reader=DOCTOR) == (
        "malformed_bundle"
    )


def test_an_opinion_may_refer_the_unit_to_a_colleague() -> None:
    opinion = Opinion("c-1", "Relève de l’équipe plaies.", outcome="refer", refer_to="pr-roux")
    opinion = replace(opinion, refer_name="Pr Sophie Roux")
    data = pack_opinion("b-2", opinion, EXPERT, [DOCTOR, EXPERT], in_reply_to="b-1")
    read = open_as(data, signer=EXPERT, reader=DOCTOR).opinion
    assert (read.outcome, read.refer_to, read.refer_name) == ("refer", "pr-roux", "Pr Sophie Roux")
    plain = pack_opinion("b-3", Opinion("c-1", "Avis.", outcome="on_site"), EXPERT, [DOCTOR])
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:  # as earlier versions wrote it
        assert "refer_to" not in json.loads(archive.read("manifest.json"))["clinical"]

    def edit(manifest: dict[str, Any]) -> None:
        manifest["clinical"]["refer_to"] = "../pr-roux"

    assert code_of(rebuild(data, manifest=edit), signer=EXPERT, reader=DOCTOR) == (
        "malformed_bundle"
    )


def test_an_opinion_is_sent_only_with_text_an_outcome_and_a_sane_delay() -> None:
    assert Opinion("c-1", " ", outcome=None, review_weeks=0).problems() == [
        "missing_opinion",
        "missing_outcome",
        "bad_review_delay",
    ]
    assert Opinion("c-1", "Avis.", outcome="day_hospital").problems() == ["missing_outcome"]
    assert Opinion("c-1", "Avis.", outcome="urgent_transfer", review_weeks=52).problems() == []
    assert Opinion("c-1", "Avis.", outcome="refer").problems() == ["missing_colleague"]
    assert Opinion("c-1", "Avis.", outcome="on_site", refer_to="pr-roux").problems() == [
        "missing_colleague"
    ]
    assert Opinion("c-1", "Avis.", outcome="refer", refer_to="pr-roux").problems() == []


def test_a_receipt_carries_no_clinical_content() -> None:
    data = pack_receipt("r-1", "b-1", "c-1", EXPERT, [DOCTOR, EXPERT], created=T0)
    bundle = open_as(data, signer=EXPERT, reader=DOCTOR)
    assert bundle.manifest.kind == "receipt"
    assert bundle.manifest.in_reply_to == "b-1"
    assert bundle.manifest.clinical is None
    assert (bundle.case, bundle.opinion, dict(bundle.files)) == (None, None, {})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "clinical" not in json.loads(archive.read("manifest.json"))
        assert archive.namelist() == ["manifest.json"]


def test_a_receipt_with_clinical_content_is_refused() -> None:
    data = pack_receipt("r-1", "b-1", "c-1", DOCTOR, [EXPERT])
    assert code_of(rebuild(data, manifest=lambda m: m.update(clinical={"x": 1}))) == (
        "malformed_bundle"
    )


@pytest.mark.parametrize(
    "name", ["../evil.txt", "/etc/passwd", "a\\b.txt", "C:x", "a//b", "manifest.json"]
)
def test_packing_refuses_unsafe_names(name: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # several distinct messages
        pack_files("b-1", {name: b"x"}, DOCTOR, [EXPERT])


# --- what unpack refuses ------------------------------------------------------------------


def test_signer_must_be_the_named_sender() -> None:
    data = pack_case("b-1", a_case(), DOCTOR, [EXPERT, DOCTOR])
    with pytest.raises(BundleError) as caught:
        unpack(data, signer_fingerprint=OTHER, reader_fingerprint=EXPERT.fingerprint)
    assert caught.value.code == "sender_mismatch"


def test_a_forwarded_bundle_is_refused() -> None:
    data = pack_case("b-1", a_case(), DOCTOR, [EXPERT, DOCTOR])
    with pytest.raises(BundleError) as caught:
        unpack(data, signer_fingerprint=DOCTOR.fingerprint, reader_fingerprint=OTHER)
    assert caught.value.code == "not_addressed_to_you"


@pytest.mark.parametrize("version", [2, "1", "passavant-bundle/1", None, True])
def test_unknown_format_is_unsupported(version: object) -> None:
    data = rebuild(pack_files("b-1", {"a.txt": b"a"}, DOCTOR, [EXPERT]),
                   manifest=lambda m: m.update(format=version))  # fmt: skip
    with pytest.raises(UnsupportedFormat) as caught:
        open_as(data)
    assert caught.value.code == "unsupported_format"


def test_a_swapped_photo_is_detected() -> None:
    data = pack_case("b-1", a_case(), DOCTOR, [EXPERT, DOCTOR])

    def reverse_photos(files: dict[str, bytes]) -> None:
        for name in files:
            files[name] = files[name][::-1]

    assert code_of(rebuild(data, files=reverse_photos)) == "malformed_bundle"


@pytest.mark.parametrize(
    "edit",
    [
        lambda f: f.update({"a.txt": b"A"}),  # same size, other bytes
        lambda f: f.update({"a.txt": b"aa"}),  # other size
        lambda f: f.pop("a.txt"),  # missing file
        lambda f: f.update({"extra.txt": b"x"}),  # unlisted file
    ],
    ids=["hash", "size", "missing", "extra"],
)
def test_file_mismatches_are_malformed(edit: Callable[[dict[str, bytes]], None]) -> None:
    data = pack_files("b-1", {"a.txt": b"a", "b.txt": b"b"}, DOCTOR, [EXPERT])
    with pytest.raises(MalformedBundle):
        open_as(rebuild(data, files=edit))


def test_a_size_lie_in_the_manifest_is_malformed() -> None:
    data = pack_files("b-1", {"a.txt": b"abc"}, DOCTOR, [EXPERT])
    assert code_of(rebuild(data, manifest=lambda m: m["files"][0].update(size=2))) == (
        "malformed_bundle"
    )


@pytest.mark.parametrize("name", ["../../.bashrc", "/tmp/x", "photos/../../x", "a\\..\\b", "d/"])
def test_path_traversal_is_malformed(name: str) -> None:
    data = pack_files("b-1", {"a.txt": b"a"}, DOCTOR, [EXPERT])

    def add(files: dict[str, bytes]) -> None:
        files[name] = b"x"

    def list_it(manifest: dict[str, Any]) -> None:
        manifest["files"].append(
            {"name": name, "media_type": "text/plain", "size": 1, "sha256": "0" * 64}
        )

    assert code_of(rebuild(data, manifest=list_it, files=add)) == "malformed_bundle"


def test_a_symlink_entry_is_malformed() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest.json", "{}")
        info = zipfile.ZipInfo("link")
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    assert code_of(out.getvalue()) == "malformed_bundle"


def test_duplicate_entries_are_malformed() -> None:
    data = pack_files("b-1", {"a.txt": b"a"}, DOCTOR, [EXPERT])
    out = io.BytesIO(data)
    with (
        pytest.warns(UserWarning, match="Duplicate name"),
        zipfile.ZipFile(out, "a") as archive,
    ):
        archive.writestr("a.txt", b"b")
    assert code_of(out.getvalue()) == "malformed_bundle"


def test_a_zip_bomb_is_refused_before_inflating() -> None:
    data = pack_files("b-1", {"zeros.bin": bytes(8 * 1024 * 1024)}, DOCTOR, [EXPERT])
    assert len(data) < 64 * 1024  # 8 MiB of zeros deflate to a few kilobytes
    assert code_of(data, max_size=1024 * 1024) == "malformed_bundle"
    assert len(open_as(data).files["zeros.bin"]) == 8 * 1024 * 1024


def test_a_lying_size_header_cannot_inflate_more() -> None:
    data = bytearray(pack_files("b-1", {"zeros.bin": bytes(1024 * 1024)}, DOCTOR, [EXPERT]))
    # Central directory entry of zeros.bin: claim 10 bytes uncompressed instead of 1 MiB.
    at = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    struct.pack_into("<I", data, at + 24, 10)
    assert code_of(bytes(data)) == "malformed_bundle"


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999])
def test_corrupt_compressed_data_is_malformed(fraction: float) -> None:
    """A flip in the deflated bytes is refused, or (in padding bits) changes nothing."""
    original = bytes(range(256)) * 40
    data = bytearray(pack_files("b-1", {"a.txt": original}, DOCTOR, [EXPERT]))
    info = entries(bytes(data))["a.txt"]
    start = info.header_offset + 30 + len("a.txt")  # a.txt's deflated bytes
    data[start + int(fraction * info.compress_size)] ^= 0xFF
    try:
        bundle = open_as(bytes(data))
    except MalformedBundle:
        return
    assert bundle.files["a.txt"] == original


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.pop("sender"),
        lambda m: m.update(kind="letter"),
        lambda m: m.update(recipients=[]),
        lambda m: m.update(recipients=["AB" * 32]),
        lambda m: m.update(recipients=["bb" * 32, "bb" * 32]),
        lambda m: m.update(bundle_id="../x"),
        lambda m: m.update(created="yesterday"),
        lambda m: m.update(surprise=1),
        lambda m: m["files"][0].update(size=-1),
        lambda m: m["files"][0].update(media_type="not a type"),
        lambda m: m.update(addressees=[{**m["sender"], "fingerprint": "ee" * 32}]),
    ],
)
def test_manifest_schema_violations_are_malformed(edit: Callable[[dict[str, Any]], None]) -> None:
    data = pack_files("b-1", {"a.txt": b"a"}, DOCTOR, [EXPERT])
    assert code_of(rebuild(data, manifest=edit)) == "malformed_bundle"


@pytest.mark.parametrize("garbage", [b"", b"PK\x03\x04 nope", b"{}"])
def test_garbage_is_malformed(garbage: bytes) -> None:
    assert code_of(garbage) == "malformed_bundle"


def test_incomplete_case_lists_every_problem() -> None:
    case = a_case(patient_ref=" ", consent=False, specialty="", summary="", question="")
    with pytest.raises(InvalidCase) as caught:
        case.check()
    assert set(caught.value.problems) == {
        "missing_patient_ref",
        "missing_consent",
        "missing_specialty",
        "missing_summary",
        "missing_question",
    }
    a_case().check()  # a complete case passes


# --- replay -------------------------------------------------------------------------------


def test_the_registry_says_when_a_bundle_comes_back(tmp_path: Path) -> None:
    registry = OpenedRegistry(tmp_path / "passavant.sqlite")
    registry.check("b-1")  # never seen: nothing to say
    registry.record("b-1", EXPERT.fingerprint, now=T0)
    with pytest.raises(AlreadyOpened) as caught:
        registry.check("b-1")
    assert caught.value.code == "already_opened"
    again = OpenedRegistry(tmp_path / "passavant.sqlite")  # it survives a restart
    assert again.opened_at("b-1") == T0
    assert again.opened_at("b-2") is None
    with pytest.raises(AlreadyOpened):
        again.record("b-1", EXPERT.fingerprint)


def test_only_one_of_two_racing_openings_is_first(tmp_path: Path) -> None:
    registry = OpenedRegistry(tmp_path / "passavant.sqlite")
    outcomes: list[str] = []

    def open_it() -> None:
        try:
            registry.record("b-1", EXPERT.fingerprint)
            outcomes.append("first")
        except AlreadyOpened:
            outcomes.append("again")

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["again", "again", "again", "first"]
