"""The case and the opinion: what a unit doctor sends and what a specialist answers.

These are plain immutable values. They live in memory while being written or read, and
on disk only inside sealed (signed and encrypted) bundles: never in clear.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from cases.clips import Clip, clip_problems
from cases.documents import MAX_DOCUMENTS, MAX_DOCUMENTS_BYTES, Document
from cases.errors import InvalidCase
from cases.identity import PatientIdentity
from cases.marks import PhotoMarks, marks_to_json
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
        urgent: the doctor asked for a quick answer: the specialist sees it marked, and
            the request leaves the outbox before the others.
        identity: the patient's identity (``cases.identity``), or ``None`` (an earlier
            version's request); ``consent_date``: the day the patient consented;
            ``requester_rpps``: the sending doctor's RPPS, from their profile identity
            (set by ``Workstation.send_case``) — the act's fields (``cases.acts``).
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
    urgent: bool = False
    identity: PatientIdentity | None = None  # cases.identity; the act's fields: cases.acts
    consent_date: date | None = None
    requester_rpps: str = ""
    documents: tuple[Document, ...] = ()  # exam results, tracings, letters (cases.documents)
    clips: tuple[Clip, ...] = ()  # short videos, faces blurred (cases.clips)

    def problems(self) -> list[str]:
        """Codes of what keeps this case from being sent; empty when it is ready."""
        found = []
        if not self.patient_ref.strip():
            found.append("missing_patient_ref")
        if not self.consent:
            found.append("missing_consent")
        if self.identity is not None:
            found += self.identity.problems()
        if self.consent_date is not None and self.consent_date > date.today():
            found.append("consent_date_future")
        if self.specialty not in SPECIALTIES:
            found.append("missing_specialty")
        if not self.summary.strip():
            found.append("missing_summary")
        if not self.question.strip():
            found.append("missing_question")
        if len(self.photos) > MAX_PHOTOS:
            found.append("too_many_photos")
        if len(self.documents) > MAX_DOCUMENTS:
            found.append("too_many_documents")
        if sum(d.size for d in self.documents) > MAX_DOCUMENTS_BYTES:
            found.append("documents_too_large")
        found += clip_problems(self.clips)
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
            "urgent": self.urgent,
            # absent unless set: what earlier versions wrote, and read (cases.identity)
            **({"identity": self.identity.to_manifest()} if self.identity else {}),
            **({"consent_date": self.consent_date.isoformat()} if self.consent_date else {}),
            **({"requester_rpps": self.requester_rpps} if self.requester_rpps else {}),
            # absent when none: a request without documents is what earlier versions wrote
            **({"documents": [d.details() for d in self.documents]} if self.documents else {}),
            **({"clips": [c.details() for c in self.clips]} if self.clips else {}),
        }


#: What a specialist advises the unit to do, in the order the opinion form offers it: treat
#: the patient in the unit; send a new request later (photos again); send what is missing to
#: conclude (other photos, test results) in a follow-up request; ask a colleague the opinion
#: names (``Opinion.refer_to``) in a new request; book a consultation at the hospital (an
#: escorted transfer, planned); transfer the patient to hospital now.
OUTCOMES = (
    "on_site",
    "new_request",
    "more_information",
    "refer",
    "consultation",
    "urgent_transfer",
)

#: The furthest "see again in N weeks" an opinion may advise.
MAX_REVIEW_WEEKS = 52

#: Why a unit doctor withdraws a request no opinion answered yet: the patient was released or
#: transferred to another prison; the patient withdrew consent (the specialist's workstation
#: then erases its copy); the request is no longer needed; it was sent by mistake.
WITHDRAWAL_REASONS = ("released", "consent_withdrawn", "not_needed", "sent_in_error")


@dataclass(frozen=True)
class Opinion:
    """A specialist's answer to a case.

    Attributes:
        outcome: what the unit should do, one of :data:`OUTCOMES`; ``None`` only in an
            unfinished opinion or one written by an earlier version (a reader keeps an
            outcome code it does not know, as it is).
        review_weeks: the specialist wants to see the lesion again in so many weeks
            (1 to :data:`MAX_REVIEW_WEEKS`), or ``None``.
        refer_to: for the outcome ``refer``, the platform mailbox of the colleague to ask
            (a specialist of the directory); ``None`` otherwise. ``refer_name`` is how the
            directory named them (the unit's directory may not have them).
        marks: the specialist's own measurements and annotations on the request's photos
            (:mod:`cases.marks`), drawn for the doctor over those photos.
    """

    case_id: str
    text: str
    opinion_id: str = field(default_factory=new_id)
    created_at: datetime = field(default_factory=utc_now)
    outcome: str | None = None
    review_weeks: int | None = None
    refer_to: str | None = None
    refer_name: str = ""
    marks: tuple[PhotoMarks, ...] = ()
    expert_rpps: str = ""  # the specialist's RPPS, from their identity (cases.acts)

    def problems(self) -> list[str]:
        """Codes of what keeps this opinion from being sent; empty when it is ready."""
        found = []
        if not self.text.strip():
            found.append("missing_opinion")
        if self.outcome not in OUTCOMES:
            found.append("missing_outcome")
        if self.review_weeks is not None and not 1 <= self.review_weeks <= MAX_REVIEW_WEEKS:
            found.append("bad_review_delay")
        if (self.outcome == "refer") != bool(self.refer_to):
            found.append("missing_colleague")
        return found

    def check(self) -> None:
        """Raise :class:`InvalidCase` unless the opinion is ready to send."""
        if found := self.problems():
            raise InvalidCase(found)

    def review_by(self) -> datetime | None:
        """When the specialist wants to see the lesion again, or ``None``."""
        if self.review_weeks is None:
            return None
        return self.created_at + timedelta(weeks=self.review_weeks)

    def to_json(self) -> dict[str, object]:
        return {
            "opinion_id": self.opinion_id,
            "case_id": self.case_id,
            "created_at": self.created_at.isoformat(),
            "text": self.text,
            "outcome": self.outcome,
            "review_weeks": self.review_weeks,
            # absent unless set: an opinion without a referral is what earlier versions wrote
            **({"refer_to": self.refer_to, "refer_name": self.refer_name} if self.refer_to else {}),
            # absent unless drawn: what earlier versions wrote, and read
            **({"marks": marks_to_json(self.marks)} if any(self.marks) else {}),
            **({"expert_rpps": self.expert_rpps} if self.expert_rpps else {}),
        }
