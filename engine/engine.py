"""The in-process engine: ``async with Engine.open(root) as engine``.

:class:`Engine` is the composition root: it opens one data root (the store, the blob store) and builds
the services of :mod:`engine.services`, each handed the peers it needs, as attributes::

    engine.images  engine.containers  engine.volumes  engine.networks  engine.registry
    engine.system  engine.events  engine.swarm (built when first used)

It holds no logic of its own. Results are shaped like the Docker Engine API's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .config import Paths, default_root
from .images.store import BlobStore
from .services.containers import Containers
from .services.events import Events
from .services.images import Images
from .services.networks import Networks
from .services.records import ContainerRecords
from .services.system import System
from .services.volumes import Volumes
from .state import State

if TYPE_CHECKING:
    from .runtime.forkserver import ForkServer
    from .services.build import BuildHost
    from .services.endpoints import Endpoints
    from .services.registry import Registry
    from .services.swarm import Swarm


class Engine:
    """One data root, opened. Not thread-safe; one per event loop (a build's thread opens its own)."""

    def __init__(self, root: str | None = None, *, forkserver: bool = False) -> None:
        self.paths = Paths(root or default_root())
        self.paths.ensure()
        self.state = State(self.paths.db)
        self.blobs = BlobStore(self.paths.blobs, owner_root=self.paths.root)
        self.events = Events(self.state)
        self.records = ContainerRecords(self.state, self.paths)
        self.images = Images(self.state, self.paths, self.blobs, self.events, self.records, self._build_host)
        self.volumes = Volumes(self.state, self.paths, self.events)
        self.networks = Networks(self.state, self.paths, self.events, self.records)
        # a long-running engine (the daemon) forks its containers' monitors from a small warm template
        self.forkserver: ForkServer | None = None
        if forkserver:
            from .runtime.forkserver import ForkServer
            self.forkserver = ForkServer(self.networks.monitor_modules)
            self.forkserver.start()
        self.containers = Containers(self.state, self.paths, self.records, self.images, self.networks,
                                     self.volumes, self.events, self.forkserver)
        self.system = System(self.state, self.paths, self.records, self.images, self.containers, self.networks,
                             self.events)
        self._swarm: Swarm | None = None
        self._endpoints: Endpoints | None = None

    @property
    def endpoints(self) -> Endpoints:
        """The services' VIPs, ingress ports and DNS records; built on first use (swarm mode only)."""
        if self._endpoints is None:
            from .services.endpoints import Endpoints
            self._endpoints = Endpoints(self.state, self.paths, self.networks)
        return self._endpoints

    @property
    def swarm(self) -> Swarm:
        """Swarm mode (``/swarm``, ``/nodes``, ``/services``, ``/tasks``, ``/secrets``, ``/configs``); built
        on first use, so commands that never touch it do not load it."""
        if self._swarm is None:
            from .services.swarm import Swarm
            self._swarm = Swarm(self.state, self.paths, self.containers, self.networks, self.images, self.events,
                                self.endpoints, lambda: self.registry)
        return self._swarm

    @cached_property
    def registry(self) -> Registry:
        """Pulls, pushes and logins: built when first asked for (its threads and queues are not a
        container's business)."""
        from .services.registry import Registry
        return Registry(self.state, self.paths, self.blobs, self.images, self.events)

    @classmethod
    @asynccontextmanager
    async def open(cls, root: str | None = None, *, recover: bool = True) -> AsyncIterator[Engine]:
        """The engine of ``root``, closed on exit; ``recover`` first repairs what a crash left."""
        engine = cls(root)
        try:
            if recover:
                engine.system.recover()
            yield engine
        finally:
            engine.close()

    def close(self) -> None:
        if self.forkserver is not None:
            self.forkserver.close()
        self.state.close()

    def _build_host(self) -> BuildHost:
        """What a build's thread works with: an engine of its own on the same data root."""
        from .services.build import BuildHost
        engine = Engine(self.paths.root)
        return BuildHost(engine.images, engine.registry, engine.networks, engine.close)
