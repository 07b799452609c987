"""A profile's files are its owner's only: created 0600 (folders 0700) whatever the umask, and
an older profile's are tightened at the next unlock (issue 15, "keys at rest").

The workflow runs under umask 022 (files would be 0644 by default) with the tightening at
unlock switched off, so that what is checked is how each file is created.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import resources
from app import cli, demo
from app.cli import main
from app.session import Session
from cases.drafts import DraftStore
from cases.model import Case, Opinion
from cases.profile import IdentityInfo, Profile, UnlockedIdentity
from cases.seen import Seen, SeenStore
from tests.support.photos import sample_photo
from tests.support.pki import world

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def no_tightening(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Profile, "restrict_permissions", lambda self: 0)


@pytest.fixture
def demo_running(
    umask_022: None, no_tightening: None, tmp_path: Path
) -> Iterator[tuple[demo.DemoLayout, Session, Session]]:
    """A demo set up under umask 022, its platform running, both workstations open."""
    layout = demo.set_up(tmp_path / "demo")
    process, _url = demo.start_platform(layout)
    unit = Session(Profile(layout.unit), poll_interval=0.2)
    hospital = Session(Profile(layout.hospital), poll_interval=0.2)
    try:
        for session in (unit, hospital):
            session.start()
        yield layout, unit, hospital
    finally:
        for session in (unit, hospital):
            session.stop()
        demo.stop_platform(process)


def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def open_to_others(root: Path) -> list[str]:
    """Every file or folder under ``root`` (itself included) that group or others may use."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {stat.filemode(mode)}")
    return found


def a_case() -> Case:
    photo = sample_photo(resources.sample_photos()[0], "photo-1.jpg")
    return Case(
        patient_ref="P-1",
        consent=True,
        specialty="dermatology",
        summary="Plaque érythémateuse.",
        treatments="",
        question="Psoriasis ?",
        photos=(photo,),
    )


def test_a_whole_workflow_leaves_nothing_open_to_others(
    demo_running: tuple[demo.DemoLayout, Session, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    layout, unit, hospital = demo_running
    doctor = unit.unlock("dr-bernard", demo.DEMO_PASSPHRASE.encode())
    expert = hospital.unlock("pr-dubois", demo.DEMO_PASSPHRASE.encode())
    to = next(e for e in unit.workstation.refresh_directory() if e.id == "pr-dubois")
    bundle_id = unit.workstation.send_case(doctor, a_case(), to)
    unit.sender.wake()
    wait_for(lambda: hospital.inbox.items("pr-dubois"))
    hospital.workstation.refresh_directory()
    threads, unreadable = hospital.workstation.threads(expert)  # opens, indexes, receipts
    assert unreadable == []
    hospital.workstation.send_opinion(
        expert, threads[0], Opinion(threads[0].case_id, "Psoriasis.", outcome="on_site")
    )
    hospital.sender.wake()
    wait_for(lambda: len(unit.inbox.items("dr-bernard")) == 2)  # the receipt and the opinion
    threads, unreadable = unit.workstation.threads(doctor)
    assert unreadable == []
    assert threads[0].opinions
    unit.sender.wake()
    wait_for(lambda: unit.outbox.get(bundle_id).state == "acknowledged")  # type: ignore[union-attr]
    for session, me in ((unit, doctor), (hospital, expert)):
        SeenStore(session.profile.path("seen"), me.info.id).save(Seen(frozenset({bundle_id})))
    assert main(["--profile", str(layout.unit), "outbox", "status"]) == 0
    assert main(["--profile", str(layout.hospital), "identity", "list"]) == 0
    capsys.readouterr()

    for root in (layout.unit, layout.hospital):
        names = {p.name for p in root.rglob("*")}
        assert {"passavant.sqlite-wal", "audit.jsonl", "profile.json", "key.pem"} <= names
        assert any(p.suffix == ".cms" for p in (root / "inbox").iterdir())
        assert any((root / "index").iterdir())
        assert any((root / "seen").iterdir())
        assert open_to_others(root) == []


def test_drafts_leave_nothing_open_to_others(
    umask_022: None, no_tightening: None, tmp_path: Path
) -> None:
    profile_root = tmp_path / "profile"
    profile_root.mkdir(mode=0o700)
    who = world().doctor
    me = UnlockedIdentity(
        IdentityInfo("dr-martin", "Dr Claire Martin", "doctor", "USMP"), who.cert, who.key
    )
    drafts = DraftStore(Profile(profile_root).path("drafts"), me, world().roots)
    drafts.save(a_case())
    assert open_to_others(profile_root) == []


def test_the_log_file_is_not_open_to_others(umask_022: None, tmp_path: Path) -> None:
    root = tmp_path / "profile"
    Profile(root).path("logs")
    before = list(logging.getLogger().handlers)
    cli._log_to_file(root)
    try:
        logging.getLogger("passavant.test").warning("a line")
        assert open_to_others(root) == []
    finally:
        for handler in set(logging.getLogger().handlers) - set(before):
            logging.getLogger().removeHandler(handler)
            handler.close()


def test_an_older_profile_is_tightened_at_the_next_unlock(umask_022: None, tmp_path: Path) -> None:
    """Files a version before this one left 0644 (and folders 0755) become the owner's."""
    layout = demo.set_up(tmp_path / "demo")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not the profile's")
    os.chmod(outside, 0o644)
    unit = layout.unit
    (unit / "logs").mkdir(mode=0o755)
    (unit / "logs" / "passavant.log").write_text("a line\n")
    os.chmod(unit / "logs" / "passavant.log", 0o644)
    os.chmod(unit / "profile.json", 0o644)
    os.chmod(unit / "identities", 0o755)
    (unit / "link").symlink_to(outside)
    assert len(open_to_others(unit)) == 4

    Profile(unit).unlock("dr-bernard", demo.DEMO_PASSPHRASE.encode())
    assert open_to_others(unit) == []
    assert outside.stat().st_mode & 0o777 == 0o644  # a link's target is not the profile's
