"""The stress suite's invariant check finds what it is there to find (and nothing on a clean root).

A container whose output stops being logged (its processes stopped with SIGSTOP), a mount left under
the data root, and an nft element of a published port that no running container owns are each
reported; a data root with a running container and nothing wrong gives no violation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Callable

import pytest

from engine.network import nat
from engine.runtime import cgroups
from tests.stress import driver, invariants

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _run_heartbeat(cli: Cli, name: str, *extra: str) -> str:
    proc = cli("run", "-d", "--name", name, *extra, "busybox", "sh", "-c", driver.HEARTBEAT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_a_consistent_root_has_no_violation(root: str, cli: Cli, imported: str) -> None:
    _run_heartbeat(cli, "steady", "--network", "none")
    assert invariants.check(root, cli, set(), set(), heartbeat_wait=1.0) == []


def test_a_stalled_log_a_stray_mount_and_a_stray_port_element_are_found(root: str, cli: Cli, imported: str) -> None:
    cid = _run_heartbeat(cli, "stalled", "--network", "none")
    cg = cgroups.Cgroup(f"portside/{cid}")
    for pid in cg.pids():
        os.kill(pid, signal.SIGSTOP)
    stray = tempfile.mkdtemp(dir=os.path.join(root, "containers"))
    subprocess.run(["mount", "-t", "tmpfs", "stray", stray], check=True)
    element = {"proto": "tcp", "host_ip": "127.0.0.1", "host_port": 1, "ip": "192.0.2.1", "port": 80}
    nat.ensure()
    nat.add_ports([element])
    try:
        found = invariants.check(root, cli, set(), {nat.port_element(element)}, heartbeat_wait=1.0)
    finally:
        nat.remove_ports([element])
        subprocess.run(["umount", stray], check=True)
        for pid in cg.pids():
            os.kill(pid, signal.SIGCONT)
    text = "\n".join(found)
    assert f"running container {cid[:12]}: its output is no longer logged" in text
    assert f"mount left under the data root: {os.path.realpath(stray)}" in text
    assert "nft tcp_ip element 127.0.0.1 . 1 : 192.0.2.1 . 80 left, of no running container" in text
