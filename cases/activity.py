"""The activity report: how many requests a month, how fast they were answered, and what the
specialists advised — above all, how many hospital transfers (escorted "extractions") the
answers avoided, the figure a prison health unit reports on its tele-expertise.

Counts only, from the requests this person can open, in memory: no patient reference, no
clinical text. A request counts in the month (local time) it was signed; its answer time
runs from the request's signature to the first opinion's.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cases.delays import answer_working_days, answered_on_time, first_answer, signed
from cases.model import OUTCOMES
from cases.threads import CaseThread

#: The outcomes under which the patient stays in the unit: no transfer to hospital.
AVOIDING = ("on_site", "new_request")


@dataclass(frozen=True)
class MonthActivity:
    """One month's requests.

    Attributes:
        month: ``"2026-11"``.
        requests: requests signed that month; ``urgent`` of them marked urgent, ``withdrawn``
            of them withdrawn by their author before any answer.
        answered: those with at least one opinion; ``hours`` the time each waited for its
            first, in hours, and ``working_days`` in working days; ``on_time`` of them
            answered by their due day
            (:mod:`cases.delays`: 5 working days, the next one when urgent).
        outcomes: how many answered requests' latest opinion advised each outcome (an
            opinion of an earlier version, without one, is counted under ``""``).
    """

    month: str
    requests: int = 0
    urgent: int = 0
    withdrawn: int = 0
    answered: int = 0
    hours: tuple[float, ...] = ()
    working_days: tuple[int, ...] = ()
    on_time: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def median_hours(self) -> float | None:
        return statistics.median(self.hours) if self.hours else None

    @property
    def median_working_days(self) -> float | None:
        return statistics.median(self.working_days) if self.working_days else None

    @property
    def avoided(self) -> int:
        """Answered requests whose patient could stay in the unit."""
        return sum(self.outcomes.get(code, 0) for code in AVOIDING)


def monthly(threads: Iterable[CaseThread]) -> list[MonthActivity]:
    """The activity of ``threads`` month by month, the latest month first."""
    by_month: dict[str, list[CaseThread]] = {}
    for thread in threads:
        if thread.case.bundle.case is not None:
            month = signed(thread.case).astimezone().strftime("%Y-%m")
            by_month.setdefault(month, []).append(thread)
    return [month_of(month, by_month[month]) for month in sorted(by_month, reverse=True)]


def month_of(month: str, threads: Sequence[CaseThread]) -> MonthActivity:
    """The activity of ``threads``, requests of ``month``."""
    answered = [thread for thread in threads if thread.opinions]
    outcomes: dict[str, int] = {}
    for thread in answered:
        latest = thread.opinions[-1].bundle.opinion
        code = (latest.outcome if latest is not None else None) or ""
        outcomes[code] = outcomes.get(code, 0) + 1
    return MonthActivity(
        month=month,
        requests=len(threads),
        urgent=sum(1 for t in threads if t.case.bundle.case and t.case.bundle.case.urgent),
        withdrawn=sum(1 for t in threads if t.withdrawal is not None),
        answered=len(answered),
        hours=tuple(
            max(0.0, (first - signed(t.case)).total_seconds() / 3600)
            for t in answered
            if (first := first_answer(t)) is not None
        ),
        working_days=tuple(answer_working_days(t) or 0 for t in answered),
        on_time=sum(1 for t in answered if answered_on_time(t)),
        outcomes=outcomes,
    )


def to_csv(rows: Sequence[MonthActivity], headers: Sequence[str]) -> str:
    """The report as CSV (``;``-separated, as French spreadsheets expect), one line a month:
    month, requests, urgent, withdrawn, answered, median hours, median working days, answered
    on time, one column per outcome of :data:`OUTCOMES`, transfers avoided; ``headers`` names
    those columns."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(
            [
                row.month,
                row.requests,
                row.urgent,
                row.withdrawn,
                row.answered,
                _decimal(row.median_hours),
                _decimal(row.median_working_days),
                row.on_time,
                *(row.outcomes.get(code, 0) for code in OUTCOMES),
                row.avoided,
            ]
        )
    return out.getvalue()


def _decimal(value: float | None) -> str:
    """A figure as French spreadsheets read it (``1,5``), or empty."""
    return "" if value is None else f"{value:.1f}".replace(".", ",")
