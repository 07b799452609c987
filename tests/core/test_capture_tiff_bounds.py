"""Bounded TIFF import (issue 15): only the first page of a TIFF is read.

A file of 100,000 one-pixel pages held ``photo prepare`` for 54 s: Pillow counts a TIFF's
pages by reading each, in a time that grows with the square of their number. The hostile
files are Pillow's own: a page it writes, chained to itself as many times as wanted (each
copy of its directory points to the next, all share the pixels), so that Pillow reads every
page of it; and a few-page file Pillow writes whole.
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from capture.errors import CaptureError
from capture.loading import EXTRA_IMAGES, load_image

SECONDS = 1.0  # generous: the first page of these files is read in milliseconds


def one_page(colour: tuple[int, int, int] = (200, 30, 60), size: tuple[int, int] = (1, 1)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="TIFF")
    return out.getvalue()


def chained(pages: int, page: bytes | None = None) -> bytes:
    """A TIFF of ``pages`` pages: Pillow's one-page file, its directory copied ``pages - 1``
    times at the end, each copy linking to the next (all share the first page's pixels
    and tag values, which the directories address by absolute offsets)."""
    data = page if page is not None else one_page()
    assert data[:4] == b"II*\x00"
    (first,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, first)
    size = 2 + 12 * count + 4
    directory = bytearray(data[first : first + size])
    assert struct.unpack_from("<I", directory, size - 4) == (0,)
    body = bytearray(data)
    if len(body) % 2:
        body.append(0)  # directories start on a word boundary
    start = len(body)
    struct.pack_into("<I", body, first + size - 4, start if pages > 1 else 0)
    copies = []
    for index in range(1, pages):
        struct.pack_into(
            "<I", directory, size - 4, start + index * size if index < pages - 1 else 0
        )
        copies.append(bytes(directory))
    return bytes(body) + b"".join(copies)


def test_the_chained_file_is_what_pillow_reads_as_pages() -> None:
    with Image.open(io.BytesIO(chained(300))) as img:
        assert img.n_frames == 300
        img.seek(299)
        img.load()
        assert img.getpixel((0, 0)) == (200, 30, 60)


def test_a_hundred_thousand_pages_cost_one(tmp_path: Path) -> None:
    """The issue's file: 54 s before; now only the first page is read."""
    path = tmp_path / "pages.tif"
    path.write_bytes(chained(100_000))
    tracemalloc.start()
    started = time.perf_counter()
    loaded = load_image(path)
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < SECONDS, f"took {elapsed:.2f} s"
    assert peak < 4 * len(path.read_bytes()) + 8 * 1024 * 1024, f"allocated {peak / 2**20:.1f} MiB"
    assert loaded.size == (1, 1)
    assert EXTRA_IMAGES in loaded.metadata  # told, never walked
    assert np.array_equal(loaded.pixels()[0, 0], [200, 30, 60])


def test_pillows_own_multi_page_file_reads_its_first_page() -> None:
    first = Image.new("RGB", (40, 30), (10, 120, 200))
    others = [Image.new("RGB", (40, 30), (i, i, i)) for i in range(70)]
    out = io.BytesIO()
    first.save(out, format="TIFF", save_all=True, append_images=others)
    loaded = load_image(out.getvalue())
    assert loaded.size == (40, 30)
    assert EXTRA_IMAGES in loaded.metadata
    assert np.array_equal(loaded.pixels()[5, 5], [10, 120, 200])
    single = load_image(one_page(size=(40, 30)))
    assert EXTRA_IMAGES not in single.metadata


def test_a_page_linking_to_itself_is_one_page() -> None:
    data = bytearray(one_page())
    (first,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, first)
    struct.pack_into("<I", data, first + 2 + 12 * count, first)  # next: itself
    loaded = load_image(bytes(data))
    assert loaded.size == (1, 1)


@settings(
    max_examples=120,
    deadline=2000,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    pages=st.sampled_from([1, 2, 3, 65, 5000]),
    edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 64),
)
def test_damaged_tiffs_fail_plainly_and_fast(
    pages: int, edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(chained(pages))
    for where, value in edits:
        data[8 + where % (len(data) - 8)] = value  # the header kept: a TIFF, maybe damaged
    if cut:
        del data[-cut:]
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():  # as in use: Pillow warns of damage, then goes on
            warnings.simplefilter("ignore")
            load_image(bytes(data))
    except CaptureError as exc:
        outcome = exc.code
    else:
        outcome = "opened"
    assert outcome in {"opened", "not_an_image", "image_too_large", "unsupported_image_format"}
    assert time.perf_counter() - started < SECONDS
