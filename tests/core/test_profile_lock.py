"""One process at a time opens a profile's queue with its crash repair (``cases.profilelock``).

Beside a running app, that repair would queue again what the app is sending and delete what it
has just spooled. So a second app on the profile is refused, ``passavant outbox run`` is
refused while the app runs (and the app while the command runs), and a process killed with
``kill -9`` leaves no lock behind. Real profiles, the real platform, a real child process.
"""

# ruff: noqa: F811 - the shared fixtures are imported, and named again as parameters

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.session import Session
from cases.profile import Profile
from cases.profilelock import (
    CALL_NAME,
    LOCK_NAME,
    ProfileBusy,
    answer,
    answered,
    call,
    call_file,
    hold,
)
from tests.core.test_cli_outbox import (  # noqa: F401 - the shared fixtures
    Setup,
    one_line,
    platform,
    setup,
)
from tests.support.platform import REPO_ROOT


@pytest.fixture
def holder_process(setup: Setup) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the unit's profile as ``outbox run`` would, until killed."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from cases.profilelock import hold\n"
        "held = hold(Path(sys.argv[1]), 'outbox run')\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(setup.unit)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "held\n"
        yield child
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()  # type: ignore[union-attr]


def test_a_second_app_on_the_profile_is_refused(setup: Setup) -> None:
    first = Session(Profile(setup.unit), poll_interval=0.2)
    try:
        with pytest.raises(ProfileBusy) as refused:
            Session(Profile(setup.unit), poll_interval=0.2)
        assert refused.value.holder == "app"
        assert refused.value.code == "profile_busy"
    finally:
        first.stop()
    again = Session(Profile(setup.unit), poll_interval=0.2)  # closed: it opens again
    again.stop()
    # what the lock file says: who holds it, nothing else, for its owner only
    lock = setup.unit / LOCK_NAME
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert lock.read_text("utf-8") == f'{{"holder": "app", "pid": {os.getpid()}}}'


def test_outbox_run_is_refused_while_the_app_runs_and_leaves_its_spool_alone(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _data = setup.bundle(tmp_path, "case.p7m")
    assert setup.cli("outbox", "enqueue", str(path), "--to", setup.recipient.fingerprint,
                     "--bundle-id", "b-1") == 0  # fmt: skip
    session = Session(Profile(setup.unit), poll_interval=0.2)
    # the app has just spooled a bundle whose row it writes next: a repair would delete it
    spooled = setup.unit / "outbox" / "b-2.cms"
    spooled.write_bytes(b"spooled by the app, its row comes next")
    try:
        capsys.readouterr()
        assert setup.cli("outbox", "run", "--until-idle", "--timeout", "30") == 1
        assert one_line(capsys.readouterr().err) == (
            "Passavant est ouvert sur ce profil : fermez-le avant « passavant outbox run », "
            "qui ne peut pas travailler en même temps que lui."
        )
        assert spooled.read_bytes() == b"spooled by the app, its row comes next"
        assert setup.jobs(capsys)["b-1"]["state"] == "pending"  # nothing was sent
    finally:
        session.stop()
    spooled.unlink()
    assert setup.cli("outbox", "run", "--until-idle", "--timeout", "60") == 0  # app closed
    assert setup.jobs(capsys)["b-1"]["state"] == "delivered"


def test_the_app_is_refused_while_a_command_holds_the_profile(
    setup: Setup, holder_process: subprocess.Popen[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ProfileBusy) as refused:
        Session(Profile(setup.unit), poll_interval=0.2)
    assert refused.value.holder == "outbox run"
    capsys.readouterr()
    assert setup.cli("outbox", "run", "--until-idle", "--timeout", "5") == 1
    assert one_line(capsys.readouterr().err) == (
        "« passavant outbox run » travaille déjà sur ce profil : attendez qu’elle finisse."
    )


def test_a_holder_killed_with_sigkill_leaves_no_lock(
    setup: Setup, holder_process: subprocess.Popen[str]
) -> None:
    with pytest.raises(ProfileBusy):
        hold(setup.unit, "index rebuild")
    os.kill(holder_process.pid, signal.SIGKILL)
    assert holder_process.wait(timeout=10) == -signal.SIGKILL
    with hold(setup.unit, "index rebuild") as held:  # the kernel released it with the process
        assert held.held
    assert not held.held
    session = Session(Profile(setup.unit), poll_interval=0.2)
    session.stop()


def test_a_call_is_answered_once_and_names_its_caller(tmp_path: Path) -> None:
    """The call file a second start writes and the first answers (app.calls watches it)."""
    path = call_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the user's own, like the lock
    assert not answer(tmp_path)  # an empty file is no call
    token = call(tmp_path)
    assert not answered(tmp_path, token)
    assert answer(tmp_path)
    assert answered(tmp_path, token)
    assert not answer(tmp_path)  # its own answer is no new call
    assert not answered(tmp_path, call(tmp_path))  # a later call waits for its own answer
    assert call(tmp_path) != token
    assert path.read_bytes().count(b"\n") == 0  # a token, nothing else
    assert set(json.loads(path.read_bytes())) == {"call"}


@pytest.mark.parametrize(
    "written",
    [b"", b"{", b"[1]", b'{"call": 3}', b'{"answered": "x"}', b"\xff" * 10, b" " * 10_000_000],
)
def test_what_is_not_a_call_is_not_answered(tmp_path: Path, written: bytes) -> None:
    """A file emptied, half written, or filled by someone else: no answer, no error (and a
    huge one is read no further than its head)."""
    (tmp_path / CALL_NAME).write_bytes(written)
    assert not answer(tmp_path)
    assert not answered(tmp_path, "x") or written == b'{"answered": "x"}'
