"""``docker.services``, ``docker.tasks``, ``docker.secrets`` and ``docker.configs`` (docker's swarm routes).

Each method is one route; results are the Engine API's shapes (``Service``, ``Task``, ``Secret``,
``Config``). Updates carry the object's ``Version.Index`` as docker's do, so two writers cannot
overwrite each other.
"""

from __future__ import annotations

import builtins  # a collection's ``list`` method shadows the type in its class

from collections.abc import AsyncIterator
TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

    from .calls import Caller

MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


def _auth_header(auth: dict[str, Any] | None) -> dict[str, str] | None:
    if not auth:
        return None
    from .images import registry_auth
    return registry_auth(auth)


def registry_auth_for(image: str) -> dict[str, Any] | None:
    """The credentials ``login`` kept for the image's registry, as ``X-Registry-Auth`` carries them
    (docker's ``--with-registry-auth``); None when there are none."""
    from ..errors import EngineError
    from ..reference import parse
    from ..registry import credentials
    try:
        host = parse(image).domain
        creds = credentials.get(host)
    except EngineError:
        return None
    if creds is None:
        return None
    if creds.identity_token:
        return {"identitytoken": creds.identity_token, "serveraddress": host}
    return {"username": creds.username, "password": creds.password, "serveraddress": host}


async def pin_image(docker: Any, template: dict[str, Any], auth: dict[str, Any] | None = None) -> str | None:
    """docker's ``--resolve-image``: pin the task template's image to the digest its registry has for it
    now (``name:tag@sha256:…``) and set the platforms it serves, as docker's client does before it sends a
    service. An image already pinned is left alone, as is one that was made on this endpoint and never
    pushed or pulled (no registry has it under that name). Returns docker's warning when the registry
    could not be asked, else None."""
    from ..errors import EngineError, ImageNotFound, NotFound
    cs = template.setdefault("ContainerSpec", {})
    image = str(cs.get("Image") or "")
    if not image or "@" in image:
        return None
    try:  # made here, never pushed or pulled under this name: no registry to ask
        local = await docker.images.inspect(image)
    except NotFound:
        local = None
    if local is not None:
        from ..reference import from_registry, parse
        if not from_registry(parse(image), local.get("RepoDigests") or []):
            return None
    try:
        found = await docker.images.distribution(image, auth=auth)
    except ImageNotFound:
        return None
    except EngineError:
        from ..reference import digest_warning
        return digest_warning(image)
    digest = str((found.get("Descriptor") or {}).get("digest") or "")
    if not digest:
        return None
    cs["Image"] = f"{image}@{digest}"
    platforms = [{"Architecture": p.get("architecture", ""), "OS": p.get("os", "")}
                 for p in found.get("Platforms") or [] if p.get("architecture") and p.get("os")]
    if platforms:
        template.setdefault("Placement", {})["Platforms"] = platforms
    return None


class DockerServices:
    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def list(self, filters: dict[str, builtins.list[str]] | None = None,
                   status: bool = False) -> builtins.list[dict[str, Any]]:
        """``GET /services``; ``status=True`` adds ``ServiceStatus`` (RunningTasks, DesiredTasks, CompletedTasks)."""
        result: builtins.list[dict[str, Any]] = await self.docker._json(
            "GET", "/services", params={"filters": filters or None, "status": status or None})
        return result

    async def create(self, spec: dict[str, Any], auth: dict[str, Any] | None = None) -> dict[str, Any]:
        """``{"ID": …, "Warnings": […]}``."""
        result: dict[str, Any] = await self.docker._json("POST", "/services/create", body=spec,
                                                         headers=_auth_header(auth))
        return result

    async def inspect(self, service_id: str, insert_defaults: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", f"/services/{service_id}",
                                                         params={"insertDefaults": insert_defaults or None})
        return result

    async def update(self, service_id: str, version: int, spec: dict[str, Any], rollback: str | None = None,
                     auth: dict[str, Any] | None = None, registry_auth_from: str | None = None) -> dict[str, Any]:
        """``POST /services/{id}/update?version=N`` (``rollback="previous"``: back to the previous spec)."""
        result = await self.docker._json("POST", f"/services/{service_id}/update", body=spec,
                                         headers=_auth_header(auth), params={
                                             "version": version, "rollback": rollback,
                                             "registryAuthFrom": registry_auth_from})
        return dict(result or {"Warnings": None})

    async def delete(self, service_id: str) -> None:
        await self.docker._send("DELETE", f"/services/{service_id}")

    def logs(self, service_id: str, *, follow: bool = False, tail: str | int = "all", timestamps: bool = False,
             since: str | float | None = None, details: bool = False) -> AsyncIterator[tuple[str, bytes]]:
        """Every task's log, merged: ``(stream, line)``, the line as the engine sends it (its timestamp and,
        with ``details``, the task's ``com.docker.swarm.*=…`` attributes first)."""
        params = {"stdout": True, "stderr": True, "follow": follow or None, "tail": str(tail),
                  "timestamps": timestamps or None, "since": since or None, "details": details or None}
        return log_lines(self.docker, f"/services/{service_id}/logs", params)


class DockerTasks:
    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        result: builtins.list[dict[str, Any]] = await self.docker._json("GET", "/tasks",
                                                                        params={"filters": filters or None})
        return result

    async def inspect(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", f"/tasks/{task_id}")
        return result

    def logs(self, task_id: str, *, follow: bool = False, tail: str | int = "all", timestamps: bool = False,
             since: str | float | None = None, details: bool = False) -> AsyncIterator[tuple[str, bytes]]:
        params = {"stdout": True, "stderr": True, "follow": follow or None, "tail": str(tail),
                  "timestamps": timestamps or None, "since": since or None, "details": details or None}
        return log_lines(self.docker, f"/tasks/{task_id}/logs", params)


class _Objects:
    """Secrets and configs: the same four routes under their own prefix."""

    prefix = ""

    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        result: builtins.list[dict[str, Any]] = await self.docker._json("GET", self.prefix,
                                                                        params={"filters": filters or None})
        return result

    async def create(self, spec: dict[str, Any]) -> dict[str, Any]:
        """``spec``: ``{"Name", "Labels", "Data" (base64)}``; returns ``{"ID": …}``."""
        result: dict[str, Any] = await self.docker._json("POST", f"{self.prefix}/create", body=spec)
        return result

    async def inspect(self, object_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", f"{self.prefix}/{object_id}")
        return result

    async def update(self, object_id: str, version: int, spec: dict[str, Any]) -> None:
        await self.docker._send("POST", f"{self.prefix}/{object_id}/update", params={"version": version}, body=spec)

    async def delete(self, object_id: str) -> None:
        await self.docker._send("DELETE", f"{self.prefix}/{object_id}")


class DockerSecrets(_Objects):
    prefix = "/secrets"


class DockerConfigs(_Objects):
    prefix = "/configs"


async def log_lines(docker: Caller, path: str, params: dict[str, Any]) -> AsyncIterator[tuple[str, bytes]]:
    """docker's log stream as ``(stream, line)``: 8-byte frames demultiplexed, or raw lines (a tty)."""
    reply = await docker._request("GET", path, params=params)
    framed = reply.headers.get("content-type", MULTIPLEXED).startswith(MULTIPLEXED)
    try:
        buf = b""
        async for chunk in reply.chunks():
            buf += chunk
            if framed:
                while len(buf) >= 8:
                    size = int.from_bytes(buf[4:8], "big")
                    if len(buf) < 8 + size:
                        break
                    yield ("stderr" if buf[0] == 2 else "stdout", buf[8:8 + size])
                    buf = buf[8 + size:]
            else:
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    yield "stdout", line + b"\n"
        if buf and not framed:
            yield "stdout", buf
    finally:
        await reply.close()
