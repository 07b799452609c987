"""A PDF made safe, or checked, in a child process with a memory and a time bound.

:mod:`capture.pdfsafe` bounds what it can see before qpdf works (bytes, objects, pages,
nesting, what Flate streams inflate to), but qpdf decodes some structures itself while it
reads them (object streams, cross-reference streams, a damaged file it reconstructs), and a
hostile file can make that cost far more than its size. So the work runs in a child process
started with ``spawn`` (a fresh interpreter: forking a process that runs Qt's threads is
unsafe), which limits its own address space to :data:`MEMORY_BYTES` before it reads a byte,
and which is killed after :data:`TIMEOUT_S`. A child that runs out of either, or dies, is a
refusal (``pdf_too_large``); the app goes on. (The same mechanism as
:mod:`capture.dicom_isolated`: :mod:`capture.childwork`.)
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any

from capture.childwork import run_in_child
from capture.pdfsafe import MAX_BYTES, TOO_LARGE, PdfRefused, SafePdf

MEMORY_BYTES = 2 * 1024 * 1024 * 1024
"""Address space of the child: the interpreter and qpdf, a 40 MiB file read several times."""
TIMEOUT_S = 60.0
"""Seconds the child may work (a 200-page scanned result takes a few here)."""
_POLL_S = 0.02


def make_safe(data: bytes, *, timeout: float = TIMEOUT_S, memory: int = MEMORY_BYTES) -> SafePdf:
    """:func:`capture.pdfsafe.make_safe` in a bounded child.

    Raises:
        PdfRefused: what ``make_safe`` raises, and ``pdf_too_large`` when the child ran out
            of memory or time, or died.
    """
    result: SafePdf = _run("make_safe", data, timeout, memory)
    return result


def findings(data: bytes, *, timeout: float = TIMEOUT_S, memory: int = MEMORY_BYTES) -> set[str]:
    """:func:`capture.pdfsafe.findings` in a bounded child (same errors as :func:`make_safe`)."""
    result: set[str] = _run("findings", data, timeout, memory)
    return result


def _run(action: str, data: bytes, timeout: float, memory: int) -> Any:
    if len(data) > MAX_BYTES:  # refused before a copy goes to a child
        raise PdfRefused(TOO_LARGE, f"{len(data)} bytes, more than {MAX_BYTES}")
    answer = run_in_child(
        _child_main, (action, data, memory), name="passavant-pdf", timeout=timeout, poll=_POLL_S
    )
    if answer[0] == "ok":
        return answer[1]
    if answer[0] == "refused":
        raise PdfRefused(answer[1], answer[2])
    if answer[1] == "timeout":
        raise PdfRefused(TOO_LARGE, f"reading took longer than {timeout:.0f} s")
    raise PdfRefused(TOO_LARGE, f"the reader stopped (exit status {answer[2]})")


def _child_main(
    send: Connection, action: str, data: bytes, memory: int
) -> None:  # pragma: no cover - runs in the child process (covered by its effects)
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    answer: tuple[Any, ...]
    try:
        from capture import pdfsafe

        if action == "make_safe":
            answer = ("ok", pdfsafe.make_safe(data))
        else:
            answer = ("ok", pdfsafe.findings(data))
    except PdfRefused as exc:
        answer = ("refused", exc.code, str(exc))
    except MemoryError:
        answer = ("refused", TOO_LARGE, "out of memory while reading the PDF")
    send.send(answer)
    send.close()
