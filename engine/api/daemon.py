"""``portside daemon``: the Docker Engine API on a unix socket, over one engine in this process.

The socket is mode 0660, group ``portside`` (made when missing). A lock file beside the socket says
whether a daemon serves it: a second daemon on the same socket stops with one line; a socket file
left by a killed daemon is replaced. Containers do not depend on the daemon: their monitors own them.
"""

from __future__ import annotations

import asyncio
import fcntl
import grp
import os
import signal
import socket
import subprocess
import sys

from ..errors import EngineError

DEFAULT_HOST = "unix:///run/portside/portside.sock"
GROUP = "portside"


class DaemonError(Exception):
    """A reason the daemon cannot start; its text is the one line the user sees."""


def socket_path(host: str) -> str:
    if host.startswith("unix://"):
        path = host[len("unix://"):]
    elif host.startswith("/"):
        path = host
    elif host.startswith(("tcp://", "http://", "https://")) or ":" in host:
        raise DaemonError(f"portside daemon: {host}: plain tcp is not supported; serve on a unix socket "
                          f"(-H unix:///path/to/portside.sock)")
    else:
        raise DaemonError(f"portside daemon: {host}: not a unix socket address (unix:///path/to/portside.sock)")
    if not path.startswith("/"):
        raise DaemonError(f"portside daemon: {host}: the socket path must be absolute")
    return path


def group_id() -> int:
    """The ``portside`` group's id, made when missing (as root)."""
    try:
        return grp.getgrnam(GROUP).gr_gid
    except KeyError:
        pass
    if os.geteuid() == 0:
        subprocess.run(["groupadd", "--system", GROUP], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=False)
        try:
            return grp.getgrnam(GROUP).gr_gid
        except KeyError:
            pass
    return os.getegid()


def lock(path: str) -> int:
    """Hold ``path.lock`` for the daemon's life; DaemonError when another daemon holds it."""
    from .server import CLOSE_IN_CHILD
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DaemonError(f"portside daemon: another daemon is already serving unix://{path}") from None
    CLOSE_IN_CHILD.add(fd)  # a container's monitor, forked from here, must not keep the lock
    return fd


def listen(path: str) -> socket.socket:
    try:
        os.unlink(path)  # a socket file a killed daemon left behind (we hold the lock: nobody serves it)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o660)
    try:
        os.chown(path, -1, group_id())
    except PermissionError:
        pass
    sock.listen(128)
    sock.setblocking(False)
    return sock


def serve(host: str | None, pidfile: str | None, root: str | None) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the exit code."""
    try:
        path = socket_path(host or DEFAULT_HOST)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        lock_fd = lock(path)
    except DaemonError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"portside daemon: {host or DEFAULT_HOST}: {exc.strerror}\n")
        return 1
    try:
        return asyncio.run(_main(path, pidfile, root))
    except EngineError as exc:
        sys.stderr.write(f"portside daemon: {exc}\n")
        return 1
    finally:
        for p in (path, pidfile):
            if p:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
        os.close(lock_fd)


async def _main(path: str, pidfile: str | None, root: str | None) -> int:
    from ..engine import Engine
    from .routes import API
    from .server import Server
    engine = Engine(root)
    try:
        engine.system.recover()
        sock = listen(path)
        if pidfile:
            tmp = pidfile + ".tmp"
            with open(tmp, "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(tmp, pidfile)
        server = Server(API(engine).handle)
        task = asyncio.create_task(server.serve_unix(sock))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        sys.stderr.write(f"portside daemon: API listening on unix://{path}\n")
        sys.stderr.flush()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return 0
    finally:
        engine.close()
