"""The stress suite: random operations from several processes at once, kill -9 at random moments, then
everything must still be consistent.

Four workers run random sequences of ``portside`` commands (run -d / run --rm, rm -f, build with and
without RUN, tag, rmi, push and pull against a real docker-registry on loopback, save/load, network
create/connect/disconnect/rm, volume create/rm, prune, import) against one data root, while a killer
sends SIGKILL to one of those CLI processes or to a container's monitor every second or so. Then the
invariants of :mod:`tests.stress.invariants` are checked: ``portside system check``, and from outside
no dangling tag, no missing blob, no duplicate IP, no container whose image is gone, every mount, veth,
cgroup, nft element, process and temp file accounted for, and every running container still logging.

The seed is printed (``PORTSIDE_STRESS_SEED=N`` replays its sequences of operations, and
``PORTSIDE_STRESS_OPS=N`` sets how many are run; default 160), with the operations and kills counted.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.integration.conftest import make_busybox_tar, mounts_under
from tests.integration.test_registry import REGISTRY, Registry
from tests.stress import driver, invariants

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.skipif(not os.access(REGISTRY, os.X_OK), reason="needs Debian's docker-registry"),
              pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static")]

DEFAULT_OPS = 160


@pytest.fixture
def stress_dirs() -> Iterator[tuple[str, str]]:
    """(data root, work dir); teardown removes every container, bridge, mount and file of the root."""
    base = tempfile.mkdtemp(prefix="portside-stress-")
    root, work = os.path.join(base, "root"), os.path.join(base, "work")
    os.makedirs(work)
    try:
        yield root, work
    finally:
        if os.environ.get("PORTSIDE_STRESS_KEEP"):
            print(f"stress: kept {base}")
            return
        env = dict(os.environ, PORTSIDE_ROOT=root)
        env.pop("DOCKER_HOST", None)
        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=env, cwd=driver.REPO,
                                  capture_output=True, text=True, timeout=120)
        try:
            ids = cli("ps", "-aq", "--no-trunc").stdout.split()
            if ids:
                cli("rm", "-f", "-v", *ids)
        except Exception:  # noqa: BLE001 - teardown must go on
            pass
        from engine.runtime import cgroups
        for cid in os.listdir(os.path.join(root, "containers")) if os.path.isdir(os.path.join(root, "containers")) \
                else []:  # what `rm -f` could not end: a test that failed must not leave processes
            cg = cgroups.Cgroup(f"portside/{cid}")
            if cg.exists():
                cg.kill_all()
                cg.destroy()
        try:
            from engine.network import host_teardown
            host_teardown(root)
        except Exception:  # noqa: BLE001 - teardown must go on
            pass
        for mp in mounts_under(base):
            subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def stress_registry(tmp_path: object) -> Iterator[Registry]:
    base = os.path.join(str(tmp_path), "registry")
    os.makedirs(base)
    reg = Registry(base)
    reg.start()
    try:
        yield reg
    finally:
        reg.kill()


def test_random_operations_with_kills_leave_everything_consistent(
        stress_dirs: tuple[str, str], stress_registry: Registry) -> None:
    root, work = stress_dirs
    seed = int(os.environ.get("PORTSIDE_STRESS_SEED") or random.SystemRandom().randrange(10**6))
    ops = int(os.environ.get("PORTSIDE_STRESS_OPS") or DEFAULT_OPS)
    tar = os.path.join(work, "busybox.tar")
    make_busybox_tar(tar)
    docker_config = os.path.join(work, "docker-config")
    os.makedirs(docker_config)
    stress = driver.Stress(root=root, seed=seed, ops=ops, registry=stress_registry.host, busybox_tar=tar,
                           workdir=work, env={"DOCKER_CONFIG": docker_config, "PORTSIDE_REGISTRY_RETRY_DELAY": "0.2"})
    driver.REPORT.append(f"stress: seed {seed} (replay: PORTSIDE_STRESS_SEED={seed} "
                                                         f"PORTSIDE_STRESS_OPS={ops})")
    start = time.monotonic()
    assert stress.cli("import", tar, driver.BASE, track=False).returncode == 0
    for i in range(2):  # two containers that run from start to end, each with its heartbeat
        assert stress.cli("run", "-d", "--name", f"steady{i}", driver.BASE, "sh", "-c", driver.HEARTBEAT,
                          track=False).returncode == 0

    stress.run()
    stress.cli("ps", "-a", track=False)  # the next command after the kills: the engine notices them
    violations = stress.violations + invariants.check(root, stress.cli, stress.seen_cids, stress.seen_ports)
    wall = time.monotonic() - start

    kills = sum(stress.kills.values())
    figures = (f"stress: {sum(stress.counts.values())} operations, {kills} kills, {len(violations)} invariant "
               f"violations in {wall:.0f} s (seed {seed})\n"
               f"  operations: {', '.join(f'{k} {v}' for k, v in sorted(stress.counts.items()))}\n"
               f"  kills: {', '.join(f'{k} {v}' for k, v in sorted(stress.kills.items())) or 'none'}\n"
               f"  CLI calls that exited 0: {', '.join(f'{k} {v}' for k, v in sorted(stress.ok.items()))}")
    driver.REPORT.append(figures)
    print(figures)
    assert not violations, (f"{len(violations)} invariant violations (replay: PORTSIDE_STRESS_SEED={seed} "
                            f"PORTSIDE_STRESS_OPS={ops}):\n" + "\n".join(f"- {v}" for v in violations))

