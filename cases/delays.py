"""How long a request may wait for its answer, counted in working days.

The field's baseline, the dermatology link between Fresnes prison and Saint-Louis hospital,
commits the specialist to answer within five working days; an urgent request is expected by
the end of the next working day. Working days are Monday to Friday, except France's public
holidays (the fixed ones, and Easter Monday, Ascension Day and Whit Monday; Alsace-Moselle's
Good Friday and 26 December are not counted).

The clock runs from the request's signature, the time both workstations know the same way
(as the activity report's answer time does), and a request is answered on time when its
first opinion is signed by the end of its due day, in local time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache

from cases.threads import CaseThread, Opened

REPLY_DAYS = 5
"""Working days a specialist has to answer a request."""

URGENT_REPLY_DAYS = 1
"""Working days for an urgent request: the end of the next working day."""


def easter(year: int) -> date:
    """Easter Sunday of ``year`` in the Gregorian calendar: the anonymous Gregorian computus
    (Meeus), which finds the Paschal full moon from the 19-year lunar cycle corrected for the
    century's skipped leap days and the moon's drift, then the Sunday after it."""
    golden = year % 19
    century, of_century = divmod(year, 100)
    leap_skips, century_rest = divmod(century, 4)
    moon_drift = (century + 8) // 25
    moon_fix = (century - moon_drift + 1) // 3
    epact = (19 * golden + century - leap_skips - moon_fix + 15) % 30
    quarter, quarter_rest = divmod(of_century, 4)
    weekday = (32 + 2 * century_rest + 2 * quarter - epact - quarter_rest) % 7
    shift = (golden + 11 * epact + 22 * weekday) // 451
    month, day = divmod(epact + weekday - 7 * shift + 114, 31)
    return date(year, month, day + 1)


@cache
def public_holidays(year: int) -> frozenset[date]:
    """France's public holidays of ``year`` (metropolitan, outside Alsace-Moselle)."""
    fixed = ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25))
    sunday = easter(year)
    movable = {sunday + timedelta(days=n) for n in (1, 39, 50)}  # Monday, Ascension, Whit
    return frozenset({date(year, m, d) for m, d in fixed} | movable)


def is_working_day(day: date) -> bool:
    """Monday to Friday, and not a public holiday."""
    return day.weekday() < 5 and day not in public_holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself does not count: a
    request signed on Saturday or on Monday evening both count from the next one)."""
    day = start
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """The working days after ``start`` up to ``end`` included: 0 for an answer the same day
    (or over a weekend), 1 for the next working day."""
    days, day = 0, start
    while day < end:
        day += timedelta(days=1)
        days += is_working_day(day)
    return days


def has_passed(day: date, today: date | None = None) -> bool:
    """Whether the local ``day`` is over (``today``, or the local date now, is later)."""
    return (today or datetime.now().astimezone().date()) > day


def signed(opened: Opened) -> datetime:
    """When ``opened`` was signed: its verified signing time, else its manifest's time, else
    when its case or opinion was written."""
    bundle = opened.bundle
    written = bundle.case or bundle.opinion
    moment = opened.signed_at or bundle.manifest.created or (written and written.created_at)
    if not moment:
        raise ValueError("a document without a time")  # every opened request has one
    return moment


def reply_due(thread: CaseThread) -> date:
    """The last local day on which an answer to ``thread``'s request is on time."""
    case = thread.case.bundle.case
    days = URGENT_REPLY_DAYS if case is not None and case.urgent else REPLY_DAYS
    return add_working_days(signed(thread.case).astimezone().date(), days)


def first_answer(thread: CaseThread) -> datetime | None:
    """When the first opinion on ``thread`` was signed; ``None`` while none came."""
    return min((signed(opinion) for opinion in thread.opinions), default=None)


def answer_working_days(thread: CaseThread) -> int | None:
    """How many working days the first opinion took (local dates); ``None`` while none came."""
    first = first_answer(thread)
    if first is None:
        return None
    return working_days_between(signed(thread.case).astimezone().date(), first.astimezone().date())


def answered_on_time(thread: CaseThread) -> bool | None:
    """Whether the first opinion came by the due day; ``None`` while none came."""
    first = first_answer(thread)
    if first is None:
        return None
    return first.astimezone().date() <= reply_due(thread)


def answer_late(thread: CaseThread, today: date | None = None) -> date | None:
    """The due day of a request still without an answer (and not withdrawn) once that day
    has passed (local time), else ``None``."""
    if not thread.awaiting_answer:
        return None
    due = reply_due(thread)
    return due if has_passed(due, today) else None
