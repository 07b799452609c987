"""A growing delay after wrong passphrases, per identity and per profile, surviving a restart;
the command line goes through the same path (issue 15). An injected clock: no sleeping."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

import pytest

from app.cli import main
from app.messages import error_reason
from cases.attempts import MAX_DELAY, delay_after
from cases.profile import IdentityInfo, Profile, ProfileError, UnlockDelayed
from crypto import audit, pki
from crypto.errors import WrongPassphrase
from tests.support.pki import World, world

RIGHT = b"demo"  # a demo profile's: lightly wrapped, so that each try is quick
WRONG = b"not the passphrase"
DOCTOR = IdentityInfo("dr-martin", "Dr Claire Martin", "doctor", "USMP Fresnes")
OTHER = IdentityInfo("sec-roux", "Sophie Roux", "secretary", "USMP Fresnes")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def w() -> World:
    return world()


def make_profile(root: Path, w: World, clock: Clock) -> Profile:
    Profile.create(
        root,
        station_id=root.name,
        platform_url="",
        token="t",
        ca_pem=pki.cert_to_pem(w.ca.cert),
        demo=True,
    )
    profile = Profile(root, clock=clock)
    profile.add_identity(DOCTOR, w.doctor.cert, w.doctor.key, RIGHT)
    profile.add_identity(OTHER, w.secretary.cert, w.secretary.key, RIGHT)
    return profile


def test_the_schedule() -> None:
    assert [delay_after(n) for n in range(10)] == [0, 0, 0, 0, 2, 4, 8, 16, 32, 64]
    assert delay_after(12) == delay_after(1000) == MAX_DELAY == 300


def test_wrong_passphrases_delay_the_next_try(
    w: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    profile = make_profile(tmp_path / "unit", w, clock)
    delays = []
    for _attempt in range(5):
        with pytest.raises(WrongPassphrase):
            profile.unlock(DOCTOR.id, WRONG)
        delays.append(profile.unlock_delay(DOCTOR.id))
        clock.now += delays[-1]  # wait it out
    assert delays == [0, 0, 0, 2, 4]  # five wrong passphrases: the delay grows

    clock.now -= 3  # one second into the last delay
    tried = []
    real_load = pki.load_private_key
    monkeypatch.setattr(pki, "load_private_key", lambda *a, **k: tried.append(a))
    with pytest.raises(UnlockDelayed) as delayed:  # the right passphrase, refused at once
        profile.unlock(DOCTOR.id, RIGHT)
    assert (delayed.value.code, delayed.value.seconds_left, delayed.value.seconds) == (
        "unlock_delayed",
        3,
        3,
    )
    with pytest.raises(UnlockDelayed):  # a wrong one is not tried either, nor counted
        profile.unlock(DOCTOR.id, WRONG)
    assert tried == []
    monkeypatch.setattr(pki, "load_private_key", real_load)
    assert profile.unlock_failures.failures(DOCTOR.id) == 5

    assert profile.unlock_delay(OTHER.id) == 0  # per identity
    profile.unlock(OTHER.id, RIGHT)
    restarted = Profile(profile.root, clock=clock)  # a restart keeps the delay
    assert restarted.unlock_delay(DOCTOR.id) == 3

    clock.now += 3
    me = restarted.unlock(DOCTOR.id, RIGHT)  # after the delay, it works
    assert me.info.id == DOCTOR.id
    assert restarted.unlock_failures.failures(DOCTOR.id) == 0  # and the count is reset
    with pytest.raises(WrongPassphrase):
        restarted.unlock(DOCTOR.id, WRONG)
    assert restarted.unlock_delay(DOCTOR.id) == 0


def test_per_profile_capped_and_stored_without_secrets(w: World, tmp_path: Path) -> None:
    clock = Clock()
    unit = make_profile(tmp_path / "unit", w, clock)
    other = make_profile(tmp_path / "other", w, clock)
    for _failure in range(30):
        unit.unlock_failures.record_failure(DOCTOR.id)
    assert unit.unlock_delay(DOCTOR.id) == MAX_DELAY
    assert other.unlock_delay(DOCTOR.id) == 0
    database = tmp_path / "unit" / "passavant.sqlite"
    with contextlib.closing(sqlite3.connect(database)) as db:  # an id, a count, a time
        assert db.execute("SELECT * FROM unlock_failures").fetchall() == [
            ("dr-martin", 30, clock.now)
        ]
    assert database.stat().st_mode & 0o777 == 0o600


def test_a_clock_set_back_does_not_lock_out(w: World, tmp_path: Path) -> None:
    clock = Clock()
    profile = make_profile(tmp_path / "unit", w, clock)
    for _failure in range(4):
        profile.unlock_failures.record_failure(DOCTOR.id)
    clock.now -= 86_400  # the machine's clock goes back a day
    assert profile.unlock_delay(DOCTOR.id) == 2  # the delay runs from now, not for a day
    clock.now += 2
    profile.unlock(DOCTOR.id, RIGHT)


def test_the_command_line_goes_through_the_same_path(
    w: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_profile(tmp_path / "unit", w, Clock())  # the command line uses the real clock
    bad = tmp_path / "bad.txt"
    bad.write_text("not the passphrase\n")

    def export(passphrase_file: Path) -> str:
        status = main(
            ["--profile", str(tmp_path / "unit"), "identity", "export", DOCTOR.id,
             "-o", str(tmp_path / "out.p12"), "--passphrase-file", str(passphrase_file)]
        )  # fmt: skip
        assert status == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        return err

    for _attempt in range(4):
        assert export(bad) == "passavant: Mot de passe incorrect.\n"
    # refused before the passphrase is even read (this file does not exist)
    err = export(tmp_path / "no-such-file.txt")
    assert re.fullmatch(
        r"passavant: Trop de mots de passe erronés : nouvel essai possible dans [12] s\.\n", err
    )
    codes = [
        entry.details.get("code")
        for entry in audit.read(tmp_path / "unit" / "audit.jsonl")
        if entry.event == "command_failed"
    ]
    assert codes == ["wrong_passphrase"] * 4 + ["unlock_delayed"]
    assert not (tmp_path / "out.p12").exists()


def test_what_the_window_says() -> None:
    """The login and lock pages show a ``ProfileError`` by its sentence: this one says how
    long to wait, rounded up."""
    delayed = UnlockDelayed("dr-martin", 7.2)
    assert isinstance(delayed, ProfileError)
    assert error_reason(delayed) == (
        "Trop de mots de passe erronés : nouvel essai possible dans 8 s."
    )
    assert error_reason(UnlockDelayed("dr-martin", 125)) == (
        "Trop de mots de passe erronés : nouvel essai possible dans 2 min 05 s."
    )
