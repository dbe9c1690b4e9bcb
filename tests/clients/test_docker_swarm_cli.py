"""The real docker CLI (28) in swarm mode against ``portside daemon``: ``swarm init/leave``, ``node ls``,
``service create/ls/ps/scale/inspect/rm``, and kill -9 of the daemon with its tasks adopted by the next.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Daemon  # tests/clients/conftest.py

pytestmark = pytest.mark.root


def wait_for(what: Callable[[], bool], seconds: float = 30) -> None:
    """Poll a condition (the bound only keeps a broken build from hanging the suite)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(0.05)
    raise AssertionError("not reached")


@pytest.fixture
def manager(daemon_factory: Callable[..., Daemon]) -> Iterator[Daemon]:
    d = daemon_factory(start=False)
    made = d.portside("image", "busybox")
    assert made.returncode == 0, made.stderr
    d.start()
    try:
        yield d
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.docker("swarm", "leave", "--force")


def running(d: Daemon, service: str) -> list[str]:
    out = d.ok("service", "ps", service, "--filter", "desired-state=running", "--format",
               "{{.Name}} {{.CurrentState}}")
    return [line.split()[0] for line in out.splitlines() if " Running " in f" {line} "]


def test_swarm_init_node_ls_and_docker_messages(manager: Daemon) -> None:
    out = manager.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
    assert out.startswith("Swarm initialized: current node (") and "is now a manager." in out
    assert "docker swarm join --token SWMTKN-1-" in out and "127.0.0.1:2377" in out
    again = manager.docker("swarm", "init")
    assert again.returncode == 1 and "This node is already part of a swarm." in again.stderr
    nodes = manager.ok("node", "ls", "--format", "{{.Self}} {{.Status}} {{.Availability}} {{.ManagerStatus}}")
    assert nodes.split() == ["true", "Ready", "Active", "Leader"]
    assert manager.ok("node", "inspect", "self", "--format", "{{.Spec.Role}}").strip() == "manager"
    assert manager.ok("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").split() == \
        ["active", "true"]
    assert json.loads(manager.ok("info", "--format", "{{json .Swarm.Cluster.Spec.Raft}}"))["ElectionTick"] == 10
    for run in (manager.docker, manager.portside):  # autolock off: the same line from both CLIs
        unlock = run("swarm", "unlock-key")
        assert unlock.returncode == 1 and unlock.stderr.strip() == "no unlock key is set", (run, unlock)
    leave = manager.docker("swarm", "leave")
    assert leave.returncode == 1 and "participating as a manager" in leave.stderr
    assert manager.ok("swarm", "leave", "--force").strip() == "Node left the swarm."
    p = manager.docker("service", "ls")
    assert p.returncode == 1 and "This node is not a swarm manager." in p.stderr


def test_service_create_ls_ps_scale_rm(manager: Daemon) -> None:
    manager.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
    out = manager.ok("service", "create", "--name", "web", "--replicas", "3", "--restart-delay", "0s",
                     "--stop-grace-period", "0s", "--detach", "busybox", "sleep", "1000")
    sid = out.strip().splitlines()[0]
    wait_for(lambda: len(running(manager, "web")) == 3)
    ls = manager.ok("service", "ls", "--format", "{{.ID}} {{.Name}} {{.Mode}} {{.Replicas}} {{.Image}}")
    assert ls.split() == [sid[:12], "web", "replicated", "3/3", "busybox:latest"]
    assert sorted(running(manager, "web")) == ["web.1", "web.2", "web.3"]
    names = manager.ok("ps", "--format", "{{.Names}}").split()
    assert len(names) == 3 and all(n.startswith("web.") and len(n.split(".")[2]) == 25 for n in names)
    manager.ok("service", "scale", "web=1", "--detach")
    wait_for(lambda: len(running(manager, "web")) == 1)
    task = manager.ok("service", "ps", "-q", "--filter", "desired-state=running", "web").split()[0]
    cid = manager.ok("inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", task).strip()
    assert manager.ok("inspect", "--format", "{{index .Config.Labels \"com.docker.swarm.task.id\"}}", cid).strip() \
        == manager.ok("inspect", "--format", "{{.ID}}", task).strip()
    manager.ok("kill", cid)
    wait_for(lambda: len(running(manager, "web")) == 1 and
             cid[:12] not in manager.ok("ps", "-q"))
    history = manager.ok("service", "ps", "web", "--format", "{{.Name}} {{.DesiredState}} {{.Error}}")
    assert "task: non-zero exit (137)" in history
    p = manager.docker("service", "scale", "nosuch=2")
    assert p.returncode == 1 and "nosuch" in p.stderr
    manager.ok("service", "rm", "web")
    wait_for(lambda: not manager.ok("ps", "-aq").split())
    assert manager.ok("service", "ls", "-q").strip() == ""


def test_daemon_kill9_the_next_daemon_adopts_the_tasks(manager: Daemon) -> None:
    manager.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
    manager.ok("service", "create", "--name", "web", "--replicas", "2", "--restart-delay", "0s",
               "--stop-grace-period", "0s", "--detach", "busybox", "sleep", "1000")
    wait_for(lambda: len(running(manager, "web")) == 2)
    before = set(manager.ok("ps", "-q", "--no-trunc").split())
    assert manager.proc is not None
    manager.proc.send_signal(signal.SIGKILL)
    manager.proc.wait(10)
    # the tasks keep running without a manager; one of them dies meanwhile
    gone = sorted(before)[0]
    with open(os.path.join(manager.root, "containers", gone, "state.json")) as f:  # no CLI: it would start
        pid = json.load(f)["pid"]                                                  # a daemon of its own
    os.kill(pid, signal.SIGKILL)
    os.unlink(manager.sock)
    manager.start()
    wait_for(lambda: "task: non-zero exit (137)" in manager.ok("service", "ps", "web") and
             len(running(manager, "web")) == 2 and len(manager.ok("ps", "-q").split()) == 2)
    after = set(manager.ok("ps", "-q", "--no-trunc").split())
    assert len(after) == 2 and len(before & after) == 1, (  # the living one adopted, the dead one replaced
        manager.ok("service", "ps", "web"), manager.ok("ps", "-a"), before, after)
    tasks = manager.ok("service", "ps", "web", "--format", "{{.Name}} {{.DesiredState}}").splitlines()
    assert sorted(t for t in tasks if t.endswith("Running")) == ["web.1 Running", "web.2 Running"]


def test_daemon_start_brings_services_back_when_their_containers_died(manager: Daemon) -> None:
    """A host reboot as the store sees it: the manager gone, every task container ended meanwhile."""
    manager.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
    manager.ok("service", "create", "--name", "app", "--replicas", "2", "--stop-grace-period", "0s", "--detach",
               "busybox", "sleep", "1000")
    wait_for(lambda: len(running(manager, "app")) == 2)
    before = set(manager.ok("ps", "-q", "--no-trunc").split())
    assert manager.proc is not None
    manager.proc.send_signal(signal.SIGKILL)
    manager.proc.wait(10)
    for cid in before:
        with open(os.path.join(manager.root, "containers", cid, "state.json")) as f:
            os.kill(json.load(f)["pid"], signal.SIGKILL)
    os.unlink(manager.sock)
    manager.start()
    wait_for(lambda: manager.ok("service", "ps", "app").count("task: non-zero exit (137)") == 2 and
             len(running(manager, "app")) == 2 and len(manager.ok("ps", "-q").split()) == 2)
    after = set(manager.ok("ps", "-q", "--no-trunc").split())
    assert len(after) == 2 and not before & after
    states = manager.ok("service", "ps", "app", "--format", "{{.DesiredState}} {{.Error}}").splitlines()
    assert sorted(states)[:2] == ["Running ", "Running "] and len(states) == 4


def test_jobs_run_to_completion_with_both_clis(manager: Daemon) -> None:
    """``service create --mode replicated-job|global-job``: the docker CLI's job progress ends at "job
    complete", as does Portside's wait; ``service ls`` and ``service ps`` as docker shows a finished job."""
    manager.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
    p = manager.docker("service", "create", "--name", "batch", "--mode", "replicated-job", "--replicas", "3",
                       "--max-concurrent", "2", "busybox", "sh", "-c", "sleep 0.2", timeout=90)
    assert p.returncode == 0 and "job complete" in p.stdout + p.stderr, p.stdout + p.stderr
    ls = manager.ok("service", "ls", "--filter", "name=batch", "--format", "{{.Mode}}|{{.Replicas}}")
    assert ls.strip() == "replicated job|0/0 (3/3 completed)"
    ps = manager.ok("service", "ps", "batch", "--format", "{{.DesiredState}} {{.CurrentState}}").splitlines()
    assert len(ps) == 3 and all(line.startswith("Complete Complete") for line in ps), ps
    again = manager.docker("service", "update", "--force", "batch", timeout=90)  # a new iteration: it runs again
    assert again.returncode == 0 and "job complete" in again.stdout + again.stderr, again.stdout + again.stderr
    ps = manager.ok("service", "ps", "batch", "--format", "{{.DesiredState}} {{.CurrentState}}").splitlines()
    assert len(ps) == 6 and all(line.startswith("Complete Complete") for line in ps), ps
    ls = manager.ok("service", "ls", "--filter", "name=batch", "--format", "{{.Replicas}}")
    assert ls.strip() == "0/0 (3/3 completed)"
    mine = manager.portside("service", "create", "--name", "once", "--mode", "global-job", "busybox", "true")
    assert mine.returncode == 0, mine.stderr
    assert manager.ok("service", "ls", "--filter", "name=once", "--format", "{{.Replicas}}").strip() == \
        "0/0 (1/1 completed)"
    bad = manager.portside("service", "create", "--mode", "global-job", "--max-concurrent", "2", "busybox", "true")
    assert bad.returncode != 0 and bad.stderr.strip().endswith("max-concurrent can only be used with replicated-job mode")
    manager.ok("service", "rm", "batch", "once")
    wait_for(lambda: not manager.ok("ps", "-aq").split())


def test_with_registry_auth_tasks_pull_a_private_image_with_the_clients_login(manager: Daemon, tmp_path: Any) -> None:
    """``service create --with-registry-auth``: the task pulls a private image with the credentials the
    client sent (the node has no login of its own; tasks pulled with the node's login only); without
    them the task is rejected with docker's error. The credentials are kept root's alone, outside the spec,
    and go with the service."""
    from test_docker_cli import start_registry_with_login
    reg = start_registry_with_login(str(tmp_path))
    ref = f"{reg.host}/team/private:1"
    try:
        manager.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
        login = manager.docker("login", "-u", "alice", "--password-stdin", reg.host, input="s3cret\n")
        assert login.returncode == 0, login.stderr
        manager.ok("tag", "busybox", ref)
        manager.ok("push", ref)
        manager.ok("rmi", ref)
        p = manager.docker("service", "create", "-d", "--name", "private", "--with-registry-auth", ref, "sleep", "1000")
        assert p.returncode == 0, p.stderr
        wait_for(lambda: len(running(manager, "private")) == 1, 60)
        sid, pinned = manager.ok("service", "inspect", "private", "--format",
                                 "{{.ID}} {{.Spec.TaskTemplate.ContainerSpec.Image}}").split()
        assert pinned.startswith(f"{ref}@sha256:")  # the digest was asked with the same credentials
        kept = os.path.join(manager.root, "swarm", "pull-auth", sid)
        assert os.stat(kept).st_mode & 0o777 == 0o600
        assert "s3cret" not in manager.ok("service", "inspect", "private")
        manager.ok("service", "rm", "private")
        assert not os.path.exists(kept)
        wait_for(lambda: not manager.ok("ps", "-aq").split())
        manager.ok("rmi", pinned)  # pulled by its digest
        p = manager.docker("service", "create", "-d", "--name", "nocreds", ref, "sleep", "1000")
        assert p.returncode == 0 and f"image {ref} could not be accessed on a registry" in p.stderr, p.stderr

        def rejected() -> bool:
            return "No such image: " in manager.ok("service", "ps", "nocreds", "--no-trunc", "--format", "{{.Error}}")
        wait_for(rejected, 60)
        manager.ok("service", "rm", "nocreds")
        wait_for(lambda: not manager.ok("ps", "-aq").split())
    finally:
        reg.kill()


def test_resolve_image_pins_registry_digests_and_tasks_pull_what_is_missing(manager: Daemon, tmp_path: Any) -> None:
    """``--resolve-image``: an image from a registry is pinned to the digest the registry has now
    (``GET /distribution/{name}/json``, as dockerd answers it; docker's CLI and Portside's both pin); an
    image made here is left as it is, no registry asked; a task whose image is not here pulls it."""
    from test_docker_cli import _registry_module
    mod = _registry_module()
    if not os.path.exists(mod.REGISTRY):
        pytest.skip("needs docker-registry (Debian package docker-registry)")
    reg = mod.Registry(str(tmp_path))
    reg.start()
    try:
        manager.ok("swarm", "init", "--advertise-addr", "127.0.0.1")
        ref = f"{reg.host}/team/web:1"
        manager.ok("tag", "busybox", ref)
        pushed = manager.ok("push", ref)
        digest = re.search(r"digest: (sha256:[0-9a-f]{64})", pushed).group(1)  # type: ignore[union-attr]
        p = manager.docker("service", "create", "-d", "--name", "theirs", ref, "sleep", "1000")
        assert p.returncode == 0 and "could not be accessed" not in p.stderr, p.stderr
        assert manager.ok("service", "inspect", "theirs", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}") \
            .strip() == f"{ref}@{digest}"
        # not here any more: Portside's CLI pins it, and the task pulls it by that digest
        manager.ok("service", "rm", "theirs")
        wait_for(lambda: not manager.ok("ps", "-aq").split())
        manager.ok("rmi", ref)
        mine = manager.portside("service", "create", "--name", "mine", "--detach", ref, "sleep", "1000")
        assert mine.returncode == 0 and not mine.stderr, mine.stderr
        assert manager.ok("service", "inspect", "mine", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}") \
            .strip() == f"{ref}@{digest}"
        wait_for(lambda: len(running(manager, "mine")) == 1)
        assert f"{reg.host}/team/web@{digest}" in manager.ok("image", "inspect", "--format", "{{.RepoDigests}}",
                                                              f"{ref}@{digest}")
        # an image made here: no digest, no warning (no registry has it under that name)
        local = manager.portside("service", "create", "--name", "here", "--detach", "busybox", "sleep", "1000")
        assert local.returncode == 0 and not local.stderr, local.stderr
        assert manager.ok("service", "inspect", "here", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}") \
            .strip() == "busybox"
        # a registry that does not answer: docker's warning, and the service goes on unpinned
        gone = manager.portside("service", "create", "--name", "gone", "--detach", "localhost:9/no/such:1", "true")
        assert gone.returncode == 0 and "localhost:9/no/such:1 could not be accessed on a registry" in gone.stderr
        manager.ok("service", "rm", "mine", "here", "gone")
        wait_for(lambda: not manager.ok("ps", "-aq").split())
    finally:
        reg.kill()
