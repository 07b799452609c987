"""The session journals the queue's security events: who unlocked, what was sent or cancelled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.demo import DEMO_PASSPHRASE
from app.session import Session, cancel_reason_code
from cases.profile import Profile
from crypto import audit
from tests.core.test_workstation import a_case, wait_for
from tests.support.demo import DemoEnv


@pytest.fixture
def unit(demo_env: DemoEnv) -> Iterator[Session]:
    session = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    session.start()
    try:
        yield session
    finally:
        session.stop()


def events(path: Path) -> list[tuple[str, str, dict[str, object]]]:
    return [(e.event, e.actor, dict(e.details)) for e in audit.read(path)]


def test_unlock_send_and_cancel_are_journalled_without_content(unit: Session) -> None:
    doctor = unit.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    sent = unit.workstation.send_case(doctor, a_case(), to)
    unit.sender.wake()
    wait_for(lambda: unit.outbox.get(sent).state in ("delivered", "acknowledged"))  # type: ignore[union-attr]
    unit.outbox.pause_all()
    kept = unit.workstation.send_case(doctor, a_case(), to)
    unit.outbox.cancel(kept, reason="wrong_recipient")

    path = unit.profile.audit_path
    wait_for(lambda: any(e[0] == "bundle_cancelled" for e in events(path)))
    wait_for(lambda: any(e[0] == "bundle_sent" for e in events(path)))
    journal = events(path)
    assert journal[0][:2] == ("identity_unlocked", "dr-bernard")
    assert journal[0][2]["fingerprint"] == doctor.fingerprint
    sent_events = [d for e, _a, d in journal if e == "bundle_sent"]
    assert [d["bundle_id"] for d in sent_events] == [sent]
    cancelled = [d for e, _a, d in journal if e == "bundle_cancelled"]
    assert cancelled == [
        {"bundle_id": kept, "kind": "case", "recipient": "pr-dubois", "reason": "wrong_recipient"}
    ]
    assert audit.verify(path).ok
    text = path.read_text("utf-8")
    assert "Psoriasis" not in text
    assert "érythémateuse" not in text


def test_a_free_text_reason_is_never_journalled() -> None:
    assert cancel_reason_code("le patient M. Dupont est sorti") == "other"
    assert cancel_reason_code(None) == "other"
    assert cancel_reason_code("duplicate") == "duplicate"
