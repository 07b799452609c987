"""The activity report: requests a month, answer times, outcomes, transfers avoided."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

from cases.activity import monthly, to_csv
from cases.model import OUTCOMES, Opinion
from cases.threads import CaseThread
from tests.core.test_followup import EXPERT, T0, request, thread


def answered(days: int, hours: float, *outcomes: str | None, urgent: bool = False) -> CaseThread:
    """A request signed ``days`` after T0, answered ``hours`` later by one opinion per
    outcome (an hour apart)."""
    case = replace(request(days), urgent=urgent)
    opinions = [(EXPERT, Opinion(case.case_id, "Avis.", outcome=outcome)) for outcome in outcomes]
    made = thread(case, *opinions)
    sent = T0 + timedelta(days=days)
    return CaseThread(
        replace(made.case, signed_at=sent),
        [
            replace(o, signed_at=sent + timedelta(hours=hours + n))
            for n, o in enumerate(made.opinions)
        ],
    )


def test_each_month_counts_its_requests_answers_and_outcomes() -> None:
    threads = [
        answered(0, 10, "on_site"),  # October
        answered(1, 30, "consultation", "urgent_transfer", urgent=True),  # the latest counts
        answered(2, 0),  # not answered
        answered(3, 2, None),  # an opinion of an earlier version: no outcome
        answered(4, 1, "more_information"),  # not concluded: no transfer avoided
        answered(25, 5, "new_request"),  # November
    ]
    november, october = monthly(threads)
    assert (october.month, november.month) == ("2026-10", "2026-11")
    assert (october.requests, october.urgent, october.answered) == (5, 1, 4)
    assert sorted(october.hours) == [1.0, 2.0, 10.0, 30.0]  # to the first opinion
    assert october.median_hours == 6.0
    assert october.outcomes == {"on_site": 1, "urgent_transfer": 1, "": 1, "more_information": 1}
    assert october.avoided == 1  # only the one treated on site
    assert (november.requests, november.answered, november.avoided) == (1, 1, 1)
    assert monthly([]) == []


def test_each_month_counts_the_requests_answered_on_time() -> None:
    threads = [
        answered(0, 24 * 7, "on_site"),  # Monday 12 October, answered on Monday 19: on time
        answered(0, 24 * 8, "on_site"),  # on Tuesday 20: late
        answered(2, 24, "consultation", urgent=True),  # urgent, the next working day
        answered(4, 24 * 3, "consultation", urgent=True),  # urgent, Friday to Monday
        answered(3, 48, "on_site", urgent=True),  # urgent, two days later: late
        answered(3, 0),  # not answered: neither
    ]
    withdrawn = answered(5, 0)
    threads.append(replace(withdrawn, withdrawal=withdrawn.case))  # any bundle: only its presence
    [october] = monthly(threads)
    assert (october.answered, october.on_time) == (5, 3)
    # Friday to Monday, and Thursday to Saturday: one working day each
    assert sorted(october.working_days) == [1, 1, 1, 5, 6]
    assert october.median_working_days == 1
    assert (october.requests, october.withdrawn) == (7, 1)


def test_the_csv_has_one_line_a_month_and_no_clinical_content() -> None:
    threads = [answered(0, 10, "on_site"), answered(1, 5, "urgent_transfer")]
    headers = ["mois", "demandes", "urgentes", "retirées", "avis", "délai", "jours", "à temps"]
    headers += [*OUTCOMES, "évitées"]
    text = to_csv(monthly(threads), headers)
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows == [
        headers,
        ["2026-10", "2", "0", "0", "2", "7,5", "0,0", "2", "1", "0", "0", "0", "0", "1", "1"],
    ]
    assert "P-0147" not in text  # the patient reference of every request
    assert "Avis." not in text
