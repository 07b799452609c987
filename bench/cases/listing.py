"""``list``: a person's list of requests refreshed, against today's path (open everything).

The doctor and the specialist at each size: ours is ``Workstation.threads`` on the case store
(cold, first and warm listings), the peer opens every bundle of the person and groups them;
each path runs in its own child process, for its own peak memory.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import fmt_ratio
from bench.cases.data import Station, make_dataset, without_fsync
from bench.cases.measure import fmt_times, goal_text, peak_kib, reset_peak, run_child

PEOPLE = (("doctor", "unit", "dr-bernard"), ("specialist", "hospital", "pr-dubois"))

WARM_GOAL = 2.0
"""Warm refresh at the largest size ÷ warm refresh at 10, at most."""
SPEED_GOAL = 20.0
"""Today's path ÷ our warm refresh at the largest size, at least."""
MEMORY_GOAL = 1.2
"""Peak memory of a listing at the largest size ÷ at 10, at most."""


def old_listing(workstation: Any, me: Any) -> list[Any]:
    """Today's path: every bundle of ``me``'s archive and inbox opened (decrypted, verified,
    unpacked, every payload in memory), all kept in a list, then grouped into threads."""
    from cases.errors import CaseError
    from cases.threads import assemble
    from crypto.errors import CryptoError

    store = workstation.store(me)
    opened = []
    for source in workstation._sources(me):
        try:
            opened.append(store.open(source.path.read_bytes()))
        except (CryptoError, CaseError, OSError):
            continue
    documents = []
    for item in opened:
        kind = item.bundle.manifest.kind
        if kind == "request":
            documents.append((item, item.bundle_id))
        elif kind in ("opinion", "withdrawal"):
            documents.append((item, item.bundle.manifest.in_reply_to or ""))
    return assemble(documents, me.fingerprint, workstation.outbox.get)


def child_list(root: Path, station: str, person: str, path: str, repeat: int) -> None:
    """One path's listings in this fresh process: times and peak memory, as JSON."""
    target = Station(root / station)
    me = target.unlock(person)
    workstation = target.workstation
    base = peak_kib()
    result: dict[str, Any] = {"base_kib": base}
    if path == "new":
        started = time.perf_counter()
        threads, unreadable = workstation.threads(me)
        result["first_s"] = time.perf_counter() - started
        result["first_peak_kib"] = peak_kib()
        assert not unreadable, unreadable
        reset = reset_peak()
        warm = []
        for _ in range(repeat):
            started = time.perf_counter()
            threads, _unreadable = workstation.threads(me)
            warm.append(time.perf_counter() - started)
        result["warm_s"] = warm
        result["warm_peak_kib"] = peak_kib() if reset else None
        result["openings"] = workstation.store(me).openings
    else:
        times = []
        threads = []
        for _ in range(repeat):
            started = time.perf_counter()
            threads = old_listing(workstation, me)  # the previous list lives until replaced
            times.append(time.perf_counter() - started)
        result["times_s"] = times
        result["peak_kib"] = peak_kib()
    result["threads"] = len(threads)
    result["opinions"] = sum(len(t.opinions) for t in threads)
    target.close()
    print(json.dumps(result))


def _mb(kib: float | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f} MB"


def list_rows(
    tmp: Path, sizes: Sequence[int]
) -> tuple[list[list[str]], list[list[str]], list[str], dict[int, Path]]:
    from app import demo

    template = demo.set_up(tmp / "template").root
    figures: dict[tuple[str, int], dict[str, Any]] = {}
    datasets: dict[int, Path] = {}
    for size in sizes:
        started = time.perf_counter()
        root = tmp / f"n{size}"
        with without_fsync():
            counts = make_dataset(template, root, size)
        datasets[size] = root
        made = time.perf_counter() - started
        print(f"  made {size} requests in {made:.1f} s ({counts})", flush=True)
        for person, station, identity in PEOPLE:
            old_repeat = 1 if size >= 1000 else 3
            warm_repeat = 21
            old = run_child("list", str(root), station, identity, "old", str(old_repeat))
            cold = run_child("list", str(root), station, identity, "new", str(warm_repeat))
            first = run_child("list", str(root), station, identity, "new", str(warm_repeat))
            figures[(person, size)] = {
                "bundles": counts[person],
                "old": old,
                "cold": cold,
                "first": first,
            }
            assert old["threads"] == first["threads"] == size, (old, first)
            assert old["opinions"] == first["opinions"], (old, first)
    time_rows: list[list[str]] = []
    memory_rows: list[list[str]] = []
    for person, _station, _identity in PEOPLE:
        for size in sizes:
            f = figures[(person, size)]
            old_s = statistics.median(f["old"]["times_s"])
            warm = statistics.median(f["first"]["warm_s"] + f["cold"]["warm_s"])
            f["warm_s"], f["old_s"] = warm, old_s
            time_rows.append(
                [
                    f"{person} {size}",
                    f"bundles {f['bundles']}",
                    f"cold {f['cold']['first_s']:.2f} s",
                    f"first {f['first']['first_s'] * 1000:.0f} ms",
                    f"warm {warm * 1000:.1f} ms",
                    f"today {old_s:.2f} s",
                    f"today/warm {fmt_times(old_s, warm)}",
                    f"today/first {fmt_times(old_s, f['first']['first_s'])}",
                ]
            )
            first_peak = f["first"]["first_peak_kib"]
            first_growth = first_peak - f["first"]["base_kib"]
            old_peak, old_growth = f["old"]["peak_kib"], f["old"]["peak_kib"] - f["old"]["base_kib"]
            memory_rows.append(
                [
                    f"{person} {size}",
                    f"first listing {_mb(first_peak)} (+{_mb(first_growth)})",
                    f"warm refresh {_mb(f['first']['warm_peak_kib'])}",
                    f"cold {_mb(f['cold']['first_peak_kib'])}",
                    f"today {_mb(old_peak)} (+{_mb(old_growth)})",
                    f"today/first {fmt_ratio(old_peak, first_peak)}",
                ]
            )
    goals = []
    small, large = sizes[0], sizes[-1]
    for person, _station, _identity in PEOPLE:
        a, b = figures[(person, small)], figures[(person, large)]
        ratio = b["warm_s"] / a["warm_s"]
        goals.append(
            f"{person}: warm refresh at {large} / at {small} = {ratio:.2f}"
            f" (goal <= {WARM_GOAL:.1f}) {goal_text(ratio <= WARM_GOAL)}"
        )
        speed = b["old_s"] / b["warm_s"]
        goals.append(
            f"{person}: today's path / warm refresh at {large} = {speed:.0f}"
            f" (goal >= {SPEED_GOAL:.0f}) {goal_text(speed >= SPEED_GOAL)};"
            f" today's path / first listing = {b['old_s'] / b['first']['first_s']:.1f}"
        )
        peak = b["first"]["first_peak_kib"] / a["first"]["first_peak_kib"]
        warm_peak = None
        if b["first"]["warm_peak_kib"] and a["first"]["warm_peak_kib"]:
            warm_peak = b["first"]["warm_peak_kib"] / a["first"]["warm_peak_kib"]
        goals.append(
            f"{person}: peak memory of a listing at {large} / at {small} = {peak:.2f}"
            f" (goal <= {MEMORY_GOAL:.1f}) {goal_text(peak <= MEMORY_GOAL)};"
            f" warm refresh {'n/a' if warm_peak is None else f'{warm_peak:.2f}'},"
            f" cold {b['cold']['first_peak_kib'] / a['cold']['first_peak_kib']:.2f},"
            f" today's path {b['old']['peak_kib'] / a['old']['peak_kib']:.2f}"
        )
    return time_rows, memory_rows, goals, datasets
