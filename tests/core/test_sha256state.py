"""The SHA-256 whose state is saved and taken up again (refplatform.sha256state)."""

from __future__ import annotations

import hashlib
import itertools
import os

import pytest

from refplatform.sha256state import Sha256State, available

pytestmark = pytest.mark.skipif(not available(), reason="libcrypto (libssl3) not found")


def test_a_hash_taken_up_from_saved_states_equals_hashlib() -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    cuts = [0, 1, 63, 64, 65, 1000, 1024 * 1024, 2 * 1024 * 1024 + 5, len(data)]
    state = Sha256State()
    for start, stop in itertools.pairwise(cuts):
        state = Sha256State.resume(state.saved())
        state.update(data[start:stop])
        assert state.hexdigest() == hashlib.sha256(data[:stop]).hexdigest()
        assert state.length == stop
    assert Sha256State().hexdigest() == hashlib.sha256(b"").hexdigest()


def test_hexdigest_leaves_the_state_going_on() -> None:
    state = Sha256State()
    state.update(b"abc")
    assert state.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    state.update(b"def")
    assert state.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()


@pytest.mark.parametrize(
    "saved",
    [
        b"",
        b"\x00" * 125,  # no tag
        b"sha256-ctx-1:" + b"\x00" * 111,  # too short
        b"sha256-ctx-1:" + b"\x00" * 113,  # too long
        b"sha256-ctx-1:" + b"\x00" * 104 + (64).to_bytes(4, "little") + (32).to_bytes(4, "little"),
        b"sha256-ctx-1:" + b"\x00" * 104 + (0).to_bytes(4, "little") + (28).to_bytes(4, "little"),
    ],
)
def test_what_is_not_a_saved_state_is_refused(saved: bytes) -> None:
    with pytest.raises(ValueError, match="not a saved SHA-256 state"):
        Sha256State.resume(saved)
