"""``portside swarm …``: make this engine a single-node swarm manager, leave it, and its keys."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import EngineError, InvalidArgument

from .output import out, render_one
from .parser import PROG


def write(text: str) -> None:
    sys.stdout.write(text)


async def join_command(docker: Docker, node_id: str, worker: bool = True, manager: bool = False) -> None:
    node = await docker.nodes.inspect(node_id)
    swarm = await docker.swarm.inspect()
    addr = (node.get("ManagerStatus") or {}).get("Addr")
    if not addr:
        return
    tokens = swarm.get("JoinTokens") or {}
    for wanted, role, token in ((worker, "worker", tokens.get("Worker", "")),
                                (manager, "manager", tokens.get("Manager", ""))):
        if wanted:
            write(f"To add a {role} to this swarm, run the following command:\n\n    {PROG} swarm join --token "
                  f"{token} {addr}\n\n")


def unlock_text(key: str) -> str:
    return (f"To unlock a swarm manager after it restarts, run the `{PROG} swarm unlock`\ncommand and provide the "
            f"following key:\n\n    {key}\n\nRemember to store this key in a password manager, since without it "
            f"you\nwill not be able to restart the manager.")


async def cmd_swarm_init(docker: Docker, args: Any) -> int:
    spec: dict[str, Any] = {}
    if args.autolock:
        spec["EncryptionConfig"] = {"AutoLockManagers": True}
    if args.task_history_limit is not None:
        spec["Orchestration"] = {"TaskHistoryRetentionLimit": args.task_history_limit}
    try:
        node_id = await docker.swarm.init(advertise_addr=args.advertise_addr, listen_addr=args.listen_addr,
                                          force_new_cluster=args.force_new_cluster, swarm_spec=spec)
    except EngineError as exc:
        if "could not choose an IP address to advertise" in str(exc) or "could not find the system's IP" in str(exc):
            raise EngineError(f"{exc} - specify one with --advertise-addr") from None
        raise
    write(f"Swarm initialized: current node ({node_id}) is now a manager.\n\n")
    await join_command(docker, node_id)
    write(f"To add a manager to this swarm, run '{PROG} swarm join-token manager' and follow the instructions.\n")
    if args.autolock:
        key = await docker.swarm.unlock_key()
        if key:
            out(unlock_text(key))
    return 0


async def cmd_swarm_join(docker: Docker, args: Any) -> int:
    await docker.swarm.join([args.remote], args.token or "", listen_addr=args.listen_addr,
                            advertise_addr=args.advertise_addr)
    out("This node joined a swarm as a worker.")
    return 0


async def cmd_swarm_leave(docker: Docker, args: Any) -> int:
    await docker.swarm.leave(force=args.force)
    out("Node left the swarm.")
    if getattr(docker.transport, "kind", "") == "daemon" and not args.host and not args.context:
        # the daemon `swarm init` started for this host's engine goes with the swarm
        import os

        from engine.client.contexts import daemon_files, stop_started_daemon
        root = args.root or os.environ.get("PORTSIDE_ROOT") or None  # --root, else PORTSIDE_ROOT, as the endpoint
        if docker.transport.address.endswith(daemon_files(root)[0]):
            await docker.transport.close()
            stop_started_daemon(root)
    return 0


async def cmd_swarm_inspect(docker: Docker, args: Any) -> int:
    import json
    swarm = await docker.swarm.inspect()
    out(render_one(args.format, swarm) if args.format else json.dumps([swarm], indent=4, ensure_ascii=False))
    return 0


async def cmd_swarm_join_token(docker: Docker, args: Any) -> int:
    if args.role not in ("worker", "manager"):
        raise InvalidArgument(f"unknown role {args.role}")
    swarm = await docker.swarm.inspect()
    if args.rotate:
        await docker.swarm.update(swarm["Version"]["Index"], swarm["Spec"], rotate_worker_token=args.role == "worker",
                                  rotate_manager_token=args.role == "manager")
        swarm = await docker.swarm.inspect()
        write(f"Successfully rotated {args.role} join token.\n\n")
    token = (swarm.get("JoinTokens") or {}).get(args.role.capitalize(), "")
    if args.quiet:
        out(token)
        return 0
    info = await docker.system.info()
    node_id = (info.get("Swarm") or {}).get("NodeID", "")
    await join_command(docker, node_id, worker=args.role == "worker", manager=args.role == "manager")
    return 0


async def cmd_swarm_unlock_key(docker: Docker, args: Any) -> int:
    if args.rotate:
        swarm = await docker.swarm.inspect()
        await docker.swarm.update(swarm["Version"]["Index"], swarm["Spec"], rotate_manager_unlock_key=True)
    key = await docker.swarm.unlock_key()
    if not key:
        import sys
        sys.stderr.write("no unlock key is set\n")  # the CLI's own line (the daemon answered), as docker's
        return 1
    if args.quiet:
        out(key)
    else:
        if args.rotate:
            write("Successfully rotated manager unlock key.\n\n")
        out(unlock_text(key))
    return 0


async def cmd_swarm_unlock(docker: Docker, args: Any) -> int:
    import sys
    sys.stdout.write("Enter unlock key: ")
    sys.stdout.flush()
    await docker.swarm.unlock(sys.stdin.readline().strip())
    return 0


async def cmd_swarm_update(docker: Docker, args: Any) -> int:
    swarm = await docker.swarm.inspect()
    spec = dict(swarm["Spec"])
    if args.autolock is not None:
        spec["EncryptionConfig"] = {"AutoLockManagers": args.autolock == "true"}
    if args.task_history_limit is not None:
        spec["Orchestration"] = {**(spec.get("Orchestration") or {}), "TaskHistoryRetentionLimit":
                                 args.task_history_limit}
    await docker.swarm.update(swarm["Version"]["Index"], spec)
    out("Swarm updated.")
    if args.autolock == "true":
        key = await docker.swarm.unlock_key()
        if key:
            out(unlock_text(key))
    return 0
