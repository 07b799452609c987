"""``passavant photo prepare``: what it prints, what it writes, one plain line on bad input."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from PIL import Image

from app.cli import main
from capture.faces import detect_faces
from tests.support import scenes

ROOT = Path(__file__).resolve().parents[2]


def face_photo(path: Path) -> Path:
    """A 3200×2400 photo stored sideways (EXIF orientation 6) with a face and metadata."""
    upright = scenes.with_face(scenes.skin_scene(3200, 2400), scenes.frontal_face(700), 300, 300)
    stored = cv2.rotate(upright, cv2.ROTATE_90_COUNTERCLOCKWISE)
    path.write_bytes(scenes.jpeg_with_metadata(stored, orientation=6))
    return path


def test_prepare_prints_one_line_per_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = face_photo(tmp_path / "DUPONT.jpg")
    out = tmp_path / "clean.jpg"
    status = main(["photo", "prepare", str(source), "-o", str(out), "--max-edge", "2000"])
    printed = capsys.readouterr()
    assert status == 0
    assert printed.err == ""
    lines = printed.out.splitlines()
    assert lines == [
        "Orientation corrigée : rotation de 90° dans le sens horaire.",
        "Taille réduite de 3200×2400 à 2000×1500 pixels.",
        "Couleurs : déjà en sRGB, rien à convertir.",
        "Visages floutés : 1.",
        "Métadonnées retirées : EXIF, position GPS, numéro de série de l’appareil, notes du "
        "fabricant, date de prise de vue, XMP, IPTC, commentaire.",
        lines[5],
    ]
    assert lines[5].startswith(f"Écrit : {out} (")
    assert lines[5].endswith("2000×1500 pixels, JPEG qualité 92).")
    data = out.read_bytes()
    for secret in scenes.SECRETS:
        assert secret not in data
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (2000, 1500)
        assert not img.getexif()
    assert detect_faces(cv2.imread(str(out))) == []


def test_no_anonymise_keeps_the_face_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = face_photo(tmp_path / "in.jpg")
    out = tmp_path / "out.jpg"
    assert main(["photo", "prepare", str(source), "-o", str(out), "--no-anonymise"]) == 0
    assert "Anonymisation désactivée : aucun visage recherché." in capsys.readouterr().out
    assert len(detect_faces(cv2.imread(str(out)))) == 1


def test_quality_warnings_are_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "dark.png"
    cv2.imwrite(str(source), scenes.blurred(scenes.exposed(scenes.skin_scene(800, 600), 0.2), 6))
    assert main(["photo", "prepare", str(source), "-o", str(tmp_path / "o.jpg")]) == 0
    out = capsys.readouterr().out
    assert "Attention : la photo semble sous-exposée." in out
    assert "Aucune métadonnée à retirer." in out
    assert "Taille conservée : 800×600 pixels." in out


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = scenes.encode_jpeg(scenes.skin_scene(800, 600))
    files = {
        "corrupt": (good[: len(good) // 3], "Ce fichier n’est pas une photo lisible"),
        "empty": (b"", "Le fichier est vide."),
        "huge": (scenes.png_bomb(), "Cette image est trop grande"),
        "not-an-image": (b"%PDF-1.7 not a photo\n" * 20, "Ce fichier n’est pas une photo lisible"),
    }
    found = {}
    for name, (content, sentence) in files.items():
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(content)
        found[name] = (path, sentence)
    return found


@pytest.mark.parametrize("kind", ["corrupt", "empty", "huge", "not-an-image"])
def test_bad_input_is_one_plain_line(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, sentence = bad_inputs(tmp_path)[kind]
    out = tmp_path / "out.jpg"
    status = main(["photo", "prepare", str(source), "-o", str(out)])
    printed = capsys.readouterr()
    assert status == 1
    assert printed.out == ""
    assert printed.err.count("\n") == 1
    assert printed.err.startswith("passavant: " + sentence)
    assert "Traceback" not in printed.err
    assert not out.exists()


def test_missing_input_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["photo", "prepare", str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "o")]) == 1
    assert (
        capsys.readouterr().err
        == f"passavant: Photo à préparer introuvable : {tmp_path / 'nope.jpg'}\n"
    )
    source = face_photo(tmp_path / "in.jpg")
    for option in (["--quality", "80"], ["--max-edge", "10"], ["--quality", "x"]):
        with pytest.raises(SystemExit) as stopped:
            main(["photo", "prepare", str(source), "-o", str(tmp_path / "o.jpg"), *option])
        assert stopped.value.code == 2
    assert "usage:" in capsys.readouterr().err
    assert main(["photo", "prepare", str(source), "-o", str(tmp_path / "no" / "dir.jpg")]) == 1
    assert capsys.readouterr().err.startswith("passavant: Impossible d’écrire la photo préparée ")


def test_photo_command_lists_its_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["photo", "--help"])
    assert "prepare" in capsys.readouterr().out


def test_real_process_refuses_a_bomb_and_prepares_a_photo(tmp_path: Path) -> None:
    bomb = bad_inputs(tmp_path)["huge"][0]
    done = subprocess.run(
        [sys.executable, "-m", "app", "photo", "prepare", str(bomb), "-o", str(tmp_path / "x")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "passavant: Cette image est trop grande (plus de 100 millions de pixels) : "
        "elle est refusée.\n"
    )
    source = face_photo(tmp_path / "in.jpg")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "--lang",
            "en",
            "photo",
            "prepare",
            str(source),
            "-o",
            str(tmp_path / "out.jpg"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == 6
    assert (tmp_path / "out.jpg").read_bytes()[:2] == b"\xff\xd8"
