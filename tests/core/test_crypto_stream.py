"""crypto.stream: sealing and opening through files in bounded memory, checked against
crypto.cms (the bytes API), OpenSSL both ways, tampering, truncation and peak memory."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crypto import cms, stream
from crypto._scratch import Scratch, ScratchCorrupted
from crypto.errors import (
    BadSignature,
    CryptoError,
    DecryptionFailed,
    MalformedMessage,
    NotARecipient,
    TruncatedMessage,
    UntrustedSigner,
)
from tests.support.disk import need_free
from tests.support.pki import World, world
from tests.support.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def w() -> World:
    return world()


class Generated:
    """A readable stream of ``size`` pseudo-random bytes, never held whole."""

    BLOCK = bytes((i * 17 + i // 251) % 256 for i in range(1 << 20))

    def __init__(self, size: int) -> None:
        self.left = size
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        within = self.position % len(self.BLOCK)
        size = min(self.left, len(self.BLOCK) - within if size < 0 else size)
        size = min(size, len(self.BLOCK) - within)
        self.left -= size
        self.position += size
        return self.BLOCK[within : within + size]


class Sink:
    """What a consumer received: every byte handed on by the opener is recorded."""

    def __init__(self) -> None:
        self.received = 0

    def consume(self, opened: stream.StreamOpened) -> bytes:
        reader = opened.open()
        out = bytearray()
        while piece := reader.read(1 << 20):
            self.received += len(piece)
            out += piece
        return bytes(out)


def seal(w: World, data: bytes, path: Path) -> Path:
    return stream.seal_file(
        io.BytesIO(data), path, w.doctor.cert, w.doctor.key, [w.specialist.cert, w.doctor.cert]
    )


def open_into(w: World, path: Path, sink: Sink, scratch: Path | None = None) -> bytes:
    with stream.open_file(
        path, w.specialist.cert, w.specialist.key, w.roots, scratch_dir=scratch
    ) as opened:
        return sink.consume(opened)


@pytest.mark.parametrize("size", [0, 1, 511, 65535, 65536, 65537, 3 * (1 << 20) + 7])
def test_round_trip_and_the_bytes_api_agree(w: World, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    sealed = seal(w, data, tmp_path / "b.p7m")
    assert not [p for p in tmp_path.iterdir() if p.name != "b.p7m"]  # no temporary left
    # the bytes API reads the streamed (BER) form ...
    assert (
        cms.open_sealed(sealed.read_bytes(), w.specialist.cert, w.specialist.key, w.roots).content
        == data
    )
    # ... the streaming reader reads it, and the DER form the bytes API writes
    assert open_into(w, sealed, Sink()) == data
    der = tmp_path / "der.p7m"
    der.write_bytes(cms.seal(data, w.doctor.cert, w.doctor.key, [w.specialist.cert]))
    with stream.open_file(der, w.specialist.cert, w.specialist.key, w.roots) as opened:
        assert opened.size == size
        assert opened.signer == w.doctor.cert
        assert opened.open().read() == data


def test_a_few_hundred_megabytes_round_trip(w: World, tmp_path: Path) -> None:
    """300 MiB sealed and opened: about 3 s on the 2-core CI machine."""
    size = 300 << 20
    progress: list[tuple[int, int | None]] = []
    sealed = stream.seal_file(
        Generated(size), tmp_path / "big.p7m", w.doctor.cert, w.doctor.key,
        [w.specialist.cert], total=size,
        progress=lambda done, total: progress.append((done, total)),
    )  # fmt: skip
    assert sealed.stat().st_size > size
    assert progress[-1] == (size, size)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(progress))
    assert len(progress) > 100  # shown while sealing, not only at the end
    with stream.open_file(
        sealed, w.specialist.cert, w.specialist.key, w.roots, scratch_dir=tmp_path
    ) as opened:
        reader = opened.open()
        expected = Generated(size)
        seen = 0
        while piece := reader.read(1 << 20):
            assert piece == expected.read(len(piece))
            seen += len(piece)
            last = piece
        assert seen == size
        reader.seek(size - 10)  # random access (a ZIP is read from its end)
        assert reader.read(10) == last[-10:]


def test_only_recipients_open_and_only_trusted_signers_pass(w: World, tmp_path: Path) -> None:
    sealed = seal(w, b"payload", tmp_path / "b.p7m")
    with pytest.raises(NotARecipient):
        stream.open_file(sealed, w.other_specialist.cert, w.other_specialist.key, w.roots)
    with pytest.raises(UntrustedSigner):
        stream.open_file(sealed, w.specialist.cert, w.specialist.key, [w.rogue_ca.cert])
    forged = stream.seal_file(
        io.BytesIO(b"x"), tmp_path / "f.p7m", w.rogue_doctor.cert, w.rogue_doctor.key,
        [w.specialist.cert],
    )  # fmt: skip
    with pytest.raises(UntrustedSigner):
        stream.open_file(forged, w.specialist.cert, w.specialist.key, w.roots)


def test_a_failed_seal_leaves_nothing(w: World, tmp_path: Path) -> None:
    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, size: int) -> bytes:
            self.calls += 1
            if self.calls > 3:
                raise OSError("the camera folder went away")
            return b"\x01" * size

    with pytest.raises(OSError, match="went away"):
        stream.seal_file(
            Broken(), tmp_path / "b.p7m", w.doctor.cert, w.doctor.key, [w.specialist.cert]
        )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="exceeds"):
        stream.seal_file(Generated(3 << 20), tmp_path / "b.p7m", w.doctor.cert, w.doctor.key,
                         [w.specialist.cert], max_size=2 << 20)  # fmt: skip
    assert list(tmp_path.iterdir()) == []


# --- tampering and truncation: refused, and nothing released --------------------------------


def _positions(size: int) -> dict[str, int]:
    return {"first": 0, "header": 5, "early": 400, "middle": size // 2,
            "late": size - 600, "tag": size - 20, "last": size - 1}  # fmt: skip


@pytest.mark.parametrize("where", list(_positions(1000)))
def test_a_tampered_byte_anywhere_is_refused_and_nothing_is_released(
    w: World, tmp_path: Path, where: str
) -> None:
    data = os.urandom(700_000)
    # One recipient: another recipient's entry is not authenticated (CMS protects each
    # recipient's own entry by the key it yields), so changing it changes nothing for us.
    sealed = stream.seal_file(
        io.BytesIO(data), tmp_path / "b.p7m", w.doctor.cert, w.doctor.key, [w.specialist.cert]
    )
    raw = bytearray(sealed.read_bytes())
    index = _positions(len(raw))[where]
    raw[index] ^= 0x01
    sealed.write_bytes(raw)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    sink = Sink()
    with pytest.raises(CryptoError) as caught:
        open_into(w, sealed, sink, scratch)
    assert sink.received == 0
    assert list(scratch.iterdir()) == []
    if where in ("middle", "tag"):
        assert isinstance(caught.value, DecryptionFailed)
    # the bytes API refuses it as well
    with pytest.raises(CryptoError):
        cms.open_sealed(bytes(raw), w.specialist.cert, w.specialist.key, w.roots)


def test_an_altered_signature_is_refused_after_decryption(w: World, tmp_path: Path) -> None:
    """A recipient re-encrypting a signed message with its content changed: the tag is
    right (it was re-encrypted), the signature is not."""
    signed = bytearray(cms.sign(b"genuine content " * 100, w.doctor.cert, w.doctor.key))
    where = bytes(signed).index(b"genuine")
    signed[where] ^= 0x20
    sealed = tmp_path / "b.p7m"
    sealed.write_bytes(cms.encrypt(bytes(signed), [w.specialist.cert]))
    sink = Sink()
    with pytest.raises(BadSignature):
        open_into(w, sealed, sink)
    assert sink.received == 0


@pytest.mark.parametrize("keep", [1, 30, 700, 350_000, -17, -1])
def test_a_truncated_file_is_refused(w: World, tmp_path: Path, keep: int) -> None:
    sealed = seal(w, os.urandom(700_000), tmp_path / "b.p7m")
    raw = sealed.read_bytes()
    sealed.write_bytes(raw[:keep])
    sink = Sink()
    with pytest.raises(MalformedMessage) as caught:
        open_into(w, sealed, sink)
    assert isinstance(caught.value, TruncatedMessage)
    assert sink.received == 0


def test_trailing_data_is_refused(w: World, tmp_path: Path) -> None:
    sealed = seal(w, b"abc", tmp_path / "b.p7m")
    sealed.write_bytes(sealed.read_bytes() + b"\x00")
    with pytest.raises(MalformedMessage):
        open_into(w, sealed, Sink())


def test_the_scratch_file_refuses_what_was_changed_on_disk(tmp_path: Path) -> None:
    scratch = Scratch(tmp_path)
    scratch.write(os.urandom(200_000))
    reader = scratch.reader()
    assert len(reader.read(10)) == 10
    os.pwrite(scratch._file.fileno(), b"\x00", 70_000)  # a local attacker edits the file
    reader.seek(70_000)
    with pytest.raises(ScratchCorrupted):
        reader.read(1)
    os.ftruncate(scratch._file.fileno(), 140_000)  # or cuts its last chunk
    reader.seek(199_000)
    with pytest.raises(ScratchCorrupted):
        reader.read(1)
    scratch.close()


# --- OpenSSL, both ways ---------------------------------------------------------------------


def test_openssl_opens_a_streamed_bundle(w: World, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    data = os.urandom(1_500_000)
    seal(w, data, tmp_path / "b.p7m")
    w.ca.write(tmp_path, "ca")
    w.specialist.write(tmp_path, "me")
    subprocess.run([openssl, "cms", "-decrypt", "-inform", "DER", "-in", "b.p7m", "-recip",
                    "me.pem", "-inkey", "me.key", "-out", "signed.der"],
                   cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    subprocess.run([openssl, "cms", "-verify", "-inform", "DER", "-in", "signed.der", "-CAfile",
                    "ca.pem", "-binary", "-out", "payload.bin"],
                   cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    assert (tmp_path / "payload.bin").read_bytes() == data


def test_a_bundle_streamed_by_openssl_opens(w: World, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    data = os.urandom(2_000_000)
    (tmp_path / "payload.bin").write_bytes(data)
    w.doctor.write(tmp_path, "doctor")
    w.specialist.write(tmp_path, "them")
    subprocess.run([openssl, "cms", "-sign", "-binary", "-nodetach", "-indef", "-md", "sha256",
                    "-in", "payload.bin", "-signer", "doctor.pem", "-inkey", "doctor.key",
                    "-outform", "DER", "-out", "signed.der"],  # PSS fails with -indef
                   cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    subprocess.run([openssl, "cms", "-encrypt", "-binary", "-indef", "-aes-256-gcm", "-in",
                    "signed.der", "-recip", "them.pem", "-keyopt", "rsa_padding_mode:oaep",
                    "-keyopt", "rsa_oaep_md:sha256", "-outform", "DER", "-out", "b.p7m"],
                   cwd=tmp_path, check=True, capture_output=True)  # fmt: skip
    raw = (tmp_path / "b.p7m").read_bytes()
    assert raw[1] == 0x80  # openssl did stream: indefinite lengths
    assert open_into(w, tmp_path / "b.p7m", Sink()) == data


# --- peak memory ----------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from crypto import stream
    from outbox.queue import Outbox
    from tests.core.test_crypto_stream import Generated
    from tests.support.pki import world

    def peak() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise SystemExit("no VmHWM")

    w = world()
    size, folder = int(sys.argv[1]), Path(sys.argv[2])
    before = peak()
    sealed = stream.seal_file(Generated(size), folder / "b.p7m", w.doctor.cert, w.doctor.key,
                              [w.specialist.cert])
    outbox = Outbox(folder / "q.sqlite", folder / "outbox")
    job = outbox.enqueue_file("big", "specialist", "Dr L", "request", sealed)
    assert job.size == sealed.stat().st_size
    sealed.unlink()  # what is opened is the spooled copy
    outbox.close()
    with stream.open_file(outbox.spool_path("big"), w.specialist.cert, w.specialist.key,
                          w.roots, scratch_dir=folder) as opened:
        reader, seen = opened.open(), 0
        while piece := reader.read(1 << 20):
            seen += len(piece)
    assert seen == size
    print(before, peak())
    """
)


def test_sealing_and_opening_a_gibibyte_keeps_memory_flat(tmp_path: Path) -> None:
    """A behaviour check, not a timing test: 1 GiB sealed, queued in the outbox (copied
    into its spool) and opened from there (about 15 s here),
    in a child process whose RSS high-water mark must stay far below the size."""
    if not Path("/proc/self/status").exists():
        pytest.skip("VmHWM needs Linux's /proc")
    need_free(tmp_path, 5 << 29, "sealing a gibibyte and queueing its copy")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(1 << 30), str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    before, after = map(int, done.stdout.split())
    print(f"peak RSS {after / 2**20:.0f} MiB, {(after - before) / 2**20:.1f} MiB over the start")
    assert after < 300 << 20, f"peak RSS {after >> 20} MiB for a 1 GiB bundle"
    assert after - before < 100 << 20


def test_what_a_crash_left_mid_seal_is_removed_later_not_a_live_seal(tmp_path: Path) -> None:
    stale, live = tmp_path / ".a1b2.sealing", tmp_path / ".c3d4.sealing"
    kept = tmp_path / "b.p7m"
    for path in (stale, live, kept):
        path.write_bytes(b"\x30\x80 half a bundle")
    os.utime(stale, (1_000_000, 1_000_000))
    os.utime(kept, (1_000_000, 1_000_000))
    assert stream.remove_partial(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".c3d4.sealing", "b.p7m"]
