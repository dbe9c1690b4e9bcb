"""The dashboard against another Docker engine: a private dockerd (Debian's docker.io) on its own socket.

What ``portside -H unix://…`` opens: the header names that socket, the panes list docker's containers and
images, a container is run and stopped from the keyboard (docker sees it run and stop), and the Resources
pane draws its graphs from docker's own stats. The dockerd comes from tests/clients/remote_docker.py (bench/run.py's
DockerD, as tests/integration/test_docker_interop.py uses it); containers run with ``--network none``.
It needs the client's socket transports (engine.client.contexts and .http) and that fixture.
"""

from __future__ import annotations

import pytest
from textual.widgets import Input
from textual.widgets._header import HeaderTitle

from engine.client import Docker
from engine_helpers import SIZE, toasts, until
from tui.app import PortsideApp
from tui.screens.run_dialog import RunScreen
from tui.widgets.containers_pane import container_name
from tui.widgets.resources_pane import ResourcesPane
from tui.widgets.time_graph import TimeGraph

connect = pytest.importorskip("engine.client.contexts", reason="the client's socket transports").connect
remote_docker = pytest.importorskip("tests.clients.remote_docker", reason="the private dockerd fixture")
RemoteDocker = remote_docker.RemoteDocker
dockerd = remote_docker.dockerd  # the module-scoped fixture

pytestmark = pytest.mark.root


def state(dockerd: RemoteDocker, name: str) -> str:
    p = dockerd.docker("inspect", "-f", "{{.State.Status}}", name)
    return p.stdout.strip() if p.returncode == 0 else ""


async def test_the_dashboard_drives_a_real_dockerd(dockerd: RemoteDocker) -> None:
    existing = dockerd.ok("run", "-d", "--network", "none", "--name", "dash-existing", "busybox",
                          "sh", "-c", "while :; do :; done").strip()  # busy: its CPU graph has something to draw
    try:
        async with Docker(transport=connect(host=dockerd.host, env={})) as docker:
            await drive(PortsideApp(docker=docker, refresh_interval=0.5), dockerd, existing)
    finally:
        dockerd.docker("rm", "-f", "dash-existing", "dash-run")


async def drive(app: PortsideApp, dockerd: RemoteDocker, existing: str) -> None:
    async with app.run_test(size=SIZE) as pilot:
        pane = app.containers_pane
        await until(pilot, lambda: app.data_loaded and existing in pane.table.row_keys, timeout=30)
        assert dockerd.host in str(app.screen.query_one(HeaderTitle).render())
        assert app.docker.transport.kind == "remote"
        assert "busybox:latest" in [t for i in app.images_pane.all_images for t in i.get("RepoTags") or []]

        # run one from the keyboard: n, the dialog, enter
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        dialog = app.screen
        dialog.query_one("#run-image", Input).value = "busybox"
        dialog.query_one("#run-name", Input).value = "dash-run"
        dialog.query_one("#run-command", Input).value = "sleep 300"
        dialog.query_one("#run-network", Input).value = "none"  # the private dockerd has no bridge
        await pilot.press("enter")
        await until(pilot, lambda: any(container_name(c) == "dash-run" and c["State"] == "running"
                                       for c in pane.all_containers), timeout=30)
        assert state(dockerd, "dash-run") == "running"

        # and stop it: the cursor on its row, s
        run_id = next(c["Id"] for c in pane.all_containers if container_name(c) == "dash-run")
        pane.table.move_cursor(row=pane.table.get_row_index(run_id))
        await pilot.pause()
        assert pane.selected is not None and pane.selected["Id"] == run_id
        await pilot.press("s")
        await until(pilot, lambda: state(dockerd, "dash-run") == "exited", timeout=40)
        await until(pilot, lambda: any(container_name(c) == "dash-run" and c["State"] == "exited"
                                       for c in pane.all_containers), timeout=30)
        assert not any(t.startswith("Cannot") for t in toasts(app)), toasts(app)

        # live graphs from docker's stats
        pane.table.move_cursor(row=pane.table.get_row_index(existing))
        await pilot.press("3")
        resources = app.query_one(ResourcesPane)
        graph = resources.query_one("#container-cpu TimeGraph", TimeGraph)
        await until(pilot, lambda: len(graph.samples) >= 3, timeout=30)
        point = app.history.latest(existing)
        assert point is not None and point.cpu > 20 and point.mem > 0, point
        assert "dash-existing" in str(resources.query_one("#resources-title").content)
