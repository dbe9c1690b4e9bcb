"""The dashboard against the real engine (root only): list, stop, remove, read-only, engine errors."""

from __future__ import annotations

import os

import pytest
from engine_helpers import SIZE, run_sleeper, state_of, toasts, until

from engine.client import Docker
from tui.app import REFRESH_INTERVAL, PortsideApp
from tui.widgets.containers_pane import ContainersPane
from tui.widgets.images_pane import ImagesPane

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containers"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs /bin/busybox"),
]


async def test_lists_stops_and_shows_images(root: str) -> None:
    container_id = await run_sleeper(root)
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ContainersPane)
        await until(pilot, lambda: container_id in pane.table.row_keys)
        assert pane.table.selected_key == container_id
        assert app.command_hint.command == "portside ps -a"

        await pilot.press("s")

        async def stopped() -> bool:
            return await state_of(root, container_id) == "exited"
        await until(pilot, stopped)
        assert app.command_hint.command == f"portside stop {container_id[:12]}"
        await until(pilot, lambda: any(c["Id"] == container_id and c["State"] == "exited" for c in pane.containers))

        await pilot.press("2")
        images = app.query_one(ImagesPane)
        await until(pilot, lambda: any("busybox:latest" in i["RepoTags"] for i in images.images))
        assert app.command_hint.command == "portside images -f dangling=false"
        assert app.focused is images.table


async def test_remove_asks_first(root: str) -> None:
    container_id = await run_sleeper(root)
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ContainersPane)
        await until(pilot, lambda: container_id in pane.table.row_keys)

        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        # Regression: refreshes that land while the dialog is open once looked up the panes on the
        # dialog's screen (NoMatches). Outlast the fallback timer.
        await pilot.pause(REFRESH_INTERVAL + 0.5)
        assert app.is_running
        await pilot.press("n")
        await until(pilot, lambda: type(app.screen).__name__ != "ConfirmScreen")
        assert await state_of(root, container_id) == "running"

        await pilot.press("ctrl+d")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: container_id not in pane.table.row_keys)
        assert app.command_hint.command == f"portside rm -f {container_id[:12]}"
        async with Docker(root=root) as docker:
            assert [c["Id"] for c in await docker.containers.list(all=True)] == []


async def test_read_only_refuses_stop_and_remove(root: str) -> None:
    container_id = await run_sleeper(root)
    app = PortsideApp(root=root, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ContainersPane)
        await until(pilot, lambda: container_id in pane.table.row_keys)
        await pilot.press("s", "x")
        await pilot.pause(0.3)
        assert type(app.screen).__name__ != "ConfirmScreen"
        assert sum("read-only" in t for t in toasts(app)) == 2
        assert await state_of(root, container_id) == "running"


async def test_engine_error_is_a_notification(root: str) -> None:
    """Removing an image a container uses is refused by the engine: a toast, not a crash."""
    await run_sleeper(root)
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        images = app.query_one(ImagesPane)
        await until(pilot, lambda: bool(images.images))
        await pilot.press("2", "x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: any("conflict" in t for t in toasts(app)))
        assert app.is_running
        assert images.images, "the image must still be listed"


async def test_toggle_all_hides_stopped(root: str) -> None:
    container_id = await run_sleeper(root)
    async with Docker(root=root) as docker:
        await docker.containers.container(container_id).kill()
        await docker.containers.container(container_id).wait()
    app = PortsideApp(root=root)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ContainersPane)
        await until(pilot, lambda: container_id in pane.table.row_keys)
        await pilot.press("a")
        await until(pilot, lambda: container_id not in pane.table.row_keys)
        assert app.command_hint.command == "portside ps"
        await pilot.press("a")
        await until(pilot, lambda: container_id in pane.table.row_keys)
