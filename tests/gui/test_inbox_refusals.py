"""What the inbox leaves on the platform (too large, no room left) is said in the window's
status bar, with the station that sent it and why: the platform's listing only."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from outbox.fetcher import INBOX_FULL, ITEM_TOO_LARGE, FetchStatus, RefusedItem
from tests.gui.test_workspaces import open_window
from tests.support.demo import DemoEnv


def test_refused_bundles_are_said_with_who_sent_them(qtbot: QtBot, demo_env: DemoEnv) -> None:
    window = open_window(qtbot, demo_env.layout.hospital)
    big = RefusedItem("b-1", "pr-dubois", "usmp-autre", "case", 900 * 1024 * 1024, ITEM_TOO_LARGE)
    full = RefusedItem("b-2", "pr-dubois", "usmp-demo", "case", 1024, INBOX_FULL)
    window._status_changed(FetchStatus(reachable=True, refused=(big, full)))
    assert window.refused.isVisible()
    assert window.refused.text() == (
        "2 envoi(s) reçu(s) refusé(s) par ce poste (de usmp-autre, usmp-demo)"
    )
    tip = window.refused.toolTip()
    assert tip.splitlines()[0].startswith("usmp-autre — 900,0 Mo — ")
    assert tip.splitlines()[1].startswith("usmp-demo — ")
    window._status_changed(FetchStatus(reachable=True))
    assert not window.refused.isVisible()
