"""Ties the engines a test run starts to the run's life, even when it dies by ``kill -9``.

The first :func:`watch` starts a watchdog: a small Python process (this file run as a
script, standard library only) whose standard input is a pipe held by the test process.
Each watched process is sent down that pipe (its pid, the start time the kernel gives it,
the signal that stops it). When the pipe closes (the test process ended, however it
ended), the watchdog signals every watched process that still runs, waits a bounded
grace, then SIGKILLs what is left of it and of its descendants, and removes the folders it
was told to. A process stopped on purpose is :func:`forget`-ed; the recorded start time
means a pid that the kernel gave to another process since is never touched.

Only the test process holds the pipe's write end (``Popen`` closes every other descriptor
in its children), so a killed run closes it at once.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

__all__ = ["DEFAULT_GRACE_S", "forget", "remove_on_death", "start_time", "watch"]

#: How long a watched process has to stop after its signal, before SIGKILL.
DEFAULT_GRACE_S = 5.0
_POLL_S = 0.05
_lock = threading.Lock()
_watchdog: subprocess.Popen[bytes] | None = None
_owner = 0


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or ``None`` if it is gone."""
    stat = _stat(pid)
    return None if stat is None or stat[0] == "Z" else stat[2]


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent pid and start time of ``pid`` from ``/proc``, or ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the name may hold spaces and parentheses
    return fields[0], int(fields[1]), int(fields[19])


def watch(pid: int, *, stop_signal: int = signal.SIGKILL, grace: float = DEFAULT_GRACE_S) -> None:
    """Stops ``pid`` (then its descendants) with ``stop_signal`` if this process dies first."""
    started = start_time(pid)
    if started is None:
        return  # already gone: nothing to tie
    _send(f"watch {pid} {started} {int(stop_signal)} {grace:g}")


def forget(pid: int | None) -> None:
    """``pid`` was stopped on purpose: the watchdog no longer minds it."""
    if pid is not None:
        _send(f"forget {pid}")


def remove_on_death(path: Path) -> None:
    """Removes the folder ``path`` (after the watched processes stop) if this process dies."""
    text = str(path)
    if "\n" in text:
        raise ValueError("a folder name with a line break")
    _send(f"remove {text}")


def _send(line: str) -> None:
    global _watchdog, _owner
    with _lock:
        for _ in range(2):
            if _watchdog is None or _owner != os.getpid() or _watchdog.poll() is not None:
                _watchdog, _owner = _start_watchdog(), os.getpid()
            assert _watchdog.stdin is not None
            try:
                _watchdog.stdin.write(line.encode() + b"\n")
                _watchdog.stdin.flush()
                return
            except BrokenPipeError:  # the watchdog died (someone killed it): start another
                _watchdog = None
        raise RuntimeError("the watchdog does not take commands")


def _start_watchdog() -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-I", str(Path(__file__).resolve())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        cwd="/",
        start_new_session=True,  # outlives us, and a Ctrl-C to our group does not reach it
    )
    atexit.register(_close, process)
    return process


def _close(process: subprocess.Popen[bytes]) -> None:
    """At a clean exit: close the pipe, let the watchdog do its end, reap it."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(DEFAULT_GRACE_S + 10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# The watchdog's side (runs in its own process, standard library only).


def _alive(pid: int, started: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z" and stat[2] == started


def _tree(pid: int) -> dict[int, int]:
    """``pid`` and its descendants still running, each with its start time."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[0] != "Z":
                children.setdefault(stat[1], []).append((int(entry), stat[2]))
    found: dict[int, int] = {}
    stat = _stat(pid)
    pending = [(pid, stat[2])] if stat is not None else []
    while pending:
        current, started = pending.pop()
        found[current] = started
        pending += [child for child in children.get(current, []) if child[0] not in found]
    return found


def _signal(pid: int, started: int, number: int) -> None:
    if _alive(pid, started):
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to signal
            os.kill(pid, number)


def _end(watched: dict[int, tuple[int, int, float]], removals: list[str]) -> None:
    """Stops every watched process still running; then removes the folders."""
    trees: dict[int, dict[int, int]] = {}
    for pid, (started, number, _grace) in watched.items():
        if _alive(pid, started):
            trees[pid] = _tree(pid)
            _signal(pid, started, number)
    began = time.monotonic()
    while trees:  # each tree: SIGKILL what is left once its root is gone or its grace is over
        for pid in list(trees):
            started, _number, grace = watched[pid]
            alive = _alive(pid, started)
            if alive and time.monotonic() - began < grace:
                continue
            tree = trees.pop(pid)
            tree.update(_tree(pid) if alive else {})
            for member, member_started in tree.items():
                _signal(member, member_started, signal.SIGKILL)
        if trees:
            time.sleep(_POLL_S)
    for folder in removals:
        shutil.rmtree(folder, ignore_errors=True)


def _serve(commands: IO[bytes]) -> None:
    """Reads commands until end of file, then stops what is still watched."""
    for ignored in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(ignored, signal.SIG_IGN)
    watched: dict[int, tuple[int, int, float]] = {}
    removals: list[str] = []
    for raw in commands:
        verb, _, rest = raw.decode(errors="replace").rstrip("\n").partition(" ")
        if verb == "watch":
            pid, started, number, grace = rest.split()
            watched[int(pid)] = (int(started), int(number), min(float(grace), 60.0))
            if len(watched) > 64:  # restarts pile up: drop the ones that ended
                watched = {p: w for p, w in watched.items() if _alive(p, w[0])}
        elif verb == "forget":
            watched.pop(int(rest), None)
        elif verb == "remove":
            removals.append(rest)
    _end(watched, removals)


if __name__ == "__main__":
    _serve(sys.stdin.buffer)
