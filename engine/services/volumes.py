"""Named and anonymous volumes (``docker volume``): folders under ``<root>/volumes``, rows in the store."""

from __future__ import annotations

import builtins
import os
import re
from typing import Any

from ..config import Paths
from ..errors import Conflict, InvalidArgument, NotFound
from ..runtime import cleanup
from ..state import State
from .events import Events
from .filters import labels_pass, pattern_in, truth
from .records import rfc3339_now

VOLUME_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"


def dir_size(path: str) -> int:
    total = 0
    for base, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(base, f)).st_size
            except OSError:
                pass
    return total


class Volumes:
    def __init__(self, state: State, paths: Paths, events: Events) -> None:
        self.state = state
        self.paths = paths
        self.events = events

    async def list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        """``GET /volumes`` with dockerd's filters: ``name`` (a pattern searched in the name), ``driver``,
        ``label`` (all must match) and ``dangling`` (used by no container, or used)."""
        filters = filters or {}
        dangling = truth(filters, "dangling")
        used = self._used() if dangling is not None else set()
        out = []
        for doc in self.state.volumes():
            if filters.get("name") and not any(pattern_in(v, doc["Name"]) for v in filters["name"]):
                continue
            if filters.get("driver") and doc.get("Driver") not in filters["driver"]:
                continue
            if not labels_pass(doc.get("Labels") or {}, filters):
                continue
            if dangling is not None and (doc["Name"] not in used) != dangling:
                continue
            out.append(doc)
        return out

    def _used(self) -> set[str]:
        """The names of the volumes some container (running or not) mounts."""
        return {m.get("Name") for c in self.state.containers() for m in c.get("Mounts", [])
                if m.get("Type") == "volume"}

    async def create(self, name: str | None = None, labels: dict[str, str] | None = None) -> str:
        """A named volume; without a name, a random one that is anonymous (``volume prune`` takes it), as dockerd."""
        anonymous = not name
        name = name or os.urandom(32).hex()
        if not re.fullmatch(VOLUME_NAME, name):
            raise InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local volume name, '
                                  f'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed')
        self.ensure(name, anonymous=anonymous, labels=labels)
        return name

    def ensure(self, name: str, anonymous: bool = False, labels: dict[str, str] | None = None) -> str:
        """The volume's folder, made (with its row) when missing; returns its path."""
        path = self.paths.volume(name)
        with self.state.tx():  # folder and row under one lock: a `volume rm` removes both or neither
            os.makedirs(path, exist_ok=True)
            created = self.state.put_volume(name, {
                "Name": name, "Driver": "local", "Mountpoint": path, "CreatedAt": rfc3339_now(), "Scope": "local",
                "Labels": dict(labels or {}, **({"com.docker.volume.anonymous": ""} if anonymous else {})),
                "Options": None})
        if created:
            self.events.emit("volume", "create", name, driver="local")
        return path

    async def inspect(self, name: str) -> dict[str, Any]:
        doc = self.state.volume(name)
        if doc is None:
            raise NotFound(f"get {name}: no such volume")
        return doc

    async def prune(self, filters: dict[str, builtins.list[str]] | None = None) -> dict[str, Any]:
        """``POST /volumes/prune``: remove volumes no container uses, as docker 23+ does.

        Only anonymous volumes unless the ``all`` filter is true (``volume prune -a``); ``label`` /
        ``label!`` filters narrow it further. Returns ``{"VolumesDeleted": [...], "SpaceReclaimed": N}``.
        """
        filters = filters or {}
        everything = any(v.lower() in ("1", "true") for v in filters.get("all", []))
        used = self._used()
        deleted: builtins.list[str] = []
        reclaimed = 0
        for doc in self.state.volumes():
            name = doc["Name"]
            labels = doc.get("Labels") or {}
            if name in used or (not everything and "com.docker.volume.anonymous" not in labels):
                continue
            if not labels_pass(labels, filters):
                continue
            size = dir_size(os.path.join(self.paths.volumes, name))
            try:
                await self.delete(name)
            except Conflict:
                continue  # a container started using it since we looked
            deleted.append(name)
            reclaimed += size
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}  # dockerd: [] when none, not null

    async def delete(self, name: str, force: bool = False) -> None:
        if self.state.volume(name) is None:
            if force:
                return
            raise NotFound(f"get {name}: no such volume")
        users = cleanup.remove_volume(self.state, self.paths.root, name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self.events.emit("volume", "destroy", name)
