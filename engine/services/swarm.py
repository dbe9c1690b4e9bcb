"""Swarm mode on one node: the swarm, its node, services, tasks, secrets and configs, and their logs.

This node is the swarm's only manager (and its only worker). Objects are docker's (moby api/swagger.yaml
v1.50: Swarm, Node, Service, Task, Secret, Config), kept in the store (engine/state.py). The tasks are
run by the reconciler (:class:`engine.swarm.reconciler.Reconciler`), which only ``portside daemon``
starts (:meth:`Swarm.run`); in any other process this service still answers every route, and the
daemon converges what it wrote (a change made in-process wakes the reconciler at once).
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import copy
import json
import os
import platform
import re
import secrets as secrets_mod
import shutil
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..config import Paths
from ..errors import Conflict, EngineError, InvalidArgument, NotFound, NotImplementedByEngine, Unavailable
from ..state import State
from ..swarm import model, policy
from ..swarm.model import new_id, rfc3339_nano
from .containers import Containers
from .events import Events
from .filters import all_labels_match, truth
from .images import Images
from .networks import NOT_MANAGER, Networks

if TYPE_CHECKING:
    from .registry import Registry

ALREADY = ('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another '
           'one.')
NOT_IN_SWARM = "This node is not part of a swarm"
LEAVE_MANAGER = ("You are attempting to leave the swarm on a node that is participating as a manager. Removing "
                 "the last manager erases all current state of the swarm. Use `--force` to ignore this message.")
NO_JOIN = ("a Portside node is a single-node swarm manager and cannot join another swarm; to drive a real Swarm "
           "cluster, point the client at one of its managers (-H, DOCKER_HOST or a context)")
OUT_OF_SEQUENCE = "rpc error: code = Unknown desc = update out of sequence"
DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
SWARM_PORT = 2377
STACK_LABEL = "com.docker.stack.namespace"


def _token(kind: str, cluster: str) -> str:
    return f"SWMTKN-1-{secrets_mod.token_hex(25)[:50]}-{kind}{cluster[:20]}"[:85]


def _unlock_key() -> str:
    return "SWMKEY-1-" + base64.b64encode(secrets_mod.token_bytes(32)).decode().rstrip("=")


def _advertise(addr: str | None) -> str:
    """The address this node advertises: the one given (an IP or an interface's name, a port dropped),
    else the address of the interface that holds the default route."""
    import ipaddress
    import socket
    if addr:
        host = addr.rsplit(":", 1)[0] if addr.count(":") == 1 else addr
        try:
            return str(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            pass
        import fcntl
        import struct
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", host.encode()[:15]))  # SIOCGIFADDR
            return socket.inet_ntoa(packed[20:24])
        except OSError:
            raise InvalidArgument(f"advertise address must be a non-zero IP address or network interface (with "
                                  f"optional port number): {addr!r} is neither") from None
        finally:
            s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # a datagram socket's connect picks the route; nothing is sent
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def _mem_total() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class Swarm:
    """The manager: ``/swarm``, ``/nodes``, ``/services``, ``/tasks``, ``/secrets``, ``/configs``."""

    def __init__(self, state: State, paths: Paths, containers: Containers, networks: Networks, images: Images,
                 events: Events, endpoints: Any | None, registry: Callable[[], Registry] | None = None) -> None:
        self.state = state
        self.registry = registry  # the registry service, built when a task first pulls its image
        self.paths = paths
        self.containers = containers
        self.networks = networks
        self.images = images
        self.events = events
        self.endpoints = endpoints  # engine/services/endpoints.py's Endpoints (VIPs, ingress, DNS), if built
        self.dir = os.path.join(paths.root, "swarm")
        self.reconciler: Any = None  # set by run() in the daemon

    # -- the swarm --------------------------------------------------------------------------------
    def active(self) -> bool:
        return self.state.swarm() is not None

    def _pull_auth_path(self, service_id: str) -> str:
        return os.path.join(self.dir, "pull-auth", service_id)

    def _keep_pull_auth(self, service_id: str, auth: dict[str, Any] | None) -> None:
        """Keep (``auth``) or forget (None) the credentials a service's tasks pull with: a file of its
        own, root's alone, never in the spec (dockerd keeps them out of inspect too)."""
        path = self._pull_auth_path(service_id)
        if not auth:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(auth, f)
        os.replace(tmp, path)

    def pull_auth(self, service_id: str) -> dict[str, Any] | None:
        try:
            with open(self._pull_auth_path(service_id)) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    async def pull(self, image: str, service_id: str | None = None) -> bool:
        """Pull a task's image that is not here (docker's agents pull it too), with the credentials its
        service was given, else the node's own login; False when it cannot be had."""
        if self.registry is None:
            return False
        try:
            async for _ in self.registry().pull(image, auth=self.pull_auth(service_id) if service_id else None):
                pass
        except EngineError:
            return False
        return True

    def _manager(self) -> dict[str, Any]:
        row = self.state.swarm()
        if row is None:
            raise Unavailable(NOT_MANAGER)
        return row

    def kick(self) -> None:
        """Tell the reconciler (when it runs in this process) that the desired state changed."""
        if self.reconciler is not None:
            self.reconciler.kick()

    def node_id(self) -> str:
        return str(self._manager()["node_id"])

    async def init(self, advertise_addr: str | None = None, listen_addr: str = "0.0.0.0:2377",
                   force_new_cluster: bool = False, swarm_spec: dict[str, Any] | None = None,
                   default_addr_pool: builtins.list[str] | None = None, subnet_size: int | None = None,
                   data_path_port: int | None = None) -> str:
        """``POST /swarm/init``: this node becomes the manager of a new swarm; returns its node id."""
        if self.state.swarm() is not None:
            if not force_new_cluster:
                raise Unavailable(ALREADY)
            return self.node_id()
        addr = _advertise(advertise_addr)
        spec = self._merge_spec(copy.deepcopy(model.SWARM_SPEC_DEFAULTS), swarm_spec or {})
        cluster, node = new_id(), new_id()
        now = rfc3339_nano()
        tokens = {"Worker": _token("worker", cluster), "Manager": _token("manager", cluster)}
        unlock = _unlock_key() if (spec.get("EncryptionConfig") or {}).get("AutoLockManagers") else ""
        node_row = {"addr": addr, "listen": listen_addr, "created": now, "updated": now, "version": 1,
                    "spec": {"Labels": {}, "Role": "manager", "Availability": "active"},
                    "pool": default_addr_pool or ["10.0.0.0/8"], "subnet_size": subnet_size or 24,
                    "data_path_port": data_path_port or 4789}
        if not self.state.insert_swarm(cluster, node, now, spec, tokens, unlock, node_row):
            raise Unavailable(ALREADY)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        try:
            await self._ensure_ingress()
        except BaseException:
            self.state.clear_swarm()
            raise
        self.events.emit("node", "create", node, name=platform.node())
        self.kick()
        return node

    @staticmethod
    def _merge_spec(base: dict[str, Any], given: dict[str, Any], depth: int = 0) -> dict[str, Any]:
        """``given`` over docker's defaults; zeros in the raft, dispatcher and CA settings keep the
        default (docker's CLI sends them unset as 0, and the daemon fills them in)."""
        for key, value in given.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "Labels":
                base[key] = Swarm._merge_spec(base[key], value, depth + 1)
            elif value is not None and not (depth and value == 0 and base.get(key) and key != "KeepOldSnapshots"
                                            and key != "TaskHistoryRetentionLimit"):
                base[key] = value
        return base

    async def _ensure_ingress(self) -> None:
        """The ``ingress`` network (overlay, scope swarm) that published ports reach tasks through."""
        if self.state.network_by_name("ingress") is not None:
            return
        await self.networks.create("ingress", driver="overlay", ingress=True, labels={})

    async def join(self, **_: Any) -> None:
        if self.state.swarm() is not None:
            raise Unavailable(ALREADY)  # as dockerd: a member is told so first
        raise NotImplementedByEngine(NO_JOIN)

    async def leave(self, force: bool = False) -> None:
        """``POST /swarm/leave``: with ``force`` every service, task container, stack network and the
        ingress network go, and the load balancer's rules: the host is as before ``init``."""
        if self.state.swarm() is None:
            raise Unavailable(NOT_IN_SWARM)
        if not force:
            raise Unavailable(LEAVE_MANAGER)
        if self.reconciler is not None:
            async with self.reconciler.lock:  # no pass runs while the swarm goes
                await self.reconciler.stop()
                await self._dismantle()
        else:
            await self._dismantle()

    async def _dismantle(self) -> None:
        for service in self.state.services():
            self.state.delete_service(service["id"])
        await self._remove_tasks(self.state.tasks())
        await self._remove_task_containers()
        if self.endpoints is not None:
            await self.endpoints.clear()
        for net in self.state.networks():
            if net.get("Scope") == "swarm" or net.get("Name") == "ingress":
                try:
                    await self.networks.delete(net["Id"])
                except NotFound:
                    pass
        node = self.state.swarm()
        self.state.clear_swarm()
        shutil.rmtree(self.dir, ignore_errors=True)
        if node is not None:
            self.events.emit("node", "remove", node["node_id"], name=platform.node())

    async def _remove_tasks(self, tasks: builtins.list[dict[str, Any]]) -> None:
        """Task containers killed and removed at once (``leave --force``, a deleted service's leftovers)."""
        import asyncio
        await asyncio.gather(*(self._remove_container(t["container_id"], kill=True) for t in tasks
                               if t["container_id"]))
        for t in tasks:
            self.state.delete_task(t["id"])
            shutil.rmtree(os.path.join(self.dir, "tasks", t["id"]), ignore_errors=True)

    async def _remove_task_containers(self) -> None:
        """Any container labelled as a task (one whose row went with a crash) is removed too."""
        for c in self.state.containers():
            if "com.docker.swarm.task.id" in ((c.get("Config") or {}).get("Labels") or {}):
                await self._remove_container(c["Id"], kill=True)

    async def _remove_container(self, cid: str, kill: bool = False) -> None:
        try:
            await self.containers.delete(cid, force=True)
        except NotFound:
            pass

    def _swarm_doc(self, row: dict[str, Any], tokens: bool = True) -> dict[str, Any]:
        node = row["node"]
        doc: dict[str, Any] = {
            "ID": row["cluster_id"], "Version": {"Index": row["version"]}, "CreatedAt": row["created"],
            "UpdatedAt": row["updated"], "Spec": row["spec"],
            "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
            "RootRotationInProgress": False, "DefaultAddrPool": node.get("pool") or ["10.0.0.0/8"],
            "SubnetSize": node.get("subnet_size") or 24, "DataPathPort": node.get("data_path_port") or 4789}
        if tokens:
            doc["JoinTokens"] = row["join_tokens"]
        return doc

    async def inspect(self) -> dict[str, Any]:
        """``GET /swarm``."""
        return self._swarm_doc(self._manager())

    async def update(self, version: int, spec: dict[str, Any], rotate_worker_token: bool = False,
                     rotate_manager_token: bool = False, rotate_manager_unlock_key: bool = False) -> None:
        """``POST /swarm/update?version=N``."""
        row = self._manager()
        if version != row["version"]:
            raise Conflict(OUT_OF_SEQUENCE)
        if not isinstance(spec, dict):
            raise InvalidArgument("invalid JSON body: a swarm spec (a JSON object) is required")
        limit = (spec.get("Orchestration") or {}).get("TaskHistoryRetentionLimit")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidArgument(f"json: cannot unmarshal number {limit} into Go struct field "
                                  f"OrchestrationConfig.Orchestration.TaskHistoryRetentionLimit of type int64")
        merged = self._merge_spec(copy.deepcopy(model.SWARM_SPEC_DEFAULTS), spec)
        tokens = dict(row["join_tokens"])
        if rotate_worker_token:
            tokens["Worker"] = _token("worker", row["cluster_id"])
        if rotate_manager_token:
            tokens["Manager"] = _token("manager", row["cluster_id"])
        autolock = bool((merged.get("EncryptionConfig") or {}).get("AutoLockManagers"))
        unlock = row["unlock_key"]
        if autolock and (not unlock or rotate_manager_unlock_key):
            unlock = _unlock_key()
        elif not autolock:
            unlock = ""
        if not self.state.update_swarm(version, rfc3339_nano(), spec=merged, join_tokens=tokens, unlock_key=unlock):
            raise Conflict(OUT_OF_SEQUENCE)
        self.kick()

    async def unlock_key(self) -> dict[str, str]:
        """``GET /swarm/unlockkey``: ``""`` when autolock is off, as dockerd answers (its CLI says "no unlock
        key is set")."""
        return {"UnlockKey": self._manager()["unlock_key"] or ""}

    async def unlock(self, key: str) -> None:
        """``POST /swarm/unlock``: this manager never locks (its state stays on this host), so a wrong key
        is refused and the right one changes nothing."""
        row = self._manager()
        if not row["unlock_key"]:
            raise Unavailable("swarm is not locked")
        if key != row["unlock_key"]:
            raise InvalidArgument("invalid key")

    async def info(self) -> dict[str, Any]:
        """``GET /info``'s ``Swarm`` section."""
        row = self.state.swarm()
        if row is None:
            return {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                    "Error": "", "RemoteManagers": None}
        addr = row["node"]["addr"]
        return {"NodeID": row["node_id"], "NodeAddr": addr, "LocalNodeState": "active", "ControlAvailable": True,
                "Error": "", "RemoteManagers": [{"NodeID": row["node_id"], "Addr": f"{addr}:{SWARM_PORT}"}],
                "Nodes": 1, "Managers": 1, "Cluster": self._swarm_doc(row, tokens=False)}

    # -- nodes ------------------------------------------------------------------------------------
    def _node_doc(self, row: dict[str, Any]) -> dict[str, Any]:
        node = row["node"]
        from ..images.archive import goarch
        del goarch
        return {
            "ID": row["node_id"], "Version": {"Index": node.get("version", 1)}, "CreatedAt": node["created"],
            "UpdatedAt": node["updated"], "Spec": node["spec"],
            "Description": {
                "Hostname": platform.node(), "Platform": {"Architecture": platform.machine(), "OS": "linux"},
                "Resources": {"NanoCPUs": (os.cpu_count() or 1) * model.SECOND, "MemoryBytes": _mem_total()},
                "Engine": {"EngineVersion": __version__, "Plugins": [
                    {"Type": "Log", "Name": "json-file"}, {"Type": "Network", "Name": "bridge"},
                    {"Type": "Network", "Name": "host"}, {"Type": "Network", "Name": "null"},
                    {"Type": "Network", "Name": "overlay"}, {"Type": "Volume", "Name": "local"}]},
                "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""}},
            "Status": {"State": "ready", "Addr": node["addr"]},
            "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": f"{node['addr']}:{SWARM_PORT}"}}

    def node(self) -> dict[str, Any]:
        """This node, as ``GET /nodes/{id}`` shows it."""
        return self._node_doc(self._manager())

    def _node_for(self, node_id: str) -> dict[str, Any]:
        row = self._manager()
        doc = self._node_doc(row)
        if node_id in ("self", row["node_id"], platform.node()) or (node_id and row["node_id"].startswith(node_id)):
            return doc
        raise NotFound(f"node {node_id} not found")

    async def nodes_list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        doc = self.node()
        f = filters or {}
        checks: builtins.list[tuple[str, Callable[[str], bool]]] = [
                  ("id", lambda v: doc["ID"].startswith(v)), ("name", lambda v: v in doc["Description"]["Hostname"]),
                  ("role", lambda v: v == "manager"), ("membership", lambda v: v == "accepted"),
                  ("label", lambda v: all_labels_match(doc["Description"]["Engine"].get("Labels") or {}, [v])),
                  ("node.label", lambda v: all_labels_match(doc["Spec"].get("Labels") or {}, [v]))]
        for key, ok in checks:
            if key in f and not any(ok(v) for v in f[key]):
                return []
        return [doc]

    async def node_inspect(self, node_id: str) -> dict[str, Any]:
        return self._node_for(node_id)

    async def node_update(self, node_id: str, version: int, spec: dict[str, Any]) -> None:
        """``POST /nodes/{id}/update``: labels and availability (a manager's role stays manager)."""
        doc = self._node_for(node_id)
        if version != doc["Version"]["Index"]:
            raise Conflict(OUT_OF_SEQUENCE)
        if not isinstance(spec, dict):
            raise InvalidArgument("invalid JSON body: a node spec (a JSON object) is required")
        role = spec.get("Role") or "manager"
        if role != "manager":
            raise InvalidArgument("attempting to demote the last manager of the swarm")
        availability = spec.get("Availability") or "active"
        if availability not in ("active", "pause", "drain"):
            raise InvalidArgument(f"invalid availability: {availability}")
        row = self._manager()
        node = dict(row["node"], spec={"Labels": spec.get("Labels") or {}, "Role": role,
                                       "Availability": availability, **({"Name": spec["Name"]} if spec.get("Name")
                                                                        else {})},
                    updated=rfc3339_nano(), version=self.state.next_index())
        self.state.update_swarm(None, row["updated"], node=node)
        self.kick()

    async def node_delete(self, node_id: str, force: bool = False) -> None:
        self._node_for(node_id)
        raise InvalidArgument(f"rpc error: code = FailedPrecondition desc = node {node_id} is a cluster manager "
                              f"and is a member of the raft cluster. It must be demoted to worker before removal")

    # -- services ---------------------------------------------------------------------------------
    def _service_row(self, service_id: str) -> dict[str, Any]:
        self._manager()
        row = self.state.service(service_id) or self.state.service_by_name(service_id)
        if row is None and service_id:
            ids = self.state.service_ids_with_prefix(service_id)
            if len(ids) == 1:
                row = self.state.service(ids[0])
        if row is None:
            raise NotFound(f"service {service_id} not found")
        return row

    def service_doc(self, row: dict[str, Any], insert_defaults: bool = False) -> dict[str, Any]:
        spec = model.with_defaults(row["spec"]) if insert_defaults else row["spec"]
        doc: dict[str, Any] = {"ID": row["id"], "Version": {"Index": row["version"]}, "CreatedAt": row["created"],
                               "UpdatedAt": row["updated"], "Spec": spec}
        if row["previous_spec"]:
            doc["PreviousSpec"] = row["previous_spec"]
        doc["Endpoint"] = row["endpoint"] or self._plain_endpoint(row["spec"])
        if row["update_status"]:
            doc["UpdateStatus"] = row["update_status"]
        if model.mode_of(row["spec"]).endswith("-job"):  # each version of a job's spec is one run of it
            doc["JobStatus"] = {"JobIteration": {"Index": row["version"]}, "LastExecution": self._last_execution(row)}
        return doc

    def _last_execution(self, row: dict[str, Any]) -> str:
        """When a job's present iteration began: its first task's creation (the service's own before)."""
        firsts = [t["created"] for t in self.state.tasks(row["id"]) if policy.of_version(t, row["version"])]
        return min(firsts) if firsts else str(row["updated"])

    @staticmethod
    def _plain_endpoint(spec: dict[str, Any]) -> dict[str, Any]:
        """The Endpoint of a service the load balancer has not answered for yet: its spec and ports."""
        es = spec.get("EndpointSpec") or {}
        out: dict[str, Any] = {"Spec": {"Mode": es.get("Mode") or "vip", **({"Ports": es["Ports"]} if es.get("Ports")
                                                                           else {})}}
        if es.get("Ports"):
            out["Ports"] = [{"Protocol": p.get("Protocol") or "tcp", "TargetPort": p.get("TargetPort"),
                             "PublishedPort": p.get("PublishedPort"), "PublishMode": p.get("PublishMode") or "ingress"}
                            for p in es["Ports"]]
        return out

    def _counts(self, row: dict[str, Any]) -> dict[str, int]:
        tasks = self.state.tasks(row["id"])
        mode = model.mode_of(row["spec"])
        if mode.endswith("-job"):  # a job's counts are its present iteration's
            tasks = [t for t in tasks if policy.of_version(t, row["version"])]
        running = sum(1 for t in tasks if t["status"].get("State") == "running" and t["desired_state"] == "running")
        desired = model.replicas_of(row["spec"]) if mode == "replicated" else \
            sum(1 for t in tasks if t["desired_state"] in ("running", "ready", "complete"))
        if mode == "global":
            desired = 1 if self._placeable(row["spec"]) else 0
        elif mode.endswith("-job"):  # the job's tasks meant to run now (not those done)
            desired = sum(1 for t in tasks if policy.is_active(t))
        completed = sum(1 for t in tasks if t["status"].get("State") == "complete")
        return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": completed}

    def _placeable(self, spec: dict[str, Any]) -> bool:
        constraints = ((spec.get("TaskTemplate") or {}).get("Placement") or {}).get("Constraints") or []
        try:
            return policy.constraints_met(constraints, self.node())
        except policy.ConstraintError:
            return False

    async def services_list(self, filters: dict[str, builtins.list[str]] | None = None,
                            status: bool = False) -> builtins.list[dict[str, Any]]:
        """``GET /services[?status=true]``, with docker's filters (id, name prefixes, label, mode)."""
        self._manager()
        f = filters or {}
        out = []
        for row in self.state.services():
            spec = row["spec"]
            if "id" in f and not any(row["id"].startswith(v) for v in f["id"]):
                continue
            if "name" in f and not any(row["name"].startswith(v) for v in f["name"]):
                continue
            if "label" in f and not all_labels_match(spec.get("Labels") or {}, f["label"]):
                continue
            if "mode" in f and model.mode_of(spec) not in f["mode"]:
                continue
            doc = self.service_doc(row)
            if status:
                doc["ServiceStatus"] = self._counts(row)
            out.append(doc)
        return out

    async def service_inspect(self, service_id: str, insert_defaults: bool = False) -> dict[str, Any]:
        return self.service_doc(self._service_row(service_id), insert_defaults)

    def _check_spec(self, given: Any, service_id: str | None = None) -> dict[str, Any]:
        """docker's checks of a ServiceSpec (one-line errors, before anything changes); returns the spec to
        store: network names resolved to ids, secret and config names to theirs."""
        if not isinstance(given, dict):
            raise InvalidArgument("invalid JSON body: a service spec (a JSON object) is required")
        spec: dict[str, Any] = model.without_nulls(given)
        if not spec.get("Name"):
            spec["Name"] = f"{secrets_mod.choice(('brave', 'calm', 'eager', 'jolly', 'keen'))}_" \
                           f"{secrets_mod.choice(('curie', 'hopper', 'lovelace', 'turing', 'noether'))}"
        name = spec["Name"]
        if not isinstance(name, str) or len(name) > 63 or not DNS_NAME.match(name):
            raise InvalidArgument("rpc error: code = InvalidArgument desc = name must be valid as a DNS name "
                                  "component")
        template = spec.setdefault("TaskTemplate", {})
        if not isinstance(template, dict):
            raise InvalidArgument("json: cannot unmarshal into Go struct field ServiceSpec.TaskTemplate of type "
                                  "swarm.TaskSpec")
        cs = template.get("ContainerSpec")
        if not isinstance(cs, dict) or not cs.get("Image"):
            raise InvalidArgument("rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be "
                                  "provided")
        if spec.get("Mode") is not None:
            spec["Mode"] = model.canonical_mode(spec["Mode"])
        mode = spec.get("Mode") or {}
        replicas = (mode.get("Replicated") or {}).get("Replicas")
        if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0):
            raise InvalidArgument(f"json: cannot unmarshal number {replicas} into Go struct field "
                                  f"ReplicatedService.Mode.Replicated.Replicas of type uint64")
        if len([k for k in ("Replicated", "Global", "ReplicatedJob", "GlobalJob") if k in mode]) > 1:
            raise InvalidArgument("rpc error: code = InvalidArgument desc = only one service mode may be set")
        if replicas is None and not any(k in mode for k in ("Global", "ReplicatedJob", "GlobalJob")):
            spec["Mode"] = {"Replicated": {"Replicas": 1}}  # dockerd's default, which it then shows
        if not isinstance(spec.get("Labels"), dict):
            spec["Labels"] = {}  # dockerd shows an empty map for none
        # what dockerd shows for the fields it always has (swarmkit's enums and integers at their zero value)
        cs.setdefault("Isolation", "default")
        template.setdefault("ForceUpdate", 0)
        template.setdefault("Runtime", "container")
        es = spec.get("EndpointSpec")
        if isinstance(es, dict):
            es.setdefault("Mode", "vip")
            for p in es.get("Ports") or []:
                if isinstance(p, dict):
                    p.setdefault("Protocol", "tcp")
                    p.setdefault("PublishMode", "ingress")
        for c in (template.get("Placement") or {}).get("Constraints") or []:
            try:
                policy.parse_constraint(c)
            except policy.ConstraintError as exc:
                raise InvalidArgument(f"rpc error: code = InvalidArgument desc = {exc}") from None
        policy_ = template.get("RestartPolicy") or {}
        if policy_.get("Condition") not in (None, "", "none", "on-failure", "any"):
            raise InvalidArgument(f"invalid RestartCondition: {policy_['Condition']!r}: it should be none, "
                                  f"on-failure or any")
        for key in ("UpdateConfig", "RollbackConfig"):
            cfg = spec.get(key) or {}
            if cfg.get("FailureAction") not in (None, "", "pause", "continue", "rollback"):
                raise InvalidArgument(f"invalid {key}.FailureAction: {cfg['FailureAction']!r}")
            if cfg.get("Order") not in (None, "", "stop-first", "start-first"):
                raise InvalidArgument(f"invalid {key}.Order: {cfg['Order']!r}")
        networks = template.get("Networks") or spec.get("Networks") or []
        resolved = []
        for n in networks:
            target = n.get("Target") if isinstance(n, dict) else None
            if not target:
                raise InvalidArgument("rpc error: code = InvalidArgument desc = network attachment needs a Target")
            try:
                net = self.networks.resolve(target)
            except NotFound:
                raise NotFound(f"network {target} not found") from None
            if net["Name"] in ("host", "none", "bridge") or net["Name"] == "ingress" and not n.get("_ingress"):
                if net["Name"] == "ingress":
                    raise InvalidArgument("rpc error: code = InvalidArgument desc = service cannot be explicitly "
                                          "attached to the ingress network \"ingress\"")
            resolved.append(dict(n, Target=net["Id"]))
        if networks:
            template["Networks"] = resolved
            spec.pop("Networks", None)
        for kind, key in (("secrets", "Secrets"), ("configs", "Configs")):
            refs = []
            for ref in cs.get(key) or []:
                obj = self._blob_row(kind, ref.get(key[:-1] + "ID") or ref.get(key[:-1] + "Name") or "")
                refs.append(dict(ref, **{key[:-1] + "ID": obj["id"], key[:-1] + "Name": obj["name"]}))
            if refs:
                cs[key] = refs
        for m in cs.get("Mounts") or []:
            if (m.get("Type") or "volume") not in ("bind", "volume", "tmpfs"):
                raise InvalidArgument(f"invalid mount type: {m.get('Type')!r}")
            if not m.get("Target"):
                raise InvalidArgument("rpc error: code = InvalidArgument desc = ContainerSpec: mount target is "
                                      "required")
        ports = (spec.get("EndpointSpec") or {}).get("Ports") or []
        seen: set[tuple[int, str]] = set()
        for p in ports:
            if not isinstance(p.get("TargetPort"), int) or not 0 < p["TargetPort"] < 65536:
                raise InvalidArgument(f"invalid target port: {p.get('TargetPort')!r}")
            pub = p.get("PublishedPort")
            if pub:
                if not isinstance(pub, int) or not 0 < pub < 65536:
                    raise InvalidArgument(f"invalid published port: {pub!r}")
                key_ = (pub, p.get("Protocol") or "tcp")
                if key_ in seen:
                    raise InvalidArgument(f"rpc error: code = InvalidArgument desc = duplicate published ports "
                                          f"provided: {pub}")
                seen.add(key_)
        if ports:
            self._check_ports(ports, service_id)
        return spec

    def _check_ports(self, ports: builtins.list[dict[str, Any]], service_id: str | None) -> None:
        if self.endpoints is not None:
            self.endpoints.check_ports(ports, service_id)
            return
        mine = {(p.get("PublishedPort"), p.get("Protocol") or "tcp") for p in ports if p.get("PublishedPort")}
        for other in self.state.services():
            if other["id"] == service_id:
                continue
            for p in (other["spec"].get("EndpointSpec") or {}).get("Ports") or []:
                if (p.get("PublishedPort"), p.get("Protocol") or "tcp") in mine:
                    raise Conflict(f"port '{p['PublishedPort']}' is already in use by service '{other['name']}' "
                                   f"({other['id']}) as an ingress port")

    async def service_create(self, spec: dict[str, Any], auth: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST /services/create``: ``{"ID", "Warnings"}``; the reconciler makes its tasks. ``auth`` (the
        client's ``X-Registry-Auth``, ``--with-registry-auth``) is what its tasks pull with."""
        self._manager()
        spec = self._check_spec(spec)
        service_id = new_id()
        if self.state.service_by_name(spec["Name"]) is not None or \
                self.state.insert_service(service_id, spec["Name"], rfc3339_nano(), spec) is None:
            raise Conflict(f"rpc error: code = AlreadyExists desc = name conflicts with an existing object: service "
                           f"{spec['Name']} already exists")
        self._keep_pull_auth(service_id, auth)
        self.events.emit("service", "create", service_id, name=spec["Name"])
        self.kick()
        return {"ID": service_id, "Warnings": None}  # (a client warns of what it could not pin, as docker's)

    async def service_update(self, service_id: str, version: int, spec: dict[str, Any],
                             rollback: str | None = None, auth: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST /services/{id}/update?version=N[&rollback=previous]``; ``auth``, when sent, replaces what
        the tasks pull with (not sent: the service keeps its own, as dockerd)."""
        row = self._service_row(service_id)
        if version != row["version"]:
            raise Conflict(OUT_OF_SEQUENCE)
        if rollback == "previous":
            if not row["previous_spec"]:
                raise InvalidArgument(f"rpc error: code = FailedPrecondition desc = service {row['id']} does not "
                                      f"have a previous spec")
            new = self._check_spec(row["previous_spec"], row["id"])
        else:
            new = self._check_spec(spec, row["id"])
        if new["Name"] != row["name"]:
            raise InvalidArgument("rpc error: code = Unimplemented desc = renaming services is not supported")
        if model.mode_of(new) != model.mode_of(row["spec"]):
            raise InvalidArgument("rpc error: code = Unimplemented desc = service mode change is not allowed")
        update_status = row["update_status"]
        changed_tasks = policy.task_spec_key(new.get("TaskTemplate") or {}) != \
            policy.task_spec_key(row["spec"].get("TaskTemplate") or {})
        now = rfc3339_nano()
        if rollback == "previous":
            update_status = {"State": "rollback_started", "StartedAt": now, "Message": "manually requested rollback"}
        elif changed_tasks:
            update_status = {"State": "updating", "StartedAt": now, "Message": "update in progress"}
        if model.mode_of(new).endswith("-job"):
            update_status = None  # a job is not rolled out but run again (swarmkit's): no update to follow
        got = self.state.update_service(row["id"], now, expected_version=version, spec=new,
                                        previous_spec=row["spec"], update_status=update_status)
        if got is None:
            raise Conflict(OUT_OF_SEQUENCE)
        if auth:
            self._keep_pull_auth(row["id"], auth)
        self.events.emit("service", "update", row["id"], name=row["name"])
        self.kick()
        return {"Warnings": None}

    async def service_delete(self, service_id: str) -> None:
        """``DELETE /services/{id}``: the service, its load balancer's rules, its tasks and their containers."""
        row = self._service_row(service_id)
        self.state.delete_service(row["id"])
        self._keep_pull_auth(row["id"], None)
        for t in self.state.tasks(row["id"]):
            if t["desired_state"] != "remove":
                self.state.update_task(t["id"], rfc3339_nano(), desired_state="remove")
        if self.endpoints is not None:
            await self.endpoints.remove(row["id"])
        self.events.emit("service", "remove", row["id"], name=row["name"])
        # the task containers go before the answer (each stopped within its grace period), so what the
        # service used can go right after: `stack rm` removes the stack's networks next
        reconciler = self.reconciler
        if reconciler is not None:
            await reconciler.release(row["id"])
        try:
            await self.remove_service_tasks(row["id"])
        finally:
            if reconciler is not None:
                reconciler.done_with(row["id"])
        self.kick()

    async def remove_service_tasks(self, service_id: str) -> None:
        """A removed service's tasks: containers stopped (their grace period) and removed, rows deleted."""
        import asyncio
        tasks = self.state.tasks(service_id)

        async def one(t: dict[str, Any]) -> None:
            if t["container_id"]:
                grace = ((t["spec"].get("ContainerSpec") or {}).get("StopGracePeriod"))
                try:
                    await self.containers.stop(t["container_id"], t=None if grace is None else int(grace) // model.SECOND)
                except NotFound:
                    pass
                await self._remove_container(t["container_id"])
            self.state.delete_task(t["id"])
            shutil.rmtree(os.path.join(self.dir, "tasks", t["id"]), ignore_errors=True)
        await asyncio.gather(*(one(t) for t in tasks))

    # -- tasks ------------------------------------------------------------------------------------
    def task_doc(self, t: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {"ID": t["id"], "Version": {"Index": t["version"]}, "CreatedAt": t["created"],
                               "UpdatedAt": t["updated"], "Labels": t["doc"].get("Labels") or {},
                               "Spec": t["spec"],
                               "ServiceID": t["service_id"]}
        if t["slot"]:
            doc["Slot"] = t["slot"]
        desired = t["desired_state"]
        if t["doc"].get("Job") and desired in ("running", "ready"):
            desired = "complete"  # docker's word for a job's task: it is meant to run to completion
        doc.update(NodeID=t["node_id"], Status=t["status"], DesiredState=desired)
        if t["doc"].get("Job"):
            doc["JobIteration"] = {"Index": t["doc"].get("SpecVersion", 0)}
        if t["doc"].get("NetworksAttachments"):
            doc["NetworksAttachments"] = t["doc"]["NetworksAttachments"]
        return doc

    def _task_row(self, task_id: str) -> dict[str, Any]:
        self._manager()
        t = self.state.task(task_id)
        if t is None and task_id:
            ids = self.state.task_ids_with_prefix(task_id)
            if len(ids) == 1:
                t = self.state.task(ids[0])
        if t is None:
            raise NotFound(f"task {task_id} not found")
        return t

    async def tasks_list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        """``GET /tasks`` with docker's filters: service, name, id, label, desired-state, node."""
        row = self._manager()
        f = filters or {}
        services = {s["id"]: s for s in self.state.services()}
        wanted_services: set[str] | None = None
        if "service" in f:  # each value names one service as dockerd resolves it: id, name, unique id prefix
            wanted_services = set()
            for v in f["service"]:
                try:
                    wanted_services.add(self._service_row(v)["id"])
                except NotFound:
                    pass  # a service gone meanwhile has no tasks to list
        up_to_date = truth(f, "up-to-date") if "up-to-date" in f else truth(f, "_up-to-date")
        keys: dict[str, str] = {}  # service id → its present task spec's key, made once for all its tasks
        out = []
        for t in self.state.tasks():
            if wanted_services is not None and t["service_id"] not in wanted_services:
                continue
            if "id" in f and not any(t["id"].startswith(v) for v in f["id"]):
                continue
            if "desired-state" in f and t["desired_state"] not in f["desired-state"] and not (
                    "running" in f["desired-state"] and t["desired_state"] == "ready"):
                continue
            if "node" in f and not any(v in (row["node_id"], platform.node(), "self") or row["node_id"].startswith(v)
                                       for v in f["node"]):
                continue
            if "label" in f and not all_labels_match(t["doc"].get("Labels") or {}, f["label"]):
                continue
            if up_to_date is not None and up_to_date != self._up_to_date(t, services.get(t["service_id"]), keys):
                continue
            if "name" in f:
                service = services.get(t["service_id"])
                sname = service["name"] if service else t["doc"].get("ServiceName", "")
                short = f"{sname}.{t['slot'] or t['node_id']}"
                if not any(short.startswith(v) or t["doc"].get("Name", "").startswith(v) for v in f["name"]):
                    continue
            out.append(self.task_doc(t))
        return out

    @staticmethod
    def _up_to_date(task: dict[str, Any], service: dict[str, Any] | None, keys: dict[str, str]) -> bool:
        """docker's ``up-to-date`` task filter: the task runs the service's present task spec (and, for a
        job, belongs to its present iteration); ``keys`` caches each service's spec key."""
        if service is None:
            return False
        if model.mode_of(service["spec"]).endswith("-job") and \
                not policy.of_version(task, service["version"]):
            return False
        if service["id"] not in keys:
            keys[service["id"]] = policy.task_spec_key(service["spec"].get("TaskTemplate") or {})
        return policy.task_spec_key(task["spec"]) == keys[service["id"]]

    async def task_inspect(self, task_id: str) -> dict[str, Any]:
        return self.task_doc(self._task_row(task_id))

    # -- logs -------------------------------------------------------------------------------------
    def service_logs(self, service_id: str, *, follow: bool = False, tail: str = "all",
                     since: float = 0, timestamps: bool = False, details: bool = False,
                     stdout: bool = True, stderr: bool = True,
                     task_id: str | None = None) -> AsyncIterator[dict[str, str]]:
        """The service's (or one task's) log entries ``{"stream", "log", "time", "details"}``, merged by
        time; ``details`` is docker's ``com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,
        com.docker.swarm.task.id=…``. Following ends when the service goes; a task that is gone ends
        its own part only. The service (or task) is looked up now: a missing one raises here."""
        if task_id is not None:
            one = self._task_row(task_id)
            return self._logs(one["service_id"], one["id"], follow, tail, since, stdout, stderr)
        return self._logs(self._service_row(service_id)["id"], None, follow, tail, since, stdout, stderr)

    async def _logs(self, sid: str, task_id: str | None, follow: bool, tail: str, since: float, stdout: bool,
                    stderr: bool) -> AsyncIterator[dict[str, str]]:
        import asyncio

        def pick(t: dict[str, Any]) -> bool:
            return task_id is None or t["id"] == task_id
        node = self.node_id()

        def attrs(t: dict[str, Any]) -> str:
            return (f"com.docker.swarm.node.id={node},com.docker.swarm.service.id={sid},"
                    f"com.docker.swarm.task.id={t['id']}")

        def current() -> builtins.list[dict[str, Any]]:
            return [t for t in self.state.tasks(sid) if pick(t) and t["container_id"]
                    and self.state.container(t["container_id"]) is not None]
        if not follow:
            entries: builtins.list[dict[str, str]] = []
            for t in current():
                try:
                    async for e in self.containers.logs(t["container_id"], stdout=stdout, stderr=stderr, tail=tail,
                                                        since=since):
                        entries.append(dict(e, details=attrs(t)))
                except NotFound:
                    continue
            entries.sort(key=lambda e: e.get("time", ""))
            for e in entries:
                yield e
            return
        queue: asyncio.Queue[dict[str, str] | None] = asyncio.Queue()
        readers: dict[str, asyncio.Task[None]] = {}

        async def read(t: dict[str, Any], first: bool) -> None:
            try:
                async for e in self.containers.logs(t["container_id"], stdout=stdout, stderr=stderr, follow=True,
                                                    tail=tail if first else "all", since=since):
                    await queue.put(dict(e, details=attrs(t)))
            except NotFound:
                pass

        async def watch() -> None:
            first = True
            while True:
                for t in current():
                    if t["id"] not in readers:
                        readers[t["id"]] = asyncio.create_task(read(t, first))
                first = False
                if self.state.service(sid) is None or (task_id is not None and all(r.done() for r in readers.values())):
                    await asyncio.gather(*readers.values(), return_exceptions=True)
                    await queue.put(None)
                    return
                await asyncio.sleep(0.5)
        watcher = asyncio.create_task(watch())
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            watcher.cancel()
            for r in readers.values():
                r.cancel()
            await asyncio.gather(watcher, *readers.values(), return_exceptions=True)

    # -- secrets and configs ----------------------------------------------------------------------
    def _blob_path(self, kind: str, object_id: str) -> str:
        return os.path.join(self.dir, kind, object_id)

    def _blob_row(self, kind: str, name_or_id: str) -> dict[str, Any]:
        self._manager()
        rows = self.state.blob_objects(kind)
        for r in rows:
            if name_or_id in (r["id"], r["name"]):
                return r
        hits = [r for r in rows if name_or_id and r["id"].startswith(name_or_id)]
        if len(hits) == 1:
            return hits[0]
        raise NotFound(f"{kind[:-1]} {name_or_id} not found")

    def _blob_doc(self, kind: str, row: dict[str, Any]) -> dict[str, Any]:
        spec = dict(row["spec"])
        if kind == "configs":
            try:
                with open(self._blob_path(kind, row["id"]), "rb") as f:
                    spec["Data"] = base64.b64encode(f.read()).decode()
            except FileNotFoundError:
                spec["Data"] = ""
        return {"ID": row["id"], "Version": {"Index": row["version"]}, "CreatedAt": row["created"],
                "UpdatedAt": row["updated"], "Spec": spec}

    async def blob_list(self, kind: str, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        """``GET /secrets`` / ``GET /configs`` (filters id, name, names, label)."""
        self._manager()
        f = filters or {}
        out = []
        for r in self.state.blob_objects(kind):
            if "id" in f and not any(r["id"].startswith(v) for v in f["id"]):
                continue
            if "name" in f and not any(r["name"].startswith(v) for v in f["name"]):
                continue
            if "names" in f and r["name"] not in f["names"]:
                continue
            if "label" in f and not all_labels_match(r["spec"].get("Labels") or {}, f["label"]):
                continue
            out.append(self._blob_doc(kind, r))
        return out

    async def blob_create(self, kind: str, spec: dict[str, Any]) -> dict[str, str]:
        """``POST /secrets/create`` / ``POST /configs/create``: ``{"ID"}``; the data (base64 in the spec)
        is kept in a 0600 file under the data root, never in the store."""
        self._manager()
        if not isinstance(spec, dict) or not spec.get("Name"):
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = {kind[:-1]} name must be provided")
        name = spec["Name"]
        if not re.fullmatch(r"[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?", name) or len(name) > 64:
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] "
                                  f"characters allowed, and the start and end character must be [a-zA-Z0-9]")
        if spec.get("Driver"):
            raise InvalidArgument(f"{kind[:-1]} drivers are not supported: give the data itself")
        try:
            data = base64.b64decode(spec.get("Data") or "", validate=True)
        except ValueError:
            raise InvalidArgument(_base64_error(str(spec.get("Data")))) from None
        if len(data) > 500 * 1024 if kind == "secrets" else len(data) > 1000 * 1024:
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = {kind[:-1]} data must be larger than 0 "
                                  f"and less than 500KB" if kind == "secrets" else
                                  "rpc error: code = InvalidArgument desc = config data must be less than 1000KB")
        if kind == "secrets" and not data:
            raise InvalidArgument("rpc error: code = InvalidArgument desc = secret data must be larger than 0 and "
                                  "less than 500KB")
        object_id = new_id()
        stored = {k: v for k, v in spec.items() if k != "Data"}
        stored.setdefault("Labels", {})
        os.makedirs(os.path.join(self.dir, kind), mode=0o700, exist_ok=True)
        path = self._blob_path(kind, object_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if self.state.insert_blob_object(kind, object_id, name, rfc3339_nano(), stored) is None:
            os.unlink(path)
            raise Conflict(f"rpc error: code = AlreadyExists desc = {kind[:-1]} {name} already exists")
        self.events.emit(kind[:-1], "create", object_id, name=name)
        return {"ID": object_id}

    async def blob_inspect(self, kind: str, name_or_id: str) -> dict[str, Any]:
        return self._blob_doc(kind, self._blob_row(kind, name_or_id))

    async def blob_update(self, kind: str, name_or_id: str, version: int, spec: dict[str, Any]) -> None:
        """Only the labels of a secret or config change (docker's rule)."""
        row = self._blob_row(kind, name_or_id)
        if not isinstance(spec, dict):
            raise InvalidArgument(f"invalid JSON body: a {kind[:-1]} spec (a JSON object) is required")
        if spec.get("Name", row["name"]) != row["name"] or ("Data" in spec and spec["Data"] and
                                                              base64.b64decode(spec["Data"]) != self.blob_data(kind, row["id"])):
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = only updates to Labels are allowed")
        new = dict(row["spec"], Labels=spec.get("Labels") or {})
        if self.state.update_blob_object(kind, row["id"], version, rfc3339_nano(), new) is None:
            raise Conflict(OUT_OF_SEQUENCE)

    def blob_data(self, kind: str, object_id: str) -> bytes:
        with open(self._blob_path(kind, object_id), "rb") as f:
            return f.read()

    async def blob_delete(self, kind: str, name_or_id: str) -> None:
        row = self._blob_row(kind, name_or_id)
        key = "SecretID" if kind == "secrets" else "ConfigID"
        users = [s["name"] for s in self.state.services()
                 if any(r.get(key) == row["id"] for r in
                        ((s["spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}).get(kind.capitalize()) or [])]
        if users:
            raise InvalidArgument(f"rpc error: code = InvalidArgument desc = {kind[:-1]} '{row['name']}' is in use by "
                                  f"the following service: {', '.join(users)}")
        self.state.delete_blob_object(kind, row["id"])
        try:
            os.unlink(self._blob_path(kind, row["id"]))
        except FileNotFoundError:
            pass
        self.events.emit(kind[:-1], "remove", row["id"], name=row["name"])

    # -- the reconciler (portside daemon only) ----------------------------------------------------
    async def run(self) -> None:
        """Converge the swarm's services until cancelled (``portside daemon``). One reconciler per data
        root: a second daemon over the same root serves the API and waits for the first one's lock."""
        import asyncio
        import fcntl

        from ..swarm.reconciler import Reconciler
        from .swarm_tasks import TaskHost
        fd = os.open(os.path.join(self.paths.root, "swarm.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.5)
            if self.endpoints is not None and self.active():
                self.endpoints.recover()  # the rules, VIPs and port reservations as the last manager left them
            self.reconciler = Reconciler(TaskHost(self))
            try:
                await self.reconciler.run()
            finally:
                self.reconciler = None
        finally:
            os.close(fd)


def _base64_error(text: str) -> str:
    """Go's encoding/base64 error, as dockerd answers a secret or config whose data is not base64: the
    offset of the first byte that cannot be there (or the end, when only the length is wrong)."""
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    at = next((i for i, c in enumerate(text) if c not in alphabet), len(text))
    if at < len(text) and text[at] == "=" and all(c == "=" for c in text[at:]) and len(text) % 4 == 0:
        at = len(text)  # only the padding is wrong for the length
    return f"illegal base64 data at input byte {at}"

