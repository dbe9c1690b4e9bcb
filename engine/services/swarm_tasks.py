"""The reconciler's host (engine/swarm/reconciler.py's ``Host``): tasks as rows of the store and as
containers made, started, watched, stopped and removed through the containers service.

A task's container is ``<service>.<slot>.<task id>`` with docker's ``com.docker.swarm.*`` labels; its
secrets and configs are files under ``<root>/swarm/tasks/<task id>/`` bound read-only where docker mounts
them (``/run/secrets/<name>``, a config at its target, ``/<name>`` by default).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

from ..errors import EngineError, ImageNotFound, NotFound
from ..swarm import model, policy, taskspec
from ..swarm.model import rfc3339_nano
from ..swarm.taskspec import Rejected
from ..state import State
from .containers import Containers
from .events import Events

TASK_LABEL = "com.docker.swarm.task.id"


class TaskHost:
    """Tasks for the reconciler, over one :class:`~engine.services.swarm.Swarm`."""

    def __init__(self, swarm: Any) -> None:  # engine.services.swarm.Swarm (which imports this module)
        self.swarm = swarm
        self.state: State = swarm.state
        self.containers: Containers = swarm.containers

    # -- reading ----------------------------------------------------------------------------------
    def active(self) -> bool:
        return bool(self.swarm.active())

    def node(self) -> dict[str, Any]:
        return dict(self.swarm.node())

    def history_limit(self) -> int:
        row = self.state.swarm()
        if row is None:
            return 5
        limit = (row["spec"].get("Orchestration") or {}).get("TaskHistoryRetentionLimit")
        return 5 if limit is None else int(limit)

    def services(self) -> list[dict[str, Any]]:
        return self.state.services()

    def service(self, service_id: str) -> dict[str, Any] | None:
        return self.state.service(service_id)

    def tasks(self, service_id: str | None = None) -> list[dict[str, Any]]:
        return self.state.tasks(service_id)

    def task(self, task_id: str) -> dict[str, Any] | None:
        return self.state.task(task_id)

    # -- writing ----------------------------------------------------------------------------------
    def new_task(self, service: dict[str, Any], slot: int, state: str, *, message: str | None = None,
                 err: str | None = None, start_at: float = 0.0,
                 restarts: list[float] | None = None) -> dict[str, Any]:
        spec = service["spec"]
        node_id = self.swarm.node_id()
        tid = model.new_id()
        now = rfc3339_nano()
        name = model.task_name(service["name"], slot, node_id, tid, model.mode_of(spec).startswith("global"))
        row = {"id": tid, "service_id": service["id"], "slot": slot, "node_id": node_id if state != "pending" else "",
               "created": now, "updated": now, "spec": spec.get("TaskTemplate") or {},
               "status": model.status(state, message, err), "desired_state": "running",
               "doc": {"Name": name, "ServiceName": service["name"], "SpecVersion": service["version"],
                       "EndpointSpec": spec.get("EndpointSpec") or {}, "StartAt": start_at,
                       "Restarts": restarts or [], "Labels": dict(spec.get("Labels") or {}),
                       **({"Job": True} if model.mode_of(spec).endswith("-job") else {})}}
        row["version"] = self.state.insert_task(row)
        return row

    def set_status(self, task_id: str, state: str, *, message: str | None = None, err: str | None = None,
                   exit_code: int | None = None) -> None:
        t = self.state.task(task_id)
        if t is None:
            return
        cs = (t["status"].get("ContainerStatus") or {})
        status = model.status(state, message, err, container_id=t["container_id"], pid=0 if model.ORDER.get(state, 0)
                              > model.ORDER["running"] else int(cs.get("PID") or 0),
                              exit_code=exit_code if exit_code is not None else cs.get("ExitCode"))
        self.state.update_task(task_id, rfc3339_nano(), status=status)

    def set_desired(self, task_id: str, desired: str) -> None:
        self.state.update_task(task_id, rfc3339_nano(), desired_state=desired)

    def set_update_status(self, service_id: str, status: dict[str, Any] | None) -> None:
        self.state.update_service(service_id, rfc3339_nano(), update_status=status)

    def roll_back(self, service_id: str, message: str) -> bool:
        row = self.state.service(service_id)
        if row is None or not row["previous_spec"]:
            return False
        return self.state.update_service(service_id, rfc3339_nano(), spec=row["previous_spec"],
                                         previous_spec=row["spec"], update_status={
                                             "State": "rollback_started", "StartedAt": rfc3339_nano(),
                                             "Message": message}) is not None

    # -- a task's container -----------------------------------------------------------------------
    def _networks(self, task: dict[str, Any]) -> list[tuple[str, list[str]]]:
        """(network name, aliases) for each of the task's networks; ``ingress`` when the service publishes
        an ingress port and has no network of its own (as docker)."""
        out = []
        for n in task["spec"].get("Networks") or []:
            try:
                doc = self.swarm.networks.resolve(n["Target"])
            except NotFound:
                raise Rejected(f"network {n['Target']} not found") from None
            out.append((doc["Name"], list(n.get("Aliases") or [])))
        if not out and taskspec.publishes_ingress(task["doc"].get("EndpointSpec")) and \
                self.state.network_by_name("ingress") is not None:
            out.append(("ingress", []))
        return out

    def _files(self, task: dict[str, Any]) -> list[str]:
        """The task's secrets and configs as files, and their read-only binds."""
        cs = task["spec"].get("ContainerSpec") or {}
        binds = []
        base = os.path.join(self.swarm.dir, "tasks", task["id"])
        for kind, key, default_dir in (("secrets", "Secret", "/run/secrets"), ("configs", "Config", "/")):
            for ref in cs.get(key + "s") or []:
                try:
                    data = self.swarm.blob_data(kind, ref[key + "ID"])
                except (FileNotFoundError, KeyError):
                    raise Rejected(f"{key.lower()} {ref.get(key + 'Name') or ref.get(key + 'ID')} not found") from None
                file = ref.get("File") or {}
                target = file.get("Name") or ref.get(key + "Name") or ref[key + "ID"]
                dest = target if target.startswith("/") else os.path.join(default_dir, target)
                os.makedirs(os.path.join(base, kind), mode=0o700, exist_ok=True)
                path = os.path.join(base, kind, ref[key + "ID"])
                with open(path, "wb") as f:
                    f.write(data)
                os.chmod(path, int(file.get("Mode") or 0o444) & 0o777)
                try:
                    os.chown(path, int(file.get("UID") or 0), int(file.get("GID") or 0))
                except (OSError, ValueError):
                    pass
                binds.append(f"{path}:{dest}:ro")
        return binds

    async def prepare(self, service: dict[str, Any], task: dict[str, Any]) -> str:
        """Create the task's container (``preparing`` → ``ready``); raises :class:`Rejected` with docker's
        text when it cannot be made (no such image, a bad bind, an unknown network)."""
        tid = task["id"]
        cs = task["spec"].get("ContainerSpec") or {}
        image = cs.get("Image") or ""
        try:
            self.swarm.images.resolve(image)
        except EngineError:  # not here: pulled from its registry, as docker's agents do
            if not await self.swarm.pull(image, service["id"]):
                raise Rejected(f"No such image: {image}") from None
        networks = self._networks(task)
        name = task["doc"]["Name"]
        config = taskspec.container_config(service, task, name, self.swarm.node_id(), networks, self._files(task))
        try:
            created = await self.containers.create(config, name=name)
        except ImageNotFound:
            raise Rejected(f"No such image: {image}") from None
        except EngineError as exc:
            raise Rejected(str(exc)) from None
        cid = str(created["Id"])
        for net, aliases in networks[1:]:
            try:
                await self.swarm.networks.connect(net, cid, aliases=aliases or None)
            except EngineError as exc:
                await self._remove(cid)
                raise Rejected(str(exc)) from None
        status = model.status("ready", container_id=cid)
        if self.state.update_task(tid, rfc3339_nano(), container_id=cid, status=status) is None:
            await self._remove(cid)  # the task went meanwhile (its service was removed)
            raise Rejected("task removed")
        return cid

    async def start(self, task_id: str) -> None:
        t = self.state.task(task_id)
        if t is None or not t["container_id"]:
            raise Rejected("task removed")
        cid = t["container_id"]
        await self.containers.start(cid)
        st = self.containers.runtime_state(cid)
        status = model.status("running", container_id=cid, pid=int(st.get("pid") or 0))
        self.state.update_task(task_id, rfc3339_nano(), status=status)
        self._attachments(task_id, cid)

    def _attachments(self, task_id: str, cid: str) -> None:
        """The task's ``NetworksAttachments`` (docker's: the network and the task's address on it)."""
        doc = self.state.container(cid) or {}
        attachments = []
        for name, ep in ((doc.get("NetworkSettings") or {}).get("Networks") or {}).items():
            if not ep.get("IPAddress"):
                continue
            net = self.state.network_by_name(name) or {}
            attachments.append({"Network": {"ID": ep.get("NetworkID") or net.get("Id", ""),
                                            "Spec": {"Name": name, "Labels": net.get("Labels") or {}},
                                            "DriverState": {"Name": net.get("Driver", "bridge")}},
                                "Addresses": [f"{ep['IPAddress']}/{ep.get('IPPrefixLen') or 24}"]})
        t = self.state.task(task_id)
        if t is not None and attachments:
            self.state.update_task(task_id, rfc3339_nano(), doc=dict(t["doc"], NetworksAttachments=attachments))

    async def wait_exit(self, task_id: str) -> None:
        """Until the task's container ends; then its state as docker's: ``complete`` (exit 0), ``failed``
        (``task: non-zero exit (N)``), or ``shutdown`` when it was asked to stop."""
        t = self.state.task(task_id)
        if t is None or not t["container_id"]:
            return
        cid = t["container_id"]
        try:
            await self.containers.wait(cid)
            code: int | None = int(self.containers.runtime_state(cid).get("exit_code") or 0)
        except NotFound:
            code = None
        self._ended(task_id, code)

    def _interrupted(self, task_id: str) -> None:
        """Marks a task that ended while no manager watched it: its slot's next task starts at once."""
        t = self.state.task(task_id)
        if t is not None:
            self.state.update_task(task_id, rfc3339_nano(), doc=dict(t["doc"], Interrupted=True))

    def _ended(self, task_id: str, code: int | None) -> None:
        t = self.state.task(task_id)
        if t is None or policy.is_ended(t):
            return
        if t["desired_state"] in ("shutdown", "remove"):
            self.set_status(task_id, "shutdown", exit_code=code)
        elif code is None:
            self.set_status(task_id, "failed", message="removed", err="task: container removed", exit_code=137)
        elif code == 0:
            self.set_status(task_id, "complete", exit_code=0)
        else:
            self.set_status(task_id, "failed", err=f"task: non-zero exit ({code})", exit_code=code)

    async def stop(self, task_id: str) -> None:
        """Stop the task's container (its stop signal, then SIGKILL after its grace period)."""
        t = self.state.task(task_id)
        if t is None:
            return
        if t["container_id"]:
            grace = (t["spec"].get("ContainerSpec") or {}).get("StopGracePeriod")
            try:
                await self.containers.stop(t["container_id"], t=None if grace is None else int(grace) // model.SECOND)
                code: int | None = int(self.containers.runtime_state(t["container_id"]).get("exit_code") or 0)
            except NotFound:
                code = None
        else:
            code = None
        t = self.state.task(task_id)
        if t is not None and not policy.is_ended(t):
            self.set_status(task_id, "shutdown", exit_code=code)

    async def _remove(self, cid: str) -> None:
        try:
            await self.containers.delete(cid, force=True)
        except NotFound:
            pass

    async def drop(self, task_id: str) -> None:
        """An old task out of the history: its container and files removed, its row deleted."""
        t = self.state.task(task_id)
        if t is None:
            return
        if t["container_id"]:
            await self._remove(t["container_id"])
        self.state.delete_task(task_id)
        shutil.rmtree(os.path.join(self.swarm.dir, "tasks", task_id), ignore_errors=True)

    async def remove_service_tasks(self, service_id: str) -> None:
        await self.swarm.remove_service_tasks(service_id)

    # -- readiness and the load balancer ----------------------------------------------------------
    def _runtime(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """The task container's runtime state (its monitor's record), or None without one."""
        cid = task["container_id"]
        if not cid:
            return None
        try:
            return self.containers.runtime_state(cid)
        except NotFound:
            return None

    def ready(self, task: dict[str, Any]) -> bool:
        """Running, and healthy when it has a health check (engine.runtime.health's rule)."""
        from ..runtime import health
        st = self._runtime(task)
        if st is None:
            return False
        running = st.get("status") == "running"
        return health.ready({"Running": running, "Health": health.shown(st.get("health"), running)})

    def unhealthy(self, task: dict[str, Any]) -> bool:
        st = self._runtime(task)
        if st is None:
            return False
        record = st.get("health")
        return st.get("status") == "running" and isinstance(record, dict) and record.get("Status") == "unhealthy"

    async def fail_unhealthy(self, task_id: str) -> None:
        t = self.state.task(task_id)
        if t is None or policy.is_ended(t) or not t["container_id"]:
            return
        self.set_status(task_id, "failed", err="task: non-zero exit (137): dockerexec: unhealthy container",
                        exit_code=137)
        try:
            await self.containers.kill(t["container_id"])
        except EngineError:
            pass  # it ended on its own meanwhile

    def backends(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for t in tasks:
            doc = self.state.container(t["container_id"]) or {}
            addresses = {}
            for name, ep in ((doc.get("NetworkSettings") or {}).get("Networks") or {}).items():
                if ep.get("IPAddress"):
                    addresses[ep.get("NetworkID") or name] = ep["IPAddress"]
            out.append({"task_id": t["id"], "slot": t["slot"], "addresses": addresses})
        return sorted(out, key=lambda b: (b["slot"], b["task_id"]))

    async def apply_endpoints(self, service: dict[str, Any], backends: list[dict[str, Any]]) -> None:
        endpoints = self.swarm.endpoints
        if endpoints is None:
            return
        endpoint = await endpoints.apply(self.swarm.service_doc(service), backends)
        self.state.update_service(service["id"], rfc3339_nano(), endpoint=endpoint)

    def health_events(self) -> AsyncIterator[dict[str, Any]]:
        events: Events = self.swarm.events
        return events.stream(filters={"type": ["container"]})

    # -- a new manager adopts the tasks ---------------------------------------------------------------
    async def adopt(self) -> list[str]:
        """What a previous manager left: running task containers are kept (their ids returned, to watch);
        a task whose container is gone or ended meanwhile has ended (the restart policy replaces it); a
        task container no task row knows (a crash between the two writes) is removed."""
        by_task: dict[str, str] = {}
        for c in self.state.containers():
            tid = ((c.get("Config") or {}).get("Labels") or {}).get(TASK_LABEL)
            if tid:
                by_task[tid] = c["Id"]
        watch = []
        known = set()
        for t in self.state.tasks():
            known.add(t["id"])
            cid = t["container_id"] or by_task.get(t["id"], "")
            if cid and not t["container_id"]:
                self.state.update_task(t["id"], rfc3339_nano(), container_id=cid)
            if policy.is_ended(t):
                continue
            if t["desired_state"] == "remove" or self.state.service(t["service_id"]) is None:
                continue  # the pass removes these
            if t["status"].get("State") == "pending" and not cid:
                continue
            status = self.containers.status(cid) if cid and self.state.container(cid) is not None else ""
            if status == "running":
                if t["status"].get("State") != "running":
                    st = self.containers.runtime_state(cid)
                    self.state.update_task(t["id"], rfc3339_nano(), status=model.status(
                        "running", container_id=cid, pid=int(st.get("pid") or 0)))
                if t["desired_state"] == "shutdown":
                    await self.stop(t["id"])
                    continue
                watch.append(t["id"])
            elif status in ("exited", "dead"):
                self._interrupted(t["id"])
                self._ended(t["id"], int(self.containers.runtime_state(cid).get("exit_code") or 0))
            elif status == "created" or status == "":
                if cid:
                    await self._remove(cid)
                    self.state.update_task(t["id"], rfc3339_nano(), container_id="")
                self._interrupted(t["id"])
                t2 = self.state.task(t["id"])
                if t2 is not None and not policy.is_ended(t2):
                    if t2["desired_state"] in ("shutdown", "remove"):
                        self.set_status(t["id"], "shutdown")
                    else:
                        self.set_status(t["id"], "failed", err="task: the manager restarted before it started"
                                        if status == "created" or not t["container_id"] else "task: container removed")
        for tid, cid in by_task.items():
            if tid not in known:
                await self._remove(cid)
        return watch
