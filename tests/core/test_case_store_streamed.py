"""The case store with every bundle's content waiting in an encrypted temporary file: the
store's own scenarios of genuine, forged and malformed bundles run with the in-memory bound
lowered to nothing, so that ingestion (``cases.opening``) and payloads (``cases.reopen``)
read every bundle as they read clips of hundreds of megabytes. The reading is one path
whatever the size; only where the content waits changes, and it must change nothing else:
the same admissions, refusals, codes and payloads as with the content in memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cases import ingestion, opening, reopen, store
from crypto._scratch import MemoryScratch, Scratch
from tests.core.test_case_index import (  # noqa: F401  # re-run with the content on disk
    test_a_photo_is_read_only_from_the_bundle_admitted,
    test_a_warm_refresh_opens_no_bundle_and_photos_are_read_when_looked_at,
)
from tests.core.test_case_store_forged import (  # noqa: F401
    test_a_sender_that_is_not_exactly_its_signer_is_refused,
    test_malformed_bundles_are_set_aside_and_the_rest_is_listed,
    world,
)


@pytest.fixture(autouse=True)
def every_bundle_through_a_temporary_file(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    sinks: list[type] = []
    original = reopen.sink_for

    def counted(path: Path, in_memory_max: int, buffer: bytearray | None = None) -> object:
        sink = original(path, in_memory_max, buffer)
        sinks.append(type(sink))
        return sink

    monkeypatch.setattr(store, "IN_MEMORY_MAX", -1)
    monkeypatch.setattr(ingestion, "IN_MEMORY_MAX", -1)
    monkeypatch.setattr(opening, "sink_for", counted)
    monkeypatch.setattr(reopen, "sink_for", counted)
    yield
    assert sinks, "no bundle was read from its file"
    assert MemoryScratch not in sinks
    assert Scratch in sinks
