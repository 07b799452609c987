"""The photos of earlier requests of the same lesion, for the reader to compare.

A lesion is followed across requests (:mod:`cases.followup`): the same patient reference
and the same body site, or a request that explicitly follows up an earlier one
(``Case.follows``). When reading a photo, the specialist (or the doctor) sees beside it the
same site's photo of an earlier request, and has the others one click away. Only the
requests this workstation can open are looked at, in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cases.followup import same_patient
from cases.model import Case
from cases.photos import Photo


@dataclass(frozen=True)
class EarlierPhoto:
    """A photo of an earlier request: the request, the photo and its number in it."""

    case: Case
    photo: Photo
    number: int


def followed_chain(case: Case, others: Iterable[Case]) -> set[str]:
    """The ids of the requests ``case`` follows up, directly or through earlier follow-ups
    (among ``others``; a loop of ``follows`` ends where it closes)."""
    by_id = {other.case_id: other for other in others}
    chain: set[str] = set()
    current = case.follows
    while current is not None and current not in chain and current != case.case_id:
        chain.add(current)
        earlier = by_id.get(current)
        current = earlier.follows if earlier is not None else None
    return chain


def earlier_photos(case: Case, others: Iterable[Case]) -> list[EarlierPhoto]:
    """The photos of the same patient's requests made before ``case`` (and of the requests
    it follows up, whoever their patient reference), newest request first."""
    pool = [other for other in others if other.case_id != case.case_id]
    chain = followed_chain(case, pool)
    earlier = [
        other
        for other in pool
        if other.case_id in chain
        or (
            other.created_at < case.created_at and same_patient(other.patient_ref, case.patient_ref)
        )
    ]
    earlier.sort(key=lambda other: other.created_at, reverse=True)
    return [
        EarlierPhoto(other, photo, number)
        for other in earlier
        for number, photo in enumerate(other.photos, 1)
    ]


def of_the_lesion(photo: Photo, earlier: Sequence[EarlierPhoto]) -> list[EarlierPhoto]:
    """Among ``earlier``, the photos of ``photo``'s lesion: those of its body site (when it
    has one), newest first; a photo without a site compares with them all."""
    if not photo.site:
        return list(earlier)
    return [e for e in earlier if e.photo.site == photo.site]


def counterpart(photo: Photo, earlier: Sequence[EarlierPhoto]) -> EarlierPhoto | None:
    """The photo shown beside ``photo``: the latest earlier photo of the same body site
    (``None`` when there is none, or ``photo`` has no site)."""
    if not photo.site:
        return None
    same = of_the_lesion(photo, earlier)
    return same[0] if same else None
