"""What a person was shown, kept across sessions: identifiers only, damage tolerated."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.seen import Seen, SeenStore


def test_what_was_seen_comes_back_for_the_same_identity_only(tmp_path: Path) -> None:
    store = SeenStore(tmp_path, "pr-dubois")
    assert store.load() is None  # the first session: nothing is announced
    seen = Seen(frozenset({"b-1", "b-2"}), frozenset({"c-2"}))
    assert store.save(seen)
    assert SeenStore(tmp_path, "pr-dubois").load() == seen
    assert SeenStore(tmp_path, "dr-bernard").load() is None


def test_an_older_save_ending_last_is_dropped(tmp_path: Path) -> None:
    store = SeenStore(tmp_path, "pr-dubois")
    newer = Seen(frozenset({"b-1", "b-2"}))
    assert store.save(newer, version=2)
    assert not store.save(Seen(frozenset({"b-1"})), version=1)
    assert store.load() == newer


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"listed": "b-1", "unread": []}',
        b'{"listed": [1], "unread": []}',
        b'{"listed": ["a b"], "unread": []}',
        b'{"listed": []}',
    ],
)
def test_a_damaged_file_means_starting_afresh(tmp_path: Path, content: bytes) -> None:
    store = SeenStore(tmp_path, "pr-dubois")
    store.path.write_bytes(content)
    assert store.load() is None


@pytest.mark.parametrize("identity", ["", "../x", ".hidden", "a/b"])
def test_an_identity_id_cannot_name_another_file(tmp_path: Path, identity: str) -> None:
    with pytest.raises(ValueError, match="not an identity id"):
        SeenStore(tmp_path, identity)


def test_a_refresh_that_changed_nothing_writes_nothing(tmp_path: Path) -> None:
    store = SeenStore(tmp_path, "pr-dubois")
    seen = Seen(frozenset({"b-1"}))
    assert store.save(seen)
    written = store.path.stat().st_mtime_ns
    assert not store.save(Seen(frozenset({"b-1"})))  # the same, again
    assert store.path.stat().st_mtime_ns == written
    assert store.save(Seen(frozenset({"b-1", "b-2"})))
