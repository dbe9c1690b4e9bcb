"""Choosing the endpoint as docker does, and docker's context store read and written as docker's CLI does.

The store half runs the real docker CLI (``docker context create/ls/inspect``) over the same
``DOCKER_CONFIG`` folder: what one writes, the other reads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from engine.client import contexts
from engine.client.contexts import ContextError, ContextStore, resolve, tls_options

DOCKER_CLI = "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) else (shutil.which("docker") or "")


@pytest.fixture
def no_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    """Portside's default socket moved to a path where nothing listens (the host's own is left alone)."""
    path = str(tmp_path / "portside.sock")
    monkeypatch.setattr(contexts, "PORTSIDE_SOCKET", path)
    return path


def docker(config: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = config
    return subprocess.run([DOCKER_CLI, *args], env=env, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def test_order_of_the_choice(tmp_path: Any, no_daemon: str) -> None:
    cfg = str(tmp_path / "cfg")
    store = ContextStore(cfg)
    store.create("ctx-a", "unix:///a.sock")
    store.create("ctx-b", "tcp://10.0.0.2:2376", skip_tls_verify=True)
    env = {"DOCKER_CONFIG": cfg}

    assert resolve(env=env).embedded  # nothing chosen, no daemon answering: embedded
    store.set_current("ctx-a")
    assert resolve(env=env).host == "unix:///a.sock"
    assert resolve(env={**env, "DOCKER_CONTEXT": "ctx-b"}).host == "tcp://10.0.0.2:2376"
    assert resolve(env={**env, "DOCKER_CONTEXT": "ctx-b", "DOCKER_HOST": "unix:///h.sock"}).host == "unix:///h.sock"
    assert resolve(host="unix:///flag.sock", env={**env, "DOCKER_HOST": "unix:///h.sock"}).host == "unix:///flag.sock"
    got = resolve(context="ctx-b", env={**env, "DOCKER_HOST": "unix:///h.sock"})
    assert (got.context, got.host) == ("ctx-b", "tcp://10.0.0.2:2376")
    assert got.tls is not None and got.tls.verify is False  # SkipTLSVerify
    assert resolve(context="default", env=env).embedded
    # an explicit data root means the embedded engine
    got = resolve(root="/tmp/r", env=env)
    assert got.embedded and got.root == "/tmp/r"
    got = resolve(env={**env, "PORTSIDE_ROOT": "/tmp/r2", "DOCKER_CONTEXT": "ctx-b"})
    assert got.embedded and got.root == "/tmp/r2"

    with pytest.raises(ContextError, match="^conflicting options: cannot specify both --host and --context$"):
        resolve(host="unix:///x", context="ctx-a", env=env)
    with pytest.raises(ContextError, match='^context "nope": context not found: open .*meta.json: no such file'):
        resolve(context="nope", env=env)
    store.set_current("gone")
    with pytest.raises(ContextError, match='^current context "gone" is not found on the file system'):
        resolve(env=env)


def test_daemon_socket_is_the_default_when_it_answers(tmp_path: Any, no_daemon: str) -> None:
    import socket
    env = {"DOCKER_CONFIG": str(tmp_path / "cfg")}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(no_daemon)
        assert resolve(env=env).embedded  # the file is there, nobody listens
        s.listen(1)
        got = resolve(env=env)
        assert (got.embedded, got.host) == (False, f"unix://{no_daemon}")
        transport = contexts.transport_for(got)
        assert type(transport).__name__ == "UnixTransport" and transport.address == f"unix://{no_daemon}"  # type: ignore[attr-defined]
    finally:
        s.close()


def test_addresses() -> None:
    assert contexts.parse_host("unix:///run/x.sock") == ("unix", "/run/x.sock", 0)
    assert contexts.parse_host("tcp://10.1.2.3") == ("tcp", "10.1.2.3", 2375)
    assert contexts.parse_host("tcp://10.1.2.3", tls=True) == ("tcp", "10.1.2.3", 2376)
    assert contexts.parse_host("10.1.2.3:4243") == ("tcp", "10.1.2.3", 4243)
    assert contexts.parse_host("tcp://[::1]:2376") == ("tcp", "::1", 2376)
    for bad, why in (("ssh://me@host", "ssh://"), ("unix://rel.sock", "absolute"), ("tcp://h:99999", "port")):
        with pytest.raises(ContextError, match=why):
            contexts.parse_host(bad)


def test_tls_from_flags_and_environment(tmp_path: Any) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for n in ("ca.pem", "cert.pem", "key.pem"):
        (certs / n).write_text("x")
    assert tls_options(env={}) is None
    got = tls_options(env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)})
    assert got is not None and got.verify and got.cacert == str(certs / "ca.pem") and got.key == str(certs / "key.pem")
    got = tls_options(tls=True, env={"DOCKER_CERT_PATH": str(tmp_path / "empty")})
    assert got is not None and not got.verify and (got.cert, got.key) == (None, None)  # --tls: encrypt, no verify
    got = tls_options(tlsverify=True, tlscacert="/my/ca.pem", env={"DOCKER_CERT_PATH": str(certs)})
    assert got is not None and got.cacert == "/my/ca.pem" and got.cert == str(certs / "cert.pem")


@pytest.mark.skipif(not DOCKER_CLI, reason="no docker CLI")
def test_store_is_docker_s(tmp_path: Any) -> None:
    cfg = str(tmp_path / "cfg")
    pytest.importorskip("cryptography")
    from tests.tlscerts import make_certs
    certs = tmp_path / "certs"
    certs.mkdir()
    make_certs(str(certs))
    # docker writes, we read
    p = docker(cfg, "context", "create", "from-docker", "--description", "made by docker",
               "--docker", f"host=tcp://127.0.0.1:2376,ca={certs}/ca.pem,cert={certs}/cert.pem,key={certs}/key.pem")
    assert p.returncode == 0, p.stderr
    store = ContextStore(cfg)
    ctx = store.get("from-docker")
    assert (ctx.host, ctx.description, sorted(ctx.tls_files)) == ("tcp://127.0.0.1:2376", "made by docker",
                                                                  ["ca.pem", "cert.pem", "key.pem"])
    ours = ctx.inspect()
    theirs = json.loads(docker(cfg, "context", "inspect", "from-docker").stdout)[0]
    assert ours == theirs
    tls = ctx.tls()
    assert tls is not None and tls.verify and tls.cacert
    with open(tls.cacert) as f:
        assert f.read() == (certs / "ca.pem").read_text()

    # we write, docker reads (and uses it as current)
    store.create("from-portside", "unix:///tmp/ps.sock", description="made by portside")
    store.create("with-tls", "tcp://10.0.0.9:2376", ca=str(certs / "ca.pem"), cert=str(certs / "cert.pem"),
                 key=str(certs / "key.pem"))
    store.set_current("from-portside")
    rows = [json.loads(line) for line in docker(cfg, "context", "ls", "--format", "json").stdout.splitlines()]
    by_name = {r["Name"]: r for r in rows}
    assert by_name["from-portside"] == {"Current": True, "Description": "made by portside",
                                        "DockerEndpoint": "unix:///tmp/ps.sock", "Error": "", "Name": "from-portside"}
    theirs = json.loads(docker(cfg, "context", "inspect", "with-tls").stdout)[0]
    assert theirs == store.get("with-tls").inspect()
    assert theirs["TLSMaterial"] == {"docker": ["ca.pem", "cert.pem", "key.pem"]}
    assert store.names() == ["from-docker", "from-portside", "with-tls"]

    with pytest.raises(ContextError, match='^context "with-tls" already exists$'):
        store.create("with-tls", "unix:///x")
    with pytest.raises(ContextError, match="names are validated against regexp"):
        store.create("bad name", "unix:///x")
    store.remove("with-tls")
    assert "with-tls" not in docker(cfg, "context", "ls", "-q").stdout.split()
    store.set_current("default")
    assert "currentContext" not in json.loads((tmp_path / "cfg" / "config.json").read_text())


def portside(config: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "PORTSIDE_ROOT"))}
    env["DOCKER_CONFIG"] = config
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import sys
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], env=env, cwd=repo, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(not DOCKER_CLI, reason="no docker CLI")
def test_context_commands_as_docker_s(tmp_path: Any) -> None:
    cfg = str(tmp_path / "cfg")
    p = portside(cfg, "context", "create", "box", "--description", "the box", "--docker", "host=tcp://10.9.9.9:2376")
    assert (p.returncode, p.stdout, p.stderr) == (0, "box\n", 'Successfully created context "box"\n')
    p = portside(cfg, "context", "create", "box", "--docker", "host=unix:///x.sock")
    assert (p.returncode, p.stderr) == (1, 'context "box" already exists\n')
    p = portside(cfg, "context", "use", "box")
    assert (p.returncode, p.stdout, p.stderr) == (0, "box\n", 'Current context is now "box"\n')
    ours = portside(cfg, "context", "ls").stdout.splitlines()
    theirs = docker(cfg, "context", "ls").stdout.splitlines()
    assert ours[0].split() == theirs[0].split() == ["NAME", "DESCRIPTION", "DOCKER", "ENDPOINT", "ERROR"]
    assert [line for line in ours if line.startswith("box")][0].split() == ["box", "*", "the", "box",
                                                                            "tcp://10.9.9.9:2376"]
    assert portside(cfg, "context", "ls", "-q").stdout == docker(cfg, "context", "ls", "-q").stdout == "box\ndefault\n"
    assert json.loads(portside(cfg, "context", "inspect").stdout) == json.loads(docker(cfg, "context", "inspect").stdout)
    assert portside(cfg, "context", "inspect", "-f", "{{.Endpoints.docker.Host}}", "box").stdout == "tcp://10.9.9.9:2376\n"
    assert docker(cfg, "context", "show").stdout == portside(cfg, "context", "show").stdout == "box\n"
    p = portside(cfg, "context", "rm", "box")
    assert (p.returncode, p.stderr) == (1, 'context "box" is in use, set -f flag to force remove\n')
    p = portside(cfg, "context", "rm", "-f", "box")
    assert (p.returncode, p.stdout) == (0, "box\n")
    assert docker(cfg, "context", "ls", "-q").stdout == "default\n"
    p = portside(cfg, "context", "use", "nope")
    assert p.returncode == 1 and p.stderr.startswith('context "nope": context not found: ') and p.stdout == ""
    p = portside(cfg, "context", "rm", "default")
    assert (p.returncode, p.stderr) == (1, 'context "default" cannot be removed\n')


def test_default_context_names_where_commands_go(tmp_path: Any, no_daemon: str) -> None:
    """The default context listed as `embedded (<root>)` while an active swarm sent every command to the
    daemon serving that root; it shows what `resolve` picks."""
    root = str(tmp_path / "root")
    env = {"PORTSIDE_ROOT": root}
    assert contexts.default_context(env).host == f"embedded ({root})"
    assert resolve(env=env).embedded
    os.makedirs(os.path.join(root, "swarm"))  # what `swarm init` leaves: its daemon serves the root
    sock = contexts.daemon_files(root)[0]
    assert contexts.default_context(env).host == f"unix://{sock}"
    assert contexts.default_context({}, root=root).host == f"unix://{sock}"
    assert contexts.default_context({"DOCKER_HOST": "tcp://10.0.0.9:2376", **env}).host == "tcp://10.0.0.9:2376"
    assert contexts.default_context({}, probe=False).host == f"unix://{no_daemon}"
