"""README's tour works as written, offline: `image busybox`, then its friendlyhello Dockerfile builds and serves.

Before, the README began with `portside import rootfs.tar busybox` (a file nothing made), gave no
Dockerfile for friendlyhello, and described `--host` as something the CLI did not say (now: the line an engine that does not answer
gives).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]
README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")


def readme() -> str:
    with open(README, encoding="utf-8") as f:
        return f.read()


def code_blocks() -> list[str]:
    return re.findall(r"```\n(.*?)```", readme(), re.S)


def test_the_tour_starts_with_image_busybox() -> None:
    first_commands = [line.split("#")[0].strip() for block in code_blocks() for line in block.splitlines()
                      if line.startswith("portside ")]
    assert first_commands[0] == "portside image busybox"


@pytest.mark.root
def test_friendlyhello_as_written(cli: Cli, tmp_path: str) -> None:
    dockerfile = next(b for b in code_blocks() if b.startswith("# friendlyhello"))
    assert dockerfile.splitlines()[1] == "FROM busybox"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "index.html").write_text("<h1>Hello World!</h1>\n")
    assert cli("image", "busybox").returncode == 0
    proc = cli("build", "-t", "friendlyhello", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    cmd = cli("image", "inspect", "-f", "{{json .Config.Cmd}}", "friendlyhello").stdout.strip()
    assert cmd == '["httpd","-f","-v","-p","80","-h","/www"]'
    # its server, asked from inside the container (no network needed): serves the page
    proc = cli("run", "--rm", "--network", "none", "friendlyhello", "sh", "-c",
               "httpd -p 80 -h /www && wget -qO- http://127.0.0.1/")
    assert (proc.returncode, proc.stdout) == (0, "<h1>Hello World!</h1>\n"), proc.stderr


def test_what_is_not_supported_is_what_the_cli_says(cli: Cli) -> None:
    text = " ".join(readme().split())
    dead = cli("-H", "unix:///run/portside-none.sock", "ps").stderr.strip()
    assert dead.replace("/run/portside-none.sock", "/var/run/docker.sock") in text
    join = cli("swarm", "join", "--token", "x", "192.0.2.1:2377")
    assert join.returncode == 1 and "a Portside node is a single-node swarm manager" in join.stderr
    assert "a single-node swarm manager (`swarm join` says so)" in text
    for where in ("~/portside-tour", "PORTSIDE_TOUR_DIR", "~/.config/portside/config.yaml", "PORTSIDE_CONFIG",
                  "docs/ARCHITECTURE.md"):
        assert where in text
    assert "../shared/" not in text
