"""The specialist's marks on the request's photos travel in the opinion's manifest; the
photos of earlier requests of the same lesion are found; a ruler calibrates by hand."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from capture.measure import (
    RULER,
    RULER_ID,
    MeasureError,
    line_measurement,
    polygon_measurement,
    ruler_calibration,
)
from capture.photo import Arrow, Circle, Text
from cases.bundle import pack_opinion
from cases.earlier import counterpart, earlier_photos, followed_chain, of_the_lesion
from cases.marks import PhotoMarks, marks_for, marks_from_json, with_marks
from cases.model import Opinion
from tests.core.test_bundle import DOCTOR, EXPERT, a_case, code_of, open_as, rebuild

LENGTH = line_measurement(None, (10.0, 10.0), (110.0, 10.0)).to_dict()
ARROW = Arrow((5.0, 5.0), (50.0, 60.0)).to_dict()
LABEL = Text((5.0, 5.0), "bord décollé").to_dict()
MARKS = (
    PhotoMarks("photo-1.jpg", (LENGTH,), (ARROW, LABEL)),
    PhotoMarks("photo-2.jpg", (), (Circle((40.0, 40.0), 12.5).to_dict(),)),
)


def packed(opinion: Opinion) -> bytes:
    return pack_opinion("b-2", opinion, EXPERT, [DOCTOR, EXPERT], in_reply_to="b-1")


def test_the_marks_go_and_come_back_with_the_signed_opinion() -> None:
    opinion = Opinion(case_id="c-1", text="Ulcère veineux.", outcome="on_site", marks=MARKS)
    data = packed(opinion)
    opened = open_as(data, signer=EXPERT, reader=DOCTOR).opinion
    assert opened == opinion
    assert marks_for(opened.marks, "photo-1.jpg").annotations[1]["text"] == "bord décollé"
    assert marks_for(opened.marks, "photo-3.jpg") == PhotoMarks("photo-3.jpg")


def test_an_opinion_without_marks_writes_none_and_an_older_one_opens() -> None:
    opinion = Opinion(case_id="c-1", text="Avis.", outcome="on_site")
    data = packed(opinion)

    def clinical_keys(manifest: dict[str, Any]) -> None:
        assert "marks" not in manifest["clinical"]  # what earlier versions wrote

    rebuild(data, manifest=clinical_keys)
    assert open_as(data, signer=EXPERT, reader=DOCTOR).opinion.marks == ()


@pytest.mark.parametrize(
    "marks",
    [
        "not a list",
        [{"photo": "", "measurements": []}],
        [{"photo": "photo-1.jpg", "measurements": [{"kind": "line"}]}],
        [{"photo": "photo-1.jpg", "annotations": [{"kind": "arrow", "start": [1, 2]}]}],
        [{"photo": "photo-1.jpg", "annotations": [{**ARROW, "end": [float("inf"), 1]}]}],
        [{"photo": "photo-1.jpg", "annotations": [ARROW] * 201}],
        [{"photo": "photo-1.jpg", "extra": 1}],
        [{"photo": f"p-{i}.jpg"} for i in range(65)],
    ],
)
def test_malformed_marks_are_refused(marks: Any) -> None:
    data = packed(Opinion(case_id="c-1", text="Avis.", outcome="on_site", marks=MARKS))

    def forged(manifest: dict[str, Any]) -> None:
        manifest["clinical"]["marks"] = json.loads(json.dumps(marks, allow_nan=True))

    assert (
        code_of(rebuild(data, manifest=forged), signer=EXPERT, reader=DOCTOR) == "malformed_bundle"
    )


def test_marks_of_a_photo_named_twice_are_merged_and_replaced_in_order() -> None:
    merged = marks_from_json(
        [
            {"photo": "a", "measurements": [LENGTH]},
            {"photo": "b", "annotations": [ARROW]},
            {"photo": "a", "annotations": [LABEL]},
        ]
    )
    assert [m.photo for m in merged] == ["a", "b"]
    assert marks_for(merged, "a") == PhotoMarks("a", (LENGTH,), (LABEL,))
    emptied = with_marks(merged, PhotoMarks("a"))
    assert [m.photo for m in emptied] == ["b"]
    assert [m.photo for m in with_marks(emptied, PhotoMarks("c", (LENGTH,)))] == ["b", "c"]


# --- earlier photos of the lesion -----------------------------------------------------------


def test_the_earlier_photos_of_the_lesion_are_found_newest_first() -> None:
    first = a_case()
    photos = [replace(p, site="pied_droit") for p in first.photos]
    first = a_case(photos=tuple(photos), created_at=first.created_at - timedelta(days=30))
    second = a_case(created_at=first.created_at + timedelta(days=14))
    other_patient = a_case(patient_ref="P-9999", created_at=first.created_at)
    now = a_case(photos=(photos[0],), follows=second.case_id)
    found = earlier_photos(now, [now, first, other_patient, second])
    assert [(e.case.case_id, e.number) for e in found] == [
        (second.case_id, 1),
        (second.case_id, 2),
        (first.case_id, 1),
        (first.case_id, 2),
    ]
    same_site = of_the_lesion(now.photos[0], found)
    assert [(e.case.case_id, e.number) for e in same_site] == [
        (first.case_id, 1),
        (first.case_id, 2),
    ]
    best = counterpart(now.photos[0], found)
    assert best is not None
    assert (best.case, best.number) == (first, 1)
    assert counterpart(second.photos[0], found) is None  # no site: nothing chosen for it


def test_a_loop_of_follow_ups_ends() -> None:
    a = a_case()
    b = a_case(follows=a.case_id)
    a = replace(a, follows=b.case_id)
    assert followed_chain(a, [a, b]) == {b.case_id}
    assert followed_chain(b, [a, b]) == {a.case_id}


# --- a ruler calibrates by hand -------------------------------------------------------------


def test_a_ruler_calibration_measures_in_mm_and_says_it_was_by_hand() -> None:
    cal = ruler_calibration((100.0, 200.0), (180.0, 200.0), 10.0)  # 8 px per mm
    assert cal.marker_id == RULER_ID
    line = line_measurement(cal, (0.0, 0.0), (240.0, 320.0))
    assert (line.calibrated, line.unit, line.reason) == (True, "mm", RULER)
    assert line.length == pytest.approx(50.0)
    square = polygon_measurement(cal, [(0, 0), (80, 0), (80, 80), (0, 80)])
    assert square.area == pytest.approx(1.0)  # 10 mm × 10 mm = 1 cm²
    with pytest.raises(MeasureError):
        ruler_calibration((1.0, 1.0), (2.0, 1.0), 10.0)  # one point, twice
    with pytest.raises(MeasureError):
        ruler_calibration((1.0, 1.0), (90.0, 1.0), 0.0)
