"""``portside stack …``: deploy a compose file as a stack of services, list, inspect and remove stacks.

The work is :mod:`engine.client.stacks`'s (through the client only, so it is the same against any swarm
manager); this module prints it as docker does and waits for the stack to converge unless ``--detach``.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import InvalidArgument, NotFound

from .filters import parse_filters
from .output import out, render_rows
from .service import SERVICE_HEADERS, SERVICE_TABLE, follow, print_tasks, service_rows


def _say(line: str) -> None:
    out(line)
    sys.stdout.flush()


def _warn(line: str) -> None:
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()


async def cmd_stack_deploy(docker: Docker, args: Any) -> int:
    from engine.client import stacks
    # what the client finds itself (the files, the endpoint, the plan) is said bare, as docker's CLI says it
    try:
        plan, warnings = stacks.load_plan(args.compose_file, args.stack)
    except InvalidArgument as exc:
        _warn(str(exc))
        return 1
    for w in warnings:
        _warn(w)
    try:
        await stacks.require_manager(docker)
        known = await stacks.task_ids(docker, [s["ID"] for s in await stacks.stack_services(docker, args.stack)])
        auth_for = None
        if args.with_registry_auth:
            from engine.client import registry_auth_for
            auth_for = registry_auth_for
        ids = await stacks.deploy(docker, args.stack, plan, prune=args.prune, resolve_image=args.resolve_image,
                                  auth_for=auth_for, say=_say if not args.quiet else (lambda _: None), warn=_warn)
    except stacks.StackError as exc:
        _warn(str(exc))
        return 1
    if args.detach:
        return 0
    every = [s["ID"] for s in await stacks.stack_services(docker, args.stack)]
    if not every:
        return 0
    return await follow(docker, sorted(every, key=lambda i: i not in ids), quiet=args.quiet, known=known)


async def cmd_stack_ls(docker: Docker, args: Any) -> int:
    from engine.client.stacks import list_stacks
    rows = await list_stacks(docker)
    render_rows(args.format, "table {{.Name}}\t{{.Services}}", rows,
                {"Name": "NAME", "Services": "SERVICES", "Orchestrator": "ORCHESTRATOR"})
    return 0


async def cmd_stack_services(docker: Docker, args: Any) -> int:
    from engine.client.stacks import stack_services
    services = await stack_services(docker, args.stack, status=not args.quiet, filters=parse_filters(args.filter))
    if not services:
        _warn(f"Nothing found in stack: {args.stack}")
        return 0
    if args.quiet:
        for s in services:
            out(s["ID"])
        return 0
    render_rows(args.format, SERVICE_TABLE, service_rows(services), SERVICE_HEADERS)
    return 0


async def cmd_stack_ps(docker: Docker, args: Any) -> int:
    from engine.client.stacks import stack_services
    filters = parse_filters(args.filter)
    services = await stack_services(docker, args.stack)
    tasks = []
    if services:  # the stack's tasks are its services' (the manager's own task labels are not needed)
        filters["service"] = [s["ID"] for s in services]
        tasks = await docker.tasks.list(filters=filters)
    if not tasks:
        raise NotFound(f"nothing found in stack: {args.stack}")
    if args.quiet:
        args.no_trunc = True
    await print_tasks(docker, tasks, args)
    return 0


async def cmd_stack_rm(docker: Docker, args: Any) -> int:
    from engine.client.stacks import remove
    ok = True
    for name in args.stacks:
        ok = await remove(docker, name, say=_say, warn=_warn, wait=not args.detach) and ok
    return 0 if ok else 1
