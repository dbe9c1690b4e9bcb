"""The Docker Engine API's routes over the engine: one table, then one small handler per route.

Each handler decodes the request, calls one method of the engine's services
(``api.engine.containers.list(…)``), and encodes the result, as moby's ``container_routes.go`` does. Paths are matched with and without the ``/v1.NN`` prefix;
``{name}`` is one path segment, ``{name*}`` may hold slashes (image references).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import __version__, aio
from ..errors import Conflict, EngineError, InvalidArgument, NotFound, NotImplementedByEngine
from ..units import rfc3339
from .server import API_VERSION, MIN_API_VERSION, Request, Response, error_response, json_response, version_key
from . import shapes

if TYPE_CHECKING:  # the embedded client answers requests here without an event loop: asyncio stays unloaded
    import asyncio

    from .streams import Attach, Exec  # attach and exec load them when used


class API:
    """The routes bound to one engine; ``await api.handle(request)`` answers a request."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.routes = table()
        self.attaching: dict[str, Attach] = {}  # container id → a client waiting for its start
        self.exit_codes: dict[str, asyncio.Future[int | None]] = {}  # container id → its attached exit code
        self.execs: dict[str, Exec] = {}

    def find(self, method: str, path: str) -> tuple[H, dict[str, str]] | None:
        """The handler for this method and path (without the version prefix), and the path's values."""
        segs = path.strip("/").split("/")
        for pattern, handler in self.routes.get(method, ()):
            values = pattern.match_segments(segs)
            if values is not None:
                return handler, values
        return None

    async def handle(self, req: Request) -> Response:
        if req.version is not None and req.version != API_VERSION:  # most clients ask for ours
            asked = version_key(req.version)
            if asked > version_key(API_VERSION):
                return error_response(400, f"client version {req.version} is too new. Maximum supported API "
                                           f"version is {API_VERSION}")
            if asked < version_key(MIN_API_VERSION):
                return error_response(400, f"client version {req.version} is too old. Minimum supported API "
                                           f"version is {MIN_API_VERSION}, please upgrade your client to a newer "
                                           "version")
        found = self.find(req.method, req.path)
        if found is None:
            return error_response(404, "page not found")
        return await found[0](self, req, **found[1])  # dockerd says the same for a known path, wrong method


class PathPattern:
    """A route's path: literal segments, ``{name}`` (one segment) and at most one ``{name*}`` (one or
    more segments: an image reference with slashes). Matched segment by segment: no regular expression
    to compile, so an embedded client's first request pays nothing for the table."""

    def __init__(self, path: str) -> None:
        self.parts = path.strip("/").split("/")
        stars = [i for i, p in enumerate(self.parts) if p.endswith("*}")]
        self.star = stars[0] if stars else -1

    def match(self, path: str) -> dict[str, str] | None:
        return self.match_segments(path.strip("/").split("/"))

    def match_segments(self, segs: list[str]) -> dict[str, str] | None:
        """:meth:`match` of a path already split at its slashes."""
        parts = self.parts
        if self.star < 0:
            if len(segs) != len(parts):
                return None
            return _segments(parts, segs)
        after = len(parts) - self.star - 1
        if len(segs) < len(parts):
            return None
        head = _segments(parts[:self.star], segs[:self.star])
        tail = _segments(parts[self.star + 1:], segs[len(segs) - after:])
        middle = "/".join(segs[self.star:len(segs) - after])
        if head is None or tail is None or not middle:
            return None
        head.update(tail)
        head[parts[self.star][1:-2]] = middle
        return head


def _segments(parts: list[str], segs: list[str]) -> dict[str, str] | None:
    values: dict[str, str] = {}
    for part, seg in zip(parts, segs):
        if part.startswith("{"):
            if not seg:
                return None
            values[part[1:-1]] = seg
        elif part != seg:
            return None
    return values


def table() -> dict[str, list[tuple[PathPattern, H]]]:
    """:data:`ROUTES` by method, in the table's order (the first match wins)."""
    by_method: dict[str, list[tuple[PathPattern, H]]] = {}
    for method, path, handler in ROUTES:
        by_method.setdefault(method, []).append((PathPattern(path), handler))
    return by_method


H = Callable[..., Awaitable[Response]]


# -- system ----------------------------------------------------------------------------------------
async def ping(api: API, req: Request) -> Response:
    swarm = "active/manager" if api.engine.state.swarm() is not None else "inactive"
    headers = {"Builder-Version": "1", "Swarm": swarm, "Cache-Control": "no-cache, no-store, must-revalidate",
               "Pragma": "no-cache"}
    return Response(200, b"" if req.method == "HEAD" else b"OK", content_type="text/plain; charset=utf-8",
                    headers=headers)


async def version(api: API, req: Request) -> Response:
    import platform
    v = await api.engine.system.version()
    kernel = platform.release()
    engine_part = {"Name": "Engine", "Version": __version__,
                   "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
                               "Arch": v["Arch"], "KernelVersion": kernel, "GitCommit": "", "GoVersion": "",
                               "BuildTime": "", "Experimental": "false"}}
    return json_response(dict(v, ApiVersion=API_VERSION, MinAPIVersion=MIN_API_VERSION, GitCommit="",
                              BuildTime="", Platform={"Name": "Portside Engine"},
                              Components=[engine_part] + list(v.get("Components") or [])[1:]))


async def info(api: API, req: Request) -> Response:
    import platform
    i = await api.engine.system.info()
    return json_response(dict(i, Name=platform.node(), ServerVersion=__version__, OSType="linux",
                              Architecture=platform.machine(), KernelVersion=platform.release(),
                              Swarm=await api.engine.swarm.info(),
                              Plugins={"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file"]},
                              LoggingDriver="json-file", SecurityOptions=["name=seccomp,profile=builtin"],
                              IndexServerAddress="https://index.docker.io/v1/", Labels=[], ExperimentalBuild=False,
                              Warnings=None, SystemTime=rfc3339(time.time())))


async def events(api: API, req: Request) -> Response:
    def when(name: str) -> float | None:
        text = req.arg(name)
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {text!r} is not a unix timestamp") from None
    return Response(200, stream=api.engine.events.stream(since=when("since"), until=when("until"), filters=req.filters(EVENT_FILTERS)))



# -- containers ------------------------------------------------------------------------------------
async def containers_list(api: API, req: Request) -> Response:
    limit = req.integer("limit")
    return json_response(await api.engine.containers.list(all=req.flag("all"), filters=req.filters(CONTAINER_FILTERS),
                                                          limit=limit if limit is not None else -1,
                                                          size=req.flag("size")))


async def container_inspect(api: API, req: Request, id: str) -> Response:
    doc = await api.engine.containers.inspect(id)
    if req.flag("size"):
        doc = dict(doc, SizeRw=0, SizeRootFs=0)
    return json_response(doc)


async def container_create(api: API, req: Request) -> Response:
    config = req.json()
    if not isinstance(config, dict):
        raise InvalidArgument("invalid JSON body: a container config (a JSON object) is required")
    shapes.check(config, shapes.CONTAINER_CREATE)
    for key in ("Cmd", "Entrypoint", "Env"):
        if isinstance(config.get(key), str):
            config[key] = [config[key]] if key == "Env" else [config[key]]
    return json_response(await api.engine.containers.create(config, name=req.arg("name") or None), 201)


async def container_start(api: API, req: Request, id: str) -> Response:
    cid = api.engine.containers.resolve(id)
    waiting = api.attaching.pop(cid, None)
    if waiting is None:
        await api.engine.containers.start(cid)
    else:
        await waiting.start()
    return Response(204)


async def container_stop(api: API, req: Request, id: str) -> Response:
    stopped = await api.engine.containers.stop(id, t=req.integer("t"), signal=req.arg("signal") or None)
    return Response(204 if stopped else 304)


async def container_kill(api: API, req: Request, id: str) -> Response:
    await api.engine.containers.kill(id, signal=req.arg("signal") or "SIGKILL")
    return Response(204)


async def container_restart(api: API, req: Request, id: str) -> Response:
    await api.engine.containers.restart(id, t=req.integer("t"))
    return Response(204)


async def container_wait(api: API, req: Request, id: str) -> Response:
    condition = req.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidArgument(f"invalid condition: {condition!r}")
    cid = api.engine.containers.resolve(id)
    first = await api.engine.containers.inspect(cid)

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
                await api.engine.containers.wait(cid, condition="next-exit")
            else:
                await aio.sleep(0.01)
            try:
                doc = await api.engine.containers.inspect(cid)
            except NotFound:  # removed (--rm) before we saw it exit
                break
        code = doc["State"]["ExitCode"]
        if condition == "removed":
            while True:
                try:
                    await api.engine.containers.inspect(cid)
                except NotFound:
                    break
                await aio.sleep(0.01)
        session = api.exit_codes.pop(cid, None)  # an attached client saw the monitor's own word
        if session is not None:
            seen = await session
            code = code if seen is None else seen
        return {"StatusCode": code, "Error": None}

    async def body() -> AsyncIterator[dict[str, Any]]:
        yield await outcome()
    return Response(200, stream=body())  # the head goes out at once: docker's CLI starts after it


async def container_delete(api: API, req: Request, id: str) -> Response:
    await api.engine.containers.delete(id, force=req.flag("force"), v=req.flag("v"))
    return Response(204)


async def container_logs(api: API, req: Request, id: str) -> Response:
    from .streams import MULTIPLEXED, RAW, frame
    from ..units import parse_since
    doc = await api.engine.containers.inspect(id)
    stdout, stderr = req.flag("stdout"), req.flag("stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tty = bool(doc["Config"].get("Tty"))
    timestamps = req.flag("timestamps")
    entries = api.engine.containers.logs(doc["Id"], stdout=stdout, stderr=stderr, follow=req.flag("follow"),
                                        tail=req.arg("tail") or "all", since=parse_since(req.arg("since")),
                                        until=parse_since(req.arg("until")))

    async def frames() -> AsyncIterator[bytes]:
        async for e in entries:
            text = (f"{e['time']} {e['log']}" if timestamps else e["log"]).encode()
            yield text if tty else frame(2 if e["stream"] == "stderr" else 1, text)
    return Response(200, stream=frames(), content_type=RAW if tty else MULTIPLEXED)


async def container_attach(api: API, req: Request, id: str) -> Response:
    from .streams import MULTIPLEXED, RAW, Attach
    doc = await api.engine.containers.inspect(id)
    if doc["State"]["Running"]:
        return attach_running(api, req, doc)
    if not req.flag("stream"):
        raise InvalidArgument("attach without stream=1 is not supported")
    attach = Attach(api, doc["Id"], doc, req)
    api.attaching[doc["Id"]] = attach
    return Response(101, content_type=RAW if attach.tty else MULTIPLEXED, hijack=attach.session, direct=attach)


async def container_resize(api: API, req: Request, id: str) -> Response:
    await api.engine.containers.inspect(id)  # a terminal size for a container we know: nothing to do here
    return Response(200, b"", content_type="text/plain")


async def container_top(api: API, req: Request, id: str) -> Response:
    return json_response(await api.engine.containers.top(id))


async def container_stats(api: API, req: Request, id: str) -> Response:
    """One sample (``stream=0``; two 0.5 s apart so CPU % has a base, unless ``one-shot``), or one a second."""
    cid = api.engine.containers.resolve(id)

    async def sample(previous: dict[str, Any] | None) -> dict[str, Any]:
        now: dict[str, Any] = await api.engine.containers.stats(cid)
        if previous is not None:
            now["precpu_stats"] = previous["cpu_stats"]
            now["preread"] = previous["read"]
        return now

    if not req.flag("stream", True):
        first = await sample(None)
        if req.flag("one-shot"):
            return json_response(first)
        await aio.sleep(0.5)
        return json_response(await sample(first))

    async def feed() -> AsyncIterator[dict[str, Any]]:
        last = None
        while True:
            last = await sample(last)
            yield last
            await aio.sleep(1)
    return Response(200, stream=feed())


async def container_pause(api: API, req: Request, id: str) -> Response:
    await api.engine.containers.pause(id)
    return Response(204)


async def container_unpause(api: API, req: Request, id: str) -> Response:
    await api.engine.containers.unpause(id)
    return Response(204)


async def commit(api: API, req: Request) -> Response:
    """``POST /commit?container=…&repo=…&tag=…``: the body, if any, is a container config to apply."""
    if not req.arg("container"):
        raise InvalidArgument("a container is required (container=)")
    body = req.json()
    if body is not None and not isinstance(body, dict):
        raise InvalidArgument("invalid JSON body: a container config (a JSON object) is expected")
    repo = req.arg("repo")
    if repo and req.arg("tag"):
        repo = f"{repo}:{req.arg('tag')}"
    image_id = await api.engine.containers.commit(req.arg("container"), repo=repo or None,
                                                  comment=req.arg("comment") or "", author=req.arg("author") or "",
                                                  changes=[line for value in req.query.get("changes") or []
                                                           for line in value.splitlines() if line.strip()] or None,
                                                  pause=req.flag("pause", True), config=body)
    return json_response({"Id": image_id}, 201)


async def container_rename(api: API, req: Request, id: str) -> Response:
    await api.engine.containers.rename(id, req.arg("name"))
    return Response(204)


async def containers_prune(api: API, req: Request) -> Response:
    return json_response(await api.engine.containers.prune(filters=req.filters(("label", "label!", "until"))))


async def exec_create(api: API, req: Request, id: str) -> Response:
    from .streams import Exec
    config = req.json()
    if not isinstance(config, dict):
        raise InvalidArgument("invalid JSON body: an exec config (a JSON object) is required")
    cmd = config.get("Cmd")
    if not cmd or not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
        raise InvalidArgument("No exec command specified")
    doc = await api.engine.containers.inspect(id)
    if not doc["State"]["Running"]:
        raise Conflict(f"container {doc['Id']} is not running")
    if doc["State"]["Paused"]:
        raise Conflict(f"Container {doc['Id']} is paused, unpause the container before exec")
    exec_id = os.urandom(32).hex()
    api.execs[exec_id] = Exec(exec_id, doc["Id"], config)
    return json_response({"Id": exec_id}, 201)


def find_exec(api: API, exec_id: str) -> Exec:
    ex = api.execs.get(exec_id)
    if ex is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    return ex


async def exec_start(api: API, req: Request, id: str) -> Response:
    from .streams import MULTIPLEXED, RAW, ExecDirect
    ex = find_exec(api, id)
    if ex.pid:
        raise Conflict(f"Error: Exec command {id} has already run")
    body = req.json() or {}
    if body.get("Tty") is not None:
        ex.config["Tty"] = bool(body["Tty"])
    if body.get("Detach"):
        await ex.start(api.engine, None, None)
        return Response(200, b"", content_type="text/plain")

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await ex.start(api.engine, reader, writer)
    return Response(101, content_type=RAW if ex.config.get("Tty") else MULTIPLEXED, hijack=session,
                    direct=ExecDirect(ex, api.engine))


async def exec_inspect(api: API, req: Request, id: str) -> Response:
    return json_response(find_exec(api, id).inspect())


async def exec_resize(api: API, req: Request, id: str) -> Response:
    find_exec(api, id).resize(req.integer("h") or 0, req.integer("w") or 0)
    return Response(200, b"", content_type="text/plain")


# -- images ----------------------------------------------------------------------------------------
async def images_list(api: API, req: Request) -> Response:
    filters = req.filters(("before", "dangling", "label", "reference", "since", "until"))
    if req.arg("filter"):  # the old ?filter=name
        filters.setdefault("reference", []).append(req.arg("filter"))
    images = await api.engine.images.list(all=req.flag("all"), filters=filters)
    if filters.get("reference"):  # as dockerd: a matched image lists only the tags that matched
        import fnmatch
        pats = filters["reference"]
        for img in images:
            img["RepoTags"] = [t for t in img["RepoTags"] if any(
                fnmatch.fnmatchcase(t, p) or fnmatch.fnmatchcase(t.rpartition(":")[0], p) for p in pats)]
            img["RepoDigests"] = [d for d in img.get("RepoDigests") or [] if any(
                fnmatch.fnmatchcase(d, p) or fnmatch.fnmatchcase(d.partition("@")[0], p) for p in pats)]
    return json_response(images)


async def image_inspect(api: API, req: Request, name: str) -> Response:
    return json_response(await api.engine.images.inspect(name))


async def image_history(api: API, req: Request, name: str) -> Response:
    return json_response(await api.engine.images.history(name))


async def image_tag(api: API, req: Request, name: str) -> Response:
    repo = req.arg("repo")
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    await api.engine.images.tag(name, repo, req.arg("tag") or None)
    return Response(201, b"")


async def image_delete(api: API, req: Request, name: str) -> Response:
    return json_response(await api.engine.images.delete(name, force=req.flag("force"), noprune=req.flag("noprune")))


async def image_create(api: API, req: Request) -> Response:
    """``docker import`` (``fromSrc=-``, the tar in the body) and ``docker pull`` (``fromImage``), as
    JSON-lines progress."""
    if req.arg("fromSrc"):
        if req.arg("fromSrc") != "-":
            raise InvalidArgument("importing from a URL is not supported: send the archive in the body (fromSrc=-)")
        repo = req.arg("repo")
        if repo and req.arg("tag"):
            repo = f"{repo}:{req.arg('tag')}"
        image_id = await api.engine.images.import_image(req.file(), repo=repo or None,
                                                 message=req.arg("message"), changes=req.query.get("changes"))
        return json_response({"status": image_id})
    if not req.arg("fromImage"):
        raise InvalidArgument("fromImage or fromSrc is required")
    auth = registry_auth(req)
    return progress_response(api.engine.registry.pull(req.arg("fromImage"), tag=req.arg("tag") or None,
                                                   platform=platform_arg(req), auth=auth))


async def distribution_inspect(api: API, req: Request, name: str) -> Response:
    auth = registry_auth(req)
    return json_response(await api.engine.registry.distribution(name, auth=auth))


async def image_push(api: API, req: Request, name: str) -> Response:
    auth = registry_auth(req)
    return progress_response(api.engine.registry.push(name, tag=req.arg("tag") or None, auth=auth,
                                                   oci=req.flag("oci")))


# dockerd's accepted filter keys where a route takes more than a few (others are listed at the route)
CONTAINER_FILTERS = ("ancestor", "before", "expose", "exited", "health", "id", "isolation", "is-task", "label",
                     "name", "network", "publish", "since", "status", "volume")
EVENT_FILTERS = ("config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
                 "secret", "service", "type", "volume")
TASK_FILTERS = ("desired-state", "id", "label", "name", "node", "runtime", "service", "up-to-date", "_up-to-date")


KNOWN_OS = frozenset("aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 "
                     "solaris windows zos".split())
KNOWN_ARCH = frozenset("386 amd64 amd64p32 arm armbe arm64 arm64be ppc64 ppc64le loong64 mips mipsle mips64 "
                       "mips64le mips64p32 mips64p32le ppc riscv riscv64 s390 s390x sparc sparc64 wasm x86_64 "
                       "x86-64 aarch64 armhf armel i386".split())


def platform_arg(req: Request) -> str | None:
    """The ``platform`` query value, refused (400) as dockerd's parser refuses it: a single word must
    name a known operating system or architecture."""
    text = req.arg("platform") or None
    if text and "/" not in text and text.lower() not in KNOWN_OS | KNOWN_ARCH:
        raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')
    return text


def progress_response(progress: AsyncIterator[dict[str, Any]]) -> Response:
    """docker's JSON-lines progress; a failure after the head is a last ``error`` message, as dockerd sends."""
    async def lines() -> AsyncIterator[dict[str, Any]]:
        try:
            async for msg in progress:
                yield msg
        except EngineError as exc:
            yield {"errorDetail": {"message": str(exc)}, "error": str(exc)}
    return Response(200, stream=lines())


def registry_auth(req: Request) -> dict[str, Any] | None:
    """The request's ``X-Registry-Auth``, decoded (a malformed one is a 400)."""
    from ..registry.credentials import decode_header
    return decode_header(req.headers.get("x-registry-auth", ""))


async def images_get(api: API, req: Request, name: str | None = None) -> Response:
    """``docker save``: a docker-archive tar of the named images (``format=oci``: an OCI layout, Portside's)."""
    import tempfile
    names = [name] if name else req.query.get("names") or []
    if not names:
        raise InvalidArgument("no images named")
    fmt = req.arg("format") or "docker"
    if fmt not in ("docker", "oci"):
        raise InvalidArgument(f"invalid format {fmt!r}: docker or oci")
    out = tempfile.TemporaryFile()
    try:
        await api.engine.images.save(names, out, fmt=fmt)
    except BaseException:
        out.close()
        raise
    out.seek(0)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while data := out.read(1 << 20):
                yield data
        finally:
            out.close()
    return Response(200, stream=chunks(), content_type="application/x-tar")


async def images_load(api: API, req: Request) -> Response:
    lines = await api.engine.images.load(req.file())

    async def messages() -> AsyncIterator[dict[str, str]]:
        for line in lines:
            yield {"stream": line + "\n"}
    return Response(200, stream=messages())


async def build(api: API, req: Request) -> Response:
    """The legacy ``POST /build``: the body is the context as a tar; progress as JSON lines."""
    import shutil
    import tarfile
    import tempfile

    def keep_mode(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        """docker's context as sent: nothing written outside the folder, the files' own modes and links."""
        return tarfile.tar_filter(member, dest).replace(mode=member.mode & 0o7777, deep=False)

    def json_arg(name: str) -> dict[str, str]:
        text = req.arg(name)
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"invalid {name} parameter: {exc.msg} at character {exc.pos}") from None
        if not isinstance(value, dict):
            raise InvalidArgument(f"invalid {name} parameter: a JSON object is expected")
        return {k: v for k, v in value.items() if v is not None}
    buildargs, labels = json_arg("buildargs"), json_arg("labels")
    platform_arg(req)  # the classic builder builds for this host; a malformed platform is still refused
    if req.arg("remote"):
        raise InvalidArgument("a remote build context is not supported: send the context as a tar")
    ctx = tempfile.mkdtemp(prefix="portside-build-")
    try:
        with tarfile.open(fileobj=req.file(), mode="r:*") as tf:
            await aio.to_thread(tf.extractall, ctx, filter=keep_mode)
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(ctx, ignore_errors=True)
        raise InvalidArgument(f"invalid build context: {exc}") from None
    import os
    dockerfile = os.path.normpath(os.path.join(ctx, req.arg("dockerfile") or "Dockerfile"))
    if not dockerfile.startswith(ctx + os.sep):
        shutil.rmtree(ctx, ignore_errors=True)
        raise InvalidArgument(f"the Dockerfile ({req.arg('dockerfile')}) must be inside the build context")
    progress = api.engine.images.build(path=ctx, tags=req.query.get("t") or [], dockerfile=dockerfile,
                                buildargs=buildargs, nocache=req.flag("nocache"), target=req.arg("target"),
                                labels=labels, networkmode=req.arg("networkmode") or "default")
    quiet = req.flag("q")

    async def lines() -> AsyncIterator[dict[str, Any]]:
        try:
            async for msg in progress:
                if quiet and "stream" in msg:
                    continue
                yield msg
                if quiet and "aux" in msg:  # as dockerd: a quiet build says only its image id
                    yield {"stream": msg["aux"]["ID"] + "\n"}
        finally:
            await progress.aclose()
            shutil.rmtree(ctx, ignore_errors=True)
    return Response(200, stream=lines())


# -- networks and volumes --------------------------------------------------------------------------
async def networks_list(api: API, req: Request) -> Response:
    return json_response(await api.engine.networks.list(filters=req.filters(("dangling", "driver", "id", "label", "name", "scope", "type"))))


async def network_inspect(api: API, req: Request, id: str) -> Response:
    return json_response(await api.engine.networks.inspect(id))


async def network_create(api: API, req: Request) -> Response:
    body = req.json()
    if isinstance(body, dict):
        shapes.check(body, shapes.NETWORK_CREATE)
    if not isinstance(body, dict) or not body.get("Name"):
        raise InvalidArgument("invalid JSON body: a network config with a Name is required")
    ipam = ((body.get("IPAM") or {}).get("Config") or [{}])[0]
    result = await api.engine.networks.create(body["Name"], driver=body.get("Driver") or "bridge",
                                             subnet=ipam.get("Subnet"), gateway=ipam.get("Gateway"),
                                             internal=bool(body.get("Internal")), labels=body.get("Labels"),
                                             attachable=bool(body.get("Attachable")), ingress=bool(body.get("Ingress")))
    return json_response({"Id": result["Id"], "Warning": ""}, 201)


async def network_delete(api: API, req: Request, id: str) -> Response:
    await api.engine.networks.delete(id)
    return Response(204)


async def volumes_list(api: API, req: Request) -> Response:
    filters = req.filters(("dangling", "driver", "label", "name"))
    return json_response({"Volumes": await api.engine.volumes.list(filters=filters), "Warnings": None})


async def volume_create(api: API, req: Request) -> Response:
    body = req.json() or {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON body: a volume config (a JSON object) is expected")
    shapes.check(body, shapes.VOLUME_CREATE)
    labels = body.get("Labels") or {}
    name = await api.engine.volumes.create(body.get("Name") or None, labels=labels)
    return json_response(await api.engine.volumes.inspect(name), 201)


async def volume_inspect(api: API, req: Request, name: str) -> Response:
    return json_response(await api.engine.volumes.inspect(name))


async def volume_delete(api: API, req: Request, name: str) -> Response:
    await api.engine.volumes.delete(name, force=req.flag("force"))
    return Response(204)


# -- archive (docker cp), disk usage, auth, image prune, network connect, attach to a running one ---
PATH_STAT = "X-Docker-Container-Path-Stat"


async def container_archive(api: API, req: Request, id: str) -> Response:
    """``GET`` (a tar of the path) and ``HEAD`` (its stat only) of ``/containers/{id}/archive``."""
    from ..runtime.archive import encode_stat
    if req.method == "HEAD":
        doc = await api.engine.containers.archive_stat(id, req.arg("path"))
        return Response(200, b"", headers={PATH_STAT: encode_stat(doc)})
    doc, tar = await api.engine.containers.archive_get(id, req.arg("path"))
    return Response(200, stream=tar, content_type="application/x-tar", headers={PATH_STAT: encode_stat(doc)})


async def container_archive_put(api: API, req: Request, id: str) -> Response:
    """``PUT /containers/{id}/archive``: the body (a tar) extracted into the directory ``path``."""
    await api.engine.containers.archive_put(id, req.arg("path"), req.file(),
                                           no_overwrite_dir_non_dir=req.flag("noOverwriteDirNonDir"),
                                           copy_uidgid=req.flag("copyUIDGID"))
    return Response(200, b"", content_type="text/plain")


async def system_df(api: API, req: Request) -> Response:
    from ..services.usage import disk_usage
    return json_response(await disk_usage(api.engine.containers, api.engine.images, api.engine.volumes,
                                          req.query.get("type") or None))


async def auth(api: API, req: Request) -> Response:
    """``docker login``'s check: the credentials against the registry; the CLI keeps them, not us."""
    body = req.json()
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON body: auth config (username, password, serveraddress) is required")
    await api.engine.registry.auth_check(body.get("serveraddress") or None, str(body.get("username") or ""),
                                str(body.get("password") or ""))
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})


async def images_prune(api: API, req: Request) -> Response:
    filters = req.filters(("dangling", "label", "label!", "until"))
    dangling = [v.lower() for v in filters.pop("dangling", [])]
    everything = bool(dangling) and dangling[-1] in ("false", "0")
    return json_response(await api.engine.images.prune(all=everything, filters=filters))


async def volumes_prune(api: API, req: Request) -> Response:
    return json_response(await api.engine.volumes.prune(filters=req.filters(("all", "label", "label!"))))


async def networks_prune(api: API, req: Request) -> Response:
    return json_response(await api.engine.networks.prune(filters=req.filters(("label", "label!", "until"))))


async def build_prune(api: API, req: Request) -> Response:
    """``docker builder prune``: the classic builder keeps no cache apart from its images (``image prune``)."""
    return json_response({"CachesDeleted": None, "SpaceReclaimed": 0})


def network_body(req: Request) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("Container"), str) or not body["Container"]:
        raise InvalidArgument("invalid JSON body: Container (a container name or id) is required")
    return body


async def network_connect(api: API, req: Request, id: str) -> Response:
    body = network_body(req)
    endpoint = body.get("EndpointConfig") or {}
    ipv4 = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None
    await api.engine.networks.connect(id, body["Container"], aliases=endpoint.get("Aliases") or None, ipv4=ipv4)
    return Response(200, b"", content_type="text/plain")


async def network_disconnect(api: API, req: Request, id: str) -> Response:
    body = network_body(req)
    await api.engine.networks.disconnect(id, body["Container"], force=bool(body.get("Force")))
    return Response(200, b"", content_type="text/plain")


def attach_running(api: API, req: Request, doc: dict[str, Any]) -> Response:
    """``docker attach`` to a container already running: its output from now on (``logs=1``: from its
    start), framed as the attach of ``docker run`` is, until it exits or the client goes."""
    if req.flag("stdin") and doc["Config"].get("OpenStdin"):
        raise NotImplementedByEngine("attaching the input of a running container is not supported: use "
                                     "docker attach --no-stdin to follow its output, or docker exec -i")
    if not req.flag("stream") and not req.flag("logs"):
        raise InvalidArgument("attach without stream=1 or logs=1 has nothing to send")
    stdout, stderr = req.flag("stdout"), req.flag("stderr")
    tty = bool(doc["Config"].get("Tty"))
    entries = api.engine.containers.logs(doc["Id"], stdout=stdout, stderr=stderr, follow=req.flag("stream"),
                                        tail="all" if req.flag("logs") else "0")

    from .streams import MULTIPLEXED, RAW, frame

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import asyncio

        async def copy() -> None:
            async for e in entries:
                data = e["log"].encode()
                writer.write(data if tty else frame(2 if e["stream"] == "stderr" else 1, data))
                await writer.drain()

        async def client_gone() -> None:
            while await reader.read(65536):
                pass  # no stdin to feed: the client's bytes are dropped, its EOF ends nothing
            await asyncio.Event().wait()
        out, gone = asyncio.create_task(copy()), asyncio.create_task(client_gone())
        try:
            await asyncio.wait({out, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (out, gone):
                task.cancel()
            await asyncio.gather(out, gone, return_exceptions=True)
            await entries.aclose()
    if not (stdout or stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    return Response(101, content_type=RAW if tty else MULTIPLEXED, hijack=session)


# -- Portside's own (no docker route) --------------------------------------------------------------
async def image_busybox(api: API, req: Request) -> Response:
    """A ``busybox`` image from this host's static busybox (``portside image busybox``)."""
    return json_response(await api.engine.images.make_busybox(req.arg("tag") or "busybox:latest"), 201)


async def system_check(api: API, req: Request) -> Response:
    """``portside system check [--repair]``: one finding per inconsistency in the engine's data."""
    return json_response(await api.engine.system.check(repair=req.flag("repair")))


# -- swarm (engine/services/swarm.py; a node that is not a manager answers docker's 503) -----------
def _body(req: Request, what: str) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict):
        raise InvalidArgument(f"invalid JSON body: {what} (a JSON object) is required")
    return body


def _version(req: Request) -> int:
    version = req.integer("version")
    if version is None:
        raise InvalidArgument("invalid swarm version: the version parameter is required")
    return version


async def swarm_init(api: API, req: Request) -> Response:
    body = _body(req, "a swarm init request")
    node = await api.engine.swarm.init(advertise_addr=body.get("AdvertiseAddr") or None,
                                       listen_addr=body.get("ListenAddr") or "0.0.0.0:2377",
                                       force_new_cluster=bool(body.get("ForceNewCluster")),
                                       swarm_spec=body.get("Spec") or None,
                                       default_addr_pool=body.get("DefaultAddrPool") or None,
                                       subnet_size=body.get("SubnetSize") or None,
                                       data_path_port=body.get("DataPathPort") or None)
    return json_response(node)


async def swarm_join(api: API, req: Request) -> Response:
    await api.engine.swarm.join()
    return Response(200, b"", content_type="text/plain")


async def swarm_leave(api: API, req: Request) -> Response:
    await api.engine.swarm.leave(force=req.flag("force"))
    return Response(200, b"", content_type="text/plain")


async def swarm_inspect(api: API, req: Request) -> Response:
    return json_response(await api.engine.swarm.inspect())


async def swarm_update(api: API, req: Request) -> Response:
    await api.engine.swarm.update(_version(req), _body(req, "a swarm spec"),
                                  rotate_worker_token=req.flag("rotateWorkerToken"),
                                  rotate_manager_token=req.flag("rotateManagerToken"),
                                  rotate_manager_unlock_key=req.flag("rotateManagerUnlockKey"))
    return Response(200, b"", content_type="text/plain")


async def swarm_unlockkey(api: API, req: Request) -> Response:
    return json_response(await api.engine.swarm.unlock_key())


async def swarm_unlock(api: API, req: Request) -> Response:
    await api.engine.swarm.unlock(str(_body(req, "an unlock request").get("UnlockKey") or ""))
    return Response(200, b"", content_type="text/plain")


async def nodes_list(api: API, req: Request) -> Response:
    return json_response(await api.engine.swarm.nodes_list(req.filters(("id", "label", "membership", "name", "node.label", "role"))))


async def node_inspect(api: API, req: Request, id: str) -> Response:
    return json_response(await api.engine.swarm.node_inspect(id))


async def node_update(api: API, req: Request, id: str) -> Response:
    await api.engine.swarm.node_update(id, _version(req), _body(req, "a node spec"))
    return Response(200, b"", content_type="text/plain")


async def node_delete(api: API, req: Request, id: str) -> Response:
    await api.engine.swarm.node_delete(id, force=req.flag("force"))
    return Response(200, b"", content_type="text/plain")


async def services_list(api: API, req: Request) -> Response:
    return json_response(await api.engine.swarm.services_list(req.filters(("id", "label", "mode", "name")), status=req.flag("status")))


async def service_create(api: API, req: Request) -> Response:
    return json_response(await api.engine.swarm.service_create(_body(req, "a service spec"),
                                                               auth=registry_auth(req)), 201)


async def service_inspect(api: API, req: Request, id: str) -> Response:
    return json_response(await api.engine.swarm.service_inspect(id, insert_defaults=req.flag("insertDefaults")))


async def service_update(api: API, req: Request, id: str) -> Response:
    rollback = req.arg("rollback") or None
    body = req.json() if rollback else _body(req, "a service spec")
    return json_response(await api.engine.swarm.service_update(id, _version(req), body or {}, rollback=rollback,
                                                               auth=registry_auth(req)))


async def service_delete(api: API, req: Request, id: str) -> Response:
    await api.engine.swarm.service_delete(id)
    return Response(200, b"", content_type="text/plain")


def _swarm_logs(api: API, req: Request, service_id: str, task_id: str | None) -> Response:
    from ..units import parse_since
    from .streams import MULTIPLEXED, frame
    stdout, stderr = req.flag("stdout"), req.flag("stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    timestamps, details = req.flag("timestamps"), req.flag("details")
    entries = api.engine.swarm.service_logs(service_id, follow=req.flag("follow"), tail=req.arg("tail") or "all",
                                            since=parse_since(req.arg("since")), stdout=stdout, stderr=stderr,
                                            task_id=task_id)

    async def frames() -> AsyncIterator[bytes]:
        async for e in entries:
            text = e["log"]
            if details:
                text = f"{e['details']} {text}"
            if timestamps:
                text = f"{e['time']} {text}"
            yield frame(2 if e["stream"] == "stderr" else 1, text.encode())
    return Response(200, stream=frames(), content_type=MULTIPLEXED)


async def service_logs(api: API, req: Request, id: str) -> Response:
    await api.engine.swarm.service_inspect(id)  # a missing service is a 404 before the stream begins
    return _swarm_logs(api, req, id, None)


async def tasks_list(api: API, req: Request) -> Response:
    return json_response(await api.engine.swarm.tasks_list(req.filters(TASK_FILTERS)))


async def task_inspect(api: API, req: Request, id: str) -> Response:
    return json_response(await api.engine.swarm.task_inspect(id))


async def task_logs(api: API, req: Request, id: str) -> Response:
    task = await api.engine.swarm.task_inspect(id)
    return _swarm_logs(api, req, task["ServiceID"], task["ID"])


def _blob_routes(kind: str) -> tuple[H, H, H, H, H]:
    """list, create, inspect, update, delete of ``/secrets`` or ``/configs``."""
    async def listing(api: API, req: Request) -> Response:
        return json_response(await api.engine.swarm.blob_list(kind, req.filters(("id", "label", "name", "names"))))

    async def create(api: API, req: Request) -> Response:
        return json_response(await api.engine.swarm.blob_create(kind, _body(req, f"a {kind[:-1]} spec")), 201)

    async def inspect(api: API, req: Request, id: str) -> Response:
        return json_response(await api.engine.swarm.blob_inspect(kind, id))

    async def update(api: API, req: Request, id: str) -> Response:
        await api.engine.swarm.blob_update(kind, id, _version(req), _body(req, f"a {kind[:-1]} spec"))
        return Response(200, b"", content_type="text/plain")

    async def delete(api: API, req: Request, id: str) -> Response:
        await api.engine.swarm.blob_delete(kind, id)
        return Response(204)
    return listing, create, inspect, update, delete


secrets_list, secret_create, secret_inspect, secret_update, secret_delete = _blob_routes("secrets")
configs_list, config_create, config_inspect, config_update, config_delete = _blob_routes("configs")


# The table: method, path, handler. Read it as the API's index.
ROUTES: list[tuple[str, str, H]] = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/events", events),
    ("POST", "/auth", auth),

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
    ("POST", "/containers/{id}/resize", container_resize),
    ("GET", "/containers/{id}/top", container_top),
    ("GET", "/containers/{id}/stats", container_stats),
    ("POST", "/containers/{id}/rename", container_rename),
    ("POST", "/containers/{id}/pause", container_pause),
    ("POST", "/containers/{id}/unpause", container_unpause),
    ("POST", "/containers/prune", containers_prune),
    ("GET", "/containers/{id}/archive", container_archive),
    ("HEAD", "/containers/{id}/archive", container_archive),
    ("PUT", "/containers/{id}/archive", container_archive_put),
    ("GET", "/system/df", system_df),
    ("POST", "/images/prune", images_prune),
    ("POST", "/networks/{id}/connect", network_connect),
    ("POST", "/networks/{id}/disconnect", network_disconnect),
    ("DELETE", "/containers/{id}", container_delete),

    ("POST", "/containers/{id}/exec", exec_create),
    ("POST", "/exec/{id}/start", exec_start),
    ("POST", "/exec/{id}/resize", exec_resize),
    ("GET", "/exec/{id}/json", exec_inspect),

    ("POST", "/commit", commit),
    ("POST", "/build", build),
    ("POST", "/build/prune", build_prune),
    ("GET", "/images/json", images_list),
    ("POST", "/images/create", image_create),
    ("GET", "/images/get", images_get),
    ("POST", "/images/load", images_load),
    ("GET", "/images/{name*}/get", images_get),
    ("GET", "/images/{name*}/json", image_inspect),
    ("GET", "/images/{name*}/history", image_history),
    ("POST", "/images/{name*}/tag", image_tag),
    ("POST", "/images/{name*}/push", image_push),
    ("DELETE", "/images/{name*}", image_delete),
    ("GET", "/distribution/{name*}/json", distribution_inspect),

    ("GET", "/networks", networks_list),
    ("POST", "/networks/create", network_create),
    ("POST", "/networks/prune", networks_prune),
    ("GET", "/networks/{id}", network_inspect),
    ("DELETE", "/networks/{id}", network_delete),
    ("GET", "/volumes", volumes_list),
    ("POST", "/volumes/create", volume_create),
    ("POST", "/volumes/prune", volumes_prune),
    ("GET", "/volumes/{name}", volume_inspect),
    ("DELETE", "/volumes/{name}", volume_delete),

    ("POST", "/swarm/init", swarm_init),
    ("POST", "/swarm/join", swarm_join),
    ("POST", "/swarm/leave", swarm_leave),
    ("POST", "/swarm/update", swarm_update),
    ("POST", "/swarm/unlock", swarm_unlock),
    ("GET", "/swarm/unlockkey", swarm_unlockkey),
    ("GET", "/swarm", swarm_inspect),
    ("GET", "/nodes", nodes_list),
    ("GET", "/nodes/{id}", node_inspect),
    ("POST", "/nodes/{id}/update", node_update),
    ("DELETE", "/nodes/{id}", node_delete),
    ("GET", "/services", services_list),
    ("POST", "/services/create", service_create),
    ("GET", "/services/{id}", service_inspect),
    ("POST", "/services/{id}/update", service_update),
    ("GET", "/services/{id}/logs", service_logs),
    ("DELETE", "/services/{id}", service_delete),
    ("GET", "/tasks", tasks_list),
    ("GET", "/tasks/{id}", task_inspect),
    ("GET", "/tasks/{id}/logs", task_logs),
    ("GET", "/secrets", secrets_list),
    ("POST", "/secrets/create", secret_create),
    ("GET", "/secrets/{id}", secret_inspect),
    ("POST", "/secrets/{id}/update", secret_update),
    ("DELETE", "/secrets/{id}", secret_delete),
    ("GET", "/configs", configs_list),
    ("POST", "/configs/create", config_create),
    ("GET", "/configs/{id}", config_inspect),
    ("POST", "/configs/{id}/update", config_update),
    ("DELETE", "/configs/{id}", config_delete),

    # Portside's own: no docker route does these (another Docker engine answers 404)
    ("POST", "/portside/images/busybox", image_busybox),
    ("POST", "/portside/system/check", system_check),
]
