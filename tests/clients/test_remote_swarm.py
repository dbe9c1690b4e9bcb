"""``portside -H unix://…`` swarm, node, service and stack commands against two swarm managers: a real
dockerd in swarm mode, and Portside's own daemon.

The private dockerd (tests/clients/remote_docker.py's ``swarm_dockerd``: its own netns, a one-node
manager, images ``busybox:latest`` and ``busybox-web:latest``) and a ``portside daemon`` over a data
root of the test's own (started by ``portside --root … swarm init``, as users start it) are each driven
by Portside's CLI and checked with docker's own CLI against the same manager: the getting-started
guide's stack deploys and converges, ``service ls/ps``, ``stack ls/ps/services`` and ``node ls`` print
what docker prints for the same objects, scale, update, rollback, logs and rm do what docker's do, and a
deploy that cannot work leaves nothing behind. The tests run in file order and share one manager each;
the last one leaves the swarm and makes it again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from remote_docker import (REPO, WEB_CMD, WEB_IMAGE, RemoteDocker, bench, free_port, skip_unless_dockerd,
                           swarm_dockerd_running)

pytestmark = pytest.mark.root

# host ports free on this host now (Portside's manager publishes on the host, which other tests share)
PORT, HELD = free_port(), free_port()
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
      - "{PORT}:80"
    networks:
      - webnet
networks:
  webnet:
"""


class PortsideManager(RemoteDocker):
    """``portside daemon`` over a data root of its own, made a swarm manager by ``portside swarm init``."""

    addr = "127.0.0.1"
    node_id = ""


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PORTSIDE_ROOT"))}


@contextmanager
def portside_manager() -> Iterator[PortsideManager]:
    from engine.client.contexts import daemon_files
    base = tempfile.mkdtemp(prefix="ps-swm-", dir="/tmp")
    root = os.path.join(base, "root")
    sock, pidfile = daemon_files(root)
    env = clean_env()
    env.update(DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=os.path.join(base, "config"), DOCKER_CLI_HINTS="false")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tui.cli", "--root", root, *args], env=clean_env(), cwd=REPO,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    m = PortsideManager(base, sock, "", "", env, None, set(), bench())
    try:
        init = cli("swarm", "init", "--advertise-addr", m.addr)  # starts the daemon for this root
        assert init.returncode == 0, init.stderr
        m.node_id = m.ok("info", "-f", "{{.Swarm.NodeID}}").strip()
        tar = os.path.join(base, "busybox.tar")
        m.mod.make_rootfs_tar(tar)
        m.ok("import", "-c", 'CMD ["sh"]', tar, "busybox:latest")
        m.ok("import", "-c", f"CMD {WEB_CMD}", "-c", "EXPOSE 80/tcp", tar, WEB_IMAGE)
        os.unlink(tar)
        yield m
    finally:
        cli("swarm", "leave", "--force")
        try:
            with open(pidfile) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, signal.SIGTERM)
            for _ in range(300):
                os.kill(pid, 0)
                time.sleep(0.1)
        except (OSError, ValueError, IndexError):
            pass
        ids = cli("ps", "-aq", "--no-trunc").stdout.split()
        if ids:
            cli("rm", "-f", *ids)
        left = m.mod.unmount_all_under(base)
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"still mounted under {base}: {left}"


@pytest.fixture(scope="module", params=["dockerd", "portside"])
def swarm_dockerd(request: Any) -> Iterator[Any]:
    """The manager under test: docker's (a private swarm-mode dockerd) or Portside's own daemon."""
    skip_unless_dockerd()
    if request.param == "dockerd":
        if not shutil.which("nsenter") or not shutil.which("ip"):
            pytest.skip("needs nsenter (util-linux) and ip (iproute2)")
        with swarm_dockerd_running() as remote:
            yield remote
    else:
        with portside_manager() as manager:
            yield manager


@pytest.fixture
def ps(swarm_dockerd: Any, tmp_path: Any) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``portside -H unix://<the manager> ARGS`` with no endpoint of its own in the environment."""
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


def same_as_docker(d: Any, ps: Callable[..., subprocess.CompletedProcess[str]], *args: str) -> str:
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


def stack_gone(d: Any, stack: str) -> None:
    label = f"label=com.docker.stack.namespace={stack}"
    assert d.ok("service", "ls", "-q", "--filter", label) == ""
    assert d.ok("network", "ls", "-q", "--filter", label) == ""
    assert d.ok("ps", "-aq", "--filter", label) == ""


def test_node_ls_and_inspect_as_docker(swarm_dockerd: Any, ps: Any) -> None:
    d = swarm_dockerd
    assert same_as_docker(d, ps, "node", "ls").splitlines()[1].split()[:2] == [d.node_id, "*"]
    same_as_docker(d, ps, "node", "ls", "-q")
    same_as_docker(d, ps, "node", "inspect", "--pretty", "self")
    mine = json.loads(ok(ps("node", "inspect", "self")))
    assert [n["ID"] for n in mine] == [d.node_id]
    # info's Swarm section says what docker's does
    wanted = [" Swarm: active", f"  NodeID: {d.node_id}", "  Is Manager: true", "  Managers: 1", "  Nodes: 1",
              f"  Node Address: {d.addr}"]
    for text in (ok(ps("info")), d.ok("info")):
        assert [line for line in text.splitlines() if line in wanted] == wanted
    # a second init: the manager's own answer, as docker prints it (the command it names is this CLI's)
    again = ps("swarm", "init", "--advertise-addr", d.addr)
    theirs = d.docker("swarm", "init", "--advertise-addr", d.addr)
    assert 'Use "docker swarm leave"' in theirs.stderr
    assert (again.returncode, again.stderr) == (theirs.returncode, theirs.stderr.replace('"docker swarm ', '"portside swarm '))
    assert again.returncode != 0


def test_guide_stack_deploys_converges_and_lists_as_docker(swarm_dockerd: Any, ps: Any, tmp_path: Any) -> None:
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
        assert f"*:{PORT}->80/tcp" in table
        same_as_docker(d, ps, "service", "ps", "getstartedlab_web")
        same_as_docker(d, ps, "service", "ps", "--no-trunc", "getstartedlab_web")
        same_as_docker(d, ps, "service", "ps", "-q", "getstartedlab_web")
        same_as_docker(d, ps, "service", "ps", "--filter", "desired-state=running", "--format",
                       "{{.Name}} {{.Image}} {{.Node}} {{.DesiredState}}", "getstartedlab_web")
        same_as_docker(d, ps, "service", "ls", "--format", "{{.Name}}\t{{.Mode}}\t{{.Replicas}}", "--filter",
                       "label=com.docker.stack.namespace=getstartedlab")
        same_as_docker(d, ps, "stack", "ls")
        same_as_docker(d, ps, "stack", "services", "getstartedlab")
        # docker's own `stack ps` lists the tasks `service ps` lists for the stack's one service
        mine, theirs = ok(ps("stack", "ps", "getstartedlab")), d.ok("service", "ps", "getstartedlab_web")
        assert AGO.sub("N ago", mine).split() == AGO.sub("N ago", theirs).split()
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


def test_service_create_scale_update_rollback_rm(swarm_dockerd: Any, ps: Any) -> None:
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
        ok(ps("service", "update", "-d", "--publish-add", f"published={HELD},target=80", "--label-add", "tier=web", "sweb"))
        for _ in range(100):  # the manager publishes it as it applies the update
            listed = d.ok("service", "ls", "--filter", "label=tier=web", "--format", "{{.Name}} {{.Ports}}")
            if listed != "sweb \n":
                break
            time.sleep(0.1)
        assert listed == f"sweb *:{HELD}->80/tcp\n"
        same_as_docker(d, ps, "service", "ls")
        ok(ps("service", "update", "-d", "--publish-rm", "80", "--label-rm", "tier", "sweb"))
        assert d.ok("service", "inspect", "-f", "{{json .Spec.EndpointSpec.Ports}} {{json .Spec.Labels}}",
                    "sweb").strip() in ("[] {}", "null {}")
        # docker's errors, one line each, non-zero
        bad = ps("service", "scale", "sweb=x")
        assert bad.returncode == 1 and bad.stderr.strip() == \
            'sweb: invalid replicas value x: strconv.ParseUint: parsing "x": invalid syntax'
        bad = ps("service", "scale", "nosuch=2")
        assert bad.returncode == 1 and bad.stderr.strip() == "nosuch: service nosuch not found"
    finally:
        assert ok(ps("service", "rm", "sweb")) == "sweb\n"
    assert d.ok("service", "ls", "-q") == ""


def test_global_one_shot_and_logs(swarm_dockerd: Any, ps: Any) -> None:
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
        # (a poll may catch it still running: that counts too, as docker's)
        assert re.fullmatch(r"hello: (0/1 running, 1 completed|1/1 running), converged", out.splitlines()[-2])
        for _ in range(100):
            if d.ok("service", "ps", "--format", "{{.CurrentState}}", "hello").startswith("Complete"):
                break
            time.sleep(0.1)
        logs = ps("service", "logs", "hello")
        theirs = d.docker("service", "logs", "hello")
        assert (logs.returncode, sorted(logs.stdout.splitlines()), logs.stderr) == \
            (0, sorted(theirs.stdout.splitlines()), theirs.stderr)
        assert logs.stdout.endswith("| hi\n") and logs.stderr.endswith("| oops\n")
    finally:
        ok(ps("service", "rm", "hello"))


def test_a_deploy_that_cannot_work_says_why(swarm_dockerd: Any, ps: Any, tmp_path: Any) -> None:
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
    ok(ps("service", "create", "-q", "-d", "--name", "holder", "-p", f"{HELD}:80", WEB_IMAGE))
    try:
        p = ps("stack", "deploy", "-c", compose_file(tmp_path, GUIDE.replace(f'"{PORT}:80"', f'"{HELD}:80"')), "clash")
        assert p.returncode == 1 and p.stdout == ""
        assert p.stderr.strip() == f"port '{HELD}' is already in use by service 'holder'"
        stack_gone(d, "clash")
    finally:
        ok(ps("service", "rm", "holder"))
    # a file with a wrong type: the key path, nothing made
    p = ps("stack", "deploy", "-c", compose_file(tmp_path, GUIDE.replace("replicas: 5", "replicas: five")), "typo")
    assert (p.returncode, p.stdout, p.stderr) == (1, "", "services.web.deploy.replicas must be an integer\n")
    stack_gone(d, "typo")


def test_secrets_and_configs(swarm_dockerd: Any, ps: Any, tmp_path: Any) -> None:
    d = swarm_dockerd
    data = tmp_path / "pw.txt"
    data.write_text("s3cret\n")
    sid = ok(ps("secret", "create", "-l", "app=web", "pw", str(data))).strip()
    cid = ok(ps("config", "create", "site", str(data))).strip()
    try:
        assert d.ok("secret", "inspect", "-f", "{{.ID}} {{.Spec.Name}} {{.Spec.Labels.app}}", "pw").split() == \
            [sid, "pw", "web"]
        same_as_docker(d, ps, "secret", "ls")
        same_as_docker(d, ps, "config", "ls")
        same_as_docker(d, ps, "secret", "ls", "-q")
        same_as_docker(d, ps, "secret", "inspect", "--pretty", "pw")
        same_as_docker(d, ps, "config", "inspect", "--pretty", "site")
        assert json.loads(ok(ps("config", "inspect", "site")))[0]["ID"] == cid
        # a stack whose service mounts them: the file is where docker puts it
        stack = compose_file(tmp_path, f"""\
version: "3.8"
services:
  app:
    image: busybox:latest
    command: ["sleep", "300"]
    secrets: [pw]
    configs: [{{source: site, target: /site.txt}}]
secrets:
  pw: {{external: true}}
configs:
  site: {{external: true}}
""")
        ok(ps("stack", "deploy", "-c", stack, "sec"))
        try:
            (container,) = d.ok("ps", "-q", "--filter", "label=com.docker.swarm.service.name=sec_app").split()
            assert d.ok("exec", container, "cat", "/run/secrets/pw", "/site.txt") == "s3cret\ns3cret\n"
            busy = ps("secret", "rm", "pw")
            assert busy.returncode == 1 and busy.stderr.startswith("Error response from daemon: ")
        finally:
            ok(ps("stack", "rm", "sec"))
        stack_gone(d, "sec")
    finally:
        assert ok(ps("secret", "rm", "pw")) == "pw\n"
        assert ok(ps("config", "rm", "site")) == "site\n"
    assert d.ok("secret", "ls", "-q") == "" and d.ok("config", "ls", "-q") == ""


def test_leave_and_init_again(swarm_dockerd: Any, ps: Any, tmp_path: Any) -> None:
    d = swarm_dockerd
    bad = ps("swarm", "leave")
    theirs = d.docker("swarm", "leave")
    assert bad.returncode == theirs.returncode == 1 and bad.stderr == theirs.stderr
    assert ok(ps("swarm", "leave", "--force")) == "Node left the swarm.\n"
    assert d.ok("info", "-f", "{{.Swarm.LocalNodeState}}").strip() == "inactive"
    p = ps("stack", "deploy", "-c", compose_file(tmp_path, GUIDE), "getstartedlab")
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == ('this node is not a swarm manager. Use "portside swarm init" or "portside swarm join" to '
                        'connect this node to swarm and try again\n')
    out = ok(ps("swarm", "init", "--advertise-addr", d.addr))
    node = d.ok("info", "-f", "{{.Swarm.NodeID}}").strip()
    assert out.startswith(f"Swarm initialized: current node ({node}) is now a manager.\n\n")
    assert f"portside swarm join --token SWMTKN-1-" in out and f"{d.addr}:2377" in out
    d.node_id = node
