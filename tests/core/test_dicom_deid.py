"""DICOM de-identification by PS3.15's whole Basic Profile (capture/dicom_deid.py).

Real files: made here with pydicom (every attribute of Table E.1-1 that has a removal or a
replacement action, planted at the top, inside kept sequences and in private blocks), by
DCMTK (``img2dcm``, ``dcmcjpeg``) and by our own VL Photographic export. Checked with
``dciodvfy`` (dicom3tools) for no new error, and by decoding the pixels again. The attacker
here is whoever holds the file without the request: a PACS administrator trying to join it
back by UID, anyone reading names, serials or comments left in it, or a forged file meant to
make the cleaning cost without bound.
"""

from __future__ import annotations

import io
import re
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from capture import dicom_deid
from capture.dicom_deid import BURNED_IN_TEXT, deidentify, new_request_key, new_uid, request_key
from capture.dicom_import import load_dicom
from capture.dicom_profile import action_for, rules
from capture.documents import prepare_document
from capture.errors import DicomError
from tests.support import documents as samples
from tests.support.tools import require_tool

DX = "1.2.840.10008.5.1.4.1.1.1.1"
US = "1.2.840.10008.5.1.4.1.1.6.1"
UID_ROOT = "1.2.826.0.1.3680043.9.7731."
TEXT_VRS = ("AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT")
_counter = iter(range(1, 1_000_000))


# --------------------------------------------------------------------------- files


def canary(prefix: str, tag: int) -> str:
    return f"{prefix}{tag:08X}"


def plant(ds: Dataset, prefix: str) -> list[bytes]:
    """Every exact Table E.1-1 row whose action removes or replaces, with a value of its VR
    unique to ``prefix`` and the tag; returns what must not survive (as bytes)."""
    exact, _masked = rules()
    gone: list[bytes] = []
    for tag, action in sorted(exact.items()):
        group = tag >> 16
        if action == "K" or group in (0x0000, 0x0002, 0x0004) or group >= 0xFFFA:
            continue
        try:
            vr = str(dictionary_VR(tag))
        except KeyError:
            continue
        mark = canary(prefix, tag)
        if vr in TEXT_VRS:
            value = mark + ("^X" if vr == "PN" else "")
            ds.add_new(tag, vr, value)
            gone.append(mark.encode())
        elif vr == "UR":
            ds.add_new(tag, vr, f"http://{mark.lower()}.example")
            gone.append(mark.lower().encode())
        elif vr == "UI":
            uid = f"{UID_ROOT}{next(_counter)}"
            ds.add_new(tag, vr, uid)
            gone.append(uid.encode())
        elif vr == "TM":
            ds.add_new(tag, vr, "112233.445566")
            gone.append(b"112233.4455")
        elif vr == "DT":
            ds.add_new(tag, vr, "20010203112233.445566")
            gone.append(b"112233.4455")
        elif vr == "DA":
            ds.add_new(tag, vr, "20010203")  # a date: kept (Modified Dates) or removed
        elif vr in ("OB", "OW", "UN"):
            ds.add_new(tag, vr, mark.encode())
            gone.append(mark.encode())
        elif vr == "SQ":
            item = coded(mark)
            if action == "Q":  # references: kept, their UIDs replaced
                uid = f"{UID_ROOT}{next(_counter)}"
                item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = DX, uid
                gone.append(uid.encode())
            else:
                gone.append(mark.encode())
            ds.add_new(tag, vr, Sequence([item]))
    return gone


def coded(meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "99", "99TEST", meaning
    return item


def private(ds: Dataset, prefix: str, group: int = 0x0011) -> list[bytes]:
    block = ds.private_block(group, f"ACME {prefix}", create=True)
    block.add_new(0x01, "LO", f"serial {prefix}-PRIV")
    inner = Dataset()
    inner.PatientName = f"{prefix}-PRIVSQ"
    block.add_new(0x02, "SQ", Sequence([inner]))
    return [f"{prefix}-PRIV".encode(), f"ACME {prefix}".encode()]


def write(ds: Dataset, sop_class: str = DX) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "CNRYSRCAE"
    ds.file_meta = meta
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def radiograph(**uids: str) -> Dataset:
    """A DX "for presentation" with its IOD's type 1 and 2 attributes (16-bit, 12 stored)."""
    rows, cols = 64, 48
    ds = Dataset()
    ds.SOPClassUID = DX
    ds.SOPInstanceUID = uids.get("sop", generate_uid())
    ds.StudyInstanceUID = uids.get("study", generate_uid())
    ds.SeriesInstanceUID = uids.get("series", generate_uid())
    ds.FrameOfReferenceUID = uids.get("frame", generate_uid())
    ds.Modality, ds.PresentationIntentType = "DX", "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Manufacturer, ds.SeriesNumber, ds.InstanceNumber = "ACME", 1, 1
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Dupont^Jean", "ECROU-7731", "19450607"
    ds.PatientSex, ds.PatientAge, ds.PatientWeight = "M", "042Y", 71.5
    ds.StudyDate, ds.StudyTime, ds.ContentDate, ds.ContentTime = (
        "20260102",
        "101112.131415",
        "20260102",
        "101112.131415",
    )
    ds.ReferringPhysicianName, ds.StudyID, ds.AccessionNumber = "Dr^House", "S7731", "A7731"
    ds.Laterality, ds.ImageLaterality, ds.PatientOrientation = "L", "L", ["A", "F"]
    ds.BodyPartExamined = "HAND"
    ds.AnatomicRegionSequence = Sequence([coded("Hand")])
    ds.PixelIntensityRelationship, ds.PixelIntensityRelationshipSign = "LIN", 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.PresentationLUTShape, ds.LossyImageCompression = "IDENTITY", "00"
    ds.BurnedInAnnotation = "NO"
    ds.DetectorType, ds.ImagerPixelSpacing = "DIRECT", [0.1, 0.1]
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    pixels = (np.add.outer(np.arange(rows), np.arange(cols)) * 37 % 4096).astype("<u2")
    ds.PixelData = pixels.tobytes()
    return ds


def planted() -> tuple[bytes, list[bytes]]:
    """A radiograph with everything planted: top level, two nesting depths, private blocks."""
    ds = radiograph()
    gone = plant(ds, "CNRY") + private(ds, "TOP")
    outer = coded("procedure")
    gone += plant(outer, "CNRA") + private(outer, "MID", 0x0029)
    inner = coded("deeper")
    gone += plant(inner, "CNRB")
    outer.ProcedureCodeSequence = Sequence([coded("level 2")])
    outer.ProcedureCodeSequence[0].ProcedureCodeSequence = Sequence([inner])
    ds.ProcedureCodeSequence = Sequence([outer])
    for tag in (0x60000010, 0x60000011):
        ds.add_new(tag, "US", 8)
    ds.add_new(0x60004000, "LT", "CNRYOVERLAY")
    ds.add_new(0x50000030, "SH", "CNRYCURVE")
    gone += [b"CNRYOVERLAY", b"CNRYCURVE", b"CNRYSRCAE"]
    return write(ds), gone


def dciodvfy_errors(data: bytes, tmp_path: Path) -> set[str]:
    tool = require_tool("dciodvfy")
    path = tmp_path / f"{generate_uid()}.dcm"
    path.write_bytes(data)
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    lines = (result.stdout + result.stderr).splitlines()
    return {re.sub(r"<[^>]*>$", "", line) for line in lines if line.startswith("Error")}


# --------------------------------------------------------------------------- the profile


def test_the_table_is_the_whole_basic_profile() -> None:
    exact, masked = rules()
    assert len(exact) >= 480  # the 2019e rows and the later ones, not a hand-picked subset
    assert {action for action in exact.values()} <= set("XZDKUTQ")
    assert exact[0x00100010] == "Z"  # Patient's Name
    assert exact[0x00080080] == "X"  # Institution Name
    assert exact[0x00181000] == "D"  # Device Serial Number: type 1 in enhanced equipment
    assert exact[0x00080018] == "U"  # SOP Instance UID
    assert exact[0x00081140] == "Q"  # Referenced Image Sequence
    assert exact[0x00100040] == exact[0x00101030] == "K"  # sex, weight: characteristics
    assert exact[0x00102110] == "X"  # allergies: free text, not cleaned
    assert exact[0x00102160] == "X"  # ethnic group: removed although the option keeps it
    assert exact[0x00080020] == exact[0x00080030] == "T"  # study date and time
    assert set(masked) == {
        (0xFF000000, 0x50000000, "X"),  # curve data
        (0xFF00FFFF, 0x60003000, "X"),  # overlay data
        (0xFF00FFFF, 0x60004000, "X"),  # overlay comments
    }


def test_unlisted_attributes_follow_structural_rules() -> None:
    assert action_for(0x00091001, "LO") == "X"  # private
    assert action_for(0x00080000, "UL") == "X"  # group length
    assert action_for(0x60020010, "US") == "X"  # an overlay plane
    assert action_for(0x00080012, "DA") == "T"  # Instance Creation Date (a later row)
    assert action_for(0x00181200, "DA") == "T"  # Date of Last Calibration (a later row)
    assert action_for(0x0040A075, "PN") == "D"  # listed
    assert action_for(0x00700084, "PN") == "Z"  # Content Creator's Name, type 2
    assert action_for(0x00081150, "UI") == "K"  # a class UID
    assert action_for(0x00640003, "UI") == "U"  # Source Frame of Reference UID (later)
    assert action_for(0x00180060, "DS") == "K"  # KVP: clinical, kept
    assert action_for(0x00101234, "LO") == "X"  # a public tag this dictionary does not know


# --------------------------------------------------------------------------- what is left


def test_no_planted_identifying_value_survives_anywhere_in_the_bytes() -> None:
    data, gone = planted()
    assert all(value in data for value in gone)  # the check would catch a survivor
    result = deidentify(data, new_request_key())
    survivors = [value for value in gone if value in result.data]
    assert survivors == []
    assert result.removed == ("dicom_identity", "dicom_private")
    ds = pydicom.dcmread(io.BytesIO(result.data))
    assert not any(element.tag.is_private for element in ds.iterall())
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    assert not [e for e in ds.iterall() if e.tag.group in (0x5000, 0x6000)]
    inner = ds.ProcedureCodeSequence[0].ProcedureCodeSequence[0].ProcedureCodeSequence[0]
    assert inner.CodeMeaning == "deeper"  # kept sequences are kept, and cleaned
    assert "InstitutionName" not in inner
    assert inner.PatientName == ""


@pytest.mark.parametrize("syntax", ["+ti", "+tb", "+td"])  # implicit VR, big endian, deflated
def test_every_transfer_syntax_dcmtk_writes_is_cleaned_alike(syntax: str, tmp_path: Path) -> None:
    data, gone = planted()
    source, converted = tmp_path / "in.dcm", tmp_path / "out.dcm"
    source.write_bytes(data)
    subprocess.run(
        [require_tool("dcmconv"), syntax, str(source), str(converted)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    result = deidentify(converted.read_bytes(), new_request_key())
    ds = pydicom.dcmread(io.BytesIO(result.data))
    searched = result.data  # texts and UIDs are not byte-swapped in big endian
    if syntax == "+td":
        plain = io.BytesIO()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # inflated, to search it
        ds.save_as(plain)
        searched = plain.getvalue()
    assert [value for value in gone if value in searched] == []
    assert not any(element.tag.is_private for element in ds.iterall())
    assert (load_dicom(result.data).pixels == load_dicom(data).pixels).all()


def test_clinical_characteristics_and_the_exam_date_are_kept_times_are_not() -> None:
    data, _gone = planted()
    ds = pydicom.dcmread(io.BytesIO(deidentify(data, new_request_key()).data))
    assert (ds.PatientSex, ds.PatientAge, float(ds.PatientWeight)) == ("M", "042Y", 71.5)
    assert ds.StudyDate == ds.ContentDate == "20010203"  # as planted: dates are kept
    assert ds.StudyTime == ds.ContentTime == "000000"
    assert ds.AcquisitionDateTime == "20010203"
    assert ds.PatientName == ds.PatientID == ds.PatientBirthDate == ds.AccessionNumber == ""
    assert ds.DeviceSerialNumber == "ANONYMIZED"
    assert "OperatorsName" not in ds
    assert "ImageComments" not in ds
    assert (ds.BodyPartExamined, ds.Modality, ds.Manufacturer) == ("HAND", "DX", "ACME")


def test_the_deidentification_is_declared_as_ps3_15_says() -> None:
    ds = pydicom.dcmread(io.BytesIO(deidentify(samples.radiograph(), new_request_key()).data))
    assert ds.PatientIdentityRemoved == "YES"
    codes = {
        (item.CodeValue, item.CodingSchemeDesignator)
        for item in ds.DeidentificationMethodCodeSequence
    }
    assert codes == {("113100", "DCM"), ("113107", "DCM"), ("113108", "DCM")}
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


# --------------------------------------------------------------------------- UIDs


def test_two_images_of_one_study_stay_one_study_and_cannot_be_joined_back() -> None:
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    first = radiograph(study=study, series=series, frame=frame)
    second = radiograph(study=study, series=series, frame=frame)
    reference = Dataset()
    reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = DX, first.SOPInstanceUID
    second.ReferencedImageSequence = Sequence([reference])
    key = new_request_key()
    one = pydicom.dcmread(io.BytesIO(deidentify(write(first), key).data))
    two = pydicom.dcmread(io.BytesIO(deidentify(write(second), key).data))
    assert one.StudyInstanceUID == two.StudyInstanceUID != study
    assert one.SeriesInstanceUID == two.SeriesInstanceUID != series
    assert one.FrameOfReferenceUID == two.FrameOfReferenceUID != frame
    assert one.SOPInstanceUID != two.SOPInstanceUID
    assert two.ReferencedImageSequence[0].ReferencedSOPInstanceUID == one.SOPInstanceUID
    assert two.ReferencedImageSequence[0].ReferencedSOPClassUID == DX  # a class: kept
    for uid in (one.StudyInstanceUID, one.SOPInstanceUID):
        assert uid.startswith("2.25.")
        assert len(uid) <= 64
        assert pydicom.uid.UID(uid).is_valid
    # Another request's key gives other UIDs: nobody joins two requests, nor the PACS, by UID.
    other = pydicom.dcmread(io.BytesIO(deidentify(write(first), new_request_key()).data))
    assert other.StudyInstanceUID not in (one.StudyInstanceUID, study)


def test_new_uids_need_the_key() -> None:
    original = generate_uid()
    key = new_request_key()
    assert new_uid(original, key) == new_uid(original, key)
    assert new_uid(original, key) != new_uid(original, new_request_key())
    assert new_uid(original, key) != new_uid(original + "1", key)
    assert original.split(".")[-1] not in new_uid(original, key)


def test_a_request_key_scopes_prepare_document() -> None:
    data = samples.radiograph()
    key = new_request_key()
    with request_key(key):
        scoped = pydicom.dcmread(io.BytesIO(prepare_document(data).data))
    unscoped = pydicom.dcmread(io.BytesIO(prepare_document(data).data))
    original = pydicom.dcmread(io.BytesIO(data))
    assert scoped.StudyInstanceUID == new_uid(original.StudyInstanceUID, key)
    assert unscoped.StudyInstanceUID == new_uid(original.StudyInstanceUID, dicom_deid.current_key())
    assert unscoped.StudyInstanceUID != scoped.StudyInstanceUID


# --------------------------------------------------------------------------- conformance, pixels


def test_dciodvfy_finds_no_new_error_in_the_planted_radiograph(tmp_path: Path) -> None:
    data, _gone = planted()
    before = dciodvfy_errors(data, tmp_path)
    after = dciodvfy_errors(deidentify(data, new_request_key()).data, tmp_path)
    assert after - before == set()


def test_dciodvfy_finds_no_error_in_our_own_export_once_deidentified(tmp_path: Path) -> None:
    from tests.core.test_capture_dicom import exports

    for name, data in exports().items():
        before = dciodvfy_errors(data, tmp_path)
        assert before == set(), name
        assert dciodvfy_errors(deidentify(data, new_request_key()).data, tmp_path) == set(), name


def test_dcmtk_files_keep_their_pixels_and_gain_no_error(tmp_path: Path) -> None:
    from tests.core.test_capture_dicom_isolated import lossless_radiograph

    packed = lossless_radiograph(tmp_path).read_bytes()  # DCMTK, JPEG Lossless
    capture = tmp_path / "sc.dcm"
    photo = tmp_path / "photo.jpg"
    from PIL import Image

    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(photo, "JPEG")
    subprocess.run(
        [require_tool("img2dcm"), str(photo), str(capture)], check=True, capture_output=True
    )
    for data in (packed, capture.read_bytes()):
        result = deidentify(data, new_request_key())
        assert dciodvfy_errors(result.data, tmp_path) - dciodvfy_errors(data, tmp_path) == set()
        before, after = pydicom.dcmread(io.BytesIO(data)), pydicom.dcmread(io.BytesIO(result.data))
        assert after.PixelData == before.PixelData
        assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
        assert (load_dicom(result.data).pixels == load_dicom(data).pixels).all()


def test_the_pixels_decode_the_same() -> None:
    data, _gone = planted()
    assert (
        load_dicom(deidentify(data, new_request_key()).data).pixels == load_dicom(data).pixels
    ).all()


# --------------------------------------------------------------------------- burned-in text


@pytest.mark.parametrize(
    ("modality", "sop_class", "burned", "warned"),
    [
        ("US", US, None, True),  # ultrasound writes names on its images
        ("XA", DX, None, True),
        ("OT", "1.2.840.10008.5.1.4.1.1.7", None, True),  # secondary capture
        ("DX", DX, "YES", True),
        ("US", US, "NO", False),  # the modality said there is none
        ("DX", DX, None, False),
        ("XC", "1.2.840.10008.5.1.4.1.1.77.1.4", None, False),  # VL Photographic, not an SC
        ("OT", "1.2.840.10008.5.1.4.1.1.7.2", None, True),  # multi-frame grayscale byte SC
    ],
)
def test_text_burned_into_the_pixels_is_a_warning(
    modality: str, sop_class: str, burned: str | None, warned: bool
) -> None:
    ds = radiograph()
    ds.Modality, ds.SOPClassUID = modality, sop_class
    del ds.BurnedInAnnotation
    if burned:
        ds.BurnedInAnnotation = burned
    data = write(ds, sop_class)
    assert (deidentify(data, new_request_key()).warnings == (BURNED_IN_TEXT,)) is warned
    prepared = prepare_document(data)  # not refused: the doctor is told, the file goes
    assert getattr(prepared, "warnings", ()) == ((BURNED_IN_TEXT,) if warned else ())


def test_the_warning_reads_in_french_and_in_english() -> None:
    from app import i18n
    from app.document_texts import warning_lines

    assert "texte" in warning_lines((BURNED_IN_TEXT,))[0]
    i18n.set_language("en")
    try:
        assert "text" in warning_lines((BURNED_IN_TEXT,))[0]
    finally:
        i18n.set_language("fr")
    assert warning_lines(()) == []


# --------------------------------------------------------------------------- hostile files


def _sequence(tag: int, items: list[bytes]) -> bytes:
    body = b"".join(struct.pack("<HHI", 0xFFFE, 0xE000, len(item)) + item for item in items)
    return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, b"SQ", 0, len(body)) + body


def _spliced(element: bytes) -> bytes:
    """The sample radiograph with ``element`` (a (0008,1032) sequence) before Modality."""
    data = samples.radiograph(private=False)
    at = data.index(b"\x08\x00\x60\x00CS")
    return data[:at] + element + data[at:]


def test_sequences_of_defined_length_nested_deep_are_refused_fast() -> None:
    element = b""
    for _level in range(40):  # each level inside an item of the one above
        element = _sequence(0x00081032, [element])
    data = _spliced(element)
    started = time.monotonic()
    with pytest.raises(DicomError) as refused:
        deidentify(data, new_request_key())
    assert refused.value.code == "dicom_too_large"
    assert time.monotonic() - started < 2.0


def test_a_defined_length_sequence_of_many_items_is_refused_before_pydicom_parses_it() -> None:
    data = _spliced(_sequence(0x00081032, [b""] * 600_000))  # 4.8 MB, 600,000 datasets
    started = time.monotonic()
    with pytest.raises(DicomError) as refused:
        deidentify(data, new_request_key())
    assert refused.value.code == "dicom_too_large"
    assert time.monotonic() - started < 2.0


def test_thousands_of_private_elements_are_removed_within_bounds() -> None:
    ds = pydicom.dcmread(io.BytesIO(samples.radiograph(private=False)))
    for group in range(0x0009, 0x0009 + 2 * 40, 2):  # 40 blocks of 250: 10,000 elements
        block = ds.private_block(group, f"HOSTILE {group:04X}", create=True)
        for offset in range(250):
            block.add_new(offset, "LO", f"P{offset}")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    started = time.monotonic()
    result = deidentify(out.getvalue(), new_request_key())
    assert time.monotonic() - started < 10.0
    assert b"HOSTILE" not in result.data
    assert len(result.data) < len(samples.radiograph()) + 4096
