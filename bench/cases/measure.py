"""Measuring the case store benchmark in child processes, and presenting the figures.

Each measured path runs in a fresh ``python -m bench.cases --child ...`` process
(:func:`run_child`), so that its peak memory is its own (``VmHWM``, :func:`peak_kib`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KEYRING = "tests.support.memkeyring.MemoryKeyring"
"""The tests' in-memory keyring: the benchmark never touches the machine's keyring."""
CHILD_TIMEOUT_S = 600


def peak_kib() -> int:
    """This process's peak RSS in KiB (``VmHWM``: its own, not its parent's)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])


def reset_peak() -> bool:
    """Starts ``VmHWM`` again from the current RSS (Linux ``clear_refs``); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000


def run_child(*args: str, timeout: float = CHILD_TIMEOUT_S) -> dict[str, Any]:
    """Runs ``python -m bench.cases --child ARGS`` and returns the JSON of its last line.

    The child is killed (by its process id, which ``subprocess.run`` does) on timeout.
    """
    env = dict(os.environ, PYTHON_KEYRING_BACKEND=KEYRING, QT_QPA_PLATFORM="offscreen")
    command = [sys.executable, "-m", "bench.cases", "--child", *args]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.cases child {args[0]} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def fmt_times(ours: float, peer: float) -> str:
    """``ours / peer`` as a ratio: one decimal under 10, none above."""
    ratio = ours / peer
    return f"{ratio:.1f}" if ratio < 10 else f"{ratio:.0f}"


def goal_text(met: bool) -> str:
    return "met" if met else "NOT met"
