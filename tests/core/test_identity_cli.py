"""``passavant identity new --rpps``: the professional's RPPS kept in the profile's identity,
for the tele-expertise act; a malformed one refused in one plain line."""

from __future__ import annotations

import shutil

from cases.profile import Profile
from tests.core.test_cli_bundle import Env, env, template, w  # noqa: F401  (fixtures)


def test_identity_new_keeps_a_valid_rpps_and_refuses_a_wrong_key(env: Env) -> None:  # noqa: F811
    ca_dir = env.tmp / "ca-dir"
    ca_dir.mkdir()
    shutil.copy(env.tmp / "ca.pem", ca_dir / "ca.pem")
    shutil.copy(env.tmp / "ca-dir.key", ca_dir / "ca.key")
    fresh = env.tmp / "fresh"
    err = env.fails(fresh, "identity", "new", "Dr Élise Noël", "--role", "doctor",
                    "--ca-dir", ca_dir, "--passphrase-file", env.passfile,
                    "--rpps", "10001234566")  # fmt: skip
    assert "numéro RPPS invalide" in err
    assert not (fresh / "identities" / "dr-elise-noel").exists()  # nothing written
    env.ok(fresh, "identity", "new", "Dr Élise Noël", "--role", "doctor", "--ca-dir", ca_dir,
           "--passphrase-file", env.passfile, "--rpps", "10001234565")  # fmt: skip
    assert Profile(fresh).identity("dr-elise-noel").rpps == "10001234565"
    env.ok(fresh, "identity", "new", "Sophie Roux", "--role", "secretary", "--ca-dir", ca_dir,
           "--passphrase-file", env.passfile)  # fmt: skip
    assert Profile(fresh).identity("sophie-roux").rpps is None  # not every identity has one
