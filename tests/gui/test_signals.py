"""Ctrl+C (SIGINT) or SIGTERM in the terminal that started Passavant ends it cleanly.

Before, the interrupt surfaced as a KeyboardInterrupt inside whatever Qt slot ran next; the
demo's windows stayed open, polling a platform the same Ctrl+C had stopped, until killed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    process.wait()
    raise AssertionError(f"{text!r} never logged:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_closes_the_window_and_ends_the_app(tmp_path: Path, signum: int) -> None:
    log = tmp_path / "app.log"
    process = _start(["--profile", str(tmp_path / "profile")], log)
    try:
        _wait_for(log, "window(s) open", process, 60)
        time.sleep(1.0)  # the window shown, the event loop running
        process.send_signal(signum)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert "KeyboardInterrupt" not in text
    assert f"signal {signal.Signals(signum).name}: closing the windows" in text


def test_ctrl_c_ends_the_demo_and_its_platform(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    process = _start(["demo", "--dir", str(tmp_path / "demo")], log)
    try:
        _wait_for(log, "window(s) open", process, 120)
        time.sleep(2.0)
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert "KeyboardInterrupt" not in text
    # the platform the demo started on 127.0.0.1 stopped with it
    port = int(re.search(r"https://127\.0\.0\.1:(\d+)", text).group(1))  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while _accepts(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _accepts(port)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
