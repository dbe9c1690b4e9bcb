"""Stacks: a compose file deployed as services, networks, secrets and configs that share a namespace.

As docker's CLI does, the client does the work: :mod:`engine.compose` turns the files into a plan
(loaded, interpolated, validated, converted) and the plan is carried out through the client's
collections only, so a deploy works the same against Portside's own manager and against any Docker
swarm manager behind ``-H``. Everything a stack owns carries the label
``com.docker.stack.namespace=<stack>`` and is named ``<stack>_<name>``.

Beyond docker, :func:`deploy` checks what it can before it creates anything and takes back what it
made when a step fails (no half-made stack), updates only the services whose spec changed, and
:func:`wait_converged` follows the services until every replica runs (or a one-shot task completed),
saying which task failed and why.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Mapping
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

    from . import Docker

from ..errors import EngineError, InvalidArgument, NotFound

LABEL_NAMESPACE = "com.docker.stack.namespace"
LABEL_IMAGE = "com.docker.stack.image"
NOT_A_MANAGER = ('this node is not a swarm manager. Use "portside swarm init" or "portside swarm join" to '
                 'connect this node to swarm and try again')
RESOLVE_IMAGE = ("always", "changed", "never")
#: task states after which a task no longer runs (docker's, swarmkit's order)
ENDED = ("complete", "shutdown", "failed", "rejected", "orphaned", "remove")
FAILED = ("failed", "rejected")


class StackError(InvalidArgument):
    """What the client itself found wrong before asking the manager (docker's CLI prints these bare)."""


def namespace_filter(namespace: str) -> dict[str, builtins.list[str]]:
    return {"label": [f"{LABEL_NAMESPACE}={namespace}"]}


def scoped(namespace: str, name: str) -> str:
    return f"{namespace}_{name}"


async def require_manager(docker: Docker) -> None:
    """docker's check before a deploy: the endpoint must be a swarm manager."""
    info = await docker.system.info()
    swarm = info.get("Swarm") if isinstance(info, dict) else None
    if isinstance(swarm, dict) and "ControlAvailable" in swarm:
        if not swarm.get("ControlAvailable"):
            raise StackError(NOT_A_MANAGER)
        return
    try:
        await docker.swarm.inspect()
    except EngineError as exc:
        if exc.status in (404, 406, 503):
            raise StackError(NOT_A_MANAGER) from None
        raise


# -- specs ---------------------------------------------------------------------------------------------
#: what a manager may fill in that a spec without the key means anyway (docker's defaults)
_DEFAULTS = {("Isolation", "default"), ("ForceUpdate", 0), ("Runtime", "container"),
             ("StopGracePeriod", 10_000_000_000), ("Condition", "any"), ("Delay", 5_000_000_000),
             ("MaxAttempts", 0), ("Mode", "vip"), ("Parallelism", 1), ("FailureAction", "pause"),
             ("Monitor", 5_000_000_000), ("Order", "stop-first"), ("Protocol", "tcp"), ("PublishMode", "ingress")}


def normalized(value: Any) -> Any:
    """A spec without its empty values and the defaults a manager fills in, for comparing two specs."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = normalized(v)
            if v in (None, "", 0, False, {}, []) or (isinstance(v, (str, int)) and (k, v) in _DEFAULTS):
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def spec_differs(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Would sending ``wanted`` change the service whose spec is ``current``?"""
    return bool(normalized(dict(current)) != normalized(dict(wanted)))


# -- the plan ------------------------------------------------------------------------------------------
def _part(plan: Any, name: str) -> Any:
    value = plan.get(name) if isinstance(plan, dict) else getattr(plan, name, None)
    return value if value is not None else {}


def load_plan(files: builtins.list[str], namespace: str, env: Mapping[str, str] | None = None) -> tuple[Any, builtins.list[str]]:
    """The compose files as a stack plan (:func:`engine.compose.convert`) and the loader's warnings.

    Raises InvalidArgument (one line naming the file, the key or the problem)."""
    if not files:
        raise StackError("Please specify a Compose file (with --compose-file).")
    check_namespace(namespace)
    from .. import compose  # type: ignore[attr-defined,unused-ignore]
    project = compose.load(files, env=env)
    warnings = list(compose.validate(project) or [])
    return compose.convert(project, namespace), warnings


def check_namespace(namespace: str) -> None:
    """docker's rule for a stack name."""
    import re
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", namespace or ""):
        raise StackError(f"invalid stack name: {namespace!r}")
    if len(namespace) > 63:
        raise StackError(f"invalid stack name: {namespace!r} is longer than 63 characters")


def _published(spec: Mapping[str, Any]) -> builtins.list[tuple[int, str]]:
    ports = ((spec.get("EndpointSpec") or {}).get("Ports")) or []
    return [(int(p["PublishedPort"]), str(p.get("Protocol") or "tcp")) for p in ports if p.get("PublishedPort")]


async def check_plan(docker: Docker, namespace: str, plan: Any,
                     existing: Mapping[str, dict[str, Any]]) -> None:
    """What can be checked before anything changes: external networks, published ports (taken by
    another service, twice in the plan, or — on this host's own engine — by any socket)."""
    for name in _part(plan, "external_networks") or []:
        try:
            net = await (await docker.networks.get(name)).show()
        except NotFound:
            raise StackError(f'network "{name}" is declared as external, but could not be found. You need '
                             f'to create a swarm-scoped network before the stack is deployed') from None
        if net.get("Scope") not in ("swarm", None):
            raise StackError(f'network "{name}" is declared as external, but it is not in the right scope: '
                             f'"{net.get("Scope")}" instead of "swarm"')
    present = await object_ids(docker)
    for kind in ("secret", "config"):
        for name in _part(plan, f"external_{kind}s") or []:
            if (kind, name) not in present:
                raise StackError(f"{kind} not found: {name}")
    taken: dict[tuple[int, str], str] = {}
    for svc in await docker.services.list():
        if svc.get("Spec", {}).get("Name") in _part(plan, "services"):
            continue  # redeployed: its ports move with it
        for p in ((svc.get("Endpoint") or {}).get("Ports") or []):
            if p.get("PublishedPort"):
                taken[(int(p["PublishedPort"]), str(p.get("Protocol") or "tcp"))] = svc["Spec"]["Name"]
    mine: dict[tuple[int, str], str] = {}
    local = getattr(docker.transport, "kind", "") in ("embedded", "daemon")
    for name, spec in _part(plan, "services").items():
        for port in _published(spec):
            label = f"{port[0]}/{port[1]}"
            if port in mine:
                raise StackError(f"port {label} is published by both {mine[port]} and {name}")
            if port in taken:
                raise StackError(f"port '{port[0]}' is already in use by service '{taken[port]}'")
            mine[port] = name
            if local and name not in existing and not _port_free(*port):
                raise StackError(f"port {label} is already in use on this host; {name} cannot publish it")


def _port_free(port: int, proto: str) -> bool:
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# -- deploy --------------------------------------------------------------------------------------------
Say = Callable[[str], None]


async def stack_services(docker: Docker, namespace: str, *, status: bool = False,
                         filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
    f = dict(filters or {})
    f["label"] = list(f.get("label", [])) + namespace_filter(namespace)["label"]
    return await docker.services.list(filters=f, status=status)


async def deploy(docker: Docker, namespace: str, plan: Any, *, prune: bool = False, resolve_image: str = "always",
                 auth_for: Callable[[str], dict[str, Any] | None] | None = None, say: Say = print,
                 warn: Say = print) -> builtins.list[str]:
    """Carry out a stack plan; the IDs of the services created or updated (unchanged ones are left alone).

    docker's order and lines: networks ("Creating network …"), secrets, configs, then services
    ("Creating service …" / "Updating service … (id: …)"); ``prune`` removes the namespace's services
    the plan no longer names. When a step fails, what this deploy created is removed again."""
    if resolve_image not in RESOLVE_IMAGE:
        raise StackError(f'Invalid option {resolve_image} for flag --resolve-image')
    await require_manager(docker)
    services: dict[str, dict[str, Any]] = dict(_part(plan, "services"))
    existing = {s["Spec"]["Name"]: s for s in await stack_services(docker, namespace)}
    await check_plan(docker, namespace, plan, existing)
    made_here: builtins.list[tuple[str, str]] = []  # (kind, id) of what this deploy created, to take back
    try:
        if prune:
            for name, svc in sorted(existing.items()):
                if name not in services:
                    say(f"Removing service {name}")
                    await docker.services.delete(svc["ID"])
        networks = await docker.networks.list(filters=namespace_filter(namespace))
        have = {n["Name"] for n in networks}
        for name, body in sorted(_part(plan, "networks").items()):
            if name in have:
                continue
            body = dict(body)
            body.setdefault("Driver", "overlay")
            body["Name"] = name
            say(f"Creating network {name}")
            net = await docker.networks.create(body)
            made_here.append(("network", net.id))
        for kind in ("secrets", "configs"):
            collection = docker.secrets if kind == "secrets" else docker.configs
            for name, spec in sorted(_part(plan, kind).items()):
                spec = dict(spec)
                spec["Name"] = name
                try:
                    present = await collection.inspect(name)
                except NotFound:
                    say(f"Creating {kind[:-1]} {name}")
                    made = await collection.create(spec)
                    made_here.append((kind, made["ID"]))
                    continue
                if spec_differs(present.get("Spec") or {}, spec):
                    await collection.update(present["ID"], present["Version"]["Index"], spec)
        refs = await object_ids(docker)
        network_ids = {n["Name"]: n["Id"] for n in await docker.networks.list()}
        ids: builtins.list[str] = []
        for name, spec in sorted(services.items()):
            spec = fill_references(json_copy(spec), refs)
            spec["Name"] = name
            image = spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", "")
            auth: dict[str, Any] | None = auth_for(image) if auth_for else None
            current = existing.get(name)
            was_image = ((current or {}).get("Spec") or {}).get("Labels", {}).get(LABEL_IMAGE)
            if resolve_image == "always" or (resolve_image == "changed" and image != was_image):
                from .services import pin_image  # docker's client pins it to its registry's digest
                note = await pin_image(docker, spec.setdefault("TaskTemplate", {}), auth)
                if note:
                    warn(note)
            if current is None:
                say(f"Creating service {name}")
                made = await docker.services.create(spec, auth=auth)
                made_here.append(("service", made["ID"]))
                for w in made.get("Warnings") or []:
                    warn(w)
                ids.append(made["ID"])
                continue
            was = current.get("Spec") or {}
            template = spec.setdefault("TaskTemplate", {})
            pinned = str(((was.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image") or "")
            if resolve_image != "always" and image == was_image and pinned.startswith(image + "@"):
                # the same image, not resolved again: keep the digest it was pinned to
                template.setdefault("ContainerSpec", {})["Image"] = pinned
            template["ForceUpdate"] = (was.get("TaskTemplate") or {}).get("ForceUpdate", 0)
            if not spec_differs(was, with_network_ids(spec, network_ids)):
                continue  # unchanged: its tasks are left alone
            say(f"Updating service {name} (id: {current['ID']})")
            answer = await docker.services.update(current["ID"], current["Version"]["Index"], spec, auth=auth)
            for w in answer.get("Warnings") or []:
                warn(w)
            ids.append(current["ID"])
    except BaseException:
        await take_back(docker, made_here)
        raise
    return ids


async def take_back(docker: Docker, made: builtins.list[tuple[str, str]]) -> None:
    """Remove what a failed deploy created, newest first (a network once its tasks have left it)."""
    from .. import aio
    for kind, object_id in reversed(made):
        for _ in range(50):
            try:
                if kind == "service":
                    await docker.services.delete(object_id)
                elif kind == "secrets":
                    await docker.secrets.delete(object_id)
                elif kind == "configs":
                    await docker.configs.delete(object_id)
                else:
                    await (await docker.networks.get(object_id)).delete()
                break
            except NotFound:
                break
            except EngineError:
                await aio.sleep(0.1)


def with_network_ids(spec: dict[str, Any], ids: Mapping[str, str]) -> dict[str, Any]:
    """The spec as a manager keeps it: its networks named by ID (to compare with the present spec)."""
    spec = json_copy(spec)
    for net in (spec.get("TaskTemplate") or {}).get("Networks") or []:
        net["Target"] = ids.get(net.get("Target", ""), net.get("Target", ""))
    return spec


def json_copy(value: Any) -> Any:
    import json
    return json.loads(json.dumps(value))


async def object_ids(docker: Docker) -> dict[tuple[str, str], str]:
    """``{("secret"|"config", name): id}`` of the swarm's secrets and configs."""
    ids = {("secret", s["Spec"]["Name"]): s["ID"] for s in await docker.secrets.list()}
    ids.update({("config", c["Spec"]["Name"]): c["ID"] for c in await docker.configs.list()})
    return ids


def fill_references(spec: dict[str, Any], ids: Mapping[tuple[str, str], str]) -> dict[str, Any]:
    """A service spec's secret and config references with their IDs (docker's CLI looks them up by name)."""
    cs = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    for kind, key in (("secret", "Secrets"), ("config", "Configs")):
        for ref in cs.get(key) or []:
            name = ref.get(f"{kind.capitalize()}Name", "")
            if not ref.get(f"{kind.capitalize()}ID"):
                if (kind, name) not in ids:
                    raise NotFound(f"{kind} not found: {name}")
                ref[f"{kind.capitalize()}ID"] = ids[(kind, name)]
    return spec


# -- convergence ---------------------------------------------------------------------------------------
class Progress:
    """One service's state while waiting: replicas running/desired, the tasks that failed and why."""

    def __init__(self, service: dict[str, Any]) -> None:
        self.service = service
        self.id: str = service["ID"]
        self.name: str = service.get("Spec", {}).get("Name", self.id)
        self.running = self.desired = self.completed = self.starting = self.stopping = 0
        self.failures: builtins.list[str] = []  # "<task name> (<id>): <state>: <error>", newest last
        self.failed_tasks = 0
        self.pending_error = ""
        self.converged = False
        self.stopped = ""  # why waiting cannot succeed (an update paused or rolled back)
        self.rolled_back = ""  # the manager's message when an update was rolled back
        self.health = False  # the tasks have a health check: running means healthy, starting means not yet

    def line(self) -> str:
        text = f"{self.name}: {self.running}/{self.desired} running"
        if self.health and self.running:
            text += " (healthy)"
        if self.completed:
            text += f", {self.completed} completed"
        if self.starting:
            text += f", {self.starting} starting" + (" (health: starting)" if self.health else "")
        if self.stopping:
            text += f", {self.stopping} stopping"
        if self.converged:
            return text + (f", rolled back: {self.rolled_back}" if self.rolled_back else ", converged")
        if self.stopped:
            return text + f", {self.stopped}"
        if self.pending_error:
            return text + f", pending: {self.pending_error}"
        if self.failures:
            return text + f", last failure: {self.failures[-1]}"
        return text


def _created(task: dict[str, Any]) -> tuple[str, int]:
    return str(task.get("CreatedAt") or ""), int((task.get("Version") or {}).get("Index") or 0)


def assess(service: dict[str, Any], tasks: builtins.list[dict[str, Any]], nodes: int = 1,
           seen: set[str] | None = None, current: set[str] | None = None) -> Progress:
    """How far one service is (its tasks as ``GET /tasks?filters={"service":…}`` gives them; ``current``:
    the IDs of those at the service's present spec, docker's ``_up-to-date`` filter, None: all). A failed
    task counts once, and not when ``seen`` has it (one that failed before the wait began)."""
    p = Progress(service)
    spec = service.get("Spec") or {}
    mode = spec.get("Mode") or {}
    template = spec.get("TaskTemplate") or {}
    condition = ((template.get("RestartPolicy") or {}).get("Condition")) or "any"
    if ("ReplicatedJob" in mode or "GlobalJob" in mode) and condition == "any":
        condition = "on-failure"  # a job's task that completed is done (swarmkit's)
    test = (((template.get("ContainerSpec") or {}).get("Healthcheck") or {}).get("Test")) or []
    p.health = bool(test) and test[0] != "NONE"  # (a check from the image alone is not in the spec)
    if "Global" in mode:
        p.desired = int(((service.get("ServiceStatus") or {}).get("DesiredTasks")) or nodes)
    elif "ReplicatedJob" in mode:  # done when its completions are
        job = mode.get("ReplicatedJob") or {}
        p.desired = int(job["TotalCompletions"] if job.get("TotalCompletions") is not None
                        else job.get("MaxConcurrent") or 1)
    else:
        p.desired = int(((mode.get("Replicated") or {}).get("Replicas") or 0) if "Replicated" in mode else 1)
    slots: dict[str, dict[str, Any]] = {}
    for t in tasks:
        key = str(t.get("Slot") or t.get("NodeID") or t["ID"])
        if key not in slots or _created(t) > _created(slots[key]):
            slots[key] = t
        state = (t.get("Status") or {}).get("State", "")
        if state in FAILED and (seen is None or t["ID"] not in seen):
            p.failed_tasks += 1
            err = (t.get("Status") or {}).get("Err") or (t.get("Status") or {}).get("Message") or state
            p.failures.append(f"{task_name(service, t)} ({t['ID'][:12]}): {state}: {err}")
            if seen is not None:
                seen.add(t["ID"])
    satisfied = 0
    stopping = sum(1 for t in tasks if t.get("DesiredState") in ("shutdown", "remove")
                   and (t.get("Status") or {}).get("State") in ("running", "starting", "preparing", "ready"))
    # scaled down: more still run than wanted until the manager has told the extra ones to stop
    running_now = sum(1 for t in tasks if t.get("DesiredState") == "running"
                      and (t.get("Status") or {}).get("State") == "running")
    counted = int(((service.get("ServiceStatus") or {}).get("RunningTasks")) or 0)
    stopping = max(stopping, running_now - p.desired, counted - p.desired if "Global" not in mode else 0, 0)
    for t in slots.values():
        state = (t.get("Status") or {}).get("State", "")
        one_shot_done = state == "complete" and condition in ("none", "on-failure")
        if t.get("DesiredState") not in ("running", "ready", "complete") and state != "running" and not one_shot_done:
            continue
        up = current is None or t["ID"] in current
        if state == "running" and t.get("DesiredState") in ("running", "complete"):
            p.running += 1
            satisfied += up
        elif one_shot_done:
            p.completed += 1
            satisfied += up
        elif state in ("starting", "preparing", "assigned", "accepted", "ready"):
            p.starting += 1
        elif state == "pending" and (t.get("Status") or {}).get("Err"):
            p.pending_error = str(t["Status"]["Err"])
    update = (service.get("UpdateStatus") or {}).get("State", "")
    if update == "rollback_completed" and (service.get("UpdateStatus") or {}).get("Message"):
        p.rolled_back = str(service["UpdateStatus"]["Message"])
    if update in ("paused", "rollback_paused"):
        p.stopped = f"update {update.replace('_', ' ')}: {service['UpdateStatus'].get('Message', '')}".rstrip(": ")
    p.stopping = stopping
    p.converged = (satisfied >= p.desired and not stopping and update not in ("updating", "rollback_started", "paused",
                                                             "rollback_paused"))
    return p


def task_name(service: dict[str, Any], task: dict[str, Any]) -> str:
    name = (service.get("Spec") or {}).get("Name", task.get("ServiceID", ""))
    return f"{name}.{task.get('Slot') or task.get('NodeID', '')}"


async def task_ids(docker: Docker, service_ids: builtins.list[str]) -> set[str]:
    """The IDs of the services' tasks now (so that what failed before a change is not blamed on it)."""
    if not service_ids:
        return set()
    return {t["ID"] for t in await docker.tasks.list(filters={"service": service_ids})}


async def snapshot(docker: Docker, ids: builtins.list[str], seen: set[str] | None = None) -> builtins.list[Progress]:
    """Each service's progress now: one list of services, and their tasks (all, and those up to date)."""
    services = {s["ID"]: s for s in await docker.services.list(filters={"id": ids}, status=True)}
    tasks = await docker.tasks.list(filters={"service": ids}) if ids else []
    current: set[str] | None
    try:
        current = {t["ID"] for t in await docker.tasks.list(filters={"service": ids, "_up-to-date": ["true"]})}
    except InvalidArgument:  # an engine without docker's internal filter: every task counts
        current = None
    by_service: dict[str, builtins.list[dict[str, Any]]] = {}
    for t in tasks:
        by_service.setdefault(t.get("ServiceID", ""), []).append(t)
    return [assess(services[i], by_service.get(i, []), seen=seen, current=current)
            for i in ids if i in services]


async def wait_converged(docker: Docker, ids: builtins.list[str], report: Callable[[builtins.list[Progress]], None],
                         *, known: set[str] | None = None, poll: float = 0.2,
                         timeout: float = 300.0) -> builtins.list[Progress]:
    """Follow the services until each has converged or cannot: the last progress of each.

    A service cannot converge when its update paused, when as many of its tasks failed or were
    rejected as it wants replicas (at least 3) without it converging, when its tasks stay pending
    with an error for 5 s, or after ``timeout`` seconds. ``known``: the tasks there were before the change
    (:func:`task_ids`); only tasks made since count as its failures."""
    from .. import aio
    start = time.time()
    seen: set[str] = set(known or ())
    failures: dict[str, builtins.list[str]] = {}
    pending_since: dict[str, float] = {}
    while True:
        progress = await snapshot(docker, ids, seen)
        now = time.time()
        for p in progress:
            failures.setdefault(p.id, []).extend(p.failures)
            p.failures = failures[p.id]
            if p.converged:
                continue
            if p.pending_error:
                pending_since.setdefault(p.id, now)
                if now - pending_since[p.id] >= 5.0 and not p.running:
                    p.stopped = p.stopped or f"tasks pending: {p.pending_error}"
            else:
                pending_since.pop(p.id, None)
            if len(p.failures) >= max(3, p.desired) and not p.stopped:
                p.stopped = f"{len(p.failures)} tasks failed"
            if now - start >= timeout and not p.stopped:
                p.stopped = f"not converged after {int(timeout)} s"
        report(progress)
        if len(progress) < len(ids):
            gone = set(ids) - {p.id for p in progress}
            raise NotFound(f"service {sorted(gone)[0]} not found")
        if all(p.converged or p.stopped for p in progress):
            return progress
        await aio.sleep(poll)


# -- remove, list --------------------------------------------------------------------------------------
async def remove(docker: Docker, namespace: str, *, say: Say = print, warn: Say = print, wait: bool = True,
                 poll: float = 0.1, timeout: float = 120.0) -> bool:
    """docker's ``stack rm``: services, networks, secrets, configs of the namespace ("Removing …" lines),
    then (``wait``) until their tasks' containers and the networks are gone. False if something failed."""
    f = namespace_filter(namespace)
    services = await docker.services.list(filters=f)
    networks = await docker.networks.list(filters=f)
    secrets = await docker.secrets.list(filters=f)
    configs = await docker.configs.list(filters=f)
    if not (services or networks or secrets or configs):
        warn(f"Nothing found in stack: {namespace}")
        return True
    ok = True
    for svc in sorted(services, key=lambda s: s["Spec"]["Name"]):
        say(f"Removing service {svc['Spec']['Name']}")
        try:
            await docker.services.delete(svc["ID"])
        except NotFound:
            pass
        except EngineError as exc:
            warn(f"Failed to remove service {svc['ID']}: {exc}")
            ok = False
    for kind, items in (("secret", secrets), ("config", configs)):
        collection = docker.secrets if kind == "secret" else docker.configs
        for item in sorted(items, key=lambda s: s["Spec"]["Name"]):
            say(f"Removing {kind} {item['Spec']['Name']}")
            try:
                await collection.delete(item["ID"])
            except NotFound:
                pass
            except EngineError as exc:
                warn(f"Failed to remove {kind} {item['ID']}: {exc}")
                ok = False
    from .. import aio
    start = time.time()
    pending = sorted(networks, key=lambda n: n["Name"])
    for net in pending:
        say(f"Removing network {net['Name']}")
    while pending:  # a network goes once its tasks' containers have left it
        left = []
        for net in pending:
            try:
                await (await docker.networks.get(net["Id"])).delete()
            except NotFound:
                pass
            except EngineError as exc:
                if time.time() - start >= timeout:
                    warn(f"Failed to remove network {net['Id']}: {exc}")
                    ok = False
                else:
                    left.append(net)
        pending = left
        if pending:
            await aio.sleep(poll)
    if wait and services:  # until the tasks have ended and their containers are gone (a node's own view)
        while True:
            tasks = await docker.tasks.list(filters=f)
            live = [t for t in tasks if (t.get("Status") or {}).get("State") not in ENDED]
            containers = await docker.containers.list(all=True, filters=f)
            if not live and not containers:
                break
            if time.time() - start >= timeout:
                warn(f"failed to wait on tasks of stack: {namespace}: timed out")
                ok = False
                break
            await aio.sleep(poll)
    if not ok:
        warn(f"failed to remove some resources from stack: {namespace}")
    return ok


async def list_stacks(docker: Docker) -> builtins.list[dict[str, Any]]:
    """docker's ``stack ls`` rows: ``{"Name", "Services", "Orchestrator"}`` sorted by name (naturally)."""
    counts: dict[str, int] = {}
    for svc in await docker.services.list(filters={"label": [LABEL_NAMESPACE]}):
        ns = (svc.get("Spec", {}).get("Labels") or {}).get(LABEL_NAMESPACE)
        if ns:
            counts[ns] = counts.get(ns, 0) + 1
    return [{"Name": ns, "Services": str(n), "Orchestrator": "Swarm"} for ns, n in
            sorted(counts.items(), key=lambda item: natural_key(item[0]))]


def natural_key(text: str) -> builtins.list[Any]:
    """docker's sortorder.NaturalLess as a key: runs of digits compare as numbers."""
    import re
    return [(0, int(part), part) if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]
