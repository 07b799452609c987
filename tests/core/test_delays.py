"""The answer's due day: five working days after the request, the next one when urgent,
French public holidays and weekends left out."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from cases.delays import (
    add_working_days,
    answer_late,
    answered_on_time,
    easter,
    is_working_day,
    public_holidays,
    reply_due,
    working_days_between,
)
from tests.core.test_activity import answered
from tests.core.test_followup import T0, request, thread


@pytest.mark.parametrize(
    ("year", "sunday"),
    [
        (2000, date(2000, 4, 23)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),  # the latest possible date
        (2285, date(2285, 3, 22)),  # the earliest possible date
    ],
)
def test_easter_sunday(year: int, sunday: date) -> None:
    assert easter(year) == sunday
    assert sunday.weekday() == 6


def test_the_public_holidays_of_2026() -> None:
    assert sorted(public_holidays(2026)) == [
        date(2026, 1, 1),
        date(2026, 4, 6),  # Easter Monday
        date(2026, 5, 1),
        date(2026, 5, 8),
        date(2026, 5, 14),  # Ascension Day
        date(2026, 5, 25),  # Whit Monday
        date(2026, 7, 14),
        date(2026, 8, 15),
        date(2026, 11, 1),
        date(2026, 11, 11),
        date(2026, 12, 25),
    ]
    assert not is_working_day(date(2026, 11, 11))  # a Wednesday
    assert not is_working_day(date(2026, 11, 28))  # a Saturday
    assert is_working_day(date(2026, 11, 24))


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (date(2026, 11, 23), 5, date(2026, 11, 30)),  # Monday: the next Monday
        (date(2026, 11, 28), 5, date(2026, 12, 4)),  # Saturday: counts from Monday
        (date(2026, 11, 27), 1, date(2026, 11, 30)),  # Friday, urgent: Monday
        (date(2026, 11, 6), 5, date(2026, 11, 16)),  # over 11 November
        (date(2026, 12, 23), 5, date(2026, 12, 31)),  # over Christmas
        (date(2027, 3, 25), 2, date(2027, 3, 30)),  # over Easter Monday
        (date(2026, 11, 24), 0, date(2026, 11, 24)),
    ],
)
def test_working_days_are_counted_after_the_start(start: date, days: int, due: date) -> None:
    assert add_working_days(start, days) == due


def test_an_urgent_request_is_due_the_next_working_day() -> None:
    case = request(0)  # T0: Monday 12 October 2026, noon
    assert T0.weekday() == 0
    assert reply_due(thread(case)) == date(2026, 10, 19)
    assert reply_due(thread(replace(case, urgent=True))) == date(2026, 10, 13)


def test_an_answer_is_on_time_until_the_end_of_its_due_day() -> None:
    assert answered_on_time(answered(0, 0)) is None  # no opinion yet
    assert answered_on_time(answered(0, 2, "on_site")) is True
    assert answered_on_time(answered(0, 24 * 7, "on_site")) is True  # Monday 19, noon
    assert answered_on_time(answered(0, 24 * 8, "on_site")) is False  # Tuesday 20
    assert answered_on_time(answered(0, 24, "on_site", urgent=True)) is True
    assert answered_on_time(answered(0, 48, "on_site", urgent=True)) is False
    # the first opinion counts, not a later one
    assert answered_on_time(answered(0, 24 * 6, "more_information", "on_site")) is True


def test_a_request_is_late_once_its_due_day_has_passed_without_an_answer() -> None:
    waiting = answered(0, 0)
    due = date(2026, 10, 19)
    assert answer_late(waiting, today=due) is None
    assert answer_late(waiting, today=due + timedelta(days=1)) == due
    assert answer_late(answered(0, 24 * 9, "on_site"), today=due + timedelta(days=10)) is None


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        (date(2026, 11, 23), date(2026, 11, 23), 0),  # the same day
        (date(2026, 11, 23), date(2026, 11, 24), 1),
        (date(2026, 11, 27), date(2026, 11, 29), 0),  # Friday to Sunday
        (date(2026, 11, 27), date(2026, 11, 30), 1),  # Friday to Monday
        (date(2026, 11, 10), date(2026, 11, 12), 1),  # over 11 November
        (date(2026, 11, 24), date(2026, 11, 23), 0),  # answered before: nothing
    ],
)
def test_working_days_between_two_dates(start: date, end: date, days: int) -> None:
    assert working_days_between(start, end) == days
