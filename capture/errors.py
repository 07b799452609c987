"""Errors of the capture engine, each with a stable ``code`` the UI turns into a sentence.

The message of an exception is English, for logs and developers; ``app.messages.reason``
gives the French sentence for the code. Codes never carry a file name or any clinical detail.
"""

from __future__ import annotations

NOT_AN_IMAGE = "not_an_image"
"""The bytes are not an image Pillow can read (unknown format, or a damaged file)."""
EMPTY_FILE = "empty_file"
"""The file or buffer holds zero bytes."""
IMAGE_TOO_LARGE = "image_too_large"
"""Too many pixels (decompression-bomb guard, checked before decoding) or too many bytes."""
UNREADABLE = "unreadable"
"""The file cannot be read (missing, permissions, I/O error)."""
CAMERA_UNAVAILABLE = "camera_unavailable"
"""The camera (or the video standing in for it) cannot be opened."""
CAMERA_DISCONNECTED = "camera_disconnected"
"""The camera stopped delivering frames and did not come back within the retry budget."""
UNSUPPORTED_IMAGE_FORMAT = "unsupported_image_format"
"""A readable image in a format the capture station does not accept (GIF, BMP, WebP…).

Not ``unsupported_format``: that code already means a bundle of an unknown version."""
ANONYMISATION_UNCONFIRMED = "anonymisation_unconfirmed"
"""A photo to anonymise was prepared before the doctor confirmed the areas to blur."""
NOT_WIPED = "not_wiped"
"""A photo file of the watched folder could not be overwritten and removed."""

CODES = frozenset(
    {
        NOT_AN_IMAGE,
        EMPTY_FILE,
        IMAGE_TOO_LARGE,
        UNREADABLE,
        CAMERA_UNAVAILABLE,
        CAMERA_DISCONNECTED,
        UNSUPPORTED_IMAGE_FORMAT,
        ANONYMISATION_UNCONFIRMED,
        NOT_WIPED,
    }
)


class CaptureError(Exception):
    """A capture failure. ``code`` is one of :data:`CODES`; the message is for logs."""

    code = "capture_error"

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown capture error code {code!r}")
        super().__init__(message)
        self.code = code


class AnonymisationUnconfirmed(CaptureError):
    """:func:`capture.prepare.prepare` was asked to anonymise with unconfirmed regions."""

    def __init__(self, message: str = "the areas to blur have not been confirmed") -> None:
        super().__init__(ANONYMISATION_UNCONFIRMED, message)


class DicomError(Exception):
    """A DICOM could not be written or read. ``code`` is stable; the message is English.

    Codes: ``not_a_jpeg``, ``jpeg_not_baseline``, ``jpeg_rotated``, ``not_an_image``,
    ``bad_patient_ref``, ``unknown_site``, ``not_dicom``, ``dicom_no_pixels``,
    ``dicom_unsupported`` (no decoder for its compression), ``dicom_damaged`` (a decoder,
    but the compressed pixels are corrupt), ``unreadable``.
    """

    code = "dicom_error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
