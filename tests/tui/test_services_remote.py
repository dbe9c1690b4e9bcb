"""The Services pane and the tasks screen against a real Swarm: a private dockerd in swarm mode
(tests/clients/remote_docker.py's ``swarm_dockerd``), as ``portside -H unix://…`` opens it.

A stack deployed by docker's own CLI shows under its heading with its replicas; enter lists its tasks with
one stats stream per replica; ``+`` scales it (docker sees the new count); a task container killed with
``docker kill`` comes back on the event line as docker's swarm replaced it; ``x`` removes the stack.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from textual.widgets import Input

from engine.client import Docker
from engine_helpers import SIZE, until
from tui.app import PortsideApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.deploy_dialog import DeployScreen
from tui.screens.tasks import TasksScreen
from tui.widgets.services_pane import service_name

connect = pytest.importorskip("engine.client.contexts", reason="the client's socket transports").connect
remote_docker = pytest.importorskip("tests.clients.remote_docker", reason="the private dockerd fixture")
swarm_dockerd = remote_docker.swarm_dockerd  # the module-scoped fixture

pytestmark = pytest.mark.root

STACK = "dashstack"
AGAIN = "dashagain"
COMPOSE = """\
version: "3"
services:
  web:
    image: busybox-web:latest
    deploy:
      replicas: 3
      restart_policy:
        condition: on-failure
        delay: 0s
"""


async def test_a_real_swarm_s_stack_in_the_pane_and_its_tasks(swarm_dockerd: object, tmp_path: Path) -> None:
    remote = swarm_dockerd
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(COMPOSE)
    remote.ok("stack", "deploy", "-c", str(compose), STACK)  # type: ignore[attr-defined]
    try:
        remote.wait_replicas(f"{STACK}_web", 3)  # type: ignore[attr-defined]
        async with Docker(transport=connect(host=remote.host, env={})) as docker:  # type: ignore[attr-defined]
            await drive(PortsideApp(docker=docker, refresh_interval=0.5), remote, compose)
    finally:
        remote.docker("stack", "rm", STACK, AGAIN)  # type: ignore[attr-defined]


async def drive(app: PortsideApp, remote: object, compose: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.services_loaded and app.containers_loaded, timeout=30)
        await pilot.press("4")
        pane = app.services_pane
        await until(pilot, lambda: any(service_name(s) == f"{STACK}_web" for s in pane.all_services), timeout=20)
        assert pane.table.row_keys[0] == f"stack:{STACK}"
        web = next(s for s in pane.all_services if service_name(s) == f"{STACK}_web")
        await until(pilot, lambda: pane.replicas(web).ready == 3 and pane.replicas(web).desired == 3, timeout=20)

        while pane.table.selected_key != web["ID"]:
            await pilot.press("j")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TasksScreen) and len(app.screen.streams) == 3, timeout=20)
        screen = app.screen
        assert isinstance(screen, TasksScreen)
        assert app.command_hint.command == f"portside service ps {STACK}_web"
        await until(pilot, lambda: all(screen.history.latest(cid) for cid in screen.streams), timeout=20)

        # a replica killed behind the dashboard's back: the event line says it died and was replaced
        victim = remote.ok("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_web").split()[0]  # type: ignore[attr-defined]
        remote.ok("kill", victim)  # type: ignore[attr-defined]
        await until(pilot, lambda: "died (exit 137) → replaced by" in screen.event_line, timeout=30)
        assert screen.event_line.startswith(f"{STACK}_web.")

        await pilot.press("plus")  # from the tasks screen too
        await until(pilot, lambda: app.command_hint.command == f"portside service scale {STACK}_web=4")
        remote.wait_replicas(f"{STACK}_web", 4)  # type: ignore[attr-defined]
        await until(pilot, lambda: len(screen.streams) == 4, timeout=20)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TasksScreen))
        assert screen.streams == []

        if importlib.util.find_spec("engine.client.stacks") is None:
            return  # stack rm needs the client's stack code
        while pane.table.selected_key != f"stack:{STACK}":
            await pilot.press("k")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: not pane.all_services, timeout=30)
        assert app.command_hint.command == f"portside stack rm {STACK}"

        # deploy from the dialog: the client's stack code, as `portside -H … stack deploy` runs it
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DeployScreen))
        app.screen.query_one("#deploy-file", Input).value = str(compose)
        app.screen.query_one("#deploy-name", Input).value = AGAIN
        await pilot.press("enter")
        await until(pilot, lambda: any(service_name(s) == f"{AGAIN}_web" for s in pane.all_services), timeout=30)
        assert app.command_hint.command == f"portside stack deploy -c {compose} {AGAIN}"
        assert AGAIN in remote.ok("stack", "ls", "--format", "{{.Name}}").split()  # type: ignore[attr-defined]
        remote.wait_replicas(f"{AGAIN}_web", 3)  # type: ignore[attr-defined]
