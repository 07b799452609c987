"""A listing that runs while a request is being sent, between the moment its sealed file is
archived and the moment it is indexed: the request is listed once, at once or at the next
listing, never lost (the doctor's list missed a request just sent in full GUI runs: these
pin down the core's part)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.session import Session
from cases.store import CaseStore
from tests.core.test_workstation import a_case, unlock
from tests.support.demo import DemoEnv


@pytest.mark.parametrize("cache_missed", [False, True])
def test_a_listing_between_the_archive_and_the_index_loses_nothing(
    sessions: tuple[Session, Session],
    demo_env: DemoEnv,
    monkeypatch: pytest.MonkeyPatch,
    cache_missed: bool,
) -> None:
    unit, _ = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    ws = unit.workstation
    to = next(e for e in ws.refresh_directory() if e.id == "pr-dubois")
    first = ws.send_case(doctor, replace(a_case(), patient_ref="P-1"), to)
    assert [t.case.bundle_id for t in ws.threads(doctor)[0]] == [first]
    during: list[int] = []
    original = CaseStore.ingest_sealed

    def listed_meanwhile(self: CaseStore, *args: object, **kwargs: object) -> None:
        if cache_missed:
            ws.touch()  # a job of the first request moved on meanwhile
        during.append(len(ws.threads(doctor, None, 40)[0]))
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(CaseStore, "ingest_sealed", listed_meanwhile)
    second = ws.send_case(doctor, replace(a_case(), patient_ref="P-2"), to)
    # opened from the archive by the listing itself when its cache missed, else not yet
    assert during == [2 if cache_missed else 1]
    found, aside = ws.threads(doctor, None, 40)
    assert sorted(t.case.bundle_id for t in found) == sorted([first, second])
    assert aside == []
    states = {r.bundle_id: r.state for r in ws.store(doctor).index.changed_since(0)}
    assert states == {first: "admitted", second: "admitted"}
