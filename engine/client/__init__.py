"""An aiodocker-style async client that speaks the Docker Engine API.

    async with Docker() as docker:
        await docker.images.list()
        container = await docker.containers.run({"Image": "busybox", "Cmd": ["true"]})
        await container.wait()

``Docker`` wires ``images``, ``containers``, ``volumes``, ``networks``, ``system``, ``events`` and
``auth``; each method is one API route (docker's method, path and parameters) and results are the
API's shapes. The transport decides where the engine is: in this process (:class:`LocalTransport`, the
default: the API's handlers called directly), or behind a socket (``engine.client.http``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ..errors import EngineError, NotFound, NotImplementedByEngine
from ..logfiles import parse_log_opts
from ..network.ports import format_ports, parse_publish
from ..reference import parse as parse_reference
from ..units import bytes_size, human_duration, human_size, parse_since, ram_in_bytes, since
from .containers import Attached, DockerContainer, DockerContainers, DockerExec
from .images import DockerImages
from .system import DockerAuth, DockerEvents, DockerNetwork, DockerNetworks, DockerSystem, DockerVolumes
from .transport import BaseTransport, Body, Duplex, LocalTransport, Params, Reply, Transport

__all__ = ["Docker", "DockerContainer", "DockerContainers", "DockerExec", "DockerImages", "DockerNetwork",
           "DockerNetworks", "DockerVolumes", "DockerSystem", "DockerEvents", "DockerAuth", "Attached",
           "Transport", "LocalTransport", "BaseTransport", "Reply", "Duplex", "EngineError",
           "bytes_size", "human_duration", "human_size", "parse_since", "ram_in_bytes", "since",
           "parse_log_opts", "parse_reference", "parse_publish", "format_ports"]

KIND_WORDS = {"embedded": "an embedded engine", "daemon": "a Portside daemon without this route",
              "remote": "another Docker engine"}


class Docker:
    """The client. Use as ``async with Docker(root=...) as docker``.

    Args:
        root: the embedded engine's data root (with the default transport).
        transport: where the engine is; default: docker's choice (:func:`engine.client.contexts.connect`:
            ``--context``, ``-H``, the data root, ``DOCKER_HOST``, ``DOCKER_CONTEXT``, docker's current
            context, then ``portside daemon``'s socket when it answers, else :class:`LocalTransport`).
        host, context: as docker's ``-H`` and ``--context``, for that choice.
    """

    def __init__(self, root: str | None = None, *, transport: Transport | None = None,
                 host: str | None = None, context: str | None = None) -> None:
        if transport is None:
            from .contexts import connect
            transport = connect(host=host, context=context, root=root)
        self.transport: Transport = transport
        self.images = DockerImages(self)
        self.containers = DockerContainers(self)
        self.volumes = DockerVolumes(self)
        self.networks = DockerNetworks(self)
        self.system = DockerSystem(self)
        self.events = DockerEvents(self)
        self.auth = DockerAuth(self)

    async def __aenter__(self) -> Docker:
        await self.transport.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    # -- the calls every collection makes -----------------------------------------------------------
    async def _request(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                       headers: dict[str, str] | None = None) -> Reply:
        return await self.transport.request(method, path, params=params, body=body, headers=headers)

    async def _send(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                    headers: dict[str, str] | None = None) -> Reply:
        """A call whose status is the answer: the body is dropped."""
        reply = await self.transport.request(method, path, params=params, body=body, headers=headers)
        await reply.drain()
        return reply

    async def _json(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                    headers: dict[str, str] | None = None) -> Any:
        reply = await self.transport.request(method, path, params=params, body=body, headers=headers)
        return await reply.json()

    async def _lines(self, method: str, path: str, *, params: Params | None = None, body: Body = None,
                     headers: dict[str, str] | None = None) -> AsyncIterator[Any]:
        """A streamed answer's JSON lines, closed when the caller stops reading."""
        reply = await self.transport.request(method, path, params=params, body=body, headers=headers)
        try:
            async for item in reply.lines():
                yield item
        finally:
            await reply.close()

    async def _portside(self, what: str, method: str, path: str, *, params: Params | None = None,
                        body: Body = None) -> Any:
        """A Portside-only route (``/portside/…``): another Docker engine does not know it (404)."""
        try:
            return await self._json(method, path, params=params, body=body)
        except NotFound as exc:
            if str(exc) != "page not found":
                raise
            t = self.transport
            raise NotImplementedByEngine(f"{what} needs a Portside engine; {t.address} is "
                                         f"{KIND_WORDS.get(t.kind, t.kind)}") from None
