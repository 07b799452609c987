"""What ``bench.platform`` measured on each platform, and the tables it prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import fmt_ratio, print_table

__all__ = ["Figures", "report"]


@dataclass
class Figures:
    """What one platform measured."""

    throughput: dict[int, float] = field(default_factory=dict)  # clients -> median MB/s
    rates: dict[int, list[float]] = field(default_factory=dict)  # clients -> each repetition
    latencies: list[float] = field(default_factory=list)
    finalisation: dict[int, float] = field(default_factory=dict)
    lost: int = 0
    duplicated: int = 0
    memory: list[float | None] = field(default_factory=list)
    cpu_per_mib: dict[str, float] = field(default_factory=dict)  # part -> ms per MiB uploaded
    idle_cores: float = 0.0  # its CPU (in cores) while the other platform was measured


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _fmt(value: float | None, unit: str, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} {unit}"


def report(
    single: Figures,
    dist: Figures,
    per_bundle: float,
    death: tuple[float, int],
    race_ours: str,
    race_peer: str | None,
    quick: bool,
    loads: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> None:
    """Prints the two tables of ``python -m bench.platform``."""
    rows = [["", "single node", "distributed", "ratio dist/single", "goal"]]
    for clients in sorted(single.throughput):
        a, b = single.throughput[clients], dist.throughput[clients]
        ratio = b / a if a else 0
        pairs = [
            d / s for s, d in zip(single.rates[clients], dist.rates[clients], strict=True) if s
        ]
        spread = f" [{min(pairs):.2f}-{max(pairs):.2f}]" if len(pairs) > 1 else ""
        rows.append(
            [
                f"throughput, {clients} clients",
                f"{a:.1f} MB/s",
                f"{b:.1f} MB/s",
                fmt_ratio(b, a) + spread,
                f">= 0.5 {'met' if ratio >= 0.5 else 'MISSED'}",
            ]
        )
    for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        a = _percentile(single.latencies, share) * 1000
        b = _percentile(dist.latencies, share) * 1000
        rows.append([f"PATCH 1 MiB {name}", f"{a:.0f} ms", f"{b:.0f} ms", fmt_ratio(b, a), ""])
    for megabytes in sorted(single.finalisation):
        a, b = single.finalisation[megabytes], dist.finalisation[megabytes]
        rows.append(
            [f"finalisation {megabytes} MB", f"{a:.2f} s", f"{b:.2f} s", fmt_ratio(b, a), ""]
        )
    lost = [f"{f.lost} / {f.duplicated}" for f in (single, dist)]
    ok = single.lost + single.duplicated + dist.lost + dist.duplicated == 0
    rows.append(["bundles lost / duplicated", *lost, "", f"0 {'met' if ok else 'MISSED'}"])
    memory = [", ".join(_fmt(m, "MiB", 0) for m in f.memory) for f in (single, dist)]
    rows.append(["peak memory per server process", *memory, "", ""])
    cpu = [sum(f.cpu_per_mib.values()) for f in (single, dist)]
    rows.append(["CPU per MiB uploaded, all parts", *(f"{c:.1f} ms" for c in cpu), "", ""])
    for part, value in dist.cpu_per_mib.items():
        rows.append([f"  of which {part}", "", f"{value:.1f} ms", "", ""])
    idle = [f"{f.idle_cores * 100:.1f} % of a core" for f in (single, dist)]
    rows.append(["CPU while idle (the other measured)", *idle, "", ""])
    first = "met" if death[1] == 1 else "MISSED"
    rows.append(
        [
            "replica killed mid-body -> resumed",
            "n/a (one node)",
            f"{death[0]:.2f} s",
            "",
            f"first retry {first} ({death[1]} attempt(s))",
        ]
    )
    rows.append(["S3 requests per bundle (put, get, delete)", "none", f"{per_bundle:.1f}", "", ""])
    if loads is not None:
        start, end = (" ".join(f"{x:.1f}" for x in load) for load in loads)
        rows.append(["machine load average, start -> end", f"{start} -> {end}", "", "", ""])
    mode = "quick run" if quick else "full run"
    title = "platform: single node vs distributed (2 replicas, PostgreSQL, SeaweedFS, HAProxy)"
    print_table(f"{title}, {mode}", rows)
    print()
    peer = race_peer or "n/a (--no-peer, or npm or the registry unavailable)"
    print_table(
        "platform: two concurrent PATCHes at one offset, one to each instance",
        [["ours (2 replicas)", race_ours], ["@tus/server 2.4.5 + @tus/s3-store", peer]],
    )
