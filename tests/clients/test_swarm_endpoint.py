"""Where the CLI connects once a data root's swarm is active: the daemon that serves that root.

A swarm's reconciler runs in ``portside daemon``, so when the data root says its swarm is active (its
``swarm`` folder, made by ``swarm init``) and no daemon answers, the next command starts one — one, even
when two commands start at once — and talks to it; without an active swarm the embedded engine stays
the choice, and nothing is started. Daemons started here are stopped by the pid in their pid file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

from engine.client.contexts import daemon_files, portside_socket_answers, resolve

pytestmark = pytest.mark.root
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(root: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PORTSIDE_ROOT"))}
    return subprocess.run([sys.executable, "-m", "tui.cli", "--root", root, *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def stop(pidfile: str, sock: str) -> None:
    try:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)


@pytest.fixture
def root() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root (/run/portside)")
    path = tempfile.mkdtemp(prefix="ps-swep-", dir="/tmp")
    sock, pidfile = daemon_files(path)
    try:
        yield path
    finally:
        if os.path.isdir(os.path.join(path, "swarm")) and portside_socket_answers(sock):
            cli(path, "swarm", "leave", "--force")
        stop(pidfile, sock)
        # what is left goes through the embedded engine: no command of this teardown starts a daemon again
        shutil.rmtree(os.path.join(path, "swarm"), ignore_errors=True)
        ids = cli(path, "ps", "-aq", "--no-trunc").stdout.split()
        if ids:
            cli(path, "rm", "-f", *ids)
        stop(pidfile, sock)
        shutil.rmtree(path, ignore_errors=True)


def test_no_swarm_no_daemon(root: str) -> None:
    endpoint = resolve(root=root, env={})
    assert endpoint.embedded and endpoint.root == root
    sock, pidfile = daemon_files(root)
    assert ok(cli(root, "ps", "-q")) == "" and not os.path.exists(sock) and not os.path.exists(pidfile)


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, f"{p.args[3:]} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def test_an_active_swarm_starts_one_daemon_for_two_commands(root: str) -> None:
    os.makedirs(os.path.join(root, "swarm"))  # what `swarm init` leaves in the data root
    sock, pidfile = daemon_files(root)
    assert sock.startswith("/run/portside/root-") and not portside_socket_answers(sock)
    procs = [subprocess.Popen([sys.executable, "-m", "tui.cli", "--root", root, "version", "--format",
                               "{{.Server.Version}}"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")})
             for _ in range(2)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0], results
    assert portside_socket_answers(sock)
    with open(pidfile) as f:
        pid = int(f.read().split()[0])
    # both commands went to that one daemon: it is the endpoint now, and it serves this root
    endpoint = resolve(root=root, env={})
    assert endpoint.host == f"unix://{sock}" and not endpoint.embedded
    assert ok(cli(root, "info", "--format", "{{.DockerRootDir}}")).strip() == root
    # killed: the next command starts it again
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        try:
            os.kill(pid, 0)
            time.sleep(0.05)
        except ProcessLookupError:
            break
    assert ok(cli(root, "ps", "-q")) == ""
    with open(pidfile) as f:
        again = int(f.read().split()[0])
    assert again != pid and portside_socket_answers(sock)


def test_swarm_init_starts_the_daemon_and_leave_stops_it(root: str) -> None:
    sock, pidfile = daemon_files(root)
    # join is answered by this host's engine itself: no daemon for it
    join = cli(root, "swarm", "join", "--token", "SWMTKN-1-x", "192.0.2.1:2377")
    assert join.returncode == 1 and len(join.stderr.strip().splitlines()) == 1
    assert not os.path.exists(sock) and not os.path.exists(pidfile)
    out = ok(cli(root, "swarm", "init", "--advertise-addr", "127.0.0.1"))
    assert out.startswith("Swarm initialized: current node (") and portside_socket_answers(sock)
    assert resolve(root=root, env={}).host == f"unix://{sock}"  # the next commands go to it
    assert ok(cli(root, "node", "ls", "-q")).strip() == ok(cli(root, "info", "--format", "{{.Swarm.NodeID}}")).strip()
    # the manager killed: the next command starts it again, and the service is still there, running
    ok(cli(root, "image", "busybox"))
    ok(cli(root, "service", "create", "-q", "--name", "keep", "busybox", "sleep", "300"))
    with open(pidfile) as f:
        os.kill(int(f.read().split()[0]), signal.SIGKILL)
    for _ in range(100):
        if not portside_socket_answers(sock):
            break
        time.sleep(0.05)
    assert ok(cli(root, "service", "ls", "--format", "{{.Name}} {{.Replicas}}")) == "keep 1/1\n"
    assert portside_socket_answers(sock)
    assert ok(cli(root, "swarm", "leave", "--force")) == "Node left the swarm.\n"
    # the host as before init: no daemon, nothing of it left, the embedded engine again
    assert not os.path.exists(sock) and not os.path.exists(pidfile) and not os.path.exists(sock + ".lock")
    assert not os.path.exists(os.path.join(root, "daemon.started"))
    assert resolve(root=root, env={}).embedded


def test_a_daemon_of_its_own_serves_the_root(root: str) -> None:
    """The user's own `portside daemon` for the root, on a socket of its choosing: used, no second one made."""
    own, pidfile = os.path.join(root, "own.sock"), os.path.join(root, "own.pid")
    ok(cli(root, "daemon", "-d", "-H", f"unix://{own}", "-p", pidfile, "--log-file", os.path.join(root, "own.log")))
    try:
        os.makedirs(os.path.join(root, "swarm"))
        assert resolve(root=root, env={}).host == f"unix://{own}"
        assert ok(cli(root, "ps", "-q")) == ""
        sock, mine = daemon_files(root)
        assert not os.path.exists(sock) and not os.path.exists(mine)
    finally:
        stop(pidfile, own)
    assert not os.path.exists(os.path.join(root, "daemon.json"))  # gone with its daemon
