"""The swarm-mode private dockerd harness (tests/clients/remote_docker.py): it is a one-node manager in a
netns of its own, a service's tasks run and answer on a ``mode=host`` published port inside the netns, and
once it is stopped nothing of it is left (netns, mounts, processes, folder, host rules)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from remote_docker import (  # noqa: E402
    SWARM_ADDR,
    WEB_IMAGE,
    SwarmDocker,
    skip_unless_dockerd,
    swarm_dockerd,  # noqa: F401 - a fixture
    swarm_dockerd_running,
)


def host_rules() -> str:
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, timeout=30).stdout


def test_manager_of_one_node_in_its_own_netns(swarm_dockerd: SwarmDocker) -> None:
    d = swarm_dockerd
    info = d.ok("info", "-f", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeAddr}}").split()
    assert info == ["active", "true", SWARM_ADDR]
    assert d.ok("node", "ls", "--format", "{{.ID}} {{.ManagerStatus}}").split() == [d.node_id, "Leader"]
    assert "ingress" in d.ok("network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}").split()
    # the bridges docker made live in the netns, not on the host
    host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, timeout=30).stdout
    ns_links = subprocess.run(["ip", "-n", d.netns.name, "-o", "link"], capture_output=True, text=True,
                              timeout=30).stdout
    assert "docker0" in ns_links and "docker0:" not in host_links
    assert {"busybox:latest", WEB_IMAGE} <= set(d.ok("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split())


def test_service_tasks_answer_on_host_mode_ports(swarm_dockerd: SwarmDocker) -> None:
    d = swarm_dockerd
    sid = d.ok("service", "create", "-q", "--detach", "--name", "hweb", "--replicas", "2", "--publish",
               "mode=host,target=80", WEB_IMAGE).strip()
    try:
        cids = d.wait_replicas("hweb", 2)
        for cid in cids:  # each task has a host port of its own in the netns; its page is its hostname
            status, body = d.get(d.host_port(cid))
            assert (status, body.decode().strip()) == (200, cid)
        # dockerd counts a task running once its agent has reported it, a moment after the container runs
        end = time.monotonic() + 30
        while (replicas := d.ok("service", "ls", "--filter", f"id={sid}", "--format", "{{.Replicas}}").strip()) \
                != "2/2" and time.monotonic() < end:
            time.sleep(0.2)
        assert replicas == "2/2"
    finally:
        d.ok("service", "rm", sid)


def test_nothing_is_left_after_stop() -> None:
    skip_unless_dockerd()
    rules_before = host_rules()
    with swarm_dockerd_running() as d:
        tmp, name, pid = d.tmp, d.netns.name, d.daemon.pid
        assert d.ok("info", "-f", "{{.Swarm.LocalNodeState}}").strip() == "active"
        d.ok("service", "create", "-q", "--name", "one", "busybox:latest", "sleep", "1000", timeout=120)
        assert d.ok("ps", "-q").strip()
        assert d.timings["dockerd"] > 0 and d.timings["swarm init"] > 0
    assert not os.path.exists(tmp)
    assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    assert not os.path.exists(f"/proc/{pid}")
    with open("/proc/self/mountinfo") as f:
        assert tmp not in f.read()
    leftover = [p for p in os.listdir("/proc") if p.isdigit() and tmp.encode() in _cmdline(p)]
    assert not leftover, leftover
    if "DOCKER" not in rules_before:  # docker's chains were only ever in the netns (others may change the host's)
        assert "DOCKER" not in host_rules()


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
