"""Passavant's benchmarks: performance goals are measured here, never by timed tests.

Each benchmark measures our code and a peer in the same run and prints the ratio between
them, because a shared 2-core VM is noisy: ratios hold from one run to the next, absolute
times do not. Everything runs on 127.0.0.1, in temporary directories, with bounded loops.

Run them all from the repository root with ``python -m bench.run [--quick]``, or one with
``python -m bench.seal`` / ``python -m bench.resume``. This module holds the small helpers
they share: the ``--quick`` flag, the median of repeated timings, ratios and tables.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable, Sequence

__all__ = ["MIB", "fmt_ratio", "median_seconds", "parse_quick", "print_table"]

MIB = 1 << 20
"""One mebibyte, the unit of every payload size."""


def parse_quick(argv: Sequence[str] | None, description: str) -> bool:
    """Parses the command line of a benchmark; returns whether ``--quick`` was given.

    Also keeps the library's own log lines (retries, cuts) out of the tables: only errors
    are shown.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions: a smoke run under a minute"
    )
    quick: bool = parser.parse_args(argv).quick
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    return quick


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """Runs ``action`` ``repeat`` times and returns the median wall time in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fmt_ratio(ours: float | None, peer: float | None) -> str:
    """``ours / peer`` with two decimals, or ``n/a`` when either side is missing."""
    if ours is None or peer is None or peer <= 0:
        return "n/a"
    return f"{ours / peer:.2f}"


def print_table(title: str, rows: Sequence[Sequence[str]]) -> None:
    """Prints ``title`` then ``rows`` with every column left-aligned to its widest cell."""
    print(title)
    columns = max(len(row) for row in rows)
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(columns)]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        print("  " + "   ".join(cells).rstrip())
    print(flush=True)
