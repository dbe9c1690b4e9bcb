"""An aiodocker-style async client over Portside's engine.

    async with Docker() as docker:
        await docker.images.list()
        container = await docker.containers.run({"Image": "busybox", "Cmd": ["true"]})
        await container.wait()

``Docker`` wires ``images``, ``containers``, ``volumes``, ``system`` and ``events``; results are shaped
like the Docker Engine API's. The transport decides where the engine is: in this process (default) or,
later, behind the Docker Engine API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO, Any

import os

from ..errors import EngineError
from ..logfiles import parse_log_opts
from ..network.ports import format_ports, parse_publish
from ..reference import parse as parse_reference
from ..units import bytes_size, human_duration, human_size, parse_since, ram_in_bytes, since
from .transport import BaseTransport, LocalTransport

__all__ = ["Docker", "DockerContainer", "Attached", "LocalTransport", "BaseTransport", "EngineError",
           "bytes_size", "human_duration", "human_size", "parse_since", "ram_in_bytes", "since",
           "parse_log_opts", "parse_reference", "parse_publish", "format_ports"]


class Docker:
    """The client. Use as ``async with Docker(root=...) as docker``."""

    def __init__(self, root: str | None = None, *, transport: BaseTransport | None = None,
                 host: str | None = None, context: str | None = None) -> None:
        if transport is None:  # docker's choice: --context, -H, DOCKER_HOST, DOCKER_CONTEXT, … (contexts.py)
            from .contexts import connect
            transport = connect(host=host, context=context, root=root)
        self.transport = transport
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

    async def _call(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        return await self.transport.call(method, *args, **kwargs)

    def _stream(self, method: str, /, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return self.transport.stream(method, *args, **kwargs)

    @property
    def engine(self) -> Any:
        """The in-process engine, for operations that must pass file descriptors (attach, exec)."""
        engine = getattr(self.transport, "engine", None)
        if engine is None:
            raise EngineError("this operation needs the embedded engine")
        return engine


class DockerImages:
    def __init__(self, docker: Docker) -> None:
        self.docker = docker

    async def list(self, *, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """Image summaries, newest first."""
        return await self.docker._call("images_list", all=all, filters=filters)

    async def inspect(self, name: str) -> dict[str, Any]:
        return await self.docker._call("image_inspect", name)

    async def history(self, name: str) -> list[dict[str, Any]]:
        return await self.docker._call("image_history", name)

    async def tag(self, name: str, repo: str, *, tag: str | None = None) -> bool:
        await self.docker._call("image_tag", name, repo, tag)
        return True

    async def delete(self, name: str, *, force: bool = False, noprune: bool = False) -> list[dict[str, str]]:
        return await self.docker._call("image_delete", name, force=force, noprune=noprune)

    async def prune(self, *, all: bool = False, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return await self.docker._call("images_prune", all=all, filters=filters)

    async def import_image(self, data: IO[bytes], *, repo: str | None = None, message: str = "",
                           changes: list[str] | None = None) -> str:
        """``docker import``: a rootfs tar as a one-layer image; ``changes`` are Dockerfile instructions."""
        return await self.docker._call("image_import", data, repo=repo, message=message, changes=changes)

    async def make_busybox(self, tag: str = "busybox:latest") -> dict[str, Any]:
        """A ``busybox`` image from this host's static busybox (busybox-static): a parent image with no
        registry. Returns ``{"Id": image id, "RepoTags": [tag]}``; raises EngineError (one line saying
        what to install) when /bin/busybox is missing or not static."""
        return await self.docker._call("image_make_busybox", tag)

    def busybox_recipe(self, tag: str = "busybox") -> str:
        """The shell commands that make the same image by hand (a rootfs tar, then ``portside import``)."""
        from ..images.bootstrap import recipe
        return recipe(tag)

    async def export_image(self, names: list[str], out: IO[bytes], *, format: str = "docker") -> None:
        """Write ``docker save`` (or OCI layout, ``format="oci"``) of ``names`` to ``out``."""
        await self.docker._call("images_save", names, out, fmt=format)

    async def load(self, data: IO[bytes]) -> list[str]:
        return await self.docker._call("images_load", data)

    def pull(self, from_image: str, *, tag: str | None = None, auth: dict[str, Any] | None = None,
             platform: str | None = None, stream: bool = False) -> Any:
        """Pull from a registry. ``stream=True``: an async iterator of docker's progress messages;
        otherwise a coroutine returning them all. Failures raise (RegistryError and its kinds)."""
        it = self.docker._stream("image_pull", from_image, tag=tag, platform=platform, auth=auth)
        return it if stream else _collect(it)

    def push(self, name: str, *, tag: str | None = None, auth: dict[str, Any] | None = None,
             stream: bool = False, oci: bool = False) -> Any:
        """Push to a registry; like :meth:`pull`. The last status is ``tag: digest: sha256:… size: N``."""
        it = self.docker._stream("image_push", name, tag=tag, auth=auth, oci=oci)
        return it if stream else _collect(it)

    def build(self, *, path: str, tags: list[str] | None = None, dockerfile: str = "Dockerfile",
              buildargs: dict[str, str] | None = None, nocache: bool = False, target: str = "",
              quiet: bool = False, labels: dict[str, str] | None = None,
              networkmode: str = "default") -> AsyncIterator[dict[str, Any]]:
        """Build progress as an async iterator of ``{"stream": …}`` / ``{"aux": {"ID": …}}`` / ``{"error": …}``."""
        return self.docker._stream("build", path=path, tags=tags or [], dockerfile=dockerfile,
                                   buildargs=buildargs or {}, nocache=nocache, target=target, labels=labels or {},
                                   networkmode=networkmode)


async def _collect(it: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in it]


class DockerAuth:
    """Registry credentials, kept in docker's ``config.json`` (or its credential helpers)."""

    def __init__(self, docker: Docker) -> None:
        self.docker = docker

    async def login(self, username: str, password: str, server: str | None = None) -> dict[str, str]:
        """Check the credentials against the registry (Docker Hub by default), then save them."""
        return await self.docker._call("login", server, username, password)

    async def logout(self, server: str | None = None) -> dict[str, str]:
        return await self.docker._call("logout", server)


class DockerContainers:
    def __init__(self, docker: Docker) -> None:
        self.docker = docker

    async def list(self, *, all: bool = False, filters: dict[str, list[str]] | None = None, limit: int = -1,
                   size: bool = False) -> list[dict[str, Any]]:
        return await self.docker._call("containers_list", all=all, filters=filters, limit=limit, size=size)

    async def create(self, config: dict[str, Any], *, name: str | None = None) -> DockerContainer:
        result = await self.docker._call("container_create", config, name=name)
        return DockerContainer(self.docker, result["Id"])

    async def run(self, config: dict[str, Any], *, name: str | None = None) -> DockerContainer:
        """Create and start."""
        container = await self.create(config, name=name)
        await container.start()
        return container

    async def get(self, name_or_id: str) -> DockerContainer:
        info = await self.docker._call("container_inspect", name_or_id)
        return DockerContainer(self.docker, info["Id"], info)

    def container(self, container_id: str) -> DockerContainer:
        return DockerContainer(self.docker, container_id)

    async def prune(self, *, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        return await self.docker._call("containers_prune", filters=filters)


class DockerContainer:
    """One container; methods mirror aiodocker's."""

    def __init__(self, docker: Docker, container_id: str, info: dict[str, Any] | None = None) -> None:
        self.docker = docker
        self.id = container_id
        self._info = info or {}

    def __getitem__(self, key: str) -> Any:
        return self._info[key]

    async def show(self) -> dict[str, Any]:
        self._info = await self.docker._call("container_inspect", self.id)
        return self._info

    async def start(self) -> None:
        await self.docker._call("container_start", self.id)

    async def stop(self, *, t: int | None = None, signal: str | None = None) -> bool:
        return await self.docker._call("container_stop", self.id, t=t, signal=signal)

    async def restart(self, *, t: int | None = None) -> None:
        await self.docker._call("container_restart", self.id, t=t)

    async def kill(self, *, signal: str | int = "SIGKILL") -> None:
        await self.docker._call("container_kill", self.id, signal=signal)

    async def delete(self, *, force: bool = False, v: bool = False) -> None:
        await self.docker._call("container_delete", self.id, force=force, v=v)

    async def wait(self, *, condition: str = "not-running") -> dict[str, Any]:
        return await self.docker._call("container_wait", self.id, condition=condition)

    async def rename(self, new_name: str) -> None:
        await self.docker._call("container_rename", self.id, new_name)

    async def top(self) -> dict[str, Any]:
        return await self.docker._call("container_top", self.id)

    async def stats(self, *, stream: bool = False) -> dict[str, Any]:
        """One sample (``stream=False``); see :meth:`stats_stream` for a live feed."""
        return await self.docker._call("container_stats", self.id)

    async def stats_stream(self, interval: float = 1.0) -> AsyncIterator[dict[str, Any]]:
        from .. import aio
        while True:
            yield await self.docker._call("container_stats", self.id)
            await aio.sleep(interval)

    async def attach_start(self, *, stdin: int = -1, stdout: int = 1, stderr: int = 2) -> Attached:
        """Start the container with these file descriptors attached (``docker start -a``, ``run``).

        The container's output is copied to ``stdout``/``stderr`` (and ``stdin`` feeds it when it was
        created with ``OpenStdin``). Await :meth:`Attached.wait` for its exit code. Needs the local
        transport: descriptors cannot cross the Engine API.
        """
        engine = self.docker.engine
        status_fd = await engine.container_start(self.id, attach=(stdin, stdout, stderr))
        pid = engine.runtime_state(self.id).get("pid", 0)
        return Attached(self, status_fd, pid)

    async def exec_run(self, cmd: list[str], *, stdin: int, stdout: int, stderr: int, tty: bool = False,
                       tty_slave: int | None = None, user: str = "", workdir: str = "",
                       env: list[str] | None = None) -> int:
        """Start ``cmd`` inside the running container with these descriptors; returns its pid.

        The process is a child of this one: ``os.waitpid`` gives its exit status. Local transport only.
        """
        return await self.docker.engine.container_exec(self.id, cmd, stdin=stdin, stdout=stdout, stderr=stderr,
                                                       tty=tty, user=user, workdir=workdir, env=env,
                                                       tty_slave=tty_slave)

    async def exec_pty(self, cmd: list[str], *, user: str = "", workdir: str = "",
                       env: list[str] | None = None) -> tuple[int, int]:
        """Start ``cmd`` inside the running container on a terminal of the container's own devpts.

        Returns ``(pid, master fd)``: relay the master to the user's terminal, ``os.waitpid(pid)`` for
        the exit status. Local transport only.
        """
        import socket
        here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        devnull = os.open("/dev/null", os.O_RDWR)
        try:
            pid = await self.docker.engine.container_exec(self.id, cmd, stdin=devnull, stdout=devnull,
                                                          stderr=devnull, tty=True, user=user, workdir=workdir,
                                                          env=env, console_socket=there.fileno())
            _msg, fds, _flags, _addr = socket.recv_fds(here, 16, 1)
        finally:
            os.close(devnull)
            here.close()
            there.close()
        return pid, fds[0]

    def log(self, *, stdout: bool = True, stderr: bool = True, follow: bool = False, tail: str | int = "all",
            since: float = 0, until: float = 0, timestamps: bool = False) -> AsyncIterator[dict[str, str]]:
        """Log entries ``{"stream", "log", "time"}`` as an async iterator."""
        return self.docker._stream("container_logs", self.id, stdout=stdout, stderr=stderr, follow=follow,
                                   tail=tail, since=since, until=until, timestamps=timestamps)


class Attached:
    """A started container whose output goes to descriptors the caller gave (see ``attach_start``)."""

    def __init__(self, container: DockerContainer, status_fd: int, pid: int) -> None:
        self.container = container
        self.pid = pid
        self._fd = status_fd

    async def wait(self) -> int:
        """The container's exit code, once its monitor is done (after ``--rm`` removal)."""
        import json

        from .. import aio
        buf = b""
        try:
            while True:
                await aio.readable(self._fd)
                chunk = os.read(self._fd, 4096)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    msg = json.loads(line) if line.strip() else {}
                    if "exit" in msg:
                        return int(msg["exit"])
        finally:
            os.close(self._fd)
        raise EngineError(f"container {self.container.id[:12]}: its monitor ended without an exit code")


class DockerNetworks:
    """``docker network``: aiodocker's ``DockerNetworks`` (list/create/get)."""

    def __init__(self, docker: Docker) -> None:
        self.docker = docker

    async def list(self, *, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        return await self.docker._call("networks_list", filters=filters)

    async def create(self, config: dict[str, Any]) -> DockerNetwork:
        """``config`` as the Engine API's ``POST /networks/create`` body (Name, Driver, Internal, IPAM, Labels)."""
        ipam = (config.get("IPAM") or {}).get("Config") or [{}]
        result = await self.docker._call("network_create", config["Name"], driver=config.get("Driver") or "bridge",
                                         subnet=ipam[0].get("Subnet"), gateway=ipam[0].get("Gateway"),
                                         internal=bool(config.get("Internal")), labels=config.get("Labels"))
        return DockerNetwork(self.docker, result["Id"])

    async def get(self, name_or_id: str) -> DockerNetwork:
        info = await self.docker._call("network_inspect", name_or_id)
        return DockerNetwork(self.docker, info["Id"], info)

    async def prune(self) -> dict[str, Any]:
        return await self.docker._call("networks_prune")


class DockerNetwork:
    def __init__(self, docker: Docker, network_id: str, info: dict[str, Any] | None = None) -> None:
        self.docker = docker
        self.id = network_id
        self._info = info or {}

    async def show(self) -> dict[str, Any]:
        self._info = await self.docker._call("network_inspect", self.id)
        return self._info

    async def delete(self) -> bool:
        await self.docker._call("network_delete", self.id)
        return True

    async def connect(self, config: dict[str, Any]) -> None:
        """``{"Container": id, "EndpointConfig": {"Aliases": [...], "IPAMConfig": {"IPv4Address": ...}}}``."""
        ep = config.get("EndpointConfig") or {}
        await self.docker._call("network_connect", self.id, config["Container"], aliases=ep.get("Aliases"),
                                ipv4=(ep.get("IPAMConfig") or {}).get("IPv4Address"))

    async def disconnect(self, config: dict[str, Any]) -> None:
        await self.docker._call("network_disconnect", self.id, config["Container"],
                                force=bool(config.get("Force")))


class DockerVolumes:
    def __init__(self, docker: Docker) -> None:
        self.docker = docker

    async def list(self) -> list[dict[str, Any]]:
        return await self.docker._call("volumes_list")

    async def create(self, name: str | None = None) -> str:
        return await self.docker._call("volume_create", name)

    async def inspect(self, name: str) -> dict[str, Any]:
        return await self.docker._call("volume_inspect", name)

    async def delete(self, name: str, *, force: bool = False) -> None:
        await self.docker._call("volume_delete", name, force=force)

    async def prune(self, *, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """Remove unused anonymous volumes (every unused one with ``filters={"all": ["true"]}``)."""
        return await self.docker._call("volumes_prune", filters=filters)


class DockerSystem:
    def __init__(self, docker: Docker) -> None:
        self.docker = docker

    async def version(self) -> dict[str, Any]:
        return await self.docker._call("version")

    async def info(self) -> dict[str, Any]:
        return await self.docker._call("info")

    async def check(self, *, repair: bool = False) -> list[dict[str, Any]]:
        """Check the engine's data for inconsistencies (``portside system check``).

        Args:
            repair: fix each inconsistency found.

        Returns:
            One ``{"kind", "object", "problem", "repaired"}`` dict per inconsistency; empty when clean.
        """
        return await self.docker._call("system_check", repair=repair)


class DockerEvents:
    def __init__(self, docker: Docker) -> None:
        self.docker = docker

    def subscribe(self, *, since: float | None = None, until: float | None = None,
                  filters: dict[str, list[str]] | None = None) -> AsyncIterator[dict[str, Any]]:
        return self.docker._stream("events", since=since, until=until, filters=filters)
