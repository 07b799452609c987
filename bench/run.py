"""Runs every Passavant benchmark: ``python -m bench.run [--quick]`` from the repository root.

Prints one table per benchmark (see ``bench/README.md`` for what each figure means), preceded
by the machine they ran on, and followed by the total time. ``--quick`` repeats less: a smoke
run of a minute or two on 2 cores; the full run takes well under ten minutes (``bench.cases``
alone about three, 45 s quick). The exit status is 0 when every benchmark ran; a benchmark
that fails raises, which makes it non-zero.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections.abc import Sequence

from bench import (
    capture,
    cases,
    drafts,
    mailbox,
    outbox,
    parse_quick,
    resume,
    seal,
    stream,
    stream_app,
    viewer,
)

BENCHMARKS = (
    seal.run, stream.run, stream_app.run_app, resume.run, outbox.run, capture.run, cases.run,
    viewer.run, drafts.run, mailbox.run,
)  # fmt: skip
"""Each takes ``quick`` and prints its own table."""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmarks in order and returns the exit status."""
    quick = parse_quick(argv, "Run all of Passavant's benchmarks.")
    started = time.perf_counter()
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    print(f"Passavant benchmarks, {when}, {machine}, Python {platform.python_version()}")
    print("quick run: fewer repetitions\n" if quick else "full run\n", flush=True)
    for benchmark in BENCHMARKS:
        benchmark(quick)
    print(f"all benchmarks done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
