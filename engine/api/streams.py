"""The API's two-way streams: attach and exec sessions over a hijacked connection.

Output goes to the client as docker's multiplexed frames (8-byte header: stream, 0, 0, 0, big-endian
size), or raw when the container or exec has a tty; the client's input goes to stdin.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import EngineError
from .server import CLOSE_IN_CHILD, Direct, Request

if TYPE_CHECKING:
    import asyncio

    from ..engine import Engine


class API(Protocol):
    """What a session needs of the routes (:class:`engine.api.routes.API`)."""

    engine: Engine
    attaching: dict[str, Attach]
    exit_codes: dict[str, asyncio.Future[int | None]]

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def frame(stream: int, data: bytes) -> bytes:
    """One frame of docker's multiplexed stream: [stream, 0, 0, 0, size (big-endian u32)] + data."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


class Attach(Direct):
    """A client attached to a container that is not started yet (``docker run`` attaches first).

    The start (``POST /containers/{id}/start``) hands the engine the write ends of our pipes; this
    copies the container's output to the hijacked connection as multiplexed frames (raw with a tty),
    the connection's input to the container's stdin, and keeps the exit code for ``wait``. In-process,
    the caller may instead give its own descriptors (:meth:`attach`): the container writes there itself.
    """

    def __init__(self, api: API, cid: str, doc: dict[str, Any], req: Request) -> None:
        self.api, self.cid = api, cid
        self.tty = bool(doc["Config"].get("Tty"))
        self.want = {"stdout": req.flag("stdout"), "stderr": req.flag("stderr") and not self.tty,
                     "stdin": req.flag("stdin") and bool(doc["Config"].get("OpenStdin"))}
        self.pipes: dict[str, list[int]] = {}  # name → [read end, write end]; -1 once closed
        self.fds: tuple[int, int, int] | None = None  # the in-process caller's own descriptors
        self.status_fd = -1
        self.started: asyncio.Future[int] | None = None  # a relayed session: made when it begins
        self.exited: asyncio.Future[int | None] | None = None

    async def attach(self, stdin: int, stdout: int, stderr: int) -> None:
        if self.started is not None:
            raise EngineError("this attach session is relayed already")
        self.fds = (stdin if self.want["stdin"] else -1, stdout if self.want["stdout"] else -1,
                    (stderr if self.want["stderr"] else -1) if not self.tty else stdout if self.want["stdout"] else -1)

    async def wait(self) -> int:
        if self.status_fd < 0:
            raise EngineError(f"container {self.cid[:12]} was not started attached")
        fd, self.status_fd = self.status_fd, -1
        try:
            code = await read_exit(fd)
        finally:
            self._close(fd)
        if code is None:
            raise EngineError(f"container {self.cid[:12]}: its monitor ended without an exit code")
        return code

    def _make_pipes(self) -> None:
        if self.pipes:
            return
        for name in ("stdout", "stderr", "stdin"):
            if self.want[name]:
                r, w = os.pipe()
                CLOSE_IN_CHILD.update((r, w))
                self.pipes[name] = [r, w]

    async def start(self) -> None:
        if self.fds is not None:  # the in-process fast path: the caller's descriptors, no relay
            status_fd = await self.api.engine.containers.start(self.cid, attach=self.fds)
            assert status_fd is not None  # started with attach: the monitor's status fd
            self.status_fd = status_fd
            CLOSE_IN_CHILD.add(status_fd)
            self.pid = int(self.api.engine.containers.runtime_state(self.cid).get("pid") or 0)
            return
        self._make_pipes()
        fds = (self.pipes["stdin"][0] if "stdin" in self.pipes else -1,
               self.pipes["stdout"][1] if "stdout" in self.pipes else -1,
               self.pipes["stderr"][1] if "stderr" in self.pipes else self.pipes.get("stdout", (-1, -1))[1]
               if self.tty else -1)
        try:
            status_fd = await self.api.engine.containers.start(self.cid, attach=fds)
        except EngineError as exc:
            if self.started is not None:
                self.started.set_exception(exc)
            raise
        finally:  # the engine gave the monitor its own copies
            for name, end in (("stdout", 1), ("stderr", 1), ("stdin", 0)):
                if name in self.pipes:
                    self._close_end(name, end)
        assert status_fd is not None  # started with attach: the monitor's status fd
        if self.started is None:  # started before the session began: it finds the status fd here
            self.status_fd = status_fd
            CLOSE_IN_CHILD.add(status_fd)
        else:
            self.started.set_result(status_fd)

    def _close_end(self, name: str, end: int) -> None:
        """Close one end of a pipe once: a second close could hit a descriptor since given to another
        (a client's connection)."""
        fd, self.pipes[name][end] = self.pipes[name][end], -1
        if fd >= 0:
            self._close(fd)

    def _close(self, fd: int) -> None:
        CLOSE_IN_CHILD.discard(fd)
        try:
            os.close(fd)
        except OSError:
            pass

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import asyncio
        self._make_pipes()
        loop = asyncio.get_running_loop()
        self.started = loop.create_future()
        self.exited = loop.create_future()
        self.api.exit_codes[self.cid] = self.exited
        if self.status_fd >= 0:
            self.started.set_result(self.status_fd)
            self.status_fd = -1
        try:
            try:
                status_fd = await self.started
            except EngineError:
                self.exited.set_result(None)
                return
            CLOSE_IN_CHILD.add(status_fd)
            hangup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            copies = [asyncio.create_task(self._out(name, writer, hangup)) for name in ("stdout", "stderr")
                      if name in self.pipes]
            feeder = asyncio.create_task(self._in(reader, writer, hangup))
            exit_read = asyncio.create_task(read_exit(status_fd))
            either: list[asyncio.Future[Any]] = [exit_read, hangup]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not exit_read.done():  # the client is gone: the container goes on, its output to its log only
                exit_read.cancel()
                for task in copies:
                    task.cancel()
            code = (await asyncio.gather(exit_read, return_exceptions=True))[0]
            self._close(status_fd)
            self.exited.set_result(code if isinstance(code, int) else None)
            await asyncio.gather(*copies, return_exceptions=True)
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
            if not hangup.done():
                await writer.drain()
        finally:
            if not self.exited.done():
                self.exited.set_result(None)
            self.api.attaching.pop(self.cid, None)
            for name in self.pipes:
                self._close_end(name, 0)
                self._close_end(name, 1)

    async def _out(self, name: str, writer: asyncio.StreamWriter, hangup: asyncio.Future[None]) -> None:
        from .. import aio
        fd = self.pipes[name][0]
        while True:
            await aio.readable(fd)
            data = os.read(fd, 65536)
            if not data:
                return
            writer.write(data if self.tty else frame(2 if name == "stderr" else 1, data))
            try:
                await writer.drain()
            except (ConnectionError, OSError):
                _set(hangup)
                return

    async def _in(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  hangup: asyncio.Future[None]) -> None:
        """The client's input to stdin (or nowhere without ``-i``); at its EOF, a client that closed its
        whole connection (not only its sending half, as ``docker run -i`` does at stdin's end) is gone."""
        if "stdin" in self.pipes:
            fd = self.pipes["stdin"][1]
            try:
                await relay_in(reader, fd, close=False)
            finally:
                self._close_end("stdin", 1)
        else:
            while await reader.read(65536):
                pass
        if peer_closed(writer):
            _set(hangup)


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def peer_closed(writer: asyncio.StreamWriter) -> bool:
    """Whether the client closed both halves of its connection (POLLHUP), not only its sending half.

    A unix socket says so at once; over tcp a closed peer shows when a write fails."""
    import select
    sock = writer.get_extra_info("socket")
    if writer.is_closing() or sock is None:
        return True
    p = select.poll()
    p.register(sock.fileno(), select.POLLHUP | getattr(select, "POLLRDHUP", 0))
    return any(ev & select.POLLHUP for _fd, ev in p.poll(0))


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


async def relay_out(fd: int, writer: asyncio.StreamWriter, stream: int | None) -> None:
    """Copy a pipe (or a terminal's master) to the client until EOF; framed unless ``stream`` is None."""
    from .. import aio
    while True:
        await aio.readable(fd)
        try:
            data = os.read(fd, 65536)
        except OSError:  # a terminal's master reads EIO once its last slave is closed
            return
        if not data:
            return
        writer.write(data if stream is None else frame(stream, data))
        await writer.drain()


async def relay_in(reader: asyncio.StreamReader, fd: int, *, close: bool) -> None:
    """Copy the client's input to ``fd`` until the client half-closes (then close ``fd`` if ``close``)."""
    from .. import aio
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await aio.to_thread(os.write, fd, data)
    except OSError:
        pass
    finally:
        if close:
            CLOSE_IN_CHILD.discard(fd)
            os.close(fd)


class Exec:
    """One ``POST /containers/{id}/exec``: its config until started, then its process."""

    def __init__(self, exec_id: str, cid: str, config: dict[str, Any]) -> None:
        self.id, self.cid, self.config = exec_id, cid, config
        self.pid = 0
        self.running = False
        self.exit_code: int | None = None
        self.master = -1  # the terminal's master fd (tty), for resize

    def inspect(self) -> dict[str, Any]:
        c = self.config
        cmd = list(c.get("Cmd") or [])
        return {"ID": self.id, "Running": self.running, "ExitCode": self.exit_code, "ContainerID": self.cid,
                "OpenStdin": bool(c.get("AttachStdin")), "OpenStdout": bool(c.get("AttachStdout")),
                "OpenStderr": bool(c.get("AttachStderr")), "CanRemove": False, "DetachKeys": "",
                "ProcessConfig": {"tty": bool(c.get("Tty")), "entrypoint": cmd[0] if cmd else "",
                                  "arguments": cmd[1:], "privileged": bool(c.get("Privileged")),
                                  "user": c.get("User") or ""},
                "Pid": self.pid}

    async def start(self, engine: Any, reader: asyncio.StreamReader | None,
                    writer: asyncio.StreamWriter | None) -> None:
        """Run the process; with a connection, relay it there until it exits (then the exit code is kept)."""
        c = self.config
        tty = bool(c.get("Tty"))
        kw = dict(tty=tty, user=c.get("User") or "", workdir=c.get("WorkingDir") or "", env=c.get("Env") or [])
        mine: list[int] = []  # our ends, closed at the end
        theirs: list[int] = []  # the process's ends, closed once it has them
        devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        theirs.append(devnull)
        outs: list[tuple[int, int | None]] = []
        stdin_w = -1
        try:
            if tty:
                import socket
                here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    self.pid = await engine.containers.exec(self.cid, c["Cmd"], stdin=devnull, stdout=devnull,
                                                           stderr=devnull, console_socket=there.fileno(), **kw)
                    _msg, fds, _f, _a = socket.recv_fds(here, 16, 1)
                finally:
                    here.close()
                    there.close()
                self.master = fds[0]
                CLOSE_IN_CHILD.add(self.master)
                mine.append(self.master)
                if writer is not None and c.get("AttachStdout", True):
                    outs.append((self.master, None))
                stdin_w = self.master if c.get("AttachStdin") else -1
            else:
                fds3 = [devnull, devnull, devnull]
                for i, key in ((1, "AttachStdout"), (2, "AttachStderr"), (0, "AttachStdin")):
                    if writer is None or not c.get(key):
                        continue
                    r, w = os.pipe2(os.O_CLOEXEC)
                    here_end, there_end = (w, r) if i == 0 else (r, w)
                    CLOSE_IN_CHILD.add(here_end)  # not theirs: the exec'd process is forked from here
                    if i != 0:
                        mine.append(here_end)  # stdin's end: relay_in closes it at the client's EOF
                    theirs.append(there_end)
                    fds3[i] = there_end
                    if i == 0:
                        stdin_w = w
                    else:
                        outs.append((r, i))
                self.pid = await engine.containers.exec(self.cid, c["Cmd"], stdin=fds3[0], stdout=fds3[1],
                                                       stderr=fds3[2], **kw)
        except EngineError as exc:  # as dockerd: the error on the stream, its exit code (126/127) on inspect
            self._close_all(mine + ([stdin_w] if stdin_w >= 0 and not tty else []))
            self.exit_code = exc.exit_code
            if writer is None:
                raise
            msg = f"{exc}\r\n".encode()
            writer.write(msg if tty else frame(1, msg))
            await writer.drain()
            return
        finally:
            for fd in theirs:
                os.close(fd)
        from .. import aio
        self.running = True
        if writer is None and aio.running_loop() is None:
            return  # detached, in a process without a loop (a one-shot command): no one to reap it here
        import asyncio
        self._reaper = waiting = asyncio.create_task(self._reap())
        if writer is None or reader is None:
            return
        feeder = None
        if stdin_w >= 0:
            feeder = asyncio.create_task(relay_in(reader, stdin_w, close=not tty))
        try:
            await asyncio.gather(*(relay_out(fd, writer, stream) for fd, stream in outs))
            await waiting
        finally:
            if feeder is not None:
                feeder.cancel()
                await asyncio.gather(feeder, return_exceptions=True)
            self._close_all(mine)

    def _close_all(self, fds: list[int]) -> None:
        for fd in fds:
            CLOSE_IN_CHILD.discard(fd)
            os.close(fd)
        fds.clear()
        self.master = -1

    async def _reap(self) -> None:
        from .. import aio
        fd = os.pidfd_open(self.pid)
        try:
            await aio.readable(fd)
        finally:
            os.close(fd)
        _pid, status = os.waitpid(self.pid, 0)
        self.exit_code = os.waitstatus_to_exitcode(status)
        if self.exit_code < 0:
            self.exit_code = 128 - self.exit_code
        self.running = False

    def resize(self, h: int, w: int) -> None:
        if self.master >= 0:
            import fcntl
            import struct
            import termios
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))


class ExecDirect(Direct):
    """An exec started in-process with the caller's own descriptors (``portside exec``): no relay
    through a socket, except a terminal's master copied to the caller's descriptors with a tty."""

    def __init__(self, ex: Exec, engine: Any) -> None:
        self.ex, self.engine = ex, engine
        self.stdin, self.stdout = -1, -1

    async def attach(self, stdin: int, stdout: int, stderr: int) -> None:
        ex, c = self.ex, self.ex.config
        if ex.pid:
            raise EngineError(f"Error: Exec command {ex.id} has already run")
        kw = dict(tty=bool(c.get("Tty")), user=c.get("User") or "", workdir=c.get("WorkingDir") or "",
                  env=c.get("Env") or [])
        devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        try:
            if c.get("Tty"):
                import socket
                here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    ex.pid = await self.engine.containers.exec(ex.cid, c["Cmd"], stdin=devnull, stdout=devnull,
                                                              stderr=devnull, console_socket=there.fileno(), **kw)
                    _msg, fds, _f, _a = socket.recv_fds(here, 16, 1)
                finally:
                    here.close()
                    there.close()
                ex.master = fds[0]
                self.stdin = stdin if c.get("AttachStdin") else -1
                self.stdout = stdout
            else:
                def given(fd: int, key: str) -> int:
                    return fd if fd >= 0 and c.get(key) else devnull
                ex.pid = await self.engine.containers.exec(ex.cid, c["Cmd"], stdin=given(stdin, "AttachStdin"),
                                                          stdout=given(stdout, "AttachStdout"),
                                                          stderr=given(stderr, "AttachStderr"), **kw)
        except EngineError as exc:  # as dockerd: its exit code (126/127) on inspect
            ex.exit_code = exc.exit_code
            raise
        finally:
            os.close(devnull)
        ex.running = True
        self.pid = ex.pid

    async def wait(self) -> int:
        from .. import aio
        ex = self.ex
        if not ex.pid:
            raise EngineError(f"exec {ex.id[:12]} was not started")
        try:
            if ex.master >= 0:
                status = await aio.to_thread(relay_terminal, ex.master, ex.pid, self.stdin, self.stdout)
            else:
                fd = os.pidfd_open(ex.pid)
                try:
                    await aio.readable(fd)
                finally:
                    os.close(fd)
                _pid, status = os.waitpid(ex.pid, 0)
        finally:
            if ex.master >= 0:
                os.close(ex.master)
                ex.master = -1
            ex.running = False
        code = os.waitstatus_to_exitcode(status)
        ex.exit_code = 128 - code if code < 0 else code
        return ex.exit_code


def relay_terminal(master: int, pid: int, stdin: int, stdout: int) -> int:
    """Copy a terminal's master to ``stdout`` and ``stdin`` to it until ``pid`` exits; its wait status."""
    import select
    fds = [master] + ([stdin] if stdin >= 0 else [])
    while True:
        r, _, _ = select.select(fds, [], [], 0.1)
        if master in r:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                break
            os.write(stdout, data)
        if stdin in r:
            data = os.read(stdin, 65536)
            if not data:
                fds.remove(stdin)
            else:
                os.write(master, data)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            while True:  # what it wrote last
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                os.write(stdout, data)
            return status
    _, status = os.waitpid(pid, 0)
    return status
