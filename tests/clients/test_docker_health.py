"""Health checks through ``portside daemon`` with the real docker CLI (28): ``--health-*`` flags as the
docker CLI sends them, ``(healthy)`` in ``docker ps``, ``--filter health=``, ``State.Health`` in
``docker inspect`` and ``health_status`` events in ``docker events``."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Daemon  # tests/clients/conftest.py

pytestmark = pytest.mark.root

NONE = ("--network", "none")


def health(d: Daemon, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(d.ok("inspect", "--format", "{{json .State.Health}}", name))
    return doc or {}


def wait_for_status(d: Daemon, name: str, status: str, limit: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        h = health(d, name)
        if h.get("Status") == status:
            return h
        assert time.monotonic() < deadline, f"{name} never became {status}: {h}"
        time.sleep(0.05)


def test_docker_ps_shows_healthy_and_events_say_so(daemon: Daemon) -> None:
    since = str(int(time.time()) - 1)
    try:
        daemon.ok("run", "-d", "--name", "fine", *NONE, "--health-cmd", "echo up", "--health-interval", "100ms",
                  "busybox", "sleep", "60")
        daemon.ok("run", "-d", "--name", "ill", *NONE, "--health-cmd", "exit 1", "--health-interval", "100ms",
                  "--health-retries", "1", "busybox", "sleep", "60")
        h = wait_for_status(daemon, "fine", "healthy")
        assert h["FailingStreak"] == 0 and h["Log"][-1]["Output"] == "up\n" and h["Log"][-1]["ExitCode"] == 0
        wait_for_status(daemon, "ill", "unhealthy")
        rows = dict(line.split(" ", 1) for line in daemon.ok("ps", "--format", "{{.Names}} {{.Status}}").splitlines())
        assert rows["fine"].startswith("Up ") and rows["fine"].endswith(" (healthy)")
        assert rows["ill"].endswith(" (unhealthy)")
        assert daemon.ok("ps", "--filter", "health=healthy", "--format", "{{.Names}}").split() == ["fine"]
        assert daemon.ok("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}").split() == ["ill"]
        cfg = json.loads(daemon.ok("inspect", "--format", "{{json .Config.Healthcheck}}", "fine"))
        assert cfg == {"Test": ["CMD-SHELL", "echo up"], "Interval": 100_000_000}
        events = daemon.ok("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                           "event=health_status", "--format", "{{.Actor.Attributes.name}} {{.Action}}").splitlines()
        assert sorted(events) == ["fine health_status: healthy", "ill health_status: unhealthy"]
        bad = daemon.docker("ps", "--filter", "health=fine")
        assert bad.returncode != 0 and "Unrecognised filter value for health: fine" in bad.stderr
    finally:
        daemon.docker("rm", "-f", "fine", "ill")


def test_a_paused_container_is_unhealthy_until_a_check_passes_again(daemon: Daemon) -> None:
    try:
        daemon.ok("run", "-d", "--name", "nap", *NONE, "--health-cmd", "true", "--health-interval", "100ms",
                  "busybox", "sleep", "60")
        wait_for_status(daemon, "nap", "healthy")
        daemon.ok("pause", "nap")
        try:
            assert health(daemon, "nap")["Status"] == "unhealthy"  # as docker's: no checks while paused
            status = daemon.ok("ps", "--filter", "name=nap", "--format", "{{.Status}}").strip()
            assert status.startswith("Up ") and status.endswith(" (Paused)")
        finally:
            daemon.ok("unpause", "nap")
        wait_for_status(daemon, "nap", "healthy")
    finally:
        daemon.docker("rm", "-f", "nap")

