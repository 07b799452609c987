"""Work that may kill its process, run in a child: one mechanism for the DICOM decoder
(:mod:`capture.dicom_isolated`) and the PDF reader (:mod:`capture.pdf_isolated`).

The child is started with ``spawn`` (a fresh interpreter: forking a process that runs Qt's
threads is unsafe). ``target(send, *args)`` does the work and sends one answer tuple on
``send``; :func:`run_in_child` returns that tuple, or ``(DIED, "timeout", seconds)`` when
the child ran past ``timeout`` (it is then killed), or ``(DIED, "exit", exit_status)`` when it
died before answering. What an answer means, and how to word it, is the caller's.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

DIED = "died"


def run_in_child(
    target: Callable[..., None],
    args: tuple[Any, ...],
    *,
    name: str,
    timeout: float,
    poll: float = 0.05,
) -> tuple[Any, ...]:
    """Run ``target(send, *args)`` in a child process; its answer, or a ``DIED`` tuple."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(send, *args), name=name, daemon=True)
    child.start()
    send.close()  # the child holds its own end: EOF reaches us when it dies
    try:
        return _wait(receive, child, timeout, poll, name)
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join(5.0)


def _wait(receive: Connection, child: Any, limit: float, poll: float, name: str) -> tuple[Any, ...]:
    deadline = time.monotonic() + limit
    while True:
        if receive.poll(poll):
            try:
                answer: tuple[Any, ...] = receive.recv()
            except (EOFError, OSError):  # died before (or while) answering
                break
            return answer
        if time.monotonic() > deadline:
            log.warning("%s ran past %.0f s: stopped", name, limit)
            return (DIED, "timeout", limit)
        if not child.is_alive() and not receive.poll(0):
            break
    child.join(1.0)
    log.warning("%s stopped its process (exit %s)", name, child.exitcode)
    return (DIED, "exit", child.exitcode)
