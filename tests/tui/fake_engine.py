"""A scripted transport for drawing tests: it answers the API's routes with fixed containers and images,
and (``swarm=True``) a swarm manager's services, tasks and their task containers, in docker's shapes.

Only the snapshot tests use it (behaviour tests run the real engine). Creation times are fixed offsets
from now, each in the middle of one of docker's "ago" buckets, so the drawn text never drifts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from engine.client.transport import Reply, Transport
from engine.errors import NotFound, Unavailable
from tui.app import PortsideApp
from tui.stats import Point, StatsHistory

HOUR = 3600
DAY = 24 * HOUR
T0 = 1_800_000_000.0


def _hex(seed: str) -> str:
    return (seed * 64)[:64]


def containers(now: float) -> list[dict[str, Any]]:
    rows = [
        ("1fa4ab2cf395", "harbor-web", "nginx:alpine", "running", "Up 3 days", 3 * DAY + 5 * HOUR),
        ("7c0ffee12345", "harbor-db", "postgres:16", "running", "Up 3 days", 3 * DAY + 6 * HOUR),
        ("b0a7d0c4e5f6", "cache", "redis:7", "restarting", "Restarting (1) 2 seconds ago", 5 * 7 * DAY + 2 * DAY),
        ("e917ed000abc", "nightly-backup", "busybox", "exited", "Exited (0) 5 weeks ago", 5 * 7 * DAY + 3 * DAY),
        ("dead0000beef", "old-worker", "busybox", "dead", "Dead", 800 * DAY),
    ]
    return [
        {"Id": (cid * 6)[:64], "Names": [f"/{name}"], "Image": image, "ImageID": "sha256:" + _hex(image[0]),
         "Command": "sh", "Created": int(now - age), "Ports": [], "Labels": {}, "State": state, "Status": status}
        for cid, name, image, state, status, age in rows
    ]


def images(now: float) -> list[dict[str, Any]]:
    rows = [
        ("a1", ["nginx:alpine", "nginx:1.27-alpine"], 48_300_000, 3 * DAY + 7 * HOUR),
        ("b2", ["postgres:16"], 438_000_000, 5 * 7 * DAY + 1 * DAY),
        ("c3", ["redis:7"], 117_000_000, 125 * DAY),
        ("d4", ["busybox:latest"], 4_260_000, 800 * DAY),
        ("e5", [], 1_530, 800 * DAY + 10 * DAY),
    ]
    return [
        {"Id": "sha256:" + _hex(seed), "ParentId": "", "RepoTags": tags, "RepoDigests": [],
         "Created": int(now - age), "Size": size, "SharedSize": -1, "VirtualSize": size, "Labels": None,
         "Containers": 0}
        for seed, tags, size, age in rows
    ]


def stats(container_id: str, tick: int) -> dict[str, Any]:
    """A raw stats sample shaped like the engine's; ``tick`` seconds into a made-up minute."""
    seed = int(container_id[:2], 16)
    cpu_ns = int(sum(1e9 * (0.05 + (seed % 7) / 10) * (1 + 0.8 * ((t // 5) % 2)) for t in range(tick + 1)))
    return {
        "id": container_id, "name": "",
        "pids_stats": {"current": 1 + seed % 5},
        "memory_stats": {"usage": (20 + seed % 40) * 2**20 + tick * 2**16, "limit": 512 * 2**20},
        "cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}, "system_cpu_usage": int(tick * 2e9),
                      "online_cpus": 2},
        "blkio_stats": {"io_service_bytes_recursive": [{"op": "read", "value": tick * 4096 * (seed % 3)},
                                                       {"op": "write", "value": tick * 8192}]},
        "networks": {"eth0": {"rx_bytes": sum(1500 * (1 + t % 4) for t in range(tick + 1)),
                              "tx_bytes": sum(700 * (1 + t % 3) for t in range(tick + 1))}},
    }


def inspect_container(container_id: str) -> dict[str, Any]:
    return {
        "Id": container_id, "Created": "2026-01-01T00:00:00.000000000Z", "Path": "nginx",
        "Args": ["-g", "daemon off;"], "Name": "/harbor-web", "RestartCount": 0,
        "State": {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0,
                  "StartedAt": "2026-01-01T00:00:01.000000000Z"},
        "Image": "sha256:" + _hex("a"),
        "Config": {"Hostname": container_id[:12], "Env": ["PATH=/usr/sbin:/usr/bin", "NGINX_PORT=80"],
                   "Cmd": ["nginx", "-g", "daemon off;"], "Image": "nginx:alpine", "WorkingDir": "/",
                   "Labels": {"maintainer": "harbor"}},
        "HostConfig": {"NetworkMode": "bridge", "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                       "Memory": 512 * 2**20},
        "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
        "Mounts": [],
    }


NOT_SWARM = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
             'node to swarm and try again.')
STACK = "com.docker.stack.namespace"
NODE = "nodeself00000000000000000"


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int((when % 1) * 1e9):09d}Z"


def _service(sid: str, name: str, image: str, mode: dict[str, Any], running: int, desired: int, *,
             stack: str = "", ports: list[dict[str, Any]] | None = None, update: str = "",
             limits: dict[str, Any] | None = None) -> dict[str, Any]:
    labels = {STACK: stack} if stack else {}
    spec: dict[str, Any] = {
        "Name": name, "Labels": labels, "Mode": mode,
        "TaskTemplate": {"ContainerSpec": {"Image": image + "@sha256:" + _hex("f"), "Labels": labels},
                         "Resources": {"Limits": limits or {}}, "RestartPolicy": {"Condition": "on-failure"}},
        "EndpointSpec": {"Mode": "vip", "Ports": ports or []},
    }
    service: dict[str, Any] = {
        "ID": sid, "Version": {"Index": 12}, "CreatedAt": "2026-01-01T00:00:00.000000000Z",
        "UpdatedAt": "2026-01-01T00:00:00.000000000Z", "Spec": spec,
        "Endpoint": {"Spec": {"Mode": "vip", "Ports": ports or []}, "Ports": ports or [],
                     "VirtualIPs": [{"NetworkID": _hex("9"), "Addr": "10.0.1.2/24"}]},
        "ServiceStatus": {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0},
    }
    if update:
        service["UpdateStatus"] = {"State": update, "Message": "update in progress"}
    return service


def services() -> list[dict[str, Any]]:
    port = [{"Protocol": "tcp", "TargetPort": 8000, "PublishedPort": 80, "PublishMode": "ingress"}]
    return [
        _service("w" * 25, "getstartedlab_web", "tour-hello:latest", {"Replicated": {"Replicas": 5}}, 5, 5,
                 stack="getstartedlab", ports=port, limits={"NanoCPUs": 100_000_000, "MemoryBytes": 50 * 2**20}),
        _service("r" * 25, "getstartedlab_redis", "redis:7", {"Replicated": {"Replicas": 1}}, 1, 1,
                 stack="getstartedlab"),
        _service("a" * 25, "api", "harbor/api:2.1", {"Replicated": {"Replicas": 3}}, 2, 3, update="updating",
                 ports=[{"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 8080, "PublishMode": "host"}]),
        _service("m" * 25, "monitor", "busybox", {"Global": {}}, 1, 1),
    ]


def _task(service: dict[str, Any], slot: int, n: int, state: str, age: float, now: float, *,
          desired: str = "running", err: str = "", exit_code: int | None = None,
          container: str = "") -> dict[str, Any]:
    tid = f"{service['ID'][0]}{slot}{n}".ljust(25, "t")
    status: dict[str, Any] = {"Timestamp": _stamp(now - age), "State": state, "Message": state}
    if err:
        status["Err"] = err
    if container:
        status["ContainerStatus"] = {"ContainerID": container, "PID": 100 + slot, "ExitCode": exit_code or 0}
    elif exit_code is not None:
        status["ContainerStatus"] = {"ContainerID": "", "ExitCode": exit_code}
    return {"ID": tid, "Version": {"Index": 20}, "CreatedAt": _stamp(now - age - 1), "UpdatedAt": _stamp(now - age),
            "ServiceID": service["ID"], "Slot": slot if "Replicated" in service["Spec"]["Mode"] else 0,
            "NodeID": NODE, "Spec": service["Spec"]["TaskTemplate"], "Status": status, "DesiredState": desired,
            "Labels": {}}


def task_container_id(slot: int, service: str) -> str:
    return (f"{ord(service[0]) % 16:x}{slot:x}" + "c0ffee" * 11)[:64]


def tasks(now: float) -> list[dict[str, Any]]:
    web, redis, api, monitor = services()
    out = []
    for slot in range(1, 6):
        out.append(_task(web, slot, 2 if slot == 3 else 1, "running", 3 * 60 if slot != 3 else 40, now,
                         container=task_container_id(slot, "w")))
    out.append(_task(web, 3, 1, "failed", 41, now, desired="shutdown", err="task: non-zero exit (137)",
                     exit_code=137))
    out.append(_task(redis, 1, 1, "running", 2 * HOUR, now, container=task_container_id(1, "r")))
    for slot in (1, 2):
        out.append(_task(api, slot, 1, "running", 30, now, container=task_container_id(slot, "a")))
    out.append(_task(api, 3, 1, "preparing", 2, now))
    out.append(_task(monitor, 0, 1, "running", DAY, now, container=task_container_id(0, "m")))
    return out


def task_containers(now: float) -> list[dict[str, Any]]:
    """The running tasks' containers: web.4 is still starting its health check, web.5 is healthy."""
    out = []
    by_id = {s["ID"]: s for s in services()}
    for task in tasks(now):
        cid = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
        if not cid:
            continue
        service = by_id[task["ServiceID"]]
        name = service["Spec"]["Name"]
        health = {4: " (health: starting)", 5: " (healthy)"}.get(task["Slot"], "") if name.endswith("web") else ""
        labels = {"com.docker.swarm.service.id": service["ID"], "com.docker.swarm.service.name": name,
                  "com.docker.swarm.task.id": task["ID"], "com.docker.swarm.node.id": NODE,
                  **service["Spec"]["Labels"]}
        out.append({"Id": cid, "Names": [f"/{name}.{task['Slot'] or NODE}.{task['ID']}"],
                    "Image": service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"], "ImageID": "sha256:" + _hex("f"),
                    "Command": "sh", "Created": int(now - 60), "Ports": [], "Labels": labels, "State": "running",
                    "Status": "Up About a minute" + health})
    return out


def _label_filter(rows: list[dict[str, Any]], params: dict[str, Any] | None) -> list[dict[str, Any]]:
    filters = (params or {}).get("filters") or {}
    if isinstance(filters, str):
        filters = json.loads(filters)
    for label in filters.get("label") or []:
        key, _, value = label.partition("=")
        rows = [r for r in rows if key in (r.get("Labels") or {}) and (not value or r["Labels"][key] == value)]
    for service in filters.get("service") or []:
        rows = [r for r in rows if r.get("ServiceID") == service]
    return rows


LOG_LINES = [
    ("2026-01-01T10:00:00.000000001Z", "stdout", "listening on 0.0.0.0:80"),
    ("2026-01-01T10:00:01.000000001Z", "stdout", "GET / 200 612 bytes"),
    ("2026-01-01T10:00:02.000000001Z", "stderr", "warning: slow upstream (2.1 s)"),
    ("2026-01-01T10:00:03.000000001Z", "stdout", "GET /health 200 2 bytes"),
    ("2026-01-01T10:00:04.000000001Z", "stdout", "GET /api/items 200 4096 bytes"),
]

BUILD_STEPS = [
    "Step 1/3 : FROM busybox", " ---> d4d4d4d4d4d4", "Step 2/3 : COPY index.html /www/",
    " ---> 0a1b2c3d4e5f", "Step 3/3 : CMD [\"httpd\", \"-f\"]", " ---> 9f8e7d6c5b4a",
    "Successfully built 9f8e7d6c5b4a", "Successfully tagged hello:latest",
]


class FakeReply(Reply):
    """A scripted answer: a JSON value, or a stream of chunks (``forever``: then it waits, as ``logs -f``)."""

    def __init__(self, data: Any = None, *, chunks: list[bytes] | None = None, forever: bool = False,
                 content_type: str = "application/json") -> None:
        self.data, self._chunks, self.forever = data, chunks, forever
        self.status = 200
        self.headers = {"content-type": content_type}

    async def json(self) -> Any:
        return self.data

    async def chunks(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        if self._chunks is None:
            yield json.dumps(self.data).encode() + b"\n"
            return
        for chunk in self._chunks:
            yield chunk
        if self.forever:
            await asyncio.Event().wait()


def frame(stream: int, data: bytes) -> bytes:
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


class FakeTransport(Transport):
    """Answers the API's routes for lists, stats, inspect, logs and build with fixed data; ``events``
    stays silent. ``empty=True``: a fresh data root, no container and no image."""

    kind = "embedded"
    address = "embedded engine (/var/lib/portside)"

    def __init__(self, empty: bool = False, swarm: bool = False) -> None:
        self.calls: list[str] = []
        self.empty = empty
        self.swarm = swarm
        self.changes: list[tuple[str, dict[str, Any], Any]] = []
        """What the dashboard asked a swarm to change: (path, query, body)."""

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
                      headers: dict[str, str] | None = None) -> Reply:
        self.calls.append(f"{method} {path}")
        now = time.time()
        parts = path.strip("/").split("/")
        if path == "/containers/json":
            rows = ([] if self.empty else containers(now)) + (task_containers(now) if self.swarm else [])
            return FakeReply(_label_filter(rows, params))
        if path == "/swarm/init" and method == "POST":
            self.changes.append((path, dict(params or {}), body))
            return FakeReply("nodeself")
        if parts[0] in ("swarm", "services", "tasks", "nodes") and not self.swarm:
            raise Unavailable(NOT_SWARM)
        if path == "/services":
            return FakeReply(services())
        if method == "POST" and parts[0] in ("services", "swarm"):
            self.changes.append((path, dict(params or {}), body))
            return FakeReply({"Warnings": None} if parts[0] == "services" else None)
        if parts[0] == "services" and len(parts) == 2:
            found = [s for s in services() if parts[1] in (s["ID"], s["Spec"]["Name"])]
            if not found:
                raise NotFound(f"service {parts[1]} not found")
            return FakeReply(found[0])
        if path == "/tasks":
            return FakeReply(_label_filter(tasks(now), params))
        if parts[0] == "tasks" and len(parts) == 2:
            return FakeReply(next(t for t in tasks(now) if t["ID"] == parts[1]))
        if parts[0] == "services" and parts[-1] == "logs":
            web = [t for t in tasks(now) if t["ServiceID"] == parts[1]]
            lines = [frame(1, f"{when} com.docker.swarm.node.id={NODE},com.docker.swarm.service.id={parts[1]},"
                     f"com.docker.swarm.task.id={web[i % len(web)]['ID']} {text}\n".encode())
                     for i, (when, _stream, text) in enumerate(LOG_LINES)]
            return FakeReply(chunks=lines, forever=True, content_type="application/vnd.docker.multiplexed-stream")
        if path == "/images/json":
            return FakeReply([] if self.empty else images(now))
        if parts[0] == "containers" and parts[-1] == "stats":
            return FakeReply(stats(parts[1], 1))
        if parts[0] == "containers" and parts[-1] == "json":
            return FakeReply(inspect_container(parts[1]))
        if parts[0] == "images" and parts[-1] == "json":
            return FakeReply({"Id": "sha256:" + _hex("a"), "RepoTags": ["nginx:alpine"], "Size": 48_300_000,
                              "Config": {"Cmd": ["nginx"], "ExposedPorts": {"80/tcp": {}}}})
        if parts[0] == "containers" and parts[-1] == "logs":
            return FakeReply(chunks=[frame(2 if stream == "stderr" else 1, f"{when} {text} [{parts[1][:4]}]\n".encode())
                                     for when, stream, text in LOG_LINES], forever=True,
                             content_type="application/vnd.docker.multiplexed-stream")
        if path == "/build":
            msgs = [{"stream": line + "\n"} for line in BUILD_STEPS] + [{"aux": {"ID": "sha256:" + _hex("9f")}}]
            return FakeReply(chunks=[json.dumps(m).encode() + b"\n" for m in msgs])
        if path == "/events":
            return FakeReply(chunks=[], forever=True)
        if method in ("POST", "DELETE") and (parts[-1] == "stop" or parts[0] in ("containers", "images")):
            raise NotFound(f"No such object: {parts[1] if len(parts) > 1 else ''}")
        raise NotFound("page not found")


def host_point() -> Point:
    return Point(T0, cpu=12.5, mem=3 * 2**30, mem_limit=8 * 2**30, rx=2048.0, tx=1024.0, read=0.0, write=4096.0)


def feed_stats(app: PortsideApp) -> None:
    """A fixed minute of samples instead of the live sampler's."""
    running = [c["Id"] for c in app.containers_pane.all_containers if c["State"] == "running"]
    app.history = StatsHistory(interval=1.0)
    for tick in range(1, 61):
        host = Point(T0 + tick, cpu=15 + (tick * 7) % 30, mem=3 * 2**30 + tick * 2**22, mem_limit=8 * 2**30,
                     rx=1000.0 * (tick % 9), tx=500.0 * (tick % 5), read=4096.0 * (tick % 3), write=8192.0)
        app.history.add({cid: stats(cid, tick) for cid in running}, host, now=T0 + tick)
    app.containers_pane.update_stats({cid: p for cid in running if (p := app.history.latest(cid))})
    app._paint_resources()
