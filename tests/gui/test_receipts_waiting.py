"""The specialist's first listing after the login can run before the directory arrives (both
start at once, on the pool): the request's receipt then waits, and goes with a listing after
the directory came (the workspace lists again when it comes). Before, it was never sent and the
unit's request stayed "delivered". Real windows offscreen, the demo's real platform."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from app.session import Session
from cases.profile import Profile
from cases.workstation import Workstation
from outbox.platform import DirectoryEntry
from tests.core.test_workstation import a_case, unlock
from tests.gui.test_end_to_end import WAIT, log_in
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv
from widgets.specialist import SpecialistWorkspace


def a_request_delivered(demo_env: DemoEnv) -> str:
    session = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    session.start()
    try:
        doctor = unlock(demo_env.layout.unit, "dr-bernard")
        to = next(e for e in session.workstation.refresh_directory() if e.id == "pr-dubois")
        bundle_id = session.workstation.send_case(doctor, a_case(), to)
        session.sender.wake()
        deadline = time.monotonic() + 20
        while session.outbox.get(bundle_id).state != "delivered":  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the request was not delivered"
            time.sleep(0.05)
        return bundle_id
    finally:
        session.stop()


def test_the_receipt_goes_when_the_directory_comes_after_the_first_listing(
    qtbot: QtBot, demo_env: DemoEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle_id = a_request_delivered(demo_env)
    (demo_env.layout.hospital / "directory.json").unlink(missing_ok=True)
    # An order the pool may choose: the directory comes once a listing has shown the request.
    listed = threading.Event()
    threads, fetch = Workstation.threads, Workstation.refresh_directory

    def listing(self: Workstation, *args: Any, **kwargs: Any) -> Any:
        found = threads(self, *args, **kwargs)
        if found[0]:
            listed.set()
        return found

    def late_directory(self: Workstation) -> list[DirectoryEntry]:
        assert listed.wait(WAIT / 1000)
        return fetch(self)

    monkeypatch.setattr(Workstation, "threads", listing)
    monkeypatch.setattr(Workstation, "refresh_directory", late_directory)

    window = open_window(qtbot, demo_env.layout.hospital)
    specialist = log_in(qtbot, window, "pr-dubois")
    assert isinstance(specialist, SpecialistWorkspace)
    qtbot.waitUntil(lambda: specialist.cases.count() == 1, timeout=WAIT)
    session = window.session
    assert session is not None

    def receipts() -> list[tuple[str | None, str]]:
        return [(j.recipient_id, j.state) for j in session.outbox.jobs() if j.kind == "receipt"]

    # sent, then delivered (closing the window during a send would leave it running)
    qtbot.waitUntil(lambda: receipts() == [("dr-bernard", "delivered")], timeout=WAIT)
    assert session.workstation.store(specialist.me).index.get(bundle_id) is not None
    window.close()
