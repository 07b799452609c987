"""The station token lives in the system keyring when there is one, else in a 0600 file."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from app.commands.outbox import station_token
from cases.profile import KEYRING_SERVICE, Profile, ProfileError
from tests.support.memkeyring import MemoryKeyring


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def create(root: Path, **options: object) -> Profile:
    return Profile.create(
        root,
        station_id="usmp-test",
        platform_url="https://127.0.0.1:1",
        token="s3cr3t-token",
        ca_pem=b"",
        **options,  # type: ignore[arg-type]
    )


def test_with_a_keyring_the_token_is_not_on_disk(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    profile = create(tmp_path / "p")
    assert not profile.token_file.exists()
    assert keyring.get_password(KEYRING_SERVICE, "usmp-test/station-token") == "s3cr3t-token"
    assert profile.station_token() == "s3cr3t-token"
    assert station_token(profile) == "s3cr3t-token"  # what the outbox commands use
    hits = [p for p in (tmp_path / "p").rglob("*") if p.is_file() and b"s3cr3t" in p.read_bytes()]
    assert hits == []


def test_without_a_keyring_the_token_is_a_private_file(tmp_path: Path, no_keyring: None) -> None:
    profile = create(tmp_path / "p")
    assert profile.token_file.read_text() == "s3cr3t-token"
    assert stat.S_IMODE(profile.token_file.stat().st_mode) == 0o600
    assert profile.station_token() == "s3cr3t-token"


def test_the_demo_keeps_its_token_in_its_folder(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    profile = create(tmp_path / "p", demo=True)
    assert profile.token_file.read_text() == "s3cr3t-token"
    assert keyring.get_password(KEYRING_SERVICE, "usmp-test/station-token") is None


def test_no_token_anywhere_is_a_profile_error(
    tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    profile = create(tmp_path / "p")
    keyring.delete_password(KEYRING_SERVICE, "usmp-test/station-token")
    with pytest.raises(ProfileError):
        profile.platform_config()
