"""Seal benchmark: ``crypto.cms`` against ``openssl cms`` on a case of four photos.

The payload is a case of four 12-megapixel photos: four random blobs of 6,250,000 bytes
(the size of such a JPEG at quality 92; the cipher does not care what the bytes are) and a
small manifest, 25 MB in all. It is signed by the doctor and sealed to three recipients
(the specialist, the doctor, and the unit's archive), once with RSA-3072 identities and once
with EC P-256 identities. Figures (each time the median of 5 runs, 2 with ``--quick``):

* ``seal``: ours is ``crypto.cms.seal`` on an in-memory buffer; the peer is
  ``openssl cms -sign | openssl cms -encrypt`` between files in a temporary directory, so its
  time includes two process start-ups and the file writes. ``ratio`` is ours / openssl:
  below 1 means we are faster. Goal: 0.50 or less.
* ``open``: ``crypto.cms.open_sealed`` (decrypt, verify the signature and the signer's
  certificate) against ``openssl cms -decrypt | openssl cms -verify``, each on its own output,
  as the specialist.
* ``seal memory`` / ``open memory``: how much the peak resident memory grows during the
  call, as a multiple of the payload, the input being already in memory: the peak minus the
  baseline of the interpreter with its imports, keys and input. Ours is measured in a fresh
  interpreter (``VmHWM`` after the call minus before it); openssl's is the larger peak of the
  two processes of its pipeline (GNU ``time -f %M``) minus the same on an empty payload.
  Goal: ours 3.00 x the payload or less.
"""

from __future__ import annotations

import json
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
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from bench import fmt_ratio, median_seconds, parse_quick, print_table
from crypto import cms, pki

PHOTOS = 4
PHOTO_BYTES = 6_250_000
"""One 12-megapixel photo as a JPEG at quality 92 (4000 x 3000 pixels, about 4 bits/pixel)."""

TIME_GOAL = 0.50
"""Our seal and open times as a fraction of openssl's, at most."""

MEMORY_GOAL = 3.0
"""Our peak memory growth as a multiple of the payload, at most."""

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = (("doctor", "doctor"), ("specialist", "specialist"), ("unit", "unit"))
KIND_LABELS = {"rsa": "RSA-3072", "ec": "EC P-256"}
_KEYOPTS = {
    "rsa": ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"],
    "ec": ["-keyopt", "ecdh_kdf_md:sha256"],
}
_Identity = tuple[x509.Certificate, pki.PrivateKey]


class Pki(NamedTuple):
    """A CA, a doctor who signs, and the three recipients; PEM files in ``folder``."""

    folder: Path
    kind: pki.KeyKind
    ca: x509.Certificate
    people: dict[str, _Identity]


def make_pki(folder: Path, kind: pki.KeyKind) -> Pki:
    """Creates the :class:`Pki` with keys of ``kind`` (RSA-3072: about two seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = pki.create_ca("Passavant Bench CA", kind=kind)
    people: dict[str, _Identity] = {}
    for name, role in PEOPLE:
        key = pki.new_private_key(kind)
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
    return Pki(folder, kind, ca_cert, people)


def case_payload() -> bytes:
    """Four photo-sized random blobs and a manifest naming them, joined (about 25 MB)."""
    photos = [os.urandom(PHOTO_BYTES) for _ in range(PHOTOS)]
    manifest = json.dumps({f"photo-{i + 1}.jpg": len(p) for i, p in enumerate(photos)})
    return b"".join([manifest.encode(), *photos])


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
        tail.wait(timeout=300)
        head.wait(timeout=300)
    if head.returncode or tail.returncode:
        raise RuntimeError(log.read_text(errors="replace").strip())


class OpenSsl:
    """The peer: ``openssl cms`` pipelines over files in ``folder``.

    Peak memory is read with GNU ``time`` (``/usr/bin/time -f %M``): the ``ru_maxrss`` a
    Python parent gets from ``wait4`` would include the parent's own peak, which Linux
    carries over through ``fork`` and ``exec``.
    """

    def __init__(self, folder: Path, kind: pki.KeyKind) -> None:
        self.folder = folder
        self.kind = kind
        self.exe = shutil.which("openssl")
        self.gnu_time = shutil.which("time")

    def _run(self, first: list[str], second: list[str], rss: bool) -> int | None:
        """Runs the pipeline; with ``rss``, returns the larger peak RSS of its two
        processes in KiB (``None`` without GNU ``time``)."""
        if not rss:
            _pipeline(first, second, self.folder / "err")
            return None
        if self.gnu_time is None:
            return None
        peaks = [self.folder / "first.rss", self.folder / "second.rss"]
        first, second = (
            [self.gnu_time, "-f", "%M", "-o", str(out), *command]
            for out, command in zip(peaks, (first, second), strict=True)
        )
        _pipeline(first, second, self.folder / "err")
        return max(int(out.read_text().split()[-1]) for out in peaks)

    def seal(self, source: Path, sealed: Path, *, rss: bool = False) -> int | None:
        """Signs (as the doctor) and encrypts ``source`` to the three people into
        ``sealed`` (DER)."""
        f, exe = self.folder, str(self.exe)
        sign = [exe, "cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", str(source)]
        sign += ["-signer", str(f / "doctor.pem"), "-inkey", str(f / "doctor.key")]
        if self.kind == "rsa":
            sign += ["-keyopt", "rsa_padding_mode:pss"]  # like ours
        sign += ["-outform", "DER"]
        encrypt = [exe, "cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER"]
        for name, _role in PEOPLE:  # -keyopt applies to the -recip before it
            encrypt += ["-recip", str(f / f"{name}.pem"), *_KEYOPTS[self.kind]]
        encrypt += ["-out", str(sealed)]
        return self._run(sign, encrypt, rss)

    def open(self, sealed: Path, plain: Path, *, rss: bool = False) -> int | None:
        """Decrypts (as the specialist) and verifies ``sealed`` into ``plain``."""
        f, exe = self.folder, str(self.exe)
        decrypt = [exe, "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(sealed)]
        decrypt += ["-recip", str(f / "specialist.pem"), "-inkey", str(f / "specialist.key")]
        verify = [exe, "cms", "-verify", "-binary", "-inform", "DER"]
        verify += ["-CAfile", str(f / "ca.pem"), "-out", str(plain)]
        return self._run([*decrypt, "-outform", "DER"], verify, rss)


def _peak_kib() -> int:
    """This process's peak RSS in KiB: ``VmHWM`` on Linux, which, unlike ``ru_maxrss``,
    does not start from the parent's peak."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(status.split("VmHWM:")[1].split()[0])


def _ours_growth(folder: Path, mode: str, size: int) -> float:
    """Peak RSS growth of our ``mode`` (seal or open) in a fresh interpreter, as a multiple
    of the payload size."""
    command = [sys.executable, "-m", "bench.seal", "--rss-child", str(folder), mode, str(size)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, check=True, text=True)
    return int(done.stdout.split()[-1]) * 1024 / size


def _rss_child(folder: Path, mode: str, size: int) -> None:
    """In the child: seal ``size`` random bytes, or open ``folder/sealed-ours.der``; print
    the peak RSS growth in KiB."""

    def load(name: str) -> _Identity:
        cert = x509.load_pem_x509_certificate((folder / f"{name}.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / f"{name}.key").read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        return cert, key

    ca = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
    doctor, reader = load("doctor"), load("specialist")
    recipients = [load(name)[0] for name, _role in PEOPLE]
    warm_up = cms.seal(b"warm-up: imports and lazy tables", *doctor, recipients)
    cms.open_sealed(warm_up, *reader, [ca])
    if mode == "seal":
        payload = os.urandom(size)
        before = _peak_kib()
        sealed = cms.seal(payload, *doctor, recipients)
        after = _peak_kib()
        assert len(sealed) > size
    else:
        sealed = (folder / "sealed-ours.der").read_bytes()
        before = _peak_kib()
        opened = cms.open_sealed(sealed, *reader, [ca])
        after = _peak_kib()
        assert len(opened.content) == size
    print(after - before)


def _goal(value: float | None, limit: float) -> str:
    if value is None:
        return "goal n/a"
    return f"goal <= {limit:.2f} {'met' if value <= limit else 'MISSED'}"


def _time_row(label: str, ours: float, peer: float | None) -> list[str]:
    ratio = None if peer is None or peer <= 0 else ours / peer
    return [
        label,
        f"ours {ours:.3f} s",
        "openssl n/a" if peer is None else f"openssl {peer:.3f} s",
        f"ratio {fmt_ratio(ours, peer)}",
        _goal(ratio, TIME_GOAL),
    ]


def _memory_row(label: str, ours: float, peer: float | None) -> list[str]:
    return [
        label,
        f"ours {ours:.2f} x payload",
        "openssl n/a" if peer is None else f"openssl {peer:.2f} x payload",
        f"ratio {fmt_ratio(ours, peer)}",
        _goal(ours, MEMORY_GOAL),
    ]


def _measure(world: Pki, payload: bytes, repeat: int) -> list[list[str]]:
    """The four rows of one kind of identity."""
    folder, kind, ca, people = world
    doctor, reader = people["doctor"], people["specialist"]
    certs = [people[name][0] for name, _role in PEOPLE]
    sealed_ours = cms.seal(payload, *doctor, certs)
    assert cms.open_sealed(sealed_ours, *reader, [ca]).content == payload
    (folder / "sealed-ours.der").write_bytes(sealed_ours)
    ours = {
        "seal": median_seconds(lambda: cms.seal(payload, *doctor, certs), repeat),
        "open": median_seconds(lambda: cms.open_sealed(sealed_ours, *reader, [ca]), repeat),
    }
    theirs: dict[str, float | None] = {"seal": None, "open": None}
    memory_peer: dict[str, float | None] = {"seal": None, "open": None}
    peer = OpenSsl(folder, kind)
    if peer.exe is not None:
        source, sealed, plain = folder / "in", folder / "sealed.der", folder / "out"
        source.write_bytes(payload)
        theirs["seal"] = median_seconds(lambda: peer.seal(source, sealed), repeat)
        theirs["open"] = median_seconds(lambda: peer.open(sealed, plain), repeat)
        assert plain.read_bytes() == payload
        interop = cms.open_sealed(sealed.read_bytes(), *reader, [ca])
        assert interop.content == payload, "crypto.cms cannot open what openssl sealed"
        peer.open(folder / "sealed-ours.der", plain)
        assert plain.read_bytes() == payload, "openssl cannot open what crypto.cms sealed"
        empty, empty_sealed = folder / "empty", folder / "empty.der"
        empty.write_bytes(b"")
        baseline = peer.seal(empty, empty_sealed, rss=True)
        peak = peer.seal(source, sealed, rss=True)
        if peak is not None and baseline is not None:
            memory_peer["seal"] = (peak - baseline) * 1024 / len(payload)
        baseline = peer.open(empty_sealed, plain, rss=True)
        peak = peer.open(sealed, plain, rss=True)
        if peak is not None and baseline is not None:
            memory_peer["open"] = (peak - baseline) * 1024 / len(payload)
        for path in (source, sealed, plain):
            path.unlink()
    memory_ours = {mode: _ours_growth(folder, mode, len(payload)) for mode in ("seal", "open")}
    label = KIND_LABELS[kind]
    return [
        _time_row(f"seal ({label})", ours["seal"], theirs["seal"]),
        _time_row(f"open ({label})", ours["open"], theirs["open"]),
        _memory_row(f"seal memory ({label})", memory_ours["seal"], memory_peer["seal"]),
        _memory_row(f"open memory ({label})", memory_ours["open"], memory_peer["open"]),
    ]


def run(quick: bool) -> None:
    """Runs the benchmark and prints its table."""
    repeat = 2 if quick else 5
    payload = case_payload()
    with tempfile.TemporaryDirectory(prefix="passavant-bench-seal-") as tmp:
        for tool, lost in (("openssl", "the peer"), ("time", "openssl's peak memory")):
            if shutil.which(tool) is None:
                print(f"{tool} not found on PATH: {lost} is skipped (ratios n/a)")
        rows = []
        for kind in ("rsa", "ec"):
            rows += _measure(make_pki(Path(tmp) / kind, kind), payload, repeat)
    size_mb = len(payload) / 1e6
    title = (
        f"seal: a case of {PHOTOS} photos ({size_mb:.1f} MB), 3 recipients,"
        f" median of {repeat} runs (ratio = ours / openssl)"
    )
    print_table(title, rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.seal [--quick]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--rss-child"]:
        _rss_child(Path(args[1]), args[2], int(args[3]))
        return 0
    run(parse_quick(args, "Seal and open with crypto.cms against openssl cms."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
