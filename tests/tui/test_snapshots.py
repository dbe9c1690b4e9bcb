"""Drawing tests: every pane and dialog, two sizes, two themes, against a scripted transport (no engine)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from fake_engine import FakeTransport, feed_stats, host_point
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot

from engine.client import Docker
from tui.app import PortsideApp
from tui.screens.build_dialog import BuildScreen
from tui.screens.inspect import InspectScreen
from tui.screens.logs import LogsScreen

THEMES = ["portside-dark", "portside-light"]
SIZES = {"120x40": (120, 40), "80x24": (80, 24)}


async def until(pilot: Pilot[None], predicate: Callable[[], bool]) -> None:
    for _ in range(500):
        if predicate():
            return
        await pilot.pause(0.01)
    raise AssertionError("the dashboard never got there")


async def loaded(pilot: Pilot[None]) -> PortsideApp:
    app = pilot.app
    assert isinstance(app, PortsideApp)
    await until(pilot, lambda: app.data_loaded and app.samples_taken >= 1)
    feed_stats(app)
    return app


async def containers(pilot: Pilot[None]) -> None:
    await loaded(pilot)


async def images(pilot: Pilot[None]) -> None:
    await loaded(pilot)
    await pilot.press("2")


async def resources(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("3")
    app._paint_resources()


async def confirm(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("x")
    await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")


async def run_dialog(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("2", "n")
    await until(pilot, lambda: type(app.screen).__name__ == "RunScreen")


async def build_dialog(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("b")
    await until(pilot, lambda: isinstance(app.screen, BuildScreen))
    screen = app.screen
    assert isinstance(screen, BuildScreen)
    screen.query_one("#build-context").value = "/home/me/hello"  # type: ignore[attr-defined]
    screen.query_one("#build-tag").value = "hello"  # type: ignore[attr-defined]
    await pilot.press("enter")
    await until(pilot, lambda: screen.image_id is not None)
    screen.query_one("#build-tag").blur()


async def tag_dialog(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("2", "t", *"nginx:stable")
    await until(pilot, lambda: type(app.screen).__name__ == "PromptScreen")


async def logs(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("space", "j", "space", "l")
    await until(pilot, lambda: isinstance(app.screen, LogsScreen) and len(app.screen.entries) == 10)
    await pilot.pause(0.1)
    await pilot.press("slash", *"GET", "enter")


async def inspect(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("i")
    await until(pilot, lambda: isinstance(app.screen, InspectScreen))
    await pilot.press("slash", *"port")


async def help_screen(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("question_mark")
    await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")


async def palette(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("colon", *"contain")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette))
    palette = app.screen
    # the search runs in workers, one per keystroke, and lists its hits as they come: wait for the last
    counts: list[int] = []

    def settled() -> bool:
        counts.append(palette.query_one(CommandList).option_count)
        return not palette._show_busy and counts[-1] > 0 and counts[-10:] == [counts[-1]] * 10
    await until(pilot, settled)


async def filtered(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    await pilot.press("slash", *"harbor", "enter")
    await until(pilot, lambda: len(app.containers_pane.table.row_keys) == 2)


async def tour(pilot: Pilot[None]) -> None:
    app = await loaded(pilot)
    app.action_tour()
    await pilot.pause(0.1)


VIEWS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "containers": containers, "images": images, "resources": resources, "confirm": confirm,
    "run": run_dialog, "build": build_dialog, "tag": tag_dialog, "logs": logs, "inspect": inspect,
    "help": help_screen, "palette": palette, "tour": tour, "filtered": filtered,
}


def in_theme(theme: str, view: Callable[[Pilot[None]], Awaitable[None]]) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        pilot.app.theme = theme
        await view(pilot)
    return run_before


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("view", list(VIEWS))
def test_view(snap_compare: Callable[..., bool], view: str, size: str, theme: str,
              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTSIDE_TOUR_DIR", "/home/me/portside-tour")
    monkeypatch.setenv("PORTSIDE_CONFIG", "/tmp/portside-snapshots/config.yaml")  # drawn by the help screen
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    app = PortsideApp(docker=Docker(transport=FakeTransport()), refresh_interval=3600, host_probe=host_point)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=in_theme(theme, VIEWS[view]))


async def empty_containers(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, PortsideApp)
    await until(pilot, lambda: app.data_loaded)


async def empty_images(pilot: Pilot[None]) -> None:
    await empty_containers(pilot)
    await pilot.press("2")


async def empty_tour(pilot: Pilot[None]) -> None:
    await empty_containers(pilot)
    app = pilot.app
    assert isinstance(app, PortsideApp)
    app.action_tour()
    await pilot.pause(0.1)


EMPTY_VIEWS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "containers": empty_containers, "images": empty_images, "tour": empty_tour,
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("view", list(EMPTY_VIEWS))
def test_empty_view(snap_compare: Callable[..., bool], view: str, size: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh data root: the empty panes and the tour's first step offer B (busybox, no network)."""
    monkeypatch.setenv("PORTSIDE_TOUR_DIR", "/home/me/portside-tour")
    monkeypatch.setenv("PORTSIDE_CONFIG", "/tmp/portside-snapshots/config.yaml")
    app = PortsideApp(docker=Docker(transport=FakeTransport(empty=True)), refresh_interval=3600,
                      host_probe=host_point)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=in_theme(THEMES[0], EMPTY_VIEWS[view]))
