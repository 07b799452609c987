"""The application's path of a large request, measured as ``bench.stream`` measures the core's:
peak RSS growth of a fresh child process per operation (see ``bench/stream.py``).

* ``draft``: ``DraftStore.save`` of a request whose clip and PDFs are generated as they are
  read (never whole in memory, never a file in clear);
* ``send``: ``DraftStore.load`` (opened in bounded memory) then ``Workstation.send_case``
  (sealed into the archive, indexed from its manifest, copied into the outbox's spool);
* ``files``: the core path, ``bundlestream.seal_files`` from the same bytes in files;
* ``memory`` (smaller size only): the former path, the clip and PDFs in memory, the request
  packed whole (``pack_case``), sealed by one ``Sealer.write``, unpacked whole for the index.

A second table, the **autosave** of a draft holding a clip of 20 and of 200 MiB (issue 17):
``before``, what each autosave cost when the whole draft was sealed again (``seal_case`` of
the whole request, the former ``DraftStore.save``); ``after``, an autosave now that the clip
was sealed once, apart (``cases.draftpayloads``); CPU seconds of the child process. The cost
after must not grow with the clip (``python -m bench.stream_app [--quick]``: this table only).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from bench import MIB, print_table

ROOT = Path(__file__).resolve().parents[1]
SIZES = (50 * MIB, 500 * MIB)
QUICK_SIZES = (20 * MIB, 60 * MIB)
CLIP_SIZES = (20 * MIB, 200 * MIB)
QUICK_CLIP_SIZES = (10 * MIB, 50 * MIB)
AUTOSAVES = 5

_CHILD = textwrap.dedent(
    """
    import datetime as dt, hashlib, os, sys, time
    from dataclasses import replace
    from pathlib import Path
    import resources
    from app.demo import DEMO_PASSPHRASE
    from app.session import Session
    from cases import bundlestream
    from cases.bundle import MANIFEST, Party, pack_case, unpack
    from cases.clips import Clip, ClipAreas
    from cases.documents import Document
    from cases.drafts import DraftStore
    from cases.model import Case
    from cases.profile import Profile
    from crypto.stream import Sealer
    from tests.support.photos import sample_photo

    def peak() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise SystemExit("no VmHWM")

    BLOCK = os.urandom(1 << 20)  # repeated beyond deflate's 32 KiB window: incompressible

    class Generated:
        '''A payload (cases.photos.Payload) generated as it is read.'''
        def __init__(self, size):
            self.size, self.left = size, size
        def open(self):
            return Generated(self.size)
        def read(self, size=-1):
            size = self.left if size < 0 else min(size, self.left)
            out = (BLOCK * (size // len(BLOCK) + 2))[: size] if size > len(BLOCK) else BLOCK[:size]
            self.left -= size
            return out
        def __enter__(self):
            return self
        def __exit__(self, *_):
            pass
        def sha256(self):
            digest, reader = hashlib.sha256(), self.open()
            while block := reader.read(1 << 20):
                digest.update(block)
            return digest.hexdigest()

    operation, size, unit = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    clip_size = min(200 << 20, size * 2 // 5)
    pdf_size = (size - clip_size) // 3
    photo = sample_photo(resources.sample_photos()[0], "photo-1.jpg")
    case = Case(patient_ref="P-1", consent=True, specialty="dermatology", summary="Plaie.",
                treatments="", question="Avis ?", photos=(photo,))
    profile = Profile(unit)
    doctor = profile.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
    drafts = DraftStore(profile.path("drafts"), doctor, profile.trust_roots())

    clip_data = Generated(clip_size)
    pdfs = [Generated(pdf_size) for _ in range(3)]
    if operation == "memory":
        clip_data, pdfs = clip_data.read(), [p.read() for p in pdfs]
        digest = lambda data: hashlib.sha256(data).hexdigest()
    else:
        digest = lambda data: data.sha256()
    length = lambda data: len(data) if isinstance(data, bytes) else data.size
    clip = Clip("clip-1.mp4", clip_data, 42.0, length(clip_data), digest(clip_data), 1280, 720,
                False, ClipAreas(2, 0, 0))
    documents = tuple(
        Document(f"document-{n}.pdf", data, "biologie", dt.date(2026, 11, 30), "Bilan",
                 length(data), digest(data), 1)
        for n, data in enumerate(pdfs, 1)
    )
    case = replace(case, clips=(clip,), documents=documents)
    if operation == "files":
        folder = unit.parent / "bench-files"
        folder.mkdir(exist_ok=True)
        files = {}
        for name, data in [("clips/clip-1.mp4", clip_data)] + [
            (f"documents/{d.name}", d.payload) for d in documents
        ]:
            path = folder / name.replace("/", "-")
            with path.open("wb") as out, data.open() as reader:
                while block := reader.read(1 << 20):
                    out.write(block)
            files[name] = path
    session = Session(profile, poll_interval=60)
    to = next(e for e in session.workstation.refresh_directory() if e.id == "pr-dubois")
    me = Party.of_certificate(doctor.certificate, doctor.info.id)
    before = peak()
    started = time.perf_counter()
    if operation == "draft":
        drafts.save(case)
    elif operation == "send":
        (draft,), unreadable = drafts.load()
        assert not unreadable and not isinstance(draft.clips[0].payload, bytes)  # streamed
        session.workstation.send_case(doctor, draft, to)
    elif operation == "files":
        bundlestream.seal_files(
            unit.parent / "files.cms", "b-files", files, me, [me], (doctor.certificate, doctor.key),
            [doctor.certificate],
        )
    else:  # the former path: the ZIP whole in memory, then unpacked whole for the index
        plain = pack_case("b-memory", case, me, [me])
        with Sealer(unit.parent / "memory.cms", doctor.certificate, doctor.key,
                    [doctor.certificate]) as sealer:
            sealer.write(plain)
            sealer.finish()
        unpack(plain, signer_fingerprint=me.fingerprint, reader_fingerprint=me.fingerprint)
    print(before, peak(), time.perf_counter() - started)
    session.workstation.close()
    """
)


_AUTOSAVE = textwrap.dedent(
    """
    import hashlib, os, sys, time
    from dataclasses import replace
    from pathlib import Path
    from app.demo import DEMO_PASSPHRASE
    from cases.bundleseal import seal_case
    from cases.clips import Clip, ClipAreas
    from cases.drafts import DraftStore
    from cases.model import Case, new_id
    from cases.profile import Profile

    BLOCK = os.urandom(1 << 20)

    class Generated:  # a clip generated as it is read: never whole in memory, nor in clear
        def __init__(self, size):
            self.size, self.left = size, size
        def open(self):
            return Generated(self.size)
        def read(self, size=-1):
            size = self.left if size < 0 else min(size, self.left)
            out = (BLOCK * (size // len(BLOCK) + 2))[: size] if size > len(BLOCK) else BLOCK[:size]
            self.left -= size
            return out
        def __enter__(self):
            return self
        def __exit__(self, *_):
            pass

    mode, size, unit, rounds = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    digest, reader = hashlib.sha256(), Generated(size)
    while block := reader.read(1 << 20):
        digest.update(block)
    clip = Clip("clip-1.mp4", Generated(size), 42.0, size, digest.hexdigest(), 1280, 720,
                False, ClipAreas(2, 0, 0))
    case = Case(patient_ref="P-1", consent=True, specialty="dermatology", summary="Plaie.",
                treatments="", question="Avis ?", clips=(clip,))
    profile = Profile(unit)
    doctor = profile.unlock("dr-bernard", DEMO_PASSPHRASE.encode())
    drafts = DraftStore(profile.path("drafts"), doctor, profile.trust_roots())
    first = 0.0
    if mode == "after":
        began = time.process_time()
        drafts.save(case)  # the clip sealed, once
        first = time.process_time() - began
        case = drafts.load()[0][0]  # as the form holds it: the clip by its sealed file
    began, written = time.process_time(), 0
    for n in range(rounds):
        edited = replace(case, summary=f"Plaie, saisie {n}.")
        if mode == "after":
            path = drafts.save(edited)
        else:  # the former DraftStore.save: the whole draft, its clip within, sealed again
            path = unit.parent / "draft-before.p7m"
            seal_case(path, new_id(), edited, drafts._party(), [drafts._reader()],
                      (doctor.signer_certificate, doctor.signer_key), [doctor.certificate])
        written = path.stat().st_size
    print(first, (time.process_time() - began) / rounds, written)
    drafts.discard(case.case_id)
    (unit.parent / "draft-before.p7m").unlink(missing_ok=True)
    """
)


def _autosave(mode: str, size: int, unit: Path, rounds: int) -> tuple[float, float, int]:
    """CPU seconds of the first save (``after``: the clip sealed) and of one autosave, and
    the size of the draft an autosave writes."""
    done = subprocess.run(
        [sys.executable, "-c", _AUTOSAVE, mode, str(size), str(unit), str(rounds)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"autosave {mode} at {size} bytes failed:\n{done.stderr[-2000:]}")
    first, each, written = done.stdout.split()[-3:]
    return float(first), float(each), int(written)


def run_autosave(quick: bool, unit: Path) -> None:
    """Measures and prints the autosave table (issue 17), in the demo's unit profile."""
    rows = [["clip", "before: each autosave", "after: first save", "after: each autosave",
             "draft sealed", "before / after"]]  # fmt: skip
    for size in QUICK_CLIP_SIZES if quick else CLIP_SIZES:
        _first, before, _size = _autosave("before", size, unit, 1 if size > 50 * MIB else 2)
        first, after, written = _autosave("after", size, unit, AUTOSAVES)
        rows.append([
            f"{size // MIB} MiB", f"{before:.2f} s", f"{first:.2f} s", f"{after:.3f} s",
            f"{written / 1024:.0f} KiB", f"{before / max(after, 1e-6):.0f}x",
        ])  # fmt: skip
    print_table(
        "Autosave of a draft holding a clip, CPU seconds: before and after (issue 17)", rows
    )


def _measure(operation: str, size: int, unit: Path) -> tuple[int, float]:
    """Growth of the peak RSS in bytes, and the wall time, of one operation in a child."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, operation, str(size), str(unit)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{operation} at {size} bytes failed:\n{done.stderr[-2000:]}")
    before, after, seconds = done.stdout.split()[-3:]
    return int(after) - int(before), float(seconds)


def run_app(quick: bool) -> None:
    """Measures and prints the application's table."""
    from app import demo  # the demo's CA, profiles and platform: only for this table

    sizes = QUICK_SIZES if quick else SIZES
    rows = [["operation", "size", "growth", "x payload", "time"]]
    with tempfile.TemporaryDirectory(prefix="passavant-bench-app-") as folder:
        layout = demo.set_up(Path(folder) / "demo")
        process, _url = demo.start_platform(layout)
        try:
            for size in sizes:
                operations = ["draft", "send", "files"]
                if size == sizes[0]:
                    operations.append("memory")
                for operation in operations:
                    growth, seconds = _measure(operation, size, Path(layout.unit))
                    rows.append([
                        operation, f"{size // MIB} MiB", f"{growth / MIB:.1f} MiB",
                        f"{growth / size:.3f}", f"{seconds:.1f} s",
                    ])  # fmt: skip
                for leftover in ("drafts", "archive", "outbox", "index", "../bench-files"):
                    _empty(Path(layout.unit) / leftover)
                for sealed in ("files.cms", "memory.cms"):
                    (Path(layout.unit).parent / sealed).unlink(missing_ok=True)
        finally:
            demo.stop_platform(process)
        print_table("A request through the application: peak RSS growth (fresh process)", rows)
        run_autosave(quick, Path(layout.unit))  # no platform needed


def _empty(folder: Path) -> None:
    """Drop what one size left (the next size starts from an empty profile's folders)."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            path.unlink()


def _autosave_alone(quick: bool) -> None:
    from app import demo

    with tempfile.TemporaryDirectory(prefix="passavant-bench-autosave-") as folder:
        layout = demo.set_up(Path(folder) / "demo")
        run_autosave(quick, Path(layout.unit))


if __name__ == "__main__":  # the autosave table alone
    from bench import parse_quick

    _autosave_alone(parse_quick(None, "Autosave of a draft holding a clip (issue 17)"))
