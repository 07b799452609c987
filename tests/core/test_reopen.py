"""Reading an admitted bundle again for its payloads (cases.reopen): one pass over the sealed
file whatever its size, the content waiting in memory (a buffer kept from the last time) or,
above the bound, in an encrypted temporary file; the same content either way, authenticated
before anything can be read."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from cases.reopen import Reopener, sink_for
from crypto import cms, stream
from crypto._scratch import MemoryScratch, Scratch, ScratchTooLarge
from crypto.errors import CryptoError, MalformedMessage
from tests.support.pki import World, world


@pytest.fixture(scope="module")
def w() -> World:
    return world()


def streamed(w: World, data: bytes, path: Path) -> Path:
    """Sealed as the workstation seals now (BER, in segments)."""
    return stream.seal_file(
        io.BytesIO(data), path, w.doctor.cert, w.doctor.key, [w.specialist.cert, w.doctor.cert]
    )


def whole(w: World, data: bytes, path: Path) -> Path:
    """Sealed by the bytes API (DER), as bundles made before streaming were."""
    path.write_bytes(cms.seal(data, w.doctor.cert, w.doctor.key, [w.specialist.cert]))
    return path


@pytest.mark.parametrize("seal", [streamed, whole])
def test_in_memory_and_from_a_file_read_the_same_content(
    w: World, tmp_path: Path, seal: object
) -> None:
    data = [os.urandom(3 * (1 << 20) + 7), os.urandom(200_000)]
    paths = [seal(w, d, tmp_path / f"{n}.p7m") for n, d in enumerate(data)]  # type: ignore[operator]
    memory = Reopener(w.specialist.cert, w.specialist.key)
    first = memory.open(paths[0])
    assert first.in_memory
    reader = first.open()
    assert reader.read() == data[0]
    reader.seek(5)
    assert reader.read(3) == data[0][5:8]
    buffer = memory._buffer
    assert len(buffer) >= len(data[0])
    # the next bundles are read into the same buffer: no fresh memory
    assert memory.open(paths[1]).open().read() == data[1]
    assert memory.open(paths[0]).open().read() == data[0]
    assert memory._buffer is buffer

    small = Reopener(w.specialist.cert, w.specialist.key, in_memory_max=100_000)
    big = small.open(paths[0])
    assert not big.in_memory  # above the bound: through a temporary file
    assert big.open().read() == data[0]
    assert len(small._buffer) == 0
    assert small.open(paths[1]).open().read() == data[1]  # also above the bound

    memory.release()
    assert len(memory._buffer) == 0
    assert memory.open(paths[1]).open().read() == data[1]  # a new buffer, as large as needed
    assert memory._buffer is not buffer


def test_the_sink_follows_the_sealed_size(tmp_path: Path) -> None:
    path = tmp_path / "b.p7m"
    path.write_bytes(b"x" * 1000)
    assert isinstance(sink_for(path, 1000), MemoryScratch)
    kept = bytearray(5000)
    sink = sink_for(path, 1000, kept)
    assert isinstance(sink, MemoryScratch)
    assert sink.buffer is kept
    assert isinstance(sink_for(path, 999), Scratch)
    assert sink_for(path, 1000, bytearray(10)).buffer is not None  # too small: a new one


def test_memory_holds_no_more_than_the_file_and_nothing_before_the_tag() -> None:
    sink = MemoryScratch(None, 10, limit=10)
    sink.write(b"0123456789")
    with pytest.raises(ScratchTooLarge):  # a file that grew after its size chose memory
        sink.write(b"!")
    with pytest.raises(ValueError, match="not sealed"):
        sink.reader()  # not sealed: the tag has not been checked
    sink.seal()
    assert sink.reader().read() == b"0123456789"
    sink.close()
    assert sink.buffer is not None
    assert not any(sink.buffer)  # zeroed


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9, -20])
def test_a_changed_byte_is_refused_and_nothing_is_handed_on(
    w: World, tmp_path: Path, where: float
) -> None:
    path = streamed(w, os.urandom(500_000), tmp_path / "b.p7m")
    raw = bytearray(path.read_bytes())
    at = int(len(raw) * where) if where > 0 else len(raw) + int(where)
    raw[at] ^= 0x01
    path.write_bytes(raw)
    reopener = Reopener(w.specialist.cert, w.specialist.key)
    with pytest.raises(CryptoError):
        reopener.open(path)
    assert not any(reopener._buffer)  # what was decrypted before the tag failed is zeroed


def test_truncated_and_trailing_bytes_are_refused(w: World, tmp_path: Path) -> None:
    reopener = Reopener(w.specialist.cert, w.specialist.key)
    path = whole(w, os.urandom(300_000), tmp_path / "b.p7m")
    raw = path.read_bytes()
    for changed in (raw[:-1], raw[: len(raw) // 2], raw + b"\x00", b""):
        path.write_bytes(changed)
        with pytest.raises(MalformedMessage):
            reopener.open(path)
        assert not any(reopener._buffer)
    path.write_bytes(raw)  # whole again: the buffer reused after the failures reads it
    assert len(reopener.open(path).open().read()) == 300_000


def test_only_a_recipient_reopens(w: World, tmp_path: Path) -> None:
    path = streamed(w, b"photo", tmp_path / "b.p7m")
    with pytest.raises(CryptoError):
        Reopener(w.other_specialist.cert, w.other_specialist.key).open(path)
