"""``portside network …``: docker's network commands."""

from __future__ import annotations

import json
import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import EngineError, InvalidArgument, NotFound

from .output import confirm, daemon_error, out, render_one, render_rows
from .filters import parse_filters


async def cmd_network_create(docker: Docker, args: Any) -> int:
    if args.ipv6:
        raise InvalidArgument("IPv6 networks are not supported by this engine")
    if len(args.subnet) > 1 or len(args.gateway) > 1:
        raise InvalidArgument("one --subnet (and one --gateway) per network is supported by this engine")
    labels = dict(item.partition("=")[::2] for item in args.label)
    ipam = [{"Subnet": (args.subnet or [None])[0], "Gateway": (args.gateway or [None])[0]}]
    net = await docker.networks.create({"Name": args.name, "Driver": args.driver, "Internal": args.internal,
                                        "IPAM": {"Config": ipam}, "Labels": labels})
    out(net.id)
    return 0


async def cmd_network_ls(docker: Docker, args: Any) -> int:
    nets = await docker.networks.list(filters=parse_filters(args.filter))
    if args.quiet:
        for n in nets:
            out(n["Id"] if args.no_trunc else n["Id"][:12])
        return 0
    rows = [{"ID": n["Id"] if args.no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n["Scope"], "Internal": str(n.get("Internal", False)).lower(),
             "IPv6": str(n.get("EnableIPv6", False)).lower(), "CreatedAt": n.get("Created", "")} for n in nets]
    render_rows(args.format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows,
                {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Internal": "INTERNAL",
                 "IPv6": "IPV6", "CreatedAt": "CREATED"})
    return 0


async def cmd_network_rm(docker: Docker, args: Any) -> int:
    failed = False
    for name in args.names:
        try:
            await (await docker.networks.get(name)).delete()
            out(name)
        except NotFound as exc:
            if not args.force:  # docker's -f: a network that does not exist is no error (and no line)
                sys.stderr.write(daemon_error(exc) + "\n")
                failed = True
        except EngineError as exc:
            sys.stderr.write(daemon_error(exc) + "\n")
            failed = True
    return 1 if failed else 0


async def cmd_network_inspect(docker: Docker, args: Any) -> int:
    results, failed = [], False
    for name in args.names:
        try:
            results.append(await (await docker.networks.get(name)).show())
        except EngineError as exc:
            if exc.status != 404:
                raise
            sys.stderr.write(f"Error response from daemon: network {name} not found\n")
            failed = True
    if args.format:
        for obj in results:
            out(render_one(args.format, obj))
    else:
        out(json.dumps(results, indent=4, ensure_ascii=False))
    return 1 if failed else 0


async def cmd_network_connect(docker: Docker, args: Any) -> int:
    net = await docker.networks.get(args.network)
    ep: dict[str, Any] = {"Aliases": args.alias}
    if args.ip:
        ep["IPAMConfig"] = {"IPv4Address": args.ip}
    await net.connect({"Container": args.container, "EndpointConfig": ep})
    return 0


async def cmd_network_disconnect(docker: Docker, args: Any) -> int:
    net = await docker.networks.get(args.network)
    await net.disconnect({"Container": args.container, "Force": args.force})
    return 0


async def cmd_network_prune(docker: Docker, args: Any) -> int:
    if not args.force and not confirm("WARNING! This will remove all custom networks not used by at least one "
                                      "container."):
        return 0
    result = await docker.networks.prune()
    if result["NetworksDeleted"]:
        out("Deleted Networks:")
        for name in result["NetworksDeleted"]:
            out(name)
    return 0
