"""``passavant photo measure`` and ``passavant photo to-dicom`` on real files.

The commands are registered by ``app.commands.photo`` (which calls
``app.commands.photo_dicom.register_photo``). Until that module wires them into
``passavant photo``, these tests drive the same ``register_photo`` through
``app.commands.photo_dicom.main`` (its own parser, the shared ``dispatch``).
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from PIL import Image

from app import cli
from app.commands import photo_dicom
from tests.support import aruco_scenes as scenes
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


def wired() -> bool:
    """Whether ``passavant photo measure`` exists in the real command line."""
    parser = cli.build_parser()
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        photo = getattr(action, "choices", {}).get("photo")
        if photo is not None and photo._subparsers is not None:
            return any("measure" in a.choices for a in photo._subparsers._group_actions)
    return False


def run(argv: list[str]) -> int:
    if wired():
        return cli.main(["photo", *argv])
    return photo_dicom.main(argv)


def command() -> list[str]:
    module = ["-m", "app", "photo"] if wired() else ["-m", "app.commands.photo_dicom"]
    return [sys.executable, *module]


def coordinates(points: list[tuple[float, float]]) -> list[str]:
    return [f"{v:.3f}" for point in points for v in point]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("photos")
    tilted = scenes.render(tilt_x_deg=25, tilt_y_deg=-15, roll_deg=8, marker_angle_deg=30)
    bare = scenes.render(marker=False)
    files = {}
    for name, s in (("tilted", tilted), ("bare", bare)):
        path = folder / f"{name}.jpg"
        ok, encoded = cv2.imencode(".jpg", s.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        path.write_bytes(encoded.tobytes())
        files[name] = path
    png = folder / "tilted.png"
    png.write_bytes(cv2.imencode(".png", tilted.image)[1].tobytes())
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(files["tilted"].read_bytes()[:2000])
    text = folder / "notes.jpg"
    text.write_text("compte rendu, pas une image\n", "utf-8")
    return {
        **files,
        "png": png,
        "empty": empty,
        "corrupt": corrupt,
        "text": text,
        "scene": tilted,
        "bare_scene": bare,
    }


def test_measure_json_calibrated(
    photos: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    s = photos["scene"]
    assert isinstance(s, scenes.Scene)
    argv = ["measure", str(photos["tilted"]), "--json", "--line", *coordinates(s.line_px)]
    argv += ["--polygon", *coordinates(s.wound_px)]
    assert run(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibrated"] is True
    assert "reason" not in report
    assert abs(report["length_mm"] - 50.0) / 50.0 <= 0.03
    true_area = scenes.polygon_area(s.wound_mm) / 100
    assert abs(report["area_cm2"] - true_area) / true_area <= 0.03
    assert abs(report["longest_mm"] - 40.0) / 40.0 <= 0.03
    assert [m["kind"] for m in report["measurements"]] == ["line", "polygon"]
    assert report["marker"]["id"] == 0


def test_measure_json_without_marker(
    photos: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    s = photos["bare_scene"]
    assert isinstance(s, scenes.Scene)
    argv = ["measure", str(photos["bare"]), "--json", "--line", *coordinates(s.line_px)]
    assert run(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibrated"] is False
    assert report["reason"] == "no_marker"
    assert "length_mm" not in report
    assert report["length_px"] == pytest.approx(math.dist(*s.line_px), abs=0.01)


def test_measure_prints_french_sentences(
    photos: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    s = photos["scene"]
    assert isinstance(s, scenes.Scene)
    assert run(["measure", str(photos["tilted"]), "--polygon", *coordinates(s.wound_px)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Étalonné : marqueur 0 de 20,0 mm")
    assert "Surface : " in out
    assert " cm², plus grande longueur " in out


def test_measure_refuses_an_odd_polygon(
    photos: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["measure", str(photos["tilted"]), "--polygon", "1", "2", "3", "4", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--polygon" in err


def test_to_dicom_with_a_marker(
    photos: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "photo.dcm"
    argv = ["to-dicom", str(photos["tilted"]), "-o", str(out), "--patient", "UCSA-17"]
    assert run([*argv, "--site", "main_droite"]) == 0
    printed = capsys.readouterr().out
    assert "échelle au marqueur" in printed
    assert "réencodée" not in printed  # the camera's baseline JPEG is wrapped as is
    ds = pydicom.dcmread(out)
    assert ds.PatientID == "UCSA-17"
    assert ds.ImageLaterality == "R"
    assert len(ds.PixelSpacing) == 2
    frame = next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1))
    original = Path(str(photos["tilted"])).read_bytes()  # OpenCV writes no APP1-15 nor COM
    assert frame in (original, original + b"\x00")
    validator = require_tool("dciodvfy")
    result = subprocess.run([validator, str(out)], capture_output=True, text=True, timeout=60)
    lines = (result.stdout + result.stderr).splitlines()
    assert [line for line in lines if line.startswith(("Error", "Warning"))] == []


def test_to_dicom_reencodes_a_png_once(
    photos: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "png.dcm"
    assert run(["to-dicom", str(photos["png"]), "-o", str(out), "--patient", "P-9"]) == 0
    assert "réencodée" in capsys.readouterr().out
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGBaseline8Bit
    decoded = np.asarray(
        Image.open(
            io.BytesIO(next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1)))
        ).convert("RGB")
    )
    scene = photos["scene"]
    assert isinstance(scene, scenes.Scene)
    assert np.abs(decoded.astype(int) - scene.image[:, :, ::-1].astype(int)).mean() < 3


def test_to_dicom_unknown_site_is_a_usage_error(
    photos: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["to-dicom", str(photos["tilted"]), "-o", str(tmp_path / "x.dcm"), "--patient", "P"]
    assert run([*argv, "--site", "genou"]) == 2
    assert "genou" in capsys.readouterr().err
    assert not (tmp_path / "x.dcm").exists()


@pytest.mark.parametrize("bad", ["empty", "corrupt", "text", "missing"])
@pytest.mark.parametrize("action", ["measure", "to-dicom"])
def test_bad_input_is_one_plain_line(
    bad: str,
    action: str,
    photos: dict[str, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "absent.jpg" if bad == "missing" else photos[bad]
    argv = [action, str(path)]
    if action == "to-dicom":
        argv += ["-o", str(tmp_path / "out.dcm"), "--patient", "P-1"]
    assert run(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("passavant: ")
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out.dcm").exists()


def test_real_process_bad_and_good_input(photos: dict[str, object], tmp_path: Path) -> None:
    bad = subprocess.run(
        [*command(), "measure", str(photos["corrupt"]), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert bad.stderr.startswith("passavant: ")
    assert bad.stderr.count("\n") == 1
    assert "Traceback" not in bad.stderr
    out = tmp_path / "p.dcm"
    good = subprocess.run(
        [*command(), "to-dicom", str(photos["tilted"]), "-o", str(out), "--patient", "P-3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert pydicom.dcmread(out).SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4"
