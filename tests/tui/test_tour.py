"""``portside tour`` from the first step to the last, against the real engine (root only)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from engine_helpers import SIZE, until
from textual.widgets import Input

from tui.app import PortsideApp
from tui.screens.build_dialog import BuildScreen
from tui.screens.run_dialog import RunScreen
from tui.tour import STEPS, TOUR_NAME
from tui.widgets.containers_pane import container_name

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containers"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs /bin/busybox"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def step(app: PortsideApp) -> str:
    assert app.tour is not None
    return app.tour.step.id if app.tour.step is not None else "done"


async def test_the_tour_start_to_end(root: str, tmp_path: Path) -> None:
    app = PortsideApp(root=root, tour=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.data_loaded)
        assert step(app) == "image"
        panel = app.tour_panel
        assert "step 1/7" in str(panel.border_title) and "read-only template" in str(panel.content)

        await pilot.press("2")
        await until(pilot, lambda: step(app) == "dockerfile")
        await pilot.press("w")
        await until(pilot, lambda: step(app) == "build")
        assert (tmp_path / "tour" / "Dockerfile").read_text().startswith("# The tour's sample image")

        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BuildScreen))
        await pilot.press("enter")
        await until(pilot, lambda: step(app) == "run", timeout=60)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, BuildScreen))
        assert "not built yet" in str(panel.content) or "publishes" in str(panel.content)

        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        ports = app.screen.query_one("#run-ports", Input)
        if ports.value:  # -p is available: the tour publishes 8080; keep the test off ports others use
            ports.value = f"{free_port()}:8000"
        await pilot.press("enter")
        await until(pilot, lambda: step(app) == "list")

        await pilot.press("1")
        pane = app.containers_pane
        tour_id = next(c["Id"] for c in pane.all_containers if container_name(c) == TOUR_NAME)
        while pane.table.selected_key != tour_id:
            await pilot.press("j")
        await until(pilot, lambda: step(app) == "stop")

        await pilot.press("s")
        await until(pilot, lambda: step(app) == "remove", timeout=20)
        await pilot.press("ctrl+d")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: step(app) == "done")
        assert "done" in str(panel.border_title) and app.tour.index == len(STEPS)
        await pilot.press("T")
        assert app.tour is None and not panel.display


async def test_the_tour_is_in_the_palette_and_skips(root: str) -> None:
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.data_loaded)
        await app.run_palette_action("tour")
        assert app.tour is not None and step(app) == "image"
        await pilot.press("right_square_bracket")
        assert step(app) == "dockerfile"
