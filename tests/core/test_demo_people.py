"""A demo set up by an earlier version gains the people added since, without a reset."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import demo
from app.session import Session
from cases.profile import Profile


def test_a_colleague_added_since_joins_an_older_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    older = tuple(p for p in demo.PEOPLE if p[1].id != "pr-roux")
    with monkeypatch.context() as patch:  # the demo as an earlier version set it up
        patch.setattr(demo, "PEOPLE", older)
        layout = demo.set_up(tmp_path / "demo")
    ids = lambda: [i.id for i in Profile(layout.hospital).identities()]  # noqa: E731
    assert "pr-roux" not in ids()

    assert demo.add_missing_people(layout) == ["pr-roux"]
    assert "pr-roux" in ids()
    assert demo.add_missing_people(layout) == []  # once
    process, _url = demo.start_platform(layout)
    try:
        session = Session(Profile(layout.unit))
        listed = {e.id: e for e in session.workstation.refresh_directory()}
        assert listed["pr-roux"].specialty == "wounds"
        assert listed["pr-roux"].role == "specialist"
        Profile(layout.hospital).unlock("pr-roux", demo.DEMO_PASSPHRASE.encode())  # her key
    finally:
        demo.stop_platform(process)
