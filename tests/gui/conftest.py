"""GUI tests: real widgets offscreen, against the real platform on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.demo import DemoEnv, make_template, running_demo

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("demo-template") / "demo")


@pytest.fixture
def demo_env(demo_template: Path, tmp_path: Path) -> Iterator[DemoEnv]:
    with running_demo(demo_template, tmp_path / "demo") as env:
        yield env


@pytest.fixture
def screenshot(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Save a widget's picture; also into docs/screenshots when PASSAVANT_SCREENSHOTS=1."""

    def save(widget, name: str) -> Path:  # type: ignore[no-untyped-def]
        path = tmp_path / f"{name}.png"
        assert widget.grab().save(str(path))
        if os.environ.get("PASSAVANT_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            assert widget.grab().save(str(SCREENSHOTS / f"{name}.png"))
        return path

    return save
