"""A scripted transport for drawing tests: fixed containers and images, no engine.

Only the snapshot tests use it (behaviour tests run the real engine). Creation times are fixed offsets
from now, each in the middle of one of docker's "ago" buckets, so the drawn text never drifts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from engine.client.transport import BaseTransport
from engine.errors import NotFound

HOUR = 3600
DAY = 24 * HOUR


def _hex(seed: str) -> str:
    return (seed * 64)[:64]


def containers(now: float) -> list[dict[str, Any]]:
    rows = [
        ("1fa4ab2cf395", "harbor-web", "nginx:alpine", "running", "Up 3 days", 3 * DAY + 5 * HOUR),
        ("7c0ffee12345", "harbor-db", "postgres:16", "running", "Up 3 days", 3 * DAY + 6 * HOUR),
        ("b0a7d0c4e5f6", "cache", "redis:7", "restarting", "Restarting (1) 2 seconds ago", 5 * 7 * DAY + 2 * DAY),
        ("e917ed000abc", "nightly-backup", "busybox", "exited", "Exited (0) 5 weeks ago", 5 * 7 * DAY + 3 * DAY),
        ("dead0000beef", "old-worker", "busybox", "dead", "Dead", 800 * DAY),
    ]
    return [
        {"Id": (cid * 6)[:64], "Names": [f"/{name}"], "Image": image, "ImageID": "sha256:" + _hex(image[0]),
         "Command": "sh", "Created": int(now - age), "Ports": [], "Labels": {}, "State": state, "Status": status}
        for cid, name, image, state, status, age in rows
    ]


def images(now: float) -> list[dict[str, Any]]:
    rows = [
        ("a1", ["nginx:alpine", "nginx:1.27-alpine"], 48_300_000, 3 * DAY + 7 * HOUR),
        ("b2", ["postgres:16"], 438_000_000, 5 * 7 * DAY + 1 * DAY),
        ("c3", ["redis:7"], 117_000_000, 125 * DAY),
        ("d4", ["busybox:latest"], 4_260_000, 800 * DAY),
        ("e5", [], 1_530, 800 * DAY + 10 * DAY),
    ]
    return [
        {"Id": "sha256:" + _hex(seed), "ParentId": "", "RepoTags": tags, "RepoDigests": [],
         "Created": int(now - age), "Size": size, "SharedSize": -1, "VirtualSize": size, "Labels": None,
         "Containers": 0}
        for seed, tags, size, age in rows
    ]


class FakeTransport(BaseTransport):
    """Answers ``containers_list`` and ``images_list``; ``events`` stays silent until cancelled."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(name)
        now = time.time()
        if name == "containers_list":
            return containers(now)
        if name == "images_list":
            return images(now)
        if name in ("container_stop", "container_delete", "image_delete"):
            raise NotFound(f"No such object: {args[0] if args else ''}")
        return await super().call(name, *args, **kwargs)

    async def stream(self, name: str, /, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        if name != "events":
            raise NotFound(name)
        await asyncio.Event().wait()
        yield {}  # pragma: no cover
