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


async def test_the_tour_start_to_end_offline_on_a_fresh_data_root(empty_root: str, tmp_path: Path,
                                                                  private_config: Path) -> None:
    """A newcomer's first hour: on a data root with no image (and no hub), step 1 offers B, which makes
    busybox from the host's busybox-static; the build dialog closes itself once built, so step 4's ``n``
    opens the run dialog instead of typing into the Context field; stopping the tour's container is
    graceful (Exited (0), not 137 after the 10 s timeout); the last panel says where the files went."""
    app = PortsideApp(root=empty_root, tour=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.data_loaded)
        assert step(app) == "image"
        panel = app.tour_panel
        assert f"step 1/{len(STEPS)}" in str(panel.border_title) and "read-only template" in str(panel.content)
        assert "press B" in str(panel.content) and "portside image busybox" in str(panel.content)

        await pilot.press("2")
        await pilot.pause(0.6)
        assert step(app) == "image"  # the Dockerfile starts FROM busybox: not without one
        await pilot.press("B")
        await until(pilot, lambda: step(app) == "dockerfile", timeout=30)
        assert app.command_hint.command == "portside image busybox"
        assert "press B" not in str(panel.content)
        await pilot.press("w")
        await until(pilot, lambda: step(app) == "build")
        assert (tmp_path / "tour" / "Dockerfile").read_text().startswith("# The tour's sample image")

        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BuildScreen))
        await pilot.press("enter")
        await until(pilot, lambda: step(app) == "run", timeout=60)
        await until(pilot, lambda: not isinstance(app.screen, BuildScreen))  # closed by itself
        content = str(panel.content)
        assert "publishes" in content and "not built" not in content and "issue" not in content

        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        ports = app.screen.query_one("#run-ports", Input)
        assert ports.value == "8080:8000"
        ports.value = f"{free_port()}:8000"  # keep the test off a port others may use
        await pilot.press("enter")
        await until(pilot, lambda: step(app) == "list")

        await pilot.press("1")
        pane = app.containers_pane
        tour_id = next(c["Id"] for c in pane.all_containers if container_name(c) == TOUR_NAME)
        while pane.table.selected_key != tour_id:
            await pilot.press("j")
        await until(pilot, lambda: step(app) == "stop")
        assert "Exited (137)" in str(panel.content) and "PID 1" in str(panel.content)

        await pilot.press("s")
        await until(pilot, lambda: step(app) == "remove", timeout=20)
        tour_row = next(c for c in pane.all_containers if c["Id"] == tour_id)
        assert tour_row["Status"].startswith("Exited (0)"), tour_row["Status"]
        await pilot.press("ctrl+d")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: step(app) == "compose")
        assert "A service is a container in production" in str(panel.content)
        await pilot.press("w")
        await until(pilot, lambda: step(app) == "swarm")
        compose = (tmp_path / "tour" / "docker-compose.yml").read_text()
        assert "image: tour-hello:latest" in compose and "replicas: 5" in compose and 'cpus: "0.1"' in compose
        assert "memory: 50M" in compose and "condition: on-failure" in compose and "- webnet" in compose
        assert ":8000\"" in compose  # host port 80, or a free one when 80 is taken
        assert "portside swarm init" in str(panel.content)
        while step(app) != "done":  # the services steps: tests/tui/test_tour_services.py
            await pilot.press("right_square_bracket")
        assert "done" in str(panel.border_title) and app.tour.index == len(STEPS)
        done = str(panel.content).replace("\n", " ")
        assert str(tmp_path / "tour") in done and str(private_config) in done
        await pilot.press("T")
        assert app.tour is None and not panel.display


async def test_toasts_do_not_cover_the_tour_panel(root: str) -> None:
    """Toasts popped up bottom right, over the tour panel, at 80×24 and 120×40: during the tour they
    show at the top."""
    for size in ((80, 24), SIZE):
        app = PortsideApp(root=root, tour=True)
        async with app.run_test(size=size, notifications=True) as pilot:
            await until(pilot, lambda: app.data_loaded)
            app.notify("a toast that must not hide the tour", timeout=30)
            await pilot.pause(0.3)
            toast = app.screen.query_one("Toast")
            assert toast.region.height and not toast.region.overlaps(app.tour_panel.region), size
            app.action_tour()  # closed: toasts return to the bottom right
            app.notify("another", timeout=30)
            await pilot.pause(0.3)
            assert max(t.region.bottom for t in app.screen.query("Toast")) > size[1] // 2


async def test_the_tour_is_in_the_palette_and_skips(root: str) -> None:
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.data_loaded)
        await app.run_palette_action("tour")
        assert app.tour is not None and step(app) == "image"
        await pilot.press("right_square_bracket")
        assert step(app) == "dockerfile"
