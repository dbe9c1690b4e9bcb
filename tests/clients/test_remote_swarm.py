"""``portside -H unix://…`` swarm, node, service and stack commands against a real dockerd in swarm mode.

The private dockerd (tests/clients/remote_docker.py's ``swarm_dockerd``: its own netns, a one-node
manager, images ``busybox:latest`` and ``busybox-web:latest``) is driven by Portside's CLI and checked
with docker's own CLI: the getting-started guide's stack deploys and converges, ``service ls/ps``,
``stack ls/ps/services`` and ``node ls`` print what docker prints for the same objects, scale, update,
rollback, logs and rm do what docker's do, and a deploy that cannot work leaves nothing behind. The
tests run in file order and share one manager; the last one leaves the swarm and makes it again.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from remote_docker import REPO, SWARM_ADDR, WEB_IMAGE, SwarmDocker, swarm_dockerd  # noqa: F401 - a fixture

pytestmark = pytest.mark.root

GUIDE = f"""\
version: "3"
services:
  web:
    image: {WEB_IMAGE}
    deploy:
      replicas: 5
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "80:80"
    networks:
      - webnet
networks:
  webnet:
"""


@pytest.fixture
def ps(swarm_dockerd: SwarmDocker, tmp_path: Any) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``portside -H unix://<the swarm dockerd> ARGS`` with no endpoint of its own in the environment."""
    config = str(tmp_path / "docker-config")
    os.makedirs(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PORTSIDE_ROOT"))}
    env.update(DOCKER_CONFIG=config)

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tui.cli", "-H", swarm_dockerd.host, *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return run


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, f"portside {' '.join(p.args[5:])} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p.stdout


AGO = re.compile(r"(less than a second|about a minute|about an hour|\d+ (second|minute|hour)s?) ago")


def same_as_docker(d: SwarmDocker, ps: Callable[..., subprocess.CompletedProcess[str]], *args: str) -> str:
    """Both CLIs print the same for ``args``. Asked again when a clock column ticked between the two; if it
    keeps ticking, the same apart from the ages ("Running 2 seconds ago") and the column widths they make."""
    for _ in range(5):
        theirs = d.ok(*args)
        mine = ok(ps(*args))
        if mine == theirs:
            return mine

    def masked(text: str) -> str:
        return re.sub(r" {2,}", "  ", AGO.sub("N ago", text))
    assert masked(mine) == masked(theirs), f"{' '.join(args)}:\nportside:\n{mine}\ndocker:\n{theirs}"
    return mine


def compose_file(tmp_path: Any, text: str, name: str = "docker-compose.yml") -> str:
    path = str(tmp_path / name)
    with open(path, "w") as f:
        f.write(text)
    return path


def stack_gone(d: SwarmDocker, stack: str) -> None:
    label = f"label=com.docker.stack.namespace={stack}"
    assert d.ok("service", "ls", "-q", "--filter", label) == ""
    assert d.ok("network", "ls", "-q", "--filter", label) == ""
    assert d.ok("ps", "-aq", "--filter", label) == ""


def test_node_ls_and_inspect_as_docker(swarm_dockerd: SwarmDocker, ps: Any) -> None:
    d = swarm_dockerd
    assert same_as_docker(d, ps, "node", "ls").splitlines()[1].split()[:2] == [d.node_id, "*"]
    same_as_docker(d, ps, "node", "ls", "-q")
    same_as_docker(d, ps, "node", "inspect", "--pretty", "self")
    mine = json.loads(ok(ps("node", "inspect", "self")))
    assert [n["ID"] for n in mine] == [d.node_id]
    # a second init: the manager's own answer, as docker prints it
    again = ps("swarm", "init", "--advertise-addr", SWARM_ADDR)
    theirs = d.docker("swarm", "init", "--advertise-addr", SWARM_ADDR)
    assert (again.returncode, again.stderr) == (theirs.returncode, theirs.stderr) and again.returncode != 0


def test_guide_stack_deploys_converges_and_lists_as_docker(swarm_dockerd: SwarmDocker, ps: Any, tmp_path: Any) -> None:
    d = swarm_dockerd
    path = compose_file(tmp_path, GUIDE)
    out = ok(ps("stack", "deploy", "-c", path, "getstartedlab"))
    lines = out.splitlines()
    assert lines[:2] == ["Creating network getstartedlab_webnet", "Creating service getstartedlab_web"]
    assert lines[-1] == "verify: Service converged" and "getstartedlab_web: 5/5 running, converged" in lines
    try:
        assert d.ok("service", "ls", "--format", "{{.Name}} {{.Replicas}}") == "getstartedlab_web 5/5\n"
        table = same_as_docker(d, ps, "service", "ls")
        assert table.splitlines()[0].split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
        assert "*:80->80/tcp" in table
        same_as_docker(d, ps, "service", "ps", "getstartedlab_web")
        same_as_docker(d, ps, "service", "ps", "--no-trunc", "getstartedlab_web")
        same_as_docker(d, ps, "service", "ps", "-q", "getstartedlab_web")
        same_as_docker(d, ps, "service", "ps", "--filter", "desired-state=running", "--format",
                       "{{.Name}} {{.Image}} {{.Node}} {{.DesiredState}}", "getstartedlab_web")
        same_as_docker(d, ps, "service", "ls", "--format", "{{.Name}}\t{{.Mode}}\t{{.Replicas}}", "--filter",
                       "label=com.docker.stack.namespace=getstartedlab")
        same_as_docker(d, ps, "stack", "ls")
        same_as_docker(d, ps, "stack", "services", "getstartedlab")
        same_as_docker(d, ps, "stack", "ps", "getstartedlab")
        same_as_docker(d, ps, "service", "inspect", "--pretty", "getstartedlab_web")
        # inspect resolves a task as in the guide: its container is the one docker runs
        task = d.ok("service", "ps", "-q", "--filter", "desired-state=running", "getstartedlab_web").split()[0]
        fmt = "{{.Status.ContainerStatus.ContainerID}}"
        cid = ok(ps("inspect", "--format", fmt, task)).strip()
        assert cid == d.ok("inspect", "--format", fmt, task).strip()
        assert d.ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"
        # the same file again changes nothing; a changed one updates only that service
        again = ok(ps("stack", "deploy", "-d", "-c", path, "getstartedlab"))
        assert "Updating service" not in again and "Creating" not in again
        assert d.ok("service", "inspect", "-f", "{{.Version.Index}}", "getstartedlab_web") == \
            d.ok("service", "inspect", "-f", "{{.Version.Index}}", "getstartedlab_web")
        changed = compose_file(tmp_path, GUIDE.replace("replicas: 5", "replicas: 2"), "two.yml")
        out = ok(ps("stack", "deploy", "-c", changed, "getstartedlab"))
        sid = d.ok("service", "inspect", "-f", "{{.ID}}", "getstartedlab_web").strip()
        assert f"Updating service getstartedlab_web (id: {sid})" in out.splitlines()
        assert d.ok("service", "ls", "--format", "{{.Replicas}}") == "2/2\n"
    finally:
        out = ok(ps("stack", "rm", "getstartedlab"))
    assert out.splitlines() == ["Removing service getstartedlab_web", "Removing network getstartedlab_webnet"]
    stack_gone(d, "getstartedlab")  # stack rm returned once its containers and network were gone


def test_service_create_scale_update_rollback_rm(swarm_dockerd: SwarmDocker, ps: Any) -> None:
    d = swarm_dockerd
    sid = ok(ps("service", "create", "-q", "--name", "sweb", "--replicas", "2", "--stop-grace-period", "1s",
                "--update-parallelism", "0", "--update-monitor", "100ms", "-e", "A=1", WEB_IMAGE)).strip()
    try:
        assert d.ok("service", "ls", "--filter", f"id={sid}", "--format", "{{.Replicas}}") == "2/2\n"
        out = ok(ps("service", "scale", "sweb=3"))
        assert out.splitlines()[0] == "sweb scaled to 3" and out.splitlines()[-1] == "verify: Service converged"
        assert d.ok("service", "ls", "--filter", f"id={sid}", "--format", "{{.Replicas}}") == "3/3\n"
        ok(ps("service", "update", "-q", "--env-add", "B=2", "--env-rm", "A", "--limit-memory", "64M", "sweb"))
        spec = json.loads(d.ok("service", "inspect", "sweb"))[0]["Spec"]["TaskTemplate"]
        assert spec["ContainerSpec"]["Env"] == ["B=2"] and spec["Resources"]["Limits"]["MemoryBytes"] == 64 << 20
        running = d.ok("ps", "-q", "--filter", "label=com.docker.swarm.service.name=sweb").split()
        assert len(running) == 3
        assert all("B=2" in d.ok("inspect", "-f", "{{json .Config.Env}}", c) for c in running)
        ok(ps("service", "rollback", "-q", "sweb"))
        spec = json.loads(d.ok("service", "inspect", "sweb"))[0]["Spec"]["TaskTemplate"]
        assert spec["ContainerSpec"]["Env"] == ["A=1"]
        same_as_docker(d, ps, "service", "ps", "sweb")
        # docker's errors, one line each, non-zero
        bad = ps("service", "scale", "sweb=x")
        assert bad.returncode == 1 and bad.stderr.strip() == \
            'sweb: invalid replicas value x: strconv.ParseUint: parsing "x": invalid syntax'
        bad = ps("service", "scale", "nosuch=2")
        assert bad.returncode == 1 and bad.stderr.strip() == "nosuch: service nosuch not found"
    finally:
        assert ok(ps("service", "rm", "sweb")) == "sweb\n"
    assert d.ok("service", "ls", "-q") == ""


def test_global_one_shot_and_logs(swarm_dockerd: SwarmDocker, ps: Any) -> None:
    d = swarm_dockerd
    ok(ps("service", "create", "-q", "--name", "gl", "--mode", "global", "busybox:latest", "sleep", "300"))
    try:
        bad = ps("service", "scale", "gl=2")
        assert bad.returncode == 1
        assert bad.stderr.strip() == "gl: scale can only be used with replicated or replicated-job mode"
        same_as_docker(d, ps, "service", "ls")
        same_as_docker(d, ps, "node", "ps", "--format", "{{.Name}} {{.DesiredState}}")
    finally:
        ok(ps("service", "rm", "gl"))
    # a one-shot task that completed has converged (docker/cli#5299 waits forever there)
    out = ok(ps("service", "create", "--name", "hello", "--restart-condition", "none", "busybox:latest",
                "sh", "-c", "echo hi; echo oops >&2"))
    try:
        assert "hello: 0/1 running, 1 completed, converged" in out.splitlines()
        logs = ps("service", "logs", "hello")
        theirs = d.docker("service", "logs", "hello")
        assert (logs.returncode, sorted(logs.stdout.splitlines()), logs.stderr) == \
            (0, sorted(theirs.stdout.splitlines()), theirs.stderr)
        assert logs.stdout.endswith("| hi\n") and logs.stderr.endswith("| oops\n")
    finally:
        ok(ps("service", "rm", "hello"))


def test_a_deploy_that_cannot_work_says_why(swarm_dockerd: SwarmDocker, ps: Any, tmp_path: Any) -> None:
    d = swarm_dockerd
    # a missing image: the task is rejected with the engine's reason, the rest of the stack runs, exit 1
    text = GUIDE.replace("replicas: 5", "replicas: 1")
    text = text.replace("services:\n", "services:\n  broken:\n    image: nosuch/image:1\n    networks: [webnet]\n", 1)
    p = ps("stack", "deploy", "-c", compose_file(tmp_path, text), "bad")
    try:
        assert p.returncode == 1
        assert "Creating service bad_broken" in p.stdout and "Creating service bad_web" in p.stdout
        assert "bad_broken.1 (" in p.stderr and "No such image: nosuch/image:1" in p.stderr
        assert "bad_web" not in p.stderr
        assert d.ok("service", "ls", "--filter", "name=bad_web", "--format", "{{.Replicas}}") == "1/1\n"
    finally:
        ok(ps("stack", "rm", "bad"))
    stack_gone(d, "bad")
    # a published port another service holds: refused before anything is made
    ok(ps("service", "create", "-q", "-d", "--name", "holder", "-p", "8080:80", WEB_IMAGE))
    try:
        p = ps("stack", "deploy", "-c", compose_file(tmp_path, GUIDE.replace('"80:80"', '"8080:80"')), "clash")
        assert p.returncode == 1 and p.stdout == ""
        assert p.stderr.strip() == "Error response from daemon: port '8080' is already in use by service 'holder'"
        stack_gone(d, "clash")
    finally:
        ok(ps("service", "rm", "holder"))
    # a file with a wrong type: the key path, nothing made
    p = ps("stack", "deploy", "-c", compose_file(tmp_path, GUIDE.replace("replicas: 5", "replicas: five")), "typo")
    assert p.returncode == 1 and p.stderr.strip().endswith("services.web.deploy.replicas must be an integer")
    stack_gone(d, "typo")


def test_leave_and_init_again(swarm_dockerd: SwarmDocker, ps: Any, tmp_path: Any) -> None:
    d = swarm_dockerd
    bad = ps("swarm", "leave")
    theirs = d.docker("swarm", "leave")
    assert bad.returncode == theirs.returncode == 1 and bad.stderr == theirs.stderr
    assert ok(ps("swarm", "leave", "--force")) == "Node left the swarm.\n"
    assert d.ok("info", "-f", "{{.Swarm.LocalNodeState}}").strip() == "inactive"
    p = ps("stack", "deploy", "-c", compose_file(tmp_path, GUIDE), "getstartedlab")
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == ('Error response from daemon: this node is not a swarm manager. Use "portside swarm init" or '
                        '"portside swarm join" to connect this node to swarm and try again\n')
    out = ok(ps("swarm", "init", "--advertise-addr", SWARM_ADDR))
    node = d.ok("info", "-f", "{{.Swarm.NodeID}}").strip()
    assert out.startswith(f"Swarm initialized: current node ({node}) is now a manager.\n\n")
    assert f"portside swarm join --token SWMTKN-1-" in out and f"{SWARM_ADDR}:2377" in out
    d.node_id = node
