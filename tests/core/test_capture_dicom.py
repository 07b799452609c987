"""DICOM export (VL Photographic, checked by dciodvfy) and import (pixels, VOI windowing)."""

from __future__ import annotations

import datetime as dt
import io
import struct
import subprocess
from functools import cache
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageCms
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGLossless, generate_uid

from capture import dicom
from capture.dicom import to_dicom
from capture.dicom_import import load_dicom, window_level
from capture.errors import DicomError
from capture.jpeg import baseline_jpeg
from capture.measure import find_marker, line_measurement, polygon_measurement
from capture.photo import BODY_SITES
from tests.support import aruco_scenes as scenes
from tests.support.tools import require_tool

NOW = dt.datetime(2025, 3, 14, 9, 26, 53, tzinfo=dt.timezone(dt.timedelta(hours=1)))


# --------------------------------------------------------------------------- helpers


@cache
def scene(tilt: float = 0.0) -> scenes.Scene:
    return scenes.render(tilt_x_deg=tilt, tilt_y_deg=tilt / 2)


def jpeg_of(pixels: np.ndarray, **options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """Insert marker segments right after Pillow's SOI + APP0 (JFIF)."""
    assert jpeg[:4] == b"\xff\xd8\xff\xe0"
    cut = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:cut] + b"".join(segments) + jpeg[cut:]


def identifying_segments() -> tuple[bytes, ...]:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "SerialNo-4711"  # Software
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>GPS 48.8566N 2.3522E</x:xmpmeta>"
    return (
        segment(0xE1, exif.tobytes()),
        segment(0xE1, xmp),
        segment(0xED, b"Photoshop 3.0\x00IPTC Jean Dupont"),
        segment(0xFE, b"patient Jean Dupont"),
    )


def icc_segment(profile: bytes) -> bytes:
    return segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + profile)


def validate(data: bytes, tmp_path: Path) -> tuple[list[str], list[str], list[str]]:
    """dciodvfy's errors, warnings and whole output for a DICOM file."""
    tool = require_tool("dciodvfy")
    path = tmp_path / f"{generate_uid()}.dcm"
    path.write_bytes(data)
    result = subprocess.run(
        [tool, str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    lines = (result.stdout + result.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if line.startswith("Warning")]
    return errors, warnings, lines


def frame_bytes(data: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    frames = list(generate_frames(ds.PixelData, number_of_frames=1))
    assert len(frames) == 1
    return frames[0]


# --------------------------------------------------------------------------- export


def exports() -> dict[str, bytes]:
    """Several exports: calibrated or not, tilted, colour or grey, with or without a site."""
    flat, tilted = scene(0.0), scene(24.0)
    flat_cal, tilted_cal = find_marker(flat.image), find_marker(tilted.image)
    assert flat_cal is not None
    assert tilted_cal is not None
    colour = jpeg_of(flat.image[:, :, ::-1])
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    grey = jpeg_of(np.asarray(Image.fromarray(tilted.image[:, :, ::-1]).convert("L")))
    return {
        "calibrated-hand": to_dicom(
            with_segments(colour, *identifying_segments(), icc_segment(profile)),
            patient_ref="P-0042",
            site="main_gauche",
            calibration=flat_cal,
            measurement=polygon_measurement(flat_cal, flat.wound_px),
            now=NOW,
        ),
        "uncalibrated-no-site": to_dicom(
            colour,
            patient_ref="UCSA 2025-17",
            measurement=line_measurement(None, *flat.line_px),
        ),
        "tilted-grey-face": to_dicom(
            jpeg_of(tilted.image[:, :, ::-1], subsampling=0),
            patient_ref="Réf-éèç",
            site="visage",
            calibration=tilted_cal,
            measurement=line_measurement(tilted_cal, *tilted.line_px),
            now=NOW,
        ),
        "grey-other-site": to_dicom(grey, patient_ref="G-1", site="autre", now=NOW),
        "genital-area": to_dicom(colour, patient_ref="G-2", site="organes_genitaux"),
    }


@pytest.fixture(scope="module")
def exported() -> dict[str, bytes]:
    return exports()


@pytest.mark.parametrize(
    "name",
    [
        "calibrated-hand",
        "uncalibrated-no-site",
        "tilted-grey-face",
        "grey-other-site",
        "genital-area",
    ],
)
def test_dciodvfy_finds_no_error_and_no_warning(
    name: str, exported: dict[str, bytes], tmp_path: Path
) -> None:
    errors, warnings, lines = validate(exported[name], tmp_path)
    assert "VLPhotographicImage" in lines
    assert errors == []
    assert warnings == []


def test_dciodvfy_check_would_catch_an_error(exported: dict[str, bytes], tmp_path: Path) -> None:
    ds = pydicom.dcmread(io.BytesIO(exported["calibrated-hand"]))
    del ds.ImageType  # type 1 in the VL Image module
    ds.ImageLaterality = "X"
    broken = io.BytesIO()
    ds.save_as(broken, enforce_file_format=True)
    errors, _warnings, _lines = validate(broken.getvalue(), tmp_path)
    assert len(errors) >= 2


def test_jpeg_is_encapsulated_without_recompression() -> None:
    original = jpeg_of(scene().image[:, :, ::-1])
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    dirty = with_segments(original, *identifying_segments(), icc_segment(profile))
    data = to_dicom(dirty, patient_ref="P-1", now=NOW)
    frame = frame_bytes(data)
    assert frame[: len(original)] == original  # byte for byte, APPn/COM gone
    assert frame[len(original) :] in (b"", b"\x00")  # even-length padding only
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert ds.ICCProfile == profile
    for secret in (b"SecretCam", b"SerialNo-4711", b"48.8566N", b"Jean Dupont", b"Exif\x00"):
        assert secret not in data


def test_export_attributes(exported: dict[str, bytes]) -> None:
    ds = pydicom.dcmread(io.BytesIO(exported["calibrated-hand"]))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4"
    assert ds.Modality == "XC"
    assert ds.PatientID == "P-0042"
    assert ds.PatientName.family_name == "P-0042"
    assert ds.PatientName.given_name == ""
    assert (ds.Rows, ds.Columns) == (scenes.IMAGE_SIZE[1], scenes.IMAGE_SIZE[0])
    assert ds.PhotometricInterpretation == "YBR_FULL_422"
    assert ds.ImageLaterality == "L"
    region = ds.AnatomicRegionSequence[0]
    assert (region.CodeValue, region.CodingSchemeDesignator) == ("85562004", "SCT")
    assert region.AnatomicRegionModifierSequence[0].CodeValue == "7771000"  # left
    assert (ds.StudyDate, ds.StudyTime, ds.TimezoneOffsetFromUTC) == (
        "20250314",
        "092653",
        "+0100",
    )
    assert "surface" in ds.ImageComments


def test_pixel_spacing_is_the_cameras_scale(exported: dict[str, bytes]) -> None:
    """Fronto-parallel scene: Pixel Spacing = distance / focal length on both axes."""
    ds = pydicom.dcmread(io.BytesIO(exported["calibrated-hand"]))
    expected = scenes.DISTANCE_MM / scenes.FOCAL_PX
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([expected] * 2, rel=0.005)
    assert "Pixel Spacing" in ds.ImageComments
    assert "non frontale" not in ds.ImageComments
    uncalibrated = pydicom.dcmread(io.BytesIO(exported["uncalibrated-no-site"]))
    assert "PixelSpacing" not in uncalibrated
    assert "AnatomicRegionSequence" not in uncalibrated
    assert uncalibrated.ImageLaterality == "U"


def test_tilted_photo_says_its_spacing_holds_at_the_marker(exported: dict[str, bytes]) -> None:
    ds = pydicom.dcmread(io.BytesIO(exported["tilted-grey-face"]))
    row, column = (float(v) for v in ds.PixelSpacing)
    assert abs(row / column - 1) > 0.02  # foreshortened: spacing differs along rows and columns
    assert "au marqueur" in ds.ImageComments
    assert "non frontale" in ds.ImageComments
    assert ds.RecognizableVisualFeatures == "YES"
    assert ds.PatientName.family_name == "Réf-éèç"


def test_study_and_series_are_kept_for_grouping() -> None:
    study, series = generate_uid(), generate_uid()
    photo = jpeg_of(np.full((16, 16, 3), 128, np.uint8))
    first = pydicom.dcmread(
        io.BytesIO(to_dicom(photo, patient_ref="A", study_uid=study, series_uid=series))
    )
    second = pydicom.dcmread(
        io.BytesIO(to_dicom(photo, patient_ref="A", study_uid=study, series_uid=series))
    )
    assert first.StudyInstanceUID == second.StudyInstanceUID == study
    assert first.SeriesInstanceUID == second.SeriesInstanceUID == series
    assert first.SOPInstanceUID != second.SOPInstanceUID


def test_site_codes_are_dicoms_snomed_codes() -> None:
    """The codes match DICOM PS3.16 as shipped in pydicom's code dictionary."""
    assert list(dicom.SITES) == [code for code, _label in BODY_SITES]  # the capture engine's
    expected = {
        "visage": codes.SCT.Face,
        "cuir_chevelu": codes.SCT.Scalp,
        "cou": codes.SCT.Neck,
        "thorax": codes.SCT.Thorax,
        "abdomen": codes.SCT.Abdomen,
        "dos": codes.SCT.Back,
        "membre_superieur_droit": codes.SCT.UpperLimb,
        "membre_superieur_gauche": codes.SCT.UpperLimb,
        "main_droite": codes.SCT.Hand,
        "main_gauche": codes.SCT.Hand,
        "membre_inferieur_droit": codes.SCT.LowerLimb,
        "membre_inferieur_gauche": codes.SCT.LowerLimb,
        "pied_droit": codes.SCT.Foot,
        "pied_gauche": codes.SCT.Foot,
    }
    for site, code in expected.items():
        assert (dicom.SITES[site].snomed, dicom.SITES[site].meaning) == (code.value, code.meaning)
    assert dicom.LATERALITY_CODES["R"][0] == codes.SCT.Right.value
    assert dicom.LATERALITY_CODES["L"][0] == codes.SCT.Left.value
    for site, info in dicom.SITES.items():
        if site.endswith(("_droit", "_droite")):
            assert info.laterality == "R"
        elif site.endswith("_gauche"):
            assert info.laterality == "L"
        else:
            assert info.laterality == "U"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: jpeg_of(np.zeros((32, 32, 3), np.uint8), progressive=True), "jpeg_not_baseline"),
        (lambda: b"", "not_a_jpeg"),
        (lambda: b"GIF89a not a jpeg", "not_a_jpeg"),
        (lambda: jpeg_of(np.zeros((64, 64, 3), np.uint8))[:300], "not_a_jpeg"),
    ],
)
def test_unsuitable_jpegs_are_refused(make: object, code: str) -> None:
    assert callable(make)
    with pytest.raises(DicomError) as caught:
        to_dicom(make(), patient_ref="P-1")
    assert caught.value.code == code


def test_rotated_jpeg_is_refused_then_reencoded_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = jpeg_of(np.zeros((20, 40, 3), np.uint8), exif=exif)
    with pytest.raises(DicomError) as caught:
        to_dicom(rotated, patient_ref="P-1")
    assert caught.value.code == "jpeg_rotated"
    ds = pydicom.dcmread(io.BytesIO(to_dicom(baseline_jpeg(rotated), patient_ref="P-1")))
    assert (ds.Rows, ds.Columns) == (40, 20)


def test_damaged_exif_block_is_dropped_not_fatal() -> None:
    photo = jpeg_of(np.full((16, 16, 3), 90, np.uint8))
    damaged = with_segments(photo, segment(0xE1, b"Exif\x00\x00II*\x00\xff\xff\xff\x0f"))
    assert frame_bytes(to_dicom(damaged, patient_ref="P-1"))[: len(photo)] == photo


def test_progressive_and_png_are_reencoded_once_to_baseline() -> None:
    pixels = scene().image[:200, :300, ::-1]
    for source in (jpeg_of(pixels, progressive=True), png_of(pixels)):
        converted = baseline_jpeg(source)
        assert dicom.clean_jpeg(converted).data == converted  # baseline, nothing to strip
        back = np.asarray(Image.open(io.BytesIO(converted)).convert("RGB")).astype(int)
        assert np.abs(back - pixels.astype(int)).mean() < 4


def png_of(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("ref", ["", "   ", "a^b", "x=y", "back\\slash", "x" * 65, "tab\there"])
def test_bad_patient_references_are_refused(ref: str) -> None:
    with pytest.raises(DicomError) as caught:
        to_dicom(jpeg_of(np.zeros((8, 8, 3), np.uint8)), patient_ref=ref)
    assert caught.value.code == "bad_patient_ref"


def test_unknown_site_is_refused() -> None:
    with pytest.raises(DicomError) as caught:
        to_dicom(jpeg_of(np.zeros((8, 8, 3), np.uint8)), patient_ref="P", site="genou")
    assert caught.value.code == "unknown_site"


def test_baseline_jpeg_refuses_non_images() -> None:
    with pytest.raises(DicomError) as caught:
        baseline_jpeg(b"definitely not an image")
    assert caught.value.code == "not_an_image"


# --------------------------------------------------------------------------- import


def grey_dicom(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 12,
    slope: float = 1.0,
    intercept: float = 0.0,
    window: tuple[float, float] | None = None,
) -> bytes:
    signed = pixels.dtype.kind == "i"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:  # frame first
        ds.NumberOfFrames = pixels.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.astype("<i2" if signed else "<u2").tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def gradient(low: int, high: int, dtype: type = np.uint16) -> np.ndarray:
    row = np.linspace(low, high, 256).round()
    return np.tile(row, (64, 1)).astype(dtype)


def test_ct_like_16_bit_through_rescale_and_window(tmp_path: Path) -> None:
    stored = gradient(0, 4095)
    data = grey_dicom(stored, intercept=-1024.0, window=(40.0, 400.0))
    path = tmp_path / "ct.dcm"
    path.write_bytes(data)
    image = load_dicom(path)
    assert np.array_equal(image.pixels, stored)
    assert image.window == (40.0, 400.0)
    hu = image.modality_values()
    assert np.array_equal(hu, stored.astype(float) - 1024)
    shown = image.display()
    assert shown.dtype == np.uint8
    assert np.all(shown[hu <= -160] == 0)
    assert np.all(shown[hu > 239] == 255)
    assert np.all(np.diff(shown[0].astype(int)) >= 0)
    # pydicom's own VOI LUT, rescaled to 0-255, agrees within rounding
    ds = pydicom.dcmread(io.BytesIO(data))
    reference = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    reference = (reference - reference.min()) / (reference.max() - reference.min()) * 255
    assert np.max(np.abs(shown - reference)) <= 1.0


def test_signed_pixels_and_slope() -> None:
    stored = gradient(-2000, 2000, np.int16)
    image = load_dicom(grey_dicom(stored, bits_stored=16, slope=0.5, intercept=10.0))
    assert np.array_equal(image.pixels, stored)
    values = image.modality_values()
    assert values.min() == pytest.approx(-990.0)
    assert values.max() == pytest.approx(1010.0)
    shown = image.display()  # no window in the file: min/max
    assert shown[0, 0] == 0
    assert shown[0, -1] == 255


def test_every_frame_of_a_multi_frame_image_can_be_chosen() -> None:
    stack = np.stack([gradient(0, 1000) + 1000 * i for i in range(3)]).astype(np.uint16)
    image = load_dicom(grey_dicom(stack, slope=2.0, intercept=-100.0))
    assert (image.frames, image.frame) == (3, 0)
    assert np.array_equal(image.pixels, stack[0])  # the first is shown first
    third = image.with_frame(2)
    assert third.frame == 2
    assert np.array_equal(third.pixels, stack[2])
    assert np.array_equal(third.modality_values(), stack[2] * 2.0 - 100.0)
    assert not np.array_equal(third.display(), image.display())
    assert image.stored_range() == (-100.0, 3000 * 2.0 - 100.0)  # over every frame
    with pytest.raises(IndexError):
        image.with_frame(3)
    inverted = load_dicom(grey_dicom(stack, slope=-1.0, intercept=0.0))
    assert inverted.stored_range() == (-3000.0, 0.0)
    single = load_dicom(grey_dicom(stack[1]))
    assert (single.frames, single.stack) == (1, None)
    assert single.with_frame(0) is single
    with pytest.raises(IndexError):
        single.with_frame(1)


def test_monochrome1_is_inverted() -> None:
    stored = gradient(100, 3000)
    one = load_dicom(grey_dicom(stored, photometric="MONOCHROME1")).display()
    two = load_dicom(grey_dicom(stored, photometric="MONOCHROME2")).display()
    assert two[0, 0] == 0
    assert two[0, -1] == 255
    assert np.array_equal(one, 255 - two)


def test_uncompressed_rgb() -> None:
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[..., 0] = np.arange(48, dtype=np.uint8) * 5
    rgb[..., 1] = 77
    rgb[..., 2] = np.arange(32, dtype=np.uint8)[:, None] * 7
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = 32, 48
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = rgb.tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    image = load_dicom(out.getvalue())
    assert image.is_colour
    assert image.photometric == "RGB"
    assert np.array_equal(image.display(), rgb)


def test_our_own_export_reads_back(exported: dict[str, bytes]) -> None:
    image = load_dicom(exported["calibrated-hand"])
    assert image.modality == "XC"
    assert image.sop_class_uid == "1.2.840.10008.5.1.4.1.1.77.1.4"
    assert image.photometric == "RGB"  # decoded from YBR_FULL_422
    assert image.pixels.shape == (scenes.IMAGE_SIZE[1], scenes.IMAGE_SIZE[0], 3)
    original = scene().image[:, :, ::-1].astype(int)
    assert np.abs(image.display().astype(int) - original).mean() < 3  # JPEG at quality 90
    assert image.pixel_spacing is not None
    ds = pydicom.dcmread(io.BytesIO(exported["calibrated-hand"]))
    assert image.pixel_spacing == tuple(float(v) for v in ds.PixelSpacing)
    grey = load_dicom(exported["grey-other-site"])
    assert grey.photometric == "MONOCHROME2"
    assert grey.display().ndim == 2


def test_window_level_function() -> None:
    x = np.array([-1000.0, -160.0, -159.0, 39.5, 239.0, 239.5, 3000.0])
    y = window_level(x, 40.0, 400.0)
    assert y.tolist()[:2] == [0, 0]
    assert y[2] == round(((-159 - 39.5) / 399 + 0.5) * 255)
    assert y[3] == 128  # the centre maps to the middle
    assert y.tolist()[-2:] == [255, 255]
    assert window_level(np.array([9.0, 10.0]), 10.0, 1.0).tolist() == [0, 255]
    with pytest.raises(ValueError, match="width"):
        window_level(x, 40.0, 0.5)


def compressed_claim(syntax: str = JPEGLossless) -> bytes:
    """A dataset that says its pixels are compressed with ``syntax``, holding a JPEG stream
    with a lossless frame header and nothing else: damaged."""
    ds = pydicom.dcmread(io.BytesIO(grey_dicom(gradient(0, 100))))
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xc3" + b"\x00" * 64 + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def without_pixels() -> bytes:
    ds = pydicom.dcmread(io.BytesIO(grey_dicom(gradient(0, 100))))
    del ds.PixelData
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: b"", "not_dicom"),
        (lambda: b"this is plainly not DICOM", "not_dicom"),
        (lambda: jpeg_of(np.zeros((8, 8, 3), np.uint8)), "not_dicom"),
        (lambda: grey_dicom(gradient(0, 4095))[:20000], "dicom_damaged"),  # pixels cut short
        (lambda: b"\x00" * 128 + b"DICM" + b"\xff" * 50, "not_dicom"),
        (without_pixels, "dicom_no_pixels"),
        (compressed_claim, "dicom_damaged"),
        (lambda: compressed_claim("1.2.826.0.1.3680043.9.9999.1"), "dicom_unsupported"),
    ],
)
def test_bad_dicom_input_gives_a_typed_error(make: object, code: str) -> None:
    assert callable(make)
    with pytest.raises(DicomError) as caught:
        load_dicom(make())
    assert caught.value.code == code


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DicomError) as caught:
        load_dicom(tmp_path / "absent.dcm")
    assert caught.value.code == "unreadable"


@pytest.mark.parametrize(
    ("tool", "option", "syntax"),
    [
        ("dcmcjpeg", "+e1", "1.2.840.10008.1.2.4.70"),  # JPEG Lossless SV1: radiography's usual
        ("dcmcjpeg", "+el", "1.2.840.10008.1.2.4.57"),  # JPEG Lossless, Process 14
        ("dcmcjpls", "+el", "1.2.840.10008.1.2.4.80"),  # JPEG-LS Lossless
    ],
)
def test_lossless_compressed_radiographs_are_read_exactly(
    tmp_path: Path, tool: str, option: str, syntax: str
) -> None:
    """Files compressed by DCMTK (an independent implementation) read back bit for bit."""
    encoder = require_tool(tool)
    stored = np.random.default_rng(3).integers(0, 4096, (64, 256)).astype(np.uint16)
    source, packed = tmp_path / "plain.dcm", tmp_path / "packed.dcm"
    source.write_bytes(grey_dicom(stored, window=(2048.0, 4096.0)))
    subprocess.run([encoder, option, str(source), str(packed)], check=True, capture_output=True)
    assert pydicom.dcmread(packed).file_meta.TransferSyntaxUID == syntax
    image = load_dicom(packed)
    assert np.array_equal(image.pixels, stored)
    assert image.window == (2048.0, 4096.0)
    assert image.display().shape == (64, 256)
