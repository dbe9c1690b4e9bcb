"""A warm, small process that the daemon's container monitors are forked from.

A monitor lives as long as its container. Exec'd as an interpreter of its own (what
:func:`engine.runtime.monitor.launch` does in a short-lived CLI), each one pays for a whole Python:
about 3 MB of private memory, most of it the interpreter's relocated data and heap. Forked from one
template that has already started, imported the monitor's modules and frozen its objects out of the
garbage collector, the monitors share those pages copy-on-write and each keeps well under 1 MB of its
own. A long-running ``portside daemon`` (a swarm manager with a hundred tasks) starts one
:class:`ForkServer` and asks it for every monitor.

The template (``python -I -S -c BOOT <fd> [module…]``) reads requests on a ``SOCK_SEQPACKET`` socket:
one message per container, ``{"cdir": …, "attach": [bool, bool, bool]}`` with the status fd and the
attach fds that are present as ``SCM_RIGHTS``. It starts the monitor with ``monitor.launch_small`` (fork,
fork, new session: the monitor belongs to nobody, as an exec'd one; a helper it forks starts the
container and exits, so the start's garbage is not the monitor's) and closes its copies of the fds;
the monitor reports on the status fd as it does after any launch. The template imports only what
a monitor needs, plus the modules named on its command line (the networking the monitors carry out),
and exits when its socket's other end is closed: with the daemon, kill -9 included. Monitors it
started do not depend on it.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOT = (f"import sys; sys.path.insert(0, {PROJECT!r}); from engine.runtime.forkserver import serve; "
        f"sys.exit(serve(int(sys.argv[1]), sys.argv[2:]))")
MAX_FDS = 4  # status + stdin, stdout, stderr
# what a monitor imports on its way (json for its files; the rest as it starts, health-checks and cleans up)
PRELOAD = ("json", "fcntl", "marshal", "pty", "engine.errors", "engine.runtime.linux", "engine.runtime.native",
           "engine.runtime.cgroups", "engine.runtime.health", "engine.runtime.seccomp", "engine.runtime.cleanup")


class ForkServer:
    """The daemon's handle on its template process (:func:`serve`)."""

    def __init__(self, preload: tuple[str, ...] = ()) -> None:
        import threading  # (not in the template: its fork hooks would run in every monitor)
        self.preload = preload
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: Any = None
        self._ready = False
        self._broken = False  # a template that could not start once is not tried again

    def start(self) -> None:
        """Start the template now (it loads while the daemon goes on; the first :meth:`spawn` waits)."""
        with self._lock:
            if self._sock is None and not self._broken:
                try:
                    self._start()
                except OSError:
                    self._broken = True

    def _start(self) -> socket.socket:
        import subprocess
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", BOOT, str(theirs.fileno()), *self.preload],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        self._ready = False
        return ours

    def _wait_ready(self, sock: socket.socket) -> None:
        """The template's first message says it has loaded; OSError if it did not (within 30 s)."""
        if self._ready:
            return
        sock.settimeout(30)
        try:
            if sock.recv(16) != b"ready":
                raise ConnectionError("the monitor template exited while loading")
        except OSError:
            self._broken = True
            raise
        finally:
            sock.settimeout(None)
        self._ready = True

    def spawn(self, cdir: str, status_w: int, attach: list[int]) -> bool:
        """Ask the template for the monitor of ``cdir``; False when it cannot be reached (launch it here)."""
        fds = [status_w] + [fd for fd in attach if fd >= 0]
        import json
        msg = json.dumps({"cdir": cdir, "attach": [fd >= 0 for fd in (attach + [-1, -1, -1])[:3]]}).encode()
        with self._lock:
            for _ in range(2):  # a template that died is started again, once
                if self._broken:
                    return False
                try:
                    sock = self._sock or self._start()
                    self._wait_ready(sock)
                    socket.send_fds(sock, [msg], fds)
                    return True
                except OSError:
                    self._drop()
        return False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)  # it exits on its socket's end of file
            except Exception:  # noqa: BLE001 - a template that does not go is killed, by its own pid
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def close(self) -> None:
        """Stop the template (the monitors it started live on)."""
        with self._lock:
            self._drop()


def serve(fd: int, preload: list[str]) -> int:
    """The template's loop: one monitor per message, until the daemon's end of the socket closes."""
    import gc
    import json
    import signal

    from engine.runtime import monitor
    for name in (*PRELOAD, *preload):
        __import__(name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon's terminal is not the template's business
    sock = socket.socket(fileno=fd)
    os.register_at_fork(after_in_child=sock.close)  # a monitor holds no end of the daemon's socket
    sock.sendall(b"ready")
    gc.collect()
    gc.freeze()  # what is here now stays shared with every monitor: the collector never writes to it
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 65536, MAX_FDS)
        except InterruptedError:
            continue
        if not msg:
            return 0
        try:
            req = json.loads(msg)
            it = iter(fds[1:])
            attach = [next(it) if present else -1 for present in req["attach"]]
            for f in fds:  # (received fds are inheritable: none may reach a container's init)
                os.set_inheritable(f, False)
            monitor.launch_small(req["cdir"], fds[0], attach)
        except Exception:  # noqa: BLE001 - a bad request: the caller hears "the monitor exited without a word"
            pass
        finally:
            for f in fds:
                os.close(f)
