"""``passavant photo prepare``: make a photo fit to join a case, and say what was done.

``photo prepare IN -o OUT [--max-edge 3000] [--quality 92] [--no-anonymise]`` turns the photo
upright, converts it to sRGB, caps its size, detects faces and blurs them (the command
confirms the detected regions itself: there is no one to ask), strips every metadata and
writes a baseline JPEG; then prints one line per action. A bad input (empty, damaged, not
an image, or a decompression bomb) gets one plain line and exit status 1.

The ``photo`` command's other actions (``measure``, ``to-dicom``) come from
``app.commands.photo_dicom`` when it is present. Stays free of Qt.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from app.commands.common import CommandError
from app.i18n import _

if TYPE_CHECKING:
    from capture.prepare import PrepareReport


def _bounded(low: int, high: int) -> type[int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}")
        return value

    return parse  # type: ignore[return-value]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``photo`` and its actions."""
    photo = subparsers.add_parser("photo", help="prepare, measure and export clinical photos")
    actions = photo.add_subparsers(dest="photo_command", metavar="ACTION", required=True)
    prepare = actions.add_parser(
        "prepare",
        help="orient, strip metadata, cap the size, blur faces; write a clean JPEG",
    )
    prepare.add_argument("input", type=Path, metavar="IN", help="the photo (JPEG, PNG, TIFF, HEIC)")
    prepare.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    prepare.add_argument(
        "--max-edge", type=_bounded(64, 20_000), default=3000, help="long edge cap (pixels)"
    )
    prepare.add_argument(
        "--quality", type=_bounded(92, 100), default=92, help="JPEG quality, 92 to 100"
    )
    prepare.add_argument(
        "--no-anonymise",
        action="store_true",
        help="do not look for faces (nothing is blurred)",
    )
    prepare.set_defaults(handler=run_prepare)
    try:
        from app.commands.photo_dicom import register_photo
    except ModuleNotFoundError as error:
        if error.name != "app.commands.photo_dicom":
            raise
    else:
        register_photo(actions)


def run_prepare(args: argparse.Namespace) -> int:
    """Prepares ``args.input`` into ``args.output`` and prints what was done."""
    from capture.faces_decoding import load_and_propose
    from capture.loading import load_image
    from capture.prepare import prepare
    from capture.quality import assess

    source: Path = args.input
    if not source.is_file():
        raise CommandError(_("Photo à préparer introuvable : {path}").format(path=source))
    regions = None
    if args.no_anonymise:
        loaded = load_image(source, max_long_edge=args.max_edge)
    else:  # detection runs during the decoding
        loaded, regions = load_and_propose(source, max_long_edge=args.max_edge)
        regions.confirm()  # no one to ask on a command line: the detection is taken as is
    quality = assess(loaded.pixels(1024), order="rgb")
    prepared = prepare(
        loaded,
        max_long_edge=args.max_edge,
        quality=args.quality,
        regions=regions,
        anonymise=not args.no_anonymise,
    )
    output: Path = args.output
    try:
        output.write_bytes(prepared.data)
    except OSError as exc:
        raise CommandError(
            _("Impossible d’écrire la photo préparée {path} : {why}").format(
                path=output, why=exc.strerror
            )
        ) from exc
    for line in report_lines(prepared.report, anonymise=not args.no_anonymise):
        print(line)
    for flag in sorted(quality.flags):
        print(quality_warning(flag))
    from app.messages import human_size

    print(
        _("Écrit : {path} ({size}, {w}×{h} pixels, JPEG qualité {q}).").format(
            path=output,
            size=human_size(len(prepared.data)),
            w=prepared.width,
            h=prepared.height,
            q=args.quality,
        )
    )
    return 0


def report_lines(report: PrepareReport, *, anonymise: bool) -> list[str]:
    """One sentence per action of a :class:`capture.prepare.PrepareReport`."""
    lines = []
    if report.rotated:
        how = _orientation_label(report.orientation)
        lines.append(_("Orientation corrigée : {how}.").format(how=how))
    else:
        lines.append(_("Orientation : déjà droite."))
    (w0, h0), (w1, h1) = report.original_size, report.final_size
    if report.resized:
        lines.append(
            _("Taille réduite de {w0}×{h0} à {w1}×{h1} pixels.").format(w0=w0, h0=h0, w1=w1, h1=h1)
        )
    else:
        lines.append(_("Taille conservée : {w}×{h} pixels.").format(w=w1, h=h1))
    if report.colour_source:
        lines.append(
            _("Couleurs converties de « {profile} » vers sRGB.").format(
                profile=report.colour_source
            )
        )
    else:
        lines.append(_("Couleurs : déjà en sRGB, rien à convertir."))
    if not anonymise:
        lines.append(_("Anonymisation désactivée : aucun visage recherché."))
    elif report.regions_blurred:
        lines.append(_("Visages floutés : {n}.").format(n=report.regions_blurred))
    else:
        lines.append(_("Aucun visage détecté : rien à flouter."))
    if report.metadata_removed:
        names = ", ".join(metadata_label(code) for code in report.metadata_removed)
        lines.append(_("Métadonnées retirées : {names}.").format(names=names))
    else:
        lines.append(_("Aucune métadonnée à retirer."))
    return lines


def _orientation_label(value: int) -> str:
    labels = {
        2: _("miroir horizontal"),
        3: _("rotation de 180°"),
        4: _("miroir vertical"),
        5: _("transposition"),
        6: _("rotation de 90° dans le sens horaire"),
        7: _("transposition inverse"),
        8: _("rotation de 90° dans le sens antihoraire"),
    }
    return labels.get(value, str(value))


def metadata_label(code: str) -> str:
    """The name of a kind of metadata (codes of :func:`capture.loading.found_metadata`)."""
    labels = {
        "exif": "EXIF",
        "gps": _("position GPS"),
        "serial_number": _("numéro de série de l’appareil"),
        "maker_notes": _("notes du fabricant"),
        "capture_date": _("date de prise de vue"),
        "thumbnail": _("vignette intégrée"),
        "xmp": "XMP",
        "iptc": "IPTC",
        "comment": _("commentaire"),
        "text": _("textes PNG"),
        "extra_images": _("images annexes"),
    }
    return labels.get(code, code)


def quality_warning(flag: str) -> str:
    """The warning for a quality flag of :func:`capture.quality.assess`."""
    labels = {
        "blurry": _("Attention : la photo semble floue."),
        "overexposed": _("Attention : la photo semble surexposée."),
        "underexposed": _("Attention : la photo semble sous-exposée."),
    }
    return labels.get(flag, flag)
