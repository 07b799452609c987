"""A damaged radiograph whose decoder aborts its process is refused, and the app goes on.

GDCM answers some damaged lossless JPEG streams with a C++ exception nothing catches
(``terminate called after throwing an instance of 'gdcm::Exception'``): decoded in the
app's process, such a file closes the window. The file here is a radiograph compressed by
DCMTK (an independent encoder) with one byte of its JPEG stream changed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from capture.dicom_import import load_dicom
from capture.dicom_isolated import decode_in_child
from capture.errors import DicomError
from tests.core.test_capture_dicom import grey_dicom
from tests.support.tools import require_tool

STORED = np.random.default_rng(3).integers(0, 4096, (64, 256)).astype(np.uint16)
_ITEM = b"\xfe\xff\x00\xe0"


def lossless_radiograph(folder: Path) -> Path:
    encoder = require_tool("dcmcjpeg")
    source, packed = folder / "plain.dcm", folder / "packed.dcm"
    source.write_bytes(grey_dicom(STORED, window=(2048.0, 4096.0)))
    subprocess.run([encoder, "+e1", str(source), str(packed)], check=True, capture_output=True)
    return packed


def damaged(packed: Path) -> Path:
    """The radiograph with the first byte of its JPEG stream's APP0 marker changed."""
    raw = bytearray(packed.read_bytes())
    stream = raw.rfind(_ITEM) + 8
    assert raw[stream : stream + 3] == b"\xff\xd8\xff"  # SOI, then a marker
    raw[stream + 2] = 0x65
    out = packed.with_name("damaged.dcm")
    out.write_bytes(bytes(raw))
    return out


_IN_PROCESS = """
import sys
from pydicom import dcmread
from capture.dicom_import import decode_checked
ds = dcmread(sys.argv[1])
try:
    decode_checked(ds, 1, (64, 256), "")
except Exception as exc:
    print("raised", type(exc).__name__)
"""


def test_the_damaged_file_aborts_a_process_that_decodes_it_in_place(tmp_path: Path) -> None:
    """The hazard is real: decoded in the calling process, this file kills it."""
    bad = damaged(lossless_radiograph(tmp_path))
    run = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS, str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode < 0, (run.returncode, run.stdout, run.stderr[-500:])
    assert "gdcm::Exception" in run.stderr


def test_a_decoder_that_aborts_gives_a_typed_error_and_the_caller_goes_on(
    tmp_path: Path,
) -> None:
    packed = lossless_radiograph(tmp_path)
    with pytest.raises(DicomError) as caught:
        load_dicom(damaged(packed))
    assert caught.value.code == "dicom_damaged"
    assert "stopped" in str(caught.value)
    # and this process still decodes the intact file, bit for bit
    assert np.array_equal(load_dicom(packed).pixels, STORED)


def test_a_decoder_past_its_time_is_stopped(tmp_path: Path) -> None:
    packed = lossless_radiograph(tmp_path)
    ds = pydicom.dcmread(packed)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.70"
    with pytest.raises(DicomError) as caught:
        # no child starts a fresh interpreter in 10 ms: the deadline passes first
        decode_in_child(packed.read_bytes(), 1, (64, 256), "", timeout=0.01)
    assert caught.value.code == "dicom_damaged"
    assert "longer than" in str(caught.value)


def test_errors_raised_in_the_child_keep_their_code(tmp_path: Path) -> None:
    packed = lossless_radiograph(tmp_path)
    with pytest.raises(DicomError) as caught:  # a shape the header does not describe
        decode_in_child(packed.read_bytes(), 1, (32, 32), "")
    assert caught.value.code == "dicom_unsupported"
