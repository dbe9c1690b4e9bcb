"""An aiodocker-style async client that speaks the Docker Engine API.

    async with Docker() as docker:
        await docker.images.list()
        container = await docker.containers.run({"Image": "busybox", "Cmd": ["true"]})
        await container.wait()

``Docker`` wires ``images``, ``containers``, ``volumes``, ``networks``, ``system``, ``events``, ``auth``,
and the swarm's ``swarm``, ``nodes``, ``services``, ``tasks``, ``secrets`` and ``configs``; each method
is one API route (docker's method, path and parameters) and results are the API's shapes. The transport decides where the engine is: in this process (:class:`LocalTransport`, the
default: the API's handlers called directly), or behind a socket (``engine.client.http``).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from functools import cached_property
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

from .. import __version__  # the client's version is the engine's
from ..errors import EngineError
from ..units import bytes_size, go_duration_ns, human_duration, human_size, parse_since, ram_in_bytes, since
from .calls import Caller
from .transport import BaseTransport, Duplex, LocalTransport, Reply, Transport

if TYPE_CHECKING:  # each collection's module loads when first used: `container ls` needs only one
    from .containers import Attached, DockerContainer, DockerContainers, DockerExec
    from .images import DockerImages
    from ..logfiles import parse_log_opts
    from ..network.ports import format_ports, parse_publish
    from ..reference import parse as parse_reference
    from .contexts import (Context, ContextError, ContextStore, TLSOptions, connect, current_context_name,
                           default_context, tls_options)
    from .system import DockerAuth, DockerEvents, DockerNetwork, DockerNetworks, DockerSystem, DockerVolumes
    from .swarm import DockerNodes, DockerSwarm
    from .services import DockerConfigs, DockerSecrets, DockerServices, DockerTasks, registry_auth_for
    from ..units import parse_rfc3339
    from ..build.parser import parse_duration

_HOMES = {"DockerContainer": "containers", "DockerContainers": "containers", "DockerExec": "containers",
          "Attached": "containers", "DockerImages": "images", "DockerNetwork": "system", "DockerNetworks": "system",
          "DockerVolumes": "system", "DockerSystem": "system", "DockerEvents": "system", "DockerAuth": "system",
          "DockerSwarm": "swarm", "DockerNodes": "swarm", "DockerServices": "services", "DockerTasks": "services",
          "DockerSecrets": "services", "DockerConfigs": "services",
          # choosing the endpoint (docker's -H, --context, DOCKER_HOST …) and docker's context store
          "connect": "contexts", "tls_options": "contexts", "TLSOptions": "contexts", "ContextError": "contexts",
          "ContextStore": "contexts", "Context": "contexts", "current_context_name": "contexts",
          "default_context": "contexts",
          # helpers of the engine's own that the front ends share (loaded when first asked for)
          "parse_log_opts": "..logfiles:parse_log_opts", "format_ports": "..network.ports:format_ports",
          "parse_publish": "..network.ports:parse_publish", "parse_reference": "..reference:parse",
          "parse_rfc3339": "..units:parse_rfc3339", "parse_duration": "..build.parser:parse_duration",
          "registry_auth_for": "services"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = home.partition(":")
    full = f"{__name__.rpartition('.')[0]}{module[1:]}" if module.startswith("..") else f"{__name__}.{module}"
    __import__(full)  # not importlib.import_module: importlib is one module more for a short command
    value = getattr(sys.modules[full], attr or name)
    globals()[name] = value  # asked once: a plain attribute from then on
    return value

__all__ = ["Docker", "DockerContainer", "DockerContainers", "DockerExec", "DockerImages", "DockerNetwork",
           "DockerNetworks", "DockerVolumes", "DockerSystem", "DockerEvents", "DockerAuth", "Attached",
           "DockerSwarm", "DockerNodes", "DockerServices", "DockerTasks", "DockerSecrets", "DockerConfigs",
           "Transport", "LocalTransport", "BaseTransport", "Reply", "Duplex", "EngineError",
           "bytes_size", "go_duration_ns", "human_duration", "human_size", "parse_since", "ram_in_bytes", "since",
           "parse_log_opts", "parse_reference", "parse_publish", "format_ports", "__version__", "connect",
           "tls_options", "TLSOptions", "ContextError", "ContextStore", "Context", "current_context_name",
           "default_context", "parse_rfc3339", "parse_duration", "registry_auth_for"]


class Docker(Caller):
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

    @cached_property
    def images(self) -> DockerImages:
        from .images import DockerImages
        return DockerImages(self)

    @cached_property
    def containers(self) -> DockerContainers:
        from .containers import DockerContainers
        return DockerContainers(self)

    @cached_property
    def volumes(self) -> DockerVolumes:
        from .system import DockerVolumes
        return DockerVolumes(self)

    @cached_property
    def networks(self) -> DockerNetworks:
        from .system import DockerNetworks
        return DockerNetworks(self)

    @cached_property
    def system(self) -> DockerSystem:
        from .system import DockerSystem
        return DockerSystem(self)

    @cached_property
    def events(self) -> DockerEvents:
        from .system import DockerEvents
        return DockerEvents(self)

    @cached_property
    def auth(self) -> DockerAuth:
        from .system import DockerAuth
        return DockerAuth(self)

    @cached_property
    def swarm(self) -> DockerSwarm:
        from .swarm import DockerSwarm
        return DockerSwarm(self)

    @cached_property
    def nodes(self) -> DockerNodes:
        from .swarm import DockerNodes
        return DockerNodes(self)

    @cached_property
    def services(self) -> DockerServices:
        from .services import DockerServices
        return DockerServices(self)

    @cached_property
    def tasks(self) -> DockerTasks:
        from .services import DockerTasks
        return DockerTasks(self)

    @cached_property
    def secrets(self) -> DockerSecrets:
        from .services import DockerSecrets
        return DockerSecrets(self)

    @cached_property
    def configs(self) -> DockerConfigs:
        from .services import DockerConfigs
        return DockerConfigs(self)

    async def __aenter__(self) -> Docker:
        await self.transport.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()
