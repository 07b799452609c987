"""The case store's ingestion through the streaming path (``CaseStore.open_file``: bounded
memory, for bundles of hundreds of megabytes), run on the store's own scenarios of genuine,
forged and malformed bundles with the size threshold lowered to nothing, so that every
bundle is opened from its file one member at a time: the same admissions, refusals and codes
as the in-memory path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cases import store
from tests.core.test_case_index import (  # noqa: F401  # re-run under the streaming path
    test_a_photo_is_read_only_from_the_bundle_admitted,
    test_a_warm_refresh_opens_no_bundle_and_photos_are_read_when_looked_at,
)
from tests.core.test_case_store_forged import (  # noqa: F401
    test_a_sender_that_is_not_exactly_its_signer_is_refused,
    test_malformed_bundles_are_set_aside_and_the_rest_is_listed,
    world,
)


@pytest.fixture(autouse=True)
def every_bundle_streamed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    opened: list[str] = []
    original = store.CaseStore.open_file

    def counted(self: store.CaseStore, path: object) -> object:
        opened.append(str(path))
        return original(self, path)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "STREAM_ABOVE", -1)
    monkeypatch.setattr(store.CaseStore, "open_file", counted)
    yield
    assert opened, "no bundle went through the streaming path"
