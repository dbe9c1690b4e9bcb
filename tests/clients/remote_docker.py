"""A private dockerd for the remote-endpoint tests: a unix socket and a tcp+TLS listener on 127.0.0.1.

``start_dockerd(tmp)`` uses bench/run.py's ``DockerD`` (its own data root, exec root, socket and pid
file under ``tmp``; no iptables, no bridge) as tests/integration/test_docker_interop.py does, and adds
``-H tcp://127.0.0.1:<port> --tlsverify`` with a CA, a server and a client certificate made here with
``cryptography`` (tests/tlscerts.py). ``stop_dockerd`` removes its containers, stops it by pid and removes what it left.
The ``dockerd`` fixture (module scope; import it into a test module) holds a ``busybox`` image.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from tests.tlscerts import make_certs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKER_CLI = "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) else (shutil.which("docker") or "")


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("portside_bench_run", os.path.join(REPO, "bench", "run.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def free_port() -> int:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
    finally:
        s.close()


@dataclass
class RemoteDocker:
    """The running private dockerd: its unix socket, its tcp+TLS address, the certs, the docker CLI's env."""

    tmp: str
    sock: str
    tcp: str
    certs: str
    env: dict[str, str]
    daemon: Any
    host_before: set[str]
    mod: ModuleType

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def docker(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DOCKER_CLI, *args], env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)

    def ok(self, *args: str, **kw: Any) -> str:
        p = self.docker(*args, **kw)
        assert p.returncode == 0, f"docker {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
        return p.stdout


def start_dockerd(tmp: str) -> RemoteDocker:
    mod = bench()
    before = mod.host_leftovers_before()
    certs = os.path.join(tmp, "certs")
    os.makedirs(certs)
    make_certs(certs)
    port = free_port()
    d = mod.DockerD(tmp)
    d.extra_args = ["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", os.path.join(certs, "ca.pem"),
                    "--tlscert", os.path.join(certs, "server-cert.pem"),
                    "--tlskey", os.path.join(certs, "server-key.pem")]
    d.env["PATH"] = os.path.dirname(DOCKER_CLI) + os.pathsep + d.env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    for k in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "PORTSIDE_ROOT"):
        d.env.pop(k, None)
    remote = RemoteDocker(tmp, d.sock, f"tcp://127.0.0.1:{port}", certs, d.env, d, before, mod)
    try:
        d.start()
    except BaseException:
        stop_dockerd(remote)
        raise
    return remote


def stop_dockerd(remote: RemoteDocker) -> list[str]:
    """Stop it and remove what it left; what is still mounted (should be nothing)."""
    d, mod = remote.daemon, remote.mod
    try:
        d.stop()  # removes its containers, SIGTERMs dockerd by pid (SIGKILL after 30 s), then its children
    finally:
        if getattr(d, "logf", None) is not None:
            d.logf.close()
        left: list[str] = mod.unmount_all_under(remote.tmp)
        if not left:
            shutil.rmtree(remote.tmp, ignore_errors=True)
        mod.remove_host_leftovers(remote.host_before)
    return left


@pytest.fixture(scope="module")
def dockerd() -> Iterator[RemoteDocker]:
    if os.geteuid() != 0:
        pytest.skip("needs root (a private dockerd)")
    if not shutil.which("dockerd"):
        pytest.skip("dockerd is not installed (Debian package docker.io; `make test` installs it)")
    if not DOCKER_CLI:
        pytest.skip("no docker CLI (/usr/local/bin/docker or docker on PATH)")
    pytest.importorskip("cryptography")
    from engine.images import bootstrap
    tmp = tempfile.mkdtemp(prefix="ps-rd-", dir="/tmp")  # short: unix socket paths must stay < 108 bytes
    remote = start_dockerd(tmp)
    try:
        tar = os.path.join(tmp, "busybox.tar")
        with open(tar, "wb") as f:
            bootstrap.write_rootfs(f)
        remote.ok("import", "-c", 'CMD ["sh"]', tar, "busybox:latest")
        yield remote
    finally:
        left = stop_dockerd(remote)
        assert not left, f"still mounted under {tmp}: {left}"
