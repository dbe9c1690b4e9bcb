"""Disk usage as ``GET /system/df`` answers it: images, containers, volumes and the build cache.

Built from the engine's own listings (the same numbers ``docker images``, ``ps -s`` and ``volume ls``
show), so ``docker system df`` and Portside's views agree.
"""

from __future__ import annotations

import os
from typing import Any

from .. import aio
from ..errors import InvalidArgument
from .containers import Containers
from .images import Images
from .volumes import Volumes, dir_size

KINDS = ("container", "image", "volume", "build-cache")


async def disk_usage(containers_svc: Containers, images_svc: Images, volumes_svc: Volumes,
                     kinds: list[str] | None = None) -> dict[str, Any]:
    """docker's ``DiskUsage``: ``LayersSize``, ``Images`` (with ``Containers`` counts), ``Containers``
    (with ``SizeRw``/``SizeRootFs``), ``Volumes`` (with ``UsageData``), ``BuildCache``.

    ``kinds`` (the API's ``type`` query) limits what is computed; the rest is left out (None)."""
    want = set(kinds or KINDS)
    unknown = want - set(KINDS)
    if unknown:
        raise InvalidArgument(f"unknown object type: {sorted(unknown)[0]}")
    containers = await containers_svc.list(all=True, size="container" in want)
    doc: dict[str, Any] = {"LayersSize": 0, "Images": None, "Containers": None, "Volumes": None,
                           "BuildCache": [] if "build-cache" in want else None}
    if "image" in want:
        images = await images_svc.list()
        users: dict[str, int] = {}
        for c in containers:
            users[c["ImageID"]] = users.get(c["ImageID"], 0) + 1
        for img in images:
            img["Containers"] = users.get(img["Id"], 0)
            img.setdefault("SharedSize", -1)
        doc["Images"] = images
        doc["LayersSize"] = sum(img["Size"] for img in images)
    if "container" in want:
        sizes = {img["Id"]: img["Size"] for img in await images_svc.list(all=True)}
        for c in containers:
            c["SizeRootFs"] = c.get("SizeRw", 0) + sizes.get(c["ImageID"], 0)
        doc["Containers"] = containers
    if "volume" in want:
        volumes = await volumes_svc.list()
        refs: dict[str, int] = {}
        for c in containers:
            for m in c.get("Mounts") or []:
                if m.get("Type") == "volume" and m.get("Name"):
                    refs[m["Name"]] = refs.get(m["Name"], 0) + 1
        for v in volumes:
            path = v.get("Mountpoint") or ""
            size = await aio.to_thread(dir_size, path) if os.path.isdir(path) else -1
            v["UsageData"] = {"Size": size, "RefCount": refs.get(v["Name"], 0)}
        doc["Volumes"] = volumes
    return doc
