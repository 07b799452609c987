"""Follow-up of a lesion across requests: how its calibrated size changed over time.

Wound and skin care is judged on the trend: is the ulcer shrinking? A request carries the
calibrated measurements the doctor made on each photo (``cases.photos.Photo.measurements``,
in mm and cm² when a marker gave the scale). The same lesion is the same patient (by their
identity when both requests carry one, else the same reference) and the same body site; the
requests that a workstation can open (the doctor's own, the specialist's received ones) are
all it needs, in memory, to put them in order.

Only calibrated values count: pixel values of different photos do not compare.

A request can also follow up an earlier one explicitly (``Case.follows``): the doctor starts
it from the earlier request, which gives the patient, the specialty, the treatments and the
specialist to ask again; the reader then sees the earlier question and its answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from cases.bundle import Party
from cases.identity import same_person
from cases.model import Case, Opinion, new_id, utc_now
from cases.threads import CaseThread


@dataclass(frozen=True)
class SizeOnDate:
    """The lesion's size in one request: its largest calibrated outline's area (cm²) and
    its greatest calibrated length (mm) on the photos of that site, either may be missing."""

    when: datetime
    case_id: str
    area_cm2: float | None
    length_mm: float | None


def sizes_by_site(case: Case) -> dict[str, SizeOnDate]:
    """The calibrated size of each body site measured in ``case`` (sites left blank do not
    identify a lesion and are skipped)."""
    areas: dict[str, float] = {}
    lengths: dict[str, float] = {}
    for photo in case.photos:
        if not photo.site:
            continue
        for m in photo.measurements:
            if not m.get("calibrated"):
                continue
            length = float(m["length"])
            lengths[photo.site] = max(lengths.get(photo.site, 0.0), length)
            if m.get("kind") == "polygon" and m.get("area") is not None:
                areas[photo.site] = max(areas.get(photo.site, 0.0), float(m["area"]))
    return {
        site: SizeOnDate(case.created_at, case.case_id, areas.get(site), lengths.get(site))
        for site in sorted(set(areas) | set(lengths))
    }


def same_patient(a: str, b: str) -> bool:
    """Whether two pseudonymous references name the same patient (case and spaces aside)."""
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()


def same_patient_case(a: Case, b: Case) -> bool:
    """Whether two requests concern the same patient: by their identities when both carry
    one (``cases.identity.same_person``: the INS when both are qualified, else the strict
    traits), else by the unit's pseudonymous reference."""
    if a.identity is not None and b.identity is not None:
        return same_person(a.identity, b.identity)
    return bool(a.patient_ref.strip()) and same_patient(a.patient_ref, b.patient_ref)


def history(case: Case, others: Iterable[Case]) -> dict[str, list[SizeOnDate]]:
    """For each site measured in ``case``: its calibrated sizes in every request of the same
    patient (``case`` included), oldest first. Sites measured in ``case`` alone are left out:
    there is nothing to follow yet."""
    mine = sizes_by_site(case)
    found: dict[str, list[SizeOnDate]] = {site: [size] for site, size in mine.items()}
    seen = {case.case_id}
    for other in others:
        if other.case_id in seen or not same_patient_case(other, case):
            continue
        seen.add(other.case_id)
        for site, size in sizes_by_site(other).items():
            if site in found:
                found[site].append(size)
    return {
        site: sorted(sizes, key=lambda s: s.when) for site, sizes in found.items() if len(sizes) > 1
    }


def change(first: float, last: float) -> float | None:
    """The relative change from ``first`` to ``last`` (-0.42 for a 42 % decrease), or ``None``
    when ``first`` is zero."""
    if first <= 0:
        return None
    return (last - first) / first


def latest_sizes(patient_ref: str, cases: Iterable[Case]) -> dict[str, SizeOnDate]:
    """The most recent calibrated size of each body site measured for ``patient_ref`` in
    ``cases``: what a new measurement of the same lesion compares with."""
    latest: dict[str, SizeOnDate] = {}
    if not patient_ref.strip():
        return latest
    for case in cases:
        if not same_patient(case.patient_ref, patient_ref):
            continue
        for site, size in sizes_by_site(case).items():
            if site not in latest or size.when > latest[site].when:
                latest[site] = size
    return latest


# --- follow-up requests -------------------------------------------------------------------


def follow_up_request(earlier: Case) -> Case:
    """A new request following up ``earlier``: the same patient, specialty and treatments,
    a new id; the clinical summary, the question and the photos are the doctor's to write,
    and the patient's consent is asked again (it covers one sending)."""
    return Case(
        patient_ref=earlier.patient_ref,
        consent=False,
        specialty=earlier.specialty,
        summary="",
        treatments=earlier.treatments,
        question="",
        follows=earlier.case_id,
        identity=earlier.identity,
    )


def referral_request(earlier: Case) -> Case:
    """A new request to the colleague an opinion on ``earlier`` refers the unit to: the same
    clinical content, answers and photos (the colleague cannot open the earlier request),
    linked to it, with a new id and time; the patient's consent is asked again."""
    return replace(
        earlier,
        case_id=new_id(),
        created_at=utc_now(),
        consent=False,
        consent_date=None,
        follows=earlier.case_id,
    )


def referred_to(thread: CaseThread) -> Opinion | None:
    """The latest opinion on ``thread`` when it refers the unit to a colleague."""
    latest = thread.opinions[-1].bundle.opinion if thread.opinions else None
    if latest is not None and latest.outcome == "refer" and latest.refer_to:
        return latest
    return None


def specialist_of(thread: CaseThread) -> Party | None:
    """Who to ask again about ``thread``: the colleague its latest opinion refers to (known by
    mailbox only), else that opinion's author, else the specialist it was addressed to
    (``None`` when none is known)."""
    if (referral := referred_to(thread)) is not None:
        assert referral.refer_to is not None
        return Party(referral.refer_to, referral.refer_name or referral.refer_to, "", "specialist")
    if thread.opinions:
        return thread.opinions[-1].sender
    manifest = thread.case.bundle.manifest
    for party in manifest.recipients:
        if party.role == "specialist" and party.fingerprint != manifest.sender.fingerprint:
            return party
    return None


def followed(case: Case, threads: Iterable[CaseThread]) -> CaseThread | None:
    """The earlier request that ``case`` follows up, among ``threads`` (``None`` when it
    follows none, or one this workstation cannot open)."""
    if case.follows is None:
        return None
    for thread in threads:
        if thread.case_id == case.follows:
            return thread
    return None


def followed_ids(threads: Iterable[CaseThread]) -> frozenset[str]:
    """The case ids some request among ``threads`` follows up: computed once per list, so
    that describing every row of a list of N requests costs N, not N²."""
    return frozenset(
        t.case.bundle.case.follows
        for t in threads
        if t.case.bundle.case is not None and t.case.bundle.case.follows is not None
    )


def review_due(
    thread: CaseThread, threads: Iterable[CaseThread] | frozenset[str]
) -> datetime | None:
    """When the specialist asked to see ``thread``'s lesion again (its latest opinion's
    review date), until a request following it up exists among ``threads`` (or their
    :func:`followed_ids`); else ``None``."""
    if not thread.opinions:
        return None
    opinion = thread.opinions[-1].bundle.opinion
    due = opinion.review_by() if opinion is not None else None
    if due is None or followed_up(thread, threads):
        return None
    return due


def followed_up(thread: CaseThread, threads: Iterable[CaseThread] | frozenset[str]) -> bool:
    """Whether a request following ``thread`` up exists among ``threads`` (or their
    :func:`followed_ids`)."""
    ids = threads if isinstance(threads, frozenset) else followed_ids(threads)
    return thread.case_id in ids
