"""A private dockerd for the remote-endpoint tests: a unix socket and a tcp+TLS listener on 127.0.0.1.

``start_dockerd(tmp)`` uses bench/run.py's ``DockerD`` (its own data root, exec root, socket and pid
file under ``tmp``; no iptables, no bridge) as tests/integration/test_docker_interop.py does, and adds
``-H tcp://127.0.0.1:<port> --tlsverify`` with a CA, a server and a client certificate made here with
``cryptography`` (tests/tlscerts.py). ``stop_dockerd`` removes its containers, stops it by pid and removes what it left.
The ``dockerd`` fixture (module scope; import it into a test module) holds a ``busybox`` image.

``swarm_dockerd`` (module-scope fixture) and ``swarm_dockerd_running()`` (the same as a context manager;
both over bench/run.py's ``SwarmDockerD``)
give a private dockerd in swarm mode: a network namespace of its own (``ip netns add``, lo up with
192.0.2.10/32), dockerd started in it by nsenter (its bridges, iptables rules, ingress and swarm ports
stay in the netns; its unix socket is a file, reachable from the host), ``swarm init --advertise-addr
192.0.2.10``, images ``busybox:latest`` (CMD sh) and ``busybox-web:latest`` (httpd on port 80 serving
``/`` = the container's hostname, i.e. the task's container id prefix). No TCP listener, no TLS: the
CLI and the clients use ``unix://<sock>``. ``SwarmDocker.get(port)`` sends an HTTP GET to
192.0.2.10:<port> from inside the netns (a ``mode: host`` published port answers there; docker's ingress
port does not: no IPVS on this kernel). Teardown: ``swarm leave --force``, the containers removed,
dockerd stopped by pid, its mounts unmounted, the netns deleted (its rules and interfaces go with it),
the folder removed. Start-up takes 1–2 s here (dockerd 0.4–0.6 s, swarm init 0.2–0.7 s, the images
0.3 s; ``SwarmDocker.timings``): share one per module.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from tests.tlscerts import make_certs

SWARM_ADDR = "192.0.2.10"  # TEST-NET-1: never routed, only ever on the private netns's lo
WEB_IMAGE = "busybox-web:latest"
WEB_CMD = '["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]'
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


@dataclass
class SwarmDocker(RemoteDocker):
    """A private dockerd in swarm mode inside its own netns (``tcp`` and ``certs`` are empty: unix socket only)."""

    netns: Any = None            # bench/run.py's NetNS
    addr: str = SWARM_ADDR       # the advertise address, on the netns's lo
    node_id: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # seconds: dockerd, swarm init, images

    def wait_replicas(self, service: str, want: int, timeout: float = 60.0) -> list[str]:
        """Poll until ``want`` of the service's task containers run; their ids (AssertionError on timeout)."""
        end = time.monotonic() + timeout
        while True:
            ids = self.ok("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}").split()
            if len(ids) == want or time.monotonic() > end:
                assert len(ids) == want, f"{service}: {len(ids)} of {want} tasks running after {timeout:.0f} s:\n" + \
                    self.ok("service", "ps", "--no-trunc", service)
                return ids
            time.sleep(0.1)

    def host_port(self, container: str, port: str = "80/tcp") -> int:
        """The host port a container (a task with a ``mode=host`` published port) is reachable on in the netns."""
        out = self.ok("port", container, port).split()
        return int(out[0].rsplit(":", 1)[1])

    def get(self, port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, bytes]:
        """HTTP/1.0 GET http://<addr>:<port><path> from inside the netns: (status, body)."""
        s = self.netns.connect(port, timeout=timeout)
        try:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: {self.addr}\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        return status, body


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


def start_swarm_dockerd(tmp: str, addr: str = SWARM_ADDR) -> SwarmDocker:
    """dockerd in a fresh netns under ``tmp``, swarm init'd, the two images loaded (see the module doc)."""
    mod = bench()
    before = mod.host_leftovers_before()
    d = mod.SwarmDockerD(tmp, f"psdk{os.getpid() % 100000}{os.path.basename(tmp)[-6:]}", addr)
    d.env["PATH"] = os.path.dirname(DOCKER_CLI) + os.pathsep + d.env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    for k in ("DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "PORTSIDE_ROOT"):
        d.env.pop(k, None)
    remote = SwarmDocker(tmp, d.sock, "", "", d.env, d, before, mod, netns=d.ns, addr=addr, timings=d.timings)
    try:
        d.start()
        remote.node_id = d.node_id
        t = time.monotonic()
        tar = os.path.join(tmp, "busybox.tar")
        mod.make_rootfs_tar(tar)
        remote.ok("import", "-c", 'CMD ["sh"]', tar, "busybox:latest")
        remote.ok("import", "-c", f"CMD {WEB_CMD}", "-c", "EXPOSE 80/tcp", tar, WEB_IMAGE)
        os.unlink(tar)
        remote.timings["images"] = time.monotonic() - t
    except BaseException:
        stop_dockerd(remote)
        raise
    return remote


@contextmanager
def swarm_dockerd_running(addr: str = SWARM_ADDR) -> Iterator[SwarmDocker]:
    """A private swarm-mode dockerd for the ``with`` block (the checks of the ``swarm_dockerd`` fixture are the caller's)."""
    tmp = tempfile.mkdtemp(prefix="ps-sw-", dir="/tmp")  # short: unix socket paths must stay < 108 bytes
    remote = start_swarm_dockerd(tmp, addr)
    try:
        yield remote
    finally:
        left = stop_dockerd(remote)  # SwarmDockerD.stop: swarm leave --force, dockerd, the netns
        assert not left, f"still mounted under {tmp}: {left}"


def skip_unless_dockerd() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (a private dockerd)")
    if not shutil.which("dockerd"):
        pytest.skip("dockerd is not installed (Debian package docker.io; `make test` installs it)")
    if not DOCKER_CLI:
        pytest.skip("no docker CLI (/usr/local/bin/docker or docker on PATH)")


@pytest.fixture(scope="module")
def swarm_dockerd() -> Iterator[SwarmDocker]:
    skip_unless_dockerd()
    if not shutil.which("nsenter") or not shutil.which("ip"):
        pytest.skip("needs nsenter (util-linux) and ip (iproute2)")
    with swarm_dockerd_running() as remote:
        yield remote


@pytest.fixture(scope="module")
def dockerd() -> Iterator[RemoteDocker]:
    skip_unless_dockerd()
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
