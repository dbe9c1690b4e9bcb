"""The tour's Services steps and the Services pane against the real engine in swarm mode (root only):
the guide's compose file for the tour's image, swarm init, deploy, 5 replicas, one killed and replaced,
7, stack rm, swarm leave — each from the dashboard's keys, each echoed as its CLI command."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
from functools import partial
from pathlib import Path

import pytest
from engine_helpers import SIZE, until

from engine.client import Docker
from engine.client.contexts import connect, daemon_files, portside_socket_answers, stop_started_daemon
from engine.errors import EngineError
from tui.app import PortsideApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.deploy_dialog import DeployScreen
from tui.screens.tasks import TasksScreen
from tui.tour import STEPS, TOUR_IMAGE, TOUR_SERVICE, TOUR_STACK, write_compose, write_sample
from tui.widgets.services_pane import service_name

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containers"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs /bin/busybox"),
    pytest.mark.skipif(importlib.util.find_spec("engine.services.swarm") is None
                       or importlib.util.find_spec("engine.client.stacks") is None,
                       reason="this build has no swarm mode"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def step(app: PortsideApp) -> str:
    assert app.tour is not None
    return app.tour.step.id if app.tour.step is not None else "done"


async def stop_daemon(root: str) -> None:
    """Leave the swarm through the data root's daemon (if the test did not get that far), then stop the
    daemon the dashboard started for it."""
    sock, _pidfile = daemon_files(root)
    if portside_socket_answers(sock):
        with contextlib.suppress(EngineError, OSError):
            async with Docker(transport=connect(host=f"unix://{sock}", env={})) as docker:
                await docker.swarm.leave(force=True)
    await asyncio.to_thread(stop_started_daemon, root)
    assert not portside_socket_answers(sock)


@pytest.fixture
async def tour_image(root: str, tmp_path: Path) -> str:
    """The tour's image, built from the tour's own Dockerfile (its web server runs until stopped)."""
    context = tmp_path / "tour-image"
    write_sample(str(context))
    async with Docker(root=root) as docker:
        async for item in docker.images.build(path=str(context), tags=[f"{TOUR_IMAGE}:latest"]):
            assert "error" not in item, item
    return root


async def test_the_tour_services_steps_from_the_dashboard(tour_image: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = tour_image
    monkeypatch.setattr("tui.app.write_compose", partial(write_compose, host_port=free_port()))
    app = PortsideApp(root=root, tour=True, refresh_interval=0.5)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await until(pilot, lambda: app.data_loaded and app.services_loaded)
            assert app.tour is not None
            app.tour.index = [s.id for s in STEPS].index("compose")
            app._tour_check(force=True)
            panel = app.tour_panel
            await pilot.press("w")
            await until(pilot, lambda: step(app) == "swarm")
            compose = (tmp_path / "tour" / "docker-compose.yml").read_text()
            assert "replicas: 5" in compose and f"image: {TOUR_IMAGE}:latest" in compose

            await pilot.press("4")
            pane = app.services_pane
            await until(pilot, lambda: pane.not_manager is not None)
            assert "not a swarm manager" in str(pane.query_one(".empty").content)  # type: ignore[attr-defined]
            await pilot.press("I")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(pilot, lambda: step(app) == "deploy", timeout=30)
            assert app.command_hint.command == "portside swarm init --advertise-addr 127.0.0.1"
            assert f"portside stack deploy -c docker-compose.yml {TOUR_STACK}" in str(panel.content)

            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, DeployScreen))
            await pilot.press("enter")
            await until(pilot, lambda: step(app) in ("replicas", "heal"), timeout=60)  # 5/5 may come at once
            assert app.command_hint.command.startswith("portside stack deploy -c ")
            await until(pilot, lambda: step(app) == "heal", timeout=60)
            rows = pane.table.row_keys
            assert rows[0] == f"stack:{TOUR_STACK}"
            web = next(s for s in pane.all_services if service_name(s) == TOUR_SERVICE)
            assert pane.replicas(web).ready == 5 and pane.replicas(web).desired == 5

            # the tasks screen: five running replicas, each with its own stats stream; K kills one and the
            # swarm replaces it
            while pane.table.selected_key != web["ID"]:
                await pilot.press("j")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TasksScreen) and len(app.screen.streams) == 5,
                        timeout=20)
            screen = app.screen
            assert isinstance(screen, TasksScreen)
            await pilot.press("K")
            await until(pilot, lambda: step(app) == "scale", timeout=60)
            assert app.command_hint.command.startswith("portside kill ")
            await until(pilot, lambda: "replaced by" in screen.event_line, timeout=30)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, TasksScreen))
            assert screen.streams == []

            while pane.table.selected_key != web["ID"]:
                await pilot.press("j")
            await pilot.press("plus", "plus")  # each from the spec the last one made
            await until(pilot, lambda: app.command_hint.command == f"portside service scale {TOUR_SERVICE}=7")
            await until(pilot, lambda: step(app) == "stack-rm", timeout=60)

            while pane.table.selected_key != f"stack:{TOUR_STACK}":
                await pilot.press("k")
            await pilot.press("x")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(pilot, lambda: step(app) == "leave", timeout=60)
            assert app.command_hint.command == f"portside stack rm {TOUR_STACK}"

            await pilot.press("L")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(pilot, lambda: step(app) == "done", timeout=60)
            assert app.command_hint.command == "portside swarm leave --force"
            assert "self-healing service" in str(panel.content)
        assert app.docker.transport.kind == "embedded"  # back from the daemon the swarm ran in, which is gone
        assert not portside_socket_answers(daemon_files(root)[0])
    finally:
        await stop_daemon(root)
