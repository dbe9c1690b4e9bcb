"""docker-compose (Debian's 1.29, docker-py underneath) against ``portside daemon``.

A two-service project on its own network: a web server (busybox httpd) publishing a port on
loopback with its greeting from an env_file, and a client that finds it by its service name.
``up -d``, ``ps``, ``logs``, ``down``: and nothing of the project is left afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Daemon  # tests/clients/conftest.py

pytestmark = pytest.mark.root

COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"

COMPOSE_FILE = """\
version: "3.7"
services:
  web:
    image: compose-web:1
    command: ["sh", "-c", "mkdir -p /www && echo \\"hello $$GREETING\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
    env_file: [web.env]
    ports: ["127.0.0.1:{port}:8080"]
    networks: [backend]
    stop_grace_period: 1s  # httpd as pid 1 ignores SIGTERM: down need not wait docker's 10 s
  client:
    image: compose-web:1
    command: ["sh", "-c", "until wget -qO- http://web:8080/; do sleep 0.2; done; echo client-done; exec sleep 60"]
    depends_on: [web]
    networks: [backend]
    stop_grace_period: 1s
networks:
  backend: {{}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compose(d: Daemon, project_dir: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
    env.update(DOCKER_HOST=d.host, DOCKER_CONFIG=os.path.join(d.base, "docker-config"))
    return subprocess.run([COMPOSE, "--ansi", "never", "-p", "pstest", *args], cwd=project_dir, env=env,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def fetch(url: str, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_compose_up_ps_logs_down(daemon: Daemon, tmp_path: Any) -> None:
    if not os.access(COMPOSE, os.X_OK):
        pytest.skip("needs docker-compose (Debian package docker-compose)")
    daemon.ok("tag", "busybox", "compose-web:1")  # a busybox-based image made here
    port = free_port()
    project = str(tmp_path)
    with open(os.path.join(project, "docker-compose.yml"), "w") as f:
        f.write(COMPOSE_FILE.format(port=port))
    with open(os.path.join(project, "web.env"), "w") as f:
        f.write("# read by compose\nGREETING=from-env-file\n")
    label = "label=com.docker.compose.project=pstest"
    try:
        up = compose(daemon, project, "up", "-d")
        assert up.returncode == 0, up.stdout + up.stderr
        assert fetch(f"http://127.0.0.1:{port}/", time.monotonic() + 20) == "hello from-env-file\n"

        ps = compose(daemon, project, "ps")
        assert ps.returncode == 0, ps.stderr
        rows = {line.split()[0]: line for line in ps.stdout.splitlines()[2:] if line.strip()}
        assert sorted(rows) == ["pstest_client_1", "pstest_web_1"]
        assert all(" Up " in row for row in rows.values()), ps.stdout
        assert f"127.0.0.1:{port}->8080/tcp" in rows["pstest_web_1"]

        deadline = time.monotonic() + 20
        while "client-done" not in (logs := compose(daemon, project, "logs", "--no-color", "client")).stdout:
            assert logs.returncode == 0 and time.monotonic() < deadline, logs.stdout + logs.stderr
            time.sleep(0.2)
        assert "client_1  | hello from-env-file" in logs.stdout  # it reached web by its service name

        env = json.loads(daemon.ok("inspect", "-f", "{{json .Config.Env}}", "pstest_web_1"))
        assert "GREETING=from-env-file" in env
        nets = daemon.ok("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}",
                         "pstest_web_1").split()
        assert nets == ["pstest_backend"]

        down = compose(daemon, project, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert daemon.ok("ps", "-aq", "--filter", label) == ""
        assert "pstest_backend" not in daemon.ok("network", "ls", "--format", "{{.Name}}").split()
    finally:
        compose(daemon, project, "down", "-t", "0")
        daemon.docker("rmi", "compose-web:1")
