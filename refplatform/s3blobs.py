"""Bundle bytes in S3-compatible object storage (boto3), for the distributed platform.

The store is named by a URL: ``s3://BUCKET?endpoint=http://127.0.0.1:8333&region=us-east-1``
(``endpoint`` is omitted for AWS itself). Credentials come from boto3's usual sources
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role): never from the
URL, so it can be logged and shown.

Each tus ``PATCH`` body is stored as whole objects of at most one *piece* (8 MiB by default),
never as parts of an S3 multipart upload: S3 refuses a non-last part under 5 MiB, and our
client sends 64 KiB to 8 MiB chunks, so multipart's limit would leak into the protocol. A
bundle is the ordered list of its pieces, kept in PostgreSQL; downloads read them in turn. No
copy is made at finalisation (which checks the hash), and an object is never overwritten: a
piece's key carries a random suffix, so a late write from a stalled replica can never replace
a committed piece.

A piece's ``PUT`` (one per PATCH: the hot path) skips boto3's per-call machinery (events,
parameter validation, serialisation, response parsing: about 1 ms of CPU a call): it is
signed by botocore's own SigV4 signer, with boto3's credentials, and sent on a urllib3 pool.
The body's SHA-256 is signed, as boto3 does: AWS S3 checks it against the body (over plain
HTTP that is all that guards the way; ``?payload=unsigned`` in the URL drops it for a store
that does not check it, which SeaweedFS does not). Every other call goes through boto3, and
so does the ``PUT`` when the environment names a proxy for the store (``HTTP(S)_PROXY``
without ``NO_PROXY`` for its host), since boto3 honours it and our pool does not.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import botocore.exceptions
import urllib3
from botocore.auth import UNSIGNED_PAYLOAD, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.httpsession import get_cert_path

from refplatform.backend import BackendUnavailable

__all__ = ["S3Blobs", "S3Location", "parse_blobs_url"]

log = logging.getLogger(__name__)

_READ_BLOCK = 1024 * 1024
_DELETE_BATCH = 1000
_NETWORK_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ProxyConnectionError,  # a proxy between the replicas and the store
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ResponseStreamingError,
)


@dataclass(frozen=True)
class S3Location:
    """A bucket and how to reach it."""

    bucket: str
    endpoint: str | None
    region: str
    sign_payload: bool = True  # sign each body's SHA-256 (``?payload=unsigned``: not)


def parse_blobs_url(url: str) -> S3Location:
    """Reads ``s3://BUCKET[?endpoint=URL][&region=NAME]``.

    Raises:
        ValueError: If the URL is not of that form.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.path not in ("", "/"):
        raise ValueError("the blob store must read s3://BUCKET?endpoint=http://HOST:PORT")
    query = parse_qs(parts.query)
    endpoint = query.get("endpoint", [None])[0]
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ValueError("the S3 endpoint must be an http:// or https:// URL")
    payload = query.get("payload", ["signed"])[0]
    if payload not in ("signed", "unsigned"):
        raise ValueError("payload= must be signed or unsigned")
    region = query.get("region", ["us-east-1"])[0]
    return S3Location(parts.netloc, endpoint, region, sign_payload=payload == "signed")


def _unavailable(exc: Exception) -> BackendUnavailable:
    return BackendUnavailable("storage", type(exc).__name__)


def _is_server_side(exc: botocore.exceptions.ClientError) -> bool:
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return status >= 500 or code in ("SlowDown", "ServiceUnavailable", "InternalError")


class _KnownDigest(S3SigV4Auth):  # type: ignore[misc]  # botocore has no types
    """SigV4 with the body's digest (or ``UNSIGNED-PAYLOAD``) given by the caller."""

    def payload(self, request: AWSRequest) -> str:
        return str(request.context["content_sha256"])


def _client_error(status: int, body: bytes) -> botocore.exceptions.ClientError:
    """The error boto3 would have raised for an S3 error answer."""
    code, message = f"HTTP{status}", ""
    try:
        root = ElementTree.fromstring(body[:65536]) if body.strip() else None
    except ElementTree.ParseError:
        root = None
    if root is not None:
        code = root.findtext("Code") or code
        message = root.findtext("Message") or ""
    answer: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(answer, "PutObject")


def _through_proxy(url: str) -> bool:
    """Whether the environment sends requests to ``url`` through a proxy (HTTP(S)_PROXY,
    unless NO_PROXY names its host), as botocore would."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    if parts.scheme not in proxies:
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class S3Blobs:
    """Objects in one bucket. Thread-safe (one boto3 client, shared)."""

    def __init__(
        self, location: S3Location, *, timeout: float = 10.0, max_connections: int = 32
    ) -> None:
        """Prepares the client; no request is made.

        Args:
            location: The bucket and its endpoint.
            timeout: Seconds to connect, and to wait for each answer.
            max_connections: Connections kept open to the store (one per concurrent request).
        """
        self.location = location
        self.requests = 0  # S3 requests made (the benchmark reads it)
        config = Config(
            connect_timeout=min(timeout, 3.0),
            read_timeout=timeout,
            retries={"max_attempts": 2, "mode": "standard"},
            # boto3's default kept on purpose: over plain HTTP the body's SHA-256 is signed (AWS
            # S3 checks it against the body; over HTTPS, TLS guards the way). The bundle's
            # SHA-256 is checked on the bytes as hashed before each put (sha256state).
            s3={"addressing_style": "path"},
            # As many connections as requests that may write or read at once (the writers).
            max_pool_connections=max_connections,
            # No per-object CRC: each bundle's SHA-256 is checked whole at finalisation.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session()
        self._client: Any = session.client(
            "s3", endpoint_url=location.endpoint, region_name=location.region, config=config
        )
        # The pieces' PUTs: the same credentials (refreshed by botocore when they expire),
        # as many pooled connections, the same CA bundle.
        self._credentials = session.get_credentials()
        self._base = (
            (location.endpoint or f"https://s3.{location.region}.amazonaws.com").rstrip("/")
            + "/"
            + quote(location.bucket, safe="")
        )
        self._proxied = _through_proxy(self._base)
        self._pool = urllib3.PoolManager(
            num_pools=2,
            maxsize=max_connections,
            timeout=urllib3.Timeout(connect=min(timeout, 3.0), read=timeout),
            retries=False,
            ca_certs=get_cert_path(True),
        )

    def _call(self, name: str, **kwargs: Any) -> Any:
        self.requests += 1
        try:
            return getattr(self._client, name)(Bucket=self.location.bucket, **kwargs)
        except _NETWORK_ERRORS as exc:
            raise _unavailable(exc) from exc
        except botocore.exceptions.ClientError as exc:
            if _is_server_side(exc):
                raise _unavailable(exc) from exc
            raise

    def ensure_bucket(self) -> None:
        """Creates the bucket if it does not exist yet (another replica may race: fine)."""
        try:
            self._call("head_bucket")
            return
        except botocore.exceptions.ClientError:
            pass
        try:
            self._call("create_bucket")
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        log.info("bucket %s ready", self.location.bucket)

    def put(self, key: str, data: bytes | bytearray | memoryview) -> None:
        """Stores an object whole (S3 writes are atomic: all bytes or none).

        One retry on a network error or a server-side answer, as boto3's standard mode
        (a key is never reused, so a repeated ``PUT`` replaces nothing).

        Raises:
            BackendUnavailable: The store cannot be reached, or answers a server-side error.
            botocore.exceptions.ClientError: The store refuses the request (4xx).
        """
        if self._credentials is None or self._proxied:
            # no credentials found now: boto3 says so in its own words; a proxy between the
            # replicas and the store: boto3 honours HTTP(S)_PROXY and NO_PROXY, our pool not
            self._call("put_object", Key=key, Body=bytes(data))
            return
        self.requests += 1
        body = bytes(data)
        digest = (
            hashlib.sha256(body).hexdigest() if self.location.sign_payload else UNSIGNED_PAYLOAD
        )
        url = f"{self._base}/{quote(key, safe='/~')}"
        for attempt in (1, 2):
            request = AWSRequest("PUT", url, data=body, headers={"Content-Length": str(len(body))})
            request.context["content_sha256"] = digest
            signer = _KnownDigest(
                self._credentials.get_frozen_credentials(), "s3", self.location.region
            )
            signer.add_auth(request)
            try:
                answer = self._pool.request(
                    "PUT", url, body=body, headers=dict(request.headers.items())
                )
            except urllib3.exceptions.HTTPError as exc:
                if attempt == 2:
                    raise BackendUnavailable("storage", type(exc).__name__) from exc
                continue
            if 200 <= answer.status < 300:
                return
            error = _client_error(answer.status, answer.data)
            if not _is_server_side(error):
                raise error
            if attempt == 2:
                raise _unavailable(error) from error

    def read(self, key: str, start: int, stop: int) -> Iterator[bytes]:
        """Yields bytes ``[start, stop)`` of an object in blocks of 1 MiB."""
        if stop <= start:
            return
        answer = self._call("get_object", Key=key, Range=f"bytes={start}-{stop - 1}")
        body = answer["Body"]
        try:
            remaining = stop - start
            while remaining > 0:
                try:
                    block = body.read(min(_READ_BLOCK, remaining))
                except _NETWORK_ERRORS as exc:
                    raise _unavailable(exc) from exc
                if not block:
                    raise BackendUnavailable("storage", f"object {key} shorter than recorded")
                remaining -= len(block)
                yield block
        finally:
            body.close()

    def delete(self, keys: Iterable[str]) -> None:
        """Removes objects, a thousand per request; missing ones are ignored."""
        batch: list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == _DELETE_BATCH:
                self._delete_batch(batch)
                batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, keys: list[str]) -> None:
        self._call("delete_objects", Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})

    def older_than(self, prefix: str, moment: float) -> Iterator[str]:
        """Yields the keys under ``prefix`` last modified before ``moment``."""
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=prefix, MaxKeys=1000, **extra)
            for entry in page.get("Contents", []):
                if entry["LastModified"].timestamp() < moment:
                    yield str(entry["Key"])
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")
