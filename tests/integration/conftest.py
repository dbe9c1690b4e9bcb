"""Fixtures for the integration tests: real containers, as root, in a fresh data root per test.

``root``        a fresh PORTSIDE_ROOT; teardown force-removes every container, unmounts what is left
                under it and deletes it.
``busybox_tar`` (session) a rootfs tar made from the host's static /bin/busybox.
``cli``         runs ``python -m tui.cli …`` against ``root``; returns the CompletedProcess.
``imported``    ``busybox_tar`` imported as ``busybox`` into ``root``; returns the image id.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator

import pytest

from engine.images import bootstrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUSYBOX = bootstrap.BUSYBOX

# the engine's busybox image (engine.images.bootstrap), plus a user ``app`` (1000) the tests switch to
PASSWD = bootstrap.PASSWD + "app:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = bootstrap.GROUP + "app:x:1000:\n"


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path`` (from /proc/self/mountinfo), deepest first."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def make_busybox_tar(path: str) -> None:
    with open(path, "wb") as f:
        bootstrap.write_rootfs(f, passwd=PASSWD, group=GROUP, extra_dirs=("home/app",))


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> str:
    if not os.path.exists(BUSYBOX):
        pytest.skip("needs a static /bin/busybox (busybox-static)")
    path = str(tmp_path_factory.mktemp("busybox") / "rootfs.tar")
    make_busybox_tar(path)
    return path


def run_cli(root: str, *args: str, timeout: float = 60, input: bytes | str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, PORTSIDE_ROOT=root)
    full_env.pop("DOCKER_HOST", None)
    if env:
        full_env.update(env)
    text_input = input if isinstance(input, str) or input is None else None
    if isinstance(input, bytes):
        proc = subprocess.run([sys.executable, "-m", "tui.cli", *args], env=full_env, cwd=REPO, input=input,
                              capture_output=True, timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
                                           proc.stderr.decode(errors="replace"))
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=full_env, cwd=REPO, input=text_input,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def root() -> Iterator[str]:
    base = tempfile.mkdtemp(prefix="portside-it-")
    try:
        yield base
    finally:
        try:
            ids = run_cli(base, "ps", "-aq", "--no-trunc", timeout=30).stdout.split()
            if ids:
                run_cli(base, "rm", "-f", *ids, timeout=60)
        except Exception:  # noqa: BLE001 - teardown must go on
            pass
        try:  # the bridges and nftables elements this data root made (engine.network)
            from engine.network import host_teardown
            host_teardown(base)
        except Exception:  # noqa: BLE001 - teardown must go on
            pass
        for mp in mounts_under(base):
            subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def cli(root: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    def call(*args: str, timeout: float = 60, input: bytes | str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(root, *args, timeout=timeout, input=input, env=env)
    return call


@pytest.fixture
def imported(cli: Callable[..., subprocess.CompletedProcess[str]], busybox_tar: str) -> str:
    proc = cli("import", busybox_tar, "busybox")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()
