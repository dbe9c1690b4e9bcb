"""``portside daemon``: the Docker Engine API on unix sockets (and tcp with TLS), over one engine here.

A unix socket is mode 0660, group ``portside`` (made when missing). A lock file beside it says
whether a daemon serves it: a second daemon on the same socket stops with one line; a socket file
left by a killed daemon is replaced. tcp is served only with TLS, as dockerd's ``--tls``/``--tlsverify``.
``fd://`` takes the sockets systemd passes (socket activation). Containers do not depend on the
daemon: their monitors own them, and the next daemon finds them.
"""

from __future__ import annotations

import asyncio
import fcntl
import grp
import os
import signal
import socket
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import EngineError

DEFAULT_HOST = "unix:///run/portside/portside.sock"
DEFAULT_PIDFILE = "/run/portside/portside.pid"
DEFAULT_LOG_FILE = "/var/log/portside/daemon.log"  # with -d; in the foreground the log is stderr
GROUP = "portside"
SD_LISTEN_FDS_START = 3
PROG = "portside daemon"


class DaemonError(Exception):
    """A reason the daemon cannot start; its text is the one line the user sees."""


@dataclass
class TLS:
    """dockerd's TLS flags: ``verify`` asks every client for a certificate signed by ``cacert``."""
    verify: bool = False
    cacert: str = ""
    cert: str = ""
    key: str = ""

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        for flag, path in (("--tlscert", self.cert), ("--tlskey", self.key)) + \
                (("--tlscacert", self.cacert),) * self.verify:
            if not os.path.isfile(path):
                raise DaemonError(f"{PROG}: {flag} {path}: no such file")
        try:
            ctx.load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as exc:
            raise DaemonError(f"{PROG}: --tlscert {self.cert}, --tlskey {self.key}: not a PEM certificate and "
                              f"its key{_why(exc)}") from None
        if self.verify:
            ctx.verify_mode = ssl.CERT_REQUIRED
            try:
                ctx.load_verify_locations(self.cacert)
            except (ssl.SSLError, OSError) as exc:
                raise DaemonError(f"{PROG}: --tlscacert {self.cacert}: not a PEM CA certificate{_why(exc)}") from None
        return ctx


def _why(exc: Exception) -> str:
    """OpenSSL's reason when it gives one worth reading (a key that does not match), else nothing."""
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None)
    return f" ({reason.replace('_', ' ').lower()})" if reason and reason != "PEM lib" else ""


def tls_from_flags(tls: bool, verify: bool, cacert: str | None, cert: str | None, key: str | None) -> TLS | None:
    """dockerd's rules: ``--tlsverify`` implies ``--tls``; the files default to ``$DOCKER_CERT_PATH``
    (else ``~/.docker``) ``ca.pem``, ``cert.pem``, ``key.pem``; giving a file asks for TLS too."""
    if not (tls or verify or cacert or cert or key):
        return None
    base = os.environ.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
    return TLS(verify=verify, cacert=cacert or os.path.join(base, "ca.pem"),
               cert=cert or os.path.join(base, "cert.pem"), key=key or os.path.join(base, "key.pem"))


@dataclass
class Listener:
    """One ``-H`` address: ``unix://PATH``, ``tcp://HOST:PORT`` (TLS only) or ``fd://`` (systemd)."""
    address: str
    kind: str  # "unix" | "tcp" | "fd"
    path: str = ""
    host: str = ""
    port: int = 0
    lock_fd: int = -1
    socks: list[socket.socket] = field(default_factory=list)


def parse_host(host: str, tls: TLS | None) -> Listener:
    if host.startswith("unix://") or host.startswith("/"):
        path = host[len("unix://"):] if host.startswith("unix://") else host
        if not path.startswith("/"):
            raise DaemonError(f"{PROG}: {host}: the socket path must be absolute")
        return Listener(f"unix://{path}", "unix", path=path)
    if host.startswith("fd://"):
        return Listener(host, "fd")
    if host.startswith("tcp://") or (":" in host and "://" not in host):
        hostport = host[len("tcp://"):] if host.startswith("tcp://") else host
        name, _, port = hostport.rpartition(":")
        name = name.strip("[]") or "0.0.0.0"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise DaemonError(f"{PROG}: {host}: a tcp address needs a port (tcp://HOST:PORT)")
        if tls is None:
            raise DaemonError(f"{PROG}: {host}: plain tcp is refused (anyone who can reach it would control this "
                              f"host): add --tlsverify --tlscacert --tlscert --tlskey, or serve on a unix socket")
        return Listener(f"tcp://{hostport}", "tcp", host=name, port=int(port))
    raise DaemonError(f"{PROG}: {host}: not an address to listen on (unix:///path/to/portside.sock, "
                      f"tcp://HOST:PORT with TLS, or fd://)")


def socket_path(host: str) -> str:
    """The unix socket path of ``host`` (DaemonError for anything else)."""
    listener = parse_host(host, None)
    if listener.kind != "unix":
        raise DaemonError(f"{PROG}: {host}: not a unix socket address (unix:///path/to/portside.sock)")
    return listener.path


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


def lock(path: str, taken: str = "") -> int:
    """Hold ``path.lock`` for the daemon's life; DaemonError (``taken``, or the socket's line) when another
    daemon holds it."""
    from .server import CLOSE_IN_CHILD
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DaemonError(taken or f"{PROG}: another daemon is already serving unix://{path}") from None
    CLOSE_IN_CHILD.add(fd)  # a container's monitor, forked from here, must not keep the lock
    return fd


def listen(path: str) -> socket.socket:
    """A listening unix socket at ``path``, mode 0660, group ``portside`` (the caller holds its lock)."""
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


def listen_tcp(listener: Listener) -> list[socket.socket]:
    try:
        infos = socket.getaddrinfo(listener.host, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise DaemonError(f"{PROG}: {listener.address}: {exc.strerror}") from None
    socks = []
    for family, kind, proto, _name, addr in infos[:1]:
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as exc:
            sock.close()
            raise DaemonError(f"{PROG}: {listener.address}: {exc.strerror}") from None
        sock.listen(128)
        sock.setblocking(False)
        socks.append(sock)
    return socks


def systemd_sockets() -> list[socket.socket]:
    """The listening sockets systemd passed (``LISTEN_PID``/``LISTEN_FDS``), as ``fd://`` asks."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        raise DaemonError(f"{PROG}: fd://: no sockets were passed by systemd (start it from portside.socket)")
    n = int(os.environ.get("LISTEN_FDS") or 0)
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    socks = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + n):
        os.set_inheritable(fd, False)
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        socks.append(sock)
    if not socks:
        raise DaemonError(f"{PROG}: fd://: systemd passed no sockets")
    return socks


def check_pidfile(pidfile: str) -> None:
    """As dockerd: a pid file naming a live process stops the start; a stale one is replaced."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        return
    if pid > 0 and pid != os.getpid() and _alive(pid):
        raise DaemonError(f"{PROG}: pid file found, ensure portside is not running or delete {pidfile} "
                          f"(process {pid} is running)")


def _alive(pid: int) -> bool:
    """A live process (a zombie, whose parent has not reaped it yet, has no command line)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return bool(f.read(1))
    except OSError:
        return False


def write_pidfile(pidfile: str) -> None:
    tmp = pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, pidfile)


def open_log(path: str) -> IO[str]:
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        return open(path, "a", buffering=1)
    except OSError as exc:
        raise DaemonError(f"{PROG}: --log-file {path}: {exc.strerror}") from None


def serve(hosts: list[str] | None, pidfile: str | None, root: str | None, *, log_file: str | None = None,
          detach: bool = False, tls: TLS | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the exit code.

    With ``detach`` the process forks twice and returns once the sockets answer (or with the one
    line that says why the daemon could not start)."""
    try:
        listeners = [parse_host(h, tls) for h in (hosts or [DEFAULT_HOST])]
        if tls is not None:
            tls_ctx: ssl.SSLContext | None = tls.context()
        else:
            tls_ctx = None
    except DaemonError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    pidfile = DEFAULT_PIDFILE if pidfile is None else pidfile  # "" for none
    if detach:
        return _detach(listeners, pidfile, root, log_file or DEFAULT_LOG_FILE, tls_ctx)
    log = None
    try:
        if log_file:
            log = open_log(log_file)
            os.dup2(log.fileno(), 2)
    except DaemonError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    return _run(listeners, pidfile, root, tls_ctx, ready=Ready())


def _detach(listeners: list[Listener], pidfile: str, root: str | None, log_file: str,
            tls_ctx: ssl.SSLContext | None) -> int:
    """Double fork; the grandchild serves and says "ready" (or why not) on a pipe we wait on."""
    try:
        log = open_log(log_file)
    except DaemonError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    # the daemon works from "/": relative paths given here mean what they meant where it was started
    pidfile = os.path.abspath(pidfile) if pidfile else pidfile
    root = os.path.abspath(root) if root else root
    if os.environ.get("PORTSIDE_ROOT"):
        os.environ["PORTSIDE_ROOT"] = os.path.abspath(os.environ["PORTSIDE_ROOT"])
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the first child: a new session, then the daemon itself in a grandchild
        os.close(r)
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        os.chdir("/")
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        os.close(null)
        log.close()
        code = 1
        try:
            code = _run(listeners, pidfile, root, tls_ctx, ready=Ready(w))
        except BaseException:  # noqa: BLE001 - a bug: its traceback goes to the log before we exit
            import traceback
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(w)
    log.close()
    os.waitpid(pid, 0)
    said = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        said += chunk
    os.close(r)
    text = said.decode(errors="replace").strip()
    if text.startswith("ready"):
        return 0
    sys.stderr.write((text or f"{PROG}: the daemon exited before it served (see {log_file})") + "\n")
    return 1


class Ready:
    """The detached daemon's word to the process that started it: "ready", or the line saying why not.
    Said once; the pipe is closed then (a container's monitor, forked later, must not hold it)."""

    def __init__(self, fd: int = -1) -> None:
        self.fd = fd
        if fd >= 0:
            from .server import CLOSE_IN_CHILD
            CLOSE_IN_CHILD.add(fd)

    def say(self, text: str) -> None:
        if self.fd < 0:
            return
        from .server import CLOSE_IN_CHILD
        try:
            os.write(self.fd, text.encode())
        except OSError:
            pass
        CLOSE_IN_CHILD.discard(self.fd)
        os.close(self.fd)
        self.fd = -1


def _run(listeners: list[Listener], pidfile: str, root: str | None, tls_ctx: ssl.SSLContext | None,
         ready: Ready) -> int:
    made: list[str] = []  # the files to remove at the end
    root_lock = -1
    try:
        try:
            for ln in listeners:
                if ln.kind == "unix":
                    os.makedirs(os.path.dirname(ln.path), mode=0o755, exist_ok=True)
                    ln.lock_fd = lock(ln.path)
            root_lock = lock_root(root)  # one daemon per data root, as dockerd's: a second would share its state
            if pidfile:
                os.makedirs(os.path.dirname(pidfile) or ".", mode=0o755, exist_ok=True)
                check_pidfile(pidfile)
        except DaemonError as exc:
            _fail(ready, str(exc))
            return 1
        except OSError as exc:
            _fail(ready, f"{PROG}: {exc.filename or ''}: {exc.strerror}")
            return 1
        try:
            return asyncio.run(_main(listeners, pidfile, root, tls_ctx, ready, made))
        except (EngineError, DaemonError) as exc:
            text = str(exc) if isinstance(exc, DaemonError) else f"{PROG}: {exc}"
            _fail(ready, text)
            return 1
    finally:
        ready.say("")
        for p in made:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        if root_lock >= 0:
            os.close(root_lock)  # (the file stays: the data root's, not this run's)
        for ln in listeners:
            if ln.lock_fd >= 0:  # held: the lock file is ours to remove (nothing of the daemon is left)
                try:
                    os.unlink(ln.path + ".lock")
                except FileNotFoundError:
                    pass
                os.close(ln.lock_fd)


def lock_root(root: str | None) -> int:
    """Hold ``<root>/daemon.lock``; DaemonError naming the daemon that serves the data root already."""
    from ..config import default_root
    path = os.path.abspath(root or default_root())
    os.makedirs(path, mode=0o711, exist_ok=True)
    who = ""
    try:
        import json
        with open(os.path.join(path, SERVED)) as f:
            who = f" (pid {int(json.load(f)['Pid'])})"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return lock(os.path.join(path, "daemon"), f"{PROG}: another daemon{who} is already serving the data root {path}")


def _fail(ready: Ready, text: str) -> None:
    sys.stderr.write(f"{text}\n")
    sys.stderr.flush()
    ready.say(text)


async def _main(listeners: list[Listener], pidfile: str, root: str | None, tls_ctx: ssl.SSLContext | None,
                ready: Ready, made: list[str]) -> int:
    from ..engine import Engine
    from .routes import API
    from .server import Server
    engine = Engine(root, forkserver=True)  # monitors forked from one small warm template
    try:
        engine.system.recover()
        for ln in listeners:
            if ln.kind == "unix":
                ln.socks = [listen(ln.path)]
                made.append(ln.path)
            elif ln.kind == "tcp":
                ln.socks = listen_tcp(ln)
            else:
                ln.socks = systemd_sockets()
        if pidfile:
            write_pidfile(pidfile)
            made.append(pidfile)
        served = [ln.path for ln in listeners if ln.kind == "unix"]
        if served:  # the data root says who serves it: a front end goes there, not to a second daemon
            made.append(write_served(engine.paths.root, served))
        server = Server(API(engine).handle)
        tasks: list[asyncio.Task[Any]] = []
        for ln in listeners:
            for sock in ln.socks:
                tls = tls_ctx if ln.kind == "tcp" or sock.family != socket.AF_UNIX else None
                if tls is None and sock.family != socket.AF_UNIX:
                    raise DaemonError(f"{PROG}: {ln.address}: systemd passed a tcp socket: plain tcp is refused "
                                      f"(add --tlsverify --tlscacert --tlscert --tlskey)")
                tasks.append(asyncio.create_task(server.serve(sock, tls)))
        # the swarm's reconciler runs here only (never in an embedded engine): it adopts the tasks a previous
        # daemon left and keeps the services converged; idle (a wait) while the node is not in a swarm
        tasks.append(asyncio.create_task(engine.swarm.run(), name="reconciler"))
        await asyncio.sleep(0)  # the servers are listening once their first step ran
        stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_signal() -> None:
            if not stop.done():
                stop.set_result(None)
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, on_signal)
        addresses = ", ".join(ln.address for ln in listeners)
        sys.stderr.write(f"{PROG}: API listening on {addresses} (pid {os.getpid()})\n")
        sys.stderr.flush()
        ready.say("ready")
        notify("READY=1")
        await asyncio.wait([stop, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception() is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if failed:  # a listener died (not a signal): the daemon stops with its reason
            raise failed[0]  # type: ignore[misc]
        sys.stderr.write(f"{PROG}: stopped (containers keep running)\n")
        return 0
    finally:
        engine.close()


SERVED = "daemon.json"  # in the data root: {"Pid", "Sockets"} of the daemon serving it (engine.client.contexts)


def write_served(root: str, sockets: list[str]) -> str:
    import json
    path = os.path.join(root, SERVED)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump({"Pid": os.getpid(), "Sockets": sockets}, f)
    os.replace(tmp, path)
    return path


def notify(state: str) -> None:
    """sd_notify(3) for ``Type=notify`` units: one datagram to ``$NOTIFY_SOCKET``."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(addr)
        s.send(state.encode())
    except OSError:
        pass
    finally:
        s.close()
