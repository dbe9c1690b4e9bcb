"""The engine as a whole: ``version``, ``info``, ``system check`` and crash recovery (``recover``)."""

from __future__ import annotations

import os
import shutil
from typing import Any

from .. import aio
from ..config import Paths
from ..errors import EngineError, InvalidArgument
from ..images import layers as layers_mod
from ..runtime import cleanup
from ..state import State
from .containers import PAUSED, Containers
from .events import Events
from .images import Images
from .networks import Networks
from .records import ContainerRecords, pid_alive


class System:
    def __init__(self, state: State, paths: Paths, records: ContainerRecords, images: Images,
                 containers: Containers, networks: Networks, events: Events) -> None:
        self.state = state
        self.paths = paths
        self.records = records
        self.images = images
        self.containers = containers
        self.networks = networks
        self.events = events

    async def version(self) -> dict[str, Any]:
        import platform

        from .. import __version__
        from ..images.archive import goarch
        return {"Version": __version__, "ApiVersion": "1.47", "MinAPIVersion": "1.24", "Os": "linux",
                "Arch": goarch(), "KernelVersion": platform.release(), "GoVersion": "",
                "Components": [{"Name": "Portside Engine", "Version": __version__}]}

    async def info(self) -> dict[str, Any]:
        from ..runtime import cgroups
        ids = [c["Id"] for c in self.state.containers()]
        containers = [self.records.status(cid) for cid in ids]
        paused = sum(s == "running" and os.path.exists(os.path.join(self.paths.container(cid), PAUSED))
                     for s, cid in zip(containers, ids))
        return {"ID": "", "Containers": len(containers),
                "ContainersRunning": sum(s == "running" for s in containers) - paused,
                "ContainersPaused": paused, "ContainersStopped": sum(s != "running" for s in containers),
                "Images": len(self.state.image_rows()), "Driver": "overlay2" if layers_mod.overlay_supported() else "vfs",
                "DockerRootDir": self.paths.root, "CgroupVersion": "2" if cgroups.detect() == "v2" else "1",
                "CgroupDriver": "cgroupfs", "OperatingSystem": "Portside", "NCPU": os.cpu_count(),
                "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                "Runtimes": {"native": {"path": "portside-native"}, "runc": {"path": "runc"}},
                "DefaultRuntime": "native"}

    async def check(self, repair: bool = False) -> list[dict[str, Any]]:
        """Check the data root's invariants (:mod:`engine.check`); ``repair`` fixes what it finds.

        Returns one ``{"kind", "object", "problem", "repaired"}`` dict per inconsistency.
        """
        from .. import check
        findings = await aio.to_thread(check.check, self.state, self.paths, self.images, self.containers, repair)
        if repair and findings:
            self.events.emit("system", "repair", "", found=str(len(findings)),
                             repaired=str(sum(bool(f["repaired"]) for f in findings)))
        return findings

    # -- crash recovery -------------------------------------------------------------------------
    def recover(self) -> None:
        """Bring recorded state in line with reality after a crash or a killed monitor.

        Removes the temp files, mounts and processes of operations that died (:func:`cleanup.sweep`),
        and treats a container whose monitor died as docker treats one whose shim died: its processes
        are killed, it is marked exited (137) with the reason in ``State.Error``, its resources are
        released and its restart policy applies.
        """
        stored: set[str] = set()
        cleaned = cleanup.sweep(self.paths.root, stored)
        if stored:  # blobs of an operation killed before it recorded its image
            live = self.images.live_blobs()[0]
            for digest in sorted(stored - live):
                try:
                    if self.images.blobs.delete(digest):
                        cleaned.append(f"blob {digest}")
                except InvalidArgument:
                    pass
        restart: list[str] = []
        for doc in self.state.containers():
            cid = doc["Id"]
            cdir = self.paths.container(cid)
            st = cleanup.read_state(cdir)
            if st.get("status") in ("running", "restarting") and not pid_alive(st.get("monitor_pid", 0),
                                                                                  st.get("monitor_start")):
                try:
                    outcome = self.containers.recover_lost_monitor(doc)
                except (OSError, EngineError):
                    continue  # `system check` reports it; this command goes on
                if outcome is None:
                    continue  # another process is recovering it, or its monitor holds the lock after all
                cleaned.append(f"container {cid[:12]} (its monitor was gone)")
                if outcome:
                    restart.append(cid)
                continue
            if st.get("status") not in ("running", "restarting"):
                lock = cleanup.monitor_lock(cdir)
                if lock is None:
                    continue  # a live monitor (maybe starting it right now) owns its mounts and cgroup
                try:
                    self.containers.release_stopped(doc)
                finally:
                    os.close(lock)
        # containers dirs without a row (a crash between steps)
        croot = os.path.join(self.paths.root, "containers")
        known = {c["Id"] for c in self.state.containers()}
        for name in os.listdir(croot):
            if name not in known and len(name) == 64:
                if cleanup.creating(croot, name) or self.state.container(name):
                    continue  # being created by another process right now, or created since `known`
                st = cleanup.read_state(os.path.join(croot, name))
                if st.get("monitor_pid") and pid_alive(st["monitor_pid"], st.get("monitor_start")):
                    continue
                rootfs = os.path.join(croot, name, "rootfs")
                if os.path.ismount(rootfs):
                    from ..runtime import linux  # only here: ctypes costs every command ~2 ms
                    try:
                        linux.umount2(rootfs, linux.MNT_DETACH)
                    except OSError:
                        pass
                shutil.rmtree(os.path.join(croot, name), ignore_errors=True)
        self.networks.recover()
        if cleaned:
            self._say_cleaned(cleaned)
        for cid in restart:
            try:
                aio.run_sync(self.containers.start(cid))
            except Exception:  # noqa: BLE001 - recorded in its state by the monitor; never fails this command
                pass

    def _say_cleaned(self, cleaned: list[str]) -> None:
        import logging
        log = logging.getLogger("portside")
        for item in cleaned:
            log.debug("recovery: removed %s", item)
        self.events.emit("system", "cleanup", "", removed=str(len(cleaned)), items="; ".join(cleaned[:20]))
