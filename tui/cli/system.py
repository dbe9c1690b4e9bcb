"""``portside system …``, ``version``, ``info``, ``events``, ``inspect`` (of any object), ``daemon``."""

from __future__ import annotations

import json
import sys
import time
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import EngineError

from .. import units
from .output import confirm, out, render_one
from .filters import parse_filters


async def inspect_objects(docker: Docker, names: list[str], fmt: str | None, kind: str | None) -> int:
    results: list[Any] = []
    failed = False
    for name in names:
        obj = None
        for k in ([kind] if kind else ["container", "image", "volume", "service", "task", "node"]):
            try:
                if k == "container":
                    obj = (await docker.containers.get(name))._info
                elif k == "image":
                    obj = await docker.images.inspect(name)
                elif k == "volume":
                    obj = await docker.volumes.inspect(name)
                elif k == "service":
                    obj = await docker.services.inspect(name)
                elif k == "task":
                    obj = await docker.tasks.inspect(name)
                else:
                    obj = await docker.nodes.inspect(name)
                break
            except EngineError as exc:
                # swarm objects: an engine that is no manager answers 503 (docker) or 406
                if exc.status != 404 and not (k in ("service", "task", "node") and exc.status in (406, 503)):
                    raise
        if obj is None:
            sys.stderr.write(f"Error: No such object: {name}\n" if not kind else
                             f"Error: No such {kind}: {name}\n")
            failed = True
            continue
        results.append(obj)
    if fmt:
        for obj in results:
            out(render_one(fmt, obj))
    else:
        out(json.dumps(results, indent=4, ensure_ascii=False))
    return 1 if failed else 0


async def cmd_inspect(docker: Docker, args: Any) -> int:
    return await inspect_objects(docker, args.names, args.format, args.type)


async def cmd_version(docker: Docker, args: Any) -> int:
    v = await docker.system.version()
    if args.format:
        out(render_one(args.format, {"Client": {"Version": v["Version"]}, "Server": v}))
        return 0
    from engine.client import __version__
    transport = docker.transport
    embedded = getattr(transport, "kind", "embedded") == "embedded"
    server = "Portside Engine (embedded)" if embedded else ((v.get("Platform") or {}).get("Name") or "Docker Engine")
    out(f"Client:\n Version:           {__version__ if not embedded else v['Version']}\n"
        f" API version:       {getattr(transport, 'api_version', v['ApiVersion'])}\n"
        f" OS/Arch:           linux/{v['Arch']}\n\nServer: {server}\n"
        f" Engine:\n  Version:          {v['Version']}\n  API version:      {v['ApiVersion']}\n"
        f"  OS/Arch:          linux/{v['Arch']}\n  Kernel Version:   {v['KernelVersion']}")
    return 0


async def cmd_info(docker: Docker, args: Any) -> int:
    info = await docker.system.info()
    if args.format:
        out(render_one(args.format, info))
        return 0
    out(f"Server:\n Containers: {info['Containers']}\n  Running: {info['ContainersRunning']}\n"
        f"  Stopped: {info['ContainersStopped']}\n Images: {info['Images']}\n Storage Driver: {info['Driver']}\n"
        f" Cgroup Driver: {info['CgroupDriver']}\n Cgroup Version: {info['CgroupVersion']}\n"
        f"{swarm_lines(info.get('Swarm') or {})}"
        f" Runtimes: {' '.join(info['Runtimes'])}\n Default Runtime: {info['DefaultRuntime']}\n"
        f" CPUs: {info['NCPU']}\n Total Memory: {units.bytes_size(info['MemTotal'])}\n"
        f" Docker Root Dir: {info['DockerRootDir']}")
    return 0


def swarm_lines(swarm: dict[str, Any]) -> str:
    """docker info's Swarm section (the part a single-node manager has)."""
    state = swarm.get("LocalNodeState") or "inactive"
    text = f" Swarm: {state}\n"
    if state != "active":
        return text
    text += f"  NodeID: {swarm.get('NodeID', '')}\n  Is Manager: {str(bool(swarm.get('ControlAvailable'))).lower()}\n"
    if swarm.get("ControlAvailable"):
        text += (f"  ClusterID: {(swarm.get('Cluster') or {}).get('ID', '')}\n  Managers: {swarm.get('Managers', 0)}\n"
                 f"  Nodes: {swarm.get('Nodes', 0)}\n")
    return text + f"  Node Address: {swarm.get('NodeAddr', '')}\n"


async def cmd_events(docker: Docker, args: Any) -> int:
    since = units.parse_since(args.since) if args.since else None
    until = units.parse_since(args.until) if args.until else None
    async for ev in docker.events.subscribe(since=since, until=until, filters=parse_filters(args.filter)):
        if args.format:
            out(render_one(args.format, ev))
            continue
        t = ev.get("timeNano", int(ev.get("time", 0) * 1e9))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t / 1e9)) + f".{t % 1_000_000_000:09d}" + \
            time.strftime("%z", time.localtime(t / 1e9))[:3] + ":" + time.strftime("%z", time.localtime())[3:]
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(ev["Actor"]["Attributes"].items()))
        out(f"{stamp} {ev['Type']} {ev['Action']} {ev['Actor']['ID']}" + (f" ({attrs})" if attrs else ""))
        sys.stdout.flush()
    return 0


async def cmd_system_prune(docker: Docker, args: Any) -> int:
    if not args.force and not confirm("WARNING! This will remove:\n  - all stopped containers\n"
                                      + ("  - all anonymous volumes not used by at least one container\n"
                                         if args.volumes else "")
                                      + ("  - all images without at least one container associated to them"
                                         if args.all else "  - all dangling images")):
        return 0
    c = await docker.containers.prune()
    v: dict[str, Any] = (await docker.volumes.prune() if args.volumes
                         else {"VolumesDeleted": None, "SpaceReclaimed": 0})
    i = await docker.images.prune(all=args.all)
    total = c["SpaceReclaimed"] + v["SpaceReclaimed"] + i["SpaceReclaimed"]
    for cid in c["ContainersDeleted"] or []:
        out(f"Deleted Container: {cid}")
    if v["VolumesDeleted"]:
        out("Deleted Volumes:")
        for name in v["VolumesDeleted"]:
            out(name)
        out()
    for item in i["ImagesDeleted"] or []:
        for key, value in item.items():
            out(f"{key.lower()}: {value}")
    out(f"Total reclaimed space: {units.human_size(total)}")
    return 0


async def cmd_system_check(docker: Docker, args: Any) -> int:
    """One line per inconsistency (``kind  object  problem``, ``  repaired`` when fixed); exit 1 if any is left."""
    findings = await docker.system.check(repair=args.repair)
    for f in findings:
        out(f"{f['kind']}  {f['object']}  {f['problem']}" + ("  repaired" if f["repaired"] else ""))
    return 1 if any(not f["repaired"] for f in findings) else 0


def daemon(args: Any) -> int:
    """``portside daemon``: runs until SIGTERM/SIGINT (its own event loop, no client in front)."""
    from engine.api.daemon import serve, tls_from_flags
    tls = tls_from_flags(args.tls, args.tlsverify, args.tlscacert, args.tlscert, args.tlskey)
    return serve(args.listen, args.pidfile, args.root, log_file=args.log_file, detach=args.detach, tls=tls)
