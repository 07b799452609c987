"""``passavant document prepare IN -o OUT``: a document made fit to join a request.

A PDF is made safe (no JavaScript, actions, embedded files, forms, external links nor
metadata), a DICOM loses the patient's identity, a photographed paper result its metadata;
the command prints what it removed. A bad input (not a document, a PDF with a password, too
many pages, a damaged file) gets one plain line and exit status 1. Stays free of Qt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.commands.common import CommandError
from app.i18n import _


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``document`` and its action."""
    document = subparsers.add_parser(
        "document", help="make exam results and documents safe to attach to a request"
    )
    actions = document.add_subparsers(dest="document_command", metavar="ACTION", required=True)
    prepare = actions.add_parser(
        "prepare",
        help="a PDF made safe, a DICOM de-identified or a photographed result cleaned",
    )
    prepare.add_argument("input", type=Path, metavar="IN", help="PDF, DICOM or photo")
    prepare.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    prepare.set_defaults(handler=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    """Prepares ``args.input`` into ``args.output`` and prints what was removed."""
    from app.document_texts import refusal, removed_lines, warning_lines
    from app.messages import human_size
    from capture.dicom_import import MAX_FILE_BYTES
    from capture.documents import MAX_IMAGE_BYTES, prepare_document

    source: Path = args.input
    try:
        with source.open("rb") as handle:  # never more than the largest kind accepts
            data = handle.read(max(MAX_FILE_BYTES, MAX_IMAGE_BYTES) + 1)
    except OSError as exc:
        raise CommandError(
            _("Document introuvable ou illisible : {path}").format(path=source)
        ) from exc
    try:
        prepared = prepare_document(data)
    except Exception as exc:
        code = getattr(exc, "code", None)
        if not isinstance(code, str):
            raise
        raise CommandError(refusal(code)) from exc
    try:
        args.output.write_bytes(prepared.data)
    except OSError as exc:
        raise CommandError(
            _("Impossible d’écrire le document préparé {path} : {why}").format(
                path=args.output, why=exc.strerror
            )
        ) from exc
    for line in removed_lines(prepared.removed):
        print(line)
    for line in warning_lines(getattr(prepared, "warnings", ())):  # a DICOM's burned-in text
        print(line)
    kinds = {"pdf": "PDF", "dcm": "DICOM", "jpg": "JPEG"}
    print(
        _("Écrit : {path} ({kind}, {pages} page(s), {size}).").format(
            path=args.output,
            kind=kinds[prepared.suffix],
            pages=prepared.pages,
            size=human_size(len(prepared.data)),
        )
    )
    return 0
