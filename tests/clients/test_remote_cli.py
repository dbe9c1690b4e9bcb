"""``portside`` against another Docker engine (a private dockerd) and against ``portside daemon``.

The same objects, seen by both CLIs: what ``portside -H unix://…`` runs, lists, logs, stops and
removes is what ``docker -H`` says about them. The endpoint is chosen as docker chooses (``-H``,
``DOCKER_HOST``, a docker context, ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH`` over tcp+TLS); a dead
socket is one line and a non-zero exit. The containers run with ``--network none``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from remote_docker import REPO, RemoteDocker, dockerd  # noqa: F401 - dockerd is a fixture

pytestmark = pytest.mark.root


@pytest.fixture
def config(tmp_path: Any) -> str:
    """A docker client config folder of the test's own (contexts, config.json)."""
    path = str(tmp_path / "docker-config")
    os.makedirs(path)
    return path


def portside(*args: str, config: str, env: dict[str, str] | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The portside CLI with no endpoint in its environment but ``env`` (no PORTSIDE_ROOT, no DOCKER_*)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PORTSIDE_ROOT"))}
    full.update(DOCKER_CONFIG=config, **(env or {}))
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=full, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, f"{' '.join(p.args[3:])} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def test_same_objects_as_docker_says(dockerd: RemoteDocker, config: str) -> None:
    h = ("-H", dockerd.host)
    cid = ok(portside(*h, "run", "-d", "--network", "none", "--name", "ps-remote", "busybox",
                      "sh", "-c", "echo hello; echo oops >&2; exec sleep 300", config=config)).strip()
    try:
        assert dockerd.ok("inspect", "-f", "{{.Id}} {{.State.Running}}", "ps-remote").split() == [cid, "true"]
        fmt = "{{.ID}} {{.Image}} {{.Names}} {{.Command}}"
        assert ok(portside(*h, "ps", "--format", fmt, config=config)) == dockerd.ok("ps", "--format", fmt)
        assert ok(portside(*h, "ps", "-aq", "--no-trunc", config=config)).split() == [cid]
        header = ok(portside(*h, "ps", config=config)).splitlines()[0].split()
        assert header == dockerd.ok("ps").splitlines()[0].split()
        fmt = "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"
        assert ok(portside(*h, "images", "--format", fmt, config=config)) == dockerd.ok("images", "--format", fmt)
        logs = portside(*h, "logs", "ps-remote", config=config)
        assert (logs.returncode, logs.stdout, logs.stderr) == (0, "hello\n", "oops\n")
        assert ok(portside(*h, "stop", "-t", "1", "ps-remote", config=config)) == "ps-remote\n"
        assert dockerd.ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "false"
        assert ok(portside(*h, "rm", "ps-remote", config=config)) == "ps-remote\n"
        assert dockerd.ok("ps", "-aq") == ""
        gone = portside(*h, "logs", "ps-remote", config=config)
        assert gone.returncode != 0 and gone.stderr.strip().endswith("No such container: ps-remote"), gone.stderr
    finally:
        dockerd.docker("rm", "-f", "ps-remote")


def test_docker_host_and_contexts(dockerd: RemoteDocker, config: str) -> None:
    cid = dockerd.ok("create", "--network", "none", "--name", "ps-ctx", "busybox", "true").strip()
    try:
        assert ok(portside("ps", "-aq", "--no-trunc", config=config, env={"DOCKER_HOST": dockerd.host})).split() == [cid]

        # a context made by docker's CLI, used by ours; and the other way round
        env = {k: v for k, v in dockerd.env.items() if k != "DOCKER_HOST"}
        env["DOCKER_CONFIG"] = config
        made = subprocess.run(["docker", "context", "create", "rd", "--docker", f"host={dockerd.host}"], env=env,
                              capture_output=True, text=True, timeout=30)
        assert made.returncode == 0, made.stderr
        assert ok(portside("--context", "rd", "ps", "-aq", "--no-trunc", config=config)).split() == [cid]
        used = portside("context", "use", "rd", config=config)
        assert (used.returncode, used.stdout, used.stderr) == (0, "rd\n", 'Current context is now "rd"\n')
        assert ok(portside("ps", "-aq", "--no-trunc", config=config)).split() == [cid]
        rows = ok(portside("context", "ls", config=config)).splitlines()
        assert rows[0].split() == ["NAME", "DESCRIPTION", "DOCKER", "ENDPOINT", "ERROR"]
        assert [r.split() for r in rows if r.startswith("rd")] == [["rd", "*", dockerd.host]]
        theirs = subprocess.run(["docker", "context", "ls", "--format", "{{.Name}} {{.Current}}"], env=env,
                                capture_output=True, text=True, timeout=30).stdout
        assert "rd true" in theirs.splitlines()
        assert ok(portside("context", "show", config=config)) == "rd\n"

        ok(portside("context", "create", "rd2", "--description", "by portside", "--docker", f"host={dockerd.host}",
                    config=config))
        theirs = subprocess.run(["docker", "--context", "rd2", "ps", "-aq", "--no-trunc"], env=env,
                                capture_output=True, text=True, timeout=30)
        assert theirs.stdout.split() == [cid], theirs.stderr
        busy = portside("context", "rm", "rd", config=config)
        assert (busy.returncode, busy.stderr) == (1, 'context "rd" is in use, set -f flag to force remove\n')
        assert ok(portside("context", "rm", "-f", "rd", "rd2", config=config)) == "rd\nrd2\n"
        assert ok(portside("context", "show", config=config)) == "default\n"
    finally:
        dockerd.docker("rm", "-f", "ps-ctx")


def test_tls_endpoint(dockerd: RemoteDocker, config: str) -> None:
    fmt = "{{.Repository}}:{{.Tag}} {{.ID}}"
    want = dockerd.ok("images", "--format", fmt)
    env = {"DOCKER_HOST": dockerd.tcp, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": dockerd.certs}
    assert ok(portside("images", "--format", fmt, config=config, env=env)) == want
    c = dockerd.certs
    flags = ("--tlsverify", "--tlscacert", f"{c}/ca.pem", "--tlscert", f"{c}/cert.pem", "--tlskey", f"{c}/key.pem")
    assert ok(portside("-H", dockerd.tcp, *flags, "images", "--format", fmt, config=config)) == want

    # no client certificate: one line, non-zero
    p = portside("-H", dockerd.tcp, "--tlsverify", "--tlscacert", f"{c}/ca.pem", "images", config=config)
    assert p.returncode != 0 and p.stdout == ""
    assert len(p.stderr.splitlines()) == 1 and p.stderr.startswith(f"cannot connect to the Docker engine at {dockerd.tcp}")
    # plain http to a TLS port: one line too
    p = portside("-H", dockerd.tcp, "images", config=config)
    assert p.returncode != 0 and len(p.stderr.splitlines()) == 1, p.stderr


def test_dead_socket_is_one_line(config: str, tmp_path: Any) -> None:
    sock = str(tmp_path / "gone.sock")
    p = portside("-H", f"unix://{sock}", "ps", config=config)
    assert (p.returncode, p.stdout, p.stderr) == (1, "", f"cannot connect to the Docker engine at unix://{sock}: "
                                                         f"no such socket\n")
    p = portside("-H", "ssh://me@box", "ps", config=config)
    assert p.returncode == 1 and p.stderr.startswith("unable to parse docker host `ssh://me@box`"), p.stderr
    p = portside("-H", f"unix://{sock}", "--context", "x", "ps", config=config)
    assert (p.returncode, p.stderr) == (1, "conflicting options: cannot specify both --host and --context\n")
    p = portside("--context", "nope", "ps", config=config)
    assert p.returncode == 1 and p.stderr.startswith('context "nope": context not found'), p.stderr


def test_portside_daemon_over_its_socket(daemon: Any, config: str) -> None:
    h = ("-H", daemon.host)
    cid = ok(portside(*h, "run", "-d", "--network", "none", "--name", "ps-via-daemon", "busybox", "sleep", "300",
                      config=config)).strip()
    try:
        fmt = "{{.ID}} {{.Names}}"
        assert ok(portside(*h, "ps", "--format", fmt, config=config)) == daemon.ok("ps", "--format", fmt)
        embedded = daemon.portside("ps", "-q", "--no-trunc")  # the same data root, opened in-process
        assert embedded.stdout.split() == [cid]
        assert ok(portside(*h, "rm", "-f", "ps-via-daemon", config=config)) == "ps-via-daemon\n"
    finally:
        daemon.docker("rm", "-f", "ps-via-daemon")


def portside_in(*args: str, config: str, input: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PORTSIDE_ROOT"))}
    full["DOCKER_CONFIG"] = config
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=full, cwd=REPO, capture_output=True,
                          text=True, timeout=60, input=input)


@pytest.mark.parametrize("engine", ["dockerd", "daemon"])
def test_attached_and_interactive_over_a_socket(engine: str, request: pytest.FixtureRequest, config: str) -> None:
    """run and exec attach over the hijacked connection: output demultiplexed, stdin relayed then closed."""
    host = request.getfixturevalue(engine).host
    h = ("-H", host)
    p = portside(*h, "run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3",
                 config=config)
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n"), p
    p = portside_in(*h, "run", "-i", "--rm", "--network", "none", "busybox", "cat", config=config,
                    input="piped in\n")
    assert (p.returncode, p.stdout, p.stderr) == (0, "piped in\n", ""), p
    ok(portside(*h, "run", "-d", "--network", "none", "--name", "ps-att", "busybox", "sleep", "300", config=config))
    try:
        p = portside(*h, "exec", "ps-att", "sh", "-c", "echo in-exec; exit 4", config=config)
        assert (p.returncode, p.stdout) == (4, "in-exec\n"), p
        p = portside_in(*h, "exec", "-i", "ps-att", "cat", config=config, input="exec stdin\n")
        assert (p.returncode, p.stdout) == (0, "exec stdin\n"), p
        rows = ok(portside(*h, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "ps-att", config=config))
        name, pids = rows.split()
        assert name == "ps-att" and pids.isdigit(), rows
    finally:
        portside(*h, "rm", "-f", "ps-att", config=config)
