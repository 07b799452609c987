"""Decoding a DICOM file's compressed pixels in a child process.

GDCM, the only decoder installed here for lossless JPEG, JPEG-LS and most JPEG 2000, answers
some damaged streams with a C++ exception nothing catches: the process aborts (``terminate
called after throwing an instance of 'gdcm::Exception'``). A damaged radiograph on a USB
stick must not close the doctor's window, so the pixels those decoders read are decoded in a
child process: if it dies, the file is refused as damaged and the app goes on.

The child is started with ``spawn`` (a fresh interpreter: forking a process that runs Qt's
threads is unsafe), is given the file's bytes, and sends back the decoded stack or a typed
error. Its cost is bounded like the rest of the import: the same size bounds are checked
before it starts, and it is killed after :data:`DECODE_TIMEOUT_S`.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import time
import warnings
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capture.errors import DicomError

log = logging.getLogger(__name__)

DECODE_TIMEOUT_S = 120.0
"""Seconds a child may spend decoding one file (the largest file allowed, 256 MB of
decoded lossless JPEG 2000, decodes in well under a minute here)."""
DAMAGED = "dicom_damaged"
_POLL_S = 0.05


def decode_in_child(
    raw: bytes, frames: int, shape: tuple[int, ...], plugin: str, *, timeout: float | None = None
) -> NDArray[np.generic]:
    """The frames of the DICOM file ``raw``, decoded by pydicom's ``plugin`` in a child
    process (see :func:`capture.dicom_import.decode_checked` for the result's shape).

    Raises:
        DicomError: what decoding raises (``dicom_damaged``, ``not_dicom``,
            ``dicom_unsupported``, ``dicom_too_large``), and ``dicom_damaged`` when the
            decoder killed its process or ran past the timeout.
    """
    limit = DECODE_TIMEOUT_S if timeout is None else timeout
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(
        target=_child_main,
        args=(send, raw, frames, shape, plugin),
        name="passavant-dicom-decoder",
        daemon=True,
    )
    child.start()
    send.close()  # the child holds its own copy: EOF reaches us when it dies
    try:
        answer = _wait(receive, child, limit)
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join(5.0)
    kind = answer[0]
    if kind == "ok":
        array: NDArray[np.generic] = answer[1]
        return array
    if kind == "error":
        raise DicomError(answer[1], answer[2])
    raise DicomError(DAMAGED, answer[1])


def _wait(receive: Connection, child: Any, limit: float) -> tuple[Any, ...]:
    deadline = time.monotonic() + limit
    while True:
        if receive.poll(_POLL_S):
            try:
                answer: tuple[Any, ...] = receive.recv()
            except (EOFError, OSError):  # died before (or while) answering
                break
            return answer
        if time.monotonic() > deadline:
            log.warning("a DICOM decoder ran past %.0f s: stopped", limit)
            return ("died", f"decoding took longer than {limit:.0f} s")
        if not child.is_alive() and not receive.poll(0):
            break
    child.join(1.0)
    log.warning("a DICOM decoder stopped the process decoding it (exit %s)", child.exitcode)
    return ("died", f"the decoder stopped on damaged pixels (exit status {child.exitcode})")


def _child_main(
    send: Connection, raw: bytes, frames: int, shape: tuple[int, ...], plugin: str
) -> None:  # pragma: no cover - runs in the child process (covered by its effects)
    from pydicom import dcmread

    from capture.dicom_import import decode_checked

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the parent logs what matters
            ds = dcmread(io.BytesIO(raw))
            answer: tuple[Any, ...] = ("ok", decode_checked(ds, frames, shape, plugin))
    except DicomError as exc:
        answer = ("error", exc.code, str(exc))
    except MemoryError:
        answer = ("error", "dicom_too_large", "out of memory while decoding the pixels")
    send.send(answer)
    send.close()
