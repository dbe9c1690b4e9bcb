"""``portside container …`` (and the top-level run, ps, logs, exec …): docker's container commands."""

from __future__ import annotations

import json
import os
import sys
import time
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import EngineError, ImageNotFound, InvalidArgument, NotModified

from .. import units
from .output import confirm, daemon_error, each, out, render_rows
from .filters import parse_filters
from .template import tabwrite


PS_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
              "Image ID": "IMAGE ID"}


def security_opts(opts: list[str]) -> list[str]:
    """docker's CLI: ``seccomp=FILE`` is sent as ``seccomp=<the file's JSON>`` (``unconfined`` as is)."""
    sent = []
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
        sent.append(opt)
    return sent


def container_config(args: Any) -> dict[str, Any]:
    import shlex

    from engine.client import parse_log_opts, parse_publish
    env: list[str] = []
    for path in args.env_file:
        try:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        env.append(line)
        except OSError as exc:
            raise InvalidArgument(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    env += args.env
    # docker's CLI: `-v /path` (no source) is an anonymous volume (Config.Volumes), the rest are Binds
    anonymous: dict[str, dict[str, Any]] = {v: {} for v in args.volume if ":" not in v}
    binds = [v for v in args.volume if ":" in v]
    host: dict[str, Any] = {"Binds": binds, "AutoRemove": args.rm, "NetworkMode": args.network,
                            "Init": args.init, "ReadonlyRootfs": args.read_only, "CapAdd": args.cap_add,
                            "CapDrop": args.cap_drop}
    if args.mount:
        from .service import parse_mount
        host["Mounts"] = [parse_mount(m) for m in args.mount]
    if args.tmpfs:  # docker's CLI: PATH[:OPTIONS]
        host["Tmpfs"] = dict((t.split(":", 1) + [""])[:2] for t in args.tmpfs)
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
                              "AttachStdin": args.interactive, "Labels": labels, "HostConfig": host,
                              # docker's run -i: the container's stdin closes when the client's does
                              "StdinOnce": args.interactive and getattr(args, "func", "") == "run" and not args.detach}
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
        host["LogConfig"] = {"Type": args.log_driver or "json-file", "Config": parse_log_opts(args.log_opt)}
    healthcheck = health_config(args)
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    return config


HEALTH_DURATIONS = (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                    ("health_start_period", "StartPeriod"), ("health_start_interval", "StartInterval"))


def health_config(args: Any) -> dict[str, Any] | None:
    """docker's ``--health-*`` / ``--no-healthcheck`` flags as a HealthConfig (None when none is given)."""
    hc: dict[str, Any] = {}
    for attr, key in HEALTH_DURATIONS:
        text = getattr(args, attr, None)
        if text is None:
            continue
        from engine.client import go_duration_ns
        flag = "--" + attr.replace("_", "-")
        try:
            hc[key] = go_duration_ns(text)
        except ValueError as exc:
            raise InvalidArgument(f'invalid argument "{text}" for "{flag}" flag: {exc}') from None
    if getattr(args, "health_retries", None) is not None:
        try:
            hc["Retries"] = int(args.health_retries, 10)
        except ValueError:
            raise InvalidArgument(f'invalid argument "{args.health_retries}" for "--health-retries" flag: '
                                  f'strconv.ParseInt: parsing "{args.health_retries}": invalid syntax') from None
    cmd = getattr(args, "health_cmd", None) or ""
    given = bool(cmd) or any(hc.values())
    if getattr(args, "no_healthcheck", False):
        if given:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    for attr, key in HEALTH_DURATIONS:
        if hc.get(key, 0) < 0:
            raise InvalidArgument(f"--{attr.replace('_', '-')} cannot be negative")
    if hc.get("Retries", 0) < 0:
        raise InvalidArgument("--health-retries cannot be negative")
    return {"Test": ["CMD-SHELL", cmd] if cmd else None, "Interval": hc.get("Interval", 0),
            "Timeout": hc.get("Timeout", 0), "StartPeriod": hc.get("StartPeriod", 0),
            "StartInterval": hc.get("StartInterval", 0), "Retries": hc.get("Retries", 0)}


async def create_container(docker: Docker, args: Any) -> str:
    from engine.client import parse_reference
    config = container_config(args)
    policy = getattr(args, "pull", "missing")
    if policy == "always":  # docker's run pulls `name:latest` without saying "Using default tag"
        from .registry import pull_image
        await pull_image(docker, str(parse_reference(args.image)), sys.stderr)
    try:
        c = await docker.containers.create(config, name=args.name)
    except ImageNotFound:
        if policy != "missing":
            raise
        ref = parse_reference(args.image)
        sys.stderr.write(f"Unable to find image '{ref.familiar}' locally\n")
        from .registry import pull_image
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

        import signal

        def forward(signum: int, _frame: Any) -> None:  # docker's --sig-proxy
            attached.signal(signum)
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
            sys.stderr.write(daemon_error(exc) + "\n")
            failed = True
    if failed:
        sys.stderr.write("Error: failed to start containers: " + ", ".join(args.containers) + "\n")
        return 1
    return 0


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
    failed = False
    for name in args.containers:
        try:
            result = await docker.containers.container(name).wait()
            out(str(result["StatusCode"]))
        except EngineError as exc:
            sys.stderr.write(daemon_error(exc) + "\n")
            failed = True
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
    from engine.client import format_ports
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
    sys.stdout.write(tabwrite(lines))
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
        nets = (s.get("networks") or {}).values()  # dockerd leaves it out for --network none
        rx = sum(v["rx_bytes"] for v in nets)
        tx = sum(v["tx_bytes"] for v in nets)
        blk: dict[str, int] = {}
        for e in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:  # dockerd: "Read", null
            blk[e["op"].lower()] = blk.get(e["op"].lower(), 0) + e["value"]
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


async def cmd_inspect_container(docker: Docker, args: Any) -> int:
    from .system import inspect_objects
    return await inspect_objects(docker, args.names, args.format, "container")


async def cmd_cp(docker: Docker, args: Any) -> int:
    """docker cp: CONTAINER:SRC to a local path (``-``: a tar on stdout), or a local path (``-``: a tar
    on stdin) to CONTAINER:DEST."""
    import tempfile

    from engine.errors import NotFound

    from . import tarcopy
    from .tarcopy import is_dir_mode
    src_ctr, src = tarcopy.split_arg(args.src)
    dst_ctr, dst = tarcopy.split_arg(args.dest)
    if src_ctr and dst_ctr:
        raise InvalidArgument("copying between containers is not supported")
    if not src_ctr and not dst_ctr:
        raise InvalidArgument("must specify at least one container source")
    if not src or not dst:
        raise InvalidArgument("filepath cannot be empty")
    progress = not args.quiet and sys.stderr.isatty()
    if src_ctr:
        container = docker.containers.container(src_ctr)
        name = tarcopy.top_name(src)
        if args.follow_link:
            st = await container.stat_archive(src)
            if st.get("linkTarget"):
                src = st["linkTarget"]  # the link's target, copied under the link's name
        st, chunks = await container.get_archive(src)
        sent = tarcopy.top_name(src)
        if dst == "-":
            async for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return 0
        with tempfile.TemporaryFile() as spool:
            async for chunk in chunks:
                spool.write(chunk)
            spool.seek(0)
            if os.path.isdir(dst):
                where, top = dst, name
            else:
                where, top = tarcopy.landing(dst, os.path.lexists(dst), False, is_dir_mode(st["mode"]), name)
            size = tarcopy.extract(spool, where, sent, top)
        if progress:
            sys.stderr.write(f"Successfully copied {units.human_size(size)} to {dst}\n")
        return 0
    container = docker.containers.container(str(dst_ctr))
    if src == "-":
        await container.put_archive(dst, sys.stdin.buffer, no_overwrite_dir_non_dir=True, copy_uidgid=args.archive)
        return 0
    if not os.path.lexists(src):
        raise InvalidArgument(f"lstat {src}: no such file or directory")
    src_is_dir = os.path.isdir(src) if (args.follow_link or not os.path.islink(src)) else False
    try:
        st = await container.stat_archive(dst)
        if st.get("linkTarget"):  # a link in the container: its target receives the copy
            dst = st["linkTarget"]
            st = await container.stat_archive(dst)
        exists, is_dir = True, is_dir_mode(st["mode"])
    except NotFound:
        exists, is_dir = False, False
    where, top = tarcopy.landing(dst, exists, is_dir, src_is_dir, tarcopy.top_name(src))
    tar = tarcopy.make_tar(src, top, follow_link=args.follow_link)
    try:
        size = tar.seek(0, os.SEEK_END)
        tar.seek(0)
        await container.put_archive(where, tar, no_overwrite_dir_non_dir=True, copy_uidgid=args.archive)
    finally:
        tar.close()
    if progress:
        sys.stderr.write(f"Successfully copied {units.human_size(size)} to {args.dest}\n")
    return 0
