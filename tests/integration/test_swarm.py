"""Swarm mode on one node, through the engine's API handlers (the embedded transport's path) with the
reconciler running in the test's loop, as ``portside daemon`` runs it: real task containers, as root.

The guide's CLI path (docker's CLI against ``portside daemon``, kill -9 of the daemon) is in
tests/clients/test_docker_swarm_cli.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from engine.api.routes import API
from engine.api.server import NO_OBJECT, Request, Response
from engine.engine import Engine
from engine.images import bootstrap
from engine.swarm import model

pytestmark = pytest.mark.root

SECOND = model.SECOND


class Swarm:
    """The engine, its routes, and its reconciler running in this loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.api = API(engine)

    async def call(self, method: str, path: str, body: Any = None, **query: Any) -> Response:
        q = {k: [v if isinstance(v, str) else json.dumps(v)] for k, v in query.items()}
        req = Request.local(method, path, q, {}, obj=body) if body is not None else \
            Request.local(method, path, q, {})
        return await self.api.handle(req)

    async def ok(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        resp = await self.call(method, path, body, **query)
        assert resp.status < 300, (resp.status, resp.body)
        return None if resp.data is NO_OBJECT else resp.data

    async def error(self, method: str, path: str, body: Any = None, **query: Any) -> tuple[int, str]:
        from engine.errors import EngineError
        try:
            resp = await self.call(method, path, body, **query)
        except EngineError as exc:
            return exc.status, str(exc)
        return resp.status, json.loads(resp.body or b"{}").get("message", "")

    async def create(self, name: str, args: list[str], replicas: int = 1, **template: Any) -> str:
        spec: dict[str, Any] = {"Name": name, "Mode": {"Replicated": {"Replicas": replicas}},
                                "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": args,
                                                                   "StopGracePeriod": 0},
                                                 "RestartPolicy": {"Condition": "any", "Delay": 0}}}
        for key, value in template.items():
            spec["TaskTemplate"][key] = value
        return str((await self.ok("POST", "/services/create", spec))["ID"])

    async def tasks(self, service: str) -> list[dict[str, Any]]:
        return list(await self.ok("GET", "/tasks", filters={"service": [service]}))

    async def until(self, what: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
        """Wait for a condition (the bound only keeps a broken build from hanging the suite)."""
        import time
        t0 = time.monotonic()
        for _ in range(int(seconds / 0.02)):
            if await what():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the swarm did not get there ({time.monotonic() - t0:.1f} s): {[(t['Slot'], t['Status']['State'], t['DesiredState']) for t in await self.tasks('')][:12]}")

    async def running(self, service: str, n: int) -> list[dict[str, Any]]:
        async def done() -> bool:
            ts = await self.tasks(service)
            return sum(t["Status"]["State"] == "running" and t["DesiredState"] == "running" for t in ts) == n
        await self.until(done)
        return [t for t in await self.tasks(service) if t["Status"]["State"] == "running"
                and t["DesiredState"] == "running"]


@pytest.fixture
async def swarm(root: str) -> AsyncIterator[Swarm]:
    if not os.path.exists(bootstrap.BUSYBOX):
        pytest.skip("needs a static /bin/busybox (busybox-static)")
    async with Engine.open(root) as engine:
        await engine.images.make_busybox("busybox:latest")
        reconciler = asyncio.create_task(engine.swarm.run())
        await asyncio.sleep(0)
        s = Swarm(engine)
        try:
            await s.ok("POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "127.0.0.1"})
            yield s
        finally:
            if engine.swarm.active():  # as the daemon runs it: a task of its own, bounded
                await asyncio.wait_for(engine.swarm.leave(force=True), 60)
            reconciler.cancel()
            await asyncio.gather(reconciler, return_exceptions=True)


async def test_init_inspect_node_and_docker_messages(swarm: Swarm) -> None:
    info = await swarm.engine.swarm.info()
    assert info["LocalNodeState"] == "active" and info["ControlAvailable"] is True
    assert info["Nodes"] == 1 and info["Managers"] == 1 and len(info["NodeID"]) == 25
    doc = await swarm.ok("GET", "/swarm")
    assert doc["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 5
    assert doc["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
    (node,) = await swarm.ok("GET", "/nodes")
    assert node["ID"] == info["NodeID"] and node["Spec"]["Role"] == "manager"
    assert node["Status"] == {"State": "ready", "Addr": "127.0.0.1"}
    assert node["ManagerStatus"] == {"Leader": True, "Reachability": "reachable", "Addr": "127.0.0.1:2377"}
    assert (await swarm.ok("GET", "/nodes/self"))["ID"] == node["ID"]
    ping = await swarm.call("GET", "/_ping")
    assert ping.headers["Swarm"] == "active/manager"

    status, text = await swarm.error("POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377"})
    assert status == 503 and text.startswith("This node is already part of a swarm. Use \"docker swarm leave\"")
    status, text = await swarm.error("POST", "/swarm/join", {"RemoteAddrs": ["10.0.0.1:2377"]})
    assert status == 503 and text.startswith("This node is already part of a swarm.")  # a member first, as dockerd
    status, text = await swarm.error("POST", "/swarm/leave")
    assert status == 503 and "participating as a manager" in text and "Use `--force`" in text
    status, text = await swarm.error("POST", "/swarm/update", doc["Spec"], version=doc["Version"]["Index"] + 7)
    assert status == 409 and "update out of sequence" in text
    spec = dict(doc["Spec"], Orchestration={"TaskHistoryRetentionLimit": 2})
    await swarm.ok("POST", "/swarm/update", spec, version=doc["Version"]["Index"])
    assert (await swarm.ok("GET", "/swarm"))["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 2


async def test_service_crud_with_version_and_bad_input(swarm: Swarm) -> None:
    sid = await swarm.create("web", ["sleep", "1000"], replicas=2)
    assert len(sid) == 25
    svc = await swarm.ok("GET", f"/services/{sid}")
    assert svc["Spec"]["Name"] == "web" and (await swarm.ok("GET", "/services/web"))["ID"] == sid
    version = svc["Version"]["Index"]
    status, text = await swarm.error("POST", f"/services/{sid}/update", svc["Spec"], version=version - 1)
    assert status == 409 and "update out of sequence" in text
    status, text = await swarm.error("POST", "/services/create", svc["Spec"])
    assert status == 409 and "service web already exists" in text
    bad = json.loads(json.dumps(svc["Spec"]), object_hook=dict)
    bad["Name"], bad["Mode"] = "other", {"Replicated": {"Replicas": -1}}
    status, text = await swarm.error("POST", "/services/create", bad)
    assert status == 400 and "cannot unmarshal number -1" in text
    bad["Mode"] = {"Replicated": {"Replicas": 1}}
    bad["TaskTemplate"] = dict(bad["TaskTemplate"], Networks=[{"Target": "nosuchnet"}])
    status, text = await swarm.error("POST", "/services/create", bad)
    assert status == 404 and text == "network nosuchnet not found"
    assert [s["Spec"]["Name"] for s in await swarm.ok("GET", "/services")] == ["web"]

    await swarm.running("web", 2)
    listed = await swarm.ok("GET", "/services", status=True)
    assert listed[0]["ServiceStatus"] == {"RunningTasks": 2, "DesiredTasks": 2, "CompletedTasks": 0}
    spec = dict(svc["Spec"], Mode={"Replicated": {"Replicas": 1}})
    await swarm.ok("POST", f"/services/{sid}/update", spec, version=version)
    await swarm.running("web", 1)
    svc2 = await swarm.ok("GET", f"/services/{sid}")
    assert svc2["Version"]["Index"] > version and svc2["PreviousSpec"]["Mode"]["Replicated"]["Replicas"] == 2
    await swarm.ok("POST", f"/services/{sid}/update", None, version=svc2["Version"]["Index"], rollback="previous")
    await swarm.running("web", 2)

    await swarm.ok("DELETE", f"/services/{sid}")
    status, text = await swarm.error("GET", f"/services/{sid}")
    assert status == 404 and text == f"service {sid} not found"

    async def gone() -> bool:
        return not swarm.engine.state.containers() and not swarm.engine.state.tasks()
    await swarm.until(gone)


async def test_replicas_converge_with_docker_names_and_labels(swarm: Swarm) -> None:
    sid = await swarm.create("app", ["sleep", "1000"], replicas=3)
    tasks = await swarm.running("app", 3)
    assert sorted(t["Slot"] for t in tasks) == [1, 2, 3]
    node = swarm.engine.swarm.node_id()
    for t in tasks:
        assert len(t["ID"]) == 25 and set(t["ID"]) <= set(model.ALPHABET)
        cid = t["Status"]["ContainerStatus"]["ContainerID"]
        doc = await swarm.engine.containers.inspect(cid)
        assert doc["Name"] == f"/app.{t['Slot']}.{t['ID']}"
        labels = doc["Config"]["Labels"]
        assert labels["com.docker.swarm.service.id"] == sid and labels["com.docker.swarm.service.name"] == "app"
        assert labels["com.docker.swarm.task.id"] == t["ID"] and labels["com.docker.swarm.node.id"] == node
        assert labels["com.docker.swarm.task.name"] == f"app.{t['Slot']}.{t['ID']}"
        assert doc["HostConfig"]["RestartPolicy"]["Name"] == "no"  # the swarm restarts tasks, not the monitor
    assert (await swarm.ok("GET", f"/tasks/{tasks[0]['ID']}"))["ServiceID"] == sid
    by_name = await swarm.ok("GET", "/tasks", filters={"name": ["app.2"]})
    assert [t["Slot"] for t in by_name] == [2]
    # a service filter names one service as dockerd resolves it: a name that is another's id prefix is the name
    other = await swarm.create(sid[:2], ["sleep", "1000"], replicas=1)
    await swarm.running(sid[:2], 1)
    assert {t["ServiceID"] for t in await swarm.tasks(sid[:2])} == {other}
    assert {t["ServiceID"] for t in await swarm.tasks(sid[:5])} == {sid}
    assert await swarm.tasks("no-such-service") == []


async def test_a_killed_task_container_is_replaced_in_its_slot(swarm: Swarm) -> None:
    await swarm.create("web", ["sleep", "1000"], replicas=2)
    before = await swarm.running("web", 2)
    victim = before[0]
    pid = victim["Status"]["ContainerStatus"]["PID"]
    assert pid > 0
    os.kill(pid, signal.SIGKILL)

    async def replaced() -> bool:
        ts = await swarm.tasks("web")
        return len(ts) == 3 and sum(t["Status"]["State"] == "running" for t in ts) == 2
    await swarm.until(replaced)
    slot = [t for t in await swarm.tasks("web") if t["Slot"] == victim["Slot"]]
    old = next(t for t in slot if t["ID"] == victim["ID"])
    new = next(t for t in slot if t["ID"] != victim["ID"])
    assert old["Status"]["State"] == "failed" and old["Status"]["Err"] == "task: non-zero exit (137)"
    assert old["DesiredState"] == "shutdown" and new["Status"]["State"] == "running"
    # a removed one too
    await swarm.engine.containers.delete(new["Status"]["ContainerStatus"]["ContainerID"], force=True)

    async def again() -> bool:
        ts = [t for t in await swarm.tasks("web") if t["Slot"] == victim["Slot"]]
        return len(ts) == 3 and any(t["Status"]["State"] == "running" for t in ts)
    await swarm.until(again)


async def test_restart_policies(swarm: Swarm) -> None:
    await swarm.create("never", ["sh", "-c", "exit 3"], RestartPolicy={"Condition": "none"})
    await swarm.create("twice", ["sh", "-c", "exit 4"],
                       RestartPolicy={"Condition": "on-failure", "Delay": 0, "MaxAttempts": 2})
    await swarm.create("done", ["true"], RestartPolicy={"Condition": "on-failure", "Delay": 0})

    async def settled() -> bool:
        never, twice, done = [await swarm.tasks(n) for n in ("never", "twice", "done")]
        return (len(never) == 1 and never[0]["Status"]["State"] == "failed"
                and len(twice) == 3 and all(t["Status"]["State"] == "failed" for t in twice)
                and len(done) == 1 and done[0]["Status"]["State"] == "complete")
    await swarm.until(settled)
    await asyncio.sleep(0.5)  # nothing more comes: the policies said no
    assert len(await swarm.tasks("never")) == 1 and len(await swarm.tasks("twice")) == 3
    never = (await swarm.tasks("never"))[0]
    assert never["Status"]["Err"] == "task: non-zero exit (3)"
    listed = {s["Spec"]["Name"]: s["ServiceStatus"] for s in await swarm.ok("GET", "/services", status=True)}
    assert listed["done"] == {"RunningTasks": 0, "DesiredTasks": 1, "CompletedTasks": 1}


async def test_history_is_kept_to_the_retention_limit(swarm: Swarm) -> None:
    doc = await swarm.ok("GET", "/swarm")
    spec = dict(doc["Spec"], Orchestration={"TaskHistoryRetentionLimit": 3})
    await swarm.ok("POST", "/swarm/update", spec, version=doc["Version"]["Index"])
    await swarm.create("flappy", ["sh", "-c", "exit 1"],
                       RestartPolicy={"Condition": "on-failure", "Delay": 0, "MaxAttempts": 6})

    def made() -> int:  # task containers made for it: the first and its 6 restarts
        return sum(1 for ev in swarm.engine.state.events_since(0) if ev["Type"] == "container"
                   and ev["Action"] == "create" and ev["Actor"]["Attributes"]["name"].startswith("flappy."))

    async def done() -> bool:
        ts = await swarm.tasks("flappy")
        return made() == 7 and all(t["Status"]["State"] == "failed" for t in ts) and \
            swarm.engine.swarm.reconciler is not None and not swarm.engine.swarm.reconciler.jobs
    await swarm.until(done)
    await asyncio.sleep(0.3)
    assert made() == 7  # MaxAttempts: no eighth
    tasks = await swarm.tasks("flappy")
    assert len(tasks) == 3
    mine = [c for c in swarm.engine.state.containers()
            if c["Config"]["Labels"].get("com.docker.swarm.service.name") == "flappy"]
    assert sorted(c["Config"]["Labels"]["com.docker.swarm.task.id"] for c in mine) == sorted(t["ID"] for t in tasks)


async def test_a_replicated_job_runs_its_completions_max_concurrent_at_a_time(swarm: Swarm) -> None:
    """``--mode replicated-job --replicas 3 --max-concurrent 2``: three tasks run to completion, never more
    than two at once, and one that completed is not started again (restart condition any means on-failure
    for a job); ``global-job`` runs one task to completion. docker's DesiredState ``complete`` and counts."""
    spec = {"Name": "batch", "Mode": {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}},
            "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sleep", "0.3"]},
                             "RestartPolicy": {"Condition": "any", "Delay": 0}}}
    await swarm.ok("POST", "/services/create", spec)
    await swarm.ok("POST", "/services/create", {"Name": "once", "Mode": {"GlobalJob": {}}, "TaskTemplate": {
        "ContainerSpec": {"Image": "busybox", "Args": ["true"]}}})
    most = 0

    async def done() -> bool:
        nonlocal most
        ts = await swarm.tasks("batch")
        most = max(most, sum(t["Status"]["State"] not in ("complete", "failed", "shutdown") for t in ts))
        once = await swarm.tasks("once")
        return sum(t["Status"]["State"] == "complete" for t in ts) == 3 and \
            [t["Status"]["State"] for t in once] == ["complete"]
    await swarm.until(done)
    assert 1 <= most <= 2
    await asyncio.sleep(0.5)  # a pass or two later: nothing more was started
    tasks = await swarm.tasks("batch")
    assert sorted(t.get("Slot", 0) for t in tasks) == [0, 1, 2]  # (swarmkit numbers a job's completions from 0)
    assert {t["DesiredState"] for t in tasks} == {"complete"}
    statuses = {s["Spec"]["Name"]: s["ServiceStatus"] for s in await swarm.ok("GET", "/services", status="true")}
    assert statuses["batch"] == {"RunningTasks": 0, "DesiredTasks": 0, "CompletedTasks": 3}
    assert statuses["once"] == {"RunningTasks": 0, "DesiredTasks": 0, "CompletedTasks": 1}

    # an update of a job is a new iteration of it (swarmkit's): it runs again, its earlier tasks stay as history
    svc = await swarm.ok("GET", "/services/batch")
    first = svc["JobStatus"]["JobIteration"]["Index"]
    assert {t["JobIteration"]["Index"] for t in tasks} == {first}
    template = dict(svc["Spec"]["TaskTemplate"], ForceUpdate=1)  # `service update --force`
    await swarm.ok("POST", f"/services/{svc['ID']}/update", dict(svc["Spec"], TaskTemplate=template),
                   version=svc["Version"]["Index"])
    svc = await swarm.ok("GET", "/services/batch")
    second = svc["JobStatus"]["JobIteration"]["Index"]
    assert second > first

    async def again() -> bool:
        ts = [t for t in await swarm.tasks("batch") if t["JobIteration"]["Index"] == second]
        return sum(t["Status"]["State"] == "complete" for t in ts) == 3
    await swarm.until(again)
    await asyncio.sleep(0.5)
    tasks = await swarm.tasks("batch")
    assert sorted((t["JobIteration"]["Index"], t.get("Slot", 0)) for t in tasks) == \
        [(first, 0), (first, 1), (first, 2), (second, 0), (second, 1), (second, 2)]
    statuses = {s["Spec"]["Name"]: s["ServiceStatus"] for s in await swarm.ok("GET", "/services", status="true")}
    assert statuses["batch"] == {"RunningTasks": 0, "DesiredTasks": 0, "CompletedTasks": 3}
    current = await swarm.ok("GET", "/tasks", filters={"service": ["batch"], "_up-to-date": ["true"]})
    assert sorted(t["ID"] for t in current) == sorted(t["ID"] for t in tasks if t["JobIteration"]["Index"] == second)


async def test_a_tmpfs_mount_reaches_the_task_container(swarm: Swarm) -> None:
    """``--mount type=tmpfs`` / a compose ``type: tmpfs`` volume: the task's container gets its tmpfs, sized."""
    await swarm.create("scratch", ["sleep", "1000"], ContainerSpec={
        "Image": "busybox", "Args": ["sleep", "1000"], "StopGracePeriod": 0,
        "Mounts": [{"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 4 << 20, "Mode": 0o700}}]})
    (task,) = await swarm.running("scratch", 1)
    doc = await swarm.engine.containers.inspect(task["Status"]["ContainerStatus"]["ContainerID"])
    assert [(m["Type"], m["Destination"]) for m in doc["Mounts"]] == [("tmpfs", "/scratch")]
    with open(f"/proc/{doc['State']['Pid']}/mounts") as f:
        (line,) = [ln for ln in f if ln.split()[1] == "/scratch"]
    assert line.split()[2] == "tmpfs" and {"size=4096k", "mode=700", "noexec"} <= set(line.split()[3].split(","))


async def test_rejected_and_pending_tasks_say_why(swarm: Swarm, tmp_path: Any) -> None:
    spec: dict[str, Any] = {"Name": "ghost", "TaskTemplate": {"ContainerSpec": {"Image": "localhost:9/nosuch:latest"},
                                                             "RestartPolicy": {"Condition": "none"}}}
    await swarm.ok("POST", "/services/create", spec)
    missing = str(tmp_path / "not-there")
    await swarm.create("binder", ["sleep", "1000"], ContainerSpec={
        "Image": "busybox", "Args": ["sleep", "1000"],
        "Mounts": [{"Type": "bind", "Source": missing, "Target": "/data"}]}, RestartPolicy={"Condition": "none"})
    await swarm.create("picky", ["sleep", "1000"], Placement={"Constraints": ["node.labels.zone==blue"]})

    async def said() -> bool:
        ghost, binder, picky = [await swarm.tasks(n) for n in ("ghost", "binder", "picky")]
        return bool(ghost and binder and picky) and ghost[0]["Status"]["State"] == "rejected" and \
            binder[0]["Status"]["State"] == "rejected"
    await swarm.until(said)
    ghost, binder, picky = [await swarm.tasks(n) for n in ("ghost", "binder", "picky")]
    assert ghost[0]["Status"]["Err"] == "No such image: localhost:9/nosuch:latest"  # (pulled first: nothing listens)
    assert binder[0]["Status"]["Err"] == (f'invalid mount config for type "bind": bad mount source path: stat '
                                          f"{missing}: no such file or directory")
    assert not os.path.exists(missing)
    assert picky[0]["Status"]["State"] == "pending"
    assert picky[0]["Status"]["Err"] == "no suitable node (scheduling constraints not satisfied on 1 node)"
    node = await swarm.ok("GET", "/nodes/self")
    await swarm.ok("POST", f"/nodes/{node['ID']}/update", dict(node["Spec"], Labels={"zone": "blue"}),
                   version=node["Version"]["Index"])
    await swarm.running("picky", 1)
    assert len(await swarm.tasks("picky")) == 1  # the pending task itself ran


async def test_secrets_configs_and_merged_logs(swarm: Swarm) -> None:
    import base64
    sec = await swarm.ok("POST", "/secrets/create", {"Name": "pw", "Data": base64.b64encode(b"hunter2").decode()})
    cfg = await swarm.ok("POST", "/configs/create", {"Name": "conf", "Data": base64.b64encode(b"x=1").decode()})
    assert (await swarm.ok("GET", "/secrets/pw"))["ID"] == sec["ID"]
    assert "Data" not in (await swarm.ok("GET", f"/secrets/{sec['ID']}"))["Spec"]
    assert base64.b64decode((await swarm.ok("GET", "/configs/conf"))["Spec"]["Data"]) == b"x=1"
    on_disk = os.path.join(swarm.engine.paths.root, "swarm", "secrets", sec["ID"])
    assert os.stat(on_disk).st_mode & 0o777 == 0o600
    status, _ = await swarm.error("POST", "/secrets/create", {"Name": "pw", "Data": "eA=="})
    assert status == 409
    sid = await swarm.create("reader", [], replicas=2, ContainerSpec={
        "Image": "busybox", "Args": ["sh", "-c", "cat /run/secrets/pw; echo; cat /etc/app.conf; echo; sleep 1000"],
        "StopGracePeriod": 0,
        "Secrets": [{"SecretName": "pw", "SecretID": sec["ID"], "File": {"Name": "pw", "UID": "0", "GID": "0",
                                                                        "Mode": 0o444}}],
        "Configs": [{"ConfigName": "conf", "ConfigID": cfg["ID"], "File": {"Name": "/etc/app.conf", "UID": "0",
                                                                          "GID": "0", "Mode": 0o444}}]})
    tasks = await swarm.running("reader", 2)
    status, text = await swarm.error("DELETE", "/secrets/pw")
    assert status == 400 and "is in use by the following service: reader" in text

    async def logged() -> bool:
        got = [e async for e in swarm.engine.swarm.service_logs(sid)]
        return len(got) == 4
    await swarm.until(logged)
    lines = [e async for e in swarm.engine.swarm.service_logs(sid)]
    assert sorted(e["log"].strip() for e in lines) == ["hunter2", "hunter2", "x=1", "x=1"]
    node = swarm.engine.swarm.node_id()
    assert {e["details"] for e in lines} == {f"com.docker.swarm.node.id={node},com.docker.swarm.service.id={sid},"
                                            f"com.docker.swarm.task.id={t['ID']}" for t in tasks}
    resp = await swarm.call("GET", f"/services/{sid}/logs", stdout="1", details="1")
    frames = b"".join([c async for c in resp.stream])
    assert frames.count(b"com.docker.swarm.task.id=") == 4
    # following ends when the service goes, even with its tasks gone first
    follow = swarm.engine.swarm.service_logs(sid, follow=True, tail="0")
    await swarm.ok("DELETE", f"/services/{sid}")
    seen = [e async for e in follow]
    assert all("details" in e for e in seen)
    await swarm.until(lambda: _no_tasks(swarm))
    await swarm.ok("DELETE", "/secrets/pw")
    assert not os.path.exists(on_disk)


async def _no_tasks(swarm: Swarm) -> bool:
    return not swarm.engine.state.tasks()


async def test_rolling_update_start_first_and_rollback_on_failure(swarm: Swarm) -> None:
    sid = await swarm.create("roll", ["sleep", "1000"], replicas=2)
    old = {t["ID"] for t in await swarm.running("roll", 2)}
    svc = await swarm.ok("GET", f"/services/{sid}")
    spec = json.loads(json.dumps(svc["Spec"]))
    spec["TaskTemplate"]["ContainerSpec"]["Env"] = ["V=2"]
    spec["UpdateConfig"] = {"Parallelism": 1, "Order": "start-first", "Monitor": 0, "FailureAction": "pause"}
    await swarm.ok("POST", f"/services/{sid}/update", spec, version=svc["Version"]["Index"])

    async def updated() -> bool:
        s = await swarm.ok("GET", f"/services/{sid}")
        return (s.get("UpdateStatus") or {}).get("State") == "completed"
    await swarm.until(updated)
    now = await swarm.running("roll", 2)
    assert not old & {t["ID"] for t in now}
    assert all(t["Spec"]["ContainerSpec"]["Env"] == ["V=2"] for t in now)

    svc = await swarm.ok("GET", f"/services/{sid}")
    bad = json.loads(json.dumps(svc["Spec"]))
    bad["TaskTemplate"]["ContainerSpec"]["Image"] = "localhost:9/nosuch:latest"  # (a pull nothing answers)
    bad["UpdateConfig"] = {"Parallelism": 1, "Monitor": SECOND // 2, "FailureAction": "rollback"}
    await swarm.ok("POST", f"/services/{sid}/update", bad, version=svc["Version"]["Index"])

    async def rolled_back() -> bool:
        s = await swarm.ok("GET", f"/services/{sid}")
        return (s.get("UpdateStatus") or {}).get("State") == "rollback_completed"
    await swarm.until(rolled_back)
    s = await swarm.ok("GET", f"/services/{sid}")
    assert s["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == "busybox"
    final = await swarm.running("roll", 2)
    assert all(t["Spec"]["ContainerSpec"]["Image"] == "busybox" for t in final)


async def test_leave_force_leaves_nothing(swarm: Swarm) -> None:
    await swarm.create("a", ["sleep", "1000"], replicas=3)
    await swarm.create("b", ["sleep", "1000"], replicas=1, ContainerSpec={
        "Image": "busybox", "Args": ["sleep", "1000"]})  # the default grace period: leave does not wait for it
    await swarm.running("a", 3)
    await swarm.running("b", 1)
    networks_before = {n["Name"] for n in swarm.engine.state.networks()}
    assert "ingress" in networks_before
    await swarm.ok("POST", "/swarm/leave", force="1")
    assert not swarm.engine.state.containers()
    assert {n["Name"] for n in swarm.engine.state.networks()} == {"bridge", "host", "none"}
    assert not os.path.exists(os.path.join(swarm.engine.paths.root, "swarm"))
    assert swarm.engine.state.swarm() is None and not swarm.engine.state.tasks()
    status, text = await swarm.error("GET", "/services")
    assert status == 503 and text.startswith("This node is not a swarm manager.")
    assert (await swarm.call("GET", "/_ping")).headers["Swarm"] == "inactive"
    shutil.rmtree(os.path.join(swarm.engine.paths.root, "swarm"), ignore_errors=True)


HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def _get(port: int) -> str:
    import urllib.request
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"http://127.0.0.1:{port}/index.html",
                                                                           timeout=3) as r:
        return str(r.read().decode().strip())


async def test_published_port_balances_over_ready_replicas(swarm: Swarm) -> None:
    import socket
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = int(s.getsockname()[1])
    s.close()
    spec: dict[str, Any] = {
        "Name": "web", "Mode": {"Replicated": {"Replicas": 2}},
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sh", "-c", HTTPD], "StopGracePeriod": 0},
                         "RestartPolicy": {"Condition": "any", "Delay": 0}},
        "EndpointSpec": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}]}}
    sid = (await swarm.ok("POST", "/services/create", spec))["ID"]
    tasks = await swarm.running("web", 2)
    names = {t["Status"]["ContainerStatus"]["ContainerID"][:12] for t in tasks}

    async def both() -> bool:
        try:
            seen = {(await asyncio.to_thread(_get, port)).removeprefix("hello-from-") for _ in range(6)}
        except OSError:
            return False
        return seen == names
    await swarm.until(both)
    svc = await swarm.ok("GET", f"/services/{sid}")
    assert svc["Endpoint"]["Ports"] == [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port,
                                         "PublishMode": "ingress"}]
    assert svc["Endpoint"]["VirtualIPs"]
    status, text = await swarm.error("POST", "/services/create", dict(spec, Name="other"))
    assert status == 409 and str(port) in text
    assert [x["Spec"]["Name"] for x in await swarm.ok("GET", "/services")] == ["web"]
    os.kill(tasks[0]["Status"]["ContainerStatus"]["PID"], signal.SIGKILL)

    async def replaced() -> bool:
        now = await swarm.running("web", 2)
        fresh = {t["Status"]["ContainerStatus"]["ContainerID"][:12] for t in now}
        if fresh == names:
            return False
        try:
            seen = {(await asyncio.to_thread(_get, port)).removeprefix("hello-from-") for _ in range(6)}
        except OSError:
            return False
        return seen == fresh
    await swarm.until(replaced)
    await swarm.ok("POST", "/swarm/leave", force="1")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


async def test_health_decides_traffic_and_an_unhealthy_replica_is_replaced(swarm: Swarm) -> None:
    import socket
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = int(s.getsockname()[1])
    s.close()
    check = {"Test": ["CMD-SHELL", "if test -f /www/bad; then exit 1; elif test -f /www/ok; then exit 0; else "
                                   "sleep 30; fi"],
             "Interval": SECOND // 10, "Timeout": 60 * SECOND, "Retries": 1}
    spec: dict[str, Any] = {
        "Name": "checked", "Mode": {"Replicated": {"Replicas": 1}},
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sh", "-c", HTTPD], "StopGracePeriod": 0,
                                           "HealthCheck": check},
                         "RestartPolicy": {"Condition": "any", "Delay": 0}},
        "EndpointSpec": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}]}}
    await swarm.ok("POST", "/services/create", spec)
    (task,) = await swarm.running("checked", 1)
    cid = task["Status"]["ContainerStatus"]["ContainerID"]
    assert (await swarm.engine.containers.inspect(cid))["State"]["Health"]["Status"] == "starting"
    with pytest.raises(OSError):
        await asyncio.to_thread(_get, port)  # running, but not healthy yet: not a backend
    www = f"/proc/{task['Status']['ContainerStatus']['PID']}/root/www"  # the container's own files
    open(f"{www}/ok", "w").close()

    async def answers() -> bool:
        try:
            return (await asyncio.to_thread(_get, port)).startswith("hello-from-")
        except OSError:
            return False
    await swarm.until(answers)
    os.unlink(f"{www}/ok")
    open(f"{www}/bad", "w").close()

    async def replaced() -> bool:
        ts = await swarm.tasks("checked")
        return any(t["ID"] == task["ID"] and t["Status"]["State"] == "failed" for t in ts) and len(ts) == 2
    await swarm.until(replaced)
    old = next(t for t in await swarm.tasks("checked") if t["ID"] == task["ID"])
    assert old["Status"]["Err"].endswith("unhealthy container")


async def test_start_first_update_with_a_health_check_fails_no_request(swarm: Swarm) -> None:
    """A client loop through the published port sees every request answered while both replicas are
    replaced (start-first: the new one serves once healthy, the old one leaves the pool before it stops)."""
    import socket
    import threading
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = int(s.getsockname()[1])
    s.close()
    # healthy once the server answers (a file check would pass before httpd listens)
    check = {"Test": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/index.html"], "Interval": SECOND // 5,
             "Timeout": 5 * SECOND, "Retries": 1}
    spec: dict[str, Any] = {
        "Name": "rolling", "Mode": {"Replicated": {"Replicas": 2}},
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sh", "-c", HTTPD], "StopGracePeriod": 0,
                                           "HealthCheck": check},
                         "RestartPolicy": {"Condition": "any", "Delay": 0}},
        "UpdateConfig": {"Parallelism": 1, "Order": "start-first", "Monitor": 0, "FailureAction": "pause"},
        "EndpointSpec": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": port}]}}
    sid = (await swarm.ok("POST", "/services/create", spec))["ID"]
    old = {t["ID"] for t in await swarm.running("rolling", 2)}

    async def answers() -> bool:
        try:
            return (await asyncio.to_thread(_get, port)).startswith("hello-from-")
        except OSError:
            return False
    await swarm.until(answers)
    stop = threading.Event()
    results: list[str] = []

    def client() -> None:
        while not stop.is_set():
            try:
                results.append(_get(port))
            except OSError as exc:
                results.append(f"failed: {exc}")
    loop = threading.Thread(target=client)
    loop.start()
    try:
        svc = await swarm.ok("GET", f"/services/{sid}")
        new = json.loads(json.dumps(svc["Spec"]))
        new["TaskTemplate"]["ContainerSpec"]["Env"] = ["V=2"]
        await swarm.ok("POST", f"/services/{sid}/update", new, version=svc["Version"]["Index"])

        async def updated() -> bool:
            s = await swarm.ok("GET", f"/services/{sid}")
            return (s.get("UpdateStatus") or {}).get("State") == "completed"
        await swarm.until(updated, 60)
        await asyncio.sleep(0.5)  # and a little after the last old replica went
    finally:
        stop.set()
        await asyncio.to_thread(loop.join)
    now = {t["ID"] for t in await swarm.running("rolling", 2)}
    assert not old & now
    failed = [r for r in results if r.startswith("failed")]
    assert len(results) > 50 and failed == [], (len(results), failed[:5])
