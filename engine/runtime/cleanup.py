"""Removing a container's files, mounts and row; shared by the engine and the monitor (``--rm``)."""

from __future__ import annotations

import json
import os
import shutil
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.state import State

from engine.errors import EngineError


def remove_container_files(root: str, cid: str, *, volumes: bool = False) -> None:
    """Unmount and delete everything a container owns; optionally its anonymous volumes."""
    from engine import state as state_mod
    from engine.runtime import linux

    cdir = os.path.join(root, "containers", cid)
    rootfs = os.path.join(cdir, "rootfs")
    if os.path.ismount(rootfs):
        try:
            linux.umount2(rootfs, linux.MNT_DETACH)
        except OSError:
            pass
    st = state_mod.State(os.path.join(root, "state.db"))
    try:
        doc = st.container(cid)
        st.delete_container(cid)
        try:  # the container's addresses go back to their networks' pools (engine.network.ipam)
            st.release_addresses(cid)
        except Exception:  # noqa: BLE001 - a data root from before networks
            pass
        if volumes and doc:
            for m in doc.get("Mounts", []):
                if m.get("Type") == "volume" and m.get("Anonymous"):
                    remove_volume(st, root, m["Name"])  # one another container mounts stays, as docker's
        if doc:
            st.emit("container", "destroy", cid, {"name": doc.get("Name", "").lstrip("/"),
                                                   "image": doc.get("Config", {}).get("Image", "")})
    finally:
        st.close()
    # moved aside at once, then deleted: deleted in place, its monitor.lock went first and a monitor
    # starting it meanwhile made a new one, locked that and set the container up in a folder going away
    trash = os.path.join(root, "tmp", f"ctrrm-{temp_owner(root)}-{os.urandom(4).hex()}")
    try:
        os.makedirs(os.path.dirname(trash), exist_ok=True)
        os.rename(cdir, trash)
    except FileNotFoundError:
        return
    except OSError:  # tmp on another filesystem: delete in place
        trash = cdir
    shutil.rmtree(trash, ignore_errors=True)


def remove_volume(st: State, root: str, name: str) -> list[str]:
    """Delete volume ``name`` unless a container mounts it; returns those containers' ids (then it stays).

    Checked and removed under one lock; the folder is moved aside before the lock is let go, so a
    container created just after gets a fresh one instead of losing it to the delete that follows.
    """
    path = os.path.join(root, "volumes", name)
    # a temp name with this process's owner tag: if it is killed half-way, recovery removes the rest
    trash = os.path.join(root, "tmp", f"volrm-{temp_owner(root)}-{os.urandom(4).hex()}-{name}")
    with st.tx():
        users = st.volume_users(name)
        if users:
            return users
        st.delete_volume(name)
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return []
        except OSError:  # tmp on another filesystem: delete in place
            trash = path
    shutil.rmtree(trash, ignore_errors=True)
    return []


def _restore_volume(root: str, trash: str) -> bool:
    """A volume folder moved aside by a ``volume rm`` killed before its row went: put it back."""
    from engine import state as state_mod
    name = os.path.basename(trash).split("-", 3)[-1]
    path = os.path.join(root, "volumes", name)
    st = state_mod.State(os.path.join(root, "state.db"))
    try:
        with st.tx():
            if st.volume(name) is None or os.path.exists(path):
                return False
            os.rename(trash, path)
            return True
    finally:
        st.close()


def read_state(cdir: str) -> dict[str, Any]:
    try:
        with open(os.path.join(cdir, "state.json")) as f:
            state: dict[str, Any] = json.load(f)
            return state
    except (OSError, ValueError):
        return {}


def creating_lock(croot: str, cid: str) -> int:
    """Mark ``cid`` as being created: an flock held on ``<containers>/.<cid>.creating`` until its row is in."""
    import fcntl
    os.makedirs(croot, exist_ok=True)
    fd = os.open(os.path.join(croot, f".{cid}.creating"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def creating_done(croot: str, cid: str, fd: int) -> None:
    try:
        os.unlink(os.path.join(croot, f".{cid}.creating"))
    except OSError:
        pass
    os.close(fd)


def creating(croot: str, cid: str) -> bool:
    """Whether another process holds ``cid``'s creation lock (a crashed creator's lock is free)."""
    path = os.path.join(croot, f".{cid}.creating")
    if not os.path.exists(path):
        return False
    if lock_held(path):
        return True
    try:
        os.unlink(os.path.join(croot, f".{cid}.creating"))  # a crashed creator's
    except OSError:
        pass
    return False


def monitor_lock(cdir: str) -> int | None:
    """The container's monitor lock, taken without waiting; None while a monitor holds it (or no dir)."""
    import fcntl
    try:
        fd = os.open(os.path.join(cdir, "monitor.lock"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


# -- live operations and their debris ------------------------------------------------------------------
# Every temp file, temp dir and mount an operation (pull, load, build, import) makes carries its owner's
# tag, ``<pid>.<start time>``, in its name (``.tmp-<tag>-…``, ``run-<tag>-…``). The owner process leaves
# a marker ``<root>/ops/<tag>``; an operation that must protect blobs or outlive-kill processes also
# holds an flock on ``<root>/ops/<tag>.<kind>.<n>`` listing them. When the owner is gone (kill -9),
# :func:`sweep` (run on every engine open) removes its debris: usually one listdir of an empty folder.

OPS = "ops"
_TAG_RE = None
_owner: tuple[int, str] | None = None
_marked: set[str] = set()


def owner_tag() -> str:
    """This process's tag: ``<pid>.<start time in clock ticks>`` (unique across pid reuse)."""
    global _owner
    pid = os.getpid()
    if _owner is None or _owner[0] != pid:  # recomputed in a forked child
        from .proc import proc_start_time
        _owner = (pid, f"{pid}.{proc_start_time(pid)}")
    return _owner[1]


def ops_dir(root: str) -> str:
    return os.path.join(root, OPS)


def temp_owner(root: str) -> str:
    """The tag to put in a temp name under ``root``; leaves this process's marker there first."""
    tag = owner_tag()
    key = f"{tag}:{root}"
    if key not in _marked:
        d = ops_dir(root)
        os.makedirs(d, mode=0o700, exist_ok=True)
        with open(os.path.join(d, tag), "a"):
            pass
        _marked.add(key)
    return tag


def tag_of(name: str) -> str | None:
    """The owner tag in a temp name (``.tmp-123.456-…``), None for a name without one."""
    global _TAG_RE
    if _TAG_RE is None:
        import re
        _TAG_RE = re.compile(r"^(?:\.tmp|[a-z]+)-(\d+\.\d+)(?:-|$)")
    m = _TAG_RE.match(name)
    return m.group(1) if m else None


def tag_alive(tag: str) -> bool:
    from .proc import proc_start_time
    pid, _, start = tag.partition(".")
    try:
        return proc_start_time(int(pid)) == int(start) and not _zombie(int(pid))
    except ValueError:
        return False


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2:data.rindex(b")") + 3] in (b"Z", b"X")
    except OSError:
        return True


class Operation:
    """A live operation's lock file: what it protects (``image``/``blob`` lines), the processes it
    started (``pid <pid> <start>`` lines) and their cgroups (``cgroup portside/build-<id>``), for
    :func:`sweep` to end and remove when the operation died."""

    def __init__(self, root: str, kind: str) -> None:
        import fcntl
        tag = temp_owner(root)
        d = ops_dir(root)
        self.path = os.path.join(d, f"{tag}.{kind}.{os.urandom(4).hex()}")
        new = self.path + ".new"
        self.fd = os.open(new, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        os.rename(new, self.path)  # appears already locked: never judged dead while starting

    def note(self, key: str, value: str) -> None:
        if self.fd >= 0:
            os.write(self.fd, f"{key} {value}\n".encode())

    def note_process(self, pid: int) -> None:
        """Record ``pid`` and the engine cgroup it runs in (a RUN step's ``portside/build-<id>``)."""
        from .proc import proc_start_time
        self.note("pid", f"{pid} {proc_start_time(pid)}")
        group = engine_cgroup_of(pid)
        if group:
            self.note("cgroup", group)

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> Operation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def engine_cgroup_of(pid: int) -> str | None:
    """The engine cgroup (``portside/…``) ``pid`` is in, from ``/proc/<pid>/cgroup``; None outside one."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        path = line.split(":", 2)[-1].strip("/")
        if path.startswith("portside/"):
            return path
    return None


def remove_cgroup(name: str) -> bool:
    """Kill what is left in the engine cgroup ``name`` and remove it (every v1 hierarchy, or v2).
    Returns whether there was one to remove."""
    from . import cgroups
    if not name.startswith("portside/") or ".." in name.split("/"):
        return False
    try:
        group = cgroups.Cgroup(name)
    except EngineError:  # no cgroup filesystem: nothing can be left
        return False
    if not group.exists():
        return False
    if group.pids():
        group.kill_all()
    group.destroy()
    return True


def lock_held(path: str) -> bool:
    """Whether a process holds an flock on the file at ``path`` (False when there is no such file)."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _op_lines(path: str) -> list[tuple[str, str]]:
    try:
        with open(path) as f:
            return [(k, v) for k, _, v in (line.strip().partition(" ") for line in f) if k]
    except OSError:
        return []


def live_operations(root: str) -> list[list[tuple[str, str]]]:
    """The notes of every operation still running under ``root`` (their images and blobs are in use)."""
    d = ops_dir(root)
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.count(".") >= 3 and not name.endswith(".new"):
            path = os.path.join(d, name)
            tag = name.split(".", 2)
            if tag_alive(f"{tag[0]}.{tag[1]}") and lock_held(path):
                out.append(_op_lines(path))
    return out


def protected(root: str) -> tuple[set[str], set[str]]:
    """(image ids, blob digests) that running operations hold."""
    images: set[str] = set()
    blobs: set[str] = set()
    for lines in live_operations(root):
        for k, v in lines:
            if k == "image":
                images.add(v)
            elif k == "blob":
                blobs.add(v)
    return images, blobs


def temp_places(root: str) -> list[str]:
    """The folders where operations make temp files and dirs."""
    return [os.path.join(root, "tmp"), os.path.join(root, "layers"), os.path.join(root, "images", "blobs", "sha256")]


def remove_temp(path: str) -> None:
    """Unmount whatever is mounted at or below ``path`` (deepest first), then delete it."""
    from . import linux
    for mp in mounts_under(path):
        try:
            linux.umount2(mp, linux.MNT_DETACH)
        except OSError:
            pass
    if mounts_under(path):
        return  # never delete through a mount (it could be a layer)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path`` (``/proc/self/mountinfo``), deepest first."""
    path = os.path.realpath(path)
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = unescape_mount(line.split()[4])
                if mp == path or mp.startswith(path + "/"):
                    found.append(mp)
    except OSError:
        return []
    return sorted(found, key=len, reverse=True)


def unescape_mount(text: str) -> str:
    if "\\" not in text:
        return text
    import re
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def kill_process(pid: int, start: int) -> bool:
    """SIGKILL ``pid`` if it is still the process that started at ``start`` (a RUN step's init: pid 1 of
    its own pid namespace, so the whole tree goes with it)."""
    import signal
    from .proc import proc_start_time
    if pid <= 1 or proc_start_time(pid) != start:
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def sweep(root: str, blobs: set[str] | None = None) -> list[str]:
    """Remove the temp files, mounts, processes and cgroups of operations that are no longer running.

    Returns a description of each thing removed; the blobs a dead operation stored are added to
    ``blobs`` (the caller deletes those no image uses). Cheap when nothing died: one listdir.
    """
    d = ops_dir(root)
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        # a data root no operation of this version has used yet: debris from before owner tags goes once
        swept = _sweep_untagged(root)
        os.makedirs(d, mode=0o700, exist_ok=True)
        return swept
    if not names:
        return []
    own = owner_tag()
    cleaned: list[str] = []
    dead_tags: set[str] = set()
    for name in names:
        parts = name.split(".")
        if len(parts) < 2:
            continue
        tag = f"{parts[0]}.{parts[1]}"
        if tag == own:
            continue
        alive = tag_alive(tag)
        path = os.path.join(d, name)
        if len(parts) == 2:  # the owner's marker
            if not alive:
                dead_tags.add(tag)
            continue
        if alive and (name.endswith(".new") or lock_held(path)):
            continue
        if not alive or not lock_held(path):
            groups = []
            for k, v in _op_lines(path):
                if k == "blob" and blobs is not None:
                    blobs.add(v)
                if k == "pid":
                    pid, _, start = v.partition(" ")
                    if not (pid.isdigit() and start.isdigit()):
                        continue
                    group = engine_cgroup_of(int(pid))  # a record from before cgroups were noted
                    if kill_process(int(pid), int(start)):
                        cleaned.append(f"process {pid}")
                        if group and group not in groups:
                            groups.append(group)
                if k == "cgroup" and v not in groups:
                    groups.append(v)
            for group in groups:  # after their processes: the cgroup drains as the pid namespace dies
                try:
                    if remove_cgroup(group):
                        cleaned.append(f"cgroup {group}")
                except (OSError, EngineError):
                    pass  # still busy: `system check` reports it
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            if not alive:
                dead_tags.add(tag)
    if dead_tags:
        for place, entry in _temp_entries(root):
            if tag_of(entry) in dead_tags:
                if entry.startswith("volrm-") and _restore_volume(root, os.path.join(place, entry)):
                    cleaned.append(f"{os.path.join(place, entry)} (put back: its removal never committed)")
                    continue
                remove_temp(os.path.join(place, entry))
                cleaned.append(os.path.join(place, entry))
        for tag in dead_tags:
            try:
                os.unlink(os.path.join(d, tag))
            except FileNotFoundError:
                pass
    return cleaned


def _temp_entries(root: str) -> list[tuple[str, str]]:
    """(folder, name) of everything in the folders where operations make temp files."""
    found = []
    for place in temp_places(root):
        try:
            found += [(place, entry) for entry in os.listdir(place)]
        except FileNotFoundError:
            continue
    return found


def _sweep_untagged(root: str) -> list[str]:
    """Temp files and dirs named before they carried their owner's tag (``.tmp-abc…``, ``run-xyz…``)."""
    cleaned = []
    for place, entry in _temp_entries(root):
        legacy = entry.startswith(".tmp-") if not place.endswith("tmp") else \
            entry.split("-", 1)[0] in ("run", "view", "from", "copy")
        if legacy and tag_of(entry) is None:
            remove_temp(os.path.join(place, entry))
            cleaned.append(os.path.join(place, entry))
    return cleaned
