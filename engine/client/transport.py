"""The seam between the client and an engine.

A transport answers ``call(name, **kwargs)`` (one result) and ``stream(name, **kwargs)`` (an async
iterator). :class:`LocalTransport` calls an in-process :class:`engine.engine.Engine`'s services (a name
is ``"service.method"``, or one of the client's older flat names in :data:`SERVICE_METHODS`); an HTTP transport
to a Docker Engine API endpoint plugs in at the same place. Lower-layer failures are translated here,
once, into :mod:`engine.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..config import default_root
from ..errors import EngineError


# the client's flat names → the service method that answers them
SERVICE_METHODS: dict[str, str] = {
    "images_list": "images.list", "image_inspect": "images.inspect", "image_history": "images.history",
    "image_tag": "images.tag", "image_delete": "images.delete", "images_prune": "images.prune",
    "image_import": "images.import_image", "image_make_busybox": "images.make_busybox", "images_save": "images.save",
    "images_load": "images.load", "build": "images.build",
    "image_pull": "registry.pull", "image_push": "registry.push", "login": "registry.login",
    "logout": "registry.logout",
    "containers_list": "containers.list", "container_create": "containers.create",
    "container_inspect": "containers.inspect", "containers_prune": "containers.prune",
    "container_start": "containers.start", "container_stop": "containers.stop",
    "container_restart": "containers.restart", "container_kill": "containers.kill",
    "container_delete": "containers.delete", "container_wait": "containers.wait",
    "container_rename": "containers.rename", "container_top": "containers.top", "container_stats": "containers.stats",
    "container_logs": "containers.logs", "container_exec": "containers.exec",
    "networks_list": "networks.list", "network_create": "networks.create", "network_inspect": "networks.inspect",
    "networks_prune": "networks.prune", "network_delete": "networks.delete", "network_connect": "networks.connect",
    "network_disconnect": "networks.disconnect",
    "volumes_list": "volumes.list", "volume_create": "volumes.create", "volume_inspect": "volumes.inspect",
    "volume_delete": "volumes.delete", "volumes_prune": "volumes.prune",
    "version": "system.version", "info": "system.info", "system_check": "system.check",
    "events": "events.stream",
}


def service_method(engine: Any, name: str) -> Any:
    """The bound method of ``engine``'s services that ``name`` (flat or ``service.method``) names."""
    service, _, method = SERVICE_METHODS.get(name, name).partition(".")
    target = getattr(getattr(engine, service, None), method, None) if method else None
    if target is None:
        raise EngineError(f"the engine has no operation {name!r}")
    return target


class BaseTransport:
    kind: str = "embedded"
    """Which engine this is: ``embedded`` (in this process), ``daemon`` (a portside daemon), ``remote``."""
    address: str = "embedded engine"
    """Where it is, for people: ``embedded engine (/var/lib/portside)``, ``unix:///run/portside/portside.sock``."""

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        raise EngineError(f"{type(self).__name__} cannot {name}")

    def stream(self, name: str, /, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise EngineError(f"{type(self).__name__} cannot stream {name}")


class LocalTransport(BaseTransport):
    """Runs the engine in this process (the embedded default)."""

    kind = "embedded"

    def __init__(self, root: str | None = None, engine: Any = None) -> None:
        self.root = root
        self.engine = engine
        self._owned = engine is None
        self.address = f"embedded engine ({root or default_root()})"

    async def open(self) -> None:
        if self.engine is None:
            from ..engine import Engine
            try:
                self.engine = Engine(self.root)
                self.engine.system.recover()
            except OSError as exc:
                raise EngineError(f"cannot open the data root {self.root or ''}: {exc.strerror}") from exc

    async def close(self) -> None:
        if self._owned and self.engine is not None:
            self.engine.close()
            self.engine = None

    async def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        try:
            return await service_method(self.engine, name)(*args, **kwargs)
        except EngineError:
            raise
        except OSError as exc:
            raise EngineError(f"{name.replace('_', ' ')}: {exc.strerror or exc}"
                              + (f": {exc.filename}" if exc.filename else "")) from exc

    async def stream(self, name: str, /, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
        try:
            async for item in service_method(self.engine, name)(*args, **kwargs):
                yield item
        except EngineError:
            raise
        except OSError as exc:
            raise EngineError(f"{name.replace('_', ' ')}: {exc.strerror or exc}") from exc
