"""Error codes of the outbox and inbox, and the one exception that carries them.

The codes are stable: the UI maps each to a plain French sentence, and they are stored in the
queue database (``last_error_code``). Details are for the "more" button and the logs; they never
hold clinical content, only protocol facts (status codes, exception types).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Why a transfer failed, in words the operator can act on."""

    NETWORK_UNREACHABLE = "network_unreachable"
    TIMEOUT = "timeout"
    PROXY_ERROR = "proxy_error"
    TLS_ERROR = "tls_error"
    AUTH_FAILED = "auth_failed"
    SERVER_ERROR = "server_error"
    REJECTED = "rejected"
    UNKNOWN_RECIPIENT = "unknown_recipient"
    TOO_LARGE = "too_large"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    UPLOAD_EXPIRED = "upload_expired"
    DISK_ERROR = "disk_error"
    QUOTA_EXCEEDED = "quota_exceeded"
    PLATFORM_FULL = "platform_full"
    ROUTE_FORBIDDEN = "route_forbidden"
    # two PCs on one desk (outbox.handover): the folder or stick is not there; the networked
    # PC refused what was handed over (not a sealed bundle for a recipient it knows)
    HANDOVER_UNREACHABLE = "handover_unreachable"
    HANDOVER_REFUSED = "handover_refused"


ERROR_CODES: frozenset[str] = frozenset(code.value for code in ErrorCode)

# Codes that a later attempt may fix on its own. The others need a human (a wrong certificate
# store or token, a recipient that left the directory, a file too large for the platform, a
# damaged spool file): the job is quarantined so the rest of the queue keeps flowing. A checksum
# mismatch is retried once from zero by the sender, then quarantined.
RETRYABLE_CODES: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.NETWORK_UNREACHABLE,
        ErrorCode.TIMEOUT,
        ErrorCode.PROXY_ERROR,
        ErrorCode.SERVER_ERROR,
        ErrorCode.CHECKSUM_MISMATCH,
        ErrorCode.UPLOAD_EXPIRED,
        # The platform's limits: the station's quota frees up (Retry-After says when), the
        # platform's disk gets room. A route refused needs the platform's administrator.
        ErrorCode.QUOTA_EXCEEDED,
        ErrorCode.PLATFORM_FULL,
        ErrorCode.HANDOVER_UNREACHABLE,  # the stick comes back, the share reconnects
    }
)


class OutboxError(Exception):
    """A transfer failure with a stable code.

    Attributes:
        code: One of :data:`ERROR_CODES`.
        detail: A short technical explanation (no clinical content).
        retryable: Whether retrying later may succeed without human action.
        status: The HTTP status code when the failure came from an HTTP answer, else ``None``.
        retry_after: Seconds the platform asked to wait (``Retry-After``), else ``None``.
    """

    def __init__(
        self,
        code: ErrorCode | str,
        detail: str = "",
        *,
        retryable: bool | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Builds the error.

        Args:
            code: One of :data:`ERROR_CODES`.
            detail: A short technical explanation.
            retryable: Overrides the default taken from :data:`RETRYABLE_CODES`.
            status: The HTTP status code, if any.
            retry_after: The platform's ``Retry-After``, in seconds, if it sent one.

        Raises:
            ValueError: If ``code`` is not a known code.
        """
        error_code = ErrorCode(code)
        super().__init__(f"{error_code.value}: {detail}" if detail else error_code.value)
        self.code: str = error_code.value
        self.detail = detail
        self.retryable = error_code in RETRYABLE_CODES if retryable is None else retryable
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"OutboxError(code={self.code!r}, detail={self.detail!r}, "
            f"retryable={self.retryable!r}, status={self.status!r}, "
            f"retry_after={self.retry_after!r})"
        )
