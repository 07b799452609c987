"""Independent checker tools (openssl, exiftool, …): skip without them, except under CI."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def require_tool(name: str) -> str:
    """Return the tool's path; skip the test if missing, but fail under ``CI=true``."""
    found = shutil.which(name)
    if not found:
        missing(f"the independent checker `{name}` is not installed", "CI must install it: .ci/run")
    return found


def missing(message: str, remedy: str) -> NoReturn:
    """Skip the test for something this machine lacks, but fail under ``CI=true``, where
    everything must be there (``remedy`` says how)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} ({remedy})")
    pytest.skip(message)
