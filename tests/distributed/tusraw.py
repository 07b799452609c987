"""Raw tus requests for the distributed tests: any replica, slow bodies, cut bodies."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator

import requests

__all__ = ["Tus", "slow_body"]


def slow_body(
    data: bytes, block: int, pause: float, after: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """Yields ``data`` in blocks with a pause between them; ``after(sent)`` after each block."""
    sent = 0
    while sent < len(data):
        piece = data[sent : sent + block]
        yield piece
        sent += len(piece)
        if after is not None:
            after(sent)
        time.sleep(pause)


class Tus:
    """One station's tus calls, addressed to any base URL (a replica or HAProxy)."""

    def __init__(self, token: str) -> None:
        self.headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}

    def create(self, base: str, recipient: str, bundle_id: str, payload: bytes) -> str:
        """Creates an upload; returns its path ``/files/<id>``."""
        fields = {
            "bundle_id": bundle_id,
            "recipient": recipient,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "kind": "request",
        }
        meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())
        answer = requests.post(
            base + "/files/",
            headers={**self.headers, "Upload-Length": str(len(payload)), "Upload-Metadata": meta},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        location = answer.headers["Location"]
        return "/files/" + location.rsplit("/", 1)[1]

    def head(self, base: str, path: str) -> requests.Response:
        """``HEAD``."""
        return requests.head(base + path, headers=self.headers, timeout=10)

    def offset(self, base: str, path: str) -> int:
        """The committed offset a ``HEAD`` reports."""
        answer = self.head(base, path)
        assert answer.status_code == 200, (answer.status_code, answer.headers)
        return int(answer.headers["Upload-Offset"])

    def patch(
        self, base: str, path: str, offset: int, body: bytes | Iterator[bytes], timeout: float = 30
    ) -> requests.Response:
        """``PATCH`` (a generator body is sent chunked, as it is produced)."""
        headers = {
            **self.headers,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }
        return requests.patch(base + path, headers=headers, data=body, timeout=timeout)
