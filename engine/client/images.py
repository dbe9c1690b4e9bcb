"""``docker.images``: listing, inspecting, tagging, removing, importing, saving, loading, pulling,
pushing and building images, each over its API route."""

from __future__ import annotations

import builtins  # a collection's ``list`` method shadows the type in its class

import os
from collections.abc import AsyncIterator
from typing import IO, TYPE_CHECKING, Any

from ..errors import EngineError, InvalidArgument, RegistryError

if TYPE_CHECKING:
    from .calls import Caller


def registry_auth(auth: dict[str, Any] | None) -> dict[str, str]:
    """The ``X-Registry-Auth`` header: base64url JSON credentials (``{}`` when none, as docker sends)."""
    import base64
    import json
    return {"X-Registry-Auth": base64.urlsafe_b64encode(json.dumps(auth or {}).encode()).decode()}


async def _collect(it: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in it]


async def _progress(lines: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """Pull/push progress; the stream's last ``error`` message (docker's way to fail after the head) raises."""
    async for msg in lines:
        if "error" in msg:
            raise RegistryError(str(msg["error"]))
        yield msg


class DockerImages:
    def __init__(self, docker: Caller) -> None:
        self.docker = docker

    async def list(self, *, all: bool = False, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        """Image summaries, newest first (``GET /images/json``)."""
        result: builtins.list[dict[str, Any]] = await self.docker._json("GET", "/images/json",
                                                               params={"all": all or None, "filters": filters or None})
        return result

    async def inspect(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.docker._json("GET", f"/images/{name}/json")
        return result

    async def distribution(self, name: str, *, auth: dict[str, Any] | None = None) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the registry's descriptor of ``name`` and its platforms."""
        result: dict[str, Any] = await self.docker._json("GET", f"/distribution/{name}/json",
                                                         headers=registry_auth(auth))
        return result

    async def history(self, name: str) -> builtins.list[dict[str, Any]]:
        result: builtins.list[dict[str, Any]] = await self.docker._json("GET", f"/images/{name}/history")
        return result

    async def tag(self, name: str, repo: str, *, tag: str | None = None) -> bool:
        await self.docker._send("POST", f"/images/{name}/tag", params={"repo": repo, "tag": tag})
        return True

    async def delete(self, name: str, *, force: bool = False, noprune: bool = False) -> builtins.list[dict[str, str]]:
        result: builtins.list[dict[str, str]] = await self.docker._json(
            "DELETE", f"/images/{name}", params={"force": force or None, "noprune": noprune or None})
        return result

    async def prune(self, *, all: bool = False, filters: dict[str, builtins.list[str]] | None = None) -> dict[str, Any]:
        """Remove unused images: dangling ones, or every unused one with ``all`` (docker's ``dangling`` filter)."""
        f = dict(filters or {}, dangling=["false" if all else "true"])
        result: dict[str, Any] = await self.docker._json("POST", "/images/prune", params={"filters": f})
        return result

    async def import_image(self, data: IO[bytes], *, repo: str | None = None, message: str = "",
                           changes: builtins.list[str] | None = None) -> str:
        """``docker import``: a rootfs tar as a one-layer image; ``changes`` are Dockerfile instructions."""
        params: dict[str, Any] = {"fromSrc": "-", "repo": repo or None, "message": message or None,
                  "changes": tuple(changes) if changes else None}
        image_id = ""
        async for msg in self.docker._lines("POST", "/images/create", params=params, body=data):
            if "error" in msg:
                raise EngineError(str(msg["error"]))
            image_id = str(msg.get("status") or image_id)
        return image_id

    async def make_busybox(self, tag: str = "busybox:latest") -> dict[str, Any]:
        """A ``busybox`` image from this host's static busybox (busybox-static): a parent image with no
        registry. Returns ``{"Id": image id, "RepoTags": [tag]}``; raises EngineError (one line saying
        what to install) when /bin/busybox is missing or not static. Portside engines only."""
        result: dict[str, Any] = await self.docker._portside("making a busybox image", "POST",
                                                             "/portside/images/busybox", params={"tag": tag})
        return result

    def busybox_recipe(self, tag: str = "busybox") -> str:
        """The shell commands that make the same image by hand (a rootfs tar, then ``portside import``)."""
        from ..images.bootstrap import recipe
        return recipe(tag)

    async def export_image(self, names: builtins.list[str], out: IO[bytes], *, format: str = "docker") -> None:
        """Write ``docker save`` (or OCI layout, ``format="oci"``) of ``names`` to ``out``."""
        reply = await self.docker._request("GET", "/images/get", params={
            "names": tuple(names), "format": format if format != "docker" else None})
        async for chunk in reply.chunks():
            out.write(chunk)

    async def load(self, data: IO[bytes]) -> builtins.list[str]:
        """``docker load``: the archive's images; returns docker's lines ("Loaded image: …")."""
        lines: builtins.list[str] = []
        async for msg in self.docker._lines("POST", "/images/load", params={"quiet": False}, body=data):
            if "error" in msg:
                raise EngineError(str(msg["error"]))
            if "stream" in msg:
                lines.append(str(msg["stream"]).rstrip("\n"))
        return lines

    def pull(self, from_image: str, *, tag: str | None = None, auth: dict[str, Any] | None = None,
             platform: str | None = None, stream: bool = False) -> Any:
        """Pull from a registry. ``stream=True``: an async iterator of docker's progress messages;
        otherwise a coroutine returning them all. Failures raise (RegistryError)."""
        it = _progress(self.docker._lines("POST", "/images/create", headers=registry_auth(auth) if auth else None,
                                          params={"fromImage": from_image, "tag": tag, "platform": platform}))
        return it if stream else _collect(it)

    def push(self, name: str, *, tag: str | None = None, auth: dict[str, Any] | None = None,
             stream: bool = False, oci: bool = False) -> Any:
        """Push to a registry; like :meth:`pull`. The last status is ``tag: digest: sha256:… size: N``."""
        it = _progress(self.docker._lines("POST", f"/images/{name}/push", headers=registry_auth(auth),
                                          params={"tag": tag, "oci": oci or None}))
        return it if stream else _collect(it)

    async def build(self, *, path: str, tags: builtins.list[str] | None = None, dockerfile: str = "Dockerfile",
                    buildargs: dict[str, str] | None = None, nocache: bool = False, target: str = "",
                    quiet: bool = False, labels: dict[str, str] | None = None,
                    networkmode: str = "default") -> AsyncIterator[dict[str, Any]]:
        """Build progress (``POST /build`` with ``path`` sent as a tar) as an async iterator of
        ``{"stream": …}`` / ``{"aux": {"ID": …}}`` / ``{"error": …}``."""
        context = ContextTar(path, dockerfile)
        try:
            params: dict[str, Any] = {"t": tuple(tags or ()), "dockerfile": context.dockerfile, "buildargs": buildargs or None,
                      "nocache": nocache or None, "target": target or None, "labels": labels or None,
                      "networkmode": networkmode if networkmode != "default" else None}
            async for msg in self.docker._lines("POST", "/build", params=params, body=context,
                                                headers={"Content-Type": "application/x-tar"}):
                yield msg
        finally:
            context.close()


class ContextTar:
    """The build context as docker's CLI sends it: a tar of the folder, packed into a temporary file
    when first read (so the checks and the packing happen as the body is sent). The Dockerfile's name
    in it is :attr:`dockerfile`; one from outside the folder is added under a name of its own."""

    def __init__(self, path: str, dockerfile: str) -> None:
        self.path = path
        df_path = dockerfile if os.path.isabs(dockerfile) else os.path.join(os.getcwd(), dockerfile)
        if not os.path.exists(df_path) and not os.path.isabs(dockerfile):
            df_path = os.path.join(path, dockerfile)
        self.df_path = df_path
        inside = os.path.relpath(os.path.realpath(df_path), os.path.realpath(path))
        self.outside = inside == ".." or inside.startswith(".." + os.sep)
        self.dockerfile = f".dockerfile.{os.urandom(10).hex()}" if self.outside else inside
        self._file: IO[bytes] | None = None

    def _packed(self) -> IO[bytes]:
        if self._file is None:
            self._file = self._pack()
        return self._file

    def read(self, n: int = -1) -> bytes:
        return self._packed().read(n)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._packed().seek(pos, whence)

    def tell(self) -> int:
        return self._packed().tell()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def _pack(self) -> IO[bytes]:
        import tarfile
        import tempfile
        if not os.path.isdir(self.path):
            raise InvalidArgument(f'unable to prepare context: path "{self.path}" not found')
        if not os.path.isfile(self.df_path):
            raise InvalidArgument(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                                  f"lstat {self.df_path}: no such file or directory")
        out = tempfile.TemporaryFile()
        try:
            with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
                tf.add(os.path.realpath(self.path), arcname=".", recursive=True)
                if self.outside:
                    tf.add(self.df_path, arcname=self.dockerfile)
        except OSError as exc:
            out.close()
            raise InvalidArgument(f"unable to prepare context: {exc.strerror}: {exc.filename}") from None
        out.seek(0)
        return out
