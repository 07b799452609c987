"""Case store benchmark: list refreshes, the first photo shown, the GUI's event loop.

The demo's CA and people (``app.demo.set_up``) in temporary directories; the requests are
sealed with the real :class:`cases.workstation.Workstation` and handed from one station's
outbox to the other's inbox with ``Inbox.store`` (no network), except in the GUI part, where
the demo platform runs on 127.0.0.1 (started and stopped by its process id).

* ``list``: the doctor (``dr-bernard``) and the specialist (``pr-dubois``) with 10, 100 and
  1,000 requests (10 and 100 with ``--quick``), each of four small photos (the four demo
  samples of ``resources/samples``, 800 x 600, 21 to 24 kB), every other one answered by an
  opinion, with the receipts both ways. Ours is ``Workstation.threads`` on the case store:
  ``cold`` (the index empty: every bundle ingested), ``first`` (the first listing of a
  session, the index built), ``warm`` (a refresh with nothing new, median). The peer is
  *today's path*: every bundle of the person opened with ``CaseStore.open`` (decrypt, verify,
  unpack, payloads in memory), all kept in a list, then grouped by ``cases.threads.assemble``.
  Each path runs in its own child process; peak memory is that process's ``VmHWM`` (its own
  high-water mark; ``ru_maxrss`` would carry over the parent's peak through ``fork``/``exec``).
* ``photo``: two requests of nine 3000 x 2000 photos (synthetic noisy JPEGs of about 2.8 MB
  each, 25 MB per request) received by the specialist: the time from the listing's
  ``Opened`` to ``QImage.fromData(photo.data)`` of its first photo (the sealed bundle read,
  decrypted and verified again), against decoding the same bytes already in memory; the two
  requests alternate, so the store's cache of the last bundle never holds the one asked for.
  Also: the next photo of the same case, the first thumbnail, and how late a 10 ms timer on
  the GUI thread gets while a worker decodes with ``QImage.fromData`` (as the viewer does)
  or with ``QImageReader.read``.
* ``gui``: a ``MainWindow`` offscreen, the doctor logging in on the archive of the ``list``
  part (1,000 requests; 100 with ``--quick``; its index built), then ten requests of four
  2.8 MB photos sealed on a worker thread and sent to the platform while the hospital's
  fetcher downloads them; the window refreshes its list as it does on every job change. A
  10 ms ``QTimer`` records how late each tick is: idle first, in the same process, then at
  the login (not a goal), then while sending. Hooks (timing only) note when the listing, the
  list's display, the sealing, the key's unlocking ran, to tell what the late ticks met. The
  full run does the sending again on a copy of the data with ``sys.setswitchinterval(0.001)``
  (an experiment, to see whether the GIL's hand-over is the cause; not what the app does).
  PySide6 6.12.0 on CPython 3.11 dropped a reference to ``None`` at every Qt call returning
  nothing and to ``True`` at every ``Signal.emit``, and the window aborted ("Fatal Python
  error: none_dealloc") during this run; pyproject.toml now keeps that build out, and the
  child checks the binding first and reports what it lost (nothing, with a sound one).

:mod:`bench.cases.data` makes the data; :mod:`bench.cases.listing`, :mod:`bench.cases.photo`
and :mod:`bench.cases.gui` measure the three parts (each its child process and its rows);
:mod:`bench.cases.measure` and :mod:`bench.cases.qtloop` hold what they share. This module runs
them in order and prints the tables.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import parse_quick, print_table
from bench.cases.data import big_photos
from bench.cases.gui import child_gui, gui_rows
from bench.cases.listing import child_list, list_rows
from bench.cases.measure import KEYRING, ROOT
from bench.cases.photo import child_photo, photo_rows

__all__ = ["main", "run"]

SIZES = (10, 100, 1000)
QUICK_SIZES = (10, 100)


def _code_version() -> str:
    """The commit measured, and how many files of the product differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "cases", "crypto", "outbox", "widgets"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except OSError:
        return "the code (no git)"
    return f"commit {head or 'n/a'}" + (f" + {len(changed)} changed files" if changed else "")


def run(quick: bool) -> None:
    """Runs the benchmark and prints its tables."""
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", KEYRING)
    sizes = QUICK_SIZES if quick else SIZES
    started = time.perf_counter()
    print(f"cases: {_code_version()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="passavant-bench-cases-") as tmp:
        folder = Path(tmp)
        print(f"cases: making the data ({', '.join(map(str, sizes))} requests)", flush=True)
        time_rows, memory_rows, goals, datasets = list_rows(folder, sizes)
        title = (
            "cases: list refresh, 4 photos of 800 x 600 (92 kB) per request, half answered;"
            " cold = index empty, first = session's first listing, warm = refresh, nothing new"
            f" (median of 42); today = today's path (median of {1 if sizes[-1] >= 1000 else 3}"
            " at the largest size)"
        )
        print_table(title, time_rows)
        print_table("cases: peak memory of each path's process (VmHWM; + growth)", memory_rows)
        print_table("cases: goals", [[g] for g in goals])
        photos = big_photos(folder / "photos")
        rows, title = photo_rows(folder, folder / "template", photos, 5 if quick else 9)
        print_table(title, rows)
        for size in sizes:  # the window at each size; the 1 ms experiment at the largest
            variant = not quick and size == sizes[-1]
            rows, title = gui_rows(datasets[size], folder / "photos", size, 3.0, variant)
            print_table(title, rows)
    print(f"cases: done in {time.perf_counter() - started:.0f} s\n", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.cases [--quick]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        import logging

        logging.basicConfig(level=logging.ERROR)
        kind, rest = args[1], args[2:]
        if kind == "list":
            child_list(Path(rest[0]), rest[1], rest[2], rest[3], int(rest[4]))
        elif kind == "photo":
            child_photo(Path(rest[0]), int(rest[1]))
        elif kind == "gui":
            switch = float(rest[3]) if len(rest) > 3 else None
            child_gui(Path(rest[0]), Path(rest[1]), float(rest[2]), switch)
        else:
            raise SystemExit(f"unknown child {kind}")
        return 0
    run(parse_quick(args, "The case store: list refreshes, the first photo, the GUI's loop."))
    return 0
