"""A private SoftHSM2 token store for the tests of card identities (``crypto.pkcs11``).

SoftHSM reads ``SOFTHSM2_CONF`` once per process, when the module is initialised, and a
process does not see tokens initialised after that: so :func:`softhsm` initialises a stock of
tokens in a temporary folder once per test session, and each test takes fresh ones
(:meth:`SoftHsm.token`). SoftHSM never blocks a PIN itself; :meth:`SoftHsm.set_pin_flags`
writes the token flags a card reports (last try, blocked) into the token's file, which SoftHSM
reads back and reports through ``C_GetTokenInfo``.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.tools import missing, require_tool

MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
PIN = "739146"
SO_PIN = "55667788"
TOKENS = 64  # the card tests of the whole suite, in one process
_TOKEN_FLAGS = struct.pack(">QQ", 0x8000534B, 2)  # CKA_OS_TOKENFLAGS, an unsigned long
FINAL_TRY = 0x00020000
LOCKED = 0x00040000


@dataclass
class SoftHsm:
    module: str
    folder: Path
    labels: list[str]
    _next: itertools.count[int] = field(default_factory=itertools.count)

    def token(self) -> str:
        """The label of a token no test used yet (user PIN :data:`PIN`)."""
        index = next(self._next)
        if index >= len(self.labels):
            raise AssertionError("more SoftHSM tokens needed: raise TOKENS")
        return self.labels[index]

    def token_folder(self, label: str) -> Path:
        padded = label.encode("utf-8").ljust(32)
        for path in (self.folder / "tokens").glob("*/token.object"):
            if padded in path.read_bytes():
                return path.parent
        raise AssertionError(f"no token folder for {label}")

    def set_pin_flags(self, label: str, flags: int) -> None:
        """Add ``flags`` to the token's flags, as its file stores them."""
        path = self.token_folder(label) / "token.object"
        data = bytearray(path.read_bytes())
        at = data.index(_TOKEN_FLAGS) + len(_TOKEN_FLAGS)
        (current,) = struct.unpack(">Q", data[at : at + 8])
        data[at : at + 8] = struct.pack(">Q", current | flags)
        (generation,) = struct.unpack(">Q", data[:8])
        data[:8] = struct.pack(">Q", generation + 1)  # SoftHSM rereads a changed file
        path.write_bytes(bytes(data))

    def remove(self, label: str) -> None:
        """The card leaves the reader: its token is gone."""
        shutil.rmtree(self.token_folder(label))


@functools.cache
def softhsm() -> SoftHsm:
    """The session's token store (skips naming softhsm2 when it is missing, fails under CI)."""
    util = require_tool("softhsm2-util")
    module = next((m for m in MODULES if Path(m).is_file()), None)
    if module is None:
        missing("the softhsm2 PKCS#11 module is not installed", "CI must install softhsm2")
    folder = Path(tempfile.mkdtemp(prefix="passavant-softhsm-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\nslots.removable = true\n",
        encoding="utf-8",
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)  # before the module is initialised in-process
    labels = [f"card-{n}" for n in range(TOKENS)]
    for label in labels:
        subprocess.run(
            [util, "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        )
    return SoftHsm(module, folder, labels)
