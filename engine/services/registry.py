"""Registries: ``pull``, ``push``, ``login``, ``logout`` (and ``pull_sync`` for the builder's ``FROM``).

The network and blob work runs in a thread (see :mod:`engine.registry.distribution`); progress comes back
as docker's JSON messages through an async iterator, with or without a running event loop. The store
(image records, tags, RepoDigests) is written on the caller's side once the blobs are in.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .. import aio, reference
from ..config import Paths
from ..errors import EngineError, ImageNotFound, InvalidArgument, RegistryUnauthorized
from ..images.store import BlobStore
from ..state import State
from .events import Events
from .images import Images

if TYPE_CHECKING:  # the HTTP client, credentials and distribution code load when a registry is first used
    from ..registry import credentials
    from ..registry.client import RegistryClient
    from ..registry.distribution import DistributionMeta, Progress, PullResult, PushStats

T = TypeVar("T")


def _creds(registry_host: str, auth: dict[str, Any] | None) -> credentials.Credentials | None:
    from ..registry import credentials
    if auth:
        return credentials.Credentials(str(auth.get("username", "")), str(auth.get("password", "")),
                                       str(auth.get("identitytoken", "")))
    return credentials.get(registry_host)


def login_host(server: str | None) -> str:
    """``docker login`` server argument → registry host (Docker Hub when empty)."""
    from ..registry import credentials
    if not server:
        return "docker.io"
    host = credentials.hostname(server)
    if host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    return host


class Registry:
    """Pull, push and log in to registries; pulled images are recorded through the images service."""

    def __init__(self, state: State, paths: Paths, blobs: BlobStore, images: Images, events: Events) -> None:
        self.state = state
        self.paths = paths
        self.blobs = blobs
        self.images = images
        self.events = events
        self.last_push_stats: PushStats | None = None  # the last push's transfer figures (bench/registry.py)

    def _registry_client(self, registry_host: str, auth: dict[str, Any] | None = None) -> RegistryClient:
        from ..registry.client import RegistryClient
        return RegistryClient(registry_host, _creds(registry_host, auth))

    def _distribution_meta(self) -> DistributionMeta:
        from ..registry.distribution import DistributionMeta
        return DistributionMeta(self.paths.root)

    async def _in_thread(self, work: Callable[[Progress], T]) -> AsyncIterator[tuple[str, Any]]:
        """Run ``work(progress)`` in a thread; yields ("msg", message)… then ("done", result)."""
        loop = aio.running_loop()
        sync_q: queue.Queue[tuple[str, Any]] = queue.Queue()
        if loop is None:
            put: Callable[[tuple[str, Any]], None] = sync_q.put
        else:
            import asyncio
            async_q: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

            def put(item: tuple[str, Any]) -> None:
                loop.call_soon_threadsafe(async_q.put_nowait, item)

        cancelled = threading.Event()  # our consumer went away (its client hung up): the work stops

        def progress(msg: dict[str, Any]) -> None:
            if cancelled.is_set():  # raised in the work's own threads: it cleans up as after any failure
                raise EngineError("cancelled: the client went away")
            put(("msg", msg))

        def run() -> None:
            try:
                put(("done", work(progress)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's side
                if not cancelled.is_set():
                    put(("error", exc))

        thread = threading.Thread(target=run, name="registry", daemon=True)
        thread.start()
        try:
            while True:
                item = sync_q.get() if loop is None else await async_q.get()
                if item[0] == "error":
                    raise item[1]
                yield item
                if item[0] == "done":
                    return
        finally:
            if thread.is_alive():
                cancelled.set()
                if loop is not None:  # the operation (and its hold on the blobs) lasts until the work stopped
                    await aio.to_thread(thread.join)

    # -- pull -----------------------------------------------------------------------------------
    def _record_pull(self, ref: reference.Reference, res: PullResult) -> tuple[str, bool]:
        """Register a pulled image; returns (image id, whether the tag moved or the image is new)."""
        previous = self.state.tag(str(ref)) if ref.tag and not ref.digest else None
        known = self.state.image(res.config_digest) is not None
        self.images.register(res.config_digest,
                            repo_tags=[str(ref)] if ref.tag and not ref.digest else [])
        self.add_repo_digest(res.config_digest, ref, res.manifest_digest)
        self.events.emit("image", "pull", res.config_digest, name=ref.familiar)
        return res.config_digest, previous != res.config_digest or not known

    def add_repo_digest(self, image_id: str, ref: reference.Reference, digest: str) -> None:
        doc = self.state.image(image_id)
        if doc is None:
            return
        entry = f"{ref.familiar_repository}@{digest}"
        digests = [d for d in doc.get("RepoDigests", []) if d != entry]
        doc["RepoDigests"] = digests + [entry]
        self.state.put_image(image_id, doc, parent=doc.get("Parent", ""), intermediate=bool(doc.get("Intermediate")))

    async def pull(self, name: str, *, tag: str | None = None, platform: str | None = None,
                         auth: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """``POST /images/create?fromImage=…``: pull an image; yields docker's progress messages.

        Ends with ``Digest: …`` and ``Status: …`` messages. Failures raise (RegistryError and its kinds);
        nothing of a failed pull stays in the store.
        """
        ref = reference.parse(f"{name}:{tag}" if tag else name)
        if ref.digest:
            ref = reference.Reference(ref.domain, ref.path, None, ref.digest)
        from ..registry.distribution import pull
        client = self._registry_client(ref.domain, auth)
        blobs, meta = self.blobs, self._distribution_meta()
        result: PullResult | None = None
        with self.images.operation("pull"):  # its blobs are safe from a prune until the image is recorded
            try:
                async for kind, value in self._in_thread(lambda progress: pull(client, blobs, ref, progress,
                                                                               platform=platform, meta=meta)):
                    if kind == "msg":
                        yield value
                    else:
                        result = value
            finally:
                client.close()
            assert result is not None
            _image_id, changed = self._record_pull(ref, result)
        yield {"status": f"Digest: {result.manifest_digest}"}
        what = ref.familiar if not ref.digest else f"{ref.familiar_repository}@{ref.digest}"
        if result.downloaded or changed:
            yield {"status": f"Status: Downloaded newer image for {what}"}
        else:
            yield {"status": f"Status: Image is up to date for {what}"}

    def pull_sync(self, name: str, progress: Progress, platform: str | None = None) -> str:
        """Pull in this thread (the builder's ``FROM``); returns the image id."""
        from ..registry.distribution import pull
        ref = reference.parse(name)
        client = self._registry_client(ref.domain)
        with self.images.operation("pull"):
            try:
                res = pull(client, self.blobs, ref, progress, platform=platform, meta=self._distribution_meta())
            finally:
                client.close()
            image_id, _ = self._record_pull(ref, res)
        progress({"status": f"Digest: {res.manifest_digest}"})
        progress({"status": f"Status: Downloaded newer image for {ref.familiar}"})
        return image_id

    # -- distribution ---------------------------------------------------------------------------
    async def distribution(self, name: str, auth: dict[str, Any] | None = None) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the descriptor ``name`` resolves to in its registry and the
        platforms it serves (what ``--resolve-image`` pins a service to).

        An image made here (built, imported or tagged, never pushed or pulled under this repository) is
        not looked for in any registry: no registry holds it under that name, and on this one node it is
        already the image every task runs. ImageNotFound says so; a client warns or goes on unpinned."""
        ref = reference.parse(name)
        try:
            image_id = self.images.resolve(name)
        except ImageNotFound:
            image_id = None
        if image_id is not None:
            doc = self.state.image(image_id) or {}
            if not reference.from_registry(ref, doc.get("RepoDigests") or []):
                raise ImageNotFound(f"{ref.familiar}: a local image that no registry has under this name "
                                    f"(it was built, imported or tagged here)", image=name)
        from ..registry.distribution import inspect
        client = self._registry_client(ref.domain, auth)
        try:
            return await aio.to_thread(inspect, client, ref)
        finally:
            client.close()

    # -- push -----------------------------------------------------------------------------------
    async def push(self, name: str, *, tag: str | None = None, auth: dict[str, Any] | None = None,
                         oci: bool = False, chunk_size: int = 0) -> AsyncIterator[dict[str, Any]]:
        """``POST /images/{name}/push``: yields docker's progress messages, ending with the digest line."""
        ref = reference.parse(f"{name}:{tag}" if tag else name)
        if ref.digest:
            raise InvalidArgument("cannot push a digest reference")
        image_id = self.state.tag(str(ref))
        if image_id is None:
            raise ImageNotFound(f"An image does not exist locally with the tag: {ref.familiar_repository}",
                                image=name)
        diff_ids = list(self.images.config(image_id).get("rootfs", {}).get("diff_ids", []))
        client = self._registry_client(ref.domain, auth)
        from ..registry.distribution import Pusher
        pusher = Pusher(client, self.blobs, ref, lambda m: None, meta=self._distribution_meta(), oci=oci,
                        chunk_size=chunk_size)
        result: tuple[str, int] | None = None

        def work(progress: Progress) -> tuple[str, int]:
            pusher.progress = progress
            return pusher.run(image_id, diff_ids)

        try:
            async for kind, value in self._in_thread(work):
                if kind == "msg":
                    yield value
                else:
                    result = value
        except RegistryUnauthorized as exc:
            text = str(exc)
            if "incorrect username" not in text and not text.startswith(("denied", "unauthorized")):
                text = f"denied: {text}"
            raise RegistryUnauthorized(text) from None
        finally:
            client.close()
        assert result is not None
        self.add_repo_digest(image_id, ref, result[0])
        self.events.emit("image", "push", image_id, name=ref.familiar)
        self.last_push_stats = pusher.stats

    # -- login ----------------------------------------------------------------------------------
    async def auth_check(self, server: str | None = None, username: str = "", password: str = "") -> str:
        """``POST /auth``: checks the credentials against the registry (nothing is saved); returns its host."""
        from ..registry import credentials
        host = login_host(server)
        if not username:
            raise InvalidArgument("Username is required")
        if not password:
            raise InvalidArgument("Error: Password Required")
        creds = credentials.Credentials(username, password)
        from ..registry.client import RegistryClient
        client = RegistryClient(host, creds)
        try:
            await aio.to_thread(client.check_login, creds)
        except RegistryUnauthorized as exc:
            raise RegistryUnauthorized(f"Get \"{client.url('/v2/')}\": {exc}") from None
        finally:
            client.close()
        return host

    async def login(self, server: str | None = None, username: str = "", password: str = "") -> dict[str, str]:
        """``POST /auth`` then save: checks the credentials against the registry first."""
        from ..registry import credentials
        host = await self.auth_check(server, username, password)
        creds = credentials.Credentials(username, password)
        path = await aio.to_thread(credentials.store, host, creds)
        warning = "" if credentials.helper_name(host) else \
            f"WARNING! Your password will be stored unencrypted in {path}."
        return {"Status": "Login Succeeded", "IdentityToken": "", "Warning": warning}

    async def logout(self, server: str | None = None) -> dict[str, str]:
        """Forget the stored credentials; ``Status`` says what happened, in docker's words."""
        from ..registry import credentials
        host = login_host(server)
        key = credentials.server_key(host)
        if await aio.to_thread(credentials.erase, host):
            return {"Status": f"Removing login credentials for {key}"}
        return {"Status": f"Not logged in to {key}"}
