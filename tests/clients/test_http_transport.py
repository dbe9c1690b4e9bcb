"""The HTTP transport (engine/client/http.py) against real servers: ``portside daemon`` and a private dockerd.

Each flow goes through ``request()`` / ``hijack()`` as the client uses them: version negotiation,
kept-alive connections, JSON and JSON-line replies, raw streams, a chunked request body (a build
context), a hijacked exec session with a half-close, docker's errors, a dead socket, and TLS over
tcp (``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``) with a good, a wrong and a missing certificate.
"""

from __future__ import annotations

import asyncio
import io
import os
import struct
import tarfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
from remote_docker import RemoteDocker, dockerd, free_port  # noqa: F401 - dockerd is a fixture

from engine.client.contexts import tls_options
from engine.client.http import HttpTransport, TcpTransport, UnixTransport
from engine.errors import ConnectionLost, InvalidArgument, NotFound

pytestmark = pytest.mark.root


def demux(data: bytes) -> tuple[bytes, bytes]:
    """stdout and stderr of docker's 8-byte multiplexed frames."""
    out, err = b"", b""
    while data:
        kind, size = struct.unpack(">BxxxL", data[:8])
        payload, data = data[8:8 + size], data[8 + size:]
        if kind == 2:
            err += payload
        else:
            out += payload
    return out, err


async def read_all(duplex: Any) -> bytes:
    buf = b""
    while True:
        data = await duplex.read()
        if not data:
            return buf
        buf += data


async def run_flow(t: HttpTransport) -> None:
    """create → attach (hijacked) → start → wait → logs (raw stream) → exec with stdin → rm."""
    r = await t.request("POST", "/containers/create", params={"name": None},
                        body={"Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo err >&2; exec sleep 30"],
                              "HostConfig": {"NetworkMode": "none"}})
    assert r.status == 201
    cid = (await r.json())["Id"]
    try:
        await (await t.request("POST", f"/containers/{cid}/start")).read()
        # exec with stdin: what we write comes back, and the half-close ends `cat`
        r = await t.request("POST", f"/containers/{cid}/exec",
                            body={"AttachStdin": True, "AttachStdout": True, "AttachStderr": True,
                                  "Cmd": ["cat"]})
        eid = (await r.json())["Id"]
        duplex = await t.hijack("POST", f"/exec/{eid}/start", body={"Detach": False, "Tty": False})
        assert duplex.fds is None
        await duplex.write(b"hello over the socket\n")
        await duplex.close_write()
        out, err = demux(await asyncio.wait_for(read_all(duplex), 30))
        await duplex.close()
        assert (out, err) == (b"hello over the socket\n", b"")
        info = await (await t.request("GET", f"/exec/{eid}/json")).json()
        assert info["ExitCode"] == 0 and info["Running"] is False

        r = await t.request("GET", f"/containers/{cid}/logs", params={"stdout": True, "stderr": True})
        assert demux(b"".join([c async for c in r.chunks()])) == (b"out\n", b"err\n")
        r = await t.request("POST", f"/containers/{cid}/kill", params={"signal": "KILL"})
        assert r.status == 204
        assert (await (await t.request("POST", f"/containers/{cid}/wait")).json())["StatusCode"] == 137
    finally:
        await (await t.request("DELETE", f"/containers/{cid}", params={"force": True})).read()
    with pytest.raises(NotFound) as e:
        await t.request("GET", f"/containers/{cid}/json")
    assert cid in str(e.value) and "\n" not in str(e.value)


def context_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"FROM busybox\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def build_flow(t: HttpTransport, tag: str) -> None:
    """A build context sent chunked (an async iterator), its progress read as JSON lines."""
    tar = context_tar()

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(tar), 1000):
            yield tar[i:i + 1000]
    r = await t.request("POST", "/build", params={"t": tag, "networkmode": "none", "rm": True}, body=pieces(),
                        headers={"Content-Type": "application/x-tar"})
    messages = [m async for m in r.lines()]
    assert not [m for m in messages if "error" in m], messages
    assert any("Successfully tagged" in m.get("stream", "") or m.get("aux", {}).get("ID") for m in messages), messages
    image = await (await t.request("GET", f"/images/{tag}/json")).json()
    assert tag in image["RepoTags"]
    await (await t.request("DELETE", f"/images/{tag}")).read()


async def test_portside_daemon(daemon: Any) -> None:
    t = UnixTransport(daemon.sock)
    await t.open()
    try:
        assert (t.kind, t.api_version, t.address) == ("daemon", "1.50", daemon.host)
        first = await (await t.request("GET", "/containers/json", params={"all": True})).json()
        assert isinstance(first, list)
        assert len(t._idle) == 1
        conn = t._idle[0]
        images = await (await t.request("GET", "/images/json")).json()
        assert any("busybox:latest" in (i.get("RepoTags") or []) for i in images)
        assert t._idle == [conn], "the kept-alive connection was not reused"
        await run_flow(t)
        await build_flow(t, "ps-http-built:1")
        with pytest.raises(InvalidArgument):
            await t.request("POST", "/containers/create", body=b"{not json", headers={"Content-Type": "application/json"})
    finally:
        await t.close()


async def test_dockerd_over_unix(dockerd: RemoteDocker) -> None:
    t = UnixTransport(dockerd.sock)
    await t.open()
    try:
        assert t.kind == "remote"
        assert t.api_version == dockerd.ok("version", "-f", "{{.Server.APIVersion}}").strip()  # 1.41: below ours
        version = await (await t.request("GET", "/version")).json()
        assert version["ApiVersion"] == t.api_version
        await run_flow(t)
        await build_flow(t, "ps-http-built:1")
    finally:
        await t.close()


async def test_dockerd_over_tls(dockerd: RemoteDocker) -> None:
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": dockerd.certs}
    opts = tls_options(env=env)
    assert opts is not None and opts.verify and opts.cert and opts.key and opts.cacert
    port = int(dockerd.tcp.rsplit(":", 1)[1])
    t = TcpTransport("127.0.0.1", port, opts.context())
    await t.open()
    try:
        assert t.kind == "remote"
        names = {c["Id"] for c in await (await t.request("GET", "/containers/json", params={"all": True})).json()}
        assert names == set(dockerd.ok("ps", "-aq", "--no-trunc").split())
        await run_flow(t)
    finally:
        await t.close()

    # a server certificate from a CA we do not trust: one line, naming the address and why
    wrong = tls_options(env=env, tlscacert=os.path.join(dockerd.certs, "other-ca.pem"))
    assert wrong is not None
    with pytest.raises(ConnectionLost) as e:
        await TcpTransport("127.0.0.1", port, wrong.context()).open()
    msg = str(e.value)
    assert msg.startswith(f"cannot connect to the Docker engine at {dockerd.tcp}: TLS: ") and "\n" not in msg, msg

    # no client certificate: dockerd (--tlsverify) refuses the handshake
    bare = tls_options(env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/nonexistent"},
                       tlscacert=os.path.join(dockerd.certs, "ca.pem"))
    assert bare is not None and bare.cert is None
    with pytest.raises(ConnectionLost) as e:
        await TcpTransport("127.0.0.1", port, bare.context()).open()
    assert str(e.value).startswith(f"cannot connect to the Docker engine at {dockerd.tcp}: "), e.value


async def test_dead_endpoints(tmp_path: Any) -> None:
    missing = str(tmp_path / "none.sock")
    with pytest.raises(ConnectionLost) as e:
        await UnixTransport(missing).open()
    assert str(e.value) == f"cannot connect to the Docker engine at unix://{missing}: no such socket"

    import socket
    stale = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(stale)
    s.close()  # a socket file nobody listens on (a killed daemon's)
    with pytest.raises(ConnectionLost) as e:
        await UnixTransport(stale).open()
    assert str(e.value) == f"cannot connect to the Docker engine at unix://{stale}: connection refused"

    port = free_port()
    with pytest.raises(ConnectionLost) as e:
        await TcpTransport("127.0.0.1", port).open()
    assert str(e.value) == f"cannot connect to the Docker engine at tcp://127.0.0.1:{port}: connection refused"


async def test_daemon_restart(daemon_factory: Any) -> None:
    """A kept-alive connection the daemon closed is replaced; a daemon gone is one line; back, it answers."""
    d = daemon_factory()
    t = UnixTransport(d.sock)
    await t.open()
    try:
        assert (await (await t.request("GET", "/version")).json())["ApiVersion"] == "1.50"
        assert len(t._idle) == 1
        d.stop()
        with pytest.raises(ConnectionLost) as e:
            await t.request("GET", "/containers/json")
        assert str(e.value) == f"cannot connect to the Docker engine at {d.host}: no such socket"
        d.start()
        assert await (await t.request("GET", "/containers/json")).json() == []
    finally:
        await t.close()


def drive(coro: Any) -> Any:
    """Run a coroutine as the CLI runs its one-shot commands: no event loop, one ``send``."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("the coroutine waited on an event loop")


class Recording(UnixTransport):
    """A unix transport that notes each request's method and path (what it sent, not how)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.sent: list[tuple[str, str]] = []

    async def _exchange(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        self.sent.append((method, path))
        return await super()._exchange(method, path, *args, **kwargs)


def test_without_an_event_loop(daemon: Any, dockerd: RemoteDocker) -> None:
    """The CLI's read-only commands drive the transport with no loop: a blocking socket, the same HTTP."""
    t = Recording(daemon.sock)
    drive(t.open())
    try:
        assert (t.kind, t.api_version) == ("daemon", "1.50")
        assert t.server.get("server", "").startswith("Portside/")
        listed = drive(drive(t.request("GET", "/containers/json", params={"all": True})).json())
        assert isinstance(listed, list)
        assert len(t._idle) == 1 and t._idle[0].blocking
        conn = t._idle[0]
        images = drive(drive(t.request("GET", "/images/json")).json())
        assert any("busybox:latest" in (i.get("RepoTags") or []) for i in images)
        assert t._idle == [conn], "the kept-alive connection was not reused"
        with pytest.raises(NotFound) as e:
            drive(t.request("GET", "/containers/no-such-one/json"))
        assert "no-such-one" in str(e.value)
        # the Server header said Portside: one ping, no /version
        assert t.sent == [("GET", "/_ping"), ("GET", "/containers/json"), ("GET", "/images/json"),
                          ("GET", "/containers/no-such-one/json")]

        async def on_a_loop() -> Any:
            try:
                got = await (await t.request("GET", "/containers/json", params={"all": True})).json()
                assert conn not in t._idle and len(t._idle) == 1  # the blocking one closed, an asyncio one kept
                return got
            finally:
                await t.close()  # on its loop: asyncio's connection closes there
        assert asyncio.run(on_a_loop()) == listed
    finally:
        drive(t.close())

    r = UnixTransport(dockerd.sock)
    drive(r.open())
    try:
        assert r.kind == "remote"  # dockerd's Server header is docker's: /version says so
        ids = {c["Id"] for c in drive(drive(r.request("GET", "/containers/json", params={"all": True})).json())}
        assert ids == set(dockerd.ok("ps", "-aq", "--no-trunc").split())
    finally:
        drive(r.close())


def test_dead_endpoints_without_an_event_loop(tmp_path: Any) -> None:
    missing = str(tmp_path / "none.sock")
    with pytest.raises(ConnectionLost) as e:
        drive(UnixTransport(missing).open())
    assert str(e.value) == f"cannot connect to the Docker engine at unix://{missing}: no such socket"
    port = free_port()
    with pytest.raises(ConnectionLost) as e:
        drive(TcpTransport("127.0.0.1", port).open())
    assert str(e.value) == f"cannot connect to the Docker engine at tcp://127.0.0.1:{port}: connection refused"


def test_cli_lists_through_the_daemon_without_asyncio(daemon: Any) -> None:
    """`portside -H unix://… ps` is a ping and a list on one connection, without importing asyncio or ssl,
    nor what a short command's start can skip (typing, importlib, urllib)."""
    import subprocess
    import sys
    code = ("import sys, tui.cli\n"
            f"rc = tui.cli.main(['-H', {daemon.host!r}, 'ps', '-a'])\n"
            "print(rc, sorted(m for m in ('asyncio', 'ssl', 'typing', 'importlib', 'urllib.parse')"
            " if m in sys.modules))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_") and k != "PORTSIDE_ROOT"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("CONTAINER ID") and lines[-1] == "0 []", p.stdout
