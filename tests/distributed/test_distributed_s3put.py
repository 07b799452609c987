"""A piece's ``PUT`` goes around boto3's call machinery (signed by botocore, sent by urllib3).

Against the real SeaweedFS: the bytes stored are the bytes given, whatever the signing mode;
a wrong secret is refused as boto3 would refuse it (the request really is signed and
checked). On the wire (a plain HTTP listener that records what it receives): the signed
mode carries the body's own SHA-256, the unsigned mode says ``UNSIGNED-PAYLOAD``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import botocore.exceptions
import pytest

from refplatform.backend import BackendUnavailable
from refplatform.s3blobs import S3Blobs, parse_blobs_url
from tests.distributed.conftest import Cluster


def _blobs(cluster: Cluster, extra: str = "") -> S3Blobs:
    return S3Blobs(parse_blobs_url(f"s3://bundles?endpoint={cluster.seaweed.endpoint}{extra}"))


def _read(blobs: S3Blobs, key: str, size: int) -> bytes:
    return b"".join(blobs.read(key, 0, size))


@pytest.mark.parametrize("extra", ["", "&payload=signed", "&payload=unsigned"])
@pytest.mark.parametrize("size", [1, 300 * 1024, 3 * 1024 * 1024 + 7])
def test_a_piece_put_stores_exactly_its_bytes(cluster: Cluster, extra: str, size: int) -> None:
    blobs = _blobs(cluster, extra)
    body = os.urandom(size)
    key = f"pieces/s3put-{os.getpid()}/{size}-{hashlib.sha256(body).hexdigest()[:12]}"
    before = blobs.requests
    blobs.put(key, bytearray(body))  # any bytes-like, as the handlers pass
    assert blobs.requests == before + 1
    assert _read(cluster.blobs, key, size) == body  # read back through boto3
    blobs.delete([key])
    assert list(cluster.blobs.older_than(key, float("inf"))) == []


def test_a_wrong_secret_is_refused_as_boto3_would(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    blobs = _blobs(cluster)
    key = f"pieces/s3put-{os.getpid()}/refused"
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        blobs.put(key, b"x" * 1000)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Code"] in (
        "SignatureDoesNotMatch",
        "AccessDenied",
        "InvalidAccessKeyId",
    )
    assert list(cluster.blobs.older_than(key, float("inf"))) == []


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    seen: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Recorder", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("mode", ["signed", "unsigned"])
def test_the_signed_payload_is_the_body_s_own_digest(
    recorder: tuple[str, list[tuple[str, dict[str, str], bytes]]],
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "A")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "S")
    endpoint, seen = recorder
    blobs = S3Blobs(parse_blobs_url(f"s3://bundles?endpoint={endpoint}&payload={mode}"))
    body = os.urandom(200_000)
    blobs.put("pieces/u1/0-abc", memoryview(body))
    [(path, headers, received)] = seen
    assert path == "/bundles/pieces/u1/0-abc"
    assert received == body
    expected = hashlib.sha256(body).hexdigest() if mode == "signed" else "UNSIGNED-PAYLOAD"
    assert headers["x-amz-content-sha256"] == expected
    # The digest header is among the signed ones, so it cannot be swapped on the way.
    assert "x-amz-content-sha256" in headers["authorization"].split("SignedHeaders=")[1]
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=A/")


def test_an_unknown_payload_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="payload"):
        parse_blobs_url("s3://bundles?endpoint=http://127.0.0.1:1&payload=maybe")


def test_behind_a_proxy_the_put_goes_through_boto3(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy named for the store (and not bypassed) is honoured: our own pool does not know
    proxies, so the piece goes through boto3, which does. With NO_PROXY naming the store's
    host, the fast path is kept."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: a proxy used fails
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = _blobs(cluster)
    with pytest.raises(BackendUnavailable):  # boto3 tried the proxy, as it should
        proxied.put(f"pieces/s3put-{os.getpid()}/proxied", b"x" * 1000)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = _blobs(cluster)
    key = f"pieces/s3put-{os.getpid()}/bypassed"
    direct.put(key, b"y" * 1000)
    assert _read(cluster.blobs, key, 1000) == b"y" * 1000
    direct.delete([key])
