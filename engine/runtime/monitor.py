"""The per-container monitor: one small process per running container.

Started detached by the engine (``python -I -S monitor.py <container dir> <status fd> [attach fds]``),
it daemonises, becomes the child subreaper and parent of the container's init, mounts the rootfs,
creates the cgroup, starts the container through the native executor or an OCI runtime CLI, writes
``log.jsonl`` (stream and timestamp per line; rotated to ``log.jsonl.1`` … once it reaches the
container's ``max-size``, keeping ``max-file`` files, as docker's json-file driver), records exit codes in ``state.json``, applies the
restart policy with docker's back-off (100 ms doubling to 1 min), and cleans up when the container is
done for good. It imports only the standard library and ``engine.runtime``'s small modules, to stay
light: it lives as long as the container.

The status fd receives one JSON line when the container has started (``{"pid": N}``) or failed
(``{"error": "...", "kind": "notfound"|"cannotrun"|"engine"}``), and a final ``{"exit": code}`` line
when the monitor is done (after ``--rm`` removal). Attach fds, when given, get a copy of the output
(and feed stdin), which is how a foreground ``portside run`` shows the container's output.
"""

from __future__ import annotations

# Imports stay minimal on purpose: the adopted monitor lives as long as its container, and every
# module costs resident memory. json, ctypes (linux) and the cgroup code load only when needed.
import errno
import os
import select
import sys
import time
from _json import encode_basestring as _quote

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing into the monitor
if TYPE_CHECKING:
    import signal
    from typing import Any, Protocol, TypedDict

    from engine.runtime.cgroups import Cgroup
    from engine.runtime.health import Checker, Plan

    class RootfsPlan(TypedDict):
        """How the monitor mounts the container's root: an overlay of ``lower`` (top last), or ``copy``."""
        target: str
        upper: str
        work: str
        lower: list[str]
        layers_root: str
        copy: bool

    class Resolver(Protocol):
        """The container's embedded DNS resolver (the networking hands it over: engine/network/dns.py)."""
        @property
        def fds(self) -> tuple[int, int]: ...
        def handle(self, fd: int) -> None: ...
        def close(self) -> None: ...

    class MonitorOptions(TypedDict, total=False):
        """``monitor.json``, written by the engine next to ``config.json``; ``_``-keys are the monitor's own."""
        id: str
        root: str
        rootfs: RootfsPlan
        restart: dict[str, Any] | None  # HostConfig.RestartPolicy
        autoremove: bool
        runtime: str  # "native" or an OCI runtime CLI
        cgroup: str  # "" when the OCI runtime makes its own
        log: list[int]  # (max bytes a file, files in all)
        net: dict[str, Any]  # the network plan engine/network/setup.py carries out
        health: Plan  # the container's health check (engine/runtime/health.py), when it has one
        _net_fds: list[int]
        _dns: dict[str, Any]  # the embedded resolver's sockets (engine/network/dns.py)
else:
    import _signal as signal

if __name__ == "__main__" and __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from engine.runtime.proc import proc_start_time  # noqa: E402,F401 (also used by the engine's side)

MAX_BACKOFF = 60.0
EXEC_GRACE = 0.25  # seconds a new container may run before its monitor execs the small program


def now_rfc3339() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


def dumps(obj: object) -> str:
    """JSON for the plain values the monitor writes (no json module import)."""
    if isinstance(obj, str):
        return _quote(obj)
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if obj is None:
        return "null"
    if isinstance(obj, (int, float)):
        return repr(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_quote(str(k))}:{dumps(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    raise TypeError(f"cannot encode {type(obj).__name__}")


def write_json(path: str, doc: dict[str, Any]) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(dumps(doc))
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    import json
    with open(path) as f:
        return json.load(f)


def mount_rootfs(rootfs: RootfsPlan) -> None:
    target = rootfs["target"]
    os.makedirs(target, exist_ok=True)
    if os.path.ismount(target):
        return
    if rootfs.get("copy"):
        return  # the engine populated a plain directory
    os.makedirs(rootfs["upper"], exist_ok=True)
    os.makedirs(rootfs["work"], exist_ok=True)
    lowers = rootfs["lower"]
    if not lowers:  # FROM scratch with no layers: overlay needs a lower dir
        empty = os.path.join(os.path.dirname(rootfs["upper"]), "empty")
        os.makedirs(empty, exist_ok=True)
        lowers = [empty]
    # Relative lower dirs keep the option string under the kernel's page-size limit.
    base = rootfs.get("layers_root")
    cwd = os.getcwd()
    if base:
        os.chdir(base)
        lowers = [os.path.relpath(p, base) for p in lowers]
    try:
        opts = f"lowerdir={':'.join(reversed(lowers))},upperdir={rootfs['upper']},workdir={rootfs['work']}"
        from engine.runtime import linux
        linux.mount("overlay", target, "overlay", 0, opts)
    finally:
        os.chdir(cwd)


def unmount_rootfs(rootfs: RootfsPlan) -> None:
    target = rootfs["target"]
    if os.path.ismount(target):
        from engine.runtime import linux
        try:
            linux.umount2(target, linux.MNT_DETACH)
        except OSError:
            pass


class Monitor:
    opts: MonitorOptions
    spec: dict[str, Any]  # the OCI config.json
    state: dict[str, Any]  # state.json, read by the engine
    oci_cgroup: Cgroup | None  # the OCI runtime's cgroup of the current run
    runtime_pid: int
    init_pid: int
    pty_master: int
    partial: dict[int, bytes]  # output fd → its unfinished line
    stream_of: dict[int, str]  # output fd → "stdout" | "stderr"
    adopted: tuple[int, list[int]] | None

    def __init__(self, cdir: str, status_fd: int, attach: list[int], loaded: dict[str, Any] | None = None,
                 network: Any = None) -> None:
        self.cdir = cdir
        self._network = network  # what carries out opts["net"]; see net()
        # the monitor lock, inherited across the --adopt exec (see hold_lock)
        self.lock_fd: int | None = (loaded or {}).get("lock_fd")
        if loaded is not None:  # handed over by launch() through a marshal file: no json import
            self.opts, self.spec, self.state = loaded["opts"], loaded["spec"], loaded["state"]
        else:
            self.opts = read_json(os.path.join(cdir, "monitor.json"))
            self.spec = read_json(os.path.join(cdir, "config.json"))
            try:
                self.state = read_json(os.path.join(cdir, "state.json"))
            except (OSError, ValueError):
                self.state = {}
        self.status_fd = status_fd
        self.attach_in, self.attach_out, self.attach_err = (attach + [-1, -1, -1])[:3]
        self.state_path = os.path.join(cdir, "state.json")
        self.log_path = os.path.join(cdir, "log.jsonl")
        self.log = open(self.log_path, "ab", buffering=0)
        self.log_size = os.fstat(self.log.fileno()).st_size
        # (bytes a file, files in all) from the container's LogConfig; 0 bytes is unbounded
        self.log_max, self.log_keep = self.opts.get("log") or [0, 1]
        self.state.update(monitor_pid=os.getpid(), monitor_start=proc_start_time(os.getpid()))
        self._cgroup: Cgroup | None = None
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.exited_status: int | None = None
        self.stop_requested = False
        self._checker: Checker | None = None
        self._resolver: Resolver | None = None

    def resolver(self) -> Resolver | None:
        """The container's embedded DNS resolver, served by this loop (only on a user-defined network)."""
        cfg = self.opts.get("_dns")
        if self._resolver is None and cfg:  # the networking names its module (a light one: no json, no re)
            module: Any = __import__(cfg["module"], fromlist=["Resolver"])
            self._resolver = module.Resolver(cfg["fds"][0], cfg["fds"][1], cfg["forward"], cfg["hosts"])
        return self._resolver

    def checker(self) -> Checker | None:
        """The container's health checks (loaded only for a container that has them)."""
        if self._checker is None and self.opts.get("health"):
            from engine.runtime.health import Checker
            self._checker = Checker(self.opts["health"], self.cdir, self.state, self.save, self.record_event_apart)
        return self._checker

    def net(self) -> Any:
        """The networking that carries out the plan: an object with ``attach(monitor)`` and
        ``detach(monitor)``, handed over by the engine — in this process, or by the module name the plan
        carries (``opts["net"]["module"]``) once the monitor has exec'd."""
        if self._network is None:
            self._network = __import__(self.opts["net"]["module"], fromlist=["attach"])
        return self._network

    def hold_lock(self) -> None:
        """Take the container's monitor lock for this monitor's life.

        Crash recovery in other processes leaves the rootfs mount and the cgroup of a container whose
        lock is held alone; otherwise it unmounts/removes them while this monitor is starting it.
        """
        if self.lock_fd is None:
            import fcntl
            fd = os.open(os.path.join(self.cdir, "monitor.lock"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.lock_fd = fd
        if not os.path.isdir(self.cdir):  # removed (``rm -f``) while this monitor waited for the lock
            from engine.errors import ContainerNotFound
            raise ContainerNotFound(f"No such container: {self.opts.get('id') or os.path.basename(self.cdir)}")

    @property
    def cgroup(self) -> Cgroup | None:
        if self._cgroup is None and self.opts.get("cgroup"):
            from engine.runtime import cgroups
            self._cgroup = cgroups.Cgroup(self.opts["cgroup"])
        return self._cgroup

    # -- status ---------------------------------------------------------------------------------
    def report(self, doc: dict[str, Any]) -> None:
        if self.status_fd < 0:
            return
        try:
            os.write(self.status_fd, (dumps(doc) + "\n").encode())
        except OSError:
            self.status_fd = -1

    def save(self, **changes: object) -> None:
        self.state.update(changes)
        write_json(self.state_path, self.state)

    def stop_marker(self) -> bool:
        return self.stop_requested or os.path.exists(os.path.join(self.cdir, "stop-requested"))

    # -- one run of the container -----------------------------------------------------------------
    def start_once(self) -> tuple[int, list[int]]:
        """Start the container; returns (init pid, output fds to drain)."""
        devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        tty = bool(self.spec["process"].get("terminal"))
        outs: list[int] = []
        closers: list[int] = [devnull]
        tty_slave = None
        console = None
        native_rt = self.opts.get("runtime", "native") == "native"
        if tty and native_rt:
            import socket
            console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            stdin = stdout = stderr = devnull  # the init takes a terminal of its own devpts instead
        elif tty:
            import pty
            master, slave = pty.openpty()
            self.copy_winsize(slave)
            os.set_blocking(master, False)
            self.pty_master = master
            stdin = stdout = stderr = slave
            tty_slave = slave
            outs = [master]
            closers.append(slave)
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            stdin = devnull
            if self.spec["process"].get("_openStdin") and self.attach_in >= 0:
                stdin = self.attach_in
            stdout, stderr = out_w, err_w
            outs = [out_r, err_r]
            closers += [out_w, err_w]
        try:
            if native_rt:
                from engine.runtime import native
                pid = native.start(self.spec, self.cdir, stdin, stdout, stderr, tty_slave=tty_slave,
                                   cgroup=self.cgroup, console_socket=console[1].fileno() if console else None)
                if console is not None:  # the init sent its terminal's master before it exec'd
                    import socket
                    _msg, fds, _flags, _addr = socket.recv_fds(console[0], 16, 1)
                    master = fds[0]
                    self.copy_winsize(master)
                    os.set_blocking(master, False)
                    self.pty_master = master
                    outs = [master]
            else:
                pid = self.start_oci_runtime(stdin, stdout, stderr)
        finally:
            for fd in closers:
                os.close(fd)
            if console is not None:
                console[0].close()
                console[1].close()
        self.stream_of = {fd: ("stderr" if i == 1 else "stdout") for i, fd in enumerate(outs)}
        return pid, outs

    def copy_winsize(self, tty_fd: int) -> None:
        """Give the container's terminal the size of the one attached (``run -it``)."""
        if self.attach_out >= 0 and os.isatty(self.attach_out):
            try:
                import fcntl
                ws = fcntl.ioctl(self.attach_out, 0x5413, b"\0" * 8)  # TIOCGWINSZ
                fcntl.ioctl(tty_fd, 0x5414, ws)  # TIOCSWINSZ
            except OSError:
                pass

    def start_oci_runtime(self, stdin: int, stdout: int, stderr: int) -> int:
        """Run the same config.json with an OCI runtime CLI: ``runc create`` then ``runc start``.

        Not ``runc run``: that deletes the cgroup the moment the init exits, before the OOM count can be
        read. After ``create`` the init is re-parented to this monitor (a child subreaper), so the
        monitor waits for it itself and runs ``runc delete`` once it has read the cgroup (:meth:`oci_delete`).
        """
        import subprocess
        runtime = self.opts["runtime"]
        cid = self.opts["id"]
        state_root = os.path.join(self.opts["root"], "runtime", os.path.basename(runtime))
        os.makedirs(state_root, exist_ok=True)
        pidfile = os.path.join(self.cdir, "runtime.pid")
        try:
            os.unlink(pidfile)
        except FileNotFoundError:
            pass
        self.oci_delete()
        base = [runtime, "--root", state_root, "--log", os.path.join(self.cdir, "runtime.log"), "--log-format", "json"]
        if self.spec["process"].get("terminal"):
            # `create` wants a console socket for a terminal; `runc run` in the foreground proxies its own
            # pty to ours instead (its cgroup goes when it exits, so -t containers get no OOM flag)
            return self._oci_run_foreground(base, pidfile, cid, stdin, stdout, stderr)
        pid, err_r = spawn_runtime(base + ["create", "--bundle", self.cdir, "--pid-file", pidfile, cid],
                                   stdin, stdout, stderr)
        _, status = os.waitpid(pid, 0)
        msg = os.read(err_r, 4096).decode(errors="replace").strip()
        os.close(err_r)
        if status != 0 or not os.path.exists(pidfile):
            self.oci_delete()
            raise RuntimeStartError(msg or self.runtime_error(), os.waitstatus_to_exitcode(status))
        with open(pidfile) as f:
            init_pid = int(f.read().strip() or 0)
        started = subprocess.run(base + ["start", cid], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        if started.returncode != 0:
            self.oci_delete()
            try:
                os.waitpid(init_pid, os.WNOHANG)
            except ChildProcessError:
                pass
            raise RuntimeStartError(self.runtime_error(), started.returncode)
        from engine.runtime import cgroups
        self.oci_cgroup = cgroups.Cgroup(self.spec.get("linux", {}).get("cgroupsPath") or f"portside/{cid}")
        self.runtime_pid = 0
        self.init_pid = init_pid
        return init_pid

    def _oci_run_foreground(self, base: list[str], pidfile: str, cid: str, stdin: int, stdout: int,
                            stderr: int) -> int:
        """``runc run``: returns the runtime's pid (waited for by :meth:`pump`); the init's is in ``init_pid``."""
        pid, err_r = spawn_runtime(base + ["run", "--bundle", self.cdir, "--pid-file", pidfile, "--preserve-fds", "0",
                                           cid], stdin, stdout, stderr)
        deadline = time.monotonic() + 30
        while not os.path.exists(pidfile):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                msg = os.read(err_r, 4096).decode(errors="replace").strip() or self.runtime_error()
                os.close(err_r)
                raise RuntimeStartError(msg, os.waitstatus_to_exitcode(status))
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
        os.close(err_r)
        self.oci_cgroup = None
        self.runtime_pid = pid
        with open(pidfile) as f:
            self.init_pid = int(f.read().strip() or 0)
        return pid

    def oci_delete(self) -> None:
        """``runc delete -f``: the OCI runtime's state and cgroup for this container (no-op when absent)."""
        if self.opts.get("runtime", "native") == "native":
            return
        import subprocess
        state_root = os.path.join(self.opts["root"], "runtime", os.path.basename(self.opts["runtime"]))
        subprocess.run([self.opts["runtime"], "--root", state_root, "delete", "-f", self.opts["id"]],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def runtime_error(self) -> str:
        try:
            with open(os.path.join(self.cdir, "runtime.log")) as f:
                import json
                lines = [json.loads(line) for line in f if line.strip()]
            errs = [entry.get("msg", "") for entry in lines if entry.get("level") == "error"]
            return errs[-1] if errs else "runtime failed"
        except (OSError, ValueError):
            return "runtime failed"

    # -- output ---------------------------------------------------------------------------------
    def pump(self, pid: int, outs: list[int], deadline: float | None = None) -> int | None:
        """Copy output to the log (and attach fds) until the container exits; returns its status.

        With a ``deadline`` (monotonic), returns None if the container is still running then; the
        output fds stay open and unfinished lines stay in ``self.partial`` for whoever goes on.
        """
        partial = self.partial = getattr(self, "partial", None) or {}
        for fd in outs:
            partial.setdefault(fd, b"")
        open_fds = set(outs)
        poller = select.poll()
        for fd in outs:
            poller.register(fd, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        resolver = self.resolver()
        dns_fds = resolver.fds if resolver is not None else ()
        for fd in dns_fds:
            poller.register(fd, select.POLLIN)
        tty_in = -1
        if self.spec["process"].get("terminal") and self.attach_in >= 0 and self.spec["process"].get("_openStdin"):
            tty_in = self.attach_in
            poller.register(tty_in, select.POLLIN)
        status = None
        checks = self.checker() if deadline is None else None  # (none in the short pre-exec pump)
        while True:
            if status is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
            if status is not None and not open_fds:
                break
            if checks is not None and status is None:
                checks.step(poller)
            timeout: int | None
            if status is None and deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                timeout = min(int(left * 1000) + 1, 5)  # no SIGCHLD wake-up before exec: poll briefly
            else:
                timeout = 20 if status is not None else None
                if checks is not None and status is None:
                    timeout = checks.wait_ms()
            try:
                events = poller.poll(timeout)
            except InterruptedError:
                continue
            if status is not None and not events:
                break  # the init is gone and nothing more arrives (a daemonised child may hold the pipe)
            for fd, ev in events:
                if fd == self.wake_r:
                    try:
                        os.read(self.wake_r, 512)
                    except OSError:
                        pass
                    continue
                if checks is not None and fd == checks.fd:
                    checks.read()
                    continue
                if fd in dns_fds:
                    assert resolver is not None
                    resolver.handle(fd)
                    continue
                if fd == tty_in:
                    try:
                        data = os.read(tty_in, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        poller.unregister(tty_in)
                        tty_in = -1
                    else:
                        try:
                            os.write(self.pty_master, data)
                        except OSError:
                            pass
                    continue
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    os.close(fd)
                    if partial.get(fd):
                        self.write_log(self.stream_of[fd], partial.pop(fd), final=True)
                    continue
                self.forward(fd, data)
                buf = partial[fd] + data
                lines = buf.split(b"\n")
                partial[fd] = lines.pop()
                if len(partial[fd]) > 16384:
                    lines.append(partial[fd])
                    partial[fd] = b""
                    self.write_lines(self.stream_of[fd], lines, last_partial=True)
                elif lines:
                    self.write_lines(self.stream_of[fd], lines)
        for fd in list(open_fds):
            if partial.get(fd):
                self.write_log(self.stream_of[fd], partial[fd], final=True)
            os.close(fd)
        self.partial = {}
        return status if status is not None else 0

    def forward(self, fd: int, data: bytes) -> None:
        target = self.attach_err if self.stream_of.get(fd) == "stderr" else self.attach_out
        if target < 0:
            return
        try:
            os.write(target, data)
        except OSError:
            self.attach_out = self.attach_err = -1

    def write_lines(self, stream: str, lines: list[bytes], last_partial: bool = False) -> None:
        ts = now_rfc3339()
        out = []
        for i, line in enumerate(lines):
            text = line.decode("utf-8", "replace")
            if not (last_partial and i == len(lines) - 1):
                text += "\n"
            out.append(f'{{"log":{_quote(text)},"stream":"{stream}","time":"{ts}"}}')
        data = ("\n".join(out) + "\n").encode()
        if not self.log_max or self.log_size + len(data) < self.log_max:
            self.emit(data)
            return
        # the batch crosses max-size: cut it at line boundaries so a file overshoots by one line at most
        room = self.log_max - self.log_size
        start = 0
        while start < len(data):
            cut = data.find(b"\n", start + max(room, 1) - 1) + 1 or len(data)
            self.emit(data[start:cut])
            start, room = cut, self.log_max

    def write_log(self, stream: str, data: bytes, final: bool = False) -> None:
        text = data.decode("utf-8", "replace")
        self.emit(f'{{"log":{_quote(text)},"stream":"{stream}","time":"{now_rfc3339()}"}}\n'.encode())

    def emit(self, data: bytes) -> None:
        """Append to the log, rotating first when the file has reached max-size (as docker does)."""
        if self.log_max and self.log_size >= self.log_max:
            self.rotate_log()
        self.log.write(data)
        self.log_size += len(data)

    def rotate_log(self) -> None:
        """``log.jsonl`` → ``log.jsonl.1`` → … ``.{max-file - 1}`` (the oldest dropped); one file: truncate."""
        path = self.log_path
        self.log.close()
        if self.log_keep > 1:
            for i in range(self.log_keep - 1, 1, -1):
                try:
                    os.rename(f"{path}.{i - 1}", f"{path}.{i}")
                except FileNotFoundError:
                    pass
            os.rename(path, path + ".1")
            self.log = open(path, "ab", buffering=0)
        else:
            self.log = open(path, "wb", buffering=0)
        self.log_size = 0

    # -- the life of the container --------------------------------------------------------------
    def should_restart(self, code: int) -> bool:
        if self.stop_marker():
            return False
        policy = self.opts.get("restart") or {}
        name = policy.get("Name") or "no"
        if name in ("always", "unless-stopped"):
            return True
        if name == "on-failure":
            limit = int(policy.get("MaximumRetryCount") or 0)
            return code != 0 and (limit == 0 or self.state.get("restart_count", 0) < limit)
        return False

    def on_signal(self, signum: int, frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stop_requested = True
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, self.on_signal)

    def prepare(self) -> None:
        """Mount the rootfs and create the cgroup (raises on failure)."""
        mount_rootfs(self.opts["rootfs"])
        if self.cgroup is not None and self.opts.get("runtime", "native") == "native":
            self.cgroup.create(self.spec.get("linux", {}).get("resources") or {})
        if self.opts.get("net"):  # netns, veths, published ports, DNS: this monitor owns them
            self.net().attach(self)

    def adopt(self, pid: int, outs: list[int], partial: dict[int, bytes] | None = None) -> None:
        """Take over a container started before this process exec'd (see :func:`launch`)."""
        self.partial = dict(partial or {})
        if self.spec["process"].get("terminal"):
            self.pty_master = outs[0]
            os.set_blocking(outs[0], False)
            self.stream_of = {outs[0]: "stdout"}
        else:
            self.stream_of = {fd: ("stderr" if i == 1 else "stdout") for i, fd in enumerate(outs)}
        self.adopted = (pid, outs)

    def run(self) -> int:
        if getattr(self, "adopted", None) is None:
            from engine.runtime import linux
            linux.set_child_subreaper()  # (an adopted monitor kept it across exec)
        self.install_signals()
        backoff = 0.1
        adopted = getattr(self, "adopted", None)
        first = adopted is None
        code = 0
        if adopted is None:
            try:
                self.prepare()
            except Exception as exc:  # noqa: BLE001 - reported to the caller as one line
                self.report({"error": str(exc), "kind": "engine"})
                self.cleanup()
                return 125
        while True:
            started = time.monotonic()
            self.init_pid = 0
            self.runtime_pid = 0
            try:
                pre_status = None
                if adopted is not None:
                    (pid, outs), adopted = adopted, None
                    pre_status, self.exited_status = getattr(self, "exited_status", None), None
                else:
                    pid, outs = self.start_once()
            except RuntimeStartError as exc:
                msg = str(exc)
                # as docker: a container that never started stays "created", with the exit code and error
                self.save(status="created" if first else "exited",
                          exit_code=127 if "not found" in msg or "no such file" in msg else 126,
                          error=msg, finished_at=now_rfc3339(), pid=0)
                self.report({"error": msg, "kind": "runtime"})
                self.cleanup()
                return 125
            except Exception as exc:  # noqa: BLE001
                from engine import errors
                kind = "notfound" if isinstance(exc, errors.CommandNotFound) else (
                    "cannotrun" if isinstance(exc, errors.ContainerCannotRun) else "engine")
                code = {"notfound": 127, "cannotrun": 126}.get(kind, 125)
                self.save(status="created" if first else "exited", exit_code=code, error=str(exc),
                          finished_at=now_rfc3339(), pid=0)
                self.report({"error": str(exc), "kind": kind})
                if first or not self.should_restart(code):
                    self.cleanup()
                    return code
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            init_pid = self.init_pid or pid
            if self.state.get("status") != "running" or self.state.get("pid") != init_pid:
                self.mark_running(init_pid)
            if first:
                self.report({"pid": init_pid})
                first = False
            status = pre_status if pre_status is not None else self.pump(pid, outs)
            assert status is not None
            code = os.waitstatus_to_exitcode(status)
            if code < 0:
                code = 128 - code
            oom = False
            oci_cg = getattr(self, "oci_cgroup", None)
            if self.cgroup is not None:
                try:
                    kills = (self.cgroup.stats().get("memory") or {}).get("oom_kill") or 0
                    oom = kills > self.state.get("oom_seen", 0)
                    self.state["oom_seen"] = kills
                except Exception:  # noqa: BLE001
                    pass
            elif oci_cg is not None:  # the runtime's cgroup is new for each run: any kill counts
                try:
                    oom = bool((oci_cg.stats().get("memory") or {}).get("oom_kill"))
                except Exception:  # noqa: BLE001
                    pass
                self.oci_cgroup = None
                self.oci_delete()
            if self._checker is not None:
                self._checker.stop()
            self.save(status="exited", exit_code=code, oom_killed=oom, finished_at=now_rfc3339(), pid=0)
            self.record_event("die", exitCode=str(code))
            if not self.should_restart(code):
                break
            if time.monotonic() - started >= 10:
                backoff = 0.1
            self.save(status="restarting", restart_count=self.state.get("restart_count", 0) + 1)
            deadline = time.monotonic() + backoff
            resolver = self.resolver()  # names still answer while the container waits to restart
            waits = [self.wake_r, *(resolver.fds if resolver is not None else ())]
            while time.monotonic() < deadline and not self.stop_marker():
                try:
                    ready, _, _ = select.select(waits, [], [], max(0.0, deadline - time.monotonic()))
                    for fd in ready:
                        if fd == self.wake_r:
                            os.read(self.wake_r, 512)
                        elif resolver is not None:
                            resolver.handle(fd)
                except (BlockingIOError, InterruptedError):
                    pass
            backoff = min(backoff * 2, MAX_BACKOFF)
            if self.stop_marker():
                self.save(status="exited")
                break
        self.cleanup()
        return code

    def record_event(self, action: str, **attrs: str) -> None:
        """A container event: the ``die`` dockerd records at every exit (before the monitor ends: a removal,
        which waits for the monitor, records its ``destroy`` after it), ``health_status: healthy``….
        Never fails the monitor."""
        try:
            from engine import state as state_mod
            cid = os.path.basename(self.cdir)
            st = state_mod.State(os.path.join(os.path.dirname(os.path.dirname(self.cdir)), "state.db"))
            try:
                doc = st.container(cid) or {}
                st.emit("container", action, cid, {"name": doc.get("Name", "").lstrip("/"),
                                                   "image": (doc.get("Config") or {}).get("Image", ""), **attrs})
            finally:
                st.close()
        except Exception:  # noqa: BLE001 - an event lost is better than a container left running
            pass

    def record_event_apart(self, action: str) -> None:
        """:meth:`record_event` from a short-lived child, so the store's modules (sqlite) never load into
        this long-lived process for an event in the middle of the container's life."""
        pid = os.fork()
        if pid == 0:
            try:
                self.record_event(action)
            finally:
                os._exit(0)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def mark_running(self, init_pid: int) -> None:
        checks = self.checker()
        if checks is not None:
            checks.begin(init_pid)
        self.save(status="running", pid=init_pid, pid_start=proc_start_time(init_pid), started_at=now_rfc3339(),
                  exit_code=0, error="", oom_killed=False, finished_at="0001-01-01T00:00:00Z")

    def cleanup(self) -> None:
        self.oci_delete()
        if self.cgroup is not None:
            try:
                if self.cgroup.pids():  # daemonised leftovers of the init: they go with it
                    self.cgroup.kill_all(signal.SIGKILL)
                self.cgroup.destroy()
            except Exception:  # noqa: BLE001
                pass
        if self._resolver is not None:
            self._resolver.close()
            self._resolver = None
        if self.opts.get("net"):
            self.net().detach(self)
        unmount_rootfs(self.opts["rootfs"])
        self.save(monitor_pid=0)
        if self.opts.get("autoremove"):
            from engine.runtime import cleanup
            cleanup.remove_container_files(self.opts["root"], self.opts["id"], volumes=True)


def spawn_runtime(argv: list[str], stdin: int, stdout: int, stderr: int) -> tuple[int, int]:
    """Fork and exec an OCI runtime CLI with the container's stdio; returns (pid, error-pipe read end)."""
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.dup2(err_w, 3)
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(3, f"{argv[0]}: {exc.strerror}".encode())
        os._exit(127)
    os.close(err_w)
    return pid, err_r


class RuntimeStartError(Exception):
    def __init__(self, msg: str, code: int) -> None:
        super().__init__(msg)
        self.code = code


# Run through an import (not as a script) so the cached bytecode is used: no compile at start-up.
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOT = (f"import sys; sys.path.insert(0, {PROJECT!r}); from engine.runtime.monitor import main; "
        f"sys.exit(main(sys.argv))")


def _detach() -> None:
    """The monitor's own session, default signals, and the child-subreaper bit (its container's parent)."""
    os.setsid()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        pass
    from engine.runtime import linux
    linux.set_child_subreaper()


def _fork_detached() -> bool:
    """Fork twice: False back in the caller (the middle process reaped), True in the grandchild, which is
    the monitor-to-be in a session of its own (:func:`_detach`) that belongs to nobody."""
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return False
    try:
        if os.fork():
            os._exit(0)
        _detach()
    except BaseException:  # noqa: BLE001 - never return into the caller's code from the child
        os._exit(1)
    return True


def _start(mon: Monitor) -> tuple[int, list[int]] | None:
    """Lock, mount, start the container and report ``{"pid": N}``; on failure report it, clean up, None."""
    try:
        mon.hold_lock()
        mon.prepare()
        init_pid, outs = mon.start_once()
    except Exception as exc:  # noqa: BLE001 - one line to the caller
        from engine import errors
        kind = "notfound" if isinstance(exc, errors.CommandNotFound) else (
            "cannotrun" if isinstance(exc, errors.ContainerCannotRun) else "engine")
        code = {"notfound": 127, "cannotrun": 126}.get(kind, 125)
        gone = not os.path.isdir(mon.cdir)  # nothing was made in a folder that is gone; nothing to record
        if not gone:
            mon.save(status="created", exit_code=code, error=str(exc), finished_at=now_rfc3339(), pid=0)
        mon.report({"error": str(exc), "kind": kind})
        if not gone:
            mon.cleanup()
        mon.report({"exit": code})
        return None
    mon.mark_running(init_pid)
    mon.report({"pid": init_pid})
    return init_pid, outs


def _write_handover(mon: Monitor) -> None:
    """``monitor.marshal``: what the small monitor that takes the container over needs of this one."""
    import marshal
    restarts = (mon.opts.get("restart") or {}).get("Name") not in (None, "", "no")
    # the spec is only needed again to restart; without it the monitor stays smaller
    spec = mon.spec if restarts else {"process": {k: mon.spec["process"].get(k) for k in ("terminal", "_openStdin")}}
    with open(os.path.join(mon.cdir, "monitor.marshal"), "wb") as f:
        marshal.dump({"opts": mon.opts, "spec": spec, "state": mon.state, "lock_fd": mon.lock_fd,
                      "partial": getattr(mon, "partial", None) or {}}, f)


def _read_handover(cdir: str) -> dict[str, Any]:
    import marshal
    with open(os.path.join(cdir, "monitor.marshal"), "rb") as f:
        loaded: dict[str, Any] = marshal.load(f)
    return loaded


def launch(cdir: str, status_w: int, attach: list[int], *, exec_monitor: bool = True,
           loaded: dict[str, Any] | None = None, network: Any = None) -> None:
    """Start a container at fork speed, then become its monitor.

    The caller (the engine) forks; the grandchild sets itself up as the monitor process (new
    session, child subreaper), mounts the rootfs, creates the cgroup and starts the container's
    init as its own child, reports ``{"pid": N}`` on ``status_w``, and only then execs the small
    monitor program with ``--adopt`` so the init stays its child. The engine reaps the middle
    process at once. Returns in the caller only.

    ``network`` carries out ``opts["net"]`` (``attach(monitor)`` / ``detach(monitor)``): the containers
    service hands it over; the exec'd program imports the module the plan names instead.

    With ``exec_monitor=False`` (a foreground ``run``, where the user waits for the exit) the forked
    process stays the monitor without exec'ing: no interpreter start between the container's exit
    and the CLI's return, at the cost of a larger monitor for the container's lifetime.
    A long-running engine forks its monitors from a small template instead (:func:`launch_small`).
    """
    if not _fork_detached():
        return
    try:
        mon = Monitor(cdir, status_w, attach, loaded, network)
        started = _start(mon)
        if started is None:
            os._exit(0)
        init_pid, outs = started
        restarts = (mon.opts.get("restart") or {}).get("Name") not in (None, "", "no")
        if not exec_monitor or not restarts:
            mon.adopt(init_pid, outs)
            if exec_monitor:
                # Most short-lived containers are done within the grace period: finish them here,
                # without starting an interpreter. Long-lived ones get the small monitor.
                status = mon.pump(init_pid, outs, deadline=time.monotonic() + EXEC_GRACE)
                if status is not None:
                    mon.exited_status = status
            if not exec_monitor or mon.exited_status is not None:
                code = mon.run()
                mon.report({"exit": code})
                os._exit(0)
        keep = [status_w] + outs + [fd for fd in attach if fd >= 0] + list(mon.opts.get("_net_fds") or [])
        if mon.lock_fd is not None:
            os.set_inheritable(mon.lock_fd, True)  # the exec'd monitor goes on holding the lock
        for fd in keep:
            os.set_inheritable(fd, True)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            if fd not in keep:
                os.dup2(null, fd)
        _write_handover(mon)
        argv = [sys.executable, "-I", "-S", "-c", BOOT, "--adopt", cdir, str(status_w),
                str(init_pid), ",".join(map(str, outs))] + [str(fd) for fd in attach]
        os.execv(sys.executable, argv)
    except BaseException:  # noqa: BLE001 - never return into the caller's code from the child
        os._exit(1)


def launch_small(cdir: str, status_w: int, attach: list[int]) -> None:
    """Start a container and become its monitor, from a small warm process (engine/runtime/forkserver.py).

    As :func:`launch`, the caller forks and reaps the middle process; the grandchild is the monitor
    (session, subreaper, the monitor lock). It does not start the container itself: a helper forked from
    it does (mount, cgroup, networking, the init), reports ``{"pid": N}``, hands over what the monitor
    needs (``monitor.marshal``; the output and network fds over a socket pair) and exits. The init is
    re-parented to the monitor, its subreaper, which adopts it. The start's garbage dies with the
    helper, so the monitor keeps only the pages it shares with the template and the few it writes.
    """
    if not _fork_detached():
        return
    try:
        import fcntl
        import marshal
        import socket
        lock_fd = os.open(os.path.join(cdir, "monitor.lock"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # held by this process for the container's life
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        me = os.getpid()  # the monitor, which outlives this helper: the engine watches it
        helper = os.fork()
        if helper == 0:
            try:
                # a monitor killed mid-start takes its helper along: the helper's half-made start stays
                # where crash recovery and rm find it (net.json, the cgroup), never goes on unowned
                from .linux import set_pdeathsig
                set_pdeathsig(signal.SIGKILL)
                if os.getppid() != me:
                    os._exit(1)
                ours.close()
                mon = Monitor(cdir, status_w, attach)
                mon.lock_fd = lock_fd
                mon.state.update(monitor_pid=me, monitor_start=proc_start_time(me))
                started = _start(mon)
                if started is not None:
                    init_pid, outs = started
                    for ns in mon.spec.get("linux", {}).get("namespaces", []):  # /proc/<pid>/fd/N: the monitor's
                        if ns.get("path", "").startswith(f"/proc/{os.getpid()}/"):
                            ns["path"] = f"/proc/{me}/" + ns["path"].split("/", 3)[3]
                    _write_handover(mon)
                    fds = outs + list(mon.opts.get("_net_fds") or [])
                    socket.send_fds(theirs, [marshal.dumps((init_pid, len(outs), fds))], fds)
            finally:
                os._exit(0)
        theirs.close()
        msg, got, _flags, _addr = socket.recv_fds(ours, 4096, 256)
        ours.close()
        os.waitpid(helper, 0)
        if not msg:  # the start failed: the helper has reported it and cleaned up
            os._exit(0)
        init_pid, n_outs, fds = marshal.loads(msg)
        _renumber(got, fds)
        loaded = _read_handover(cdir)
        mon = Monitor(cdir, status_w, attach, loaded)
        mon.adopt(init_pid, fds[:n_outs], loaded.get("partial"))
        code = mon.run()
        mon.report({"exit": code})
        os._exit(0)
    except BaseException:  # noqa: BLE001 - never return into the caller's code from the child
        os._exit(1)


def _renumber(got: list[int], wanted: list[int]) -> None:
    """Put the received fds ``got`` at the numbers ``wanted`` (the helper's), close-on-exec."""
    import fcntl
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 1024) for fd in got]
    for fd in got:
        os.close(fd)
    for fd, want in zip(high, wanted):
        os.dup2(fd, want, inheritable=False)
        os.close(fd)


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[1] == "--adopt":
        cdir, status_fd, init_pid, outs = argv[2], int(argv[3]), int(argv[4]), [int(x) for x in argv[5].split(",")]
        attach = [int(a) for a in argv[6:]]
        loaded = _read_handover(cdir)
        mon = Monitor(cdir, status_fd, attach, loaded)
        mon.adopt(init_pid, outs, loaded.get("partial"))
        code = mon.run()
        mon.report({"exit": code})
        return 0
    cdir = argv[1]
    status_fd = int(argv[2])
    attach = [int(a) for a in argv[3:]]
    # Daemonise: the spawner reaps this first process at once; the grandchild lives on.
    if os.fork():
        os._exit(0)
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        if fd not in attach:
            os.dup2(null, fd)
    mon = Monitor(cdir, status_fd, attach)
    mon.hold_lock()
    code = mon.run()
    mon.report({"exit": code})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
