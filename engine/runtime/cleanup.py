"""Removing a container's files, mounts and row; shared by the engine and the monitor (``--rm``)."""

from __future__ import annotations

import json
import os
import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.state import State


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
            with st.tx() as db:
                db.execute("DELETE FROM ip_allocations WHERE container_id=?", (cid,))
        except Exception:  # noqa: BLE001 - a data root from before networks
            pass
        if volumes and doc:
            for m in doc.get("Mounts", []):
                if m.get("Type") == "volume" and m.get("Anonymous"):
                    remove_volume(st, root, m["Name"])  # one another container mounts stays, as docker's
        if doc:
            st.add_event({"Type": "container", "Action": "destroy", "Actor": {"ID": cid, "Attributes": {
                "name": doc.get("Name", "").lstrip("/"), "image": doc.get("Config", {}).get("Image", "")}},
                "time": __import__("time").time()})
    finally:
        st.close()
    shutil.rmtree(cdir, ignore_errors=True)


def remove_volume(st: State, root: str, name: str) -> list[str]:
    """Delete volume ``name`` unless a container mounts it; returns those containers' ids (then it stays).

    Checked and removed under one lock; the folder is moved aside before the lock is let go, so a
    container created just after gets a fresh one instead of losing it to the delete that follows.
    """
    import secrets
    path = os.path.join(root, "volumes", name)
    trash = os.path.join(root, "volumes", f".removing-{name}-{secrets.token_hex(4)}")
    with st.tx():
        users = st.volume_users(name)
        if users:
            return users
        st.delete_volume(name)
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return []
    shutil.rmtree(trash, ignore_errors=True)
    return []


def read_state(cdir: str) -> dict:
    try:
        with open(os.path.join(cdir, "state.json")) as f:
            return json.load(f)
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
    import fcntl
    try:
        fd = os.open(os.path.join(croot, f".{cid}.creating"), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
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
