"""The bound on the platform's log: repeated records are counted, not written."""

from __future__ import annotations

import io
import logging

from refplatform.logbounds import RepeatBound, install_log_bounds


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _logger(stream: io.StringIO, bound: RepeatBound) -> logging.Logger:
    logger = logging.getLogger(f"test.logbounds.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    install_log_bounds(logger, bound)
    return logger


def test_a_flood_of_one_error_writes_a_few_lines_then_counts_the_rest() -> None:
    clock, stream = FakeClock(), io.StringIO()
    bound = RepeatBound(window=60, burst=5, clock=clock)
    logger = _logger(stream, bound)
    try:
        raise ConnectionResetError("peer went away " + "x" * 5000)
    except ConnectionResetError:
        for n in range(100_000):
            logger.exception("connection %d failed", n)
    written = stream.getvalue()
    assert written.count("ERROR connection") == 5
    assert len(written) < 5 * (1000 + 4000 + 200), "messages and tracebacks are cut"
    assert bound.suppressed == 100_000 - 5
    clock.now += 61
    logger.error("connection %d failed", 7)
    last = stream.getvalue().splitlines()[-1]
    assert "99995 similar message(s) left out" in last


def test_different_messages_pass_up_to_the_ceiling() -> None:
    clock, stream = FakeClock(), io.StringIO()
    logger = _logger(stream, RepeatBound(window=60, burst=5, ceiling=50, clock=clock))
    for n in range(1000):
        logger.warning(f"distinct template {n}")  # each one a new key
    assert stream.getvalue().count("WARNING") == 50
    clock.now += 61
    logger.warning("after the window")
    assert stream.getvalue().splitlines()[-1] == "WARNING after the window"


def test_a_long_message_is_cut() -> None:
    stream = io.StringIO()
    logger = _logger(stream, RepeatBound(max_chars=100))
    logger.info("header: %s", "A" * 10_000)
    line = stream.getvalue().strip()
    assert line.endswith("…")
    assert len(line) < 120
