"""``portside service …``: docker's service commands, and the service and task tables ``stack`` shares.

``create``, ``update``, ``scale`` and ``rollback`` wait until the service has converged, one live line
per service (running/desired, and why a task failed), unless ``-d/--detach``.
"""

from __future__ import annotations

import json
import sys
import time
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import EngineError, InvalidArgument, NotFound

from .filters import parse_filters
from .output import out, render_one, render_rows

SERVICE_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"
SERVICE_HEADERS = {"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE",
                   "Ports": "PORTS"}
TASK_TABLE = ("table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}"
              "\t{{.Ports}}")
TASK_HEADERS = {"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE", "DesiredState": "DESIRED STATE",
                "CurrentState": "CURRENT STATE", "Error": "ERROR", "Ports": "PORTS"}
MAX_ERR = 30


# -- the tables ----------------------------------------------------------------------------------------
def natural_key(text: str) -> list[Any]:
    from engine.client.stacks import natural_key as key
    return key(text)


def display_image(image: str) -> str:
    """docker's IMAGE column: a tagged reference without its digest, in its familiar form."""
    from engine.client import parse_reference
    try:
        ref = parse_reference(image, default_tag=False)
    except EngineError:
        return image
    if not ref.tag:
        return image
    return ref.with_tag(ref.tag).familiar


def mode_of(spec: dict[str, Any]) -> str:
    mode = spec.get("Mode") or {}
    for key, word in (("Global", "global"), ("Replicated", "replicated"), ("ReplicatedJob", "replicated job"),
                      ("GlobalJob", "global job")):
        if key in mode:
            return word
    return ""


def replicas_of(service: dict[str, Any]) -> str:
    status = service.get("ServiceStatus") or {}
    running, desired = int(status.get("RunningTasks") or 0), int(status.get("DesiredTasks") or 0)
    completed = int(status.get("CompletedTasks") or 0)
    spec = service.get("Spec") or {}
    mode = spec.get("Mode") or {}
    if "ReplicatedJob" in mode:
        return f"{running}/{desired} ({completed}/{(mode['ReplicatedJob'] or {}).get('TotalCompletions', 0)} completed)"
    if "GlobalJob" in mode:
        return f"{running}/{desired} ({completed}/{desired + completed} completed)"
    max_per_node = ((spec.get("TaskTemplate") or {}).get("Placement") or {}).get("MaxReplicas") or 0
    if "Replicated" in mode and max_per_node:
        return f"{running}/{desired} (max {max_per_node} per node)"
    return f"{running}/{desired}"


def service_ports(endpoint_ports: list[dict[str, Any]] | None) -> str:
    """docker's PORTS column of ``service ls``: ingress ports, consecutive ones grouped (``*:80-81->80-81/tcp``)."""
    if not endpoint_ports:
        return ""
    ports = sorted(endpoint_ports, key=lambda p: (str(p.get("Protocol") or "tcp"), int(p.get("PublishedPort") or 0)))
    out_: list[str] = []
    cur: list[Any] | None = None  # [pStart, pEnd, tStart, tEnd, protocol]

    def text(r: list[Any]) -> str:
        pub = f"{r[0]}-{r[1]}" if r[1] > r[0] else str(r[0])
        tgt = f"{r[2]}-{r[3]}" if r[3] > r[2] else str(r[2])
        return f"*:{pub}->{tgt}/{r[4]}"
    for p in ports:
        if (p.get("PublishMode") or "ingress") != "ingress":
            continue
        pub, tgt, proto = int(p.get("PublishedPort") or 0), int(p.get("TargetPort") or 0), p.get("Protocol") or "tcp"
        if cur is None or proto != cur[4] or pub - cur[1] > 1 or tgt - cur[3] > 1 or (cur[3] != cur[2] and tgt <= cur[3]):
            if cur is not None and cur[0] > 0:
                out_.append(text(cur))
            cur = [pub, pub, tgt, tgt, proto]
            continue
        cur[1], cur[3] = pub, tgt
    if cur is not None and cur[0] > 0:
        out_.append(text(cur))
    return ", ".join(out_)


def service_rows(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for s in sorted(services, key=lambda s: natural_key(s.get("Spec", {}).get("Name", ""))):
        spec = s.get("Spec") or {}
        image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
        rows.append({"ID": s["ID"][:12], "Name": spec.get("Name", ""), "Mode": mode_of(spec),
                     "Replicas": replicas_of(s), "Image": display_image(image),
                     "Ports": service_ports((s.get("Endpoint") or {}).get("Ports"))})
    return [dict(sorted(r.items())) for r in rows]  # docker's --format json: the fields in name order


def pretty_state(state: str) -> str:
    return state[:1].upper() + state[1:]


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def task_rows(tasks: list[dict[str, Any]], service_names: dict[str, str], node_names: dict[str, str], *,
              trunc: bool = True, table: bool = True, now: float | None = None) -> list[dict[str, Any]]:
    """docker's ``service ps`` rows: sorted by ``<service>.<slot>`` (naturally), newest first within a slot,
    earlier tasks of a slot named `` \\_ <service>.<slot>``."""
    from engine.client import human_duration, parse_rfc3339
    now = time.time() if now is None else now
    named = []
    for t in tasks:
        service = service_names.get(t.get("ServiceID", ""), t.get("ServiceID", ""))
        slot = t.get("Slot") or 0
        named.append((f"{service}.{slot}" if slot else f"{service}.{t.get('NodeID', '')}", t))
    named.sort(key=lambda item: str((item[1].get("CreatedAt") or "")), reverse=True)
    named.sort(key=lambda item: natural_key(item[0]))
    rows, previous = [], None
    for name, t in named:
        status = t.get("Status") or {}
        image = ((t.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
        err = str(status.get("Err") or "")
        if trunc:
            err = ellipsis(err, MAX_ERR)
        ports = ((status.get("PortStatus") or {}).get("Ports")) or []
        ts = parse_rfc3339(str(status.get("Timestamp") or ""))
        ago = human_duration(max(0.0, now - ts)).lower() if ts else "less than a second"
        rows.append({"ID": t["ID"][:12] if trunc else t["ID"],
                     "Name": (" \\_ " + name) if table and name == previous else name,
                     "Image": display_image(image) if trunc else image,
                     "Node": node_names.get(t.get("NodeID", ""), t.get("NodeID", "")),
                     "DesiredState": pretty_state(str(t.get("DesiredState") or "")),
                     "CurrentState": f"{pretty_state(str(status.get('State') or ''))} {ago} ago",
                     "Error": f'"{err}"' if err else "",
                     "Ports": ",".join(f"*:{p.get('PublishedPort')}->{p.get('TargetPort')}/{p.get('Protocol') or 'tcp'}"
                                       for p in ports)})
        previous = name
    return [dict(sorted(r.items())) for r in rows]  # docker's --format json: the fields in name order


async def print_tasks(docker: Docker, tasks: list[dict[str, Any]], args: Any) -> None:
    """``service ps``, ``stack ps``, ``node ps``: the task table (``-q``: IDs; ``--no-trunc``; ``--format``)."""
    services = {s["ID"]: s["Spec"]["Name"] for s in await docker.services.list()}
    nodes: dict[str, str] = {}
    if not getattr(args, "no_resolve", False):
        try:
            nodes = {n["ID"]: (n.get("Description") or {}).get("Hostname", n["ID"]) for n in await docker.nodes.list()}
        except EngineError:
            nodes = {}
    else:
        services = {}
    if args.quiet:  # in the table's order
        for row in task_rows(tasks, services, nodes, trunc=False, table=False):
            out(row["ID"])
        return
    fmt = args.format or TASK_TABLE
    from .template import is_table_format
    rows = task_rows(tasks, services, nodes, trunc=not args.no_trunc, table=fmt == "table" or is_table_format(fmt))
    render_rows(None if fmt == "table" else fmt, TASK_TABLE, rows, TASK_HEADERS)


# -- finding services ----------------------------------------------------------------------------------
async def find_service(docker: Docker, name: str) -> dict[str, Any]:
    """A service by ID, name or unique ID prefix (the engine decides, as docker's does)."""
    try:
        return await docker.services.inspect(name)
    except NotFound:
        raise NotFound(f"service {name} not found") from None


async def service_ids(docker: Docker, names: list[str]) -> tuple[list[str], list[str]]:
    """docker's ``service ps`` matching: full ID, full name, then a unique ID prefix; (ids, not-found lines)."""
    services = await docker.services.list()
    ids, missing = [], []
    for name in names:
        match = [s["ID"] for s in services if s["ID"] == name] or \
            [s["ID"] for s in services if s["Spec"]["Name"] == name]
        if not match:
            match = [s["ID"] for s in services if s["ID"].startswith(name)]
            if len(match) > 1:
                raise InvalidArgument(f"multiple services found with provided prefix: {name}")
        if match:
            ids.append(match[0])
        else:
            missing.append(f"no such service: {name}")
    return ids, missing


# -- waiting -------------------------------------------------------------------------------------------
class ProgressLines:
    """One line per service while waiting: redrawn in place on a terminal, printed when it changes otherwise."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.shown: list[str] = []

    def __call__(self, progress: list[Any]) -> None:
        lines = [p.line() for p in progress]
        if lines == self.shown:
            return
        if self.tty:
            if self.shown:
                self.stream.write(f"\x1b[{len(self.shown)}A")
            for line in lines:
                self.stream.write(f"\r\x1b[2K{line}\n")
        else:
            for line, old in zip(lines, self.shown + [""] * len(lines)):
                if line != old:
                    self.stream.write(line + "\n")
        self.stream.flush()
        self.shown = lines


async def follow(docker: Docker, ids: list[str], *, quiet: bool = False, timeout: float = 300.0,
                 known: set[str] | None = None) -> int:
    """Wait until the services converge; 1 (each failed task and why on stderr) if one cannot. ``known``:
    the tasks there were before the change (their failures are not this change's)."""
    from engine.client.stacks import wait_converged
    progress = await wait_converged(docker, ids, (lambda p: None) if quiet else ProgressLines(), timeout=timeout,
                                    known=known)
    failed = [p for p in progress if not p.converged]
    for p in failed:
        for line in p.failures[-5:]:
            sys.stderr.write(f"{line}\n")
        sys.stderr.write(f"{p.name}: {p.stopped or 'did not converge'}\n")
    if not failed and not quiet:
        out("verify: Service converged" if len(progress) == 1 else "verify: Services converged")
    return 1 if failed else 0


# -- flags into a spec ---------------------------------------------------------------------------------
def duration_ns(text: str, flag: str) -> int:
    from engine.client import parse_duration
    try:
        return int(round(parse_duration(text) * 1e9))
    except ValueError as exc:
        raise InvalidArgument(f'invalid argument "{text}" for "--{flag}" flag: {exc}') from None


def nano_cpus(text: str, flag: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise InvalidArgument(f'invalid argument "{text}" for "--{flag}" flag: failed to parse {text} as a '
                              f'rational number') from None
    if value < 0:
        raise InvalidArgument(f'invalid argument "{text}" for "--{flag}" flag: CPUs cannot be negative')
    return int(round(value * 1e9))


def memory_bytes(text: str, flag: str) -> int:
    from engine.client import ram_in_bytes
    try:
        return ram_in_bytes(text)
    except (ValueError, EngineError):
        raise InvalidArgument(f'invalid argument "{text}" for "--{flag}" flag: invalid size: \'{text}\'') from None


def uint(text: str | int, flag: str) -> int:
    try:
        value = int(text)
        if value < 0:
            raise ValueError
    except ValueError:
        raise InvalidArgument(f'invalid argument "{text}" for "--{flag}" flag: strconv.ParseUint: parsing '
                              f'"{text}": invalid syntax') from None
    return value


def csv_fields(text: str) -> dict[str, str]:
    import csv
    fields: dict[str, str] = {}
    for item in next(csv.reader([text])):
        key, eq, value = item.partition("=")
        fields[key.strip().lower()] = value if eq else ""
    return fields


def parse_port(text: str) -> list[dict[str, Any]]:
    """``--publish``: ``8080:80``, ``80``, ``8080:80/udp``, ranges, or ``published=8080,target=80,mode=host``."""
    if "=" in text:
        f = csv_fields(text)
        if "target" not in f:
            raise InvalidArgument(f"invalid argument \"{text}\" for \"-p, --publish\" flag: missing mandatory field "
                                  f"\"target\"")
        port: dict[str, Any] = {"Protocol": f.get("protocol") or "tcp", "TargetPort": uint(f["target"], "publish"),
                                "PublishMode": f.get("mode") or "ingress"}
        if f.get("published"):
            port["PublishedPort"] = uint(f["published"], "publish")
        if port["PublishMode"] not in ("ingress", "host"):
            raise InvalidArgument(f"invalid publish mode value ({port['PublishMode']}): must be either "
                                  f"\"ingress\" or \"host\"")
        return [port]
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    published, _, target = spec.rpartition(":")
    if ":" in published:  # ip:published:target: the address cannot be chosen for a service
        raise InvalidArgument(f"hostip is not supported: {text}")

    def rng(part: str) -> tuple[int, int]:
        a, _, b = part.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise InvalidArgument(f"invalid port: {text}") from None
        if not (0 < lo <= hi < 65536):
            raise InvalidArgument(f"invalid port: {text}")
        return lo, hi
    tlo, thi = rng(target)
    if published:
        plo, phi = rng(published)
        if phi - plo != thi - tlo:
            raise InvalidArgument(f"invalid ranges specified for container and host Ports: {text}")
    else:
        plo = phi = 0
    out_ = []
    for i in range(thi - tlo + 1):
        p: dict[str, Any] = {"Protocol": proto, "TargetPort": tlo + i, "PublishMode": "ingress"}
        if published:
            p["PublishedPort"] = plo + i
        out_.append(p)
    return out_


def parse_mount(text: str) -> dict[str, Any]:
    f = csv_fields(text)
    kind = f.pop("type", "volume")
    mount: dict[str, Any] = {"Type": kind}
    for key, value in f.items():
        if key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = value.lower() not in ("0", "false")
        elif key == "bind-propagation":
            mount.setdefault("BindOptions", {})["Propagation"] = value
        elif key == "volume-nocopy":
            mount.setdefault("VolumeOptions", {})["NoCopy"] = value.lower() not in ("0", "false")
        elif key == "volume-label":
            k, _, v = value.partition("=")
            mount.setdefault("VolumeOptions", {}).setdefault("Labels", {})[k] = v
        elif key == "tmpfs-size":
            mount.setdefault("TmpfsOptions", {})["SizeBytes"] = memory_bytes(value, "mount")
        elif key == "tmpfs-mode":
            mount.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
        else:
            raise InvalidArgument(f"invalid argument \"{text}\" for \"--mount\" flag: unexpected key '{key}' in '{text}'")
    if not mount.get("Target"):
        raise InvalidArgument(f"invalid argument \"{text}\" for \"--mount\" flag: target is required")
    if kind == "bind" and not mount.get("Source"):
        raise InvalidArgument('invalid mount config for type "bind": field Source must not be empty')
    return mount


def parse_network(text: str) -> dict[str, Any]:
    if "=" not in text:
        return {"Target": text}
    f = csv_fields(text)
    net: dict[str, Any] = {"Target": f.get("name") or f.get("target", "")}
    if f.get("alias"):
        net["Aliases"] = [f["alias"]]
    return net


async def parse_refs(docker: Docker, items: list[str], kind: str) -> list[dict[str, Any]]:
    """``--secret``/``--config``: ``NAME`` or ``source=NAME,target=PATH,uid=,gid=,mode=``, IDs looked up."""
    collection = docker.secrets if kind == "secret" else docker.configs
    known = {o["Spec"]["Name"]: o["ID"] for o in await collection.list()} if items else {}
    refs = []
    for item in items:
        f = csv_fields(item) if "=" in item else {"source": item}
        source = f.get("source") or f.get("src", "")
        if source not in known:
            raise NotFound(f"{kind} not found: {source}")
        target = f.get("target") or f.get("dst") or source
        file = {"Name": target, "UID": f.get("uid", "0"), "GID": f.get("gid", "0"),
                "Mode": int(f.get("mode", "0444"), 8)}
        key = "SecretName" if kind == "secret" else "ConfigName"
        refs.append({"File": file, f"{kind.capitalize()}ID": known[source], key: source})
    return refs


def env_key(item: str) -> str:
    return item.partition("=")[0]


def labels_of(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def health_from(args: Any, current: dict[str, Any] | None) -> dict[str, Any] | None:
    given = [f for f in ("health_cmd", "health_interval", "health_timeout", "health_retries", "health_start_period",
                         "health_start_interval") if getattr(args, f, None) is not None]
    if args.no_healthcheck:
        if given:
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return current
    hc = dict(current or {})
    if args.health_cmd is not None:
        hc["Test"] = ["CMD-SHELL", args.health_cmd] if args.health_cmd else []
    for flag, key in (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                      ("health_start_period", "StartPeriod"), ("health_start_interval", "StartInterval")):
        if getattr(args, flag) is not None:
            hc[key] = duration_ns(getattr(args, flag), flag.replace("_", "-"))
    if args.health_retries is not None:
        hc["Retries"] = args.health_retries
    return hc


def apply_common(spec: dict[str, Any], args: Any) -> None:
    """The flags ``create`` and ``update`` share: resources, restart, update/rollback config, health, container."""
    template = spec.setdefault("TaskTemplate", {})
    cs = template.setdefault("ContainerSpec", {})
    res = template.setdefault("Resources", {})
    for flag, part, key, conv in (("limit_cpu", "Limits", "NanoCPUs", nano_cpus),
                                  ("limit_memory", "Limits", "MemoryBytes", memory_bytes),
                                  ("reserve_cpu", "Reservations", "NanoCPUs", nano_cpus),
                                  ("reserve_memory", "Reservations", "MemoryBytes", memory_bytes)):
        value = getattr(args, flag)
        if value is not None:
            res.setdefault(part, {})[key] = conv(value, flag.replace("_", "-"))
    if args.limit_pids is not None:
        res.setdefault("Limits", {})["Pids"] = args.limit_pids
    if args.restart_condition is not None:
        if args.restart_condition not in ("none", "on-failure", "any"):
            raise InvalidArgument(f'invalid argument "{args.restart_condition}" for "--restart-condition" flag: '
                                  f'invalid RestartCondition: {args.restart_condition}')
        template.setdefault("RestartPolicy", {})["Condition"] = args.restart_condition
    if args.restart_delay is not None:
        template.setdefault("RestartPolicy", {})["Delay"] = duration_ns(args.restart_delay, "restart-delay")
    if args.restart_max_attempts is not None:
        template.setdefault("RestartPolicy", {})["MaxAttempts"] = uint(args.restart_max_attempts,
                                                                       "restart-max-attempts")
    if args.restart_window is not None:
        template.setdefault("RestartPolicy", {})["Window"] = duration_ns(args.restart_window, "restart-window")
    for which, key in (("update", "UpdateConfig"), ("rollback", "RollbackConfig")):
        cfg = spec.get(key) or {}
        changed = False
        for flag, field, conv in (("parallelism", "Parallelism", uint), ("delay", "Delay", duration_ns),
                                  ("monitor", "Monitor", duration_ns)):
            value = getattr(args, f"{which}_{flag}")
            if value is not None:
                cfg[field], changed = conv(value, f"{which}-{flag}"), True
        action = getattr(args, f"{which}_failure_action")
        if action is not None:
            allowed = ("pause", "continue", "rollback") if which == "update" else ("pause", "continue")
            if action not in allowed:
                raise InvalidArgument(f'invalid argument "{action}" for "--{which}-failure-action" flag: must be '
                                      + " or ".join(f'"{a}"' for a in allowed))
            cfg["FailureAction"], changed = action, True
        ratio = getattr(args, f"{which}_max_failure_ratio")
        if ratio is not None:
            cfg["MaxFailureRatio"], changed = ratio, True
        order = getattr(args, f"{which}_order")
        if order is not None:
            if order not in ("start-first", "stop-first"):
                raise InvalidArgument(f'invalid argument "{order}" for "--{which}-order" flag: must be '
                                      f'"start-first" or "stop-first"')
            cfg["Order"], changed = order, True
        if changed:
            cfg.setdefault("Parallelism", 1)
            cfg.setdefault("FailureAction", "pause")
            cfg.setdefault("Order", "stop-first")
            spec[key] = cfg
    hc = health_from(args, cs.get("Healthcheck"))
    if hc is not None:
        cs["Healthcheck"] = hc
    for flag, key in (("workdir", "Dir"), ("user", "User"), ("hostname", "Hostname"), ("stop_signal", "StopSignal")):
        if getattr(args, flag) is not None:
            cs[key] = getattr(args, flag)
    if args.stop_grace_period is not None:
        cs["StopGracePeriod"] = duration_ns(args.stop_grace_period, "stop-grace-period")
    if args.init:
        cs["Init"] = True
    if args.read_only:
        cs["ReadOnly"] = True
    if args.tty:
        cs["TTY"] = True
    if args.entrypoint is not None:
        import shlex
        cs["Command"] = shlex.split(args.entrypoint)
    if args.endpoint_mode is not None:
        if args.endpoint_mode not in ("vip", "dnsrr"):
            raise InvalidArgument(f'invalid argument "{args.endpoint_mode}" for "--endpoint-mode" flag')
        spec.setdefault("EndpointSpec", {})["Mode"] = args.endpoint_mode


def read_env_files(paths: list[str]) -> list[str]:
    env = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                env += [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]
        except OSError as exc:
            raise InvalidArgument(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    return env


async def spec_from_create(docker: Docker, args: Any) -> dict[str, Any]:
    cs: dict[str, Any] = {"Image": args.image}
    if args.command:
        cs["Args"] = args.command
    env = read_env_files(args.env_file) + args.env
    if env:
        cs["Env"] = env
    if args.container_label:
        cs["Labels"] = labels_of(args.container_label)
    if args.mount:
        cs["Mounts"] = [parse_mount(m) for m in args.mount]
    if args.secret:
        cs["Secrets"] = await parse_refs(docker, args.secret, "secret")
    if args.config:
        cs["Configs"] = await parse_refs(docker, args.config, "config")
    template: dict[str, Any] = {"ContainerSpec": cs, "ForceUpdate": 0}
    if args.constraint:
        template["Placement"] = {"Constraints": args.constraint}
    if args.network:
        template["Networks"] = [parse_network(n) for n in args.network]
    spec: dict[str, Any] = {"Name": args.name or "", "Labels": labels_of(args.label), "TaskTemplate": template}
    if args.mode not in ("replicated", "global", "replicated-job", "global-job"):
        raise InvalidArgument(f"Unknown mode: {args.mode}, only replicated and global supported")
    if args.max_concurrent is not None and args.mode != "replicated-job":
        raise InvalidArgument("max-concurrent can only be used with replicated-job mode")
    if args.replicas is not None and args.mode.startswith("global"):
        raise InvalidArgument("replicas can only be used with replicated or replicated-job mode")
    if args.mode == "global":
        spec["Mode"] = {"Global": {}}
    elif args.mode == "global-job":
        spec["Mode"] = {"GlobalJob": {}}
    elif args.mode == "replicated-job":  # docker's: --replicas completions, --max-concurrent at a time
        total = uint(args.replicas, "replicas") if args.replicas is not None else None
        concurrent = uint(args.max_concurrent, "max-concurrent") if args.max_concurrent is not None else total or 1
        job = {"MaxConcurrent": concurrent, "TotalCompletions": concurrent if total is None else total}
        spec["Mode"] = {"ReplicatedJob": job}
    else:
        spec["Mode"] = {"Replicated": {"Replicas": uint(args.replicas if args.replicas is not None else 1,
                                                        "replicas")}}
    ports = [p for item in args.publish for p in parse_port(item)]
    if ports:
        spec["EndpointSpec"] = {"Mode": "vip", "Ports": ports}
    apply_common(spec, args)
    if args.mode.endswith("-job"):  # a job runs to completion: restarted only when a task fails
        template.setdefault("RestartPolicy", {}).setdefault("Condition", "on-failure")
    return spec


async def spec_from_update(docker: Docker, args: Any, spec: dict[str, Any]) -> dict[str, Any]:
    spec = json.loads(json.dumps(spec))
    template = spec.setdefault("TaskTemplate", {})
    cs = template.setdefault("ContainerSpec", {})
    if args.image:
        cs["Image"] = args.image
    if args.args is not None:
        import shlex
        cs["Args"] = shlex.split(args.args)
    if args.env_add or args.env_rm:
        env = [e for e in cs.get("Env") or [] if env_key(e) not in {env_key(x) for x in args.env_rm + args.env_add}]
        cs["Env"] = env + args.env_add
    for flag_add, flag_rm, where, key in (("label_add", "label_rm", spec, "Labels"),
                                          ("container_label_add", "container_label_rm", cs, "Labels")):
        add, rm = getattr(args, flag_add), getattr(args, flag_rm)
        if add or rm:
            labels = {k: v for k, v in (where.get(key) or {}).items() if k not in rm}
            labels.update(labels_of(add))
            where[key] = labels
    if args.constraint_add or args.constraint_rm:
        placement = template.setdefault("Placement", {})
        cons = [c for c in placement.get("Constraints") or [] if c not in args.constraint_rm]
        placement["Constraints"] = cons + [c for c in args.constraint_add if c not in cons]
    if args.mount_add or args.mount_rm:
        new = [parse_mount(m) for m in args.mount_add]
        targets = {m["Target"] for m in new} | set(args.mount_rm)
        cs["Mounts"] = [m for m in cs.get("Mounts") or [] if m.get("Target") not in targets] + new
    if args.network_add or args.network_rm:
        nets = [n for n in template.get("Networks") or [] if n.get("Target") not in args.network_rm]
        for item in args.network_add:
            net = parse_network(item)
            if any(n.get("Target") == net["Target"] for n in nets):
                raise InvalidArgument(f"service is already attached to network {net['Target']}")
            nets.append(net)
        template["Networks"] = nets
    if args.publish_add or args.publish_rm:
        ep = spec.setdefault("EndpointSpec", {"Mode": "vip"})
        new = [p for item in args.publish_add for p in parse_port(item)]
        gone = set()
        for item in args.publish_rm:
            for p in parse_port(item):
                gone.add((p["TargetPort"], p["Protocol"]))
        keep = [p for p in ep.get("Ports") or [] if (p.get("TargetPort"), p.get("Protocol") or "tcp") not in gone
                and (p.get("PublishedPort"), p.get("Protocol") or "tcp") not in
                {(n.get("PublishedPort"), n["Protocol"]) for n in new}]
        ep["Ports"] = keep + new
    for kind in ("secret", "config"):
        add, rm = getattr(args, f"{kind}_add"), getattr(args, f"{kind}_rm")
        if add or rm:
            key, name_key = f"{kind.capitalize()}s", f"{kind.capitalize()}Name"
            new = await parse_refs(docker, add, kind)
            names = set(rm) | {r[name_key] for r in new}
            cs[key] = [r for r in cs.get(key) or [] if r.get(name_key) not in names] + new
    if args.replicas is not None:
        mode = spec.get("Mode") or {}
        if "Replicated" not in mode:
            raise InvalidArgument("replicas can only be used with replicated mode")
        mode["Replicated"]["Replicas"] = uint(args.replicas, "replicas")
    if args.force:
        template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
    apply_common(spec, args)
    return spec


# -- the commands --------------------------------------------------------------------------------------
async def _pin(docker: Docker, spec: dict[str, Any], auth: dict[str, Any] | None) -> None:
    from engine.client.services import pin_image
    note = await pin_image(docker, spec.setdefault("TaskTemplate", {}), auth)
    if note:
        sys.stderr.write(f"{note}\n")


async def cmd_service_create(docker: Docker, args: Any) -> int:
    spec = await spec_from_create(docker, args)
    from engine.client import registry_auth_for
    auth = registry_auth_for(args.image) if args.with_registry_auth else None
    if not args.no_resolve_image:  # docker's: the image pinned to its registry's digest
        await _pin(docker, spec, auth)
    answer = await docker.services.create(spec, auth=auth)
    for w in answer.get("Warnings") or []:
        sys.stderr.write(f"{w}\n")
    out(answer["ID"])
    if args.detach:
        return 0
    return await follow(docker, [answer["ID"]], quiet=args.quiet)


async def cmd_service_update(docker: Docker, args: Any) -> int:
    from engine.client.stacks import task_ids
    service = await find_service(docker, args.service)
    known = await task_ids(docker, [service["ID"]])
    if args.rollback:
        answer = await docker.services.update(service["ID"], service["Version"]["Index"], service["Spec"],
                                              rollback="previous")
    else:
        spec = await spec_from_update(docker, args, service["Spec"])
        from engine.client import registry_auth_for
        auth = registry_auth_for(spec["TaskTemplate"]["ContainerSpec"].get("Image", "")) \
            if args.with_registry_auth else None
        if args.image and not args.no_resolve_image:
            await _pin(docker, spec, auth)
        answer = await docker.services.update(service["ID"], service["Version"]["Index"], spec, auth=auth)
    for w in answer.get("Warnings") or []:
        sys.stderr.write(f"{w}\n")
    out(args.service)
    if args.detach:
        return 0
    return await follow(docker, [service["ID"]], quiet=args.quiet, known=known)


async def cmd_service_rollback(docker: Docker, args: Any) -> int:
    from engine.client.stacks import task_ids
    service = await find_service(docker, args.service)
    known = await task_ids(docker, [service["ID"]])
    answer = await docker.services.update(service["ID"], service["Version"]["Index"], service["Spec"],
                                          rollback="previous")
    for w in answer.get("Warnings") or []:
        sys.stderr.write(f"{w}\n")
    out(args.service)
    if args.detach:
        return 0
    return await follow(docker, [service["ID"]], quiet=args.quiet, known=known)


async def cmd_service_scale(docker: Docker, args: Any) -> int:
    from engine.client.stacks import task_ids
    errors, scaled = [], []
    known: set[str] = set()
    for item in args.pairs:
        name, eq, count = item.partition("=")
        if not eq:
            raise InvalidArgument(f"invalid scale specifier '{item}'.\nSee '{_prog()} service scale --help'.\n\n"
                                  f"Usage:  {_prog()} service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]")
        if not count.isdigit():
            errors.append(f"{name}: invalid replicas value {count}: strconv.ParseUint: parsing \"{count}\": "
                          f"invalid syntax")
            continue
        try:
            service = await find_service(docker, name)
            mode = service["Spec"].get("Mode") or {}
            if "Replicated" in mode:
                mode["Replicated"]["Replicas"] = int(count)
            elif "ReplicatedJob" in mode:  # (docker's: the completions)
                mode["ReplicatedJob"]["TotalCompletions"] = int(count)
            else:
                raise InvalidArgument("scale can only be used with replicated or replicated-job mode")
            known |= await task_ids(docker, [service["ID"]])
            answer = await docker.services.update(service["ID"], service["Version"]["Index"], service["Spec"])
        except EngineError as exc:
            errors.append(f"{name}: {exc}")
            continue
        for w in answer.get("Warnings") or []:
            sys.stderr.write(f"{w}\n")
        out(f"{name} scaled to {int(count)}")
        scaled.append(service["ID"])
    code = 0
    if scaled and not args.detach:
        code = await follow(docker, scaled, known=known)
    for line in errors:
        sys.stderr.write(f"{line}\n")
    return 1 if errors else code


def _prog() -> str:
    from .parser import PROG
    return PROG


async def cmd_service_ls(docker: Docker, args: Any) -> int:
    services = await docker.services.list(filters=parse_filters(args.filter), status=not args.quiet)
    if args.quiet:
        for s in services:
            out(s["ID"])
        return 0
    render_rows(args.format, SERVICE_TABLE, service_rows(services), SERVICE_HEADERS)
    return 0


async def cmd_service_ps(docker: Docker, args: Any) -> int:
    ids, missing = await service_ids(docker, args.services)
    if not ids:
        raise NotFound("\n".join(missing))
    filters = parse_filters(args.filter)
    filters["service"] = ids
    tasks = await docker.tasks.list(filters=filters)
    if args.quiet:
        args.no_trunc = True
    await print_tasks(docker, tasks, args)
    if missing:
        sys.stderr.write("\n".join(missing) + "\n")
        return 1
    return 0


async def cmd_service_inspect(docker: Docker, args: Any) -> int:
    results, failed = [], False
    for name in args.names:
        try:
            results.append(await docker.services.inspect(name, insert_defaults=args.pretty))
        except NotFound:
            sys.stderr.write(f"Error: no such service: {name}\n")
            failed = True
    if args.pretty:
        for s in results:
            names = {}
            for net in (s.get("Spec") or {}).get("TaskTemplate", {}).get("Networks") or []:
                try:
                    names[net["Target"]] = (await docker.networks.get(net["Target"]))._info.get("Name", net["Target"])
                except EngineError:
                    pass
            sys.stdout.write(pretty_service(s, names) + "\n")
    elif args.format:
        for s in results:
            out(render_one(args.format, s))
    else:
        out(json.dumps(results, indent=4, ensure_ascii=False))
    return 1 if failed else 0


def _dur(ns: int | None) -> str:
    """Go's time.Duration String() for whole seconds and the common cases."""
    if not ns:
        return "0s"
    s = ns / 1e9
    if s < 1:
        return f"{ns / 1e6:g}ms"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    text = (f"{int(h)}h" if h else "") + (f"{int(m)}m" if h or m else "") + f"{sec:g}s"
    return text


def _ago(stamp: str) -> str:
    from engine.client import human_duration, parse_rfc3339
    return human_duration(max(0.0, time.time() - parse_rfc3339(stamp))) + " ago"


def pretty_service(s: dict[str, Any], network_names: dict[str, str] | None = None) -> str:
    """docker's ``service inspect --pretty`` (the parts a single node has)."""
    spec = s.get("Spec") or {}
    t = spec.get("TaskTemplate") or {}
    cs = t.get("ContainerSpec") or {}
    lines = [f"\nID:\t\t{s['ID']}", f"Name:\t\t{spec.get('Name', '')}"]
    if spec.get("Labels"):
        lines.append("Labels:")
        lines += [f" {k}={v}" for k, v in spec["Labels"].items()]
    mode = mode_of(spec)
    lines.append(f"Service Mode:\t{mode[:1].upper() + mode[1:]}")
    if "Replicated" in (spec.get("Mode") or {}):
        lines.append(f" Replicas:\t{spec['Mode']['Replicated'].get('Replicas', 1)}")
    us = s.get("UpdateStatus")
    if us:
        lines += ["UpdateStatus:", f" State:\t\t{us.get('State', '')}"]
        if us.get("StartedAt"):
            lines.append(f" Started:\t{_ago(us['StartedAt'])}")
        if us.get("CompletedAt") and us.get("State") == "completed":
            lines.append(f" Completed:\t{_ago(us['CompletedAt'])}")
        lines.append(f" Message:\t{us.get('Message', '')}")
    placement = t.get("Placement") or {}
    lines.append("Placement:")
    if placement.get("Constraints"):
        lines.append(f" Constraints:\t{placement['Constraints']}")
    for key, title in (("UpdateConfig", "UpdateConfig"), ("RollbackConfig", "RollbackConfig")):
        cfg = spec.get(key)
        if cfg:
            lines += [f"{title}:", f" Parallelism:\t{cfg.get('Parallelism', 0)}"]
            if cfg.get("Delay"):
                lines.append(f" Delay:\t\t{_dur(cfg['Delay'])}")
            lines.append(f" On failure:\t{cfg.get('FailureAction', 'pause')}")
            lines.append(f" Monitoring Period: {_dur(cfg.get('Monitor'))}")
            lines.append(f" Max failure ratio: {cfg.get('MaxFailureRatio', 0)}")
            lines.append(f" Update order:      {cfg.get('Order', 'stop-first')}" if key == "UpdateConfig" else
                         f" Rollback order:    {cfg.get('Order', 'stop-first')}")
    lines += ["ContainerSpec:", f" Image:\t\t{cs.get('Image', '')}"]
    if cs.get("Args"):
        lines.append(f" Args:\t\t{' '.join(cs['Args'])} ")
    if cs.get("Env"):
        lines.append(f" Env:\t\t{' '.join(cs['Env'])}")
    if cs.get("Dir"):
        lines.append(f" Dir:\t\t{cs['Dir']}")
    if cs.get("User"):
        lines.append(f" User:\t\t{cs['User']}")
    if cs.get("Init"):
        lines.append(" Init:\t\ttrue")
    if cs.get("Mounts"):
        lines.append("Mounts:")
        for m in cs["Mounts"]:
            lines += [f" Target:\t{m.get('Target', '')}", f"  Source:\t{m.get('Source', '')}",
                      f"  ReadOnly:\t{str(bool(m.get('ReadOnly'))).lower()}", f"  Type:\t\t{m.get('Type', '')}"]
    res = t.get("Resources")
    if res is not None:
        lines.append("Resources:")
        for part, title in (("Reservations", "Reservations"), ("Limits", "Limits")):
            r = res.get(part) or {}
            if r:
                lines.append(f" {title}:")
                if r.get("NanoCPUs"):
                    lines.append(f"  CPU:\t\t{r['NanoCPUs'] / 1e9:g}")
                if r.get("MemoryBytes"):
                    from engine.client import bytes_size
                    lines.append(f"  Memory:\t{bytes_size(r['MemoryBytes'])}")
                if r.get("Pids"):
                    lines.append(f"  PIDs:\t\t{r['Pids']}")
    if t.get("Networks"):
        names = network_names or {}
        lines.append("Networks:" + "".join(f" {names.get(n.get('Target', ''), n.get('Target', ''))}"
                                           for n in t["Networks"]) + " ")
    ep = spec.get("EndpointSpec") or {}
    lines.append(f"Endpoint Mode:\t{ep.get('Mode', 'vip')}")
    ports = (s.get("Endpoint") or {}).get("Ports") or ep.get("Ports") or []
    if ports:
        lines.append("Ports:")
        for p in ports:
            lines.append(f" PublishedPort = {p.get('PublishedPort', 0)}\n  Protocol = {p.get('Protocol', 'tcp')}\n"
                         f"  TargetPort = {p.get('TargetPort', 0)}\n  PublishMode = {p.get('PublishMode', 'ingress')} ")
    hc = cs.get("Healthcheck")
    if hc:
        lines.append("Healthcheck:")
        lines.append(f" Interval = {_dur(hc.get('Interval'))}\n Retries = {hc.get('Retries', 0)}\n"
                     f" StartPeriod = {_dur(hc.get('StartPeriod'))}\n Timeout = {_dur(hc.get('Timeout'))}")
        if hc.get("Test"):
            lines.append(" Tests:")
            lines += [f"\t Test = {x}" for x in hc["Test"]]
    return "\n".join(lines) + "\n"


async def cmd_service_rm(docker: Docker, args: Any) -> int:
    failed = False
    for name in args.names:
        try:
            service = await find_service(docker, name)
            await docker.services.delete(service["ID"])
            out(name)
        except EngineError as exc:
            sys.stderr.write(f"{exc}\n")
            failed = True
    return 1 if failed else 0


async def cmd_service_logs(docker: Docker, args: Any) -> int:
    """Every replica's log merged, each line tagged ``<service>.<slot>.<task id>@<node>    | ``."""
    ident = args.service
    task_mode = False
    try:
        service = await find_service(docker, ident)
        stream = docker.services.logs(service["ID"], follow=args.follow, tail=args.tail, timestamps=args.timestamps,
                                      since=args.since or None, details=True)
    except NotFound:
        task = await docker.tasks.inspect(ident)
        task_mode = True
        service = await docker.services.inspect(task["ServiceID"])
        stream = docker.tasks.logs(task["ID"], follow=args.follow, tail=args.tail, timestamps=args.timestamps,
                                   since=args.since or None, details=True)
    name = service["Spec"]["Name"]
    nodes: dict[str, str] = {}
    if not args.no_resolve:
        try:
            nodes = {n["ID"]: (n.get("Description") or {}).get("Hostname", n["ID"]) for n in await docker.nodes.list()}
        except EngineError:
            pass
    tasks: dict[str, dict[str, Any]] = {}
    width = 0
    async for kind, line in stream:
        text = line.decode(errors="replace")
        stamp = ""
        if args.timestamps:
            stamp, _, text = text.partition(" ")
        attrs_text, _, msg = text.partition(" ")
        attrs = {k: v for k, _, v in (a.partition("=") for a in attrs_text.split(",") if a)}
        task_id = attrs.get("com.docker.swarm.task.id", "")
        if "com.docker.swarm.task.id" not in attrs:
            msg, attrs = text, {}
        if task_id and task_id not in tasks:
            try:
                tasks[task_id] = await docker.tasks.inspect(task_id)
            except EngineError:
                tasks[task_id] = {}
        task = tasks.get(task_id) or {}
        slot = task.get("Slot") or task.get("NodeID", "")
        node_id = attrs.get("com.docker.swarm.node.id", task.get("NodeID", ""))
        if args.no_resolve:
            prefix = f"{service['ID']}.{slot}.{task_id}@{node_id}"
        else:
            prefix = f"{name}.{slot}.{task_id if args.no_trunc else task_id[:12]}@{nodes.get(node_id, node_id)}"
        if task_mode and args.raw:
            prefix = ""
        width = max(width, len(prefix))
        parts = []
        if not args.no_task_ids and not args.raw:
            parts.append(prefix.ljust(width) + "    | ")
        if stamp:
            parts.append(stamp + " ")
        if args.details:
            extra = ",".join(f"{k}={v}" for k, v in attrs.items() if not k.startswith("com.docker.swarm."))
            if extra:
                parts.append(extra + " ")
        target = sys.stderr if kind == "stderr" else sys.stdout
        target.write("".join(parts) + msg)
        target.flush()
    return 0
