"""The tele-expertise act: RPPS numbers, dated codes, four acts a rolling year, billing's CSV."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cases.acts import Act, ActTable, acts, acts_in_year, over_yearly_limit, rpps_ok, table, to_csv
from cases.identity import OID_NIR, Ins, PatientIdentity
from cases.model import Case, Opinion
from cases.threads import CaseThread
from tests.core.test_activity import answered
from tests.core.test_followup import EXPERT, T0, request, thread
from tests.core.test_identity import JEANNE, NIR

REQUESTER_RPPS, EXPERT_RPPS = "10001234565", "10002345675"
CLINICAL = ("Ulcère", "Évolution", "Avis.", "P-0147", "wounds")


def act_thread(
    days: int, identity: PatientIdentity | None = JEANNE, **answer: object
) -> CaseThread:
    """A request for ``identity`` signed ``days`` after T0 and answered a day later."""
    made = answered(days, 24, "on_site")
    case = made.case.bundle.case
    assert case is not None
    case = replace(
        case,
        identity=identity,
        consent_date=(T0 + timedelta(days=days - 1)).date(),
        requester_rpps=REQUESTER_RPPS,
    )
    opinion = Opinion(case.case_id, "Avis.", outcome="on_site", expert_rpps=EXPERT_RPPS)
    rebuilt = thread(case, (EXPERT, opinion))
    return CaseThread(
        replace(rebuilt.case, signed_at=made.case.signed_at),
        [replace(rebuilt.opinions[0], signed_at=made.opinions[0].signed_at)],
        **answer,  # type: ignore[arg-type]
    )


def new_case(days: int, identity: PatientIdentity | None = JEANNE, ref: str = "P-0147") -> Case:
    return replace(request(days, patient=ref), identity=identity)


def test_an_rpps_has_11_digits_and_a_luhn_key() -> None:
    assert rpps_ok(REQUESTER_RPPS)
    assert rpps_ok(EXPERT_RPPS)
    assert rpps_ok("10003456786")
    assert not rpps_ok("10001234566")  # the key is off by one
    assert not rpps_ok("1000123456")  # ten digits
    assert not rpps_ok("1000123456a")
    assert not rpps_ok("１０００１２３４５６５")  # full-width digits are not digits here


def test_the_codes_come_from_a_dated_table_that_can_change(tmp_path: Path) -> None:
    shipped = table()
    assert shipped.max_per_patient == 4
    in_2025, in_2026 = shipped.on(date(2025, 12, 31)), shipped.on(date(2026, 1, 1))
    assert in_2025 is not None
    assert in_2026 is not None
    assert (in_2026.requester, in_2026.expert) == ("RQD", "TE2")
    assert (in_2025.expert_fee, in_2026.expert_fee) == (Decimal("20.00"), Decimal("23.00"))
    assert shipped.on(date(2018, 1, 1)) is None  # before tele-expertise was billable
    changed = json.loads(Path("resources/acts/tele-expertise.json").read_text("utf-8"))
    changed["periods"].append(
        {"from": "2027-03-01", "requester": "RQD", "requester_fee": "12.00",
         "expert": "TE3", "expert_fee": "25.00"}
    )  # fmt: skip
    path = tmp_path / "acts.json"
    path.write_text(json.dumps(changed), "utf-8")
    future = ActTable.load(path).on(date(2027, 3, 1))
    assert future is not None
    assert future.expert == "TE3"
    for broken in (
        {"max_per_patient": 4, "periods": []},
        {"max_per_patient": 0, "periods": changed["periods"]},
        {"max_per_patient": 4, "periods": changed["periods"][::-1]},
        {"max_per_patient": 4, "periods": [dict(changed["periods"][0], expert="te 2")]},
        {"periods": changed["periods"]},
    ):
        path.write_text(json.dumps(broken), "utf-8")
        with pytest.raises(ValueError, match=r"act table|act code"):
            ActTable.load(path)


def test_an_answered_request_is_an_act_with_both_rpps_the_consent_and_the_codes() -> None:
    assert Act.of_thread(answered(0, 0)) is None  # no opinion yet: no act
    act = Act.of_thread(act_thread(0))
    assert act is not None
    assert (act.requester_rpps, act.expert_rpps) == (REQUESTER_RPPS, EXPERT_RPPS)
    assert act.consent
    assert act.consent_date == date(2026, 10, 11)
    assert act.answered_at - act.requested_at == timedelta(hours=24)
    assert act.identity == JEANNE
    assert act.codes is not None
    assert act.codes.expert == "TE2"
    assert act.problems() == []
    old = Act.of_thread(answered(0, 5, "on_site"))  # an earlier version's request
    assert old is not None
    assert old.problems() == [
        "act_requester_rpps",
        "act_expert_rpps",
        "act_consent",
        "act_identity",
    ]


def test_a_fifth_act_in_a_rolling_year_is_warned_of() -> None:
    # four acts for Jeanne within the year, under two different references
    earlier = [act_thread(d) for d in (0, 60, 120)]
    earlier.append(replace(act_thread(180), withdrawal=None))
    fifth = new_case(200, ref="Q-9")
    now = T0 + timedelta(days=200)
    assert len(acts_in_year(fifth, earlier, now)) == 4
    assert over_yearly_limit(fifth, earlier, now) == 4
    # three only: no warning
    assert over_yearly_limit(fifth, earlier[1:], now) is None
    # a year and a day after the first, it no longer counts (rolling year, fake clock)
    later = T0 + timedelta(days=366)
    assert over_yearly_limit(new_case(366), earlier, later) is None
    # a request awaiting its answer counts (it will be an act); a withdrawn one does not
    pending = answered(190, 0)
    pending_case = pending.case.bundle.case
    assert pending_case is not None
    waiting = thread(replace(pending_case, identity=JEANNE))
    waiting = CaseThread(replace(waiting.case, signed_at=pending.case.signed_at))
    assert over_yearly_limit(fifth, [*earlier[1:], waiting], now) == 4
    withdrawn = CaseThread(waiting.case, withdrawal=waiting.case)
    assert over_yearly_limit(fifth, [*earlier[1:], withdrawn], now) is None
    # another person with the same reference is not counted
    stranger = replace(JEANNE, birth_name="Durand", first_names="Paul", sex="M", ins=None,
                       status="provisional")  # fmt: skip
    assert over_yearly_limit(new_case(200, identity=stranger), earlier, now) is None
    # without identities, the unit's reference decides
    plain = [act_thread(d, identity=None) for d in (0, 60, 120, 180)]
    assert over_yearly_limit(new_case(200, identity=None), plain, now) == 4


def test_billing_csv_has_what_billing_needs_and_no_clinical_word() -> None:
    headers = [f"h{n}" for n in range(21)]
    qualified, unqualified = act_thread(0), act_thread(3, replace(JEANNE, status="validated"))
    rows = acts([answered(1, 0), unqualified, qualified])  # the unanswered one is no act
    assert [a.request_id for a in rows] == [qualified.case.bundle_id, unqualified.case.bundle_id]
    text = to_csv(rows, headers)
    for word in CLINICAL:
        assert word not in text
    lines = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert lines[0] == headers
    first = lines[1]
    # answered in 2026: RQD 10 EUR for the requester, TE2 23 EUR for the expert
    assert first[:6] == ["2026-10-13", "2026-10-12", "RQD", "10,00", "TE2", "23,00"]
    assert first[7] == REQUESTER_RPPS
    assert first[9] == EXPERT_RPPS
    assert first[10] == "2026-10-11"
    assert first[11:19] == ["Lefèvre-D'Arc", "Jeanne Marie", "Martin", "F", "1985-03-14",
                            "75112", "qualified", NIR]  # fmt: skip
    assert first[19] == OID_NIR
    assert first[20] == qualified.case.bundle_id
    assert lines[2][18:20] == ["", ""]  # not qualified: no INS
    assert Ins(NIR, OID_NIR).value in text
    # a name from a certificate that a spreadsheet would take for a formula stays text
    forged = replace(rows[0], requester='=HYPERLINK("http://x")', expert="@SUM(A1)")
    [_head, cells] = list(csv.reader(io.StringIO(to_csv([forged], headers)), delimiter=";"))
    assert cells[6] == '\'=HYPERLINK("http://x")'
    assert cells[8] == "'@SUM(A1)"
