"""``docker.containers``: containers, their logs and stats, and the two-way sessions of attach and exec.

Attach and exec hijack the connection (:meth:`Transport.hijack`). With the embedded engine the
caller's file descriptors go straight to the process (:attr:`Duplex.fds`), as fast as a local
``docker run``; over a socket this process relays them: docker's 8-byte frames demultiplexed without
a tty, raw bytes with one, the terminal's size sent on ``SIGWINCH``.
"""

from __future__ import annotations

import builtins  # a collection's ``list`` method shadows the type in its class

import os
from collections.abc import AsyncIterator, Awaitable, Callable
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import IO, Any

from ..errors import EngineError, NotModified

if TYPE_CHECKING:
    from .calls import Caller
    from .transport import Duplex, Reply

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


class DockerContainers:
    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def list(self, *, all: bool = False, filters: dict[str, builtins.list[str]] | None = None, limit: int = -1,
                   size: bool = False) -> builtins.list[dict[str, Any]]:
        result: builtins.list[dict[str, Any]] = await self.docker._json("GET", "/containers/json", params={
            "all": all or None, "filters": filters or None, "limit": limit if limit > 0 else None,
            "size": size or None})
        return result

    async def create(self, config: dict[str, Any], *, name: str | None = None) -> DockerContainer:
        result = await self.docker._json("POST", "/containers/create", params={"name": name}, body=config)
        return DockerContainer(self.docker, result["Id"])

    async def run(self, config: dict[str, Any], *, name: str | None = None) -> DockerContainer:
        """Create and start."""
        container = await self.create(config, name=name)
        await container.start()
        return container

    async def get(self, name_or_id: str) -> DockerContainer:
        info = await self.docker._json("GET", f"/containers/{name_or_id}/json")
        return DockerContainer(self.docker, info["Id"], info)

    def container(self, container_id: str) -> DockerContainer:
        return DockerContainer(self.docker, container_id)

    async def prune(self, *, filters: dict[str, builtins.list[str]] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("POST", "/containers/prune",
                                                         params={"filters": filters or None})
        return result


class DockerContainer:
    """One container; methods mirror aiodocker's, each one API route."""

    def __init__(self, docker: Caller, container_id: str, info: dict[str, Any] | None = None) -> None:
        self.docker = docker
        self.id = container_id
        self._info = info or {}

    def __getitem__(self, key: str) -> Any:
        return self._info[key]

    @property
    def _path(self) -> str:
        return f"/containers/{self.id}"

    async def show(self) -> dict[str, Any]:
        self._info = await self.docker._json("GET", f"{self._path}/json")
        return self._info

    async def start(self) -> None:
        """Start it; raises NotModified when it is running already."""
        reply = await self.docker._send("POST", f"{self._path}/start")
        if reply.status == 304:
            raise NotModified(f"container {self.id[:12]} is already started", container=self.id)

    async def stop(self, *, t: int | None = None, signal: str | None = None) -> bool:
        """Stop it; False when it was not running."""
        reply = await self.docker._send("POST", f"{self._path}/stop", params={"t": t, "signal": signal})
        return reply.status != 304

    async def restart(self, *, t: int | None = None) -> None:
        await self.docker._send("POST", f"{self._path}/restart", params={"t": t})

    async def kill(self, *, signal: str | int = "SIGKILL") -> None:
        await self.docker._send("POST", f"{self._path}/kill", params={"signal": signal})

    async def delete(self, *, force: bool = False, v: bool = False) -> None:
        await self.docker._send("DELETE", self._path, params={"force": force or None, "v": v or None})

    async def wait(self, *, condition: str = "not-running") -> dict[str, Any]:
        """``{"StatusCode": code, "Error": None}`` once the condition holds."""
        async for result in self.docker._lines("POST", f"{self._path}/wait", params={"condition": condition}):
            return dict(result)
        raise EngineError(f"container {self.id[:12]}: the engine ended the wait without a status")

    async def rename(self, new_name: str) -> None:
        await self.docker._send("POST", f"{self._path}/rename", params={"name": new_name})

    async def top(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", f"{self._path}/top")
        return result

    async def stats(self, *, stream: bool = False) -> dict[str, Any]:
        """One sample (``stream=False``); see :meth:`stats_stream` for a live feed."""
        result: dict[str, Any] = await self.docker._json("GET", f"{self._path}/stats",
                                                         params={"stream": False, "one-shot": True})
        return result

    async def stats_stream(self, interval: float = 1.0) -> AsyncIterator[dict[str, Any]]:
        from .. import aio
        while True:
            yield await self.stats()
            await aio.sleep(interval)

    def log(self, *, stdout: bool = True, stderr: bool = True, follow: bool = False, tail: str | int = "all",
            since: float = 0, until: float = 0, timestamps: bool = False) -> AsyncIterator[dict[str, str]]:
        """Log entries ``{"stream", "log", "time"}`` as an async iterator (``GET /containers/{id}/logs``)."""
        params = {"stdout": stdout, "stderr": stderr, "follow": follow or None, "tail": tail,
                  "since": since or None, "until": until or None, "timestamps": True}
        return log_entries(self.docker, f"{self._path}/logs", params)

    async def stat_archive(self, path: str) -> dict[str, Any]:
        """docker's stat of a path in the container (``name``, ``size``, ``mode``, ``mtime``, ``linkTarget``);
        ``mode`` is a Go ``os.FileMode`` (``HEAD /containers/{id}/archive``)."""
        from ..runtime.archive import decode_stat
        reply = await self.docker._send("HEAD", f"{self._path}/archive", params={"path": path})
        return decode_stat(reply.headers.get("x-docker-container-path-stat", ""))

    async def get_archive(self, path: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        """The stat of ``path`` and a tar of it as a stream of chunks (``docker cp`` out of the container)."""
        from ..runtime.archive import decode_stat
        reply = await self.docker._request("GET", f"{self._path}/archive", params={"path": path})
        return decode_stat(reply.headers.get("x-docker-container-path-stat", "")), reply.chunks()

    async def put_archive(self, path: str, data: IO[bytes], *, no_overwrite_dir_non_dir: bool = False,
                          copy_uidgid: bool = False) -> None:
        """Extract the tar ``data`` into the directory ``path`` (``docker cp`` into the container)."""
        await self.docker._send("PUT", f"{self._path}/archive", body=data, params={
            "path": path, "noOverwriteDirNonDir": no_overwrite_dir_non_dir or None,
            "copyUIDGID": copy_uidgid or None}, headers={"Content-Type": "application/x-tar"})

    async def resize(self, h: int, w: int) -> None:
        """The size of the container's terminal (``POST /containers/{id}/resize``)."""
        await self.docker._send("POST", f"{self._path}/resize", params={"h": h, "w": w})

    async def attach_start(self, *, stdin: int = -1, stdout: int = 1, stderr: int = 2) -> Attached:
        """Start the container attached to these file descriptors (``docker start -a``, ``run``).

        As docker's CLI: attach (``POST /containers/{id}/attach``, hijacked), then start. The container's
        output goes to ``stdout``/``stderr`` (and ``stdin`` feeds it when it was created with
        ``OpenStdin``). Await :meth:`Attached.wait` for its exit code.
        """
        duplex = await self.docker.transport.hijack("POST", f"{self._path}/attach", params={
            "stream": True, "stdin": stdin >= 0, "stdout": True, "stderr": True})
        waited: Reply | None = None
        try:
            if duplex.fds is not None:  # embedded: the container gets our descriptors itself
                await duplex.fds.attach(stdin, stdout, stderr)
                await self.start()
                return Attached(duplex, duplex.fds.wait, pid=duplex.fds.pid, kill=self._kill_soon)
            waited = await self.docker._request("POST", f"{self._path}/wait", params={"condition": "next-exit"})
            await self.start()
        except BaseException:
            if waited is not None:
                await waited.close()
            await duplex.close()
            raise
        answer = waited
        tty = bool((self._info or await self.show()).get("Config", {}).get("Tty"))

        async def exit_code() -> int:
            try:
                async for result in answer.lines():
                    return int(result["StatusCode"])
            finally:
                await answer.close()
            raise EngineError(f"container {self.id[:12]}: the engine ended the wait without a status")
        attached = Attached(duplex, exit_code, kill=self._kill_soon)
        attached.relay(stdin, stdout, stderr, tty=tty, resize=self.resize)
        return attached

    def _kill_soon(self, signum: int) -> None:
        _soon(self.kill(signal=signum))

    async def exec(self, cmd: builtins.list[str], *, stdin: bool = False, tty: bool = False, user: str = "",
                   workdir: str = "", env: builtins.list[str] | None = None, privileged: bool = False) -> DockerExec:
        """``POST /containers/{id}/exec``: an exec instance, not started yet."""
        config = {"Cmd": cmd, "AttachStdin": stdin, "AttachStdout": True, "AttachStderr": True, "Tty": tty,
                  "User": user, "WorkingDir": workdir, "Env": env or [], "Privileged": privileged}
        result = await self.docker._json("POST", f"{self._path}/exec", body=config)
        return DockerExec(self.docker, result["Id"], tty=tty, container=self)

    async def exec_run(self, cmd: builtins.list[str], *, stdin: int = -1, stdout: int = 1, stderr: int = 2,
                       tty: bool = False, user: str = "", workdir: str = "", env: builtins.list[str] | None = None,
                       detach: bool = False) -> int:
        """``docker exec``: run ``cmd`` in the running container with these descriptors (``stdin`` -1:
        none); returns its exit code (0 at once with ``detach``). With ``tty``, the process gets a
        terminal of the container's own, sized as ``stdout`` when that is one."""
        ex = await self.exec(cmd, stdin=stdin >= 0, tty=tty, user=user, workdir=workdir, env=env)
        if detach:
            await ex.start_detached()
            return 0
        attached = await ex.attach(stdin=stdin, stdout=stdout, stderr=stderr)
        return await attached.wait()


class DockerExec:
    """One exec instance (aiodocker's ``Exec``): start it, attached or detached; inspect; resize."""

    def __init__(self, docker: Caller, exec_id: str, *, tty: bool = False,
                 container: DockerContainer | None = None) -> None:
        self.docker, self.id, self.tty, self.container = docker, exec_id, tty, container

    async def start_detached(self) -> None:
        await self.docker._send("POST", f"/exec/{self.id}/start", body={"Detach": True, "Tty": self.tty})

    async def attach(self, *, stdin: int = -1, stdout: int = 1, stderr: int = 2) -> Attached:
        """Start it with these descriptors; :meth:`Attached.wait` gives its exit code."""
        duplex = await self.docker.transport.hijack("POST", f"/exec/{self.id}/start",
                                                    body={"Detach": False, "Tty": self.tty},
                                                    headers={"Connection": "Upgrade", "Upgrade": "tcp"})
        size = terminal_size(stdout) if self.tty else None
        if duplex.fds is not None:
            try:
                await duplex.fds.attach(stdin, stdout, stderr)
            except BaseException:
                await duplex.close()
                raise
            if size is not None:
                await self.resize(*size)
            return Attached(duplex, duplex.fds.wait, pid=duplex.fds.pid, resize=self.resize if self.tty else None,
                            stdout=stdout)

        async def exit_code() -> int:
            code = (await self.inspect()).get("ExitCode")
            return int(code) if code is not None else 0
        attached = Attached(duplex, exit_code)
        if size is not None:
            await self.resize(*size)
        attached.relay(stdin, stdout, stderr, tty=self.tty, resize=self.resize)
        return attached

    async def inspect(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", f"/exec/{self.id}/json")
        return result

    async def resize(self, h: int, w: int) -> None:
        await self.docker._send("POST", f"/exec/{self.id}/resize", params={"h": h, "w": w})


class Attached:
    """A started process whose output goes to descriptors the caller gave (``attach_start``,
    ``DockerExec.attach``): :meth:`wait` for its exit code; :meth:`signal` forwards a signal to it.

    ``pid`` is the process's pid when it runs on this host under the embedded engine (else 0).
    """

    def __init__(self, duplex: Duplex, exit_code: Callable[[], Awaitable[int]], *, pid: int = 0,
                 kill: Callable[[int], None] | None = None,
                 resize: Callable[[int, int], Awaitable[None]] | None = None, stdout: int = -1) -> None:
        self.duplex = duplex
        self.pid = pid
        self._exit_code = exit_code
        self._kill = kill
        self._relay: Any = None  # the relaying task, over a socket
        self._winch: Any = None
        if resize is not None and stdout >= 0 and terminal_size(stdout) is not None:
            self._follow_size(resize, stdout)

    def signal(self, signum: int) -> None:
        """Forward ``signum`` (docker's ``--sig-proxy``); callable from a signal handler."""
        if self.pid:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass
        elif self._kill is not None:
            self._kill(signum)

    async def wait(self) -> int:
        """The exit code, once the process is done and its output is all written (after ``--rm``'s removal)."""
        try:
            if self._relay is not None:
                await self._relay
            return await self._exit_code()
        finally:
            if self._winch is not None:
                import signal
                signal.signal(signal.SIGWINCH, self._winch)
            await self.duplex.close()

    def relay(self, stdin: int, stdout: int, stderr: int, *, tty: bool,
              resize: Callable[[int, int], Awaitable[None]] | None = None) -> None:
        """Copy the hijacked stream to ``stdout``/``stderr`` (demultiplexed unless ``tty``) and ``stdin``
        to it, in tasks on the running loop, until the stream ends."""
        import asyncio
        self._relay = asyncio.ensure_future(relay(self.duplex, stdin, stdout, stderr, tty=tty))
        if resize is not None and tty and terminal_size(stdout) is not None:
            self._follow_size(resize, stdout)

    def _follow_size(self, resize: Callable[[int, int], Awaitable[None]], fd: int) -> None:
        import signal

        def changed(_signum: int, _frame: Any) -> None:
            size = terminal_size(fd)
            if size is not None:
                _soon(resize(*size))
        try:
            self._winch = signal.signal(signal.SIGWINCH, changed)
        except ValueError:  # not the main thread: no resizing
            self._winch = None


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd``; None when it is not one."""
    if fd < 0 or not os.isatty(fd):
        return None
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


def _soon(coro: Awaitable[None]) -> None:
    """Run a short API call from a signal handler: on the running loop, or at once without one."""
    from .. import aio
    loop = aio.running_loop()
    if loop is None:
        try:
            aio.run_sync(coro)
        except EngineError:
            pass
        return
    import asyncio

    async def quietly() -> None:
        try:
            await coro
        except EngineError:
            pass
    loop.call_soon_threadsafe(lambda: asyncio.ensure_future(quietly()))


async def relay(duplex: Duplex, stdin: int, stdout: int, stderr: int, *, tty: bool) -> None:
    """Relay a hijacked stream until it ends: its output to ``stdout``/``stderr`` (docker's 8-byte
    frames: stream, 0, 0, 0, big-endian size; raw with a tty), ``stdin`` (until EOF) to it."""
    import asyncio
    feeder = asyncio.ensure_future(_feed(duplex, stdin)) if stdin >= 0 else None
    try:
        buf = b""
        while True:
            data = await duplex.read()
            if not data:
                break
            if tty:
                _write_all(stdout, data)
                continue
            buf += data
            while len(buf) >= 8:
                size = int.from_bytes(buf[4:8], "big")
                if len(buf) < 8 + size:
                    break
                _write_all(stderr if buf[0] == 2 else stdout, buf[8:8 + size])
                buf = buf[8 + size:]
    finally:
        if feeder is not None:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)


async def _feed(duplex: Duplex, fd: int) -> None:
    from .. import aio
    try:
        while True:
            await aio.readable(fd)
            data = os.read(fd, 65536)
            if not data:
                break
            await duplex.write(data)
        await duplex.close_write()
    except (OSError, ConnectionError):
        pass


def _write_all(fd: int, data: bytes) -> None:
    if fd < 0:
        return
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


async def log_entries(docker: Caller, path: str, params: dict[str, Any]) -> AsyncIterator[dict[str, str]]:
    """Log entries from docker's log stream (one frame per entry; lines when raw): each line starts
    with its RFC 3339 time (``timestamps=1``)."""
    reply = await docker._request("GET", path, params=params)
    framed = reply.headers.get("content-type", MULTIPLEXED).startswith(MULTIPLEXED)

    def entry(stream: str, text: bytes) -> dict[str, str]:
        when, _, log = text.decode(errors="replace").partition(" ")
        return {"stream": stream, "log": log, "time": when}
    try:
        buf = b""
        async for chunk in reply.chunks():
            buf += chunk
            if framed:
                while len(buf) >= 8:
                    size = int.from_bytes(buf[4:8], "big")
                    if len(buf) < 8 + size:
                        break
                    yield entry("stderr" if buf[0] == 2 else "stdout", buf[8:8 + size])
                    buf = buf[8 + size:]
            else:
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    yield entry("stdout", line + b"\n")
        if buf and not framed:
            yield entry("stdout", buf)
    finally:
        await reply.close()
