"""The tele-expertise act: what makes an answered request valid and billable.

Each answered request is an act: the requester (the unit doctor) and the expert (the
specialist who answered), each with their RPPS number (the 11-digit national number of health
professionals, its last digit a Luhn key; kept in the profile's identity,
``cases.profile.IdentityInfo.rpps``, and signed into the request and the opinion), the
patient's consent and its date, the dates of request and answer, and the act codes of the
national health insurance (requester ``RQD``, expert ``TE2``) — data that changes, so they
come from a dated table, ``resources/acts/tele-expertise.json``. A patient may have at most
four acts in a rolling year: the doctor is warned, not stopped, before sending a fifth.

Billing gets a CSV of acts (:func:`to_csv`): who, when, which code, for which patient's
identity — never a word of the clinical text.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import resources
from cases.delays import first_answer, signed
from cases.followup import same_patient_case
from cases.identity import PatientIdentity
from cases.model import Case
from cases.threads import CaseThread
from crypto.rpps import rpps_ok

ROLLING_YEAR = timedelta(days=365)
TABLE = resources.path("acts", "tele-expertise.json")
_CODE = re.compile(r"[A-Z0-9]{2,8}")


@dataclass(frozen=True)
class ActCodes:
    """The codes and fees (euros, as text: ``"23.00"``) that apply from ``valid_from``."""

    valid_from: date
    requester: str
    requester_fee: Decimal
    expert: str
    expert_fee: Decimal


@dataclass(frozen=True)
class ActTable:
    """The dated table of act codes, and how many acts a patient may have a year."""

    periods: tuple[ActCodes, ...]
    max_per_patient: int

    def on(self, day: date) -> ActCodes | None:
        """The codes that applied on ``day`` (``None`` before the first period)."""
        found = None
        for period in self.periods:
            if period.valid_from <= day:
                found = period
        return found

    @classmethod
    def load(cls, path: Path = TABLE) -> ActTable:
        """Read and check a table.

        Raises:
            ValueError: unreadable, or a period without its codes, fees or date, or out of
                order.
        """
        try:
            raw: Any = json.loads(path.read_text("utf-8"))
            periods = tuple(
                ActCodes(
                    date.fromisoformat(p["from"]),
                    _code(p["requester"]),
                    Decimal(p["requester_fee"]),
                    _code(p["expert"]),
                    Decimal(p["expert_fee"]),
                )
                for p in raw["periods"]
            )
            limit = raw["max_per_patient"]
        except (OSError, KeyError, TypeError, InvalidOperation) as exc:
            raise ValueError(f"the act table {path.name} is unreadable: {exc!r}") from exc
        if not isinstance(limit, int) or limit < 1 or not periods:
            raise ValueError("the act table has no period or no yearly limit")
        if list(periods) != sorted(periods, key=lambda p: p.valid_from):
            raise ValueError("the act table's periods are not in date order")
        return cls(periods, limit)


@cache
def table() -> ActTable:
    """The table shipped in ``resources/acts/``."""
    return ActTable.load()


@dataclass(frozen=True)
class Act:
    """An answered request, as billing sees it (memory only; built from the signed
    request and its first opinion).

    Attributes:
        request_id: the request's bundle id (signed; no clinical meaning).
        requested_at: when the request was signed; ``answered_at``: its first opinion.
        requester, expert: names as the validated certificates give them; ``*_rpps`` as
            each signed them into their bundle (empty when their identity had none).
        consent: the patient consented; ``consent_date`` when, if the request says.
        identity: the patient's identity, when the request carries one (the INS only if
            qualified).
        codes: the codes and fees that applied on the day of the answer (``None`` before
            the table's first period).
    """

    request_id: str
    requested_at: datetime
    answered_at: datetime
    requester: str
    requester_rpps: str
    expert: str
    expert_rpps: str
    consent: bool
    consent_date: date | None
    identity: PatientIdentity | None
    codes: ActCodes | None

    @classmethod
    def of_thread(cls, thread: CaseThread, codes: ActTable | None = None) -> Act | None:
        """The act of ``thread``, or ``None`` while it has no opinion."""
        case = thread.case.bundle.case
        answered = first_answer(thread)
        if case is None or answered is None or not thread.opinions:
            return None
        first = thread.opinions[0]
        opinion = first.bundle.opinion
        return cls(
            request_id=thread.case.bundle_id,
            requested_at=signed(thread.case),
            answered_at=answered,
            requester=thread.case.sender.display_name,
            requester_rpps=case.requester_rpps,
            expert=first.sender.display_name,
            expert_rpps=opinion.expert_rpps if opinion is not None else "",
            consent=case.consent,
            consent_date=case.consent_date,
            identity=case.identity,
            codes=(codes or table()).on(answered.astimezone().date()),
        )

    def problems(self) -> list[str]:
        """Codes of what keeps this act from being billed (``act_*``); empty when billable."""
        found = []
        if not rpps_ok(self.requester_rpps):
            found.append("act_requester_rpps")
        if not rpps_ok(self.expert_rpps):
            found.append("act_expert_rpps")
        if not self.consent or self.consent_date is None:
            found.append("act_consent")
        if self.identity is None:
            found.append("act_identity")
        if self.codes is None:
            found.append("act_codes")
        return found


def acts(threads: Iterable[CaseThread], codes: ActTable | None = None) -> list[Act]:
    """The acts among ``threads`` (answered requests), oldest answer first."""
    found = [act for t in threads if (act := Act.of_thread(t, codes)) is not None]
    return sorted(found, key=lambda a: (a.answered_at, a.request_id))


def acts_in_year(case: Case, threads: Iterable[CaseThread], now: datetime) -> list[CaseThread]:
    """The other requests for ``case``'s patient that count as acts in the rolling year
    ending ``now``: answered (dated by their first answer) or still awaited (dated by their
    signature, since they will be one); withdrawn ones do not count."""
    since = now - ROLLING_YEAR
    found = []
    for thread in threads:
        other = thread.case.bundle.case
        if other is None or other.case_id == case.case_id or thread.withdrawal is not None:
            continue
        when = first_answer(thread) or signed(thread.case)
        if since < when <= now and same_patient_case(case, other):
            found.append(thread)
    return found


def over_yearly_limit(
    case: Case, threads: Iterable[CaseThread], now: datetime | None = None
) -> int | None:
    """How many acts ``case``'s patient had in the rolling year when sending ``case`` would
    go past the yearly limit (so the doctor is warned); ``None`` otherwise."""
    earlier = len(acts_in_year(case, threads, now or datetime.now(UTC)))
    return earlier if earlier >= table().max_per_patient else None


def to_csv(rows: Sequence[Act], headers: Sequence[str]) -> str:
    """The acts as CSV for the billing office (``;``-separated, fees with a decimal comma):
    the dates of answer and request, the requester's code and fee (``RQD``), the expert's
    (``TE2``), both professionals and their RPPS, the consent's date, the patient's identity
    (the INS only when qualified) and the request's id. ``headers`` names the columns (see
    ``widgets.acts.headers``). Nothing of the clinical text."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(headers)
    for act in rows:
        who = act.identity
        ins = who.transmitted_ins() if who is not None else None
        codes = act.codes
        writer.writerow(
            _cell(value)
            for value in [
                act.answered_at.astimezone().date().isoformat(),
                act.requested_at.astimezone().date().isoformat(),
                codes.requester if codes else "",
                _fee(codes.requester_fee) if codes else "",
                codes.expert if codes else "",
                _fee(codes.expert_fee) if codes else "",
                act.requester,
                act.requester_rpps,
                act.expert,
                act.expert_rpps,
                act.consent_date.isoformat() if act.consent and act.consent_date else "",
                who.birth_name if who else "",
                who.first_names if who else "",
                who.used_name if who else "",
                who.sex if who else "",
                who.birth_date.isoformat() if who else "",
                who.birthplace if who else "",
                who.status if who else "",
                ins.value if ins else "",
                ins.oid if ins else "",
                act.request_id,
            ]
        )
    return out.getvalue()


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula (``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return; a certificate's name could) gets a leading
    apostrophe."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _fee(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",")


def _code(value: Any) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValueError(f"{value!r} is not an act code")
    return value
