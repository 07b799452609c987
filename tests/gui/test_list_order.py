"""A workspace's list shows the newest listing, never an older one that finished last.

Listings ran on the pool two at a time: one begun before a request was sealed could end after
the one begun after it, and the doctor's list went back to missing the request just sent
until the next event (seen as a CI failure of test_opinions). Here the first listing is made
slow on purpose (its real result, held back a moment), and a request is sent meanwhile."""

from __future__ import annotations

import threading
import time
from typing import Any

from pytestqt.qtbot import QtBot

from tests.gui.test_end_to_end import WAIT, send_request
from tests.gui.test_follow_up_request import doctor_with_a_complete_request
from tests.gui.test_workspaces import fill_complete_case, open_window
from tests.support.demo import DemoEnv


def test_an_older_listing_never_replaces_a_newer_one(qtbot: QtBot, demo_env: DemoEnv) -> None:
    unit = open_window(qtbot, demo_env.layout.unit)
    doctor = doctor_with_a_complete_request(qtbot, unit)
    fill_complete_case(doctor)
    doctor.form.patient_ref.setText("P-1")
    send_request(doctor.form)
    qtbot.waitUntil(lambda: doctor.cases.count() == 1, timeout=WAIT)

    real = doctor.store.listing
    running = 0
    most = 0
    lock = threading.Lock()
    slow_once = [True]

    def listing() -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            slow = slow_once[0]
            slow_once[0] = False
        try:
            result = real()  # what the list holds now: one request
            if slow:
                time.sleep(1.5)  # ... handed back late, after the next request is sealed
            return result
        finally:
            with lock:
                running -= 1

    doctor.store.listing = listing  # type: ignore[method-assign]
    doctor.refresh()  # the slow listing, begun before the second request exists
    fill_complete_case(doctor)
    doctor.form.patient_ref.setText("P-2")
    send_request(doctor.form)  # sealed; its own listing is asked for when it is queued
    qtbot.waitUntil(lambda: doctor.cases.count() == 2, timeout=WAIT)
    qtbot.wait(2500)  # the slow listing has long ended: it must not have taken the list back
    assert doctor.cases.count() == 2
    assert most == 1  # one listing at a time
