"""A test run killed by ``kill -9`` leaves no engine behind (tests/support/lifeline.py).

Each test starts a child Python process that starts processes the way the test suite does,
then SIGKILLs that child (as a CI timeout or an impatient developer would) and checks, in a
bounded loop, that every process it had started is gone, and that nothing else was touched.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.distributed.engines import find_engine
from tests.support import lifeline
from tests.support.tools import missing

ROOT = Path(__file__).resolve().parents[2]
#: Engines started by a killed run must be gone within this (the postmaster's grace is 5 s).
GONE_WITHIN_S = 30.0

WATCHED = """
import json, subprocess, sys, tempfile, time
from pathlib import Path
from tests.support import lifeline

sleeper = ["sleep", "300"]
tree = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"])
stubborn = subprocess.Popen(
    [sys.executable, "-c", "import signal, time\\n"
     "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\nprint(flush=True)\\ntime.sleep(300)"],
    stdout=subprocess.PIPE,
)
stubborn.stdout.readline()  # its SIGTERM handler is in place
spared = subprocess.Popen(sleeper)
impostor = subprocess.Popen(sleeper)
lifeline.watch(tree.pid)
lifeline.watch(stubborn.pid, stop_signal=15, grace=1)
lifeline.watch(spared.pid)
lifeline.forget(spared.pid)  # stopped on purpose, as far as the watchdog knows
# A pid the kernel gave to another process since it was watched: another start time.
lifeline._send(f"watch {impostor.pid} {lifeline.start_time(impostor.pid) + 1} 9 0")
folder = Path(tempfile.mkdtemp(prefix="passavant-lifeline-"))
(folder / "left.txt").write_text("x")
lifeline.remove_on_death(folder)
deadline = time.monotonic() + 20
while len(lifeline._tree(tree.pid)) < 3 and time.monotonic() < deadline:
    time.sleep(0.02)
print(json.dumps({
    "killed": lifeline._tree(tree.pid) | lifeline._tree(stubborn.pid),
    "kept": {p: lifeline.start_time(p) for p in (spared.pid, impostor.pid)},
    "watchdog": lifeline._watchdog.pid,
    "folder": str(folder),
}), flush=True)
time.sleep(300)
"""

ENGINES = """
import json, os, sys, tempfile, time
from pathlib import Path
from tests.distributed.engines import Haproxy, Postgres, Replica, Seaweed, find_engine
from tests.support import lifeline

root = Path(sys.argv[1])
pg_root = Path(tempfile.mkdtemp(prefix="passavant-pg-"))
lifeline.remove_on_death(pg_root)
postgres = Postgres(pg_root / "cluster")
postgres.init()
seaweed = Seaweed(root / "seaweed", find_engine("weed"))
seaweed.start()
replica = Replica("r1", postgres.url, f"s3://bundles?endpoint={seaweed.endpoint}", root / "r")
replica.start()
haproxy = Haproxy(root / "haproxy", [replica.port])
haproxy.start()
pids = {}
for pid in (postgres._postmaster(), seaweed.process.pid, replica.process.pid,
            haproxy.process.pid):
    pids |= lifeline._tree(pid)  # the postmaster's children too
print(json.dumps({"killed": pids, "watchdog": lifeline._watchdog.pid, "folder": str(pg_root),
                  "postmaster": postgres._postmaster(), "kept": {}}), flush=True)
time.sleep(600)
"""


def _start(script: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )


def _report(child: subprocess.Popen[bytes], timeout: float) -> dict[str, object]:
    """The child's one JSON line, read within ``timeout`` seconds."""
    assert child.stdout is not None
    fd, data = child.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        assert left > 0, "the child did not report its processes in time"
        if select.select([fd], [], [], min(left, 1.0))[0]:
            chunk = os.read(fd, 65536)
            assert chunk, f"the child exited ({child.wait(5)}) before reporting"
            data += chunk
    report: dict[str, object] = json.loads(data.split(b"\n", 1)[0])
    return report


def _pids(report: dict[str, object], key: str) -> dict[int, int]:
    value = report[key]
    assert isinstance(value, dict)
    return {int(pid): int(started) for pid, started in value.items()}


def _running(pids: dict[int, int]) -> set[int]:
    return {pid for pid, started in pids.items() if lifeline.start_time(pid) == started}


def _kill_and_watch(child: subprocess.Popen[bytes], report: dict[str, object]) -> float:
    """SIGKILLs the child; returns how long its processes took to go (asserts they did)."""
    killed = _pids(report, "killed")
    assert killed
    assert _running(killed) == set(killed), "every process runs before the kill"
    watchdog = int(str(report["watchdog"]))
    watchdog_started = lifeline.start_time(watchdog)
    assert watchdog_started is not None
    began = time.monotonic()
    child.kill()
    child.wait(10)
    while _running(killed) and time.monotonic() - began < GONE_WITHIN_S:
        time.sleep(0.05)
    took = time.monotonic() - began
    assert not _running(killed), f"still running {GONE_WITHIN_S:.0f} s after the kill"
    while lifeline.start_time(watchdog) == watchdog_started and time.monotonic() - began < 20:
        time.sleep(0.05)
    assert lifeline.start_time(watchdog) != watchdog_started, "the watchdog stays behind"
    assert not Path(str(report["folder"])).exists(), "the folder was not removed"
    return took


def _cleanup(child: subprocess.Popen[bytes], report: dict[str, object] | None) -> None:
    """Whatever a failed test left running, stopped by its pid."""
    if child.poll() is None:
        child.kill()
    child.wait(10)
    if child.stdout is not None:
        child.stdout.close()
    for key in ("killed", "kept"):
        for pid in _running(_pids(report, key)) if report else ():
            os.kill(pid, signal.SIGKILL)


def test_a_killed_run_stops_what_it_watched_and_nothing_else() -> None:
    child, report = _start(WATCHED), None
    try:
        report = _report(child, 60)
        kept = _pids(report, "kept")
        took = _kill_and_watch(child, report)
        # The stubborn one ignores SIGTERM: it went only with the SIGKILL after its own grace
        # (1 s), not the others' (their roots went at once: no waiting on the default grace).
        assert 0.9 <= took < lifeline.DEFAULT_GRACE_S
        # Forgotten, or a pid whose start time is not the one watched: left alone.
        assert _running(kept) == set(kept)
    finally:
        _cleanup(child, report)


def test_a_run_that_ends_cleanly_stops_what_it_left_running() -> None:
    script = (
        "import subprocess, sys\nfrom tests.support import lifeline\n"
        "left = subprocess.Popen(['sleep', '300'])\nlifeline.watch(left.pid)\n"
        "print(left.pid, lifeline.start_time(left.pid), flush=True)\n"
    )
    child = _start(script)
    out, _ = child.communicate(timeout=30)
    pid, started = (int(word) for word in out.split())
    try:
        assert child.returncode == 0
        assert lifeline.start_time(pid) != started, "the run exited; its sleeper should not run"
    finally:
        if lifeline.start_time(pid) == started:
            os.kill(pid, signal.SIGKILL)


def test_engines_stop_when_the_test_run_is_killed(tmp_path: Path) -> None:
    for engine in ("initdb", "weed", "haproxy"):
        if find_engine(engine) is None:
            missing(f"the engine `{engine}` is not installed", "CI installs it: .ci/run")
    child, report = _start(ENGINES, str(tmp_path)), None
    try:
        report = _report(child, 240)
        postmaster = int(str(report["postmaster"]))
        assert postmaster in _pids(report, "killed")
        assert len(_pids(report, "killed")) >= 7  # the postmaster's children, and 3 more
        _kill_and_watch(child, report)
    finally:
        _cleanup(child, report)
