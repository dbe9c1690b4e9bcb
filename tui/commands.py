"""The CLI's commands, each a small coroutine over the client."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time
from typing import Any

from engine.client import (Docker, format_ports, format_table, parse_publish, parse_reference, prepare_format,
                           render, tabwrite)
from engine.errors import EngineError, ImageNotFound, InvalidArgument, NotFound, NotModified

from . import units

PS_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
              "Image ID": "IMAGE ID"}
IMAGES_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
                  "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                  "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}


def out(text: str = "") -> None:
    sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidArgument("bad format of filter (expected name=value)")
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters


def render_rows(fmt: str | None, default: str, rows: list[dict[str, Any]], headers: dict[str, str]) -> None:
    fmt = fmt or default
    if fmt == "json":
        for row in rows:
            out(json.dumps(row, separators=(",", ":")))
        return
    text = format_table(fmt, rows, headers)
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def render_one(fmt: str, data: Any) -> str:
    if fmt == "json":
        return json.dumps(data, separators=(",", ":"))
    return render(prepare_format(fmt), data)


def short_id(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


async def dispatch(args: Any) -> int:
    func = globals()[f"cmd_{args.func}"]
    async with Docker(root=args.root) as docker:
        result = await func(docker, args)
    return int(result or 0)


# -- containers ---------------------------------------------------------------------------------------
def security_opts(opts: list[str]) -> list[str]:
    """docker's CLI: ``seccomp=FILE`` is sent as ``seccomp=<the file's JSON>`` (``unconfined`` as is)."""
    out = []
    for opt in opts:
        key, eq, value = opt.partition("=")
        if key == "seccomp" and eq and value not in ("unconfined", "builtin"):
            try:
                with open(value, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise InvalidArgument(f"opening seccomp profile ({value}) failed: open {value}: "
                                      f"{(exc.strerror or str(exc)).lower()}") from None
            try:
                value = json.dumps(json.loads(data), separators=(",", ":"))
            except ValueError as exc:
                raise InvalidArgument(f"compacting json for seccomp profile ({value}) failed: {exc}") from None
            opt = f"seccomp={value}"
        out.append(opt)
    return out


def container_config(args: Any) -> dict[str, Any]:
    env: list[str] = []
    for path in args.env_file:
        try:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        env.append(line)
        except OSError as exc:
            raise InvalidArgument(f"open {path}: {exc.strerror.lower()}") from None
    env += args.env
    # docker's CLI: `-v /path` (no source) is an anonymous volume (Config.Volumes), the rest are Binds
    anonymous = {v: {} for v in args.volume if ":" not in v}
    binds = [v for v in args.volume if ":" in v]
    host: dict[str, Any] = {"Binds": binds, "AutoRemove": args.rm, "NetworkMode": args.network,
                            "Init": args.init, "ReadonlyRootfs": args.read_only, "CapAdd": args.cap_add,
                            "CapDrop": args.cap_drop}
    name, _, count = args.restart.partition(":")
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise InvalidArgument(f"invalid restart policy: {args.restart}")
    if count and (name != "on-failure" or not count.isdigit()):
        raise InvalidArgument("invalid restart policy format: maximum retry count must be an integer")
    host["RestartPolicy"] = {"Name": name, "MaximumRetryCount": int(count or 0)}
    if args.memory:
        host["Memory"] = units.ram_in_bytes(args.memory)
    if args.memory_swap:
        host["MemorySwap"] = -1 if args.memory_swap == "-1" else units.ram_in_bytes(args.memory_swap)
    if args.cpus:
        try:
            host["NanoCpus"] = int(float(args.cpus) * 1e9)
        except ValueError:
            raise InvalidArgument(f'invalid argument "{args.cpus}" for "--cpus" flag: failed to parse '
                                  f'{args.cpus} as a rational number') from None
    if args.cpu_shares:
        host["CpuShares"] = args.cpu_shares
    if args.pids_limit:
        host["PidsLimit"] = args.pids_limit
    if args.runtime:
        host["Runtime"] = args.runtime
    if args.security_opt:
        host["SecurityOpt"] = security_opts(args.security_opt)
    exposed, bindings = parse_publish(args.publish)
    for item in args.expose:
        for key in parse_publish([item])[0]:
            exposed[key] = {}
    if bindings:
        host["PortBindings"] = bindings
    if args.publish_all:
        host["PublishAllPorts"] = True
    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    config: dict[str, Any] = {"Image": args.image, "Env": env, "Tty": args.tty, "OpenStdin": args.interactive,
                              "AttachStdin": args.interactive, "Labels": labels, "HostConfig": host}
    if anonymous:
        config["Volumes"] = anonymous
    if exposed:
        config["ExposedPorts"] = exposed
    if args.network_alias or args.ip:
        endpoint: dict[str, Any] = {"Aliases": args.network_alias}
        if args.ip:
            endpoint["IPAMConfig"] = {"IPv4Address": args.ip}
        config["NetworkingConfig"] = {"EndpointsConfig": {args.network: endpoint}}
    if args.command:
        config["Cmd"] = args.command
    if args.entrypoint is not None:
        config["Entrypoint"] = shlex.split(args.entrypoint) if args.entrypoint else [""]
    if args.workdir:
        if not args.workdir.startswith("/"):
            raise InvalidArgument(f"the working directory '{args.workdir}' is invalid, it needs to be an absolute path")
        config["WorkingDir"] = args.workdir
    if args.user is not None:
        config["User"] = args.user
    if args.hostname:
        config["Hostname"] = args.hostname
    if args.stop_signal:
        config["StopSignal"] = args.stop_signal
    if args.stop_timeout is not None:
        config["StopTimeout"] = args.stop_timeout
    if args.log_driver or args.log_opt:
        from engine.logfiles import parse_log_opts
        host["LogConfig"] = {"Type": args.log_driver or "json-file", "Config": parse_log_opts(args.log_opt)}
    return config


async def create_container(docker: Docker, args: Any) -> str:
    config = container_config(args)
    policy = getattr(args, "pull", "missing")
    if policy == "always":  # docker's run pulls `name:latest` without saying "Using default tag"
        await pull_image(docker, str(parse_reference(args.image)), sys.stderr)
    try:
        c = await docker.containers.create(config, name=args.name)
    except ImageNotFound:
        if policy != "missing":
            raise
        ref = parse_reference(args.image)
        sys.stderr.write(f"Unable to find image '{ref.familiar}' locally\n")
        await pull_image(docker, str(ref), sys.stderr)
        c = await docker.containers.create(config, name=args.name)
    return c.id


async def cmd_create(docker: Docker, args: Any) -> int:
    out(await create_container(docker, args))
    return 0


async def cmd_run(docker: Docker, args: Any) -> int:
    cid = await create_container(docker, args)
    if args.detach:
        try:
            await docker.containers.container(cid).start()
        except EngineError:
            if args.rm:
                await remove_quietly(docker, cid)
            raise
        out(cid)
        return 0
    return await attach_and_wait(docker, cid, args.interactive, args.tty, args.rm)


async def remove_quietly(docker: Docker, cid: str) -> None:
    try:
        await docker.containers.container(cid).delete(force=True)
    except EngineError:
        pass  # the monitor already removed it (--rm)


async def attach_and_wait(docker: Docker, cid: str, interactive: bool, tty: bool, autoremove: bool) -> int:
    """Start the container with this terminal attached; returns its exit code."""
    container = docker.containers.container(cid)
    saved = None
    if tty and interactive and os.isatty(0):
        import termios
        import tty as tty_mod
        saved = termios.tcgetattr(0)
        tty_mod.setraw(0)
    try:
        try:
            attached = await container.attach_start(stdin=0 if interactive else -1, stdout=1, stderr=2)
        except EngineError:
            if autoremove:
                await remove_quietly(docker, cid)
            raise

        def forward(signum: int, _frame: Any) -> None:  # docker's --sig-proxy
            if attached.pid:
                try:
                    os.kill(attached.pid, signum)
                except ProcessLookupError:
                    pass
        if not tty:
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
                signal.signal(s, forward)
        return await attached.wait()
    finally:
        if saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


async def cmd_start(docker: Docker, args: Any) -> int:
    if args.attach:
        if len(args.containers) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        info = await docker.containers.get(args.containers[0])
        return await attach_and_wait(docker, info.id, args.interactive, info["Config"]["Tty"],
                                     info["HostConfig"].get("AutoRemove", False))
    failed = False
    for name in args.containers:
        try:
            await docker.containers.container(name).start()
            out(name)
        except NotModified:
            out(name)
        except EngineError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
            failed = True
    if failed:
        sys.stderr.write("Error: failed to start containers: " + ", ".join(args.containers) + "\n")
        return 1
    return 0


async def each(names: list[str], action: Any) -> int:
    failed = False
    for name in names:
        try:
            await action(name)
            out(name)
        except EngineError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
            failed = True
    return 1 if failed else 0


async def cmd_stop(docker: Docker, args: Any) -> int:
    return await each(args.containers, lambda n: docker.containers.container(n).stop(t=args.time, signal=args.signal))


async def cmd_restart(docker: Docker, args: Any) -> int:
    return await each(args.containers, lambda n: docker.containers.container(n).restart(t=args.time))


async def cmd_kill(docker: Docker, args: Any) -> int:
    return await each(args.containers, lambda n: docker.containers.container(n).kill(signal=args.signal))


async def cmd_rm(docker: Docker, args: Any) -> int:
    return await each(args.containers, lambda n: docker.containers.container(n).delete(force=args.force,
                                                                                       v=args.volumes))


async def cmd_wait(docker: Docker, args: Any) -> int:
    async def one(name: str) -> None:
        result = await docker.containers.container(name).wait()
        out(str(result["StatusCode"]))
    failed = False
    for name in args.containers:
        try:
            result = await docker.containers.container(name).wait()
            out(str(result["StatusCode"]))
        except EngineError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
            failed = True
    del one
    return 1 if failed else 0


async def cmd_rename(docker: Docker, args: Any) -> int:
    await docker.containers.container(args.container).rename(args.new_name)
    return 0


async def cmd_port(docker: Docker, args: Any) -> int:
    info = await docker.containers.get(args.container)
    ports = info["NetworkSettings"].get("Ports") or {}
    if args.private:
        key = args.private if "/" in args.private else args.private + "/tcp"
        if not ports.get(key):
            raise InvalidArgument(f"No public port '{key}' published for {args.container}")
        ports = {key: ports[key]}
    for port, bindings in sorted(ports.items(), key=lambda kv: (int(kv[0].split("/")[0]), kv[0])):
        for b in bindings or []:
            out(f"{b['HostIp']}:{b['HostPort']}" if args.private else f"{port} -> {b['HostIp']}:{b['HostPort']}")
    return 0


def ps_row(c: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    cmd = c["Command"]
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    return {
        "ID": c["Id"] if no_trunc else c["Id"][:12], "Image": c["Image"], "Command": json.dumps(cmd, ensure_ascii=False),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(c["Created"])),
        "RunningFor": units.since(c["Created"]), "Ports": format_ports(c.get("Ports") or []), "State": c["State"],
        "Status": c["Status"],
        "Size": units.human_size(c.get("SizeRw", 0)) if "SizeRw" in c else "",
        "Names": ",".join(n.lstrip("/") for n in c["Names"]),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted((c.get("Labels") or {}).items())),
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts", [])),
        "Networks": ",".join(sorted(c.get("NetworkSettings", {}).get("Networks", {}))),
    }


async def cmd_ps(docker: Docker, args: Any) -> int:
    filters = parse_filters(args.filter)
    limit = 1 if args.latest else args.last
    rows = await docker.containers.list(all=args.all or limit > 0, filters=filters, limit=limit, size=args.size)
    if args.quiet:
        for c in rows:
            out(c["Id"] if args.no_trunc else c["Id"][:12])
        return 0
    fmt = args.format or (PS_FORMAT + ("\t{{.Size}}" if args.size else ""))
    render_rows(fmt, PS_FORMAT, [ps_row(c, args.no_trunc) for c in rows], PS_HEADERS)
    return 0


async def cmd_logs(docker: Docker, args: Any) -> int:
    since = units.parse_since(args.since)
    until = units.parse_since(args.until)
    c = docker.containers.container((await docker.containers.get(args.container)).id)
    async for entry in c.log(follow=args.follow, tail=args.tail, since=since, until=until):
        text = entry["log"]
        if args.timestamps:
            text = f"{entry['time']} {text}"
        stream = sys.stderr if entry["stream"] == "stderr" else sys.stdout
        stream.write(text)
        stream.flush()
    return 0


async def cmd_exec(docker: Docker, args: Any) -> int:
    if not args.command:
        raise InvalidArgument('"exec" requires at least 2 arguments')
    container = docker.containers.container(args.container)
    saved = None
    if args.tty and args.interactive and os.isatty(0):
        import termios
        import tty as tty_mod
        saved = termios.tcgetattr(0)
        tty_mod.setraw(0)
    try:
        return await container.exec_run(args.command, stdin=0 if args.interactive else -1, stdout=1, stderr=2,
                                        tty=args.tty, user=args.user, workdir=args.workdir, env=args.env,
                                        detach=args.detach)
    finally:
        if saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


async def cmd_top(docker: Docker, args: Any) -> int:
    top = await docker.containers.container(args.container).top()
    lines = ["\t".join(top["Titles"])] + ["\t".join(p) for p in top["Processes"]]
    sys.stdout.write(tabwrite([line + "\n" for line in lines]) if False else tabwrite(lines))
    if not sys.stdout.isatty():
        pass
    return 0


async def cmd_stats(docker: Docker, args: Any) -> int:
    if not args.no_stream:
        raise InvalidArgument("live stats are in the dashboard; use --no-stream for one sample")
    names = args.containers or [c["Id"] for c in await docker.containers.list(all=args.all)]
    first = {}
    for n in names:
        first[n] = await docker.containers.container(n).stats()
    time.sleep(0.5)  # the CLI drives this coroutine itself: nothing else waits
    rows = []
    for n in names:
        s = await docker.containers.container(n).stats()
        p = first[n]
        cpu_delta = s["cpu_stats"]["cpu_usage"]["total_usage"] - p["cpu_stats"]["cpu_usage"]["total_usage"]
        sys_delta = s["cpu_stats"]["system_cpu_usage"] - p["cpu_stats"]["system_cpu_usage"]
        cpu = cpu_delta / sys_delta * s["cpu_stats"]["online_cpus"] * 100 if sys_delta > 0 else 0.0
        mem = s["memory_stats"]["usage"]
        limit = s["memory_stats"]["limit"] or 1
        rx = sum(v["rx_bytes"] for v in s["networks"].values())
        tx = sum(v["tx_bytes"] for v in s["networks"].values())
        blk = {e["op"]: e["value"] for e in s["blkio_stats"]["io_service_bytes_recursive"]}
        rows.append({"Container": s["id"][:12], "ID": s["id"][:12], "Name": s["name"].lstrip("/"),
                     "CPUPerc": f"{cpu:.2f}%", "MemUsage": f"{units.bytes_size(mem)} / {units.bytes_size(limit)}",
                     "MemPerc": f"{mem / limit * 100:.2f}%",
                     "NetIO": f"{units.human_size(rx)} / {units.human_size(tx)}",
                     "BlockIO": f"{units.human_size(blk.get('read', 0))} / {units.human_size(blk.get('write', 0))}",
                     "PIDs": str(s["pids_stats"].get("current", 0))})
    fmt = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
    render_rows(args.format, fmt, rows, {"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME",
                                        "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %",
                                        "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"})
    return 0


async def cmd_container_prune(docker: Docker, args: Any) -> int:
    if not args.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    result = await docker.containers.prune(filters=parse_filters(args.filter))
    if result["ContainersDeleted"]:
        out("Deleted Containers:")
        for cid in result["ContainersDeleted"]:
            out(cid)
        out()
    out(f"Total reclaimed space: {units.human_size(result['SpaceReclaimed'])}")
    return 0


def confirm(warning: str) -> bool:
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


# -- inspect --------------------------------------------------------------------------------------------
async def inspect_objects(docker: Docker, names: list[str], fmt: str | None, kind: str | None) -> int:
    results: list[Any] = []
    failed = False
    for name in names:
        obj = None
        for k in ([kind] if kind else ["container", "image", "volume"]):
            try:
                if k == "container":
                    obj = (await docker.containers.get(name))._info
                elif k == "image":
                    obj = await docker.images.inspect(name)
                else:
                    obj = await docker.volumes.inspect(name)
                break
            except EngineError as exc:
                if exc.status != 404:
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


async def cmd_inspect_container(docker: Docker, args: Any) -> int:
    return await inspect_objects(docker, args.names, args.format, "container")


async def cmd_inspect_image(docker: Docker, args: Any) -> int:
    return await inspect_objects(docker, args.names, args.format, "image")


# -- images ---------------------------------------------------------------------------------------------
async def cmd_images(docker: Docker, args: Any) -> int:
    filters = parse_filters(args.filter)
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    images = await docker.images.list(all=args.all, filters=filters)
    rows = []
    for img in images:
        tags = img["RepoTags"] or ["<none>:<none>"]
        for t in tags:
            repo, _, tag = t.rpartition(":")
            if "/" in tag:
                repo, tag = t, "<none>"
            rows.append({"Repository": repo, "Tag": tag, "ID": img["Id"] if args.no_trunc else short_id(img["Id"]),
                         "Digest": (img["RepoDigests"] or ["<none>"])[0].partition("@")[2] or "<none>",
                         "CreatedSince": units.since(img["Created"]),
                         "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(img["Created"])),
                         "Size": units.human_size(img["Size"]), "Containers": str(img["Containers"]),
                         "VirtualSize": units.human_size(img["Size"]), "SharedSize": "N/A", "UniqueSize": "N/A"})
    if args.quiet:
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        for i in seen:
            out(i)
        return 0
    fmt = args.format or (IMAGES_FORMAT.replace("\t{{.ID}}", "\t{{.Digest}}\t{{.ID}}") if args.digests
                          else IMAGES_FORMAT)
    render_rows(fmt, IMAGES_FORMAT, rows, IMAGES_HEADERS)
    return 0


async def cmd_rmi(docker: Docker, args: Any) -> int:
    failed = False
    for name in args.images:
        try:
            for item in await docker.images.delete(name, force=args.force, noprune=args.no_prune):
                for k, v in item.items():
                    out(f"{k}: {v}")
        except EngineError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
            failed = True
    return 1 if failed else 0


async def cmd_tag(docker: Docker, args: Any) -> int:
    await docker.images.tag(args.source, args.target)
    return 0


async def cmd_history(docker: Docker, args: Any) -> int:
    rows = []
    for h in await docker.images.history(args.image):
        created_by = h["CreatedBy"]
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append({"ID": h["Id"] if h["Id"] == "<missing>" or args.no_trunc else short_id(h["Id"]),
                     "CreatedSince": units.since(h["Created"]) if h["Created"] else "N/A",
                     "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(h["Created"])),
                     "CreatedBy": created_by, "Size": units.human_size(h["Size"]) if args.human != "false"
                     else str(h["Size"]), "Comment": h["Comment"]})
    if args.quiet:
        for r in rows:
            out(r["ID"])
        return 0
    render_rows(args.format, "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", rows,
                {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                 "Size": "SIZE", "Comment": "COMMENT"})
    return 0


async def cmd_import_(docker: Docker, args: Any) -> int:
    changes = args.change or None
    if args.file == "-":
        image_id = await docker.images.import_image(sys.stdin.buffer, repo=args.reference, message=args.message,
                                                    changes=changes)
    else:
        if "://" in args.file:
            raise InvalidArgument(f"importing from a URL is not supported; download it, then: portside import FILE"
                                  f"{' ' + args.reference if args.reference else ''}")
        try:
            f = open(args.file, "rb")
        except OSError as exc:
            raise InvalidArgument(f"open {args.file}: {exc.strerror.lower()}") from None
        with f:
            image_id = await docker.images.import_image(f, repo=args.reference, message=args.message,
                                                        changes=changes)
    out(image_id)
    return 0


async def cmd_image_busybox(docker: Docker, args: Any) -> int:
    """``portside image busybox``: the image id on stdout, the same steps by hand on stderr."""
    image = await docker.images.make_busybox(args.tag)
    out(image["Id"])
    sys.stderr.write(f"Made {image['RepoTags'][0]} from this host's busybox-static. By hand, the same image is:\n")
    sys.stderr.write("".join(f"  {line}\n" for line in docker.images.busybox_recipe(image["RepoTags"][0]).splitlines()))
    return 0


async def cmd_save(docker: Docker, args: Any) -> int:
    fmt = "oci" if args.format.startswith("oci") else "docker"
    if args.output:
        tmp = args.output + ".portside-tmp"
        try:
            with open(tmp, "wb") as f:
                await docker.images.export_image(args.images, f, format=fmt)
            os.replace(tmp, args.output)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return 0
    if sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    sys.stdout.flush()
    await docker.images.export_image(args.images, sys.stdout.buffer, format=fmt)
    sys.stdout.buffer.flush()
    return 0


async def cmd_load(docker: Docker, args: Any) -> int:
    if args.input:
        try:
            f = open(args.input, "rb")
        except OSError as exc:
            raise InvalidArgument(f"open {args.input}: {exc.strerror.lower()}") from None
        with f:
            lines = await docker.images.load(f)
    else:
        if sys.stdin.isatty():
            raise InvalidArgument("requested load from stdin, but stdin is empty")
        lines = await docker.images.load(sys.stdin.buffer)
    for line in lines:
        out(line)
    return 0


async def cmd_image_prune(docker: Docker, args: Any) -> int:
    warning = ("WARNING! This will remove all images without at least one container associated to them."
               if args.all else "WARNING! This will remove all dangling images.")
    if not args.force and not confirm(warning):
        return 0
    result = await docker.images.prune(all=args.all, filters=parse_filters(args.filter))
    if result["ImagesDeleted"]:
        out("Deleted Images:")
        for item in result["ImagesDeleted"]:
            for k, v in item.items():
                out(f"{k.lower()}: {v}")
        out()
    out(f"Total reclaimed space: {units.human_size(result['SpaceReclaimed'])}")
    return 0


async def cmd_build(docker: Docker, args: Any) -> int:
    buildargs = {}
    for item in args.build_arg:
        k, eq, v = item.partition("=")
        buildargs[k] = v if eq else os.environ.get(k, "")
    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    if args.path == "-":
        raise InvalidArgument("a build context on stdin (-) is not supported; pass a directory")
    if not os.path.isdir(args.path):
        raise InvalidArgument(f'unable to prepare context: path "{args.path}" not found')
    dockerfile = args.file or os.path.join(args.path, "Dockerfile")
    image_id = ""
    async for msg in docker.images.build(path=args.path, tags=args.tag, dockerfile=dockerfile, buildargs=buildargs,
                                         nocache=args.no_cache, target=args.target, labels=labels,
                                         networkmode=args.network):
        if "error" in msg:
            sys.stderr.write("ERROR: " + msg["error"].rstrip("\n") + "\n")
            return 1
        if "aux" in msg:
            image_id = msg["aux"]["ID"]
        elif "stream" in msg and not args.quiet:
            sys.stdout.write(msg["stream"])
            sys.stdout.flush()
    if args.quiet:
        out(image_id)
    return 0


# -- volumes and system ----------------------------------------------------------------------------------
async def cmd_volume_ls(docker: Docker, args: Any) -> int:
    vols = await docker.volumes.list()
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


async def cmd_version(docker: Docker, args: Any) -> int:
    v = await docker.system.version()
    if args.format:
        out(render_one(args.format, {"Client": {"Version": v["Version"]}, "Server": v}))
        return 0
    out(f"Client:\n Version:           {v['Version']}\n API version:       {v['ApiVersion']}\n"
        f" OS/Arch:           linux/{v['Arch']}\n\nServer: Portside Engine (embedded)\n"
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
        f" Runtimes: {' '.join(info['Runtimes'])}\n Default Runtime: {info['DefaultRuntime']}\n"
        f" CPUs: {info['NCPU']}\n Total Memory: {units.bytes_size(info['MemTotal'])}\n"
        f" Docker Root Dir: {info['DockerRootDir']}")
    return 0


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
    v = await docker.volumes.prune() if args.volumes else {"VolumesDeleted": None, "SpaceReclaimed": 0}
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
        for k, v in item.items():
            out(f"{k.lower()}: {v}")
    out(f"Total reclaimed space: {units.human_size(total)}")
    return 0


async def cmd_system_check(docker: Docker, args: Any) -> int:
    """One line per inconsistency (``kind  object  problem``, ``  repaired`` when fixed); exit 1 if any is left."""
    findings = await docker.system.check(repair=args.repair)
    for f in findings:
        out(f"{f['kind']}  {f['object']}  {f['problem']}" + ("  repaired" if f["repaired"] else ""))
    return 1 if any(not f["repaired"] for f in findings) else 0


async def cmd_registry(docker: Docker, args: Any) -> int:
    raise EngineError("Portside does not search registries; pull, push and login work with any registry")


# -- registries ---------------------------------------------------------------------------------------
async def pull_image(docker: Docker, name: str, stream: Any, *, platform: str | None = None,
                     quiet: bool = False) -> str:
    """Pull with docker's progress on ``stream``; returns the full reference pulled."""
    from .progress import ProgressPrinter
    ref = parse_reference(name, default_tag=False)
    if not ref.tag and not ref.digest:
        if not quiet:
            stream.write("Using default tag: latest\n")
        ref = parse_reference(name)
    printer = ProgressPrinter(stream, quiet=quiet)
    async for msg in docker.images.pull(str(ref), platform=platform, stream=True):
        printer(msg)
    return str(ref)


async def cmd_pull(docker: Docker, args: Any) -> int:
    if args.all_tags:
        raise InvalidArgument("pull --all-tags is not supported; pull the tags one by one")
    full = await pull_image(docker, args.name, sys.stdout, platform=args.platform, quiet=args.quiet)
    out(full)
    return 0


async def cmd_push(docker: Docker, args: Any) -> int:
    from .progress import ProgressPrinter
    ref = parse_reference(args.name, default_tag=False)
    if ref.digest:
        raise InvalidArgument("cannot push a digest reference")
    names = [str(ref)]
    if args.all_tags:
        if ref.tag:
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        names = sorted(t for img in await docker.images.list(all=True) for t in img["RepoTags"]
                       if parse_reference(t).repository == ref.repository)
        if not names:
            raise ImageNotFound(f"An image does not exist locally with the tag: {ref.familiar}")
    elif not ref.tag:
        out("Using default tag: latest")
        names = [str(parse_reference(args.name))]
    printer = ProgressPrinter(sys.stdout, quiet=args.quiet)
    for name in names:
        async for msg in docker.images.push(name, stream=True, oci=args.oci):
            printer(msg)
    if args.quiet:
        for name in names:
            out(parse_reference(name).familiar)
    return 0


async def cmd_login(docker: Docker, args: Any) -> int:
    username = args.username or ""
    password = args.password or ""
    if args.password and args.password_stdin:
        raise InvalidArgument("--password and --password-stdin are mutually exclusive")
    if args.password_stdin:
        if not username:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif args.password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if not username or not password:
        if not sys.stdin.isatty():
            raise InvalidArgument("Error: Cannot perform an interactive login from a non TTY device")
        if not username:
            sys.stdout.write("Username: ")
            sys.stdout.flush()
            username = sys.stdin.readline().strip()
        if not password:
            import getpass
            password = getpass.getpass("Password: ")
    result = await docker.auth.login(username, password, server=args.server)
    if result.get("Warning"):
        sys.stderr.write(result["Warning"] + "\n")
    out(result["Status"])
    return 0


async def cmd_logout(docker: Docker, args: Any) -> int:
    out((await docker.auth.logout(args.server))["Status"])
    return 0


# -- networks ---------------------------------------------------------------------------------------------
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
                sys.stderr.write(f"Error response from daemon: {exc}\n")
                failed = True
        except EngineError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
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


async def cmd_swarm_mode(docker: Docker, args: Any) -> int:
    raise EngineError("Portside does not support swarm mode (services, stacks, nodes) on this host")


# The CLI drives each command's coroutine itself instead of starting an asyncio loop: importing
# asyncio costs ~25 ms, a fifth of a short command. The engine's waits work without a loop (engine.aio).
# Should a read-only command still reach something that needs a loop, it runs again under asyncio.
READ_ONLY = {"ps", "images", "inspect", "inspect_container", "inspect_image", "history", "version", "info",
             "volume_ls", "volume_inspect", "port", "top", "network_ls", "network_inspect"}


def daemon(args: Any) -> int:
    """``portside daemon``: runs until SIGTERM/SIGINT (its own event loop, no client in front)."""
    from engine.api.daemon import serve
    return serve(args.listen, args.pidfile, args.root)


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
