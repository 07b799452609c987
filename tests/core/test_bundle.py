"""The bundle format: round trip, integrity, and the anti-forwarding checks."""

from __future__ import annotations

import io
import zipfile

import pytest

import resources
from cases.bundle import Party, pack_case, pack_opinion, unpack
from cases.errors import BundleError, InvalidCase
from cases.model import Case, Opinion
from cases.photos import import_photo

DOCTOR = Party("dr-a", "Dr A", "aa" * 32)
EXPERT = Party("pr-b", "Pr B", "bb" * 32)
OTHER = "cc" * 32


def a_case(**changes: object) -> Case:
    photos = tuple(
        import_photo(p, f"photo-{i}.jpg") for i, p in enumerate(resources.sample_photos()[:2], 1)
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


def test_case_round_trip_keeps_text_and_photos() -> None:
    case = a_case()
    data = pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR])
    bundle = unpack(
        data, signer_fingerprint=DOCTOR.fingerprint, reader_fingerprint=EXPERT.fingerprint
    )
    assert bundle.manifest.kind == "case"
    assert bundle.manifest.bundle_id == "b-1"
    assert bundle.case == case
    assert [p.data for p in bundle.case.photos] == [p.data for p in case.photos]


def test_opinion_round_trip() -> None:
    opinion = Opinion(case_id="c-1", text="Avis : compression veineuse.")
    data = pack_opinion("b-2", opinion, EXPERT, [DOCTOR, EXPERT])
    bundle = unpack(
        data, signer_fingerprint=EXPERT.fingerprint, reader_fingerprint=DOCTOR.fingerprint
    )
    assert bundle.opinion == opinion


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


def test_a_swapped_photo_is_detected() -> None:
    data = pack_case("b-1", a_case(), DOCTOR, [EXPERT, DOCTOR])
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            target.writestr(
                info.filename, body[::-1] if info.filename.startswith("photos/") else body
            )
    with pytest.raises(BundleError) as caught:
        unpack(
            out.getvalue(),
            signer_fingerprint=DOCTOR.fingerprint,
            reader_fingerprint=EXPERT.fingerprint,
        )
    assert caught.value.code == "malformed_bundle"


@pytest.mark.parametrize("garbage", [b"", b"PK\x03\x04 nope", b"{}"])
def test_garbage_is_malformed(garbage: bytes) -> None:
    with pytest.raises(BundleError) as caught:
        unpack(
            garbage, signer_fingerprint=DOCTOR.fingerprint, reader_fingerprint=EXPERT.fingerprint
        )
    assert caught.value.code == "malformed_bundle"


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
