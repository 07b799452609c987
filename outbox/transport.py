"""One HTTPS session to the regional platform, with timeouts and error mapping.

Every request goes through :meth:`Transport.request`, which sets explicit connect and read
timeouts (a silent socket never hangs a worker), refuses to send the bearer token to another
origin, never follows redirects, and turns every failure into an :class:`OutboxError`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError

from outbox.errors import ErrorCode, OutboxError

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"


@dataclass(frozen=True)
class PlatformConfig:
    """Where the platform is and how to talk to it.

    Attributes:
        url: Base URL, e.g. ``https://platform.example:8443``.
        token: The station's bearer token.
        ca_file: CA bundle that signs the platform's certificate (``None``: the system store).
        connect_timeout: Seconds to wait for a connection (TLS handshake included).
        read_timeout: Seconds to wait for any byte of an answer, or to push a chunk.
    """

    url: str
    token: str
    ca_file: Path | None
    connect_timeout: float = 5
    read_timeout: float = 30

    def __repr__(self) -> str:
        # Keep the token out of logs and tracebacks.
        return f"PlatformConfig(url={self.url!r}, ca_file={self.ca_file!r})"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Tells whether ``exc`` or anything it wraps (causes, contexts, reasons) is of ``kinds``."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, kinds):
            return True
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return False


def error_for_exception(exc: requests.RequestException) -> OutboxError:
    """Maps a ``requests`` failure (no HTTP answer) to an :class:`OutboxError`."""
    kind = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        # A certificate problem needs a human; a handshake cut by the network does not.
        if _caused_by(exc, (ssl.SSLCertVerificationError,)):
            return OutboxError(ErrorCode.TLS_ERROR, f"certificate rejected ({kind})")
        return OutboxError(ErrorCode.NETWORK_UNREACHABLE, f"TLS handshake interrupted ({kind})")
    # requests reports a read timeout in the middle of a body as a ConnectionError.
    if isinstance(exc, requests.exceptions.Timeout) or _caused_by(exc, (ReadTimeoutError,)):
        return OutboxError(ErrorCode.TIMEOUT, f"no answer in time ({kind})")
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return OutboxError(ErrorCode.REJECTED, f"invalid platform URL ({kind})")
    return OutboxError(ErrorCode.NETWORK_UNREACHABLE, f"connection failed ({kind})")


def error_for_status(status: int, body: str, *, upload: bool = False) -> OutboxError:
    """Maps an unexpected HTTP status to an :class:`OutboxError`.

    Args:
        status: The HTTP status code.
        body: The start of the answer's body (only searched for a machine-readable reason).
        upload: Whether the request was on a tus upload URL, where 404 and 410 mean the upload
            expired or was terminated (elsewhere they mean a wrong URL or identifier).
    """
    detail = f"HTTP {status}"
    if status in (401, 403):
        return OutboxError(ErrorCode.AUTH_FAILED, detail, status=status)
    if status in (404, 410) and upload:
        return OutboxError(ErrorCode.UPLOAD_EXPIRED, detail, status=status)
    if status == 413:
        return OutboxError(ErrorCode.TOO_LARGE, detail, status=status)
    if status == 460:
        return OutboxError(ErrorCode.CHECKSUM_MISMATCH, detail, status=status)
    if status == 422 and "unknown_recipient" in body:
        return OutboxError(ErrorCode.UNKNOWN_RECIPIENT, detail, status=status)
    if status == 409 and "bundle_taken" in body:
        # Another station already delivered this bundle id to this recipient.
        return OutboxError(ErrorCode.REJECTED, f"{detail} bundle_taken", status=status)
    if status in (408, 409, 423, 429) or status >= 500:
        # 409 (offset mismatch) and 423 (locked) are resolved by a HEAD and a new attempt.
        return OutboxError(ErrorCode.SERVER_ERROR, detail, retryable=True, status=status)
    return OutboxError(ErrorCode.REJECTED, detail, status=status)


class Transport:
    """A ``requests.Session`` bound to one platform origin."""

    def __init__(self, config: PlatformConfig) -> None:
        """Opens the session (no connection is made yet).

        Args:
            config: The platform to talk to.
        """
        self.config = config
        self.base_url = config.url.rstrip("/") + "/"
        self._origin = _origin(self.base_url)
        self._verify: str | bool = str(config.ca_file) if config.ca_file is not None else True
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {config.token}"

    def close(self) -> None:
        """Closes the pooled connections."""
        self._session.close()

    def url(self, path: str) -> str:
        """Returns the absolute URL of ``path`` (relative to the base URL, or absolute)."""
        return urljoin(self.base_url, path.lstrip("/")) if "://" not in path else path

    def same_origin(self, url: str) -> bool:
        """Tells whether ``url`` is on the configured platform (the token may go there)."""
        return _origin(url) == self._origin

    def request(
        self,
        method: str,
        path: str,
        *,
        ok: Collection[int],
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        stream: bool = False,
        upload: bool = False,
    ) -> requests.Response:
        """Sends one request and returns the answer if its status is in ``ok``.

        The caller must close the returned response (use it as a context manager). ``upload``
        marks a request on a tus upload URL (see :func:`error_for_status`).

        Raises:
            OutboxError: On any failure, with its code and retryable flag set.
        """
        url = self.url(path)
        if not self.same_origin(url):
            raise OutboxError(ErrorCode.UPLOAD_EXPIRED, "URL on another origin")
        try:
            response = self._session.request(
                method,
                url,
                headers=dict(headers or {}),
                data=data,
                stream=stream,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = error_for_exception(exc)
            log.info("%s %s failed: %s", method, urlsplit(url).path, error.code)
            raise error from exc
        if response.status_code in ok:
            return response
        with response:
            try:
                body = next(response.iter_content(2048), b"").decode("utf-8", "replace")
            except requests.RequestException:
                body = ""
        error = error_for_status(response.status_code, body, upload=upload)
        log.info("%s %s answered %d", method, urlsplit(url).path, response.status_code)
        raise error
