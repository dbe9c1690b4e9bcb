"""Build an OCI runtime-spec ``config.json`` from a container's Docker-shaped document.

The same document drives the native executor and any OCI runtime CLI (``--runtime runc``).
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import InvalidArgument

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKER_DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
INIT_CANDIDATES = ["/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init"]


def security_options(host: dict[str, Any]) -> tuple[bool, str]:
    """``HostConfig.SecurityOpt`` → (no_new_privileges, seccomp), as dockerd parses them: seccomp is
    "" for the default profile, "unconfined", or the profile's JSON (the CLI sends a file's content)."""
    nnp, profile = False, ""
    for opt in host.get("SecurityOpt") or ():
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":
            continue
        sep = "=" if "=" in opt else ":"
        key, found, value = opt.partition(sep)
        if not found:
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
        if key == "seccomp":
            profile = "" if value == "builtin" else value
        elif key == "no-new-privileges":
            if value.lower() in ("1", "t", "true"):
                nnp = True
            elif value.lower() in ("0", "f", "false"):
                nnp = False
            else:
                raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
        elif key == "apparmor":
            if value != "unconfined":
                raise InvalidArgument(f"apparmor profile {value!r}: AppArmor is not supported by this engine "
                                      f"(only apparmor=unconfined)")
        elif key != "label":
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    return nnp, profile


def seccomp_for(host: dict[str, Any], caps: list[str]) -> dict[str, Any] | None:
    """The OCI ``linux.seccomp`` of a container (None: unconfined)."""
    from . import seccomp
    _nnp, profile = security_options(host)
    if profile == "unconfined":
        return None
    if profile:
        return seccomp.parse(profile, caps)
    return seccomp.default_profile(caps)


def nofile_limit() -> dict[str, Any]:
    import resource
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = 1048576 if hard == resource.RLIM_INFINITY else min(hard, 1048576)
    return {"type": "RLIMIT_NOFILE", "hard": limit, "soft": limit}


def find_init() -> str:
    for path in INIT_CANDIDATES:
        if os.path.exists(path):
            return path
    raise InvalidArgument("--init needs a static init binary: install Debian's tini (tini-static) first")


def lookup_user(user: str, layer_dirs: list[str]) -> tuple[int, int, list[int]]:
    """Resolve ``user[:group]`` against the image's /etc/passwd and /etc/group (top layer wins)."""
    def read(rel: str) -> list[list[str]]:
        for d in reversed(layer_dirs):
            path = os.path.join(d, rel)
            if os.path.lexists(path):
                try:
                    with open(path, errors="replace") as f:
                        return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
                except OSError:
                    return []
        return []

    name, _, group = (user or "0").partition(":")
    uid = gid = 0
    if name.isdigit():
        uid = int(name)
        for row in read("etc/passwd"):
            if len(row) > 3 and row[2] == name:
                gid = int(row[3])
                name = row[0]
                break
    else:
        for row in read("etc/passwd"):
            if len(row) > 3 and row[0] == name:
                uid, gid = int(row[2]), int(row[3])
                break
        else:
            raise InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            for row in read("etc/group"):
                if len(row) > 2 and row[0] == group:
                    gid = int(row[2])
                    break
            else:
                raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
    extra = []
    for row in read("etc/group"):
        if len(row) > 3 and name in row[3].split(",") and int(row[2]) != gid:
            extra.append(int(row[2]))
    return uid, gid, extra


# tmpfs(5) options a tmpfs mount takes: flags (each with its opposite) and key=value data
_TMPFS_FLAGS = {"rw": "ro", "exec": "noexec", "suid": "nosuid", "dev": "nodev", "sync": "async",
                "atime": "noatime", "diratime": "nodiratime", "relatime": "norelatime",
                "strictatime": "nostrictatime", "mand": "nomand", "dirsync": ""}
_TMPFS_FLAGS.update({v: k for k, v in list(_TMPFS_FLAGS.items()) if v})
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "huge")


def _tmpfs_size(n: int) -> str:
    """moby's spelling of a SizeBytes: the largest unit that divides it."""
    for unit, mult in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n % mult == 0:
            return f"{n // mult}{unit}"
    return str(n)


def tmpfs_mounts(host: dict[str, Any]) -> list[dict[str, Any]]:
    """The container's tmpfs mounts (``HostConfig.Tmpfs``, ``--tmpfs``, and ``HostConfig.Mounts`` of type
    tmpfs, ``--mount type=tmpfs``) as OCI mounts, with docker's defaults (noexec, nosuid, nodev) merged
    under the options given: the later of a flag and its opposite wins, as does the later ``size=``.
    Raises InvalidArgument naming the mount for a relative or duplicate path or an unknown option."""
    wanted: list[tuple[str, list[str], str]] = []
    for dest, data in (host.get("Tmpfs") or {}).items():
        wanted.append((str(dest), [o for o in str(data or "").split(",") if o], "--tmpfs"))
    for m in host.get("Mounts") or []:
        if m.get("Type") != "tmpfs":
            continue
        t = m.get("TmpfsOptions") or {}
        opts = []
        if t.get("SizeBytes"):
            size = t["SizeBytes"]
            if not isinstance(size, int) or size < 0:
                raise InvalidArgument(f"invalid mount config for type \"tmpfs\": invalid size {size!r}")
            opts.append(f"size={_tmpfs_size(size)}")
        if t.get("Mode"):
            opts.append(f"mode={int(t['Mode']):o}")
        if m.get("ReadOnly"):
            opts.append("ro")
        if m.get("Source"):
            raise InvalidArgument('invalid mount config for type "tmpfs": source must not be specified')
        wanted.append((str(m.get("Target") or ""), opts, "--mount"))
    seen: set[str] = set()
    out = []
    for dest, opts, _how in wanted:
        if not dest.startswith("/"):
            raise InvalidArgument(f"invalid mount config for type \"tmpfs\": invalid mount path: '{dest}' mount "
                                  f"path must be absolute")
        dest = os.path.normpath(dest)
        if dest == "/":
            raise InvalidArgument("invalid mount config for type \"tmpfs\": invalid specification: destination "
                                  "can't be '/'")
        if dest in seen:
            raise InvalidArgument(f"Duplicate mount point: {dest}")
        seen.add(dest)
        merged: list[str] = []
        for opt in ["noexec", "nosuid", "nodev", *opts]:
            key = opt.split("=", 1)[0]
            if opt in _TMPFS_FLAGS:
                merged = [o for o in merged if o not in (opt, _TMPFS_FLAGS[opt])]
            elif "=" in opt and key in _TMPFS_DATA:
                merged = [o for o in merged if o.split("=", 1)[0] != key]
            else:
                raise InvalidArgument(f"invalid tmpfs option {opt!r} for {dest}")
            merged.append(opt)
        out.append({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": merged + ["rprivate"]})
    return out


def build_spec(doc: dict[str, Any], rootfs: str, *, layer_dirs: list[str], files: dict[str, str],
               cgroup_path: str) -> dict[str, Any]:
    """The OCI config for a container document (Config + HostConfig + Mounts)."""
    cfg = doc["Config"]
    host = doc["HostConfig"]
    args = list(doc.get("Path") and [doc["Path"]] or []) + list(doc.get("Args") or [])
    env = list(cfg.get("Env") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")
    if cfg.get("Tty") and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    if not any(e.startswith("HOSTNAME=") for e in env):
        env.append(f"HOSTNAME={cfg.get('Hostname')}")
    uid, gid, extra = lookup_user(cfg.get("User") or "", layer_dirs)
    if not any(e.startswith("HOME=") for e in env):
        env.append("HOME=/root" if uid == 0 else "HOME=/")
    if host.get("Init"):
        args = ["/sbin/docker-init", "--"] + args
    caps = list(DOCKER_DEFAULT_CAPS)
    if host.get("Privileged"):
        raise InvalidArgument("--privileged is not supported by this engine")
    for c in host.get("CapAdd") or []:
        name = "CAP_" + c.upper().removeprefix("CAP_")
        if name == "CAP_ALL":
            raise InvalidArgument("--cap-add ALL is not supported by this engine")
        if name not in caps:
            caps.append(name)
    for c in host.get("CapDrop") or []:
        name = "CAP_" + c.upper().removeprefix("CAP_")
        caps = [] if name == "CAP_ALL" else [x for x in caps if x != name]
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755",
                                                                                  "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={host.get('ShmSize') or 67108864}"]},
    ]
    tmpfs = tmpfs_mounts(host)
    user_dests = {os.path.normpath(m["Destination"]) for m in doc.get("Mounts", [])} | \
        {m["destination"] for m in tmpfs}
    if "/dev" in user_dests:  # docker: a /dev of the user's replaces the default /dev and all below it
        mounts = [m for m in mounts if m["destination"] != "/dev" and not m["destination"].startswith("/dev/")]
    mounts = [m for m in mounts if m["destination"] not in user_dests]
    for dest, src in files.items():
        mounts.append({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]})
    users = list(tmpfs)
    for m in doc.get("Mounts", []):
        if m.get("Type") == "tmpfs":
            continue  # (one of the tmpfs mounts above)
        opts = ["rbind", "rprivate"] + ([] if m.get("RW", True) else ["ro"])
        users.append({"destination": m["Destination"], "type": "bind", "source": m["Source"], "options": opts})
    mounts += sorted(users, key=lambda m: os.path.normpath(m["destination"]).count("/"))  # a parent before what is in it
    if host.get("Init"):
        mounts.append({"destination": "/sbin/docker-init", "type": "bind", "source": find_init(),
                       "options": ["bind", "ro"]})
    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    net = host.get("NetworkMode") or "default"
    if net not in ("host",):
        namespaces.append({"type": "network"})
    resources: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    if host.get("Memory"):
        resources["memory"] = {"limit": int(host["Memory"])}
        swap = host.get("MemorySwap")
        if swap and int(swap) > 0:
            resources["memory"]["swap"] = int(swap)
    quota, period = host.get("CpuQuota") or 0, host.get("CpuPeriod") or 0
    if host.get("NanoCpus"):
        period = 100000
        quota = int(host["NanoCpus"] * period / 1e9)
    if quota:
        resources["cpu"] = {"quota": int(quota), "period": int(period or 100000)}
    if host.get("CpuShares"):
        resources.setdefault("cpu", {})["shares"] = int(host["CpuShares"])
    if host.get("PidsLimit") and int(host["PidsLimit"]) > 0:
        resources["pids"] = {"limit": int(host["PidsLimit"])}
    nnp, _profile = security_options(host)
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": bool(cfg.get("Tty")),
            "user": {"uid": uid, "gid": gid, **({"additionalGids": extra} if extra else {})},
            "args": args,
            "env": env,
            "cwd": cfg.get("WorkingDir") or "/",
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
            "rlimits": [nofile_limit()],
            "noNewPrivileges": nnp,
            "oomScoreAdj": 0,
            "_openStdin": bool(cfg.get("OpenStdin")),
        },
        "root": {"path": rootfs, "readonly": bool(host.get("ReadonlyRootfs"))},
        "hostname": cfg.get("Hostname") or doc["Id"][:12],
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "resources": resources,
            "cgroupsPath": cgroup_path,
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
    profile = seccomp_for(host, caps)
    if profile is not None:
        spec["linux"]["seccomp"] = profile
    if uid != 0:
        spec["process"]["capabilities"]["effective"] = []
        spec["process"]["capabilities"]["permitted"] = []
    return spec
