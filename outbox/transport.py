"""One HTTPS session to the regional platform: timeouts, watchdog, proxies, CA, error mapping.

Every request goes through :meth:`Transport.request`, which sets explicit connect and read
timeouts, arms the idle-progress watchdog (:mod:`outbox.watchdog`: a stalled socket is abandoned
after ``idle_timeout`` seconds without progress), goes through the configured or the system's
HTTPS proxy, verifies TLS against the configured CA bundle (or the system store), refuses to
send the bearer token to another origin, never follows redirects, and turns every failure into
an :class:`OutboxError` whose detail carries the platform's own short reason when it gave one.

TLS verification cannot be turned off: there is no option for it. A plain ``http://`` URL (for
tests on 127.0.0.1) is logged as a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.utils import get_environ_proxies
from urllib3.exceptions import ReadTimeoutError

from outbox.backoff import parse_retry_after
from outbox.errors import ErrorCode, OutboxError
from outbox.watchdog import WATCHDOG, ProgressBody, Watch, Watchdog, WatchedAdapter

__all__ = [
    "TUS_VERSION",
    "PlatformConfig",
    "Transport",
    "error_for_exception",
    "error_for_status",
]

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
_DETAIL_LIMIT = 240


def _redact(url: str | None) -> str | None:
    """Hides the password of a ``user:password@`` URL."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class PlatformConfig:
    """Where the platform is and how to reach it from a hospital or prison network.

    Attributes:
        url: Base URL, e.g. ``https://platform.example:8443``.
        token: The station's bearer token.
        ca_file: The CA that signs the platform's certificate (the profile's trust anchor);
            ``None``: the system store.
        connect_timeout: Seconds to wait for a connection (TLS handshake included).
        read_timeout: Seconds to wait for an answer once a request is sent.
        idle_timeout: Seconds an exchange may go without any progress (no byte of the body
            accepted by the socket, no byte of the answer) before its socket is abandoned.
        proxy: An explicit HTTPS proxy, e.g. ``http://proxy.hospital:3128`` (HTTP CONNECT);
            it overrides the system's proxy settings.
        trust_env: Without an explicit proxy, honour the system proxy variables
            (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), as ``requests``' ``trust_env`` does
            (nothing else is taken from the environment: no ``.netrc``, no CA override).
        ca_bundle: A custom CA bundle (e.g. a hospital's TLS-inspecting proxy CA) used instead
            of ``ca_file``. Verification stays on whatever is configured.
    """

    url: str
    token: str
    ca_file: Path | None = None
    connect_timeout: float = 5
    read_timeout: float = 30
    idle_timeout: float = 30
    proxy: str | None = None
    trust_env: bool = True
    ca_bundle: Path | None = None

    def __post_init__(self) -> None:
        if min(self.connect_timeout, self.read_timeout, self.idle_timeout) <= 0:
            raise ValueError("timeouts must be positive")
        if self.proxy is not None and urlsplit(self.proxy).scheme not in ("http", "https"):
            raise ValueError("proxy must be an http:// or https:// URL")

    @property
    def verify(self) -> str | bool:
        """What TLS verification uses: a CA bundle path, or ``True`` for the system store."""
        ca = self.ca_bundle if self.ca_bundle is not None else self.ca_file
        return str(ca) if ca is not None else True

    def __repr__(self) -> str:
        # Keep the token and any proxy password out of logs and tracebacks.
        return (
            f"PlatformConfig(url={self.url!r}, ca_file={self.ca_file!r}, "
            f"ca_bundle={self.ca_bundle!r}, proxy={_redact(self.proxy)!r})"
        )


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


def error_for_exception(
    exc: requests.RequestException, *, stalled: bool = False, idle: float | None = None
) -> OutboxError:
    """Maps a ``requests`` failure (no HTTP answer) to an :class:`OutboxError`.

    Args:
        exc: The failure.
        stalled: Whether the watchdog abandoned the exchange (the failure is its doing).
        idle: The watchdog's idle limit, for the detail.
    """
    kind = type(exc).__name__
    if stalled:
        limit = f" for {idle:g} s" if idle is not None else ""
        return OutboxError(ErrorCode.TIMEOUT, f"no progress{limit}; connection abandoned")
    if isinstance(exc, requests.exceptions.SSLError):
        # A certificate problem needs a human; a handshake cut by the network does not.
        if _caused_by(exc, (ssl.SSLCertVerificationError,)):
            return OutboxError(ErrorCode.TLS_ERROR, f"certificate rejected ({kind})")
        return OutboxError(ErrorCode.NETWORK_UNREACHABLE, f"TLS handshake interrupted ({kind})")
    if isinstance(exc, requests.exceptions.ProxyError):
        return OutboxError(ErrorCode.PROXY_ERROR, f"proxy refused or unreachable ({kind})")
    # requests reports a read timeout in the middle of a body as a ConnectionError.
    if isinstance(exc, requests.exceptions.Timeout) or _caused_by(
        exc, (ReadTimeoutError, TimeoutError)
    ):
        return OutboxError(ErrorCode.TIMEOUT, f"no answer in time ({kind})")
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return OutboxError(ErrorCode.REJECTED, f"invalid platform URL ({kind})")
    return OutboxError(ErrorCode.NETWORK_UNREACHABLE, f"connection failed ({kind})")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text).strip()


def platform_reason(body: str) -> tuple[str | None, str]:
    """Reads the platform's short reason from an error body.

    Understands ``{"error": code, "detail"|"message": text}`` and, failing that, a plain-text
    body's first line (HTML pages are ignored).

    Returns:
        The machine-readable code (or ``None``) and a short plain explanation (maybe empty).
    """
    text = body.strip()
    if text.startswith("{"):
        with contextlib.suppress(ValueError):
            document = json.loads(text)
            if isinstance(document, dict):
                code = document.get("error")
                explanation = document.get("detail") or document.get("message") or ""
                return (
                    _printable(str(code))[:64] if isinstance(code, str) else None,
                    _printable(str(explanation)),
                )
    if text and not text.startswith("<"):
        return None, _printable(text.splitlines()[0])
    return None, ""


def error_for_status(
    status: int,
    body: str,
    *,
    upload: bool = False,
    headers: Mapping[str, str] | None = None,
) -> OutboxError:
    """Maps an unexpected HTTP status to an :class:`OutboxError`.

    The detail reads ``HTTP <status> <code>: <the platform's reason>``.

    Args:
        status: The HTTP status code.
        body: The start of the answer's body (searched for the platform's reason).
        upload: Whether the request was on a tus upload URL, where 404 and 410 mean the upload
            expired or was terminated (elsewhere they mean a wrong URL or identifier).
        headers: The answer's headers (``Retry-After``; ``X-Error-Code`` when there is no body).
    """
    code, explanation = platform_reason(body)
    header_code = (headers or {}).get("X-Error-Code")
    if code is None and header_code:  # a HEAD answer has no body
        code = _printable(header_code)[:64]
    detail = f"HTTP {status}" + (f" {code}" if code else "")
    if explanation:
        detail += f": {explanation}"
    detail = detail[:_DETAIL_LIMIT]
    retry_after = parse_retry_after((headers or {}).get("Retry-After"))
    if status == 403 and code == "route_forbidden":
        # The platform's routes do not let this station write to this recipient: permanent.
        return OutboxError(ErrorCode.ROUTE_FORBIDDEN, detail, status=status)
    if status == 429 and code is not None and code.startswith("quota_"):
        # A per-station quota: it clears by itself (uploads finish, the day ends).
        return OutboxError(ErrorCode.QUOTA_EXCEEDED, detail, status=status, retry_after=retry_after)
    if status == 507:
        return OutboxError(ErrorCode.PLATFORM_FULL, detail, status=status, retry_after=retry_after)
    if status in (401, 403):
        return OutboxError(ErrorCode.AUTH_FAILED, detail, status=status)
    if status in (404, 410) and upload:
        return OutboxError(ErrorCode.UPLOAD_EXPIRED, detail, status=status)
    if status == 413:
        return OutboxError(ErrorCode.TOO_LARGE, detail, status=status)
    if status == 460:
        return OutboxError(ErrorCode.CHECKSUM_MISMATCH, detail, status=status)
    if status == 422 and (code == "unknown_recipient" or "unknown_recipient" in body):
        return OutboxError(ErrorCode.UNKNOWN_RECIPIENT, detail, status=status)
    if status == 409 and (code == "bundle_taken" or "bundle_taken" in body):
        # Another station already delivered this bundle id to this recipient.
        if "bundle_taken" not in detail:
            detail = f"{detail} bundle_taken"
        return OutboxError(ErrorCode.REJECTED, detail, status=status)
    if status == 407:
        return OutboxError(ErrorCode.PROXY_ERROR, detail, status=status)
    if status in (408, 409, 423, 429) or status >= 500:
        # 409 (offset mismatch) and 423 (locked) are resolved by a HEAD and a new attempt.
        return OutboxError(
            ErrorCode.SERVER_ERROR, detail, retryable=True, status=status, retry_after=retry_after
        )
    return OutboxError(ErrorCode.REJECTED, detail, status=status)


class Transport:
    """A ``requests.Session`` bound to one platform origin. Use it from one thread at a time."""

    def __init__(self, config: PlatformConfig, *, watchdog: Watchdog = WATCHDOG) -> None:
        """Opens the session (no connection is made yet).

        Args:
            config: The platform to talk to.
            watchdog: The idle-progress watchdog (the process's by default).
        """
        self.config = config
        self.base_url = config.url.rstrip("/") + "/"
        self._origin = _origin(self.base_url)
        self._watchdog = watchdog
        self._session = requests.Session()
        # The environment is consulted for proxies only (below): trust_env would also let
        # REQUESTS_CA_BUNDLE replace the CA and ~/.netrc replace the bearer token.
        self._session.trust_env = False
        adapter = WatchedAdapter()
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["Authorization"] = f"Bearer {config.token}"
        self.proxies = self._proxies()
        #: HTTP answers received so far (any status): the platform was reachable.
        self.answers = 0
        if self._origin[0] == "http":
            log.warning("platform URL is plain HTTP: no TLS (tests only)")

    def _proxies(self) -> dict[str, str]:
        proxy = self.config.proxy
        if proxy is not None:
            return {"http": proxy, "https": proxy}
        if self.config.trust_env:
            # The same lookup requests' trust_env does: *_PROXY variables, minus NO_PROXY.
            return dict(get_environ_proxies(self.base_url))
        return {}

    def close(self) -> None:
        """Closes the pooled connections."""
        self._session.close()

    def url(self, path: str) -> str:
        """Returns the absolute URL of ``path`` (relative to the base URL, or absolute)."""
        return urljoin(self.base_url, path.lstrip("/")) if "://" not in path else path

    def same_origin(self, url: str) -> bool:
        """Tells whether ``url`` is on the configured platform (the token may go there)."""
        return _origin(url) == self._origin

    @contextlib.contextmanager
    def watch(self) -> Iterator[Watch]:
        """Arms the idle-progress watchdog around a whole exchange (e.g. a streamed download).

        Requests made inside the block share the watch; call :meth:`Watch.kick` on progress.
        """
        with self._watchdog.watch(self.config.idle_timeout) as watch:
            yield watch

    def request(
        self,
        method: str,
        path: str,
        *,
        ok: Collection[int],
        headers: Mapping[str, str] | None = None,
        data: bytes | memoryview | None = None,
        stream: bool = False,
        upload: bool = False,
    ) -> requests.Response:
        """Sends one request and returns the answer if its status is in ``ok``.

        The caller must close the returned response (use it as a context manager). ``upload``
        marks a request on a tus upload URL (see :func:`error_for_status`). A body is handed
        to the socket in blocks, each one counting as progress for the watchdog.

        Raises:
            OutboxError: On any failure, with its code, retryable flag and the platform's
                reason (in the detail) set.
        """
        url = self.url(path)
        if not self.same_origin(url):
            raise OutboxError(ErrorCode.UPLOAD_EXPIRED, "URL on another origin")
        with self.watch() as watch:
            body = None if data is None else ProgressBody(data, watch.kick)
            try:
                response = self._session.request(
                    method,
                    url,
                    headers=dict(headers or {}),
                    data=body,
                    stream=stream,
                    timeout=(self.config.connect_timeout, self.config.read_timeout),
                    verify=self.config.verify,
                    proxies=self.proxies,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                error = error_for_exception(exc, stalled=watch.fired, idle=watch.idle)
                log.info("%s %s failed: %s", method, urlsplit(url).path, error.code)
                raise error from exc
            watch.kick()
            self.answers += 1
            if response.status_code in ok:
                return response
            with response:
                try:
                    raw = next(response.iter_content(2048), b"")
                except requests.RequestException:
                    raw = b""
        body_text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
        error = error_for_status(
            response.status_code, body_text, upload=upload, headers=response.headers
        )
        log.info("%s %s answered %s", method, urlsplit(url).path, error.detail)
        raise error
