"""Thin ctypes wrappers over the Linux syscalls the native executor needs.

Every wrapper raises :class:`OSError` carrying the C ``errno`` on failure. Nothing here imports
anything heavier than :mod:`ctypes`; the module sits on the container-start hot path.

Supported architectures: x86_64 and aarch64 (syscall numbers for the calls glibc does not wrap).
"""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from collections.abc import Iterable

    CapNames = Iterable[str] | None  # "CAP_X" (or "X") names; None means none

_libc = ctypes.CDLL("libc.so.6", use_errno=True)

_MACHINE = os.uname().machine

# syscall numbers for calls without a (usable) glibc wrapper
_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "seccomp": 317},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "seccomp": 277},
}
try:
    _NR = _SYSCALLS[_MACHINE]
except KeyError:  # pragma: no cover - only x86_64 / aarch64 are supported
    _NR = {}

_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.prctl.restype = ctypes.c_int

# --- namespaces -------------------------------------------------------------------------------
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# OCI namespace type -> (clone flag, /proc/<pid>/ns/<name>)
NAMESPACES = {
    "pid": (CLONE_NEWPID, "pid"),
    "network": (CLONE_NEWNET, "net"),
    "mount": (CLONE_NEWNS, "mnt"),
    "ipc": (CLONE_NEWIPC, "ipc"),
    "uts": (CLONE_NEWUTS, "uts"),
    "user": (CLONE_NEWUSER, "user"),
    "cgroup": (CLONE_NEWCGROUP, "cgroup"),
    "time": (CLONE_NEWTIME, "time"),
}

# --- mount flags ------------------------------------------------------------------------------
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

# --- prctl ------------------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_SET_SECCOMP = 22
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_LOWER = 3
PR_CAP_AMBIENT_CLEAR_ALL = 4

TIOCSCTTY = 0x540E


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        if path is not None:
            raise OSError(err, f"{what}: {os.strerror(err)}", path)
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _b(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return os.fsencode(value)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), "umount2", target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(ctypes.c_long(_NR["pivot_root"]), ctypes.c_char_p(_b(new_root)),
                         ctypes.c_char_p(_b(put_old))), "pivot_root", new_root)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, len(raw)), "setdomainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), "prctl")


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_child_subreaper(on: bool = True) -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0)


def set_keepcaps(on: bool) -> None:
    prctl(PR_SET_KEEPCAPS, 1 if on else 0)


def set_name(name: str) -> None:
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _check(_libc.prctl(PR_SET_NAME, ctypes.cast(buf, ctypes.c_void_p).value or 0, 0, 0, 0), "prctl")


# --- capabilities -----------------------------------------------------------------------------
_CAP_NAMES = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
    "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME "
    "SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG "
    "WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"
).split()
CAPS: dict[str, int] = {"CAP_" + name: number for number, name in enumerate(_CAP_NAMES)}

DOCKER_DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_last_cap: int | None = None


def last_cap() -> int:
    """The highest capability number the running kernel knows (``/proc/sys/kernel/cap_last_cap``)."""
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
                _last_cap = int(f.read())
        except OSError:
            _last_cap = max(CAPS.values())
    return _last_cap


def cap_numbers(names: CapNames) -> list[int]:
    """Map ``"CAP_X"`` (or ``"X"``) names to numbers; unknown names raise ``ValueError``."""
    out = []
    for name in names or ():
        key = name.upper()
        if not key.startswith("CAP_"):
            key = "CAP_" + key
        if key not in CAPS:
            raise ValueError(f"unknown capability {name!r}")
        out.append(CAPS[key])
    return out


def cap_mask(names: CapNames) -> int:
    mask = 0
    for number in cap_numbers(names):
        mask |= 1 << number
    return mask


def capget() -> tuple[int, int, int]:
    """Return (effective, permitted, inheritable) masks of the calling thread."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.syscall(ctypes.c_long(_NR["capget"]), ctypes.byref(header), ctypes.byref(data)), "capget")
    eff = data[0].effective | (data[1].effective << 32)
    prm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, prm, inh


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.syscall(ctypes.c_long(_NR["capset"]), ctypes.byref(header), ctypes.byref(data)), "capset")


def drop_bounding(bounding: CapNames) -> None:
    """Drop every capability not named in ``bounding`` from the bounding set (needs CAP_SETPCAP)."""
    keep = set(cap_numbers(bounding))
    for number in range(last_cap() + 1):
        if number not in keep:
            try:
                prctl(PR_CAPBSET_DROP, number)
            except OSError as exc:
                # EINVAL: the kernel does not know this cap; nothing to drop
                if exc.errno != 22:
                    raise


def set_caps(effective: CapNames, permitted: CapNames, inheritable: CapNames,
             ambient: CapNames = None) -> None:
    """capset(2) the three sets, then raise ``ambient`` caps (clearing the ambient set first).

    Ambient raises that the kernel refuses (cap not in permitted+inheritable) are ignored, as runc does.
    """
    capset(cap_mask(effective), cap_mask(permitted), cap_mask(inheritable))
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        return  # kernel without ambient capabilities
    for number in cap_numbers(ambient):
        try:
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, number)
        except OSError:
            pass


def apply_capabilities(bounding: CapNames, effective: CapNames, permitted: CapNames, inheritable: CapNames,
                       ambient: CapNames) -> None:
    """Apply all five capability sets (lists of ``"CAP_X"`` names; ``None`` means empty).

    When the process will switch to a non-root user afterwards, use the runc sequence instead::

        drop_bounding(bounding); set_keepcaps(True); <setgroups/setgid/setuid>;
        set_keepcaps(False); set_caps(effective, permitted, inheritable, ambient)

    (:func:`engine.runtime.native` does exactly that.)
    """
    drop_bounding(bounding or [])
    set_caps(effective or [], permitted or [], inheritable or [], ambient or [])


# --- misc -------------------------------------------------------------------------------------
def ioctl_int(fd: int, request: int, arg: int = 0) -> None:
    _check(_libc.ioctl(fd, ctypes.c_ulong(request), ctypes.c_long(arg)), "ioctl")


def seccomp_set_mode_filter(prog_bytes: bytes, flags: int = 0) -> None:
    """Install a classic-BPF seccomp filter (``struct sock_filter[]`` bytes) on the calling thread."""

    class _SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(prog_bytes, len(prog_bytes))
    prog = _SockFprog(len(prog_bytes) // 8, ctypes.cast(buf, ctypes.c_void_p))
    # seccomp(SECCOMP_SET_MODE_FILTER=1, flags, &prog)
    _check(_libc.syscall(ctypes.c_long(_NR["seccomp"]), ctypes.c_long(1), ctypes.c_long(flags),
                         ctypes.byref(prog)), "seccomp")
