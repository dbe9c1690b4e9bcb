"""The Docker Engine API's routes over the engine: one table, then one small handler per route.

Each handler decodes the request, calls one of the engine's public methods, and encodes the result,
as moby's ``container_routes.go`` does. Paths are matched with and without the ``/v1.NN`` prefix;
``{name}`` is one path segment, ``{name*}`` may hold slashes (image references).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .. import __version__
from ..errors import EngineError, InvalidArgument, NotFound, NotImplementedByEngine
from .server import API_VERSION, CLOSE_IN_CHILD, MIN_API_VERSION, Request, Response, error_response, \
    json_response, version_key

NOT_SWARM = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
             'node to swarm and try again.')
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


class API:
    """The routes bound to one engine; ``await api.handle(request)`` answers a request."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.routes = [(method, compile_path(path), handler) for method, path, handler in ROUTES]
        self.attaching: dict[str, Attach] = {}  # container id → a client waiting for its start
        self.exit_codes: dict[str, asyncio.Future[int | None]] = {}  # container id → its attached exit code

    async def handle(self, req: Request) -> Response:
        if req.version is not None and version_key(req.version) > version_key(API_VERSION):
            return error_response(400, f"client version {req.version} is too new. Maximum supported API "
                                       f"version is {API_VERSION}")
        if req.version is not None and version_key(req.version) < version_key(MIN_API_VERSION):
            return error_response(400, f"client version {req.version} is too old. Minimum supported API "
                                       f"version is {MIN_API_VERSION}, please upgrade your client to a newer version")
        allowed = False
        for method, pattern, handler in self.routes:
            m = pattern.match(req.path)
            if m is None:
                continue
            if method != req.method:
                allowed = True
                continue
            return await handler(self, req, **m.groupdict())
        if allowed:
            return error_response(405, f"method {req.method} is not allowed on {req.path}")
        return error_response(404, "page not found")


def compile_path(path: str) -> re.Pattern[str]:
    def group(m: re.Match[str]) -> str:
        name = m.group(1)
        return f"(?P<{name[:-1]}>.+)" if name.endswith("*") else f"(?P<{name}>[^/]+)"
    return re.compile("^" + re.sub(r"\{([a-z_]+\*?)\}", group, path) + "/?$")


H = Callable[..., Awaitable[Response]]


# -- system ----------------------------------------------------------------------------------------
async def ping(api: API, req: Request) -> Response:
    headers = {"Builder-Version": "1", "Swarm": "inactive", "Cache-Control": "no-cache, no-store, must-revalidate",
               "Pragma": "no-cache"}
    return Response(200, b"" if req.method == "HEAD" else b"OK", content_type="text/plain; charset=utf-8",
                    headers=headers)


async def version(api: API, req: Request) -> Response:
    v = await api.engine.version()
    kernel = platform.release()
    engine_part = {"Name": "Engine", "Version": __version__,
                   "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
                               "Arch": v["Arch"], "KernelVersion": kernel, "GitCommit": "", "GoVersion": "",
                               "BuildTime": "", "Experimental": "false"}}
    return json_response(dict(v, ApiVersion=API_VERSION, MinAPIVersion=MIN_API_VERSION, GitCommit="",
                              BuildTime="", Platform={"Name": "Portside Engine"},
                              Components=[engine_part] + list(v.get("Components") or [])[1:]))


async def info(api: API, req: Request) -> Response:
    i = await api.engine.info()
    return json_response(dict(i, Name=platform.node(), ServerVersion=__version__, OSType="linux",
                              Architecture=platform.machine(), KernelVersion=platform.release(),
                              Swarm={"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "",
                                     "ControlAvailable": False, "Error": "", "RemoteManagers": None},
                              Plugins={"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file"]},
                              LoggingDriver="json-file", SecurityOptions=["name=seccomp,profile=builtin"],
                              IndexServerAddress="https://index.docker.io/v1/", Labels=[], ExperimentalBuild=False,
                              Warnings=None, SystemTime=time.strftime("%Y-%m-%dT%H:%M:%S%z")))


async def not_swarm(api: API, req: Request, **_: str) -> Response:
    return error_response(503, NOT_SWARM)


# -- containers ------------------------------------------------------------------------------------
async def containers_list(api: API, req: Request) -> Response:
    limit = req.integer("limit")
    return json_response(await api.engine.containers_list(all=req.flag("all"), filters=req.filters(),
                                                          limit=limit if limit is not None else -1,
                                                          size=req.flag("size")))


async def container_inspect(api: API, req: Request, id: str) -> Response:
    doc = await api.engine.container_inspect(id)
    if req.flag("size"):
        doc = dict(doc, SizeRw=0, SizeRootFs=0)
    return json_response(doc)


async def container_create(api: API, req: Request) -> Response:
    config = req.json()
    if not isinstance(config, dict):
        raise InvalidArgument("invalid JSON body: a container config (a JSON object) is required")
    for key in ("Cmd", "Entrypoint", "Env"):
        if isinstance(config.get(key), str):
            config[key] = [config[key]] if key == "Env" else [config[key]]
    return json_response(await api.engine.container_create(config, name=req.arg("name") or None), 201)


async def container_start(api: API, req: Request, id: str) -> Response:
    cid = api.engine.resolve_container(id)
    waiting = api.attaching.pop(cid, None)
    if waiting is None:
        await api.engine.container_start(cid)
    else:
        await waiting.start()
    return Response(204)


async def container_stop(api: API, req: Request, id: str) -> Response:
    stopped = await api.engine.container_stop(id, t=req.integer("t"), signal=req.arg("signal") or None)
    return Response(204 if stopped else 304)


async def container_kill(api: API, req: Request, id: str) -> Response:
    await api.engine.container_kill(id, signal=req.arg("signal") or "SIGKILL")
    return Response(204)


async def container_restart(api: API, req: Request, id: str) -> Response:
    await api.engine.container_restart(id, t=req.integer("t"))
    return Response(204)


async def container_wait(api: API, req: Request, id: str) -> Response:
    condition = req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidArgument(f"invalid condition: {condition!r}")
    cid = api.engine.resolve_container(id)
    first = await api.engine.container_inspect(cid)

    async def outcome() -> dict[str, Any]:
        """docker's answer once the container is not running (not-running), has exited after this
        call (next-exit), or is gone (removed)."""
        finished = first["State"]["FinishedAt"]
        doc = first
        while True:
            st = doc["State"]
            if not st["Running"] and not st["Restarting"] and (condition == "not-running"
                                                                 or st["FinishedAt"] != finished):
                break
            if st["Running"]:
                await api.engine.container_wait(cid, condition="next-exit")
            else:
                await asyncio.sleep(0.01)
            try:
                doc = await api.engine.container_inspect(cid)
            except NotFound:  # removed (--rm) before we saw it exit
                break
        code = doc["State"]["ExitCode"]
        if condition == "removed":
            while True:
                try:
                    await api.engine.container_inspect(cid)
                except NotFound:
                    break
                await asyncio.sleep(0.01)
        session = api.exit_codes.pop(cid, None)  # an attached client saw the monitor's own word
        if session is not None:
            seen = await session
            code = code if seen is None else seen
        return {"StatusCode": code, "Error": None}

    async def body() -> AsyncIterator[bytes]:
        yield json.dumps(await outcome()).encode() + b"\n"
    return Response(200, stream=body())  # the head goes out at once: docker's CLI starts after it


async def container_delete(api: API, req: Request, id: str) -> Response:
    await api.engine.container_delete(id, force=req.flag("force"), v=req.flag("v"))
    return Response(204)


async def container_logs(api: API, req: Request, id: str) -> Response:
    from ..units import parse_since
    doc = await api.engine.container_inspect(id)
    stdout, stderr = req.flag("stdout"), req.flag("stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tty = bool(doc["Config"].get("Tty"))
    timestamps = req.flag("timestamps")
    entries = api.engine.container_logs(doc["Id"], stdout=stdout, stderr=stderr, follow=req.flag("follow"),
                                        tail=req.arg("tail") or "all", since=parse_since(req.arg("since")),
                                        until=parse_since(req.arg("until")))

    async def frames() -> AsyncIterator[bytes]:
        async for e in entries:
            text = (f"{e['time']} {e['log']}" if timestamps else e["log"]).encode()
            yield text if tty else frame(2 if e["stream"] == "stderr" else 1, text)
    return Response(200, stream=frames(), content_type=RAW if tty else MULTIPLEXED)


def frame(stream: int, data: bytes) -> bytes:
    """One frame of docker's multiplexed stream: [stream, 0, 0, 0, size (big-endian u32)] + data."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


class Attach:
    """A client attached to a container that is not started yet (``docker run`` attaches first).

    The start (``POST /containers/{id}/start``) hands the engine the write ends of our pipes; this
    copies the container's output to the hijacked connection as multiplexed frames (raw with a tty),
    the connection's input to the container's stdin, and keeps the exit code for ``wait``.
    """

    def __init__(self, api: API, cid: str, doc: dict[str, Any], req: Request) -> None:
        self.api, self.cid = api, cid
        self.tty = bool(doc["Config"].get("Tty"))
        self.want_in = req.flag("stdin") and bool(doc["Config"].get("OpenStdin"))
        self.pipes: dict[str, tuple[int, int]] = {}
        for name, on in (("stdout", req.flag("stdout")), ("stderr", req.flag("stderr") and not self.tty),
                         ("stdin", self.want_in)):
            if on:
                r, w = os.pipe()
                CLOSE_IN_CHILD.update((r, w))
                self.pipes[name] = (r, w)
        loop = asyncio.get_running_loop()
        self.started: asyncio.Future[int] = loop.create_future()
        self.exited: asyncio.Future[int | None] = loop.create_future()
        api.exit_codes[cid] = self.exited

    async def start(self) -> None:
        fds = (self.pipes["stdin"][0] if "stdin" in self.pipes else -1,
               self.pipes["stdout"][1] if "stdout" in self.pipes else -1,
               self.pipes["stderr"][1] if "stderr" in self.pipes else self.pipes.get("stdout", (-1, -1))[1]
               if self.tty else -1)
        try:
            status_fd = await self.api.engine.container_start(self.cid, attach=fds)
        except EngineError as exc:
            self.started.set_exception(exc)
            raise
        finally:  # the engine gave the monitor its own copies
            for name, end in (("stdout", 1), ("stderr", 1), ("stdin", 0)):
                if name in self.pipes:
                    self._close(self.pipes[name][end])
        self.started.set_result(status_fd)

    def _close(self, fd: int) -> None:
        CLOSE_IN_CHILD.discard(fd)
        try:
            os.close(fd)
        except OSError:
            pass

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                status_fd = await self.started
            except EngineError:
                self.exited.set_result(None)
                return
            CLOSE_IN_CHILD.add(status_fd)
            copies = [asyncio.create_task(self._out(name, writer)) for name in ("stdout", "stderr")
                      if name in self.pipes]
            feeder = asyncio.create_task(self._in(reader)) if "stdin" in self.pipes else None
            code = await read_exit(status_fd)
            self._close(status_fd)
            self.exited.set_result(code)
            await asyncio.gather(*copies, return_exceptions=True)
            if feeder is not None:
                feeder.cancel()
            await writer.drain()
        finally:
            if not self.exited.done():
                self.exited.set_result(None)
            self.api.attaching.pop(self.cid, None)
            for r, w in self.pipes.values():
                self._close(r)
                self._close(w)

    async def _out(self, name: str, writer: asyncio.StreamWriter) -> None:
        from .. import aio
        fd = self.pipes[name][0]
        while True:
            await aio.readable(fd)
            data = os.read(fd, 65536)
            if not data:
                return
            writer.write(data if self.tty else frame(2 if name == "stderr" else 1, data))
            await writer.drain()

    async def _in(self, reader: asyncio.StreamReader) -> None:
        fd = self.pipes["stdin"][1]
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await asyncio.to_thread(os.write, fd, data)
        finally:
            self._close(fd)


async def read_exit(fd: int) -> int | None:
    """The monitor's ``{"exit": code}`` line on its status pipe (None when it ends without one)."""
    from .. import aio
    buf = b""
    while True:
        await aio.readable(fd)
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            msg = json.loads(line) if line.strip() else {}
            if "exit" in msg:
                return int(msg["exit"])


async def container_attach(api: API, req: Request, id: str) -> Response:
    doc = await api.engine.container_inspect(id)
    if doc["State"]["Running"]:
        raise NotImplementedByEngine("attaching to a running container is not supported by Portside")
    if not req.flag("stream"):
        raise InvalidArgument("attach without stream=1 is not supported")
    attach = Attach(api, doc["Id"], doc, req)
    api.attaching[doc["Id"]] = attach
    return Response(101, content_type=RAW if attach.tty else MULTIPLEXED, hijack=attach.session)


# -- images ----------------------------------------------------------------------------------------
async def images_list(api: API, req: Request) -> Response:
    filters = req.filters()
    if req.arg("filter"):  # the old ?filter=name
        filters.setdefault("reference", []).append(req.arg("filter"))
    return json_response(await api.engine.images_list(all=req.flag("all"), filters=filters))


async def image_inspect(api: API, req: Request, name: str) -> Response:
    return json_response(await api.engine.image_inspect(name))


async def image_history(api: API, req: Request, name: str) -> Response:
    return json_response(await api.engine.image_history(name))


async def image_tag(api: API, req: Request, name: str) -> Response:
    repo = req.arg("repo")
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    await api.engine.image_tag(name, repo, req.arg("tag") or None)
    return Response(201, b"")


async def image_delete(api: API, req: Request, name: str) -> Response:
    return json_response(await api.engine.image_delete(name, force=req.flag("force"), noprune=req.flag("noprune")))


# -- networks and volumes --------------------------------------------------------------------------
async def networks_list(api: API, req: Request) -> Response:
    return json_response(await api.engine.networks_list(filters=req.filters()))


async def volumes_list(api: API, req: Request) -> Response:
    return json_response({"Volumes": await api.engine.volumes_list(), "Warnings": None})


# The table: method, path, handler. Read it as the API's index.
ROUTES: list[tuple[str, str, H]] = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),

    ("GET", "/containers/json", containers_list),
    ("POST", "/containers/create", container_create),
    ("GET", "/containers/{id}/json", container_inspect),
    ("GET", "/containers/{id}/logs", container_logs),
    ("POST", "/containers/{id}/start", container_start),
    ("POST", "/containers/{id}/stop", container_stop),
    ("POST", "/containers/{id}/kill", container_kill),
    ("POST", "/containers/{id}/restart", container_restart),
    ("POST", "/containers/{id}/wait", container_wait),
    ("POST", "/containers/{id}/attach", container_attach),
    ("DELETE", "/containers/{id}", container_delete),

    ("GET", "/images/json", images_list),
    ("GET", "/images/{name*}/json", image_inspect),
    ("GET", "/images/{name*}/history", image_history),
    ("POST", "/images/{name*}/tag", image_tag),
    ("DELETE", "/images/{name*}", image_delete),

    ("GET", "/networks", networks_list),
    ("GET", "/volumes", volumes_list),

    ("GET", "/swarm", not_swarm),
    ("GET", "/services", not_swarm),
    ("GET", "/services/{id}", not_swarm),
    ("GET", "/tasks", not_swarm),
    ("GET", "/nodes", not_swarm),
    ("GET", "/nodes/{id}", not_swarm),
]
