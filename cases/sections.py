"""The questions each specialty asks of a request, beside the free clinical summary.

Peers' structured request forms have a section per specialty: the specialist finds what they
always need at the same place, and the doctor is reminded to give it. Each answer is a short
free text under a stable key; the labels are the UI's (``app.messages.answer_label``).
Unanswered questions are left out of the request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: The questions of each specialty, in the order the form asks them.
SECTIONS: dict[str, tuple[str, ...]] = {
    "dermatology": ("onset", "itch", "extent", "skin_history"),
    "wounds": ("wound_age", "pain", "infection", "dressing"),
    "endocrinology": ("hba1c", "glucose", "weight"),
    "anaesthesia": ("procedure", "asa", "airway"),
    "hepato_gastroenterology": ("liver_tests", "serology", "alcohol"),
    "cardiology": ("ecg", "blood_pressure", "symptoms"),
}

MAX_ANSWER = 1000
"""Characters in one answer."""
MAX_ANSWERS = 40
"""Answers in one request (a newer writer may ask more questions than these)."""
KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")

Answers = tuple[tuple[str, str], ...]


def answers_of(specialty: str, values: Mapping[str, str]) -> Answers:
    """The non-empty ``values`` (by key) that ``specialty`` asks for, in its order, trimmed."""
    return tuple(
        (key, values[key].strip())
        for key in SECTIONS.get(specialty, ())
        if values.get(key, "").strip()
    )


def checked_answers(specialty: str, raw: object) -> Answers:
    """The answers of a request as read from a bundle: an object of short texts by key.

    The keys this version knows come first, in the specialty's order; others (a newer
    writer's) follow, sorted, so that nothing the doctor wrote is dropped.

    Raises:
        ValueError: ``raw`` is not such an object.
    """
    if not isinstance(raw, dict):
        raise ValueError("the answers are not an object")
    if len(raw) > MAX_ANSWERS:
        raise ValueError("too many answers")
    for key, value in raw.items():
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise ValueError("an answer's key is malformed")
        if not isinstance(value, str) or not 0 < len(value) <= MAX_ANSWER:
            raise ValueError("an answer is not a short text")
    known = SECTIONS.get(specialty, ())
    order = [key for key in known if key in raw] + sorted(key for key in raw if key not in known)
    return tuple((key, raw[key]) for key in order)
