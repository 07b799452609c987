"""A demo environment for tests: real CA, real profiles, the real platform on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app import demo


@dataclass
class DemoEnv:
    layout: demo.DemoLayout
    url: str
    process: subprocess.Popen[bytes]


def make_template(root: Path) -> Path:
    """Set up a demo once (key generation is the slow part); tests copy it."""
    demo.set_up(root)
    return root


@contextmanager
def running_demo(template: Path, root: Path) -> Iterator[DemoEnv]:
    """A fresh copy of the demo with its platform running; stopped on exit."""
    shutil.copytree(template, root)
    layout = demo.DemoLayout(root)
    process, url = demo.start_platform(layout)
    try:
        yield DemoEnv(layout, url, process)
    finally:
        demo.stop_platform(process)
