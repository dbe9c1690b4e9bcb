"""The native OCI executor: runs an OCI runtime-spec ``config.json`` dict without runc.

Process model (the caller is the engine; no helper process, no double fork)::

    engine thread ── unshare(CLONE_NEWPID) on *this thread only* (pid_for_children)
                 ── os.fork() ──────────────► init (pid 1 in the new pid namespace)
                 ── setns back to its own pid namespace         │ joins the cgroup, unshares the
                 ── reads the CLOEXEC error pipe until EOF       │ other namespaces, mounts,
                                                                │ pivot_root, hostname, rlimits,
                                                                │ tty, caps/user, seccomp, execve

:func:`start` returns the init's host pid, which is a **direct child of the calling process**, so
``os.waitpid(pid, 0)`` returns the container's exit status (``WIFSIGNALED``/``WTERMSIG`` 9 for an
OOM kill). Same for :func:`exec_process`. The caller *should* still mark itself a child subreaper
(``linux.set_child_subreaper()``) so that anything orphaned outside a container pid namespace (a
spec without a pid namespace) is reaped by the engine rather than by the host's pid 1; it is not
required for waiting on the returned pids.

Errors before ``execve`` reach the caller through the error pipe as one JSON line and are raised
by :func:`start` / :func:`exec_process`: :class:`CommandNotFound` (127), :class:`ContainerCannotRun`
(126), :class:`KernelFeatureMissing` or :class:`EngineError` naming the failing step. When they
raise, the child has been reaped (its pid namespace dies with it).

The setup code runs in the forked child before ``execve``; everything it needs (modules, the
compiled seccomp BPF, parsed mount options) is prepared in the parent first.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import stat
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypedDict

from engine.errors import CommandNotFound, ContainerCannotRun, EngineError, KernelFeatureMissing
from engine.runtime import linux

if TYPE_CHECKING:
    from engine.runtime.cgroups import Cgroup

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# (name, type, major, minor) — runc's default devices, created when /dev is a tmpfs from the spec
DEFAULT_DEVICES = [
    ("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0),
]
DEV_SYMLINKS = [
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
]

_MOUNT_FLAGS = {
    # option: (clear?, flag)
    "async": (True, linux.MS_SYNCHRONOUS), "atime": (True, linux.MS_NOATIME),
    "bind": (False, linux.MS_BIND), "defaults": (False, 0), "dev": (True, linux.MS_NODEV),
    "diratime": (True, linux.MS_NODIRATIME), "dirsync": (False, linux.MS_DIRSYNC),
    "exec": (True, linux.MS_NOEXEC), "mand": (False, linux.MS_MANDLOCK),
    "noatime": (False, linux.MS_NOATIME), "nodev": (False, linux.MS_NODEV),
    "nodiratime": (False, linux.MS_NODIRATIME), "noexec": (False, linux.MS_NOEXEC),
    "nomand": (True, linux.MS_MANDLOCK), "norelatime": (True, linux.MS_RELATIME),
    "nostrictatime": (True, linux.MS_STRICTATIME), "nosuid": (False, linux.MS_NOSUID),
    "rbind": (False, linux.MS_BIND | linux.MS_REC), "relatime": (False, linux.MS_RELATIME),
    "remount": (False, linux.MS_REMOUNT), "ro": (False, linux.MS_RDONLY), "rw": (True, linux.MS_RDONLY),
    "strictatime": (False, linux.MS_STRICTATIME), "suid": (True, linux.MS_NOSUID),
    "sync": (False, linux.MS_SYNCHRONOUS), "nosymfollow": (False, linux.MS_NOSYMFOLLOW),
}
_PROPAGATION = {
    "private": linux.MS_PRIVATE, "rprivate": linux.MS_PRIVATE | linux.MS_REC,
    "shared": linux.MS_SHARED, "rshared": linux.MS_SHARED | linux.MS_REC,
    "slave": linux.MS_SLAVE, "rslave": linux.MS_SLAVE | linux.MS_REC,
    "unbindable": linux.MS_UNBINDABLE, "runbindable": linux.MS_UNBINDABLE | linux.MS_REC,
}
# statvfs f_flag bits that must be kept on a bind remount (they are locked in user namespaces)
_LOCKED = ((1024, linux.MS_NOATIME), (2048, linux.MS_NODIRATIME), (2, linux.MS_NOSUID),
           (4, linux.MS_NODEV), (8, linux.MS_NOEXEC))


# ---------------------------------------------------------------------------------------------
# what the parent prepares for the child (an OCI spec itself is a JSON document: dict[str, Any])
# ---------------------------------------------------------------------------------------------
Rlimit = tuple[str, int, int, int]  # (name, RLIMIT_* number, soft, hard)
Device = tuple[str, str, int, int, int, int, int]  # (path, type, major, minor, mode, uid, gid)
NamespaceJoin = tuple[str, int, str]  # (kind, CLONE_* flag, path)


class PreparedProcess(TypedDict):
    args: list[str]
    env: dict[str, str]
    cwd: str
    terminal: bool
    uid: int
    gid: int
    groups: list[int]
    umask: int | None
    rlimits: list[Rlimit]
    caps: dict[str, list[str]] | None  # bounding, effective, permitted, inheritable, ambient
    nnp: bool
    oom: int | None
    bpf: bytes | None


class PreparedMount(TypedDict):
    dest: str
    type: str
    source: str
    flags: int
    prop: int
    data: str
    bind: bool


class Plan(TypedDict):
    rootfs: str
    readonly: bool
    new_flags: int
    join: list[NamespaceJoin]
    pidns: str | None
    mounts: list[PreparedMount]
    devices: list[Device]
    dev_tmpfs: bool
    has_pts: bool
    propagation: int
    masked: list[str]
    readonly_paths: list[str]
    hostname: str | None
    domainname: str | None
    sysctl: dict[str, str]
    cgroup_mode: str | None
    process: PreparedProcess


# ---------------------------------------------------------------------------------------------
# errors crossing the fork
# ---------------------------------------------------------------------------------------------
class _ChildError(Exception):
    def __init__(self, kind: str, message: str, step: str = "", err: int = 0) -> None:
        super().__init__(message)
        self.kind, self.message, self.step, self.err = kind, message, step, err


def _strerror(err: int) -> str:
    text = os.strerror(err)
    return text[:1].lower() + text[1:]


class _Step:
    """``with _Step("mount proc to /proc"):`` turns any failure into a _ChildError naming the step."""

    __slots__ = ("name", "feature_errnos")

    def __init__(self, name: str, feature_errnos: tuple[int, ...] = (errno.ENOSYS, errno.ENODEV)) -> None:
        self.name = name
        self.feature_errnos = feature_errnos

    def __enter__(self) -> _Step:
        return self

    def __exit__(self, etype: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if exc is None or isinstance(exc, _ChildError):
            return False
        if isinstance(exc, OSError) and exc.errno:
            kind = "feature" if exc.errno in self.feature_errnos else "error"
            raise _ChildError(kind, f"{self.name}: {_strerror(exc.errno)}", self.name, exc.errno)
        raise _ChildError("error", f"{self.name}: {exc}", self.name)


def _report(fd: int, kind: str, message: str, step: str = "", err: int = 0) -> None:
    data = (json.dumps({"kind": kind, "message": message, "step": step, "errno": err}) + "\n").encode()
    try:
        os.write(fd, data)
    except OSError:
        pass


def _child_run(errfd: int, fn: Callable[..., None], *args: Any) -> NoReturn:
    """Run ``fn`` (which ends in execve) in a forked child; never returns."""
    try:
        fn(errfd, *args)
        _report(errfd, "error", "init: returned without exec")
    except _ChildError as e:
        _report(errfd, e.kind, e.message, e.step, e.err)
    except OSError as e:
        _report(errfd, "error", f"init: {_strerror(e.errno) if e.errno else e}", "init", e.errno or 0)
    except BaseException as e:  # noqa: BLE001 - everything must cross the pipe
        _report(errfd, "error", f"init: {type(e).__name__}: {e}", "init")
    finally:
        os._exit(1)


def _wait_error(pid: int, rfd: int) -> None:
    """Parent side: read the error pipe until EOF (= exec happened); on error reap and raise."""
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(rfd, 65536)
            except InterruptedError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(rfd)
    if not chunks:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            break
    raw = b"".join(chunks).decode(errors="replace").strip().splitlines()[0]
    try:
        msg = json.loads(raw)
    except ValueError:
        raise EngineError(f"container init failed: {raw}") from None
    kind, text, step = msg.get("kind"), msg.get("message", "unknown error"), msg.get("step", "")
    ctx = {"step": step, "errno": msg.get("errno", 0)}
    if kind == "notfound":
        raise CommandNotFound(text, **ctx)
    if kind == "cannotrun":
        raise ContainerCannotRun(text, **ctx)
    if kind == "feature":
        raise KernelFeatureMissing(text, **ctx)
    raise EngineError(text, **ctx)


# ---------------------------------------------------------------------------------------------
# parent-side preparation
# ---------------------------------------------------------------------------------------------
def _parse_options(options: Iterable[str] | None) -> tuple[int, int, str]:
    flags, prop, data = 0, 0, []
    for opt in options or ():
        if opt in _MOUNT_FLAGS:
            clear, flag = _MOUNT_FLAGS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in _PROPAGATION:
            prop |= _PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, prop, ",".join(data)


def _prepare_process(process: dict[str, Any], seccomp_profile: dict[str, Any] | None,
                     annotations: dict[str, str] | None = None) -> PreparedProcess:
    args = list(process.get("args") or [])
    if not args:
        raise EngineError("process.args must not be empty")
    env: dict[str, str] = {}
    for item in process.get("env") or ():
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    user = process.get("user") or {}
    rlimits: list[Rlimit] = []
    if process.get("rlimits"):
        import resource

        for rl in process["rlimits"]:
            name = rl.get("type", "")
            number = getattr(resource, name, None)
            if not name.startswith("RLIMIT_") or number is None:
                raise EngineError(f"unknown rlimit {name!r}")
            rlimits.append((name, number, int(rl.get("soft", 0)), int(rl.get("hard", 0))))
    caps = process.get("capabilities")
    capsets = None
    if caps is not None:
        try:
            capsets = {k: list(caps.get(k) or [])
                       for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
            for names in capsets.values():
                linux.cap_numbers(names)
        except ValueError as exc:
            raise EngineError(f"capabilities: {exc}") from None
    bpf = None
    if seccomp_profile:
        from engine.runtime import seccomp

        bpf = seccomp.compile_profile(seccomp_profile, (annotations or {}).get(seccomp.CACHE_ANNOTATION))
    return {
        "args": args, "env": env, "cwd": process.get("cwd") or "/",
        "terminal": bool(process.get("terminal")),
        "uid": int(user.get("uid", 0)), "gid": int(user.get("gid", 0)),
        "groups": [int(g) for g in user.get("additionalGids") or ()],
        "umask": user.get("umask"),
        "rlimits": rlimits, "caps": capsets, "nnp": bool(process.get("noNewPrivileges")),
        "oom": process.get("oomScoreAdj"), "bpf": bpf,
    }


def _prepare(spec: dict[str, Any], bundle: str) -> Plan:
    linux_spec = spec.get("linux") or {}
    root = spec.get("root") or {}
    rootfs = root.get("path") or "rootfs"
    if not os.path.isabs(rootfs):
        rootfs = os.path.join(bundle, rootfs)
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise EngineError(f"rootfs {rootfs} is not a directory")
    new_flags, pidns = 0, None
    join: list[NamespaceJoin] = []
    for ns in linux_spec.get("namespaces") or ():
        kind = ns.get("type")
        if kind not in linux.NAMESPACES:
            raise EngineError(f"unknown namespace type {kind!r}")
        if kind in ("user", "time"):
            raise KernelFeatureMissing(f"{kind} namespaces are not supported by the native executor")
        flag = linux.NAMESPACES[kind][0]
        if kind == "pid":
            pidns = ns.get("path") or "new"
        elif ns.get("path"):
            join.append((kind, flag, ns["path"]))
        else:
            new_flags |= flag
    # setns order: mount last (paths must still resolve on the host)
    join.sort(key=lambda j: j[0] == "mount")
    mounts: list[PreparedMount] = []
    for m in spec.get("mounts") or ():
        dest = m.get("destination")
        if not dest or not dest.startswith("/"):
            raise EngineError(f"mount destination {dest!r} must be absolute")
        flags, prop, data = _parse_options(m.get("options"))
        mtype = m.get("type") or ""
        source = m.get("source") or ""
        is_bind = bool(flags & linux.MS_BIND) or mtype == "bind"
        if is_bind:
            flags |= linux.MS_BIND
            if source and not os.path.isabs(source):
                source = os.path.join(bundle, source)
        mounts.append({"dest": dest, "type": mtype, "source": source, "flags": flags, "prop": prop,
                       "data": data, "bind": is_bind})
    # devices and /dev symlinks only go into a /dev of our own: never into a bind-mounted host directory
    dev_mounts = [m for m in mounts if os.path.normpath(m["dest"]) == "/dev"]
    dev_tmpfs = bool(dev_mounts) and not dev_mounts[-1]["bind"]
    has_pts = any(m["dest"] == "/dev/pts" for m in mounts)
    devices: list[Device] = []
    if dev_tmpfs:
        seen = set()
        for d in linux_spec.get("devices") or ():
            devices.append((d["path"], d.get("type", "c"), int(d.get("major", 0)), int(d.get("minor", 0)),
                            int(d.get("fileMode", 0o666)), int(d.get("uid", 0)), int(d.get("gid", 0))))
            seen.add(d["path"])
        for path, kind, major, minor in DEFAULT_DEVICES:
            if path not in seen:
                devices.append((path, kind, major, minor, 0o666, 0, 0))
    propagation = _PROPAGATION.get(linux_spec.get("rootfsPropagation") or "rprivate",
                                   linux.MS_PRIVATE | linux.MS_REC)
    cgroup_mode = None
    if any(m["type"] == "cgroup" for m in mounts):
        try:
            from engine.runtime import cgroups

            cgroup_mode = cgroups.detect()
        except EngineError:
            cgroup_mode = None
    return {
        "rootfs": rootfs, "readonly": bool(root.get("readonly")), "new_flags": new_flags, "join": join,
        "pidns": pidns, "mounts": mounts, "devices": devices, "dev_tmpfs": dev_tmpfs, "has_pts": has_pts,
        "propagation": propagation, "masked": list(linux_spec.get("maskedPaths") or ()),
        "readonly_paths": list(linux_spec.get("readonlyPaths") or ()),
        "hostname": spec.get("hostname"), "domainname": spec.get("domainname"),
        "sysctl": dict(linux_spec.get("sysctl") or {}), "cgroup_mode": cgroup_mode,
        "process": _prepare_process(spec.get("process") or {}, linux_spec.get("seccomp"), spec.get("annotations")),
    }


def _fork_in_pidns(pidns: str | None) -> int:
    """fork(); with ``pidns`` ("new" or a ns path) the child lands in that pid namespace.

    Only the calling thread's pid_for_children is changed, and it is restored before returning.
    """
    if pidns is None:
        return os.fork()
    own = os.open("/proc/thread-self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            if pidns == "new":
                linux.unshare(linux.CLONE_NEWPID)
            else:
                fd = os.open(pidns, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    linux.setns(fd, linux.CLONE_NEWPID)
                finally:
                    os.close(fd)
        except OSError as exc:
            kind = KernelFeatureMissing if exc.errno in (errno.EINVAL, errno.ENOSYS) else EngineError
            raise kind(f"{'unshare' if pidns == 'new' else 'setns'} pid namespace: {_strerror(exc.errno or 0)}",
                       step="pid namespace") from None
        try:
            pid = os.fork()
        except BaseException:
            linux.setns(own, linux.CLONE_NEWPID)
            raise
        if pid == 0:
            return 0
        linux.setns(own, linux.CLONE_NEWPID)
        return pid
    finally:
        try:
            os.close(own)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# child-side steps (run between fork and execve)
# ---------------------------------------------------------------------------------------------
_libc_signal = linux._libc.signal


def reset_signals() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    for sig in range(1, signal.NSIG):
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            _libc_signal(sig, 0)  # SIG_DFL, bypassing Python's main-thread check


def join_cgroup(cgroup: Cgroup | None) -> None:
    if cgroup is not None:
        with _Step(f"join cgroup {cgroup.name}"):
            cgroup.add(0)


def set_oom_score_adj(value: int | None) -> None:
    if value is not None:
        with _Step("set oom_score_adj"):
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(int(value)))


def join_namespaces(join: list[NamespaceJoin]) -> None:
    for kind, flag, path in join:
        with _Step(f"setns {kind} {path}", (errno.ENOSYS, errno.EINVAL)):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                linux.setns(fd, flag)
            finally:
                os.close(fd)


def unshare_namespaces(flags: int) -> None:
    if flags:
        names = [k for k, (f, _) in linux.NAMESPACES.items() if flags & f]
        with _Step(f"unshare {','.join(names)} namespaces", (errno.ENOSYS, errno.EINVAL)):
            linux.unshare(flags)


def make_mounts_private(propagation: int) -> None:
    with _Step("make / private"):
        linux.mount(None, "/", None, propagation)


def bind_rootfs(rootfs: str) -> None:
    with _Step(f"bind mount rootfs {rootfs}"):
        linux.mount(rootfs, rootfs, None, linux.MS_BIND | linux.MS_REC)


def secure_join(root: str, unsafe: str) -> str:
    """Join ``unsafe`` under ``root`` resolving symlinks as if ``root`` were ``/``."""
    parts = [p for p in unsafe.split("/") if p and p != "."]
    resolved: list[str] = []
    links = 0
    missing = False
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        if not missing:
            cand = root + "/" + "/".join(resolved + [part])
            try:
                st = os.lstat(cand)
            except FileNotFoundError:
                missing = True
            else:
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > 255:
                        raise OSError(errno.ELOOP, "too many symlinks", unsafe)
                    target = os.readlink(cand)
                    if target.startswith("/"):
                        resolved = []
                    parts = [p for p in target.split("/") if p and p != "."] + parts
                    continue
        resolved.append(part)
    return root.rstrip("/") + "/" + "/".join(resolved)


def _make_target(path: str, is_file: bool) -> None:
    if is_file:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    else:
        os.makedirs(path, exist_ok=True)


def _locked_flags(path: str) -> int:
    flags = 0
    try:
        f_flag = os.statvfs(path).f_flag
    except OSError:
        return 0
    for bit, ms in _LOCKED:
        if f_flag & bit:
            flags |= ms
    return flags


def _remount_bind(path: str, flags: int) -> None:
    linux.mount(None, path, None, flags | linux.MS_BIND | linux.MS_REMOUNT | _locked_flags(path))


def mount_cgroup(rootfs: str, target: str, m: PreparedMount, mode: str | None, cgroup: Cgroup | None,
                 new_cgroupns: bool) -> None:
    """Best effort ``cgroup`` mount: the container's own cgroup dirs, read-only."""
    ro = m["flags"] & linux.MS_RDONLY
    base = m["flags"] & ~linux.MS_RDONLY
    try:
        if mode == "v2":
            os.makedirs(target, exist_ok=True)
            if new_cgroupns:
                linux.mount("cgroup2", target, "cgroup2", m["flags"])
            elif cgroup is not None:
                linux.mount(cgroup.path(), target, None, linux.MS_BIND)
                _remount_bind(target, base | ro)
            return
        if mode in ("v1", "hybrid") and cgroup is not None:
            os.makedirs(target, exist_ok=True)
            linux.mount("tmpfs", target, "tmpfs", base, "mode=755")
            for d in cgroup.dirs():
                ctrl = d[len(cgroup.root) + 1:].split("/", 1)[0]
                sub = os.path.join(target, ctrl)
                os.makedirs(sub, exist_ok=True)
                linux.mount(d, sub, None, linux.MS_BIND)
                _remount_bind(sub, base | ro)
            if ro:
                _remount_bind(target, base | ro)
    except OSError:
        pass


def do_mounts(plan: Plan, cgroup: Cgroup | None) -> None:
    rootfs = plan["rootfs"]
    for m in plan["mounts"]:
        label = m["type"] or ("bind" if m["bind"] else m["source"])
        if m["bind"]:
            label = f"bind {m['source']}"
        with _Step(f"mount {label} to {m['dest']}"):
            target = secure_join(rootfs, m["dest"])
            if m["type"] == "cgroup":
                mount_cgroup(rootfs, target, m, plan["cgroup_mode"], cgroup,
                             bool(plan["new_flags"] & linux.CLONE_NEWCGROUP))
                continue
            if m["bind"]:
                src_is_file = not os.path.isdir(m["source"])
                os.stat(m["source"])  # ENOENT names the step
                _make_target(target, src_is_file)
                linux.mount(m["source"], target, None, linux.MS_BIND | (m["flags"] & linux.MS_REC))
                extra = m["flags"] & ~(linux.MS_BIND | linux.MS_REC | linux.MS_REMOUNT)
                if extra:
                    _remount_bind(target, m["flags"] & ~linux.MS_REC)
            else:
                _make_target(target, False)
                try:
                    linux.mount(m["source"] or m["type"], target, m["type"], m["flags"], m["data"] or None)
                except PermissionError:
                    if m["type"] != "sysfs":
                        raise
                    # no own network namespace: the kernel refuses a new sysfs; bind the host's ro
                    linux.mount("/sys", target, None, linux.MS_BIND | linux.MS_REC)
                    _remount_bind(target, linux.MS_RDONLY | (m["flags"] & ~linux.MS_RDONLY))
            if m["prop"]:
                linux.mount(None, target, None, m["prop"])


def create_devices(plan: Plan) -> None:
    rootfs = plan["rootfs"]
    old = os.umask(0)
    try:
        for path, kind, major, minor, mode, uid, gid in plan["devices"]:
            with _Step(f"create device {path}"):
                target = secure_join(rootfs, path)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if os.path.lexists(target):
                    continue
                fmt = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}.get(kind)
                if fmt is None:
                    raise OSError(errno.EINVAL, "bad device type")
                try:
                    os.mknod(target, fmt | (mode & 0o7777), os.makedev(major, minor))
                    os.chown(target, uid, gid)
                except PermissionError:
                    # e.g. nodev /dev: bind the host's node instead
                    _make_target(target, True)
                    linux.mount(path, target, None, linux.MS_BIND)
    finally:
        os.umask(old)


def create_dev_symlinks(plan: Plan) -> None:
    rootfs = plan["rootfs"]
    links = list(DEV_SYMLINKS)
    if plan["has_pts"]:
        links.append(("pts/ptmx", "/dev/ptmx"))
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    for src, dst in links:
        with _Step(f"symlink {dst}"):
            target = rootfs + dst
            if os.path.lexists(target):
                if dst == "/dev/ptmx" and not os.path.islink(target):
                    os.unlink(target)
                else:
                    continue
            os.symlink(src, target)


def setup_console(plan: Plan, tty: int | None) -> None:
    if tty is None or not plan["dev_tmpfs"]:
        return
    try:
        target = plan["rootfs"] + "/dev/console"
        _make_target(target, True)
        linux.mount(f"/proc/self/fd/{tty}", target, None, linux.MS_BIND)
    except OSError:
        pass  # best effort


TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_console(console_socket: int, *, console: bool = True) -> int:
    """Allocate the terminal from the container's own devpts (after pivot_root), as runc does.

    The master goes back to the caller over ``console_socket`` (SCM_RIGHTS); the slave, returned,
    becomes the process's stdio and controlling terminal. So ``tty`` inside names a real
    ``/dev/pts/N`` of the container, not a device of the host's devpts.
    """
    import socket
    import struct
    with _Step("allocate a terminal in the container"):
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
        slave = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        socket.send_fds(socket.socket(fileno=os.dup(console_socket)), [b"pty"], [master])
        os.close(master)
    if not console:  # an exec'd process joins a container that has its /dev/console already
        return slave
    try:
        _make_target("/dev/console", True)
        linux.mount(f"/dev/pts/{number}", "/dev/console", None, linux.MS_BIND)
    except OSError:
        pass  # best effort, as runc's /dev/console
    return slave


def make_cwd(plan: Plan) -> None:
    cwd = plan["process"]["cwd"]
    with _Step(f"create cwd {cwd}"):
        os.makedirs(secure_join(plan["rootfs"], cwd), exist_ok=True)


def pivot_to(rootfs: str) -> None:
    """runc's pivot_root(".", "."): no put_old directory, so the rootfs may be read-only."""
    with _Step("pivot_root"):
        oldroot = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        newroot = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fchdir(newroot)
            linux.pivot_root(".", ".")
            os.fchdir(oldroot)
            linux.mount(None, ".", None, linux.MS_SLAVE | linux.MS_REC)
            linux.umount2(".", linux.MNT_DETACH)
        finally:
            os.close(oldroot)
            os.close(newroot)
        os.chdir("/")


def write_sysctls(sysctl: dict[str, str]) -> None:
    for key, value in sysctl.items():
        with _Step(f"sysctl {key}"):
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(str(value))


def mask_paths(rootfs: str, paths: Iterable[str]) -> None:
    """Hide ``paths`` (under the container's /proc and /sys, already mounted): a read-only tmpfs over a
    directory, the host's /dev/null over a file. Done before pivot_root, so masking does not depend on
    what the container's /dev holds (a bind-mounted host directory, a directory mounted onto /dev/null)."""
    for path in paths:
        with _Step(f"mask {path}"):
            target = secure_join(rootfs, path)
            try:
                st = os.stat(target)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISDIR(st.st_mode):
                linux.mount("tmpfs", target, "tmpfs", linux.MS_RDONLY)
            else:
                linux.mount("/dev/null", target, None, linux.MS_BIND)


def readonly_paths(paths: Iterable[str]) -> None:
    for path in paths:
        with _Step(f"make {path} read-only"):
            if not os.path.exists(path):
                continue
            linux.mount(path, path, None, linux.MS_BIND | linux.MS_REC)
            _remount_bind(path, linux.MS_RDONLY | linux.MS_REC)


def readonly_root(readonly: bool) -> None:
    if readonly:
        with _Step("remount / read-only"):
            _remount_bind("/", linux.MS_RDONLY)


def set_hostname(plan: Plan) -> None:
    if plan["hostname"]:
        with _Step("sethostname"):
            linux.sethostname(plan["hostname"])
    if plan["domainname"]:
        with _Step("setdomainname"):
            linux.setdomainname(plan["domainname"])


def set_rlimits(rlimits: list[Rlimit]) -> None:
    if not rlimits:
        return
    import resource  # already imported by the parent: a dict lookup

    for name, number, soft, hard in rlimits:
        with _Step(f"setrlimit {name}"):
            resource.setrlimit(number, (soft, hard))


def setup_stdio(stdin: int, stdout: int, stderr: int, tty: int | None, terminal: bool) -> None:
    with _Step("setup stdio"):
        os.setsid()
        if terminal and tty is not None:
            linux.ioctl_int(tty, linux.TIOCSCTTY, 0)
            srcs = [tty, tty, tty]
        else:
            srcs = [stdin, stdout, stderr]
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in srcs]
        for target, fd in enumerate(high):
            os.dup2(fd, target, inheritable=True)
        for fd in high:
            os.close(fd)


def set_no_new_privs(proc: PreparedProcess) -> None:
    if proc["nnp"]:
        with _Step("set no_new_privs"):
            linux.set_no_new_privs()


def load_seccomp(proc: PreparedProcess) -> None:
    if proc["bpf"] is not None:
        with _Step("load seccomp filter", (errno.ENOSYS, errno.EINVAL)):
            linux.seccomp_set_mode_filter(proc["bpf"])


def finalize_user_and_caps(proc: PreparedProcess) -> None:
    """runc order: bounding set, keepcaps, groups/gid/uid, clear keepcaps, capset + ambient."""
    caps = proc["caps"]
    if caps is not None:
        with _Step("drop bounding capabilities"):
            linux.drop_bounding(caps["bounding"])
    with _Step(f"set user {proc['uid']}:{proc['gid']}"):
        if caps is not None:
            linux.set_keepcaps(True)
        os.setgroups(proc["groups"])
        os.setresgid(proc["gid"], proc["gid"], proc["gid"])
        os.setresuid(proc["uid"], proc["uid"], proc["uid"])
        if caps is not None:
            linux.set_keepcaps(False)
    if caps is not None:
        with _Step("apply capabilities"):
            linux.set_caps(caps["effective"], caps["permitted"], caps["inheritable"], caps["ambient"])
    os.umask(0o022 if proc["umask"] is None else int(proc["umask"]))


def change_dir(cwd: str) -> None:
    with _Step(f"chdir to cwd {cwd}"):
        os.chdir(cwd)


def _is_executable(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def resolve_command(proc: PreparedProcess) -> str:
    """Go's exec.LookPath against process.env's PATH, inside the container root."""
    arg0 = proc["args"][0]
    if "/" in arg0:
        try:
            os.stat(arg0)
        except OSError as exc:
            err = exc.errno or 0
            raise _ChildError("notfound", f'exec: "{arg0}": stat {arg0}: {_strerror(err)}', "exec", err) from None
        return arg0
    path = proc["env"].get("PATH", DEFAULT_PATH)
    for d in path.split(":"):
        cand = os.path.join(d or ".", arg0)
        if _is_executable(cand):
            return cand
    raise _ChildError("notfound", f'exec: "{arg0}": executable file not found in $PATH', "exec", errno.ENOENT)


def set_home(proc: PreparedProcess) -> None:
    """Like runc: HOME from the container's /etc/passwd when process.env lacks it."""
    env = proc["env"]
    if "HOME" in env:
        return
    home = "/"
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(proc["uid"]):
                    home = fields[5] or "/"
                    break
    except OSError:
        pass
    env["HOME"] = home


def close_fds(keep: int) -> None:
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 20)


def execute(proc: PreparedProcess, path: str) -> None:
    linux.set_pdeathsig(0)
    try:
        os.execve(path, proc["args"], proc["env"])
    except OSError as exc:
        arg0, err = proc["args"][0], exc.errno or 0
        if err == errno.ENOENT:
            raise _ChildError("notfound", f'exec: "{arg0}": {_strerror(err)}', "exec", err) from None
        if err in (errno.EACCES, errno.EPERM, errno.ENOEXEC, errno.EISDIR, errno.ETXTBSY):
            raise _ChildError("cannotrun", f'exec: "{arg0}": {_strerror(err)}', "exec", err) from None
        raise _ChildError("error", f'exec: "{arg0}": {_strerror(err)}', "exec", err) from None


def _finish_process(errfd: int, proc: PreparedProcess) -> None:
    """Shared tail of init and exec: nnp, seccomp, user/caps, lookup, fds, execve."""
    set_no_new_privs(proc)
    if not proc["nnp"]:
        load_seccomp(proc)  # needs CAP_SYS_ADMIN without no_new_privs: load before dropping caps
    finalize_user_and_caps(proc)
    set_home(proc)
    path = resolve_command(proc)
    close_fds(errfd)
    if proc["nnp"]:
        load_seccomp(proc)  # as late as possible
    execute(proc, path)


def _init(errfd: int, plan: Plan, stdin: int, stdout: int, stderr: int, tty: int | None, cgroup: Cgroup | None,
          console_socket: int | None = None) -> None:
    proc = plan["process"]
    reset_signals()
    linux.set_pdeathsig(signal.SIGKILL)
    join_cgroup(cgroup)
    set_oom_score_adj(proc["oom"])
    join_namespaces(plan["join"])
    unshare_namespaces(plan["new_flags"])
    make_mounts_private(plan["propagation"])
    bind_rootfs(plan["rootfs"])
    do_mounts(plan, cgroup)
    if plan["dev_tmpfs"]:
        create_devices(plan)
        create_dev_symlinks(plan)
    setup_console(plan, tty if proc["terminal"] else None)
    make_cwd(plan)
    mask_paths(plan["rootfs"], plan["masked"])
    pivot_to(plan["rootfs"])
    write_sysctls(plan["sysctl"])
    readonly_paths(plan["readonly_paths"])
    readonly_root(plan["readonly"])
    set_hostname(plan)
    set_rlimits(proc["rlimits"])
    if proc["terminal"] and console_socket is not None:
        tty = open_console(console_socket)
    setup_stdio(stdin, stdout, stderr, tty, proc["terminal"])
    change_dir(proc["cwd"])
    _finish_process(errfd, proc)


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def start(spec: dict[str, Any], bundle: str, stdin: int, stdout: int, stderr: int, *,
          tty_slave: int | None = None, cgroup: Cgroup | None = None, console_socket: int | None = None) -> int:
    """Create and start the container described by the OCI ``spec``; return its init's host pid.

    The pid is a direct child of the caller: ``os.waitpid(pid, 0)`` gives the exit status. Call
    ``linux.set_child_subreaper()`` once in the engine (see the module docstring). ``cgroup`` must
    already be created (:meth:`Cgroup.create`); the init joins it before anything else.
    ``stdin``/``stdout``/``stderr`` become fds 0-2 (``tty_slave`` replaces all three when
    ``process.terminal`` is true, and becomes the controlling terminal). With ``console_socket``
    instead, the terminal is allocated inside the container and its master is sent over that socket
    (receive it with ``socket.recv_fds`` once this returns).
    """
    plan = _prepare(spec, bundle)
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    try:
        pid = _fork_in_pidns(plan["pidns"])
    except BaseException:
        os.close(rfd)
        os.close(wfd)
        raise
    if pid == 0:
        os.close(rfd)
        _child_run(wfd, _init, plan, stdin, stdout, stderr, tty_slave, cgroup, console_socket)
    os.close(wfd)
    _wait_error(pid, rfd)
    return pid


def _exec(errfd: int, proc: PreparedProcess, nsfds: list[tuple[str, int, int]], rootfd: int, stdin: int,
          stdout: int, stderr: int, tty: int | None, cgroup: Cgroup | None, console_socket: int | None = None) -> None:
    reset_signals()
    linux.set_pdeathsig(signal.SIGKILL)
    join_cgroup(cgroup)
    set_oom_score_adj(proc["oom"])
    for kind, flag, fd in nsfds:
        with _Step(f"setns {kind}", (errno.ENOSYS,)):
            linux.setns(fd, flag)
    with _Step("enter container root"):
        os.fchdir(rootfd)
        os.chroot(".")
    for _, _, fd in nsfds:
        os.close(fd)
    os.close(rootfd)
    set_rlimits(proc["rlimits"])
    if proc["terminal"] and console_socket is not None:
        tty = open_console(console_socket, console=False)
    setup_stdio(stdin, stdout, stderr, tty, proc["terminal"])
    change_dir(proc["cwd"])
    _finish_process(errfd, proc)


def exec_process(target_pid: int, process: dict[str, Any], stdin: int, stdout: int, stderr: int, *,
                 tty_slave: int | None = None, cgroup: Cgroup | None = None,
                 seccomp: dict[str, Any] | None = None,
                 console_socket: int | None = None) -> int:
    """Run ``process`` (an OCI ``process`` object) inside the running container whose init is
    ``target_pid`` (docker exec). Returns the new process's host pid, a direct child of the caller.

    Joins ipc, uts, net, cgroup, pid and mount namespaces of ``target_pid``, its root, ``cgroup``
    (pass the container's Cgroup), and applies user, capabilities, no_new_privs and ``seccomp``
    (an OCI ``linux.seccomp`` object, normally the container's).
    """
    return exec_prepared(target_pid, prepare_exec(process, seccomp), stdin, stdout, stderr, tty_slave=tty_slave,
                         cgroup=cgroup, console_socket=console_socket)


def prepare_exec(process: dict[str, Any], seccomp: dict[str, Any] | None = None,
                 annotations: dict[str, str] | None = None) -> PreparedProcess:
    """The parent-side work of :func:`exec_process` (env, user, capabilities, the compiled seccomp
    filter; ``annotations`` may name the BPF cache), done once for a process run again and again."""
    return _prepare_process(process, seccomp, annotations)


def exec_prepared(target_pid: int, proc: PreparedProcess, stdin: int, stdout: int, stderr: int, *,
                  tty_slave: int | None = None, cgroup: Cgroup | None = None,
                  console_socket: int | None = None) -> int:
    """:func:`exec_process` of a process made ready by :func:`prepare_exec`."""
    nsfds: list[tuple[str, int, int]] = []
    rootfd = -1
    try:
        for kind in ("ipc", "uts", "network", "cgroup", "mount"):
            flag, name = linux.NAMESPACES[kind]
            try:
                same = os.stat(f"/proc/{target_pid}/ns/{name}").st_ino == os.stat(f"/proc/self/ns/{name}").st_ino
            except FileNotFoundError:
                if not os.path.exists(f"/proc/{target_pid}"):
                    raise
                continue  # kernel without this namespace type
            if not same or kind == "mount":
                nsfds.append((kind, flag, os.open(f"/proc/{target_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)))
        rootfd = os.open(f"/proc/{target_pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        own_pidns = f"/proc/{target_pid}/ns/pid"
        pidns = None if os.stat(own_pidns).st_ino == os.stat("/proc/self/ns/pid").st_ino else own_pidns
    except FileNotFoundError:
        for _, _, fd in nsfds:
            os.close(fd)
        raise EngineError(f"container process {target_pid} is not running", pid=target_pid) from None
    except BaseException:
        for _, _, fd in nsfds:
            os.close(fd)
        if rootfd >= 0:
            os.close(rootfd)
        raise
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    try:
        pid = _fork_in_pidns(pidns)
    except BaseException:
        for fd in [rfd, wfd, rootfd] + [fd for _, _, fd in nsfds]:
            os.close(fd)
        raise
    if pid == 0:
        os.close(rfd)
        _child_run(wfd, _exec, proc, nsfds, rootfd, stdin, stdout, stderr, tty_slave, cgroup, console_socket)
    for _, _, fd in nsfds:
        os.close(fd)
    os.close(rootfd)
    os.close(wfd)
    _wait_error(pid, rfd)
    return pid
