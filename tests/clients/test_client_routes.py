"""The client over its transports: the embedded one answering routes in-process, errors translated
once (docker's status and words), Portside's own routes against a real dockerd, and attach and exec
as one two-way stream through a real ``portside daemon``'s socket (hijacked connections)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from engine.client import Docker
from engine.client.transport import LocalReply, LocalTransport
from engine.errors import ContainerNotFound, ImageNotFound, NotFound, NotImplementedByEngine

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Any]:
    from remote_docker import start_dockerd, stop_dockerd
    if not os.path.exists("/usr/sbin/dockerd"):
        pytest.skip("dockerd (Debian docker.io) is not installed")
    remote = start_dockerd(tempfile.mkdtemp(prefix="ps-client-dockerd-"))
    try:
        yield remote
    finally:
        assert not stop_dockerd(remote), "dockerd left mounts behind"


def unix(path: str) -> Any:
    from engine.client.http import UnixTransport
    return UnixTransport(path)


async def test_local_transport_answers_a_route_in_process(daemon: Any) -> None:
    """The embedded transport calls the route's handler: the answer is the handler's own object
    (never encoded to JSON), streams are objects too, and an unknown path is docker's 404."""
    transport = LocalTransport(daemon.root)
    async with Docker(transport=transport) as docker:
        reply = await transport.request("GET", "/images/json", params={"filters": {"reference": ["busybox"]}})
        assert reply.status == 200 and isinstance(reply, LocalReply)
        images = await reply.json()
        assert [t for img in images for t in img["RepoTags"]] == ["busybox:latest"]
        assert reply.resp._body == b"", "the in-process answer was encoded to JSON"
        ping = await transport.request("GET", "/_ping")
        assert await ping.read() == b"OK"
        with pytest.raises(NotFound, match="^page not found$"):
            await transport.request("GET", "/no/such/route")
        c = await docker.containers.create({"Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo err >&2"],
                                            "HostConfig": {"NetworkMode": "none"}})
        try:
            await c.start()
            assert (await c.wait())["StatusCode"] == 0
            entries = [e async for e in c.log()]
            assert [(e["stream"], e["log"]) for e in entries] in ([("stdout", "out\n"), ("stderr", "err\n")],
                                                                   [("stderr", "err\n"), ("stdout", "out\n")])
            assert all(e["time"].endswith("Z") for e in entries)
        finally:
            await c.delete(force=True)


async def test_errors_are_translated_once_with_dockers_words(daemon: Any, dockerd: Any) -> None:
    """A 404 from any engine is NotFound with docker's message, of the kind the words name (a create
    that finds no image pulls it); in-process it is the handler's own error."""
    for transport in (LocalTransport(daemon.root), unix(daemon.sock), unix(dockerd.sock)):
        async with Docker(transport=transport) as docker:
            with pytest.raises(ContainerNotFound) as err:
                await docker.containers.get("no-such-box")
            assert str(err.value) == "No such container: no-such-box", transport.address
            with pytest.raises(ImageNotFound, match="No such image: no-such-image:1"):
                await docker.images.inspect("no-such-image:1")
            with pytest.raises(NotFound, match="^page not found$"):
                await transport.request("GET", "/no/such/route")


async def test_portside_only_routes_against_dockerd(daemon: Any, dockerd: Any) -> None:
    """Portside's own routes (``/portside/…``) work on Portside's engines; another Docker engine
    answers 404, and the client says in one line what needs what."""
    async with Docker(transport=unix(dockerd.sock)) as docker:
        assert docker.transport.kind == "remote"
        with pytest.raises(NotImplementedByEngine) as err:
            await docker.system.check()
        assert str(err.value) == (f"checking the engine's data needs a Portside engine; unix://{dockerd.sock} "
                                  "is another Docker engine")
        with pytest.raises(NotImplementedByEngine, match="^making a busybox image needs a Portside engine; "):
            await docker.images.make_busybox("bb:x")
        assert await docker.system.ping()
    async with Docker(transport=unix(daemon.sock)) as docker:
        assert docker.transport.kind == "daemon"
        assert isinstance(await docker.system.check(), list)


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    return r, w


def _read_all(fd: int) -> bytes:
    out = b""
    while chunk := os.read(fd, 65536):
        out += chunk
    os.close(fd)
    return out


async def test_attach_and_exec_round_trip_through_the_daemon(daemon: Any) -> None:
    """``run -i`` and ``exec -i`` over a socket: the connection is hijacked, our stdin reaches the
    process, its stdout and stderr come back demultiplexed from docker's frames, and the exit code
    is the process's."""
    async with Docker(transport=unix(daemon.sock)) as docker:
        c = await docker.containers.create({
            "Image": "busybox", "Cmd": ["sh", "-c", "cat; echo err >&2; exit 3"], "OpenStdin": True,
            "StdinOnce": True, "AttachStdin": True, "AttachStdout": True, "AttachStderr": True,
            "HostConfig": {"NetworkMode": "none"}})
        try:
            in_r, in_w = _pipe()
            out_r, out_w = _pipe()
            err_r, err_w = _pipe()
            os.write(in_w, b"hello through the socket\n")
            os.close(in_w)
            attached = await c.attach_start(stdin=in_r, stdout=out_w, stderr=err_w)
            assert attached.duplex.fds is None  # a socket: relayed, not handed over
            assert await attached.wait() == 3
            for fd in (in_r, out_w, err_w):
                os.close(fd)
            assert _read_all(out_r) == b"hello through the socket\n"
            assert _read_all(err_r) == b"err\n"
        finally:
            await c.delete(force=True)

        c = await docker.containers.run({"Image": "busybox", "Cmd": ["sleep", "30"],
                                         "HostConfig": {"NetworkMode": "none"}})
        try:
            in_r, in_w = _pipe()
            out_r, out_w = _pipe()
            err_r, err_w = _pipe()
            os.write(in_w, b"typed\n")
            os.close(in_w)
            code = await c.exec_run(["sh", "-c", "read line; echo \"got $line\"; echo oops >&2; exit 5"],
                                    stdin=in_r, stdout=out_w, stderr=err_w)
            assert code == 5
            for fd in (in_r, out_w, err_w):
                os.close(fd)
            assert _read_all(out_r) == b"got typed\n"
            assert _read_all(err_r) == b"oops\n"
        finally:
            await c.delete(force=True)


async def test_exec_in_process_hands_over_descriptors(daemon: Any) -> None:
    """The embedded engine's fast path: the exec'd process writes to our descriptors itself."""
    async with Docker(transport=LocalTransport(daemon.root)) as docker:
        c = await docker.containers.run({"Image": "busybox", "Cmd": ["sleep", "30"],
                                         "HostConfig": {"NetworkMode": "none"}})
        try:
            out_r, out_w = _pipe()
            code = await c.exec_run(["sh", "-c", "echo direct; exit 4"], stdout=out_w, stderr=out_w)
            os.close(out_w)
            assert code == 4
            assert _read_all(out_r) == b"direct\n"
        finally:
            await c.delete(force=True)
