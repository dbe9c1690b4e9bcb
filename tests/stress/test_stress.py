"""The stress suite: random operations from several processes at once, kill -9 at random moments, then
everything must still be consistent.

Four workers run random sequences of ``portside`` commands (run -d / run --rm, rm -f, build with and
without RUN, tag, rmi, push and pull against a real docker-registry on loopback, save/load, network
create/connect/disconnect/rm, volume create/rm, prune, import, races: commands started at once on
purpose, and the real docker CLI against a ``portside daemon`` on the same root) against one data root,
while a killer sends SIGKILL to one of those CLI processes, to a container's monitor or to the daemon
(started again a moment later) every second or so. A container started through the daemon at the
start must still run and log at the end, through a daemon started again. Then the
invariants of :mod:`tests.stress.invariants` are checked: ``portside system check``, and from outside
no dangling tag, no missing blob, no duplicate IP, no container whose image is gone, every mount, veth,
cgroup, nft element, process and temp file accounted for, and every running container still logging.

The seed is printed (``PORTSIDE_STRESS_SEED=N`` replays its sequences of operations, and
``PORTSIDE_STRESS_OPS=N`` sets how many are run, default 160; ``PORTSIDE_STRESS_TIME`` bounds the
operations' phase, default 150 s), with the operations and kills counted.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import time
from typing import Any

import pytest

from tests.integration.test_registry import REGISTRY, Registry
from tests.clients.conftest import DOCKER_CLI, Daemon
from tests.stress import driver, invariants

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.skipif(not os.access(REGISTRY, os.X_OK), reason="needs Debian's docker-registry"),
              pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static")]

DEFAULT_OPS = 160


def test_random_operations_with_kills_leave_everything_consistent(root: str, tmp_path: Any, registry: Registry,
                                                                  busybox_tar: str) -> None:
    work = str(tmp_path)
    seed = int(os.environ.get("PORTSIDE_STRESS_SEED") or random.SystemRandom().randrange(10**6))
    ops = int(os.environ.get("PORTSIDE_STRESS_OPS") or DEFAULT_OPS)
    tar = busybox_tar
    docker_config = os.path.join(work, "docker-config")
    os.makedirs(docker_config)
    sock_dir = tempfile.mkdtemp(prefix="ps-stress-", dir="/tmp")  # short: unix socket paths stay < 108 bytes
    daemon = Daemon(sock_dir, root) if DOCKER_CLI else None
    stress = driver.Stress(root=root, seed=seed, ops=ops, registry=registry.host, busybox_tar=tar,
                           workdir=work, env={"DOCKER_CONFIG": docker_config, "PORTSIDE_REGISTRY_RETRY_DELAY": "0.2"},
                           time_limit=float(os.environ.get("PORTSIDE_STRESS_TIME") or 150), daemon=daemon)
    try:
        _run(stress, daemon, seed, ops, tar)
    finally:
        if daemon is not None:
            daemon.stop(signal.SIGKILL)  # by the pid we started; a no-op once _run stopped it
        shutil.rmtree(sock_dir, ignore_errors=True)


def _run(stress: driver.Stress, daemon: Daemon | None, seed: int, ops: int, tar: str) -> None:
    driver.REPORT.append(f"stress: seed {seed} (replay: PORTSIDE_STRESS_SEED={seed} "
                                                         f"PORTSIDE_STRESS_OPS={ops})")
    start = time.monotonic()
    assert stress.cli("import", tar, driver.BASE, track=False).returncode == 0
    for i in range(2):  # two containers that run from start to end, each with its heartbeat
        assert stress.cli("run", "-d", "--name", f"steady{i}", driver.BASE, "sh", "-c", driver.HEARTBEAT,
                          track=False).returncode == 0
    if daemon is not None:
        daemon.start()
        started = daemon.docker("run", "-d", "--name", "dsteady", "--network", "none", driver.BASE, "sh", "-c",
                                driver.HEARTBEAT)
        assert started.returncode == 0, started.stderr
        stress.spare.add(started.stdout.strip())  # its monitor is spared: only the daemon's kills may touch it

    stress.run()
    stress.cli("ps", "-a", track=False)  # the next command after the kills: the engine notices them
    if daemon is not None:
        assert stress.spare <= stress.seen_cids, "the spared container's id is not its folder's name"
        stress.violations.extend(daemon_check(stress, daemon))
    violations = stress.violations + invariants.check(stress.root, stress.cli, stress.seen_cids, stress.seen_ports)
    wall = time.monotonic() - start
    kills = sum(stress.kills.values())
    figures = (f"stress: {sum(stress.counts.values())} operations, {kills} kills, {len(violations)} invariant "
               f"violations in {wall:.0f} s (seed {seed})"
               + (" - stopped at the time limit" if stress.timed_out else "") + "\n"
               f"  operations: {', '.join(f'{k} {v}' for k, v in sorted(stress.counts.items()))}\n"
               f"  kills: {', '.join(f'{k} {v}' for k, v in sorted(stress.kills.items())) or 'none'}\n"
               f"  daemon kills: {stress.kills['daemon']}; docker calls that failed: "
               f"{', '.join(f'{k} {v}' for k, v in sorted(stress.docker_failed.items())) or 'none'}\n"
               f"  CLI calls that exited 0: {', '.join(f'{k} {v}' for k, v in sorted(stress.ok.items()))}")
    driver.REPORT.append(figures)
    print(figures)
    assert not violations, (f"{len(violations)} invariant violations (replay: PORTSIDE_STRESS_SEED={seed} "
                            f"PORTSIDE_STRESS_OPS={ops}):\n" + "\n".join(f"- {v}" for v in violations))


def daemon_check(stress: driver.Stress, daemon: Daemon) -> list[str]:
    """After the kills: the daemon serves again, and the container it started first still runs and logs.

    Then the daemon is stopped (SIGTERM, by its pid), so the host check finds no process of it.
    """
    out: list[str] = []
    stress.ensure_daemon()
    running = daemon.docker("inspect", "--format", "{{.State.Running}}", "dsteady")
    if running.stdout.strip() != "true":
        out.append(f"dsteady, started through the daemon, is not running after {stress.kills['daemon']} daemon "
                   f"kills: exit {running.returncode} {running.stdout!r} {running.stderr[-500:]}")
    else:
        first = daemon.docker("logs", "dsteady").stdout.count("hb ")
        time.sleep(1.0)
        second = daemon.docker("logs", "dsteady").stdout.count("hb ")
        if not first < second:
            out.append(f"dsteady's log did not grow through the daemon ({first} then {second} heartbeats)")
    daemon.stop()
    if daemon.proc is not None and daemon.proc.returncode not in (0, -signal.SIGTERM):
        out.append(f"portside daemon exited {daemon.proc.returncode} on SIGTERM")
    log = daemon.read_log()
    if "Traceback (most recent call last)" in log:
        out.append(f"portside daemon logged a traceback:\n{log[log.index('Traceback (most recent call last)'):][:3000]}")
    return out
