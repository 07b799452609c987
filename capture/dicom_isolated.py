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
import warnings
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from numpy.typing import NDArray

from capture.childwork import run_in_child
from capture.errors import DicomError

DECODE_TIMEOUT_S = 120.0
"""Seconds a child may spend decoding one file (the largest file allowed, 256 MB of
decoded lossless JPEG 2000, decodes in well under a minute here)."""
DAMAGED = "dicom_damaged"


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
    answer = run_in_child(
        _child_main, (raw, frames, shape, plugin), name="passavant-dicom-decoder", timeout=limit
    )
    if answer[0] == "ok":
        array: NDArray[np.generic] = answer[1]
        return array
    if answer[0] == "error":
        raise DicomError(answer[1], answer[2])
    if answer[1] == "timeout":
        raise DicomError(DAMAGED, f"decoding took longer than {limit:.0f} s")
    raise DicomError(DAMAGED, f"the decoder stopped on damaged pixels (exit status {answer[2]})")


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
