"""Runs the command a parsed command line names: its ``cmd_<func>`` coroutine, over one client."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.client import ContextError, tls_options
from engine.client import connect as contexts_connect

__all__ = ["ContextError", "connect", "dispatch", "run"]

# The module that holds each command's ``cmd_<func>`` (``func`` is what the parser names); only that one is imported.
MODULES = {
    "container": ("create", "run", "start", "stop", "restart", "kill", "rm", "wait", "rename", "port", "ps", "logs",
                  "exec", "top", "stats", "container_prune", "inspect_container", "cp"),
    "image": ("images", "rmi", "tag", "history", "import_", "image_busybox", "save", "load", "image_prune",
              "inspect_image"),
    "builder": ("build",),
    "registry": ("pull", "push", "login", "logout", "registry"),
    "network": ("network_create", "network_ls", "network_rm", "network_inspect", "network_connect",
                "network_disconnect", "network_prune"),
    "volume": ("volume_ls", "volume_create", "volume_rm", "volume_inspect", "volume_prune"),
    "system": ("inspect", "version", "info", "events", "system_prune", "system_check"),
    "swarm": ("swarm_init", "swarm_join", "swarm_leave", "swarm_inspect", "swarm_join_token", "swarm_unlock_key",
              "swarm_unlock", "swarm_update"),
    "node": ("node_ls", "node_inspect", "node_ps", "node_update", "node_rm"),
    "service": ("service_create", "service_update", "service_ls", "service_ps", "service_inspect", "service_logs",
                "service_scale", "service_rollback", "service_rm"),
    "stack": ("stack_deploy", "stack_ls", "stack_ps", "stack_services", "stack_rm"),
    "secret": ("secret_create", "secret_ls", "secret_inspect", "secret_rm"),
    "config": ("config_create", "config_ls", "config_inspect", "config_rm"),
}
HOME = {func: module for module, funcs in MODULES.items() for func in funcs}

# The CLI drives each command's coroutine itself instead of starting an asyncio loop: importing
# asyncio costs ~25 ms, a fifth of a short command. The engine's waits work without a loop (engine.aio),
# and so does a socket transport: without a loop it speaks over a blocking socket (engine.client.sockets).
# Over a socket only the read-only commands go without a loop (a request and its reply); streams,
# attach and uploads run on asyncio. Should a read-only command still reach something that needs a
# loop, it runs again under asyncio.
READ_ONLY = {"ps", "images", "inspect", "inspect_container", "inspect_image", "history", "version", "info",
             "volume_ls", "volume_inspect", "port", "top", "network_ls", "network_inspect",
             "swarm_inspect", "node_ls", "node_inspect", "node_ps", "service_ls", "service_ps", "service_inspect",
             "stack_ls", "stack_ps", "stack_services", "secret_ls", "secret_inspect", "config_ls", "config_inspect"}


def connect(args: Any) -> Any:
    """The transport the global flags and the environment choose (docker's order; see
    :mod:`engine.client.contexts`). ContextError: one line for a conflict, an unknown context, a bad address."""
    tls = tls_options(tls=args.tls, tlsverify=args.tlsverify, tlscacert=args.tlscacert, tlscert=args.tlscert,
                      tlskey=args.tlskey)
    # a swarm's manager is a daemon (its reconciler runs there): `swarm init` on this host's own engine starts one
    from engine.errors import Unavailable
    try:
        return contexts_connect(host=args.host, context=args.context, root=args.root, tls=tls,
                                daemon=args.func == "swarm_init")
    except Unavailable as exc:  # the daemon a swarm needs could not start: its line
        raise ContextError(str(exc)) from None


async def dispatch(args: Any, transport: Any = None) -> int:
    name = f"{__package__}.{HOME[args.func]}"
    __import__(name)  # the module of the command alone (importlib itself is a load the CLI can skip)
    module = sys.modules[name]
    func = getattr(module, f"cmd_{args.func}")
    async with Docker(root=args.root, transport=transport) as docker:
        result = await func(docker, args)
    return int(result or 0)


def run(args: Any, transport: Any = None) -> int:
    embedded = transport is None or getattr(transport, "kind", "embedded") == "embedded"
    if not embedded and args.func not in READ_ONLY:
        import asyncio  # streams, attach, uploads over a socket: on the loop
        return asyncio.run(dispatch(args, transport))
    coro = dispatch(args, transport)
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
    return asyncio.run(dispatch(args, transport))
