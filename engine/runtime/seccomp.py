"""Seccomp filters from OCI ``linux.seccomp`` objects, through libseccomp (ctypes).

* :func:`load_profile` builds the filter with libseccomp and loads it on the calling thread.
* :func:`compile_profile` builds it and returns the classic-BPF program bytes (cached), so the
  executor can compile in the engine and only install the bytes in the container's init
  (:func:`engine.runtime.linux.seccomp_set_mode_filter`) — no libseccomp work between fork and exec.
* :func:`default_profile` is a docker-like default: allow by default, ``EPERM`` for the syscalls
  docker's default profile does not allow for a container with docker's default capabilities,
  ``ENOSYS`` for ``clone3`` (so libc falls back to ``clone``, which can be filtered) and ``EPERM``
  for ``clone`` with ``CLONE_NEWUSER``.

Like runc, the filter does not set no_new_privs by itself (libseccomp's ``CTL_NNP`` is off): the
spec's ``process.noNewPrivileges`` decides; without it the filter must be loaded while the process
still has ``CAP_SYS_ADMIN``.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import json
import os

from engine.errors import EngineError, KernelFeatureMissing

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_NOTIFY = 0x7FC00000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000

_CMP = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}
_NR_SCMP_ERROR = -1
_SCMP_FLTATR_CTL_NNP = 3


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


_lib = None


def _libseccomp():
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError:
            raise KernelFeatureMissing("seccomp: libseccomp.so.2 not found") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_native.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        _lib = lib
    return _lib


def _action(name: str, errno_ret: int | None, default_errno: int) -> int:
    if name == "SCMP_ACT_ALLOW":
        return SCMP_ACT_ALLOW
    if name == "SCMP_ACT_ERRNO":
        return _ACT_ERRNO | ((default_errno if errno_ret is None else errno_ret) & 0xFFFF)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return SCMP_ACT_KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return SCMP_ACT_KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return SCMP_ACT_TRAP
    if name == "SCMP_ACT_LOG":
        return SCMP_ACT_LOG
    if name == "SCMP_ACT_TRACE":
        return _ACT_TRACE | ((default_errno if errno_ret is None else errno_ret) & 0xFFFF)
    raise EngineError(f"seccomp: unsupported action {name!r}")


def _build(profile: dict):
    """Create a libseccomp context for ``profile``; the caller releases it."""
    lib = _libseccomp()
    default_errno = profile.get("defaultErrnoRet") or _errno.EPERM
    default = _action(profile.get("defaultAction", "SCMP_ACT_ALLOW"), profile.get("defaultErrnoRet"), _errno.EPERM)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise EngineError("seccomp: seccomp_init failed")
    try:
        lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_NNP, 0)
        native = lib.seccomp_arch_native()
        for arch in profile.get("architectures") or ():
            token = lib.seccomp_arch_resolve_name(arch.lower().removeprefix("scmp_arch_").encode())
            if token == 0 or token == native:
                continue
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -_errno.EEXIST:
                raise EngineError(f"seccomp: adding architecture {arch}: {os.strerror(-rc)}")
        for rule in profile.get("syscalls") or ():
            action = _action(rule.get("action", "SCMP_ACT_ALLOW"), rule.get("errnoRet"), default_errno)
            if action == default:
                continue  # libseccomp refuses rules equal to the default action; runc skips them
            args = rule.get("args") or []
            conds = []
            for a in args:
                op = _CMP.get(a.get("op", ""))
                if op is None:
                    raise EngineError(f"seccomp: unsupported comparison {a.get('op')!r}")
                conds.append(_ArgCmp(int(a.get("index", 0)), op, int(a.get("value", 0)) & (2**64 - 1),
                                     int(a.get("valueTwo", 0)) & (2**64 - 1)))
            # runc: several conditions all on the same argument are alternatives (one rule each)
            if len(conds) > 1 and len({c.arg for c in conds}) == 1:
                groups = [[c] for c in conds]
            else:
                groups = [conds]
            for name in rule.get("names") or ([rule["name"]] if rule.get("name") else []):
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == _NR_SCMP_ERROR:
                    continue  # unknown to libseccomp / this architecture: skip, as runc does
                for group in groups:
                    arr = (_ArgCmp * max(len(group), 1))(*group)
                    rc = lib.seccomp_rule_add_array(ctx, action, nr, len(group), arr)
                    if rc < 0:
                        if nr < 0:
                            continue  # pseudo syscall absent from the filter's architectures
                        raise EngineError(f"seccomp: adding rule for {name}: {os.strerror(-rc)}")
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return ctx


def load_profile(profile: dict) -> None:
    """Build the OCI ``linux.seccomp`` ``profile`` with libseccomp and load it on this thread."""
    lib = _libseccomp()
    ctx = _build(profile)
    try:
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            raise OSError(-rc, f"seccomp_load: {os.strerror(-rc)}")
    finally:
        lib.seccomp_release(ctx)


_compiled: dict[str, bytes] = {}


def compile_profile(profile: dict) -> bytes:
    """Return the classic-BPF program (``struct sock_filter`` array bytes) for ``profile`` (cached)."""
    key = json.dumps(profile, sort_keys=True)
    prog = _compiled.get(key)
    if prog is not None:
        return prog
    lib = _libseccomp()
    ctx = _build(profile)
    fd = os.memfd_create("portside-seccomp", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise EngineError(f"seccomp: exporting filter: {os.strerror(-rc)}")
        size = os.lseek(fd, 0, os.SEEK_CUR)
        prog = os.pread(fd, size, 0)
    finally:
        os.close(fd)
        lib.seccomp_release(ctx)
    if len(_compiled) > 32:
        _compiled.clear()
    _compiled[key] = prog
    return prog


# Syscalls docker's default profile refuses to a container holding docker's default capabilities.
_DENIED = [
    "acct", "add_key", "adjtimex", "bpf", "clock_adjtime", "clock_settime", "create_module",
    "delete_module", "fanotify_init", "finit_module", "get_kernel_syms",
    "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl",
    "lookup_dcookie", "mbind", "mount", "mount_setattr", "move_mount", "move_pages",
    "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree", "fsopen", "fsconfig",
    "fsmount", "fspick", "perf_event_open", "pivot_root",
    "query_module", "quotactl", "quotactl_fd", "reboot", "request_key", "set_mempolicy", "setns",
    "settimeofday", "stime", "swapoff", "swapon", "_sysctl", "sysfs", "syslog", "umount",
    "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
]


def _native_arches() -> list[str]:
    machine = os.uname().machine
    if machine == "x86_64":
        return ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    if machine == "aarch64":
        return ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    return []


def default_profile() -> dict:
    """A docker-like default seccomp profile in OCI ``linux.seccomp`` form (deny-list flavour)."""
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "defaultErrnoRet": _errno.EPERM,
        "architectures": _native_arches(),
        "syscalls": [
            {"names": list(_DENIED), "action": "SCMP_ACT_ERRNO", "errnoRet": _errno.EPERM},
            # clone3 cannot be argument-filtered: make libc fall back to clone(2)
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": _errno.ENOSYS},
            # no new user namespaces (CLONE_NEWUSER = 0x10000000)
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": _errno.EPERM,
             "args": [{"index": 0, "value": 0x10000000, "valueTwo": 0x10000000, "op": "SCMP_CMP_MASKED_EQ"}]},
        ],
    }
