"""Drawing tests: both panes, two sizes, two themes, against a scripted transport (no engine)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from fake_engine import FakeTransport
from textual.pilot import Pilot

from engine.client import Docker
from tui.app import PortsideApp

THEMES = ["portside-dark", "portside-light"]
SIZES = {"120x40": (120, 40), "80x24": (80, 24)}
PANES = {"containers": [], "images": ["2"]}


def loaded_in(theme: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, PortsideApp)
        app.theme = theme
        for _ in range(500):
            if app.data_loaded:
                break
            await pilot.pause(0.01)
        assert app.data_loaded, "the fake engine's lists never arrived"
    return run_before


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("pane", list(PANES))
def test_pane(snap_compare: Callable[..., bool], pane: str, size: str, theme: str) -> None:
    app = PortsideApp(docker=Docker(transport=FakeTransport()))
    assert snap_compare(app, press=PANES[pane], terminal_size=SIZES[size], run_before=loaded_in(theme))


def test_confirm_remove(snap_compare: Callable[..., bool]) -> None:
    """The confirm dialog over the containers pane (x on a running container)."""
    app = PortsideApp(docker=Docker(transport=FakeTransport()))
    assert snap_compare(app, press=["x"], terminal_size=(100, 30), run_before=loaded_in("portside-dark"))
