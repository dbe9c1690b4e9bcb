"""Seccomp filters from OCI ``linux.seccomp`` objects, through libseccomp (ctypes).

* :func:`load_profile` builds the filter with libseccomp and loads it on the calling thread.
* :func:`compile_profile` builds it and returns the classic-BPF program bytes (cached in memory and,
  given a directory, on disk), so the executor can compile in the engine and only install the bytes
  in the container's init (:func:`engine.runtime.linux.seccomp_set_mode_filter`) — no libseccomp
  work between fork and exec, and none at all on a start that finds the program cached.
* :func:`default_profile` is docker's default profile (``seccomp_default.json``, transcribed from
  moby/profiles): an allowlist, ``EPERM`` for everything else, resolved by :func:`resolve` for the
  container's capabilities and architecture as dockerd does (``includes``/``excludes``).
* :func:`parse` takes a profile as ``--security-opt seccomp=…`` carries it (docker's or OCI's format).

Like runc, the filter does not set no_new_privs by itself (libseccomp's ``CTL_NNP`` is off): the
spec's ``process.noNewPrivileges`` decides; without it the filter must be loaded while the process
still has ``CAP_SYS_ADMIN``.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import json
import os
from typing import Any

from engine.errors import EngineError, InvalidArgument, KernelFeatureMissing

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


_lib: ctypes.CDLL | None = None


def _libseccomp() -> ctypes.CDLL:
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


def _build(profile: dict[str, Any]) -> int:
    """Create a libseccomp context for ``profile``; the caller releases it."""
    lib = _libseccomp()
    default_errno = profile.get("defaultErrnoRet") or _errno.EPERM
    default = _action(profile.get("defaultAction", "SCMP_ACT_ALLOW"), profile.get("defaultErrnoRet"), _errno.EPERM)
    ctx: int | None = lib.seccomp_init(default)
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


def load_profile(profile: dict[str, Any]) -> None:
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
# an OCI spec annotation naming the directory of compiled filters (read by the native executor)
CACHE_ANNOTATION = "org.portside.seccomp-cache"


def compile_profile(profile: dict[str, Any], cache_dir: str | None = None) -> bytes:
    """Return the classic-BPF program (``struct sock_filter`` array bytes) for ``profile``.

    Cached in memory, and with ``cache_dir`` also on disk (one file per profile, architecture and
    libseccomp): libseccomp takes ~15 ms for docker's allowlist, reading the file a few µs.
    """
    key = json.dumps(profile, sort_keys=True)
    prog = _compiled.get(key)
    if prog is not None:
        return prog
    path = None
    if cache_dir:
        path = _cache_file(key, cache_dir)
        try:
            with open(path, "rb") as f:
                prog = f.read()
        except OSError:
            prog = None
        if prog and len(prog) % 8 == 0:
            _remember(key, prog)
            return prog
    prog = _export(profile)
    _remember(key, prog)
    if path is not None and cache_dir:
        try:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(prog)
            os.replace(tmp, path)
        except OSError:
            pass  # the cache is an optimisation only
    return prog


def cache_file(profile: dict[str, Any], cache_dir: str) -> str:
    """Where :func:`compile_profile` keeps ``profile``'s program under ``cache_dir``."""
    return _cache_file(json.dumps(profile, sort_keys=True), cache_dir)


def _cache_file(key: str, cache_dir: str) -> str:
    from engine.digests import sha256_hex
    digest = sha256_hex(f"{os.uname().machine}\0{_libseccomp_id()}\0{key}".encode())
    return os.path.join(cache_dir, digest + ".bpf")


def _libseccomp_id() -> str:
    """Which libseccomp compiles (its resolved file and size): a new version gets new cache files."""
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib"):
        p = os.path.join(d, "libseccomp.so.2")
        try:
            st = os.stat(p)
        except OSError:
            continue
        return f"{os.path.realpath(p)}:{st.st_size}:{int(st.st_mtime)}"
    return ""


def _remember(key: str, prog: bytes) -> None:
    if len(_compiled) > 32:
        _compiled.clear()
    _compiled[key] = prog


def _export(profile: dict[str, Any]) -> bytes:
    lib = _libseccomp()
    ctx = _build(profile)
    fd = os.memfd_create("portside-seccomp", os.MFD_CLOEXEC)
    try:
        rc = lib.seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise EngineError(f"seccomp: exporting filter: {os.strerror(-rc)}")
        size = os.lseek(fd, 0, os.SEEK_CUR)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)
        lib.seccomp_release(ctx)


# docker's default profile (moby/profiles/seccomp/default.json, Apache-2.0), in docker's own format:
# an allowlist with arch, capability and kernel conditions, resolved per container by :func:`resolve`.
_DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_default.json")
# os.uname().machine → the names docker's profiles use for "arches" (Go's, through moby's goToNative)
_NATIVE_ARCH = {"x86_64": "amd64", "i686": "x86", "i386": "x86", "aarch64": "arm64", "armv7l": "arm",
                "armv6l": "arm", "ppc64le": "ppc64le", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
                "loongarch64": "loongarch64", "mips64": "mips64"}
_SECCOMP_ARCH = {"x86": "SCMP_ARCH_X86", "amd64": "SCMP_ARCH_X86_64", "arm": "SCMP_ARCH_ARM",
                 "arm64": "SCMP_ARCH_AARCH64", "loongarch64": "SCMP_ARCH_LOONGARCH64", "mips64": "SCMP_ARCH_MIPS64",
                 "ppc": "SCMP_ARCH_PPC", "ppc64": "SCMP_ARCH_PPC64", "ppc64le": "SCMP_ARCH_PPC64LE",
                 "riscv64": "SCMP_ARCH_RISCV64", "s390": "SCMP_ARCH_S390", "s390x": "SCMP_ARCH_S390X"}
_docker_default: dict[str, Any] | None = None


def docker_default() -> dict[str, Any]:
    """docker's default profile, in docker's format (``archMap``, ``includes``/``excludes``)."""
    global _docker_default
    if _docker_default is None:
        with open(_DEFAULT_JSON) as f:
            _docker_default = json.load(f)
    return _docker_default


def _kernel_at_least(minimum: str) -> bool:
    def parse(text: str) -> tuple[int, int]:
        major, _, rest = text.partition(".")
        minor = "".join(ch for ch in rest.split(".", 1)[0] if ch.isdigit()) or "0"
        return int(major), int(minor)
    try:
        return parse(os.uname().release) >= parse(minimum)
    except ValueError:
        return False


def resolve(profile: dict[str, Any], caps: list[str]) -> dict[str, Any]:
    """A seccomp profile (docker's format or OCI's) → the OCI ``linux.seccomp`` object for a container
    whose bounding set is ``caps``: moby's ``setupSeccomp`` — the native architecture's ``archMap``
    entry, and the rules whose ``includes`` hold and whose ``excludes`` do not."""
    if not isinstance(profile, dict):
        raise InvalidArgument("seccomp profile: the document must be a JSON object")
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument("seccomp profile: both 'architectures' and 'archMap' are specified in the seccomp "
                              "profile, use either 'architectures' or 'archMap'")
    arch = _NATIVE_ARCH.get(os.uname().machine, os.uname().machine)
    out: dict[str, Any] = {k: v for k, v in profile.items() if k not in ("archMap", "syscalls", "architectures")}
    out.setdefault("defaultAction", "SCMP_ACT_ERRNO")
    arches = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == _SECCOMP_ARCH.get(arch):
            arches = [entry["architecture"]] + list(entry.get("subArchitectures") or [])
            break
    out["architectures"] = arches
    have = set(caps)
    rules: list[dict[str, Any]] = []
    for call in profile.get("syscalls") or ():
        if not isinstance(call, dict):
            raise InvalidArgument("seccomp profile: each entry of 'syscalls' must be an object")
        names = list(call.get("names") or [])
        if call.get("name"):
            if names:
                raise InvalidArgument("seccomp profile: both 'name' and 'names' are specified in the seccomp "
                                      "profile, use either 'name' or 'names'")
            names = [call["name"]]
        exc, inc = call.get("excludes") or {}, call.get("includes") or {}
        if arch in (exc.get("arches") or ()) or have & set(exc.get("caps") or ()):
            continue
        if exc.get("minKernel") and _kernel_at_least(exc["minKernel"]):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if not set(inc.get("caps") or ()) <= have:
            continue
        if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"]):
            continue
        rule = {k: v for k, v in call.items() if k not in ("name", "names", "includes", "excludes", "comment")}
        rule["names"] = names
        rules.append(rule)
    out["syscalls"] = rules
    return out


def default_profile(caps: list[str] | None = None) -> dict[str, Any]:
    """docker's default seccomp profile (an allowlist) for a container with bounding set ``caps``
    (docker's default capabilities when None), in OCI ``linux.seccomp`` form."""
    if caps is None:
        from .linux import DOCKER_DEFAULT_CAPS  # (the same list as spec's; spec imports this module)
        caps = DOCKER_DEFAULT_CAPS
    return resolve(docker_default(), caps)


def parse(text: str, caps: list[str]) -> dict[str, Any]:
    """A profile as ``--security-opt seccomp=…`` carries it (the file's JSON) → OCI form for ``caps``."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"Decoding seccomp profile failed: {exc}") from None
    return resolve(doc, caps)


def check(profile: dict[str, Any]) -> None:
    """Raise InvalidArgument when libseccomp cannot build ``profile`` (bad action, operator, arch)."""
    try:
        ctx = _build(profile)
    except EngineError as exc:
        raise InvalidArgument(f"invalid seccomp profile: {exc.message}") from None
    _libseccomp().seccomp_release(ctx)
