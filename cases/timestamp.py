"""RFC 3161 signature time-stamps for the signed report (PAdES B-T): the authority, asked
and checked.

A time-stamp authority (TSA) signs "this digest existed at this time". Over a PAdES
signature's value it proves the signature was made before that time, which the signer's own
claim (the ``signingTime`` attribute, B-B) cannot: the workstation's clock is the signer's.
It proves nothing about who signed nor what the report says; it is only as good as the
authority's key and clock, and a reader trusts it only when the authority's certificate
chains to a root they trust, with the timeStamping extended key usage.

:func:`tsa_settings` reads the workstation's authority (the profile's ``reports.ini``,
section ``[timestamp]``: ``url``, and ``ca``, the authority's root certificate, PEM, which
this workstation then trusts for time-stamps). :func:`timestamper` makes the pyHanko client
:func:`cases.pades.sign_pdf` asks: one HTTP request per time-stamp, with a time limit and a
bounded answer, whose token is checked before it is embedded (granted, our nonce, our
digest, a valid signature by a certificate with the timeStamping usage, chaining to the
configured root when there is one). Anything else raises :class:`TimestampError`; the
caller then signs without a time-stamp and says so (the doctor is never blocked).
"""

from __future__ import annotations

import configparser
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cases.errors import CaseError

log = logging.getLogger(__name__)

SETTINGS_FILE = "reports.ini"
MAX_REPLY = 64 * 1024
"""The largest answer read from an authority (a token with its chain is a few KiB)."""
TIMEOUT = 10.0
"""Seconds to connect, and between bytes of the answer: a dead authority costs this."""
DEADLINE = 20.0
"""Seconds for the whole answer: an authority dripping bytes costs at most this (plus one
:data:`TIMEOUT`)."""
MAX_URL = 2048

UNREACHABLE = "tsa_unreachable"
REFUSED = "tsa_refused"
INVALID = "tsa_invalid"


class TimestampError(CaseError):
    """No usable time-stamp: ``code`` is :data:`UNREACHABLE` (no answer), :data:`REFUSED`
    (the authority said no) or :data:`INVALID` (its answer cannot be trusted)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code


@dataclass(frozen=True)
class TsaSettings:
    """The authority a workstation asks: its URL, and the roots its certificate must chain
    to (none: any certificate with the timeStamping usage is taken at signing time, and the
    reader decides whether to trust it)."""

    url: str
    roots: tuple[x509.Certificate, ...] = ()
    deadline: float = DEADLINE


@dataclass(frozen=True)
class Stamp:
    """What came of asking for a time-stamp when a report was signed.

    Attributes:
        asked: an authority was configured.
        at: the authority's time, when the signature carries its time-stamp.
        problem: why it does not (a :class:`TimestampError` code), when asked.
    """

    asked: bool = False
    at: datetime | None = None
    problem: str = ""

    @property
    def missing(self) -> bool:
        return self.asked and self.at is None

    @property
    def status(self) -> str:
        """The journal's word: ``none`` (not asked), ``stamped``, or why it is missing."""
        if not self.asked:
            return "none"
        return "stamped" if self.at is not None else self.problem


def checked_url(url: str) -> str:
    """``url`` if it is an ``http``/``https`` URL with a host (RFC 3161 over HTTP).

    Raises:
        ValueError: anything else (a file, a local path, a bare word).
    """
    from urllib.parse import urlsplit

    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url[:80]!r}")
    return url


def tsa_settings(profile_root: Path) -> TsaSettings | None:
    """The authority configured in ``profile_root/reports.ini`` (``[timestamp]``, ``url``
    and optionally ``ca``, a PEM file, relative to the profile), or ``None``.

    Raises:
        ValueError: the URL or the certificate file is not usable (said, never ignored:
            a workstation meant to time-stamp must not silently stop doing it).
    """
    path = profile_root / SETTINGS_FILE
    try:
        text = path.read_text("utf-8") if path.is_file() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{SETTINGS_FILE} is unreadable: {exc}") from exc
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        if "[timestamp]" not in text:
            return None  # the file is another setting's business: no authority named
        raise ValueError(f"{SETTINGS_FILE} is unreadable: {exc}") from exc
    url = parser.get("timestamp", "url", fallback="").strip()
    if not url:
        return None
    roots: tuple[x509.Certificate, ...] = ()
    ca = parser.get("timestamp", "ca", fallback="").strip()
    if ca:
        path = (profile_root / Path(ca).expanduser()).resolve()
        try:
            roots = tuple(x509.load_pem_x509_certificates(path.read_bytes()[: 1024 * 1024]))
        except (OSError, ValueError) as exc:
            raise ValueError(f"the time-stamp authority's certificate {ca}: {exc}") from exc
    return TsaSettings(checked_url(url), roots)


def has_timestamping_usage(cert: x509.Certificate) -> bool:
    """The certificate's extended key usage is timeStamping alone, marked critical
    (RFC 3161 §2.3)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return False
    return eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A time-stamp request goes to the configured URL or nowhere: a redirect is refused
    (urllib would turn the POST into a GET elsewhere)."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def _post(url: str, body: bytes, deadline: float) -> bytes:
    """The authority's answer to ``body``, read within ``deadline`` seconds, bounded."""
    import time

    began = time.monotonic()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/timestamp-query",
            "Accept": "application/timestamp-reply",
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    chunks: list[bytes] = []
    size = 0
    try:
        with opener.open(request, timeout=min(TIMEOUT, deadline)) as answer:
            kind = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
            while size <= MAX_REPLY:
                if time.monotonic() - began > deadline:
                    raise TimestampError(UNREACHABLE, "the answer takes too long")
                chunk = answer.read1(MAX_REPLY + 1 - size)  # one read: no drip holds it
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection: closed now, not whenever it is collected
        raise TimestampError(REFUSED, f"HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:  # refused, timed out, TLS, a malformed URL
        raise TimestampError(UNREACHABLE, repr(exc)) from exc
    data = b"".join(chunks)
    if len(data) > MAX_REPLY:
        raise TimestampError(INVALID, "the answer is too large")
    if kind != "application/timestamp-reply":
        raise TimestampError(INVALID, f"unexpected content type {kind[:40]!r}")
    return data


def timestamper(settings: TsaSettings) -> Any:
    """A pyHanko ``TimeStamper`` asking ``settings.url`` and checking each token (see the
    module's docstring); its ``stamped_at`` is the time of the last token it returned."""
    from cases.pades import _load_pyhanko

    _load_pyhanko()
    from pyhanko.sign.timestamps.api import TimeStamper

    class Checked(TimeStamper):
        def __init__(self) -> None:
            super().__init__(include_nonce=True)  # type: ignore[no-untyped-call]
            self.stamped_at: datetime | None = None

        async def async_request_tsa_response(self, req: Any) -> Any:
            import asyncio

            from asn1crypto import tsp

            raw = await asyncio.to_thread(_post, settings.url, req.dump(), settings.deadline)
            try:
                response = tsp.TimeStampResp.load(raw, strict=True)
                response.native  # noqa: B018 - parses every field now, inside the try
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                raise TimestampError(INVALID, f"not a time-stamp response: {exc!r}") from exc
            return response

        async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
            nonce, req = self.request_cms(message_digest, md_algorithm)  # type: ignore[no-untyped-call]
            response = await self.async_request_tsa_response(req)
            token = _granted(response, nonce)
            self.stamped_at = await _checked_token(
                token, message_digest, md_algorithm, settings.roots
            )
            return token

    return Checked()


def ready_timestamper(settings: TsaSettings) -> Any:
    """:func:`timestamper`, once the authority gave a good token for a dummy digest: asked
    before the signature is made, so that a key (a card) signs once when the authority is
    down, not twice.

    Raises:
        TimestampError: the authority gives no usable time-stamp.
    """
    import asyncio
    import hashlib

    stamper = timestamper(settings)
    try:
        asyncio.run(stamper.async_timestamp(hashlib.sha256(b"").digest(), "sha256"))
    except TimestampError:
        raise
    except Exception as exc:  # an answer pyHanko cannot read: one plain code
        raise TimestampError(INVALID, repr(exc)) from exc
    stamper.stamped_at = None
    return stamper


def _granted(response: Any, nonce: int | None) -> Any:
    """The token of a granted answer carrying our nonce."""
    status = response["status"]["status"].native
    if status not in ("granted", "granted_with_mods"):
        texts = response["status"]["status_string"].native or []
        raise TimestampError(REFUSED, f"{status}: {'; '.join(texts)[:200]}")
    token = response["time_stamp_token"]
    try:
        info = token["content"]["encap_content_info"]["content"].parsed
        received = info["nonce"].native
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TimestampError(INVALID, f"no TSTInfo in the token: {exc!r}") from exc
    if nonce is not None and received != nonce:
        raise TimestampError(INVALID, "the answer does not carry our nonce (a replay?)")
    return token


async def _checked_token(
    token: Any, digest: bytes, md_algorithm: str, roots: Sequence[x509.Certificate]
) -> datetime:
    """The token's time, once its imprint, signature and signer's usage are checked.

    Raises:
        TimestampError: :data:`INVALID`.
    """
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    if token["content_type"].native != "signed_data":
        raise TimestampError(INVALID, "the token is not SignedData")
    signed = token["content"]
    info = signed["encap_content_info"]["content"].parsed
    imprint = info["message_imprint"]
    if (
        imprint["hash_algorithm"]["algorithm"].native != md_algorithm
        or imprint["hashed_message"].native != digest
    ):
        raise TimestampError(INVALID, "the token stamps another digest")
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(r.public_bytes(Encoding.DER)) for r in roots],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    try:
        kwargs = await validate_tst_signed_data(signed, context, lambda _algo: digest)
        status = TimestampSignatureStatus(**kwargs)
        signer = x509.load_der_x509_certificate(status.signing_cert.dump())
    except Exception as exc:
        raise TimestampError(INVALID, f"the token does not verify: {exc!r}") from exc
    if not (status.intact and status.valid):
        raise TimestampError(INVALID, "the token's signature does not verify")
    if not has_timestamping_usage(signer):
        raise TimestampError(INVALID, "the authority's certificate is not for time-stamping")
    if roots and not status.trusted:
        raise TimestampError(INVALID, "the authority's certificate is not the configured one")
    when: datetime = status.timestamp
    return when
