"""Errors of the case layer, each with a stable code the UI turns into a French sentence."""

from __future__ import annotations


class CaseError(Exception):
    """Base class. ``code`` is stable; the message is English, for logs and developers."""

    code = "case_error"


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


class UnsupportedFormat(BundleError):
    """The bundle declares a format version this Passavant does not read."""

    code = "unsupported_format"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class MalformedBundle(BundleError):
    """The bundle's ZIP or manifest is damaged, incoherent or unsafe (hash, size, names)."""

    code = "malformed_bundle"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class NotAddressedToYou(BundleError):
    """The reader's certificate is not among the recipients the signed manifest names."""

    code = "not_addressed_to_you"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class SenderMismatch(BundleError):
    """The certificate that signed the bundle is not the sender the manifest names."""

    code = "sender_mismatch"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class AlreadyOpened(BundleError):
    """This bundle id was opened before on this workstation (a replay, or a second copy)."""

    code = "already_opened"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class TrustError(CaseError):
    """The trust store or the address book refused a certificate or a name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
