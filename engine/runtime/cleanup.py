"""Removing a container's files, mounts and row; shared by the engine and the monitor (``--rm``)."""

from __future__ import annotations

import json
import os
import shutil


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
        if volumes and doc:
            for m in doc.get("Mounts", []):
                if m.get("Type") == "volume" and m.get("Anonymous"):
                    st.delete_volume(m["Name"])
                    shutil.rmtree(os.path.join(root, "volumes", m["Name"]), ignore_errors=True)
        if doc:
            st.add_event({"Type": "container", "Action": "destroy", "Actor": {"ID": cid, "Attributes": {
                "name": doc.get("Name", "").lstrip("/"), "image": doc.get("Config", {}).get("Image", "")}},
                "time": __import__("time").time()})
    finally:
        st.close()
    shutil.rmtree(cdir, ignore_errors=True)


def read_state(cdir: str) -> dict:
    try:
        with open(os.path.join(cdir, "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
