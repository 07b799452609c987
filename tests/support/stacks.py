"""The stacks of this process's threads, for a test that timed out to say where each stood."""

from __future__ import annotations

import sys
import threading
import traceback


def thread_stacks(prefix: str = "passavant") -> str:
    """Each live thread whose name starts with ``prefix`` (and the main thread), with its
    stack: a pool worker stuck on a lock or a join shows where."""
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        name = names.get(ident, "?")
        if name.startswith(prefix) or name == "MainThread":
            stack = "".join(traceback.format_stack(frame, limit=12))
            parts.append(f"--- thread {name}\n{stack}")
    return "\n".join(parts)
