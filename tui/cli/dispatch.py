"""Runs the command a parsed command line names: its ``cmd_<func>`` coroutine, over one client."""

from __future__ import annotations

import importlib
from typing import Any

from engine.client import Docker

# The module that holds each command's ``cmd_<func>`` (``func`` is what the parser names); only that one is imported.
MODULES = {
    "container": ("create", "run", "start", "stop", "restart", "kill", "rm", "wait", "rename", "port", "ps", "logs",
                  "exec", "top", "stats", "container_prune", "inspect_container"),
    "image": ("images", "rmi", "tag", "history", "import_", "image_busybox", "save", "load", "image_prune",
              "inspect_image"),
    "builder": ("build",),
    "registry": ("pull", "push", "login", "logout", "registry"),
    "network": ("network_create", "network_ls", "network_rm", "network_inspect", "network_connect",
                "network_disconnect", "network_prune"),
    "volume": ("volume_ls", "volume_create", "volume_rm", "volume_inspect", "volume_prune"),
    "system": ("inspect", "version", "info", "events", "system_prune", "system_check", "swarm_mode"),
}
HOME = {func: module for module, funcs in MODULES.items() for func in funcs}

# The CLI drives each command's coroutine itself instead of starting an asyncio loop: importing
# asyncio costs ~25 ms, a fifth of a short command. The engine's waits work without a loop (engine.aio).
# Should a read-only command still reach something that needs a loop, it runs again under asyncio.
READ_ONLY = {"ps", "images", "inspect", "inspect_container", "inspect_image", "history", "version", "info",
             "volume_ls", "volume_inspect", "port", "top", "network_ls", "network_inspect"}


async def dispatch(args: Any) -> int:
    module = importlib.import_module(f"{__package__}.{HOME[args.func]}")
    func = getattr(module, f"cmd_{args.func}")
    async with Docker(root=args.root) as docker:
        result = await func(docker, args)
    return int(result or 0)


def run(args: Any) -> int:
    coro = dispatch(args)
    try:
        coro.send(None)
    except StopIteration as done:
        return int(done.value or 0)
    except RuntimeError as exc:
        if "event loop" not in str(exc) or args.func not in READ_ONLY:
            raise
    else:
        coro.close()
        if args.func not in READ_ONLY:
            raise RuntimeError(f"{args.func}: waited on an event loop the CLI does not run")
    import asyncio
    return asyncio.run(dispatch(args))
