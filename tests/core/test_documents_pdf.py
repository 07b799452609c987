"""PDFs made safe (capture.pdfsafe): real PDFs made here, hostile ones among them, each
result checked with independent tools (qpdf, poppler's pdfinfo, pdfdetach, pdftotext)."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pikepdf
import pytest

from capture import pdfsafe
from tests.support import documents as samples
from tests.support.tools import require_tool

EXPECTED = {
    "javascript": "javascript",
    "open_action": "open_action",
    "launch": "launch",
    "embedded_file": "embedded_files",
    "form": "forms",
    "uri_link": "external_links",
    "xmp": "xmp",
    "info": "info",
}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([require_tool(command[0]), *command[1:]], capture_output=True, timeout=60)
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("latin-1"),  # PDFs are bytes: latin-1 keeps every one
        done.stderr.decode("latin-1"),
    )


def check_independently(data: bytes, tmp_path: Path) -> dict[str, str]:
    """qpdf finds no error; pdfinfo reports no JavaScript, form, metadata stream nor any
    document property; pdfdetach finds no embedded file; the canary is nowhere in the
    uncompressed file. Returns pdfinfo's fields."""
    path = tmp_path / "safe.pdf"
    path.write_bytes(data)
    check = run("qpdf", "--check", str(path))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No syntax or stream encoding errors" in check.stdout
    info_run = run("pdfinfo", str(path))
    assert info_run.returncode == 0, info_run.stderr
    info = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition(":") for line in info_run.stdout.splitlines())
    )
    assert info["JavaScript"] == "no"
    assert info["Form"] == "none"
    assert info["Metadata Stream"] == "no"
    assert info["Encrypted"] == "no"
    for key in ("Title", "Author", "Subject", "Keywords", "Creator", "Producer", "CreationDate"):
        assert key not in info, f"{key} left: {info.get(key)}"
    detach = run("pdfdetach", "-list", str(path))
    assert detach.stdout.strip().startswith("0 embedded files"), detach.stdout
    expanded = run("qpdf", "--qdf", "--object-streams=disable", str(path), "-")
    assert expanded.returncode in (0, 3)
    assert samples.CANARY not in expanded.stdout
    for marker in ("/JavaScript", "/JS", "/Launch", "/URI", "/EmbeddedFile", "/AcroForm"):
        assert marker not in expanded.stdout, marker
    # an open action may only be a destination (a page to show), never an action
    assert re.findall(r"/OpenAction\s*(\S)", expanded.stdout) in ([], ["["])
    return info


@pytest.mark.parametrize("feature", samples.FEATURES)
def test_each_hostile_feature_is_removed_and_reported(feature: str, tmp_path: Path) -> None:
    original = samples.hostile(feature)
    assert EXPECTED[feature] in pdfsafe.findings(original)  # the sample does carry it
    safe = pdfsafe.make_safe(original)
    assert EXPECTED[feature] in safe.report.removed
    assert pdfsafe.findings(safe.data) == set()
    info = check_independently(safe.data, tmp_path)
    assert info["Pages"] == "1"


def test_everything_at_once(tmp_path: Path) -> None:
    safe = pdfsafe.make_safe(samples.hostile())
    assert set(EXPECTED.values()) <= set(safe.report.removed)
    assert list(safe.report.removed) == [c for c in pdfsafe.REMOVED if c in safe.report.removed]
    check_independently(safe.data, tmp_path)


def test_the_checker_would_catch_a_hostile_file(tmp_path: Path) -> None:
    """The independent checks fail on the hostile file itself (they can fail)."""
    with pytest.raises(AssertionError):
        check_independently(samples.hostile(), tmp_path)


def test_a_form_is_flattened_its_value_still_readable(tmp_path: Path) -> None:
    safe = pdfsafe.make_safe(samples.hostile("form"))
    path = tmp_path / "form.pdf"
    path.write_bytes(safe.data)
    text = run("pdftotext", str(path), "-").stdout
    assert "Compte rendu" in text
    assert samples.FIELD_VALUE in text


def test_a_plain_result_keeps_its_pages_and_text(tmp_path: Path) -> None:
    safe = pdfsafe.make_safe(samples.lab_result(3))
    assert safe.report.pages == 3
    assert safe.report.removed == ("info",)
    path = tmp_path / "plain.pdf"
    path.write_bytes(safe.data)
    text = run("pdftotext", str(path), "-").stdout
    assert "Biologie page 3" in text
    assert "Hemoglobine 13,2" in text
    assert check_independently(safe.data, tmp_path)["Pages"] == "3"
    again = pdfsafe.make_safe(safe.data)  # made safe once is safe: nothing more to remove
    assert again.report.removed == ()


def test_an_owner_password_restriction_is_lifted(tmp_path: Path) -> None:
    original = samples.owner_restricted()
    with pikepdf.open(io.BytesIO(original)) as pdf:
        assert pdf.is_encrypted
    safe = pdfsafe.make_safe(original)
    assert "restrictions" in safe.report.removed
    check_independently(safe.data, tmp_path)


def test_a_harmless_cycle_of_objects_is_walked_once(tmp_path: Path) -> None:
    safe = pdfsafe.make_safe(samples.looping())
    check_independently(safe.data, tmp_path)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (samples.password_protected, pdfsafe.ENCRYPTED),
        (lambda: samples.lab_result(pdfsafe.MAX_PAGES + 1), pdfsafe.TOO_LARGE),
        (lambda: samples.lab_result(3)[:1500], pdfsafe.DAMAGED),
        (lambda: samples.lab_result(3)[:-300], pdfsafe.DAMAGED),
        (lambda: samples.deeply_nested(pdfsafe.MAX_DEPTH + 20), pdfsafe.TOO_LARGE),
        (lambda: samples.deeply_nested(2000), pdfsafe.DAMAGED),
        (samples.page_tree_loop, pdfsafe.DAMAGED),
        (lambda: samples.flate_bomb(pdfsafe.MAX_INFLATED // 2**20 + 8), pdfsafe.TOO_LARGE),
        (lambda: b"%PDF-1.7\n" + b"0" * pdfsafe.MAX_BYTES, pdfsafe.TOO_LARGE),
        (lambda: b"GIF89a not a pdf", pdfsafe.DAMAGED),
        (lambda: b"", pdfsafe.DAMAGED),
    ],
    ids=[
        "password", "too-many-pages", "truncated-half", "truncated-tail", "nested",
        "nested-past-qpdf", "page-tree-loop", "flate-bomb", "too-many-bytes", "not-a-pdf", "empty",
    ],
)  # fmt: skip
def test_refused_with_a_code(make: object, code: str) -> None:
    data = make()  # type: ignore[operator]
    with pytest.raises(pdfsafe.PdfRefused) as refused:
        pdfsafe.make_safe(data)
    assert refused.value.code == code
    assert samples.CANARY not in str(refused.value)


def test_a_shallow_nesting_is_accepted(tmp_path: Path) -> None:
    safe = pdfsafe.make_safe(samples.deeply_nested(pdfsafe.MAX_DEPTH - 5))
    check_independently(safe.data, tmp_path)


def test_the_objects_bound_is_checked_before_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdfsafe, "MAX_OBJECTS", 3)
    with pytest.raises(pdfsafe.PdfRefused) as refused:
        pdfsafe.make_safe(samples.lab_result(2))
    assert refused.value.code == pdfsafe.TOO_LARGE


# --- in a child process bounded in memory and time ------------------------------------------


def test_the_child_gives_what_the_module_gives(tmp_path: Path) -> None:
    from capture import pdf_isolated

    original = samples.hostile()
    safe = pdf_isolated.make_safe(original)
    assert safe.report == pdfsafe.make_safe(original).report
    check_independently(safe.data, tmp_path)
    assert pdf_isolated.findings(original) == pdfsafe.findings(original)
    assert pdf_isolated.findings(safe.data) == set()
    with pytest.raises(pdfsafe.PdfRefused) as refused:
        pdf_isolated.make_safe(samples.password_protected())
    assert refused.value.code == pdfsafe.ENCRYPTED


def test_a_child_past_its_time_is_stopped_and_the_pdf_refused() -> None:
    from capture import pdf_isolated

    with pytest.raises(pdfsafe.PdfRefused) as refused:
        pdf_isolated.make_safe(samples.lab_result(1), timeout=0.001)
    assert refused.value.code == pdfsafe.TOO_LARGE


def test_a_child_short_of_memory_refuses_the_pdf_and_the_caller_goes_on() -> None:
    """30 MiB of incompressible data read under a 120 MiB address space: qpdf's allocation
    fails in the child, which answers with a refusal; the same file passes with the default
    bound."""
    import os

    from capture import pdf_isolated

    def edit(pdf: pikepdf.Pdf) -> None:
        pdf.Root.Big = pdf.make_indirect(pikepdf.Stream(pdf, os.urandom(30 * 1024 * 1024)))

    large = samples._edited(samples.lab_result(1), edit)
    with pytest.raises(pdfsafe.PdfRefused) as refused:
        pdf_isolated.make_safe(large, memory=120 * 1024 * 1024)
    assert refused.value.code in pdfsafe.CODES
    assert pdf_isolated.make_safe(large).report.pages == 1


def test_random_damage_is_refused_or_made_safe(tmp_path: Path) -> None:
    """Bytes of a hostile file flipped at random (seeded): every result is either a refusal
    with a code, or a document the second walk finds clean; never another exception."""
    import random

    rng = random.Random(17)
    original = bytearray(samples.hostile())
    outcomes = {"refused": 0, "safe": 0}
    for _round in range(60):
        damaged = bytearray(original)
        for _flip in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        try:
            safe = pdfsafe.make_safe(bytes(damaged))
        except pdfsafe.PdfRefused as refused:
            codes = {refused.code}
            outcomes["refused"] += 1
        else:
            codes = set()
            assert pdfsafe.findings(safe.data) == set()
            outcomes["safe"] += 1
        assert codes <= set(pdfsafe.CODES)
    assert outcomes["refused"] + outcomes["safe"] == 60


def test_an_open_action_that_only_shows_a_page_is_kept(tmp_path: Path) -> None:
    """Word processors write "open at page 1, fit the width": harmless, kept, not reported."""

    def edit(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = pikepdf.Array([pdf.pages[0].obj, pikepdf.Name.FitH, 800])

    safe = pdfsafe.make_safe(samples._edited(samples.lab_result(1), edit))
    assert "open_action" not in safe.report.removed
    with pikepdf.open(io.BytesIO(safe.data)) as pdf:
        assert isinstance(pdf.Root.OpenAction, pikepdf.Array)
    check_independently(safe.data, tmp_path)


def test_an_image_is_bounded_by_its_declared_size() -> None:
    def huge(pdf: pikepdf.Pdf) -> None:
        image = pikepdf.Stream(pdf, b"\0" * 64)
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width = image.Height = 20_000
        image.BitsPerComponent, image.ColorSpace = 8, pikepdf.Name.DeviceGray
        pdf.Root.Huge = pdf.make_indirect(image)

    with pytest.raises(pdfsafe.PdfRefused) as refused:
        pdfsafe.make_safe(samples._edited(samples.lab_result(1), huge))
    assert refused.value.code == pdfsafe.TOO_LARGE


def test_a_scanned_result_of_large_deflated_pages_is_accepted() -> None:
    """Images are bounded by their declared size, not by what they inflate to in all: 150
    pages of a deflated grey scan at 150 dpi (2 MB each once inflated, more than
    ``MAX_INFLATED`` in all) pass."""
    import zlib

    def scanned(pdf: pikepdf.Pdf) -> None:
        raw = zlib.compress(bytes(range(256)) * (1240 * 1754 // 256 + 1))[: 10**7]
        for _page in range(150):
            image = pikepdf.Stream(pdf, raw)
            image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
            image.Width, image.Height = 1240, 1754
            image.BitsPerComponent, image.ColorSpace = 8, pikepdf.Name.DeviceGray
            image.Filter = pikepdf.Name.FlateDecode
            pdf.add_blank_page()
            pdf.pages[-1].Resources = pikepdf.Dictionary(
                XObject=pikepdf.Dictionary(Im0=pdf.make_indirect(image))
            )

    safe = pdfsafe.make_safe(samples._edited(samples.lab_result(1), scanned))
    assert safe.report.pages == 151
    assert pdfsafe.MAX_INFLATED < 150 * 1240 * 1754
