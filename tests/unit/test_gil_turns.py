"""The server shortens the interpreter's GIL switch interval (app.main.shorter_gil_turns),
and never lengthens one a process chose."""

from __future__ import annotations

import sys

import pytest

from app.main import GIL_SWITCH_INTERVAL, create_app, shorter_gil_turns
from app.settings import Settings


@pytest.fixture(autouse=True)
def _restore() -> object:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_default_is_shortened() -> None:
    sys.setswitchinterval(0.005)
    shorter_gil_turns()
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL)


def test_a_shorter_one_is_kept() -> None:
    sys.setswitchinterval(0.0001)
    shorter_gil_turns()
    assert sys.getswitchinterval() == pytest.approx(0.0001)


def test_building_the_app_shortens_it(settings: Settings) -> None:
    """In every worker: `serve --workers N` spawns processes that each build the app."""
    sys.setswitchinterval(0.005)
    create_app(settings)
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL)
