"""Helpers for the dashboard's real-engine tests: a busybox image from /bin/busybox, waiting, toasts."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from engine.client import Docker
from engine.images import bootstrap
from tui.app import PortsideApp

SIZE = (120, 40)


def busybox_rootfs_tar(path: Path) -> Path:
    """The engine's busybox rootfs (engine.images.bootstrap) at ``path``."""
    with open(path, "wb") as f:
        bootstrap.write_rootfs(f)
    return path


async def run_sleeper(root: str, name: str | None = None, cmd: list[str] | None = None) -> str:
    async with Docker(root=root) as docker:
        container = await docker.containers.run(
            {"Image": "busybox", "Cmd": cmd or ["sleep", "30"], "StopTimeout": 1}, name=name)
        return container.id


async def state_of(root: str, container_id: str) -> str:
    async with Docker(root=root) as docker:
        return str((await docker.containers.container(container_id).show())["State"]["Status"])


def toasts(app: PortsideApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def until(pilot: Pilot[None], predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0) -> None:
    """Let the app run until ``predicate()`` (sync or async) holds."""
    for _ in range(int(timeout / 0.05)):
        result = predicate()
        if await result if inspect.isawaitable(result) else result:
            return
        await pilot.pause(0.05)
    app = pilot.app
    assert isinstance(app, PortsideApp)
    raise AssertionError(f"timed out; screen={type(app.screen).__name__} focused={app.focused} "
                         f"hint={app.command_hint.command!r} toasts={toasts(app)}")
