"""A mailbox listing's cost as the mailbox grows: one page against the whole mailbox.

The embedded platform (a real server on 127.0.0.1, ``tests.support.platform``) with one
recipient whose mailbox is filled to 10, 100 and 1,000 unacknowledged items (small bundles:
only the listing is measured). At each depth, wall milliseconds, the median of a few:

* ``first page``: ``GET …/items`` as a poll asks it first (200 items at most,
  ``refplatform.mailpages``);
* ``last page``: the page that ends the mailbox, asked with the cursor of the item before it
  (the position is found through the ``(recipient_id, seq)`` index, not by counting);
* ``whole mailbox``: every page to the end, what the single answer of the previous version
  held (the peer: it grows with the mailbox);
* ``first / whole``: the ratio. The goal: a page's cost does not grow with the mailbox's
  depth past a page, while the whole listing does.

``python -m bench.mailbox [--quick]``: about 30 s (``--quick``: up to 400 items, fewer rounds).
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import fmt_ratio, median_seconds, parse_quick, print_table

DEPTHS, QUICK_DEPTHS = (10, 100, 1_000), (10, 100, 400)
ROUNDS, QUICK_ROUNDS = 7, 3
RECIPIENT = "pr-bench-mailbox"
PAYLOAD = b"a sealed bundle, as far as the platform knows" * 4


def _median_ms(action: Callable[[], object], rounds: int) -> float:
    return 1000 * median_seconds(action, rounds)


def run(quick: bool) -> None:
    from tests.support.platform import Station, start_platform

    depths = QUICK_DEPTHS if quick else DEPTHS
    rounds = QUICK_ROUNDS if quick else ROUNDS
    rows = [["items waiting", "first page", "last page", "whole mailbox", "pages", "first / whole"]]
    with (
        tempfile.TemporaryDirectory(prefix="passavant-bench-mailbox-") as folder,
        start_platform(Path(folder)) as platform,
        Station(platform, "bench-unit") as unit,
        Station(platform, "bench-hospital") as hospital,
    ):
        hospital.add_recipient(RECIPIENT, "dermatology")
        path = f"/api/v1/mailboxes/{RECIPIENT}/items"

        def page(query: str = "") -> tuple[list[str], str | None]:
            answer = hospital.call("GET", path + query)
            answer.raise_for_status()
            document = answer.json()
            return [item["bundle_id"] for item in document["items"]], document["next"]

        def whole() -> list[str]:
            listed, following = page()
            for _ in range(10_000):
                if following is None:
                    return listed
                more, following = page(f"?after={following}")
                listed += more
            raise RuntimeError("the listing never ended")

        held = 0
        for depth in depths:
            for _ in range(depth - held):
                answer = unit.send(RECIPIENT, PAYLOAD, f"bench-{uuid.uuid4().hex}")
                answer.raise_for_status()
            held = depth
            walked = whole()
            assert len(walked) == depth, f"{len(walked)} listed of {depth}"
            before_last = _cursor_before_last_page(page, depth)
            first_ms = _median_ms(page, rounds)
            last_ms = _median_ms(lambda c=before_last: page(c), rounds)
            whole_ms = _median_ms(whole, rounds)
            rows.append(
                [f"{depth:,}", f"{first_ms:.1f} ms", f"{last_ms:.1f} ms", f"{whole_ms:.1f} ms",
                 str(-(-depth // 200)), fmt_ratio(first_ms, whole_ms)]
            )  # fmt: skip
    print_table("Mailbox listing, embedded platform: one page against the whole mailbox", rows)


def _cursor_before_last_page(page: Callable[..., tuple[list[str], str | None]], depth: int) -> str:
    """The query asking for the mailbox's last page (``""``: the mailbox fits in one)."""
    query, following = "", page()[1]
    for _ in range(-(-depth // 200) - 1):
        assert following is not None
        query = f"?after={following}"
        following = page(query)[1]
    return query


def main(argv: Sequence[str] | None = None) -> int:
    run(parse_quick(argv, "A mailbox listing's cost as the mailbox grows"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
