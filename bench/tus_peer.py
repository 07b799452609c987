"""The concurrent-PATCH test of ``bench.platform``, and the ``@tus/server`` pair it runs against.

Two PATCHes of 6 MiB at offset 0 of a 12 MiB upload, sent at the same moment, one to each
server instance. A correct platform lets one through and refuses the other (409 or 423), so
the upload holds 6 MiB and says so. The peer (two ``@tus/server`` 2.4.5 instances with
``@tus/s3-store`` on one SeaweedFS bucket, installed by ``npm`` into a temporary folder) was
seen answering 204 twice, reporting 12 MiB and storing 6 MiB.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

from bench import MIB
from tests.distributed.engines import free_port, wait_until

__all__ = ["TusPeer", "concurrent_patch"]

_HALF = 6 * MIB
_SERVER_JS = """
const http = require('node:http');
const { Server } = require('@tus/server');
const { S3Store } = require('@tus/s3-store');
const [port, endpoint, bucket] = process.argv.slice(2);
const store = new S3Store({
  partSize: 8 * 1024 * 1024,
  s3ClientConfig: {
    bucket, endpoint, region: 'us-east-1', forcePathStyle: true,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID,
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
    },
  },
});
const server = new Server({ path: '/files', datastore: store });
http.createServer((req, res) => server.handle(req, res)).listen(Number(port), '127.0.0.1');
"""


def _race(bases: list[str], path: str, headers: dict[str, str], body: bytes) -> list[int]:
    barrier = threading.Barrier(len(bases))
    codes: list[int] = []

    def one(base: str) -> None:
        barrier.wait(10)
        answer = requests.patch(
            base + path,
            headers={
                **headers,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
            data=body,
            timeout=60,
        )
        codes.append(answer.status_code)

    threads = [threading.Thread(target=one, args=(base,)) for base in bases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return sorted(codes)


def concurrent_patch(bases: list[str], token: str, recipient: str, bundle_id: str) -> str:
    """Runs the test on our platform (``bases``: two replicas); returns what happened."""
    payload = os.urandom(2 * _HALF)
    headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    fields = {
        "bundle_id": bundle_id,
        "recipient": recipient,
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())
    created = requests.post(
        bases[0] + "/files/",
        headers={**headers, "Upload-Length": str(len(payload)), "Upload-Metadata": meta},
        timeout=30,
    )
    created.raise_for_status()
    path = "/files/" + created.headers["Location"].rsplit("/", 1)[1]
    codes = _race(bases, path, headers, payload[:_HALF])
    offset = int(
        requests.head(bases[1] + path, headers=headers, timeout=10).headers["Upload-Offset"]
    )
    rest = requests.patch(
        bases[1] + path,
        headers={
            **headers,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
        data=payload[offset:],
        timeout=60,
    )
    intact = rest.status_code == 204  # the platform checked the whole bundle's SHA-256
    return (
        f"answers {'+'.join(map(str, codes))}, HEAD then {offset / MIB:.0f} MiB,"
        f" bundle completed and intact: {'yes' if intact else 'NO'}"
    )


class TusPeer:
    """Two ``@tus/server`` instances with ``@tus/s3-store`` on one bucket."""

    def __init__(self, folder: Path, endpoint: str) -> None:
        self.folder = folder
        self.endpoint = endpoint
        self.bucket = "tus-peer"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ports = [free_port(), free_port()]

    def install(self) -> bool:
        """Installs the packages with npm; ``False`` if npm or the registry is unavailable."""
        npm = shutil.which("npm")
        if npm is None:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(self.folder),
                 "@tus/server@2.4.5", "@tus/s3-store"],
                capture_output=True,
                timeout=300,
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return False
        if done.returncode != 0:
            return False
        (self.folder / "server.js").write_text(_SERVER_JS)
        self._s3().create_bucket(Bucket=self.bucket)
        for port in self.ports:
            self.processes.append(
                subprocess.Popen(
                    ["node", "server.js", str(port), self.endpoint, self.bucket],
                    cwd=self.folder,
                    stdout=subprocess.DEVNULL,
                    stderr=(self.folder / f"tus-{port}.log").open("ab"),
                )
            )
        for port in self.ports:
            wait_until(functools.partial(_answers, port), 30, "@tus/server")
        return True

    def _s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )

    def race(self) -> str:
        """Runs the test on the pair; returns what happened, and what the bucket holds."""
        bases = [f"http://127.0.0.1:{port}" for port in self.ports]
        headers = {"Tus-Resumable": "1.0.0"}
        created = requests.post(
            bases[0] + "/files",
            headers={
                **headers,
                "Upload-Length": str(2 * _HALF),
                "Upload-Metadata": "filename YnVuZGxl",
            },
            timeout=30,
        )
        created.raise_for_status()
        upload_id = created.headers["Location"].rsplit("/", 1)[1]
        path = "/files/" + upload_id
        codes = _race(bases, path, headers, os.urandom(_HALF))
        head = requests.head(bases[0] + path, headers=headers, timeout=10)
        offset = int(head.headers.get("Upload-Offset", "0"))
        listing = self._s3().list_objects_v2(Bucket=self.bucket, Prefix=upload_id)
        objects = {
            str(entry["Key"])[len(upload_id) :] or "(bundle)": int(entry["Size"])
            for entry in listing.get("Contents", [])
        }
        data = {key: size for key, size in objects.items() if key != ".info"}
        held = ", ".join(f"{key} {size / MIB:.0f} MiB" for key, size in sorted(data.items()))
        s3 = self._s3()
        parts = 0
        for pending in s3.list_multipart_uploads(Bucket=self.bucket).get("Uploads", []):
            if str(pending["Key"]).startswith(upload_id):
                listed = s3.list_parts(
                    Bucket=self.bucket, Key=pending["Key"], UploadId=pending["UploadId"]
                )
                parts += sum(int(part["Size"]) for part in listed.get("Parts", []))
        if parts:
            held = (held + ", " if held else "") + f"unfinished multipart {parts / MIB:.0f} MiB"
        served = requests.get(bases[0] + path, headers=headers, timeout=30)
        got = f"{len(served.content) / MIB:.0f} MiB" if served.ok else f"HTTP {served.status_code}"
        return (
            f"answers {'+'.join(map(str, codes))}, HEAD then {offset / MIB:.0f} MiB,"
            f" objects: {held or 'none'}, GET gives {got}"
        )

    def stop(self) -> None:
        """Stops both instances (by their ids)."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


def _answers(port: int) -> bool:
    try:
        requests.options(f"http://127.0.0.1:{port}/files", timeout=1)
    except requests.RequestException:
        return False
    return True
