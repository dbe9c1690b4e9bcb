"""``docker.swarm`` and ``docker.nodes``: the swarm this engine manages and its nodes (docker's routes).

Results are the Engine API's shapes (``Swarm``, ``Node``); the CLI's ``swarm`` and ``node`` commands and
the dashboard use them unchanged, against Portside's daemon or any Docker manager.
"""

from __future__ import annotations

import builtins  # a collection's ``list`` method shadows the type in its class

TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

    from .calls import Caller


class DockerSwarm:
    """``POST /swarm/init|join|leave|update|unlock``, ``GET /swarm``, ``GET /swarm/unlockkey``."""

    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def init(self, advertise_addr: str | None = None, listen_addr: str = "0.0.0.0:2377",
                   force_new_cluster: bool = False, swarm_spec: dict[str, Any] | None = None, *,
                   data_path_addr: str | None = None, default_addr_pool: builtins.list[str] | None = None,
                   subnet_size: int | None = None, data_path_port: int | None = None) -> str:
        """Make this engine a (single-node) manager; the new node's ID."""
        body: dict[str, Any] = {"ListenAddr": listen_addr, "AdvertiseAddr": advertise_addr or "",
                                "ForceNewCluster": force_new_cluster, "Spec": swarm_spec or {}}
        if data_path_addr:
            body["DataPathAddr"] = data_path_addr
        if default_addr_pool:
            body["DefaultAddrPool"] = default_addr_pool
        if subnet_size:
            body["SubnetSize"] = subnet_size
        if data_path_port:
            body["DataPathPort"] = data_path_port
        return str(await self.docker._json("POST", "/swarm/init", body=body))

    async def join(self, remote_addrs: builtins.list[str], join_token: str, listen_addr: str = "0.0.0.0:2377",
                   advertise_addr: str | None = None, data_path_addr: str | None = None) -> None:
        body = {"ListenAddr": listen_addr, "AdvertiseAddr": advertise_addr or "", "DataPathAddr": data_path_addr or "",
                "RemoteAddrs": remote_addrs, "JoinToken": join_token}
        await self.docker._send("POST", "/swarm/join", body=body)

    async def leave(self, force: bool = False) -> None:
        await self.docker._send("POST", "/swarm/leave", params={"force": force or None})

    async def inspect(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", "/swarm")
        return result

    async def update(self, version: int, spec: dict[str, Any], rotate_worker_token: bool = False,
                     rotate_manager_token: bool = False, rotate_manager_unlock_key: bool = False) -> None:
        await self.docker._send("POST", "/swarm/update", body=spec, params={
            "version": version, "rotateWorkerToken": rotate_worker_token or None,
            "rotateManagerToken": rotate_manager_token or None,
            "rotateManagerUnlockKey": rotate_manager_unlock_key or None})

    async def unlock_key(self) -> str:
        """The key that unlocks an autolocked manager ("" when autolock is off)."""
        result = await self.docker._json("GET", "/swarm/unlockkey")
        return str((result or {}).get("UnlockKey") or "")

    async def unlock(self, key: str) -> None:
        await self.docker._send("POST", "/swarm/unlock", body={"UnlockKey": key})


class DockerNodes:
    """``GET /nodes``, ``GET /nodes/{id}``, ``POST /nodes/{id}/update``, ``DELETE /nodes/{id}``."""

    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def list(self, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        result: builtins.list[dict[str, Any]] = await self.docker._json("GET", "/nodes",
                                                                        params={"filters": filters or None})
        return result

    async def inspect(self, node_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", f"/nodes/{node_id}")
        return result

    async def update(self, node_id: str, version: int, spec: dict[str, Any]) -> None:
        await self.docker._send("POST", f"/nodes/{node_id}/update", params={"version": version}, body=spec)

    async def delete(self, node_id: str, force: bool = False) -> None:
        await self.docker._send("DELETE", f"/nodes/{node_id}", params={"force": force or None})
