"""Fixtures for real clients against ``portside daemon``.

``daemon_factory``  starts ``portside daemon`` on a socket under a temp folder, over a given data root;
                    every daemon it started is stopped by its pid afterwards (SIGTERM, then SIGKILL).
``daemon``          (module) one daemon over a fresh data root holding a ``busybox`` image (made by
                    ``portside image busybox``); teardown removes the containers, unmounts and deletes.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKER_CLI = "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) else (shutil.which("docker") or "")


def _integration() -> ModuleType:
    """tests/integration/conftest.py's helpers (run_cli, mounts_under), one home for them."""
    path = os.path.join(REPO, "tests", "integration", "conftest.py")
    spec = importlib.util.spec_from_file_location("portside_it_helpers", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


IT = _integration()
run_cli = IT.run_cli


class Daemon:
    """One running ``portside daemon``: its socket, data root, pid, and the docker CLI pointed at it."""

    def __init__(self, base: str, root: str, name: str = "d") -> None:
        self.base, self.root = base, root
        self.sock = os.path.join(base, f"{name}.sock")
        self.pidfile = os.path.join(base, f"{name}.pid")
        self.log = os.path.join(base, f"{name}.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def start(self, timeout: float = 20) -> None:
        env = dict(os.environ, PORTSIDE_ROOT=self.root)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "daemon", "-H", self.host,
                                          "--pidfile", self.pidfile], cwd=REPO, env=env,
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"portside daemon exited {self.proc.returncode}: {self.read_log()}")
            if answers(self.sock):
                return
            time.sleep(0.02)
        raise AssertionError(f"portside daemon did not answer within {timeout} s: {self.read_log()}")

    def read_log(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)

    def docker(self, *args: str, input: str | None = None, timeout: float = 60,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}, **(env or {})}
        env.update(DOCKER_HOST=self.host, DOCKER_CONFIG=os.path.join(self.base, "docker-config"))
        return subprocess.run([DOCKER_CLI, *args], env=env, input=input, capture_output=True, text=True,
                              timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)

    def ok(self, *args: str, **kw: Any) -> str:
        p = self.docker(*args, **kw)
        assert p.returncode == 0, f"docker {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
        return p.stdout

    def portside(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run_cli(self.root, *args, timeout=timeout)  # type: ignore[no-any-return]


def answers(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def teardown_root(root: str) -> None:
    from engine.client.contexts import stop_started_daemon
    try:
        if os.path.isdir(os.path.join(root, "swarm")):  # its services go first (and the daemon started for them)
            run_cli(root, "swarm", "leave", "--force", timeout=120)
        ids = run_cli(root, "ps", "-aq", "--no-trunc", timeout=30).stdout.split()
        if ids:
            run_cli(root, "rm", "-f", *ids, timeout=60)
    except Exception:  # noqa: BLE001 - teardown must go on
        pass
    stop_started_daemon(root)
    for mp in IT.mounts_under(root):
        subprocess.run(["umount", "-l", mp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(root, ignore_errors=True)


def _needs() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (real containers)")
    if not DOCKER_CLI:
        pytest.skip("no docker CLI (/usr/local/bin/docker or docker on PATH)")


@pytest.fixture
def daemon_factory() -> Iterator[Callable[..., Daemon]]:
    _needs()
    base = tempfile.mkdtemp(prefix="ps-api-", dir="/tmp")  # short: unix socket paths must stay < 108 bytes
    made: list[Daemon] = []

    def make(root: str | None = None, name: str = "d", start: bool = True) -> Daemon:
        d = Daemon(base, root or os.path.join(base, "root"), name)
        made.append(d)
        if start:
            d.start()
        return d
    try:
        yield make
    finally:
        for d in made:
            d.stop()
        teardown_root(os.path.join(base, "root"))
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    _needs()
    base = tempfile.mkdtemp(prefix="ps-api-", dir="/tmp")
    d = Daemon(base, os.path.join(base, "root"))
    try:
        made = run_cli(d.root, "image", "busybox")
        assert made.returncode == 0, made.stderr
        d.start()
        yield d
    finally:
        try:
            d.stop()
        finally:
            teardown_root(d.root)
            shutil.rmtree(base, ignore_errors=True)
