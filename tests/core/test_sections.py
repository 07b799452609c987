"""The specialty's questions: what the form keeps, and what a reader accepts."""

from __future__ import annotations

from typing import Any

import pytest

from cases.bundle import pack_case
from cases.model import SPECIALTIES
from cases.sections import MAX_ANSWER, MAX_ANSWERS, SECTIONS, answers_of, checked_answers
from tests.core.test_bundle import DOCTOR, EXPERT, a_case, code_of, open_as, rebuild


def test_every_specialty_asks_its_questions_under_distinct_keys() -> None:
    assert set(SECTIONS) == set(SPECIALTIES)
    keys = [key for questions in SECTIONS.values() for key in questions]
    assert len(keys) == len(set(keys))  # one meaning per key


def test_the_answers_kept_are_the_specialty_s_non_empty_ones_in_its_order() -> None:
    values = {"dressing": " Hydrocolloïde ", "pain": "6/10", "infection": "  ", "itch": "oui"}
    assert answers_of("wounds", values) == (("pain", "6/10"), ("dressing", "Hydrocolloïde"))
    assert answers_of("dermatology", values) == (("itch", "oui"),)  # another specialty's
    assert answers_of("unknown", values) == ()


def test_a_request_keeps_its_answers_and_an_older_one_has_none() -> None:
    answers = (("wound_age", "3 semaines"), ("pain", "6/10"))
    case = a_case(answers=answers)
    data = pack_case("b-1", case, DOCTOR, [EXPERT, DOCTOR])
    assert open_as(data).case.answers == answers  # in the form's order, whatever the JSON's

    def older(manifest: dict[str, Any]) -> None:
        del manifest["clinical"]["answers"]

    assert open_as(rebuild(data, manifest=older)).case.answers == ()


def test_a_newer_writer_s_questions_are_kept_after_the_known_ones() -> None:
    raw = {"zz_new": "b", "pain": "6/10", "aa_new": "a"}
    assert checked_answers("wounds", raw) == (("pain", "6/10"), ("aa_new", "a"), ("zz_new", "b"))


@pytest.mark.parametrize(
    "answers",
    [
        ["pain", "6/10"],
        {"pain": 6},
        {"pain": ""},
        {"pain": "x" * (MAX_ANSWER + 1)},
        {"Pain": "6/10"},
        {"../x": "6/10"},
        {f"k{n}": "x" for n in range(MAX_ANSWERS + 1)},
    ],
)
def test_malformed_answers_make_the_bundle_malformed(answers: object) -> None:
    data = pack_case("b-1", a_case(), DOCTOR, [EXPERT])

    def edit(manifest: dict[str, Any]) -> None:
        manifest["clinical"]["answers"] = answers

    assert code_of(rebuild(data, manifest=edit)) == "malformed_bundle"
