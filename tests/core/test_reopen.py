"""Reading an admitted bundle again for its payloads (cases.reopen): in memory through one
buffer kept from the last time, or streamed above the bound; the same content either way,
authenticated before anything is handed on."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from cases.reopen import Reopener
from crypto import cms, stream
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
def test_in_memory_and_streamed_read_the_same_content(
    w: World, tmp_path: Path, seal: object
) -> None:
    data = [os.urandom(3 * (1 << 20) + 7), os.urandom(200_000)]
    paths = [seal(w, d, tmp_path / f"{n}.p7m") for n, d in enumerate(data)]  # type: ignore[operator]
    memory = Reopener(w.specialist.cert, w.specialist.key)
    first = memory.open(paths[0])
    assert type(first).__name__ == "_ViewFile"  # in memory
    assert first.read() == data[0]
    first.seek(5)
    assert first.read(3) == data[0][5:8]
    buffers = (memory._sealed, memory._plaintext)
    # the next bundles are read into the same buffers: no fresh memory
    assert memory.open(paths[1]).read() == data[1]
    assert memory.open(paths[0]).read() == data[0]
    assert all(a is b for a, b in zip((memory._sealed, memory._plaintext), buffers, strict=True))

    small = Reopener(w.specialist.cert, w.specialist.key, in_memory_max=100_000)
    big = small.open(paths[0])
    assert type(big).__name__ != "_ViewFile"  # above the bound: through a temporary file
    assert big.read() == data[0]
    assert len(small._sealed) == len(small._plaintext) == 0

    memory.release()
    assert len(memory._sealed) == len(memory._plaintext) == 0
    assert memory.open(paths[1]).read() == data[1]  # a new buffer, as large as needed


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
    assert not any(reopener._plaintext)  # what was decrypted before the tag failed is zeroed


def test_truncated_and_trailing_bytes_are_refused(w: World, tmp_path: Path) -> None:
    reopener = Reopener(w.specialist.cert, w.specialist.key)
    path = whole(w, os.urandom(300_000), tmp_path / "b.p7m")
    raw = path.read_bytes()
    for changed in (raw[:-1], raw[: len(raw) // 2], raw + b"\x00", b""):
        path.write_bytes(changed)
        with pytest.raises(MalformedMessage):
            reopener.open(path)
    path.write_bytes(raw)  # whole again: the buffer reused after the failures reads it
    assert len(reopener.open(path).read()) == 300_000


def test_only_a_recipient_reopens(w: World, tmp_path: Path) -> None:
    path = streamed(w, b"photo", tmp_path / "b.p7m")
    with pytest.raises(CryptoError):
        Reopener(w.other_specialist.cert, w.other_specialist.key).open(path)
