"""Where the client connects, chosen as the docker CLI chooses, and docker's context store.

The order (the first that says something wins)::

    --context/-c NAME         a context in docker's store ("default": the choice below -H)
    -H/--host ADDRESS         unix:///path, tcp://host[:port] (TLS from --tls* / DOCKER_TLS_VERIFY)
    --root / PORTSIDE_ROOT    the embedded engine over that data root
    DOCKER_HOST               as -H
    DOCKER_CONTEXT            as --context
    currentContext            in docker's config.json ($DOCKER_CONFIG, else ~/.docker)
    (nothing)                 ``portside daemon`` on unix:///run/portside/portside.sock when it
                              answers, else the embedded engine

Where the choice is the embedded engine and its data root's swarm is active, the daemon that serves
that root is used instead (started when it does not answer): a swarm's reconciler lives there.

The store is docker's own, read and written as the docker CLI does:
``<config>/contexts/meta/<sha256(name)>/meta.json`` and ``<config>/contexts/tls/<sha256(name)>/docker/``
(``ca.pem``, ``cert.pem``, ``key.pem``). The HTTP transport and :mod:`ssl` are imported only when a
socket endpoint is chosen: the embedded path pays for neither.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the blocks)
if TYPE_CHECKING:
    from typing import Any

from ..errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    import ssl

    from .transport import Transport

PORTSIDE_SOCKET = "/run/portside/portside.sock"  # where `portside daemon` serves by default
DEFAULT_TCP_PORT = 2375
DEFAULT_TLS_PORT = 2376
DEFAULT_DESCRIPTION = "Current DOCKER_HOST based configuration"
NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


class ContextError(InvalidArgument):
    """A context or endpoint the user named that cannot be used; the CLI prints it as one line."""


def config_dir(env: Mapping[str, str] | None = None) -> str:
    """docker's client config folder: ``$DOCKER_CONFIG``, else ``~/.docker``."""
    env = os.environ if env is None else env
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


# -- TLS ----------------------------------------------------------------------------------------------
class TLSOptions:
    """docker's ``--tls``, ``--tlsverify``, ``--tlscacert``, ``--tlscert``, ``--tlskey`` (files may be None).

    (Plain classes here, not dataclasses: importing :mod:`dataclasses` costs the embedded CLI ~7 ms.)"""

    def __init__(self, verify: bool = True, cacert: str | None = None, cert: str | None = None,
                 key: str | None = None) -> None:
        self.verify, self.cacert, self.cert, self.key = verify, cacert, cert, key

    def context(self) -> ssl.SSLContext:
        """An SSL context as docker's client builds one (TLS 1.2 at least; the CA only when verifying)."""
        import ssl
        try:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.cacert if self.verify else None)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if not self.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if self.cert or self.key:
                if not (self.cert and self.key):
                    raise ContextError("TLS: a client certificate needs both --tlscert and --tlskey")
                ctx.load_cert_chain(self.cert, self.key)
        except ssl.SSLError as exc:
            raise ContextError(f"TLS: cannot load the certificates: {exc.reason or exc}") from None
        except OSError as exc:
            raise ContextError(f"TLS: {exc.filename or ''}: {exc.strerror}") from None
        return ctx


def tls_options(*, tls: bool = False, tlsverify: bool | None = None, tlscacert: str | None = None,
                tlscert: str | None = None, tlskey: str | None = None,
                env: Mapping[str, str] | None = None) -> TLSOptions | None:
    """The TLS the flags and the environment ask for, as docker's CLI reads them; None: no TLS.

    ``--tlsverify`` (or a non-empty ``DOCKER_TLS_VERIFY``) turns TLS on and verifies the server;
    ``--tls`` alone encrypts without verifying. Files default to ``$DOCKER_CERT_PATH`` (else the
    config folder) ``/ca.pem``, ``/cert.pem``, ``/key.pem``; a default client cert or key that does not
    exist is left out, as docker does."""
    env = os.environ if env is None else env
    verify = bool(env.get("DOCKER_TLS_VERIFY")) if tlsverify is None else tlsverify
    if not (tls or verify):
        return None
    certs = env.get("DOCKER_CERT_PATH") or config_dir(env)

    def pick(given: str | None, name: str) -> str | None:
        if given:
            return os.path.expanduser(given)
        path = os.path.join(certs, name)
        return path if os.path.exists(path) else None
    return TLSOptions(verify=verify, cacert=pick(tlscacert, "ca.pem"), cert=pick(tlscert, "cert.pem"),
                      key=pick(tlskey, "key.pem"))


# -- addresses ----------------------------------------------------------------------------------------
def parse_host(host: str, tls: bool = False) -> tuple[str, str, int]:
    """``("unix", path, 0)`` or ``("tcp", host, port)`` for a docker host address, as docker parses it
    (no scheme: tcp; tcp without a port: 2375, or 2376 with TLS)."""
    text = host.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "tcp", text
    scheme = scheme.lower()
    if scheme == "unix":
        if not rest.startswith("/"):
            raise ContextError(f"unable to parse docker host `{host}`: a unix socket path must be absolute")
        return "unix", rest, 0
    if scheme in ("tcp", "http", "https"):
        netloc = rest.split("/", 1)[0]
        if netloc.startswith("["):
            name, _, port_text = netloc[1:].partition("]")
            port_text = port_text.lstrip(":")
        else:
            name, _, port_text = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
        if not port_text:
            port_text = str(DEFAULT_TLS_PORT if tls or scheme == "https" else DEFAULT_TCP_PORT)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ContextError(f"unable to parse docker host `{host}`: invalid port {port_text!r}")
        return "tcp", name or "127.0.0.1", int(port_text)
    raise ContextError(f"unable to parse docker host `{host}`: Portside connects to unix:// and tcp:// "
                       f"addresses (not {scheme}://)")


# -- the context store --------------------------------------------------------------------------------
class Context:
    """One docker context: a name, a description and the docker endpoint (host, TLS).

    ``tls_files`` maps "ca.pem", "cert.pem", "key.pem" to their paths, for those present."""

    def __init__(self, name: str, host: str, description: str = "", *, skip_tls_verify: bool = False,
                 tls_files: dict[str, str] | None = None, meta_path: str = "<IN MEMORY>",
                 tls_path: str = "<IN MEMORY>", metadata: dict[str, Any] | None = None, error: str = "") -> None:
        self.name, self.host, self.description = name, host, description
        self.skip_tls_verify = skip_tls_verify
        self.tls_files = tls_files or {}
        self.meta_path, self.tls_path = meta_path, tls_path
        self.metadata = metadata or {}
        self.error = error

    def tls(self) -> TLSOptions | None:
        """The TLS this context's endpoint asks for (its own files; none → plain, unless told to skip)."""
        if not self.tls_files and not self.skip_tls_verify:
            return None
        return TLSOptions(verify=not self.skip_tls_verify, cacert=self.tls_files.get("ca.pem"),
                          cert=self.tls_files.get("cert.pem"), key=self.tls_files.get("key.pem"))

    def inspect(self) -> dict[str, Any]:
        """The shape of ``docker context inspect``."""
        return {"Name": self.name, "Metadata": self.metadata,
                "Endpoints": {"docker": {"Host": self.host, "SkipTLSVerify": self.skip_tls_verify}},
                "TLSMaterial": {"docker": sorted(self.tls_files)} if self.tls_files else {},
                "Storage": {"MetadataPath": self.meta_path, "TLSPath": self.tls_path}}


def _digest(name: str) -> str:
    import hashlib
    return hashlib.sha256(name.encode()).hexdigest()


class ContextStore:
    """docker's context store under a client config folder, and config.json's ``currentContext``."""

    def __init__(self, directory: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.env = os.environ if env is None else env
        self.dir = directory or config_dir(self.env)
        self.meta_root = os.path.join(self.dir, "contexts", "meta")
        self.tls_root = os.path.join(self.dir, "contexts", "tls")

    # config.json
    def _config(self) -> dict[str, Any]:
        path = os.path.join(self.dir, "config.json")
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ContextError(f"cannot read {path}: {exc}") from None
        return doc if isinstance(doc, dict) else {}

    def current(self) -> str:
        """config.json's ``currentContext`` ("" when unset)."""
        value = self._config().get("currentContext")
        return value if isinstance(value, str) else ""

    def set_current(self, name: str) -> None:
        """Write ``currentContext`` (removed for "default"), keeping the rest of config.json."""
        doc = self._config()
        if name == "default":
            doc.pop("currentContext", None)
        else:
            doc["currentContext"] = name
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        path = os.path.join(self.dir, "config.json")
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent="\t")
        os.replace(tmp, path)

    # contexts
    def names(self) -> list[str]:
        try:
            entries = os.listdir(self.meta_root)
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            try:
                with open(os.path.join(self.meta_root, entry, "meta.json"), encoding="utf-8") as f:
                    name = json.load(f).get("Name")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(name, str):
                names.append(name)
        return sorted(names)

    def get(self, name: str) -> Context:
        digest = _digest(name)
        meta_dir = os.path.join(self.meta_root, digest)
        path = os.path.join(meta_dir, "meta.json")
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            raise NotFound(f'context "{name}": context not found: open {path}: no such file or directory') from None
        except (OSError, ValueError) as exc:
            raise ContextError(f'context "{name}": cannot read {path}: {exc}') from None
        endpoint = ((doc.get("Endpoints") or {}).get("docker") or {}) if isinstance(doc, dict) else {}
        metadata = doc.get("Metadata") or {} if isinstance(doc, dict) else {}
        tls_dir = os.path.join(self.tls_root, digest)
        files = {n: os.path.join(tls_dir, "docker", n) for n in TLS_FILES
                 if os.path.exists(os.path.join(tls_dir, "docker", n))}
        return Context(name=name, host=str(endpoint.get("Host") or ""),
                       description=str(metadata.get("Description") or "") if isinstance(metadata, dict) else "",
                       skip_tls_verify=bool(endpoint.get("SkipTLSVerify")), tls_files=files,
                       meta_path=meta_dir, tls_path=tls_dir, metadata=metadata if isinstance(metadata, dict) else {})

    def exists(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.meta_root, _digest(name), "meta.json"))

    def create(self, name: str, host: str, *, description: str = "", skip_tls_verify: bool = False,
               ca: str | None = None, cert: str | None = None, key: str | None = None) -> Context:
        """A new context, written as ``docker context create`` writes it (TLS files copied in)."""
        if not re.match(NAME_PATTERN, name) or name == "default":
            if name == "default":
                raise ContextError('"default" is a reserved context name')
            raise ContextError(f'context name "{name}" is invalid, names are validated against regexp '
                               f'"{NAME_PATTERN}"')
        if self.exists(name):
            raise ContextError(f'context "{name}" already exists')
        parse_host(host, tls=bool(ca or cert or key))
        material: dict[str, bytes] = {}
        for fname, src in (("ca.pem", ca), ("cert.pem", cert), ("key.pem", key)):
            if src:
                try:
                    with open(os.path.expanduser(src), "rb") as f:
                        material[fname] = f.read()
                except OSError as exc:
                    raise ContextError(f"{src}: {exc.strerror}") from None
        digest = _digest(name)
        meta_dir = os.path.join(self.meta_root, digest)
        os.makedirs(meta_dir, mode=0o755, exist_ok=True)
        doc = {"Name": name, "Metadata": {"Description": description} if description else {},
               "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}}}
        with open(os.path.join(meta_dir, "meta.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, separators=(",", ":"))
        if material:
            tls_dir = os.path.join(self.tls_root, digest, "docker")
            os.makedirs(tls_dir, mode=0o700, exist_ok=True)
            for fname, data in material.items():
                fd = os.open(os.path.join(tls_dir, fname), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
        return self.get(name)

    def remove(self, name: str) -> None:
        import shutil
        if name == "default":
            raise ContextError('context "default" cannot be removed')
        if not self.exists(name):
            self.get(name)  # raises docker's "context not found"
        digest = _digest(name)
        shutil.rmtree(os.path.join(self.meta_root, digest), ignore_errors=True)
        shutil.rmtree(os.path.join(self.tls_root, digest), ignore_errors=True)


# -- the choice ---------------------------------------------------------------------------------------
class Endpoint:
    """What the choice came to: a host address (unix://… or tcp://…) or the embedded engine over a data
    root. ``context`` names the context ("default" for -H, DOCKER_HOST and Portside's default)."""

    def __init__(self, context: str, host: str | None = None, tls: TLSOptions | None = None, *,
                 embedded: bool = False, root: str | None = None) -> None:
        self.context, self.host, self.tls, self.embedded, self.root = context, host, tls, embedded, root


def portside_socket_answers(path: str | None = None) -> bool:
    """Does a ``portside daemon`` listen on ``path`` (default: its default socket)? A connect (1 s at
    most), nothing sent."""
    path = path or PORTSIDE_SOCKET
    if not os.path.exists(path):
        return False
    from .sockets import open_unix
    try:
        open_unix(path, timeout=1.0).close()
    except OSError:
        return False
    return True


def current_context_name(*, context: str | None = None, host: str | None = None,
                         env: Mapping[str, str] | None = None, store: ContextStore | None = None) -> str:
    """The context docker would use for these flags and this environment."""
    env = os.environ if env is None else env
    if context:
        return context
    if host or env.get("DOCKER_HOST"):
        return "default"
    if env.get("DOCKER_CONTEXT"):
        return env["DOCKER_CONTEXT"]
    return (store or ContextStore(env=env)).current() or "default"


def default_context(env: Mapping[str, str] | None = None, *, probe: bool = True, root: str | None = None) -> Context:
    """The "default" context, where the commands go when no context is chosen: ``DOCKER_HOST``; else,
    for a data root given (``root``, ``PORTSIDE_ROOT``), that root's engine; else Portside's daemon
    socket when it answers (``probe=False``: unasked); else the default root's engine. A root's engine is
    embedded, or the daemon serving it while its swarm is active (as :func:`local_endpoint` chooses)."""
    env = os.environ if env is None else env
    host = env.get("DOCKER_HOST")
    root = root or env.get("PORTSIDE_ROOT") or None
    if not host and not root and (not probe or portside_socket_answers()):
        host = f"unix://{PORTSIDE_SOCKET}"
    if not host:
        from ..config import default_root
        if swarm_active(root):
            host = f"unix://{daemon_files(root)[0]}"
        else:
            host = f"embedded ({os.path.abspath(root) if root else default_root()})"
    return Context(name="default", host=host, description=DEFAULT_DESCRIPTION)


def resolve(*, host: str | None = None, context: str | None = None, root: str | None = None,
            tls: TLSOptions | None = None, env: Mapping[str, str] | None = None, daemon: bool = False) -> Endpoint:
    """The endpoint for these flags and this environment (see the module's docstring for the order).

    ``tls`` is what the ``--tls*`` flags and ``DOCKER_TLS_VERIFY`` ask for (:func:`tls_options`); it
    applies to -H and DOCKER_HOST, as docker's does; a named context carries its own. ``daemon``: where
    the choice is this host's own engine, a daemon serves it (``swarm init`` needs one)."""
    env = os.environ if env is None else env
    if host and context:
        raise ContextError("conflicting options: cannot specify both --host and --context")
    if root and (host or context):
        raise ContextError("conflicting options: --root is the embedded engine's data root; it cannot be "
                           "used with --host or --context")
    if context is None and host is None and root:
        return local_endpoint(root, daemon)
    if context is None and host is None and env.get("PORTSIDE_ROOT"):
        return local_endpoint(env["PORTSIDE_ROOT"], daemon)
    store = ContextStore(env=env)
    if context is None and host is None and not env.get("DOCKER_HOST"):
        name = env.get("DOCKER_CONTEXT") or ""
        if not name:
            name = store.current()
            if name and name != "default" and not store.exists(name):
                raise ContextError(f'current context "{name}" is not found on the file system, please check '
                                   f'your config file at {os.path.join(store.dir, "config.json")}')
        context = name or None
    if context and context != "default":
        try:
            ctx = store.get(context)
        except NotFound as exc:
            raise ContextError(str(exc)) from None
        if not ctx.host:
            raise ContextError(f'context "{context}" has no docker endpoint')
        return Endpoint(context, host=ctx.host, tls=ctx.tls())
    address = host or env.get("DOCKER_HOST")
    if address:
        return Endpoint("default", host=address, tls=tls)
    if portside_socket_answers():
        return Endpoint("default", host=f"unix://{PORTSIDE_SOCKET}")
    return local_endpoint(None, daemon)


# -- the daemon a swarm needs -------------------------------------------------------------------------
# A swarm's manager is ``portside daemon``: its reconciler keeps the services at their desired state, so
# a data root whose swarm is active is served by a daemon, started by whichever front end finds none.
# The data root says so with its ``swarm`` folder (made by ``swarm init``, removed by ``swarm leave``):
# one stat, so the embedded path pays nothing for it.
DAEMON_DIR = "/run/portside"


def swarm_active(root: str | None = None) -> bool:
    from ..config import default_root
    return os.path.isdir(os.path.join(os.path.abspath(root) if root else default_root(), "swarm"))


def daemon_files(root: str | None = None) -> tuple[str, str]:
    """(socket, pid file) of the daemon that serves a data root: ``portside daemon``'s defaults for the
    default root, a pair of its own (named after the root's path) in /run/portside for any other."""
    from ..config import default_root
    path = os.path.abspath(root) if root else default_root()
    if not root or path == "/var/lib/portside":
        return PORTSIDE_SOCKET, os.path.join(DAEMON_DIR, "portside.pid")
    name = "root-" + _digest(path)[:16]
    return os.path.join(DAEMON_DIR, f"{name}.sock"), os.path.join(DAEMON_DIR, f"{name}.pid")


def serving_daemon(root: str | None = None) -> str | None:
    """The socket of a live daemon that serves this data root, as the root's ``daemon.json`` says (written by
    ``portside daemon`` however it was started, removed as it stops); None when none does."""
    from ..config import default_root
    path = os.path.join(os.path.abspath(root) if root else default_root(), "daemon.json")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        pid, sockets = int(doc["Pid"]), [str(s) for s in doc["Sockets"]]
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for sock in sockets:
        if portside_socket_answers(sock):
            return sock
    return None


def local_endpoint(root: str | None, daemon: bool = False) -> Endpoint:
    """The embedded engine over ``root``, or — when its swarm is active, or ``daemon`` asks for it — the
    daemon that serves that root (its own, whatever its socket; else one started for it)."""
    if not daemon and not swarm_active(root):
        return Endpoint("default", embedded=True, root=root)
    return Endpoint("default", host=f"unix://{serving_daemon(root) or start_daemon(root)}")


_SPAWN = ("import sys\nfrom engine.api.daemon import serve\n"
          "sys.exit(serve([sys.argv[1]], sys.argv[2], sys.argv[3] or None, log_file=sys.argv[4], detach=True))")


def start_daemon(root: str | None = None, timeout: float = 120.0) -> str:
    """Start ``portside daemon -d`` for a data root unless it answers already; its socket's path.

    Two front ends that ask at once start one daemon: the second waits on the first's lock (the data
    root's folder, flock'ed) and then finds it answering. Raises Unavailable with the daemon's own line."""
    import fcntl
    import subprocess
    import sys

    from ..config import default_root
    from ..errors import Unavailable
    sock, pidfile = daemon_files(root)
    if portside_socket_answers(sock):
        return sock
    path = os.path.abspath(root) if root else default_root()
    os.makedirs(path, mode=0o711, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if portside_socket_answers(sock):
            return sock
        other = serving_daemon(root)
        if other:  # another front end, or the user, started one meanwhile
            return other
        log = "/var/log/portside/daemon.log" if sock == PORTSIDE_SOCKET else os.path.join(path, "daemon.log")
        env = {k: v for k, v in os.environ.items() if k != "PORTSIDE_ROOT"}
        try:
            done = subprocess.run([sys.executable, "-c", _SPAWN, f"unix://{sock}", pidfile, path, log], env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"cannot start the Portside daemon for {path}: {exc}") from None
        if done.returncode != 0 and not portside_socket_answers(sock):
            why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise Unavailable(f"cannot start the Portside daemon for {path}: {why}")
        pid = _pid_in(pidfile)
        if pid:  # started for the swarm: `swarm leave` stops it again (the host as before `swarm init`)
            with open(os.path.join(path, STARTED), "w") as f:
                f.write(f"{pid}\n")
        return sock
    finally:
        os.close(fd)


STARTED = "daemon.started"  # in the data root: the pid of the daemon a front end started for its swarm


def _pid_in(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def stop_started_daemon(root: str | None = None, timeout: float = 30.0) -> bool:
    """Stop the daemon :func:`start_daemon` started for this data root (not one its user started);
    True if one was stopped. Its pid is checked against the daemon's pid file before it is signalled."""
    import signal
    import time

    from ..config import default_root
    path = os.path.abspath(root) if root else default_root()
    sock, pidfile = daemon_files(root)
    marker = os.path.join(path, STARTED)
    pid = _pid_in(marker)
    if not pid or pid != _pid_in(pidfile):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    end = time.monotonic() + timeout
    while time.monotonic() < end and _pid_in(pidfile) == pid:
        time.sleep(0.05)  # the daemon removes its pid file and socket as it exits
    for leftover in (marker, sock + ".lock"):
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass
    return True


def transport_for(endpoint: Endpoint) -> Transport:
    """The (unopened) transport for an endpoint; the HTTP one is imported only here."""
    if endpoint.embedded or endpoint.host is None:
        from .transport import LocalTransport
        return LocalTransport(endpoint.root)
    kind, name, port = parse_host(endpoint.host, tls=endpoint.tls is not None)
    if kind == "unix":
        from .http import UnixTransport
        return UnixTransport(name)
    from .http import TcpTransport
    return TcpTransport(name, port, endpoint.tls.context() if endpoint.tls is not None else None)


def connect(host: str | None = None, context: str | None = None, root: str | None = None, *,
            tls: TLSOptions | None = None, env: Mapping[str, str] | None = None, daemon: bool = False) -> Transport:
    """The transport docker's rules choose (unopened): both front ends call this.

    Raises ContextError (one line) for conflicting flags, an unknown context or a malformed address."""
    return transport_for(resolve(host=host, context=context, root=root, tls=tls, env=env, daemon=daemon))
