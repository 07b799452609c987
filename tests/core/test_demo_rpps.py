"""The demo lists its professionals' RPPS numbers in the platform's directory (issue 19),
also when it was set up by a version that did not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app import demo
from app.session import Session
from cases.profile import Profile
from refplatform import accounts
from refplatform.db import open_database


def listed(layout: demo.DemoLayout) -> dict[str, str | None]:
    data = layout.platform / "data"
    return {e["id"]: e["rpps"] for e in accounts.directory(open_database(data))}


def test_an_older_demo_gains_its_rpps_numbers_through_the_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = {info.id: info.rpps for _station, info in demo.PEOPLE if info.role != "secretary"}
    assert all(numbers.values())  # every professional of the demo has one
    older = tuple((station, replace(info, rpps=None)) for station, info in demo.PEOPLE)
    with monkeypatch.context() as patch:  # the demo as an earlier version set it up
        patch.setattr(demo, "PEOPLE", older)
        layout = demo.set_up(tmp_path / "demo")
    assert listed(layout) == dict.fromkeys(numbers)

    assert demo.add_missing_people(layout) == []
    assert listed(layout) == numbers
    process, _url = demo.start_platform(layout)
    try:  # what a workstation gets from the platform
        session = Session(Profile(layout.unit))
        fetched = {e.id: e.rpps for e in session.workstation.refresh_directory()}
    finally:
        demo.stop_platform(process)
    assert fetched == numbers
