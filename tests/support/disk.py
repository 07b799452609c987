"""Free disk space, said plainly: the gibibyte tests need room for a few copies of a bundle."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


def free_line() -> str:
    """One line for the test report's header: how much room the tests' files have."""
    where = tempfile.gettempdir()
    usage = shutil.disk_usage(where)
    return f"disk: {usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.0f} GiB under {where}"


def need_free(folder: Path, size: int, what: str) -> None:
    """Fail at once, saying why, when `folder`'s disk cannot hold `size` bytes more.

    A full disk otherwise shows up as an obscure error inside the code under test, and
    every later test writing a file fails with it. This is a failure, never a skip: a
    machine too small for the suite must not pass it."""
    free = shutil.disk_usage(folder).free
    if free < size:
        pytest.fail(
            f"{what} needs {size / 2**30:.1f} GiB of disk under {folder}; "
            f"only {free / 2**30:.1f} GiB is free",
            pytrace=False,
        )
