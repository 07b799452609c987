"""``passavant photo measure`` and ``passavant photo to-dicom``: calibrated measurement, DICOM.

``app.commands.photo`` calls :func:`register_photo` with its ``photo`` sub-parsers. The
module also runs on its own (``python -m app.commands.photo_dicom measure …``).

- ``photo measure IN [--marker-mm 20] [--line X1 Y1 X2 Y2] [--polygon X1 Y1 X2 Y2 …] [--json]``
  finds the ArUco marker in the photo and measures a line and/or an outline given in the
  photo's pixel coordinates (upright, as viewers show it): mm and cm² when calibrated,
  pixels with the reason otherwise.
- ``photo to-dicom IN -o OUT.dcm --patient REF [--site CODE] [--marker-mm 20]`` writes a
  VL Photographic Image; a baseline JPEG is wrapped as is, any other image is re-encoded
  once (and the command says so). Pixel Spacing is set when a marker is found.

Stays free of Qt.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands.common import CommandError, dispatch
from app.i18n import _, language

if TYPE_CHECKING:
    from capture.measure import Calibration, Measurement

REENCODE_CODES = ("not_a_jpeg", "jpeg_not_baseline", "jpeg_rotated")


def register_photo(photo: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``measure`` and ``to-dicom`` to the ``photo`` command's sub-parsers."""
    measure = photo.add_parser(
        "measure", help="measure a wound on a photo with its 20 mm ArUco marker"
    )
    measure.add_argument("input", type=Path, metavar="IN", help="the photo")
    measure.add_argument("--marker-mm", type=float, default=20.0, help="marker side (mm)")
    measure.add_argument(
        "--line",
        type=float,
        nargs=4,
        metavar=("X1", "Y1", "X2", "Y2"),
        help="a segment to measure, in pixels of the photo",
    )
    measure.add_argument(
        "--polygon",
        type=float,
        nargs="+",
        metavar="XY",
        help="an outline to measure: X1 Y1 X2 Y2 X3 Y3 … (at least 3 points)",
    )
    measure.add_argument("--json", action="store_true", help="print one JSON object")
    measure.set_defaults(handler=run_measure)

    export = photo.add_parser("to-dicom", help="export a photo as a DICOM VL Photographic Image")
    export.add_argument("input", type=Path, metavar="IN", help="the photo (JPEG, PNG…)")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    export.add_argument("--patient", required=True, metavar="REF", help="pseudonymous reference")
    export.add_argument("--site", default=None, metavar="CODE", help="body site code")
    export.add_argument("--marker-mm", type=float, default=20.0, help="marker side (mm)")
    export.set_defaults(handler=run_to_dicom)


def run_measure(args: argparse.Namespace) -> int:
    from capture import measure

    if args.marker_mm <= 0:
        raise CommandError(_("La taille du marqueur doit être positive."), status=2)
    outline = _outline(args.polygon)
    image = measure.decode_image(_read(args.input))
    cal = measure.find_marker(image, marker_mm=args.marker_mm)
    results: list[measure.Measurement] = []
    if args.line is not None:
        x1, y1, x2, y2 = args.line
        results.append(measure.line_measurement(cal, (x1, y1), (x2, y2)))
    if outline is not None:
        results.append(measure.polygon_measurement(cal, outline))
    report = _report(cal, results)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for line in _sentences(report):
            print(line)
    return 0


def run_to_dicom(args: argparse.Namespace) -> int:
    from capture import dicom, measure
    from capture.errors import DicomError
    from capture.jpeg import baseline_jpeg, clean_jpeg

    if args.marker_mm <= 0:
        raise CommandError(_("La taille du marqueur doit être positive."), status=2)
    if args.site is not None and args.site not in dicom.SITES:
        raise CommandError(
            _("Localisation inconnue : {site} (valeurs : {choices}).").format(
                site=args.site, choices=", ".join(dicom.SITES)
            ),
            status=2,
        )
    data = _read(args.input)
    jpeg, reencoded = data, False
    try:
        clean_jpeg(data)  # wrapped as is when it can be
    except DicomError as error:
        if error.code not in REENCODE_CODES:
            raise
        jpeg = baseline_jpeg(data)
        reencoded = True
    cal = measure.find_marker(measure.decode_image(jpeg), marker_mm=args.marker_mm)
    out = dicom.to_dicom(jpeg, patient_ref=args.patient, site=args.site, calibration=cal)
    try:
        args.output.write_bytes(out)
    except OSError as error:
        raise CommandError(
            _("Écriture impossible de {path} : {why}").format(path=args.output, why=error.strerror)
        ) from error
    if reencoded:
        print(_("Photo réencodée une fois en JPEG standard pour le DICOM."))
    if cal is None:
        print(
            _("DICOM écrit : {path} (sans échelle : aucun marqueur trouvé).").format(
                path=args.output
            )
        )
    else:
        row, column = cal.spacing_at_marker()
        print(
            _("DICOM écrit : {path} (échelle au marqueur : {mm} mm par pixel).").format(
                path=args.output, mm=_number((row + column) / 2, 4)
            )
        )
    return 0


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as error:
        raise CommandError(
            _("Aucune photo à cet emplacement : {path}").format(path=path)
        ) from error
    except OSError as error:
        raise CommandError(
            _("Lecture impossible de {path} : {why}").format(path=path, why=error.strerror)
        ) from error


def _outline(values: list[float] | None) -> list[tuple[float, float]] | None:
    if values is None:
        return None
    if len(values) % 2 or len(values) < 6:
        raise CommandError(_("--polygon attend des paires X Y, au moins 3 points."), status=2)
    return [(values[i], values[i + 1]) for i in range(0, len(values), 2)]


def _report(cal: Calibration | None, results: list[Measurement]) -> dict[str, Any]:
    """The JSON object: flat keys for each measure, plus the storable measurements."""
    from app.messages import reason

    report: dict[str, Any] = {"calibrated": cal is not None}
    if cal is None:
        report["reason"] = "no_marker"
        report["reason_text"] = reason("no_marker")
    else:
        row, column = cal.spacing_at_marker()
        report["marker"] = {
            "id": cal.marker_id,
            "mm": cal.marker_mm,
            "side_px": round(cal.marker_side_px, 2),
            "mm_per_px": [round(row, 6), round(column, 6)],
        }
    unit = "mm" if cal is not None else "px"
    for m in results:
        if m.kind == "line":
            report[f"length_{unit}"] = round(m.length, 3)
        else:
            report["area_cm2" if cal is not None else "area_px2"] = round(m.area or 0.0, 4)
            report[f"longest_{unit}"] = round(m.length, 3)
            report[f"perimeter_{unit}"] = round(m.perimeter or 0.0, 3)
    report["measurements"] = [m.to_dict() for m in results]
    return report


def _sentences(report: dict[str, Any]) -> list[str]:
    lines = []
    if report["calibrated"]:
        marker = report["marker"]
        lines.append(
            _("Étalonné : marqueur {id} de {mm} mm ({px} pixels de côté).").format(
                id=marker["id"], mm=_number(marker["mm"], 1), px=_number(marker["side_px"], 0)
            )
        )
    else:
        lines.append(_("Non étalonné : {why}").format(why=report["reason_text"]))
    if "length_mm" in report:
        lines.append(_("Longueur : {v} mm").format(v=_number(report["length_mm"], 1)))
    if "length_px" in report:
        lines.append(_("Longueur : {v} pixels").format(v=_number(report["length_px"], 1)))
    if "area_cm2" in report:
        lines.append(
            _("Surface : {a} cm², plus grande longueur {l} mm, périmètre {p} mm").format(
                a=_number(report["area_cm2"], 2),
                l=_number(report["longest_mm"], 1),
                p=_number(report["perimeter_mm"], 1),
            )
        )
    if "area_px2" in report:
        lines.append(
            _("Surface : {a} pixels², plus grande longueur {l} pixels").format(
                a=_number(report["area_px2"], 0), l=_number(report["longest_px"], 1)
            )
        )
    return lines


def _number(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if language() == "fr" else text


def main(argv: list[str] | None = None) -> int:
    """``python -m app.commands.photo_dicom measure|to-dicom …`` (the same commands)."""
    parser = argparse.ArgumentParser(prog="passavant photo")
    register_photo(parser.add_subparsers(dest="photo_command", required=True))
    return dispatch(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
