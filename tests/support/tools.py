"""Independent checker tools (openssl, exiftool, …): skip without them, except under CI."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Return the tool's path; skip the test if missing, but fail under ``CI=true``."""
    found = shutil.which(name)
    if found:
        return found
    message = f"the independent checker `{name}` is not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI must install it: see .ci/run)")
    pytest.skip(message)
    raise AssertionError("unreachable")
