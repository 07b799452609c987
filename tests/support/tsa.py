"""A real, independent RFC 3161 time-stamp authority for tests: OpenSSL's ``openssl ts
-reply`` behind a tiny HTTP server on 127.0.0.1, run as a child process the test starts and
stops by its pid.

:func:`tsa_pki` makes a time-stamping CA and two TSA certificates: one with the
timeStamping extended key usage (critical, as RFC 3161 §2.3 requires) and one without it.
OpenSSL refuses to sign a time-stamp with the latter, so the ``no-eku`` server signs the
very TSTInfo OpenSSL made with it through ``openssl cms -sign`` (an authority whose
certificate was never meant for time-stamping). Other modes answer what an attacker or a
broken server would: ``garbage`` (random bytes), ``replay`` (the first token again, for
every request), ``slow`` (a genuine answer, one byte every 0.3 s), ``redirect`` (a 302 to
another address).

Run as a program (``python -m tests.support.tsa DIR MODE``) it serves until killed and
prints its port on the first line.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import pki
from tests.support.tools import require_tool

MODES = ("openssl", "no-eku", "garbage", "replay", "slow", "redirect")
POLICY = "1.3.6.1.4.1.99999.19.3"

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/tsa-ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass(frozen=True)
class TsaPki:
    """The files of a test time-stamping authority (``folder``), and its CA certificate."""

    folder: Path
    ca: x509.Certificate

    @property
    def ca_path(self) -> Path:
        return self.folder / "tsa-ca.pem"


def _write_key(path: Path, key: object) -> None:
    assert hasattr(key, "private_bytes")
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def tsa_pki(folder: Path) -> TsaPki:
    """A TSA CA, a TSA certificate with the timeStamping usage and one without, and
    OpenSSL's configuration, written to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = pki.create_ca("Passavant Test — Autorité d’horodatage", kind="ec")
    (folder / "tsa-ca.pem").write_bytes(pki.cert_to_pem(ca_cert))
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    for name, eku in (("tsa", True), ("no-eku", False)):
        key = pki.new_private_key("ec")
        extensions: list[tuple[x509.ExtensionType, bool]] = [(usage, True)]
        if eku:
            extensions.append((x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True))
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, f"Horodatage de test ({name})"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Passavant Test"),
            ]
        )
        cert = pki._issue(ca_cert, ca_key, key.public_key(), subject, extensions, None, 30)
        (folder / f"{name}.pem").write_bytes(pki.cert_to_pem(cert))
        _write_key(folder / f"{name}.key", key)
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(_CONFIG.format(dir=folder, policy=POLICY))
    return TsaPki(folder, ca_cert)


# --- the server (a child process) -------------------------------------------------------

MAX_QUERY = 64 * 1024


def _openssl_reply(folder: Path, query: bytes) -> bytes:
    with tempfile.TemporaryDirectory(dir=folder) as work:
        q, r = Path(work) / "q.tsq", Path(work) / "r.tsr"
        q.write_bytes(query)
        subprocess.run(
            ["openssl", "ts", "-reply", "-config", str(folder / "tsa.cnf"),
             "-queryfile", str(q), "-out", str(r)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        return r.read_bytes()


def _resigned_without_eku(folder: Path, reply: bytes) -> bytes:
    """OpenSSL's reply, its TSTInfo signed again by the certificate without the usage."""
    from asn1crypto import cms, tsp

    response = tsp.TimeStampResp.load(reply)
    tst_info = response["time_stamp_token"]["content"]["encap_content_info"]["content"]
    with tempfile.TemporaryDirectory(dir=folder) as work:
        info, out = Path(work) / "tst.der", Path(work) / "token.der"
        info.write_bytes(tst_info.parsed.dump())
        subprocess.run(
            ["openssl", "cms", "-sign", "-binary", "-nodetach", "-nosmimecap",
             "-econtent_type", "id-smime-ct-TSTInfo", "-md", "sha256",
             "-signer", str(folder / "no-eku.pem"), "-inkey", str(folder / "no-eku.key"),
             "-in", str(info), "-outform", "DER", "-out", str(out)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        token = cms.ContentInfo.load(out.read_bytes())
    return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


def serve(folder: Path, mode: str) -> None:
    """Serve time-stamp requests on 127.0.0.1 (an ephemeral port, printed) until killed."""
    first: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_QUERY:
                self.send_error(400)
                return
            query = self.rfile.read(length)
            if mode == "redirect":
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            try:
                if mode == "garbage":
                    body = secrets.token_bytes(512)
                else:
                    body = _openssl_reply(folder, query)
                    if mode == "no-eku":
                        body = _resigned_without_eku(folder, body)
                    elif mode == "replay":
                        first[:] = first or [body]
                        body = first[0]
            except subprocess.CalledProcessError as exc:
                sys.stderr.write(exc.stderr.decode(errors="replace"))
                self.send_error(500)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mode != "slow":
                self.wfile.write(body)
                return
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.3)

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


@contextmanager
def running_tsa(folder: Path, mode: str = "openssl") -> Iterator[str]:
    """A TSA serving ``mode`` from ``folder`` (see :func:`tsa_pki`); yields its URL and
    stops the process (by its pid) on the way out."""
    require_tool("openssl")
    assert mode in MODES
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.tsa", str(folder), mode],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/tsa"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def unreachable_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was just free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"


if __name__ == "__main__":
    serve(Path(sys.argv[1]), sys.argv[2])
