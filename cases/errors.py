"""Errors of the case layer, each with a stable code the UI turns into a French sentence."""

from __future__ import annotations


class CaseError(Exception):
    """Base class. ``code`` is stable; the message is English, for logs and developers."""

    code = "case_error"


class PhotoError(CaseError):
    """A photo could not be imported (unreadable, not an image, too large)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidCase(CaseError):
    """A case is not ready to send; ``problems`` lists the codes of what is missing."""

    code = "invalid_case"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("case is incomplete: " + ", ".join(problems))
        self.problems = problems


class BundleError(CaseError):
    """A decrypted bundle is not a well-formed Passavant bundle, or is not meant for us."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
