"""Streaming benchmark: peak memory of sealing and opening 10 MiB, 100 MiB and 1 GiB bundles
with ``crypto.stream``, beside today's bytes path (``crypto.cms``) at 10 and 100 MiB.

``python -m bench.stream [--quick]`` (``--quick`` leaves out the 1 GiB run). Each figure comes
from a fresh interpreter (one child process per operation and size), which loads the test
identities, then reports its RSS high-water mark (``VmHWM``) before and after the operation:

* ``seal``: the payload is generated as it is read (never a file, never whole in memory for
  the streaming path); the streaming path writes ``Sealer`` to a file; the bytes path builds
  the payload in memory (as ``pack_case`` does) and calls ``cms.seal``, then writes the file.
* ``open``: decrypt, check the tag and the signature, then read the whole content once
  (``stream.open_file`` and its reader; ``cms.open_sealed`` on the file's bytes).

``growth`` is the peak minus the baseline (interpreter, imports, keys), in MiB, and
``x payload`` that growth as a multiple of the payload. The goal: the streaming path's growth
does not grow with the size (the same few MiB at 10 MiB and at 1 GiB), where the bytes
path's is a multiple of the payload. ``time`` is the operation's wall time; ``stream/bytes``
compares the two paths' times at the same size (below 1: streaming is faster).

A second table follows a request through the application (the demo's profiles, its platform
on 127.0.0.1): a clip (40 % of the size, at most 200 MiB) and three PDFs, generated as they are
read, are saved as the doctor's draft (``DraftStore.save``), then the draft is loaded and
sent (``DraftStore.load`` + ``Workstation.send_case``: sealed into the archive, indexed,
copied into the outbox's spool), beside the core path (``bundlestream.seal_files`` from the
same bytes in files) and, at the smaller size only, the former in-memory path (``pack_case``,
one ``Sealer.write`` and ``unpack`` for the index, the clip and PDFs already in memory).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

from bench import MIB, fmt_ratio, parse_quick, print_table
from bench.stream_app import run_app
from crypto import pki
from tests.support.pki import world

ROOT = Path(__file__).resolve().parents[1]
STREAM_SIZES = (10 * MIB, 100 * MIB, 1024 * MIB)
BYTES_SIZES = (10 * MIB, 100 * MIB)

_CHILD = textwrap.dedent(
    """
    import io, sys, time
    from pathlib import Path
    from crypto import cms, stream
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    def peak() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise SystemExit("no VmHWM")

    class Generated:
        BLOCK = bytes((i * 17 + i // 251) % 256 for i in range(1 << 20))
        def __init__(self, size):
            self.left = size
        def read(self, size=-1):
            size = min(self.left, len(self.BLOCK) if size < 0 else size, len(self.BLOCK))
            self.left -= size
            return self.BLOCK[:size]

    path, operation, size, target = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])

    def load(name):
        cert = x509.load_pem_x509_certificate((target.parent / f"{name}.pem").read_bytes())
        key_path = target.parent / f"{name}.key"
        key = load_pem_private_key(key_path.read_bytes(), None) if key_path.exists() else None
        return cert, key

    (ca, _), doctor, specialist = load("ca"), load("doctor"), load("specialist")
    recipients = [specialist[0], doctor[0]]
    before = peak()
    started = time.perf_counter()
    if (path, operation) == ("stream", "seal"):
        stream.seal_file(Generated(size), target, doctor[0], doctor[1], recipients)
    elif (path, operation) == ("stream", "open"):
        with stream.open_file(target, specialist[0], specialist[1], [ca],
                              scratch_dir=target.parent) as opened:
            reader, seen = opened.open(), 0
            while piece := reader.read(1 << 20):
                seen += len(piece)
        assert seen == size
    elif (path, operation) == ("bytes", "seal"):
        source, parts = Generated(size), []
        while piece := source.read(1 << 20):
            parts.append(piece)
        content = b"".join(parts)
        del parts
        target.write_bytes(cms.seal(content, doctor[0], doctor[1], recipients))
    else:
        verified = cms.open_sealed(target.read_bytes(), specialist[0], specialist[1], [ca])
        assert len(verified.content) == size
    print(before, peak(), time.perf_counter() - started)
    """
)


def _measure(path: str, operation: str, size: int, target: Path) -> tuple[int, float]:
    """Growth of the peak RSS in bytes, and the wall time, of one operation in a child."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, path, operation, str(size), str(target)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    before, after, seconds = done.stdout.split()
    return int(after) - int(before), float(seconds)


def run(quick: bool) -> None:
    """Measures and prints the table."""
    sizes = STREAM_SIZES[:2] if quick else STREAM_SIZES
    rows = [["path", "size", "seal growth", "x payload", "seal time", "open growth",
             "x payload", "open time", "stream/bytes seal", "stream/bytes open"]]  # fmt: skip
    times: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="passavant-bench-stream-") as folder:
        people = world()  # written once: every child loads the same identities
        (Path(folder) / "ca.pem").write_bytes(pki.cert_to_pem(people.ca.cert))
        people.doctor.write(Path(folder), "doctor")
        people.specialist.write(Path(folder), "specialist")
        for path in ("bytes", "stream"):
            for size in BYTES_SIZES if path == "bytes" else sizes:
                target = Path(folder) / f"{path}-{size}.p7m"
                seal_growth, seal_time = _measure(path, "seal", size, target)
                open_growth, open_time = _measure(path, "open", size, target)
                target.unlink()
                times[path, size] = (seal_time, open_time)
                peer = times.get(("bytes", size))
                rows.append([
                    path, f"{size // MIB} MiB",
                    f"{seal_growth / MIB:.1f} MiB", f"{seal_growth / size:.2f}",
                    f"{seal_time:.2f} s",
                    f"{open_growth / MIB:.1f} MiB", f"{open_growth / size:.2f}",
                    f"{open_time:.2f} s",
                    fmt_ratio(seal_time, peer[0] if peer and path == "stream" else None),
                    fmt_ratio(open_time, peer[1] if peer and path == "stream" else None),
                ])  # fmt: skip
    print_table("Streaming: peak RSS growth (VmHWM after - before, fresh process)", rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.stream [--quick]``."""
    quick = parse_quick(argv, "Peak memory of sealing and opening large bundles.")
    run(quick)
    run_app(quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
