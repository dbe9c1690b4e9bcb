"""``portside config …``: docker's swarm configs (the same commands as ``secret``, see :mod:`.secret`)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker

from .secret import create, inspect, ls, rm


async def cmd_config_create(docker: Docker, args: Any) -> int:
    return await create(docker, args, "config")


async def cmd_config_ls(docker: Docker, args: Any) -> int:
    return await ls(docker, args, "config")


async def cmd_config_inspect(docker: Docker, args: Any) -> int:
    return await inspect(docker, args, "config")


async def cmd_config_rm(docker: Docker, args: Any) -> int:
    return await rm(docker, args, "config")
