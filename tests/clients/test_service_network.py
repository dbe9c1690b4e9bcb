"""Service networking through ``portside daemon`` with docker's own CLI: a published service port balanced
over the replicas, a service on an overlay network reached by name and VIP from a container, and
``swarm leave --force`` leaving no rule, VIP or name behind. Traffic: 127.0.0.1 and our own containers.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import time
import urllib.request
from collections.abc import Callable

import pytest

from engine.network import balancer

HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def free_port() -> int:
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def get(port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/index.html", timeout=3) as r:
        return str(r.read().decode().strip())


def wait_for(pred: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = pred()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.1)


def test_published_service_port_vip_and_names(daemon_factory) -> None:
    import hashlib

    from engine.engine import Engine
    from engine.network import host_teardown

    d = daemon_factory(start=False)
    made = d.portside("image", "busybox")
    assert made.returncode == 0, made.stderr
    d.start()
    root_tag = hashlib.sha1(os.path.realpath(d.root).encode()).hexdigest()[:8] + "-"  # its balancer owners
    try:
        d.ok("swarm", "init")
        port = free_port()
        d.ok("network", "create", "-d", "overlay", "--attachable", "webnet")
        d.ok("service", "create", "-d", "--name", "web", "--network", "webnet", "-p", f"{port}:80", "--replicas", "3",
             "busybox", "sh", "-c", HTTPD)
        tasks = wait_for(lambda: len([ln for ln in d.ok("service", "ps", "-q", "--filter", "desired-state=running",
                                                            "web").split()]) == 3 and
                         d.ok("service", "ls", "--format", "{{.Replicas}}").strip() == "3/3")
        assert tasks
        # the published port answers on the host and balances over the three replicas
        wait_for(lambda: len({get(port) for _ in range(9)}) == 3)
        names = {get(port) for _ in range(9)}
        assert len(names) == 3 and all(n.startswith("hello-from-") for n in names)
        endpoint = d.ok("service", "inspect", "web", "--format", "{{json .Endpoint.VirtualIPs}}")
        webnet = d.ok("network", "inspect", "webnet", "--format", "{{.Id}}").strip()
        vip = re.search(rf'"NetworkID":"{webnet}","Addr":"([0-9.]+)/', endpoint)
        assert vip, endpoint
        # from a container on the overlay network: the name is the VIP, tasks.web every replica
        client = d.ok("run", "-d", "--network", "webnet", "busybox", "sleep", "120").strip()
        out = d.ok("exec", client, "nslookup", "web", "127.0.0.11")
        assert vip.group(1) in out.split("Name:", 1)[-1]
        out = d.ok("exec", client, "nslookup", "tasks.web", "127.0.0.11")
        assert len(set(re.findall(r"\d+\.\d+\.\d+\.\d+", out.split("Name:", 1)[-1]))) == 3
        seen = {d.ok("exec", client, "wget", "-q", "-O-", "http://web/index.html").strip() for _ in range(6)}
        assert seen <= names and len(seen) >= 2
        d.ok("rm", "-f", client)
        assert any(o.startswith(root_tag) for o in balancer.owners())
    finally:
        d.docker("swarm", "leave", "--force", timeout=120)
        d.stop()
        host_teardown(d.root)
    # nothing of the services is left: no rule, no reserved port, no VIP allocation, no name file
    assert not [o for o in balancer.owners() if o.startswith(root_tag)]
    assert balancer.port_free("tcp", port)
    assert not glob.glob(os.path.join(d.root, "networks", "*.services"))
    engine = Engine(d.root)
    try:
        assert not [r for r in engine.state.allocation_rows() if r[2].startswith("vip:")]
    finally:
        engine.close()
    with pytest.raises(OSError):
        get(port)
