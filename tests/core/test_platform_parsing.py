"""Parsing of the tus headers and of ``Range`` by the platform (no server needed)."""

from __future__ import annotations

import pytest

from refplatform.ranges import RangeNotSatisfiable, parse_range
from refplatform.tus_headers import parse_count, parse_metadata
from refplatform.web import ApiError
from tests.support.platform import tus_metadata

SHA = "ab" * 32


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 100)),
        ("bytes=10-", (10, 100)),
        ("bytes=10-19", (10, 20)),
        ("bytes=90-500", (90, 100)),
        ("bytes=-30", (70, 100)),
        ("bytes=-500", (0, 100)),
        ("bytes=0-0,5-9", None),
        ("items=0-5", None),
        ("bytes=abc", None),
        ("bytes=5-3", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=250-300", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100)


def test_metadata_is_decoded_and_normalised() -> None:
    raw = tus_metadata(bundle_id="b-1", recipient="pr-dubois", sha256=SHA.upper(), kind="case")
    meta = parse_metadata(raw + ",filename " + "eC5iaW4=" + ",flag")
    assert (meta.bundle_id, meta.recipient, meta.sha256, meta.kind) == (
        "b-1",
        "pr-dubois",
        SHA,
        "case",
    )
    assert parse_metadata(tus_metadata(bundle_id="b", recipient="r", sha256=SHA)).kind is None


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "bundle_id YjE=,bundle_id YjE=",
        "bundle_id ###",
        tus_metadata(bundle_id="b", recipient="r"),
        tus_metadata(bundle_id="b", recipient="r", sha256="zz" * 32),
        tus_metadata(bundle_id="b/c", recipient="r", sha256=SHA),
        tus_metadata(bundle_id="b", recipient="r", sha256=SHA, kind="a kind with spaces"),
        "x" * 5000,
    ],
)
def test_bad_metadata_is_refused(raw: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        parse_metadata(raw)
    assert caught.value.status == 400


@pytest.mark.parametrize("value", [None, "", "-1", "+1", "1.5", "0x10", "²", "1" * 20])
def test_bad_counts_are_refused(value: str | None) -> None:
    with pytest.raises(ApiError):
        parse_count(value, "Upload-Length")


def test_counts() -> None:
    assert parse_count("0", "Upload-Offset") == 0
    assert parse_count(" 2147483648 ", "Upload-Length") == 2**31
