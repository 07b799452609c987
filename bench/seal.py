"""Seal benchmark: ``crypto.cms`` against ``openssl cms`` on 3 MiB and 30 MiB payloads.

Figures (each the median of 5 runs, 2 with ``--quick``):

* ``seal N MiB``: sign (RSASSA-PSS, RSA-3072) then encrypt (AES-256-GCM, RSA-OAEP) for two
  recipients. Ours is ``crypto.cms.seal`` on an in-memory buffer; the peer is
  ``openssl cms -sign | openssl cms -encrypt`` between files in a temporary directory, so its
  time includes two process start-ups and the file writes. ``ratio`` is ours / openssl:
  below 1 means we are faster.
* ``open N MiB``: ``crypto.cms.open_sealed`` (decrypt, verify the signature and the signer's
  certificate) against ``openssl cms -decrypt | openssl cms -verify``, each on its own output.
* ``seal RSS N MiB``: how much the peak resident memory grows while sealing, as a multiple of
  the payload. Ours is measured in a fresh child process (peak after the seal minus peak
  before it, payload and keys already loaded); openssl's is the larger of its two processes'
  peaks minus the same on an empty payload. ``ratio`` is ours / openssl.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from bench import MIB, fmt_ratio, median_seconds, parse_quick, print_table
from crypto import cms, pki

SIZES_MIB = (3, 30)
ROOT = Path(__file__).resolve().parents[1]
_OAEP = ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"]
_Identity = tuple[x509.Certificate, rsa.RSAPrivateKey]


class Pki(NamedTuple):
    """A CA, a doctor who signs and two specialists who receive; PEM files in ``folder``."""

    folder: Path
    ca: x509.Certificate
    signer: _Identity
    recipients: list[_Identity]


def make_pki(folder: Path) -> Pki:
    """Creates the :class:`Pki` (RSA-3072 keys: about a second)."""
    ca_cert, ca_key = pki.create_ca("Passavant Bench CA")
    people: dict[str, _Identity] = {}
    for name, role in (("doctor", "doctor"), ("spec-a", "specialist"), ("spec-b", "specialist")):
        key = pki.new_private_key()
        cert = pki.issue_person_certificate(
            ca_cert,
            ca_key,
            key.public_key(),
            common_name=name,
            role=role,
            organization="Bench",
            can_decrypt=True,
        )
        people[name] = (cert, key)
        (folder / f"{name}.pem").write_bytes(pki.cert_to_pem(cert))
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        (folder / f"{name}.key").write_bytes(pem)
    (folder / "ca.pem").write_bytes(pki.cert_to_pem(ca_cert))
    return Pki(folder, ca_cert, people["doctor"], [people["spec-a"], people["spec-b"]])


def _pipeline(first: list[str], second: list[str], log: Path) -> None:
    """Runs ``first | second``.

    Raises:
        RuntimeError: Either command failed (its messages are in the error).
    """
    with log.open("wb") as err:
        head = subprocess.Popen(first, stdout=subprocess.PIPE, stderr=err)
        tail = subprocess.Popen(second, stdin=head.stdout, stderr=err)
        assert head.stdout is not None
        head.stdout.close()  # so that head gets SIGPIPE rather than blocking if tail dies
        tail.wait()
        head.wait()
    if head.returncode or tail.returncode:
        raise RuntimeError(log.read_text(errors="replace").strip())


class OpenSsl:
    """The peer: ``openssl cms`` pipelines over files in ``folder``.

    Peak memory is read with GNU ``time`` (``/usr/bin/time -f %M``): the ``ru_maxrss`` a
    Python parent gets from ``wait4`` would include the parent's own peak, which Linux
    carries over through ``fork`` and ``exec``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.exe = shutil.which("openssl")
        self.gnu_time = shutil.which("time")

    def seal(self, source: Path, sealed: Path, *, rss: bool = False) -> int | None:
        """Signs and encrypts ``source`` into ``sealed`` (DER); with ``rss``, returns the
        larger peak RSS of the two processes in KiB (``None`` without GNU ``time``)."""
        f, exe = self.folder, str(self.exe)
        sign = [exe, "cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", str(source)]
        sign += ["-signer", str(f / "doctor.pem"), "-inkey", str(f / "doctor.key")]
        sign += ["-outform", "DER"]
        encrypt = [exe, "cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER"]
        for name in ("spec-a", "spec-b"):  # -keyopt applies to the -recip before it
            encrypt += ["-recip", str(f / f"{name}.pem"), *_OAEP]
        encrypt += ["-out", str(sealed)]
        if not rss:
            _pipeline(sign, encrypt, f / "err")
            return None
        if self.gnu_time is None:
            return None
        peaks = [f / "sign.rss", f / "encrypt.rss"]
        sign, encrypt = (
            [self.gnu_time, "-f", "%M", "-o", str(out), *command]
            for out, command in zip(peaks, (sign, encrypt), strict=True)
        )
        _pipeline(sign, encrypt, f / "err")
        return max(int(out.read_text().split()[-1]) for out in peaks)

    def open(self, sealed: Path, plain: Path) -> None:
        """Decrypts (as ``spec-b``) and verifies ``sealed`` into ``plain``."""
        f, exe = self.folder, str(self.exe)
        decrypt = [exe, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(sealed)]
        decrypt += ["-recip", str(f / "spec-b.pem"), "-inkey", str(f / "spec-b.key")]
        verify = [exe, "cms", "-verify", "-binary", "-inform", "DER"]
        verify += ["-CAfile", str(f / "ca.pem"), "-out", str(plain)]
        _pipeline([*decrypt, "-outform", "DER"], verify, f / "err")


def _ours_rss_growth(folder: Path, size: int) -> int:
    """Peak RSS growth of ``cms.seal`` in a fresh interpreter, in bytes."""
    command = [sys.executable, "-m", "bench.seal", "--rss-child", str(folder), str(size)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, check=True, text=True)
    return int(done.stdout.split()[-1]) * 1024


def _peak_kib() -> int:
    """This process's peak RSS in KiB: ``VmHWM`` on Linux, which, unlike ``ru_maxrss``,
    does not start from the parent's peak."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(status.split("VmHWM:")[1].split()[0])


def _rss_child(folder: Path, size: int) -> None:
    """In the child: seal ``size`` random bytes and print the peak RSS growth in KiB."""

    def load(name: str) -> _Identity:
        cert = x509.load_pem_x509_certificate((folder / f"{name}.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / f"{name}.key").read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cert, key

    (cert, key), recipients = load("doctor"), [load("spec-a")[0], load("spec-b")[0]]
    cms.seal(b"warm-up: imports and lazy tables", cert, key, recipients)
    payload = os.urandom(size)
    before = _peak_kib()
    sealed = cms.seal(payload, cert, key, recipients)
    after = _peak_kib()
    assert len(sealed) > size
    print(after - before)


def _row(label: str, ours: float, peer: float | None, spec: str) -> list[str]:
    shown = "n/a" if peer is None else spec.format(peer)
    return [
        label,
        "ours " + spec.format(ours),
        "openssl " + shown,
        f"ratio {fmt_ratio(ours, peer)}",
    ]


def _measure(size_mib: int, world: Pki, repeat: int) -> list[list[str]]:
    """The three rows of one payload size."""
    folder, ca, signer, recipients = world
    payload = os.urandom(size_mib * MIB)
    certs = [cert for cert, _ in recipients]
    reader = recipients[1]
    sealed_ours = cms.seal(payload, *signer, certs)
    assert cms.open_sealed(sealed_ours, *reader, [ca]).content == payload
    ours = {
        "seal": median_seconds(lambda: cms.seal(payload, *signer, certs), repeat),
        "open": median_seconds(lambda: cms.open_sealed(sealed_ours, *reader, [ca]), repeat),
    }
    theirs: dict[str, float | None] = {"seal": None, "open": None}
    rss_peer: float | None = None
    peer = OpenSsl(folder)
    if peer.exe is not None:
        source, sealed, plain = folder / "in", folder / "sealed.der", folder / "out"
        source.write_bytes(payload)
        theirs["seal"] = median_seconds(lambda: peer.seal(source, sealed), repeat)
        theirs["open"] = median_seconds(lambda: peer.open(sealed, plain), repeat)
        assert plain.read_bytes() == payload
        interop = cms.open_sealed(sealed.read_bytes(), *reader, [ca])
        assert interop.content == payload, "crypto.cms cannot open what openssl sealed"
        (folder / "empty").write_bytes(b"")
        baseline = peer.seal(folder / "empty", folder / "empty.der", rss=True)
        peak = peer.seal(source, sealed, rss=True)
        if peak is not None and baseline is not None:
            rss_peer = (peak - baseline) * 1024 / len(payload)
    rss_ours = _ours_rss_growth(folder, len(payload)) / len(payload)
    return [
        _row(f"seal {size_mib:>2} MiB", ours["seal"], theirs["seal"], "{:.3f} s"),
        _row(f"open {size_mib:>2} MiB", ours["open"], theirs["open"], "{:.3f} s"),
        _row(f"seal RSS {size_mib:>2} MiB", rss_ours, rss_peer, "{:.2f} x payload"),
    ]


def run(quick: bool) -> None:
    """Runs the benchmark and prints its table."""
    repeat = 2 if quick else 5
    with tempfile.TemporaryDirectory(prefix="passavant-bench-seal-") as tmp:
        world = make_pki(Path(tmp))
        for tool, lost in (("openssl", "the peer"), ("time", "openssl's peak memory")):
            if shutil.which(tool) is None:
                print(f"{tool} not found on PATH: {lost} is skipped (ratios n/a)")
        rows = []
        for size_mib in SIZES_MIB:
            rows += _measure(size_mib, world, repeat)
    title = f"seal: RSA-3072, 2 recipients, median of {repeat} runs (ratio = ours / openssl)"
    print_table(title, rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.seal [--quick]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--rss-child"]:
        _rss_child(Path(args[1]), int(args[2]))
        return 0
    run(parse_quick(args, "Seal and open with crypto.cms against openssl cms."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
