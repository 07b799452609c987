"""A request sealed by the workstation streams into its archive (crypto.stream), reports
progress, is copied into the outbox's spool in blocks, and travels as before: the unit's own
list and the specialist's workstation open it (OpenSSL does too: test_bundle_stream.py)."""

from __future__ import annotations

from pathlib import Path

from app.session import Session
from cases.store import SealedPayload
from tests.core.test_workstation import a_case, unlock, wait_for
from tests.support.demo import DemoEnv


def test_a_request_is_sealed_as_a_stream_with_progress(
    sessions: tuple[Session, Session], demo_env: DemoEnv
) -> None:
    unit, hospital = sessions
    doctor = unlock(demo_env.layout.unit, "dr-bernard")
    expert = unlock(demo_env.layout.hospital, "pr-dubois")
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    progress: list[tuple[int, int | None]] = []
    bundle_id = unit.workstation.send_case(
        doctor, a_case(), to, progress=lambda done, total: progress.append((done, total))
    )
    total = progress[-1][1]
    assert total is not None
    assert progress[-1] == (total, total)  # the whole payload, said at the end
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    archived = Path(demo_env.layout.unit) / "archive" / f"{bundle_id}.cms"
    raw = archived.read_bytes()
    assert raw[:2] == b"\x30\x80"  # streamed: indefinite lengths (docs/bundle-format.md §3)
    assert not list(archived.parent.glob(".*"))  # no temporary file left
    job = unit.outbox.get(bundle_id)
    assert job is not None
    assert job.size == len(raw)
    assert unit.outbox.spool_path(bundle_id).read_bytes() == raw
    mine, unreadable = unit.workstation.threads(doctor)  # indexed from the plaintext in hand
    assert unreadable == []
    assert [t.case.bundle_id for t in mine] == [bundle_id]
    unit.sender.wake()
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    hospital.workstation.refresh_directory()
    threads, unreadable = hospital.workstation.threads(expert)
    assert unreadable == []
    assert [t.case.bundle_id for t in threads] == [bundle_id]
    assert threads[0].case.bundle.case is not None
    photo = threads[0].case.bundle.case.photos[0]
    assert photo.data[:2] == b"\xff\xd8"  # read from the sealed bundle when looked at
    payload = photo.payload
    assert isinstance(payload, SealedPayload)
    with payload.open() as streamed:  # as a clip is read: checked, then streamed
        assert streamed.read() == photo.data
