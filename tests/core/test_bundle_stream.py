"""cases.bundlestream: a bundle packed from files and sealed as it is written, opened and
checked one member at a time; read by the in-memory path, by OpenSSL and unzip too."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from cases import bundle, bundlestream
from cases.bundle import Party
from cases.errors import MalformedBundle, NotAddressedToYou, SenderMismatch
from crypto import cms, pki, stream
from tests.support.disk import need_free
from tests.support.pki import Identity, World, world
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def w() -> World:
    return world()


def _files(folder: Path) -> dict[str, Path]:
    clip = folder / "clip.mp4"
    with clip.open("wb") as out:  # 40 MiB, written in blocks: never whole in memory here
        for index in range(40):
            out.write(hashlib.sha256(bytes([index])).digest() * (1 << 15))
    (folder / "lab.pdf").write_bytes(b"%PDF-1.7\n" + b"lab result " * 50_000)
    return {"clips/clip-1.mp4": clip, "documents/document-1.pdf": folder / "lab.pdf"}


def _unpack(
    opened: stream.StreamContent, signer: Identity, reader: Identity, **bounds: int
) -> bundle.Bundle:
    return bundlestream.unpack_content(
        opened,
        signer_fingerprint=pki.fingerprint(signer.cert),
        reader_fingerprint=pki.fingerprint(reader.cert),
        **bounds,
    )


def _seal(w: World, folder: Path, files: dict[str, Path], progress: list[int]) -> Path:
    return bundlestream.seal_files(
        folder / "b.p7m", "bundle-1", files,
        Party.of_certificate(w.doctor.cert, "dr-martin"),
        [Party.of_certificate(w.specialist.cert), Party.of_certificate(w.doctor.cert)],
        (w.doctor.cert, w.doctor.key), [w.specialist.cert, w.doctor.cert],
        progress=lambda done, _total: progress.append(done),
    )  # fmt: skip


def test_sealed_from_files_then_unpacked_member_by_member(w: World, tmp_path: Path) -> None:
    files = _files(tmp_path)
    progress: list[int] = []
    sealed = _seal(w, tmp_path, files, progress)
    assert len(progress) > 30  # shown while sealing
    assert progress == sorted(progress)
    with stream.open_file(sealed, w.specialist.cert, w.specialist.key, w.roots) as opened:
        opened_bundle = bundlestream.unpack_content(
            opened,
            signer_fingerprint=pki.fingerprint(w.doctor.cert),
            reader_fingerprint=pki.fingerprint(w.specialist.cert),
        )
        assert opened_bundle.files == {}  # nothing held: read when asked for
        listed = {e.name: e for e in opened_bundle.manifest.files}
        assert listed["clips/clip-1.mp4"].media_type == "video/mp4"
        with zipfile.ZipFile(opened.open()) as archive:
            assert archive.namelist()[0] == bundle.MANIFEST
            assert archive.getinfo("clips/clip-1.mp4").compress_type == zipfile.ZIP_STORED
            assert archive.getinfo("documents/document-1.pdf").compress_type == zipfile.ZIP_DEFLATED
            assert (
                archive.read("documents/document-1.pdf")
                == files["documents/document-1.pdf"].read_bytes()
            )
        member = bundlestream._Member(
            opened, "documents/document-1.pdf", listed["documents/document-1.pdf"].sha256
        )
        assert member.read() == files["documents/document-1.pdf"].read_bytes()
        # the reader must be named, the sender must be the signer
        with pytest.raises(NotAddressedToYou):
            _unpack(opened, w.doctor, w.other_specialist)
        with pytest.raises(SenderMismatch):
            _unpack(opened, w.specialist, w.specialist)
    # the in-memory path reads the same bundle and finds the same files
    verified = cms.open_sealed(sealed.read_bytes(), w.specialist.cert, w.specialist.key, w.roots)
    whole = bundle.unpack(verified.content, signer_fingerprint=pki.fingerprint(w.doctor.cert),
                          reader_fingerprint=pki.fingerprint(w.specialist.cert))  # fmt: skip
    assert whole.files["clips/clip-1.mp4"] == files["clips/clip-1.mp4"].read_bytes()


def test_openssl_and_unzip_open_a_bundle_sealed_from_files(w: World, tmp_path: Path) -> None:
    openssl, unzip = require_tool("openssl"), require_tool("unzip")
    files = _files(tmp_path)
    _seal(w, tmp_path, files, [])
    w.ca.write(tmp_path, "ca")
    w.specialist.write(tmp_path, "me")

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(args, cwd=tmp_path, check=True, capture_output=True)

    run(openssl, "cms", "-decrypt", "-inform", "DER", "-in", "b.p7m", "-recip", "me.pem",
        "-inkey", "me.key", "-out", "signed.der")  # fmt: skip
    run(openssl, "cms", "-verify", "-inform", "DER", "-in", "signed.der", "-CAfile", "ca.pem",
        "-binary", "-out", "payload.zip")  # fmt: skip
    run(unzip, "-t", "payload.zip")
    manifest = json.loads(run(unzip, "-p", "payload.zip", "manifest.json").stdout)
    clip = run(unzip, "-p", "payload.zip", "clips/clip-1.mp4").stdout
    assert hashlib.sha256(clip).hexdigest() == next(
        f["sha256"] for f in manifest["files"] if f["name"] == "clips/clip-1.mp4"
    )


def _sealed_zip(w: World, tmp_path: Path, payload: bytes) -> stream.StreamOpened:
    path = stream.seal_file(io.BytesIO(payload), tmp_path / "z.p7m", w.doctor.cert, w.doctor.key,
                            [w.specialist.cert])  # fmt: skip
    return stream.open_file(path, w.specialist.cert, w.specialist.key, w.roots)


def test_a_file_that_differs_from_its_manifest_is_refused(w: World, tmp_path: Path) -> None:
    packed = bundle.pack_files(
        "b-2", {"documents/a.pdf": b"%PDF-1.7 original"},
        Party.of_certificate(w.doctor.cert), [Party.of_certificate(w.specialist.cert)],
    )  # fmt: skip
    forged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(packed)) as source, zipfile.ZipFile(forged, "w") as out:
        for info in source.infolist():
            body = source.read(info)
            out.writestr(info, body if info.filename == bundle.MANIFEST else b"%PDF-1.7 forged!!")
    for payload, why in ((forged.getvalue(), "differs"), (os.urandom(1000), "not a zip")):
        with _sealed_zip(w, tmp_path, payload) as opened, pytest.raises(MalformedBundle):
            _unpack(opened, w.doctor, w.specialist)
        assert why


def test_declared_sizes_are_bounded_before_inflating(w: World, tmp_path: Path) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("manifest.json", b"{}")
        out.writestr("documents/a.pdf", b"\0" * (3 << 20))
    opened = _sealed_zip(w, tmp_path, bomb.getvalue())
    with opened, pytest.raises(MalformedBundle, match="exceeds"):
        _unpack(opened, w.doctor, w.specialist, max_size=2 << 20)


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cases import bundlestream
    from cases.bundle import Party
    from crypto import pki, stream
    from tests.support.pki import world

    def peak() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise SystemExit("no VmHWM")

    w = world()
    folder = Path(sys.argv[1])
    clip = folder / "clip.mp4"
    with clip.open("wb") as out:  # sparse: a gibibyte of zeros that takes no disk
        out.truncate(1 << 30)
    before = peak()
    sealed = bundlestream.seal_files(
        folder / "b.p7m", "big-1", {"clips/clip-1.mp4": clip},
        Party.of_certificate(w.doctor.cert), [Party.of_certificate(w.specialist.cert)],
        (w.doctor.cert, w.doctor.key), [w.specialist.cert],
    )
    with stream.open_file(sealed, w.specialist.cert, w.specialist.key, w.roots,
                          scratch_dir=folder) as opened:
        found = bundlestream.unpack_content(
            opened, signer_fingerprint=pki.fingerprint(w.doctor.cert),
            reader_fingerprint=pki.fingerprint(w.specialist.cert),
        )
        assert [(f.name, f.size) for f in found.manifest.files] == [("clips/clip-1.mp4", 1 << 30)]
    print(before, peak())
    """
)


def test_a_gibibyte_bundle_of_files_is_sealed_and_checked_in_flat_memory(tmp_path: Path) -> None:
    """Behaviour, not timing: a 1 GiB clip packed, sealed, opened and checked member by
    member (about 20 s here) in a child whose RSS high-water mark stays far below the size."""
    need_free(tmp_path, 5 << 29, "sealing a gibibyte clip")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    before, after = map(int, done.stdout.split())
    print(f"peak RSS {after / 2**20:.0f} MiB, {(after - before) / 2**20:.1f} MiB over the start")
    assert after < 300 << 20, f"peak RSS {after >> 20} MiB for a 1 GiB bundle"
    assert after - before < 100 << 20
