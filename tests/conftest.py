"""Shared test set-up: offscreen Qt, an in-memory keyring, never the user's real data."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "tests.support.memkeyring.MemoryKeyring")

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.session import Session
from cases.profile import Profile
from tests.support.demo import DemoEnv, make_template, running_demo
from tests.support.disk import free_line


def pytest_report_header() -> str:
    """Free disk space, first thing in the report: a full disk fails tests far from its cause."""
    return free_line()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's CA, profiles and platform accounts, made once (key generation is slow)."""
    return make_template(tmp_path_factory.mktemp("demo-template") / "demo")


@pytest.fixture
def demo_env(demo_template: Path, tmp_path: Path) -> Iterator[DemoEnv]:
    """A fresh copy of the demo with its platform running on 127.0.0.1 over HTTPS."""
    with running_demo(demo_template, tmp_path / "demo") as env:
        yield env


@pytest.fixture
def sessions(demo_env: DemoEnv) -> Iterator[tuple[Session, Session]]:
    """The demo's two workstations, their queues and inboxes running (Qt-free)."""
    unit = Session(Profile(demo_env.layout.unit), poll_interval=0.2)
    hospital = Session(Profile(demo_env.layout.hospital), poll_interval=0.2)
    for session in (unit, hospital):
        session.start()
    try:
        yield unit, hospital
    finally:
        for session in (unit, hospital):
            session.stop()
