"""A request's documents in its printed report: an annex after the report, each document
under its type, date and title, its pages as pictures (a PDF's pages rendered by PDFium on
its own worker, a DICOM image through its own window, a photographed result as it is).

Runs with the report's layout, on the pool (never on the GUI thread).
"""

from __future__ import annotations

import logging
from html import escape

import numpy as np
from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage, QTextDocument

from app.i18n import _
from cases.documents import Document
from widgets.documents import describe
from widgets.pdfview import _PDFIUM, Unrenderable, open_document, render_page

log = logging.getLogger(__name__)

PRINT_ZOOM = 150 / 96
"""A PDF page rendered at about 150 dpi for the printer."""
PRINTED_WIDTH = 620
"""A page's width in the report's layout."""


def pages_of(document: Document) -> list[QImage]:
    """The pictures of ``document``'s pages (empty when it cannot be read)."""
    try:
        data = document.data
        if document.is_pdf:
            return _PDFIUM.submit(_pdf_pages, data).result()
        if document.name.endswith(".dcm"):
            from capture.dicom_import import load_dicom

            return [_image_of(load_dicom(data).display())]
        image = QImage.fromData(data)
        return [] if image.isNull() else [image]
    except Exception as exc:  # noqa: BLE001 - one unreadable document never stops the report
        log.warning("a document is not printed: %s", type(exc).__name__)
        return []


def _pdf_pages(data: bytes) -> list[QImage]:
    """On the PDFium worker."""
    try:
        pdf = open_document(data)
    except Unrenderable:
        return []
    try:
        return [render_page(pdf, index, PRINT_ZOOM) for index in range(len(pdf))]
    finally:
        pdf.close()


def _image_of(pixels: np.ndarray) -> QImage:
    array = np.ascontiguousarray(pixels)
    rows, columns = array.shape[:2]
    if array.ndim == 2:
        return QImage(
            array.data, columns, rows, array.strides[0], QImage.Format.Format_Grayscale8
        ).copy()
    return QImage(array.data, columns, rows, array.strides[0], QImage.Format.Format_RGB888).copy()


def add_documents(report: QTextDocument, documents: tuple[Document, ...]) -> str:
    """Adds the pictures of ``documents`` to ``report``; returns the annex's HTML."""
    if not documents:
        return ""
    parts = [
        '<h3 style="page-break-before: always">' + escape(_("Annexe : documents joints")) + "</h3>"
    ]
    for n, document in enumerate(documents, 1):
        parts.append(f"<p><b>{escape(describe(document))}</b></p>")
        pages = pages_of(document)
        if not pages:
            parts.append(f"<p>{escape(_('Ce document ne peut pas être lu.'))}</p>")
        for p, image in enumerate(pages, 1):
            name = f"document-{n}-{p}"
            report.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
            parts.append(f'<p><img src="{name}" width="{PRINTED_WIDTH}"></p>')
    return "".join(parts)
