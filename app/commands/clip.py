"""``passavant clip prepare IN -o OUT.mp4 [--keep-sound] [--start S --end S]``: a short video
made fit to join a request (issue 17 §2): faces blurred on every frame, sound dropped unless
asked, no metadata, at most 60 s and 1080p, H.264 in MP4. Prints the areas found. A bad
input (not a video, a damaged or truncated one, a 4-hour recording) gets one plain line and
exit status 1. Stays free of Qt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.common import CommandError
from app.i18n import _


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clip = subparsers.add_parser("clip", help="short video clips: faces blurred, no metadata")
    actions = clip.add_subparsers(dest="clip_command", metavar="ACTION", required=True)
    prepare = actions.add_parser("prepare", help="a clip made fit to join a request")
    prepare.add_argument("input", type=Path, metavar="IN", help="a video file")
    prepare.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.mp4")
    prepare.add_argument("--start", type=float, default=0.0, metavar="S", help="seconds")
    prepare.add_argument("--end", type=float, default=None, metavar="S", help="seconds")
    prepare.add_argument(
        "--keep-sound", action="store_true", help="keep the sound (dropped by default)"
    )
    prepare.set_defaults(handler=run_prepare)


def refusal(code: str) -> str:
    from capture.clips import MAX_CLIP_S, MAX_SOURCE_S

    texts = {
        "not_a_video": _("Ce fichier n’est pas une vidéo lisible."),
        "video_damaged": _("La vidéo est endommagée ou incomplète : elle ne peut pas être lue."),
        "video_too_long": _(
            "La vidéo dure plus de {minutes} minutes : choisissez un extrait plus court."
        ).format(minutes=round(MAX_SOURCE_S / 60)),
        "video_too_large": _("La vidéo est trop grande (taille ou définition)."),
        "clip_range": _(
            "L’extrait doit être dans la vidéo et durer au plus {seconds} secondes."
        ).format(seconds=round(MAX_CLIP_S)),
        "unreadable": _("Vidéo introuvable ou illisible."),
    }
    return texts.get(code, _("La vidéo n’a pas pu être préparée."))


def run_prepare(args: argparse.Namespace) -> int:
    from capture.clips import ClipError, prepare_clip

    try:
        report = prepare_clip(
            args.input, args.output, start=args.start, end=args.end, keep_sound=args.keep_sound
        )
    except ClipError as exc:
        raise CommandError(refusal(exc.code)) from exc
    except OSError as exc:
        raise CommandError(
            _("Impossible d’écrire l’extrait {path} : {why}").format(
                path=args.output, why=exc.strerror
            )
        ) from exc
    print(
        _("Extrait de {seconds} s ({frames} images, {width}×{height}) écrit : {path}").format(
            seconds=f"{report.seconds:.1f}",
            frames=report.frames,
            width=report.width,
            height=report.height,
            path=args.output,
        )
    )
    print(
        _("Visages floutés : {n} zone(s) trouvée(s) sur {samples} images analysées.").format(
            n=report.areas_found, samples=len(report.samples)
        )
    )
    print(_("Son conservé.") if report.sound_kept else _("Son supprimé."))
    print(_("Métadonnées supprimées (date, appareil, lieu)."))
    return 0
