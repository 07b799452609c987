"""The case and the opinion: what a unit doctor sends and what a specialist answers.

These are plain immutable values. They live in memory while being written or read, and
on disk only inside sealed (signed and encrypted) bundles: never in clear.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cases.errors import InvalidCase
from cases.photos import Photo
from cases.sections import Answers

#: Specialty codes, in the order the request form offers them (dermatology and wounds first).
SPECIALTIES = (
    "dermatology",
    "wounds",
    "endocrinology",
    "anaesthesia",
    "hepato_gastroenterology",
    "cardiology",
)

MAX_PHOTOS = 12


def new_id() -> str:
    """A client-made identifier: the platform drops duplicates by it."""
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Case:
    """A tele-expertise request.

    Attributes:
        patient_ref: a pseudonymous reference known to the unit (never a name).
        consent: the patient agreed to the photos and to sending them.
        follows: the ``case_id`` of the earlier request this one follows up (the same
            lesion seen again), or ``None``.
        answers: the answers to the specialty's questions (``cases.sections``), as
            ``(key, text)`` pairs in the form's order; unanswered ones are left out.
    """

    patient_ref: str
    consent: bool
    specialty: str
    summary: str
    treatments: str
    question: str
    photos: tuple[Photo, ...] = ()
    case_id: str = field(default_factory=new_id)
    created_at: datetime = field(default_factory=utc_now)
    follows: str | None = None
    answers: Answers = ()

    def problems(self) -> list[str]:
        """Codes of what keeps this case from being sent; empty when it is ready."""
        found = []
        if not self.patient_ref.strip():
            found.append("missing_patient_ref")
        if not self.consent:
            found.append("missing_consent")
        if self.specialty not in SPECIALTIES:
            found.append("missing_specialty")
        if not self.summary.strip():
            found.append("missing_summary")
        if not self.question.strip():
            found.append("missing_question")
        if len(self.photos) > MAX_PHOTOS:
            found.append("too_many_photos")
        return found

    def check(self) -> None:
        """Raise :class:`InvalidCase` unless the case is ready to send."""
        if found := self.problems():
            raise InvalidCase(found)

    def to_json(self) -> dict[str, object]:
        return {
            "case_id": self.case_id,
            "created_at": self.created_at.isoformat(),
            "patient_ref": self.patient_ref,
            "consent": self.consent,
            "specialty": self.specialty,
            "summary": self.summary,
            "treatments": self.treatments,
            "question": self.question,
            "photos": [p.details() for p in self.photos],
            "follows": self.follows,
            "answers": dict(self.answers),
        }


@dataclass(frozen=True)
class Opinion:
    """A specialist's answer to a case."""

    case_id: str
    text: str
    opinion_id: str = field(default_factory=new_id)
    created_at: datetime = field(default_factory=utc_now)

    def check(self) -> None:
        if not self.text.strip():
            raise InvalidCase(["missing_opinion"])

    def to_json(self) -> dict[str, object]:
        return {
            "opinion_id": self.opinion_id,
            "case_id": self.case_id,
            "created_at": self.created_at.isoformat(),
            "text": self.text,
        }
