"""docker-py (PyPI ``docker``, 7.x) in swarm mode against ``portside daemon``: its ``Swarm``, ``Node``,
``Service``, ``Secret`` and ``Config`` models and the task containers, through
``docker.DockerClient(base_url="unix://…")``.

One module-scoped daemon and swarm; the tests run in file order (init first, leave last), and the
``web`` service is shared by the service tests so the module stays well under a minute.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

docker = pytest.importorskip("docker")

if TYPE_CHECKING:
    from conftest import Daemon  # tests/clients/conftest.py

pytestmark = pytest.mark.root

T = TypeVar("T")
SERVICE = "pyweb"
LABEL = f"com.docker.swarm.service.name={SERVICE}"


def wait_for(what: Callable[[], T], until: Callable[[T], bool], seconds: float = 30) -> T:
    """Poll ``what()`` until ``until`` holds of it; on timeout, fail showing the last value seen."""
    deadline = time.monotonic() + seconds
    while True:
        seen = what()
        if until(seen):
            return seen
        if time.monotonic() >= deadline:
            raise AssertionError(f"not reached within {seconds} s; last seen: {seen!r}")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def running_tasks(service: Any) -> list[dict[str, Any]]:
    tasks = service.tasks(filters={"desired-state": "running"})
    return [t for t in tasks if t["Status"]["State"] == "running"]


def task_states(service: Any) -> list[tuple[Any, Any, Any]]:
    """What a failed wait shows: every task's slot, desired and current state."""
    return sorted(((t.get("Slot"), t["DesiredState"], t["Status"]["State"]) for t in service.tasks()),
                  key=repr)


def nulls(value: Any, path: str = "") -> list[str]:
    """Where a document has a ``null`` (dockerd leaves an empty field out of a spec: ``omitempty``)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in ([f"{path}.{k}"] if v is None else nulls(v, f"{path}.{k}"))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
    return []


def container_of(task: dict[str, Any]) -> str:
    return str(task["Status"]["ContainerStatus"]["ContainerID"])


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[Any]:
    c = docker.DockerClient(base_url=daemon.host, timeout=60)
    try:
        yield c
    finally:
        try:
            if c.info()["Swarm"]["LocalNodeState"] == "active":
                c.swarm.leave(force=True)
        finally:
            c.close()


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


def test_swarm_init_attrs_info_and_nodes(client: Any) -> None:
    assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
    node_id = client.swarm.init(advertise_addr="127.0.0.1")
    assert isinstance(node_id, str) and len(node_id) == 25, node_id
    attrs = client.swarm.attrs
    assert len(attrs["ID"]) == 25 and attrs["Version"]["Index"] >= 1
    assert attrs["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
    assert attrs["JoinTokens"]["Manager"].startswith("SWMTKN-1-")
    assert attrs["Spec"]["Name"] == "default" and attrs["Spec"]["Raft"]["ElectionTick"] == 10
    assert client.swarm.id == attrs["ID"] and client.swarm.version == attrs["Version"]["Index"]
    client.swarm.attrs = {}
    client.swarm.reload()
    assert client.swarm.attrs["ID"] == attrs["ID"]

    swarm = client.info()["Swarm"]
    assert swarm["LocalNodeState"] == "active" and swarm["ControlAvailable"] is True
    assert swarm["NodeID"] == node_id and swarm["NodeAddr"] == "127.0.0.1"
    assert swarm["Nodes"] == 1 and swarm["Managers"] == 1
    assert swarm["Cluster"]["ID"] == attrs["ID"]

    with pytest.raises(docker.errors.APIError, match="already part of a swarm") as again:
        client.swarm.init(advertise_addr="127.0.0.1")
    assert again.value.status_code == 503

    nodes = client.nodes.list()
    assert [n.id for n in nodes] == [node_id]
    node = nodes[0]
    assert node.attrs["Spec"]["Role"] == "manager" and node.attrs["Spec"]["Availability"] == "active"
    assert node.attrs["Status"]["State"] == "ready" and node.attrs["Status"]["Addr"] == "127.0.0.1"
    assert node.attrs["ManagerStatus"]["Leader"] is True
    assert node.attrs["ManagerStatus"]["Reachability"] == "reachable"
    assert node.attrs["Description"]["Hostname"] == socket.gethostname()
    assert client.nodes.get(node_id).attrs["ID"] == node_id
    assert [n.id for n in client.nodes.list(filters={"role": "manager"})] == [node_id]
    assert client.nodes.list(filters={"role": "worker"}) == []


def test_swarm_and_node_update(client: Any) -> None:
    version = client.swarm.version
    assert client.swarm.update(snapshot_interval=5000, task_history_retention_limit=3) is True
    client.swarm.reload()
    spec = client.swarm.attrs["Spec"]
    assert client.swarm.version > version
    assert spec["Raft"]["SnapshotInterval"] == 5000 and spec["Orchestration"]["TaskHistoryRetentionLimit"] == 3
    assert spec["CAConfig"]["NodeCertExpiry"] == 7776000 * 10**9 and nulls(client.swarm.attrs) == []
    assert client.swarm.update(task_history_retention_limit=5) is True  # back to docker's default
    client.swarm.reload()
    assert client.swarm.attrs["Spec"]["Raft"]["SnapshotInterval"] == 10000  # what an update leaves out resets

    assert client.swarm.get_unlock_key() == {"UnlockKey": ""}  # autolock is off
    assert client.swarm.update(autolock_managers=True) is True
    client.swarm.reload()
    assert client.swarm.attrs["Spec"]["EncryptionConfig"] == {"AutoLockManagers": True}
    key = client.swarm.get_unlock_key()["UnlockKey"]
    assert key.startswith("SWMKEY-1-")
    assert client.swarm.update(autolock_managers=True, rotate_manager_unlock_key=True) is True
    rotated = client.swarm.get_unlock_key()["UnlockKey"]
    assert rotated.startswith("SWMKEY-1-") and rotated != key
    client.swarm.reload()
    assert client.swarm.update(autolock_managers=False) is True
    assert client.swarm.get_unlock_key() == {"UnlockKey": ""}
    client.swarm.reload()

    node = client.nodes.list()[0]
    version = node.version
    assert node.update({"Availability": "active", "Role": "manager", "Labels": {"zone": "a"}}) is True
    node.reload()
    assert node.version > version and node.attrs["Spec"] == \
        {"Availability": "active", "Role": "manager", "Labels": {"zone": "a"}}
    assert [n.id for n in client.nodes.list(filters={"node.label": "zone=a"})] == [node.id]
    with pytest.raises(docker.errors.APIError, match="update out of sequence"):
        client.api.update_node(node.id, version, {"Availability": "active", "Role": "manager"})
    assert node.update({"Availability": "active", "Role": "manager"}) is True
    node.reload()
    assert node.attrs["Spec"]["Labels"] == {}


@pytest.fixture(scope="module")
def web(client: Any, port: int) -> Any:
    return client.services.create(
        "busybox", ["sh", "-c", "echo hello from $SLOT_GREETING; sleep 1000"], name=SERVICE,
        mode=docker.types.ServiceMode("replicated", replicas=2),
        endpoint_spec=docker.types.EndpointSpec(ports={port: 80}),
        restart_policy=docker.types.RestartPolicy(condition="any", delay=0),
        resources=docker.types.Resources(cpu_limit=500_000_000, mem_limit=64 * 1024 * 1024),
        labels={"tier": "front"}, env=["SLOT_GREETING=portside"], stop_grace_period=0)


def test_service_create_list_get(client: Any, web: Any, port: int) -> None:
    assert len(web.id) == 25
    web.reload()
    spec = web.attrs["Spec"]
    assert web.name == SERVICE and spec["Labels"] == {"tier": "front"}
    assert spec["Mode"] == {"Replicated": {"Replicas": 2}}
    container = spec["TaskTemplate"]["ContainerSpec"]
    assert container["Image"] == "busybox"
    assert container["Command"] == ["sh", "-c", "echo hello from $SLOT_GREETING; sleep 1000"]  # docker-py's
    assert "Args" not in container                                          # command is the spec's Command
    assert container["Env"] == ["SLOT_GREETING=portside"]
    assert spec["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"
    assert spec["TaskTemplate"]["RestartPolicy"]["Delay"] == 0
    assert spec["TaskTemplate"]["Resources"]["Limits"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 64 << 20}
    assert spec["EndpointSpec"] == {"Mode": "vip", "Ports": [{"Protocol": "tcp", "PublishedPort": port, "TargetPort": 80,
                                                             "PublishMode": "ingress"}]}  # dockerd's fill-ins
    assert (container["Isolation"], spec["TaskTemplate"]["Runtime"], spec["TaskTemplate"]["ForceUpdate"]) == \
        ("default", "container", 0)
    ports = web.attrs["Endpoint"]["Ports"]
    assert [(p["Protocol"], p["TargetPort"], p["PublishedPort"], p["PublishMode"]) for p in ports] == \
        [("tcp", 80, port, "ingress")]
    assert web.version >= 1
    assert nulls(spec) == []  # docker-py sends "Args": null, "Networks": null

    assert [s.id for s in client.services.list()] == [web.id]
    assert client.services.get(SERVICE).id == web.id
    assert client.services.get(web.id).name == SERVICE
    assert client.services.get(web.id[:6]).id == web.id
    assert [s.name for s in client.services.list(filters={"name": SERVICE})] == [SERVICE]
    assert [s.id for s in client.services.list(filters={"id": web.id})] == [web.id]
    assert client.services.list(filters={"name": "nosuch"}) == []
    assert [s.id for s in client.services.list(filters={"label": "tier=front"})] == [web.id]
    with pytest.raises(docker.errors.NotFound):
        client.services.get("nosuch")


def test_service_tasks_run(client: Any, web: Any) -> None:
    tasks = wait_for(lambda: running_tasks(web), lambda ts: len(ts) == 2)
    assert sorted(t["Slot"] for t in tasks) == [1, 2]
    for t in tasks:
        assert t["ServiceID"] == web.id and t["DesiredState"] == "running" and len(t["ID"]) == 25
        assert t["NodeID"] == client.nodes.list()[0].id
        assert t["Spec"]["ContainerSpec"]["Image"] == "busybox"
        assert len(container_of(t)) == 64
    assert {t["ID"] for t in web.tasks()} >= {t["ID"] for t in tasks}
    assert [t["ID"] for t in web.tasks(filters={"id": tasks[0]["ID"]})] == [tasks[0]["ID"]]
    status = [s.attrs["ServiceStatus"] for s in client.services.list(status=True)]
    assert [(s["RunningTasks"], s["DesiredTasks"]) for s in status] == [(2, 2)], status


def test_task_containers_by_service_label(client: Any, web: Any) -> None:
    tasks = running_tasks(web)
    containers = client.containers.list(filters={"label": LABEL})
    assert sorted(c.id for c in containers) == sorted(container_of(t) for t in tasks)
    for c in containers:
        assert c.status == "running"
        assert c.labels["com.docker.swarm.service.id"] == web.id
        assert c.labels["com.docker.swarm.task.id"] in {t["ID"] for t in tasks}
        assert c.name.startswith(f"{SERVICE}.") and len(c.name.split(".")[2]) == 25
        assert c.attrs["HostConfig"]["NanoCpus"] == 500_000_000
        assert c.attrs["HostConfig"]["Memory"] == 64 << 20
        assert "SLOT_GREETING=portside" in c.attrs["Config"]["Env"]
    assert client.containers.list(filters={"label": "com.docker.swarm.service.name=nosuch"}) == []


def test_service_logs(web: Any) -> None:
    def lines() -> list[bytes]:
        return b"".join(web.logs(stdout=True)).splitlines()
    seen = wait_for(lines, lambda ls: ls.count(b"hello from portside") == 2)
    assert seen == [b"hello from portside"] * 2
    assert b"".join(web.logs(stderr=True, stdout=False)) == b""
    detailed = b"".join(web.logs(stdout=True, details=True)).splitlines()
    assert len(detailed) == 2 and all(b"com.docker.swarm.service.id=" + web.id.encode() in line
                                      for line in detailed), detailed


def test_service_scale(web: Any) -> None:
    assert not web.scale(3).get("Warnings")  # docker-py hands back the ServiceUpdateResponse
    tasks = wait_for(lambda: running_tasks(web), lambda ts: len(ts) == 3)
    assert sorted(t["Slot"] for t in tasks) == [1, 2, 3]
    web.reload()
    assert web.attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 3}}
    spec = web.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert spec["Env"] == ["SLOT_GREETING=portside"]  # scale keeps the rest of the spec


def test_service_update_rolls_the_tasks(client: Any, web: Any, port: int) -> None:
    web.reload()
    before = {t["ID"] for t in running_tasks(web)}
    version = web.version
    web.update(env=["SLOT_GREETING=update"], command=["sh", "-c", "echo updated $SLOT_GREETING; sleep 1000"])
    web.reload()
    assert web.version > version
    spec = web.attrs["Spec"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Env"] == ["SLOT_GREETING=update"]
    assert spec["TaskTemplate"]["ContainerSpec"]["Command"] == \
        ["sh", "-c", "echo updated $SLOT_GREETING; sleep 1000"]
    # what the update left unsaid is kept (docker-py sends the current spec with it)
    assert spec["Mode"] == {"Replicated": {"Replicas": 3}} and spec["Labels"] == {"tier": "front"}
    assert spec["EndpointSpec"]["Ports"][0]["PublishedPort"] == port
    assert web.attrs["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Env"] == ["SLOT_GREETING=portside"]
    assert nulls(spec) == []  # docker-py's update sends every field it was not given as null

    def rolled() -> list[dict[str, Any]]:
        return [t for t in running_tasks(web)
                if t["Spec"]["ContainerSpec"]["Env"] == ["SLOT_GREETING=update"]]
    tasks = wait_for(rolled, lambda ts: len(ts) == 3 and len(running_tasks(web)) == 3, seconds=45)
    assert not before & {t["ID"] for t in tasks}
    assert sorted(t["Slot"] for t in tasks) == [1, 2, 3]
    shut = [t for t in web.tasks() if t["ID"] in before]
    assert [t["DesiredState"] for t in shut] == ["shutdown"] * 3, task_states(web)
    wait_for(lambda: sorted(c.id for c in client.containers.list(filters={"label": LABEL})),
             lambda ids: ids == sorted(container_of(t) for t in tasks))
    wait_for(lambda: b"".join(web.logs(stdout=True)).splitlines(),
             lambda ls: ls.count(b"updated update") == 3)


def test_service_remove_takes_its_containers(client: Any, web: Any) -> None:
    ids = [c.id for c in client.containers.list(all=True, filters={"label": LABEL})]
    assert len(ids) >= 3
    assert web.remove() is True
    assert client.services.list() == []
    with pytest.raises(docker.errors.NotFound):
        client.services.get(SERVICE)
    wait_for(lambda: client.containers.list(all=True, filters={"label": LABEL}), lambda cs: cs == [])
    for cid in ids:
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(cid)
    wait_for(lambda: client.api.tasks(filters={"service": SERVICE}), lambda ts: ts == [])


def test_secrets_and_configs(client: Any) -> None:
    secret = client.secrets.create(name="py-secret", data=b"s3cr3t", labels={"k": "v"})
    assert len(secret.id) == 25
    assert secret.name == "py-secret"
    got = client.secrets.get(secret.id)
    assert client.secrets.get("py-secret").id == secret.id  # by name too, as dockerd
    assert got.name == "py-secret" and got.attrs["Spec"]["Labels"] == {"k": "v"}
    assert "Data" not in got.attrs["Spec"]  # docker never shows a secret's data
    assert [s.id for s in client.secrets.list()] == [secret.id]
    assert [s.id for s in client.secrets.list(filters={"name": "py-secret"})] == [secret.id]
    assert client.secrets.list(filters={"name": "nosuch"}) == []

    config = client.configs.create(name="py-config", data="key = 1\n", labels={"k": "c"})
    assert len(config.id) == 25
    got_config = client.configs.get(config.id)
    assert client.configs.get("py-config").id == config.id
    assert got_config.name == "py-config" and got_config.attrs["Spec"]["Labels"] == {"k": "c"}
    assert got_config.attrs["Spec"]["Data"] == "a2V5ID0gMQo="  # a config's data is shown, base64
    assert [c.id for c in client.configs.list()] == [config.id]
    assert [c.id for c in client.configs.list(filters={"name": "py-config"})] == [config.id]

    assert secret.remove() is True
    assert config.remove() is True
    assert client.secrets.list() == [] and client.configs.list() == []
    with pytest.raises(docker.errors.NotFound):
        client.secrets.get(secret.id)
    with pytest.raises(docker.errors.NotFound):
        client.configs.get(config.id)


def test_service_sees_its_secret_and_config(client: Any) -> None:
    secret = client.secrets.create(name="py-db-pass", data=b"hunter2")
    config = client.configs.create(name="py-app-conf", data=b"mode=swarm\n")
    svc = client.services.create(
        "busybox", ["sleep", "1000"], name="pysecret", stop_grace_period=0,
        secrets=[docker.types.SecretReference(secret.id, "py-db-pass")],
        configs=[docker.types.ConfigReference(config.id, "py-app-conf", filename="/etc/app.conf")])
    try:
        svc.reload()
        # no mode and no labels given: dockerd's replicated 1 and an empty map, which docker-py's scale needs
        assert svc.attrs["Spec"]["Mode"] == {"Replicated": {"Replicas": 1}} and svc.attrs["Spec"]["Labels"] == {}
        refs = svc.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
        assert refs["Secrets"][0]["SecretID"] == secret.id and refs["Secrets"][0]["File"]["Name"] == "py-db-pass"
        assert refs["Configs"][0]["ConfigID"] == config.id
        assert refs["Configs"][0]["File"]["Name"] == "/etc/app.conf"
        task = wait_for(lambda: running_tasks(svc), lambda ts: len(ts) == 1)[0]
        container = client.containers.get(container_of(task))
        code, out = container.exec_run("cat /run/secrets/py-db-pass")
        assert (code, out) == (0, b"hunter2")
        code, out = container.exec_run("cat /etc/app.conf")
        assert (code, out) == (0, b"mode=swarm\n")
        with pytest.raises(docker.errors.APIError, match="in use"):
            secret.remove()
    finally:
        svc.remove()
    wait_for(lambda: client.containers.list(all=True, filters={"label": "com.docker.swarm.service.name=pysecret"}),
             lambda cs: cs == [])
    assert secret.remove() is True and config.remove() is True


def test_swarm_leave_leaves_nothing(client: Any) -> None:
    client.services.create("busybox", ["sleep", "1000"], name="pyleft", stop_grace_period=0,
                           mode=docker.types.ServiceMode("replicated", replicas=1))
    wait_for(lambda: client.containers.list(filters={"label": "com.docker.swarm.service.name=pyleft"}),
             lambda cs: len(cs) == 1)
    with pytest.raises(docker.errors.APIError, match="participating as a manager"):
        client.swarm.leave()
    assert client.swarm.leave(force=True) is True
    assert client.info()["Swarm"]["LocalNodeState"] == "inactive"
    assert client.containers.list(all=True) == []
    for listing in (client.services.list, client.nodes.list, lambda: client.api.tasks()):
        with pytest.raises(docker.errors.APIError, match="not a swarm manager") as err:
            listing()
        assert err.value.status_code == 503
    assert client.networks.list(names=["ingress"]) == []
