"""A report printed to a file is named after the patient's reference and the date (issue 16
§5: the print dialog proposed ``print.pdf`` in the home folder)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from tests.core.test_followup import request, thread
from widgets.report import document_name, proposed_pdf


def test_the_name_carries_the_reference_and_the_date() -> None:
    shown = thread(request(0, patient="P-0147"))
    assert document_name(shown, date(2026, 12, 7)) == "compte-rendu-P-0147-2026-12-07"


def test_a_reference_with_slashes_or_spaces_makes_a_safe_name() -> None:
    case = replace(request(0), patient_ref="../USMP Fresnes/12 b")
    name = document_name(thread(case), date(2026, 12, 7))
    assert name == "compte-rendu-USMP-Fresnes-12-b-2026-12-07"
    assert "/" not in name


def test_the_proposed_file_is_a_pdf_outside_the_home_folder_root() -> None:
    path = proposed_pdf(thread(request(0, patient="P-9")))
    assert path.suffix == ".pdf"
    assert path.name.startswith("compte-rendu-P-9-")
    assert path.name != "print.pdf"
