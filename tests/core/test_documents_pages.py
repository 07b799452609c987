"""A paper result photographed page by page in the capture station's document mode becomes
one document (capture.documents.pages_document): one page a JPEG, several a PDF of those
JPEGs; no metadata, nothing active, bounded."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pikepdf
import pytest

from capture import pdfsafe
from capture.documents import (
    MAX_PAGES,
    PAGE_LONG_SIDE_PT,
    DocumentRefused,
    pages_document,
    prepare_document,
)
from capture.loading import LoadedImage, load_image
from tests.support import scenes
from tests.support.tools import require_tool

# what exiftool may report of a page: the file's structure, JFIF and the sRGB profile
JPEG_GROUPS = {"ExifTool", "System", "File", "JFIF", "ICC-header", "ICC_Profile", "ICC-chrm"}
JPEG_GROUPS |= {"Composite"}
PDF_GROUPS = {"ExifTool", "System", "File", "PDF"}
PDF_TAGS = {"PDF:PDFVersion", "PDF:Linearized", "PDF:PageCount"}


def paper(width: int, height: int, lines: int) -> np.ndarray:
    """A BGR sheet of white paper with ``lines`` dark text-like bars."""
    sheet = np.full((height, width, 3), 235, np.uint8)
    for n in range(lines):
        top = 60 + n * 50
        sheet[top : top + 18, 80 : width - 80] = 30
    return sheet


def exiftool(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [require_tool("exiftool"), "-j", "-a", "-G1", "-u", str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    found: dict[str, object] = json.loads(done.stdout)[0]
    return found


def groups(found: dict[str, object]) -> set[str]:
    return {key.split(":")[0] for key in found if ":" in key}


def test_one_page_is_a_jpeg_with_no_metadata_left(tmp_path: Path) -> None:
    source = tmp_path / "DUPONT_resultat.jpg"
    source.write_bytes(scenes.jpeg_with_metadata(paper(1200, 1600, 12)))
    before = exiftool(source)
    assert before["ExifIFD:SerialNumber"] == "SERIAL-123456"  # the checker sees them…
    assert "GPS:GPSLatitude" in before
    document = pages_document([load_image(source)])
    assert document.suffix == "jpg"
    assert document.pages == 1
    assert document.removed  # and it says what it removed
    out = tmp_path / "page.jpg"
    out.write_bytes(document.data)
    assert groups(exiftool(out)) <= JPEG_GROUPS  # …and none is left
    # exactly what attaching the same photo as a file gives
    assert prepare_document(source.read_bytes()).data == document.data


def test_pages_make_one_pdf_in_order_with_nothing_but_the_pages(tmp_path: Path) -> None:
    sources = []
    for n, (w, h) in enumerate([(1600, 1200), (1200, 1600), (1400, 1400)]):
        path = tmp_path / f"page{n}.jpg"
        path.write_bytes(scenes.jpeg_with_metadata(paper(w, h, 5 + n)))
        sources.append(load_image(path))
    document = pages_document(sources)
    assert (document.suffix, document.pages) == ("pdf", 3)
    out = tmp_path / "document.pdf"
    out.write_bytes(document.data)
    found = exiftool(out)
    assert groups(found) <= PDF_GROUPS
    assert {k for k in found if k.startswith("PDF:")} <= PDF_TAGS  # no author, no producer
    assert found["PDF:PageCount"] == 3
    # the reader's own check walks it and has nothing to remove
    safe = pdfsafe.make_safe(document.data)
    assert safe.report.removed == ()
    assert safe.report.pages == 3
    with pikepdf.open(out) as pdf:
        assert "/Info" not in pdf.trailer
        assert "/Metadata" not in pdf.Root
        boxes = [[float(v) for v in page.MediaBox] for page in pdf.pages]
        # in order: landscape, portrait, square; the long side an A4's
        assert boxes[0][2] == PAGE_LONG_SIDE_PT
        assert boxes[0][3] < PAGE_LONG_SIDE_PT
        assert boxes[1][3] == PAGE_LONG_SIDE_PT
        assert boxes[1][2] < PAGE_LONG_SIDE_PT
        assert boxes[2][2] == boxes[2][3] == PAGE_LONG_SIDE_PT
        for number, page in enumerate(pdf.pages):
            images = list(page.Resources.XObject.values())
            assert len(images) == 1
            assert images[0].Filter == pikepdf.Name.DCTDecode  # the JPEG, not recompressed
            jpeg = tmp_path / f"embedded{number}.jpg"
            jpeg.write_bytes(images[0].read_raw_bytes())
            assert groups(exiftool(jpeg)) <= JPEG_GROUPS  # each page without metadata
    # the same pages give the same bytes (no random id, no date)
    assert pages_document(sources).data == document.data


def test_no_page_too_many_pages_or_too_many_bytes_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(DocumentRefused) as empty:
        pages_document([])
    assert empty.value.code == "empty_file"
    small = LoadedImage.from_frame(paper(200, 280, 2))
    with pytest.raises(DocumentRefused) as many:
        pages_document([small] * (MAX_PAGES + 1))
    assert many.value.code == "too_many_pages"
    # past what a reader accepts, the work stops at the first page over the bound
    noisy = LoadedImage.from_frame(
        np.random.default_rng(1).integers(0, 255, (900, 1200, 3), np.uint8)
    )
    one = len(pages_document([noisy]).data)
    monkeypatch.setattr(pdfsafe, "MAX_BYTES", int(one * 1.5))
    with pytest.raises(DocumentRefused) as large:
        pages_document([noisy] * 3)
    assert large.value.code == pdfsafe.TOO_LARGE
