"""``portside volume …``: docker's volume commands."""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker

from .. import units
from .output import confirm, each, out, render_rows
from .filters import parse_filters
from .system import inspect_objects


async def cmd_volume_ls(docker: Docker, args: Any) -> int:
    vols = await docker.volumes.list(filters=parse_filters(args.filter))
    if args.quiet:
        for v in vols:
            out(v["Name"])
        return 0
    render_rows(args.format, "table {{.Driver}}\t{{.Name}}", vols, {"Driver": "DRIVER", "Name": "VOLUME NAME",
                                                                    "Mountpoint": "MOUNTPOINT"})
    return 0


async def cmd_volume_create(docker: Docker, args: Any) -> int:
    out(await docker.volumes.create(args.name))
    return 0


async def cmd_volume_rm(docker: Docker, args: Any) -> int:
    return await each(args.names, lambda n: docker.volumes.delete(n, force=args.force))


async def cmd_volume_inspect(docker: Docker, args: Any) -> int:
    return await inspect_objects(docker, args.names, args.format, "volume")


async def cmd_volume_prune(docker: Docker, args: Any) -> int:
    warning = ("WARNING! This will remove all local volumes not used by at least one container." if args.all
               else "WARNING! This will remove anonymous local volumes not used by at least one container.")
    filters = parse_filters(args.filter)
    if not args.force and not confirm(warning):
        return 0
    if args.all:
        filters["all"] = ["true"]
    result = await docker.volumes.prune(filters=filters)
    if result["VolumesDeleted"]:
        out("Deleted Volumes:")
        for name in result["VolumesDeleted"]:
            out(name)
        out()
    out(f"Total reclaimed space: {units.human_size(result['SpaceReclaimed'])}")
    return 0
