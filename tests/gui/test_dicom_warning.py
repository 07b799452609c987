"""The doctor is told, in the attach dialog, when a DICOM image may show burned-in text
(capture/dicom_deid.py): a warning under what was removed, not a refusal; none otherwise."""

from __future__ import annotations

import io

import pydicom
from pydicom.uid import generate_uid
from pytestqt.qtbot import QtBot

from app import i18n
from capture.documents import prepare_document
from tests.core.test_dicom_deid import US, radiograph, write
from widgets.documents import DocumentDetails


def ultrasound() -> bytes:
    ds = radiograph(sop=generate_uid())
    ds.Modality, ds.SOPClassUID = "US", US
    del ds.BurnedInAnnotation  # ultrasound machines write names on their images
    return write(ds, US)


def test_an_ultrasound_shows_the_burned_in_text_warning(qtbot: QtBot) -> None:
    details = DocumentDetails(prepare_document(ultrasound()))
    qtbot.addWidget(details)
    details.show()
    assert details.warning.isVisible()
    assert "texte incrusté" in details.warning.text()
    assert details.removed.text()  # what was removed is still said


def test_the_warning_is_in_english_too(qtbot: QtBot) -> None:
    i18n.set_language("en")
    try:
        details = DocumentDetails(prepare_document(ultrasound()))
        qtbot.addWidget(details)
        assert "burned into its pixels" in details.warning.text()
    finally:
        i18n.set_language("fr")


def test_a_radiograph_without_burned_in_text_shows_no_warning(qtbot: QtBot) -> None:
    data = write(radiograph())
    assert pydicom.dcmread(io.BytesIO(data)).BurnedInAnnotation == "NO"
    details = DocumentDetails(prepare_document(data))
    qtbot.addWidget(details)
    details.show()
    assert not details.warning.isVisible()
