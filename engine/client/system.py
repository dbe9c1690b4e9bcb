"""``docker.networks``, ``.volumes``, ``.system``, ``.events`` and ``.auth``, each over its API route."""

from __future__ import annotations

import builtins  # a collection's ``list`` method shadows the type in its class

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .calls import Caller


class DockerNetworks:
    """``docker network``: aiodocker's ``DockerNetworks`` (list/create/get)."""

    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def list(self, *, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        result: builtins.list[dict[str, Any]] = await self.docker._json("GET", "/networks", params={"filters": filters or None})
        return result

    async def create(self, config: dict[str, Any]) -> DockerNetwork:
        """``config`` as the Engine API's ``POST /networks/create`` body (Name, Driver, Internal, IPAM, Labels)."""
        result = await self.docker._json("POST", "/networks/create", body=config)
        return DockerNetwork(self.docker, result["Id"])

    async def get(self, name_or_id: str) -> DockerNetwork:
        info = await self.docker._json("GET", f"/networks/{name_or_id}")
        return DockerNetwork(self.docker, info["Id"], info)

    async def prune(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("POST", "/networks/prune")
        return result


class DockerNetwork:
    def __init__(self, docker: Caller, network_id: str, info: dict[str, Any] | None = None) -> None:
        self.docker = docker
        self.id = network_id
        self._info = info or {}

    async def show(self) -> dict[str, Any]:
        self._info = await self.docker._json("GET", f"/networks/{self.id}")
        return self._info

    async def delete(self) -> bool:
        await self.docker._send("DELETE", f"/networks/{self.id}")
        return True

    async def connect(self, config: dict[str, Any]) -> None:
        """``{"Container": id, "EndpointConfig": {"Aliases": [...], "IPAMConfig": {"IPv4Address": ...}}}``."""
        await self.docker._send("POST", f"/networks/{self.id}/connect", body=config)

    async def disconnect(self, config: dict[str, Any]) -> None:
        """``{"Container": id, "Force": bool}``."""
        await self.docker._send("POST", f"/networks/{self.id}/disconnect", body=config)


class DockerVolumes:
    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def list(self, *, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        result = await self.docker._json("GET", "/volumes", params={"filters": filters or None})
        return list(result.get("Volumes") or [])

    async def create(self, name: str | None = None) -> str:
        """Create a volume (a name of its own when ``name`` is None); returns its name."""
        result = await self.docker._json("POST", "/volumes/create", body={"Name": name} if name else {})
        return str(result["Name"])

    async def inspect(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", f"/volumes/{name}")
        return result

    async def delete(self, name: str, *, force: bool = False) -> None:
        await self.docker._send("DELETE", f"/volumes/{name}", params={"force": force or None})

    async def prune(self, *, filters: dict[str, builtins.list[str]] | None = None) -> dict[str, Any]:
        """Remove unused anonymous volumes (every unused one with ``filters={"all": ["true"]}``)."""
        result: dict[str, Any] = await self.docker._json("POST", "/volumes/prune", params={"filters": filters or None})
        return result


class DockerSystem:
    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def version(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", "/version")
        return result

    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", "/info")
        return result

    async def ping(self) -> bool:
        """True when the engine answers ``GET /_ping``."""
        reply = await self.docker._send("GET", "/_ping")
        return reply.status == 200

    async def check(self, *, repair: bool = False) -> builtins.list[dict[str, Any]]:
        """Check the engine's data for inconsistencies (``portside system check``). Portside engines only.

        Args:
            repair: fix each inconsistency found.

        Returns:
            One ``{"kind", "object", "problem", "repaired"}`` dict per inconsistency; empty when clean.
        """
        result: builtins.list[dict[str, Any]] = await self.docker._portside("checking the engine's data", "POST",
                                                                   "/portside/system/check",
                                                                   params={"repair": repair or None})
        return result


class DockerEvents:
    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    def subscribe(self, *, since: float | None = None, until: float | None = None,
                  filters: dict[str, builtins.list[str]] | None = None) -> AsyncIterator[dict[str, Any]]:
        """``GET /events`` as an async iterator of docker's event messages."""
        return self.docker._lines("GET", "/events", params={"since": since, "until": until,
                                                            "filters": filters or None})


class DockerAuth:
    """Registry credentials: checked by the engine (``POST /auth``), kept by this client in docker's
    ``config.json`` (or its credential helpers), as docker's CLI keeps them."""

    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def login(self, username: str, password: str, server: str | None = None) -> dict[str, str]:
        """Check the credentials against the registry (Docker Hub by default), then save them."""
        from .. import aio
        from ..errors import InvalidArgument
        from ..registry import credentials
        if not username:
            raise InvalidArgument("Username is required")
        if not password:
            raise InvalidArgument("Error: Password Required")
        result = await self.docker._json("POST", "/auth", body={"username": username, "password": password,
                                                                "serveraddress": server or ""})
        host = login_host(server)
        path = await aio.to_thread(credentials.store, host, credentials.Credentials(username, password))
        warning = "" if credentials.helper_name(host) else \
            f"WARNING! Your password will be stored unencrypted in {path}."
        return {"Status": str(result.get("Status") or "Login Succeeded"),
                "IdentityToken": str(result.get("IdentityToken") or ""), "Warning": warning}

    async def logout(self, server: str | None = None) -> dict[str, str]:
        """Forget the stored credentials (this client's own: no engine is asked, as docker's CLI)."""
        from .. import aio
        from ..registry import credentials
        host = login_host(server)
        key = credentials.server_key(host)
        if await aio.to_thread(credentials.erase, host):
            return {"Status": f"Removing login credentials for {key}"}
        return {"Status": f"Not logged in to {key}"}


def login_host(server: str | None) -> str:
    """``docker login``'s server argument → the registry host (Docker Hub when empty)."""
    from ..services.registry import login_host as host
    return host(server)
