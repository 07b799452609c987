"""Follow-up of a lesion across requests: how its calibrated size changed over time.

Wound and skin care is judged on the trend: is the ulcer shrinking? A request carries the
calibrated measurements the doctor made on each photo (``cases.photos.Photo.measurements``,
in mm and cm² when a marker gave the scale). The same lesion is the same patient reference
and the same body site; the requests that a workstation can open (the doctor's own, the
specialist's received ones) are all it needs, in memory, to put them in order.

Only calibrated values count: pixel values of different photos do not compare.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cases.model import Case


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


def history(case: Case, others: Iterable[Case]) -> dict[str, list[SizeOnDate]]:
    """For each site measured in ``case``: its calibrated sizes in every request of the same
    patient (``case`` included), oldest first. Sites measured in ``case`` alone are left out:
    there is nothing to follow yet."""
    mine = sizes_by_site(case)
    found: dict[str, list[SizeOnDate]] = {site: [size] for site, size in mine.items()}
    seen = {case.case_id}
    for other in others:
        if other.case_id in seen or not same_patient(other.patient_ref, case.patient_ref):
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
