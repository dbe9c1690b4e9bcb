"""The service, task and node tables as docker's CLI prints them, the flags that build a service spec,
and how a service's progress is judged while the CLI waits for it (tui/cli/service.py, engine.client.stacks)."""

from __future__ import annotations

import pytest

from engine.client.stacks import assess, natural_key, spec_differs
from engine.errors import InvalidArgument
from tui.cli.node import node_rows
from tui.cli.service import (display_image, parse_mount, parse_port, replicas_of, service_ports, service_rows,
                             task_rows)
from tui.cli.template import format_table

NOW = 1_800_000_000.0
STAMP = "2027-01-15T07:59:57.500000001Z"  # NOW - 2.5 s, as the manager writes it


def port(published: int, target: int, proto: str = "tcp", mode: str = "ingress") -> dict[str, object]:
    return {"Protocol": proto, "TargetPort": target, "PublishedPort": published, "PublishMode": mode}


@pytest.mark.parametrize("ports, text", [
    ([], ""),
    ([port(80, 80)], "*:80->80/tcp"),
    ([port(81, 81), port(80, 80)], "*:80-81->80-81/tcp"),
    ([port(80, 80), port(81, 80)], "*:80-81->80/tcp"),
    ([port(80, 80), port(81, 81), port(82, 80)], "*:80-81->80-81/tcp, *:82->80/tcp"),
    ([port(53, 53, "udp"), port(80, 80)], "*:80->80/tcp, *:53->53/udp"),
    ([port(8080, 80, mode="host")], ""),  # host-mode ports show per task, not per service
])
def test_service_ports_are_grouped_as_docker_groups_them(ports: list[dict[str, object]], text: str) -> None:
    assert service_ports(ports) == text


@pytest.mark.parametrize("image, shown", [
    ("busybox:latest", "busybox:latest"),
    ("busybox", "busybox"),
    ("docker.io/library/nginx:1.25@sha256:" + "a" * 64, "nginx:1.25"),
    ("localhost:5000/app:v1", "localhost:5000/app:v1"),
    ("nginx@sha256:" + "b" * 64, "nginx@sha256:" + "b" * 64),  # no tag: kept as it is
])
def test_image_column_drops_the_digest_of_a_tagged_reference(image: str, shown: str) -> None:
    assert display_image(image) == shown


def service(name: str, replicas: int | None = 5, running: int = 5, mode: str = "Replicated") -> dict[str, object]:
    spec_mode: dict[str, object] = {"Global": {}} if mode == "Global" else {"Replicated": {"Replicas": replicas}}
    return {"ID": f"{name}id0123456789abcdefghij", "Spec": {
        "Name": name, "Mode": spec_mode, "TaskTemplate": {"ContainerSpec": {"Image": "web:1@sha256:" + "c" * 64}}},
        "ServiceStatus": {"RunningTasks": running, "DesiredTasks": replicas or 1, "CompletedTasks": 0},
        "Endpoint": {"Ports": [port(80, 80)]}}


def test_service_ls_table() -> None:
    rows = service_rows([service("web10", running=3), service("web9", mode="Global", replicas=1, running=1)])
    assert [r["Name"] for r in rows] == ["web9", "web10"]  # docker's natural order
    text = format_table("table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}", rows,
                        {"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE",
                         "Ports": "PORTS"})
    assert text.splitlines() == [
        "ID             NAME      MODE         REPLICAS   IMAGE     PORTS",
        "web9id012345   web9      global       1/1        web:1     *:80->80/tcp",
        "web10id01234   web10     replicated   3/5        web:1     *:80->80/tcp"]


def test_replicas_with_a_limit_per_node() -> None:
    s = service("web")
    s["Spec"]["TaskTemplate"]["Placement"] = {"MaxReplicas": 2}  # type: ignore[index]
    assert replicas_of(s) == "5/5 (max 2 per node)"


def task(tid: str, slot: int, state: str, desired: str = "running", created: str = "2027-01-15T08:00:00Z",
         err: str = "", ports: list[dict[str, object]] | None = None) -> dict[str, object]:
    status: dict[str, object] = {"State": state, "Timestamp": STAMP, "Err": err}
    if ports:
        status["PortStatus"] = {"Ports": ports}
    return {"ID": tid + "x" * (25 - len(tid)), "ServiceID": "sid", "NodeID": "nid", "Slot": slot,
            "DesiredState": desired, "CreatedAt": created, "Status": status,
            "Spec": {"ContainerSpec": {"Image": "web:1@sha256:" + "d" * 64}}}


def test_service_ps_rows_history_under_each_slot() -> None:
    tasks = [task("old1", 1, "failed", "shutdown", "2027-01-15T07:00:00Z", err="task: non-zero exit (1): the "
                  "command failed badly"),
             task("new1", 1, "running", created="2027-01-15T07:59:00Z", ports=[port(30000, 80, mode="host")]),
             task("new10", 10, "running"), task("new2", 2, "rejected", "ready", err="No such image: web:1")]
    rows = task_rows(tasks, {"sid": "web"}, {"nid": "node-1"}, now=NOW)
    assert [(r["Name"], r["ID"]) for r in rows] == [
        ("web.1", "new1xxxxxxxx"), (" \\_ web.1", "old1xxxxxxxx"), ("web.2", "new2xxxxxxxx"),
        ("web.10", "new10xxxxxxx")]
    assert rows[0] == {"CurrentState": "Running 2 seconds ago", "DesiredState": "Running", "Error": "",
                       "ID": "new1xxxxxxxx", "Image": "web:1", "Name": "web.1", "Node": "node-1",
                       "Ports": "*:30000->80/tcp"}
    assert rows[1]["Error"] == '"task: non-zero exit (1): the …"'  # docker's 30 characters
    assert rows[2]["Error"] == '"No such image: web:1"' and rows[2]["DesiredState"] == "Ready"
    full = task_rows(tasks, {"sid": "web"}, {}, trunc=False, table=False, now=NOW)
    assert full[1]["Name"] == "web.1" and full[1]["ID"] == "old1" + "x" * 21 and full[1]["Node"] == "nid"
    assert full[1]["Error"].endswith('badly"') and full[0]["Image"].endswith("d" * 64)


def test_node_ls_rows() -> None:
    node = {"ID": "n1", "Description": {"Hostname": "vm", "Engine": {"EngineVersion": "1.0"}},
            "Status": {"State": "ready"}, "Spec": {"Availability": "active"},
            "ManagerStatus": {"Leader": True, "Reachability": "reachable"}}
    rows = node_rows([node], "n1")
    text = format_table("table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t"
                        "{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}", rows,
                        {"ID": "ID", "Self": "", "Hostname": "HOSTNAME", "Status": "STATUS",
                         "Availability": "AVAILABILITY", "ManagerStatus": "MANAGER STATUS",
                         "EngineVersion": "ENGINE VERSION"})
    assert text.splitlines() == ["ID        HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION",
                                 "n1 *      vm         Ready     Active         Leader           1.0"]


@pytest.mark.parametrize("text, ports", [
    ("8080:80", [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "ingress", "PublishedPort": 8080}]),
    ("53:53/udp", [{"Protocol": "udp", "TargetPort": 53, "PublishMode": "ingress", "PublishedPort": 53}]),
    ("80", [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "ingress"}]),
    ("8000-8001:80-81", [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "ingress", "PublishedPort": 8000},
                         {"Protocol": "tcp", "TargetPort": 81, "PublishMode": "ingress", "PublishedPort": 8001}]),
    ("published=8080,target=80,mode=host",
     [{"Protocol": "tcp", "TargetPort": 80, "PublishMode": "host", "PublishedPort": 8080}]),
])
def test_publish_short_and_long(text: str, ports: list[dict[str, object]]) -> None:
    assert parse_port(text) == ports


@pytest.mark.parametrize("text, message", [
    ("published=80", 'invalid argument "published=80" for "-p, --publish" flag: missing mandatory field "target"'),
    ("8000-8002:80-81", "invalid ranges specified for container and host Ports: 8000-8002:80-81"),
    ("target=80,mode=bridge", 'invalid publish mode value (bridge): must be either "ingress" or "host"'),
    ("x:80", "invalid port: x:80"),
])
def test_bad_publish_is_one_line(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_port(text)
    assert str(info.value) == message


def test_mount_long_syntax() -> None:
    assert parse_mount("type=bind,source=/srv,target=/data,readonly") == \
        {"Type": "bind", "Source": "/srv", "Target": "/data", "ReadOnly": True}
    assert parse_mount("source=cache,target=/cache") == {"Type": "volume", "Source": "cache", "Target": "/cache"}
    with pytest.raises(InvalidArgument):
        parse_mount("type=bind,source=/srv")


def progress_of(tasks: list[dict[str, object]], replicas: int = 2, condition: str = "any",
                update: str = "") -> tuple[bool, str]:
    svc: dict[str, object] = {"ID": "sid", "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": replicas}},
                                                    "TaskTemplate": {"RestartPolicy": {"Condition": condition}}}}
    if update:
        svc["UpdateStatus"] = {"State": update, "Message": "update paused due to failure"}
    p = assess(svc, tasks, seen=set())
    return p.converged, p.line()


def test_progress_running_starting_and_stopping() -> None:
    assert progress_of([task("a", 1, "running"), task("b", 2, "running")]) == (True, "web: 2/2 running, converged")
    assert progress_of([task("a", 1, "running"), task("b", 2, "starting")]) == \
        (False, "web: 1/2 running, 1 starting")
    # scaled down: a task told to stop that still runs keeps the service from having converged
    assert progress_of([task("a", 1, "running"), task("c", 3, "running", "shutdown")], replicas=1) == \
        (False, "web: 1/1 running, 1 stopping")
    assert progress_of([task("a", 1, "running"), task("b", 2, "running")], update="paused")[0] is False


def test_progress_of_a_service_with_a_health_check() -> None:
    svc: dict[str, object] = {"ID": "sid", "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": 2}},
                                                    "TaskTemplate": {"ContainerSpec": {"Healthcheck": {
                                                        "Test": ["CMD-SHELL", "true"]}}}}}
    p = assess(svc, [task("a", 1, "running"), task("b", 2, "starting")])
    assert p.line() == "web: 1/2 running (healthy), 1 starting (health: starting)"


def test_progress_one_shot_completed_and_failures() -> None:
    done = [task("a", 1, "complete", "shutdown")]
    assert progress_of(done, replicas=1, condition="none") == (True, "web: 0/1 running, 1 completed, converged")
    assert progress_of(done, replicas=1, condition="any")[0] is False
    converged, line = progress_of([task("r", 1, "rejected", "shutdown", err="No such image: web:1")], replicas=1)
    assert not converged and line == "web: 0/1 running, last failure: web.1 (rxxxxxxxxxxx): rejected: No such image: web:1"


def test_spec_comparison_ignores_what_a_manager_fills_in() -> None:
    sent = {"Name": "s", "TaskTemplate": {"ContainerSpec": {"Image": "web:1"}, "RestartPolicy": {"Condition": "any"}}}
    kept = {"Name": "s", "Labels": {}, "TaskTemplate": {
        "ContainerSpec": {"Image": "web:1", "Isolation": "default", "StopGracePeriod": 10_000_000_000, "DNSConfig": {}},
        "RestartPolicy": {"Condition": "any", "Delay": 5_000_000_000, "MaxAttempts": 0}, "ForceUpdate": 0,
        "Runtime": "container", "Placement": {}},
        "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000, "Order": "stop-first"}}
    assert not spec_differs(kept, sent)
    assert spec_differs(kept, {**sent, "Mode": {"Replicated": {"Replicas": 3}}})


def test_natural_order() -> None:
    assert sorted(["web.10", "web.9", "web.1", "api.2"], key=natural_key) == ["api.2", "web.1", "web.9", "web.10"]
