"""New passphrases on the command line: ``identity new``, ``identity import`` (when it sets
the profile's passphrase) and ``identity passphrase`` apply the policy (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import secrets
from app.cli import main
from cases.profile import Profile
from crypto import audit, pkcs12, pki
from tests.support.pki import World, world

GOOD = "lanterne quai brume vingt"
OTHER_GOOD = "orage velours piano sept"


@pytest.fixture(scope="module")
def w() -> World:
    return world()


class Cli:
    def __init__(self, tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.tmp = tmp
        self.profile = tmp / "profile"
        self.capsys = capsys

    def passfile(self, text: str) -> Path:
        path = self.tmp / f"pass-{abs(hash(text))}.txt"
        path.write_text(text + "\n", "utf-8")
        return path

    def run(self, *args: str | Path) -> tuple[int, str, str]:
        status = main(["--profile", str(self.profile), *map(str, args)])
        out, err = self.capsys.readouterr()
        return status, out, err

    def ok(self, *args: str | Path) -> str:
        status, out, err = self.run(*args)
        assert (status, err) == (0, ""), err
        return out

    def fails(self, *args: str | Path) -> str:
        status, _out, err = self.run(*args)
        assert status == 1
        assert err.count("\n") == 1, err
        return err.removeprefix("passavant: ").strip()


@pytest.fixture
def cli(w: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    w.ca.write(tmp_path, "ca")
    return Cli(tmp_path, capsys)


def new_identity(cli: Cli, passphrase: str) -> tuple[int, str, str]:
    return cli.run("identity", "new", "Dr Élise Noël", "--role", "doctor", "--key", "ec",
                   "--ca-dir", cli.tmp, "--passphrase-file", cli.passfile(passphrase))  # fmt: skip


def test_identity_new_refuses_weak_passphrases(cli: Cli) -> None:
    cli.profile.mkdir(mode=0o700)  # an existing folder: failures are journalled there
    for weak, sentence in (
        ("", "le mot de passe ne peut pas être vide."),
        ("court", "Mot de passe trop court : il faut au moins 12 caractères"),
        ("password1234", "Mot de passe trop facile à deviner"),
        ("Elise Noel 1980!", "ne doit pas reprendre votre nom ni votre identifiant"),
        ("demo", "« demo » est le mot de passe de la démonstration"),
    ):
        status, _out, err = new_identity(cli, weak)
        assert status == 1
        assert sentence in err, err
        assert err.count("\n") == 1
    assert not (cli.profile / "identities").exists()
    codes = [e.details["code"] for e in audit.read(cli.profile / "audit.jsonl")]
    assert codes == [
        "CommandError",
        "passphrase_too_short",
        "passphrase_too_weak",
        "passphrase_is_a_name",
        "passphrase_too_short",
    ]

    status, out, err = new_identity(cli, GOOD)
    assert (status, err) == (0, ""), err
    assert "Identité créée : dr-elise-noel" in out
    assert pki.key_wrapping(cli.profile / "identities/dr-elise-noel/key.pem") == pki.KEY_WRAPPING


def test_an_import_whose_passphrase_is_weak_needs_a_new_one(cli: Cli, w: World) -> None:
    p12 = cli.tmp / "s.p12"
    p12.write_bytes(pkcs12.export_pkcs12(w.specialist.key, w.specialist.cert, [], b"1234", "L"))
    import_ = ("identity", "import", p12, "--name", "Pr L", "--passphrase-file")
    err = cli.fails(*import_, cli.passfile("1234"))
    assert err.startswith("Mot de passe trop court")
    assert not (cli.profile / "identities").exists()
    err = cli.fails(*import_, cli.passfile("1234"), "--new-passphrase-file", cli.passfile("abc"))
    assert err.startswith("Mot de passe trop court")

    cli.ok(*import_, cli.passfile("1234"), "--new-passphrase-file", cli.passfile(GOOD))
    me = Profile(cli.profile).unlock("pr-l", GOOD.encode())
    assert me.certificate == w.specialist.cert


def test_changing_a_passphrase(cli: Cli) -> None:
    assert new_identity(cli, GOOD)[0] == 0
    profile = Profile(cli.profile)
    assert secrets.remember(profile.station_id, "dr-elise-noel", GOOD)
    change = ("identity", "passphrase", "dr-elise-noel", "--passphrase-file")

    err = cli.fails(
        *change, cli.passfile(GOOD), "--new-passphrase-file", cli.passfile("Noel Elise")
    )
    assert "Mot de passe trop court" in err
    assert "ne doit pas reprendre votre nom" in err
    err = cli.fails(
        *change, cli.passfile("wrong"), "--new-passphrase-file", cli.passfile(OTHER_GOOD)
    )
    assert err == "Mot de passe incorrect."

    out = cli.ok(*change, cli.passfile(GOOD), "--new-passphrase-file", cli.passfile(OTHER_GOOD))
    assert out == "Mot de passe de dr-elise-noel changé.\n"
    assert profile.unlock("dr-elise-noel", OTHER_GOOD.encode()).info.id == "dr-elise-noel"
    # one an earlier version kept in the keyring is stale now: erased
    assert secrets.recall(profile.station_id, "dr-elise-noel") is None
    events = [e.event for e in audit.read(cli.profile / "audit.jsonl")]
    assert events.count("identity_passphrase_changed") == 1
