"""The engine's registry verbs: ``image_pull``, ``image_push``, ``login``, ``logout`` (and ``pull_sync``
for the builder's ``FROM``).

The network and blob work runs in a thread (see :mod:`.distribution`); progress comes back as docker's
JSON messages through an async iterator, with or without a running event loop. The engine's state
(image records, tags, RepoDigests) is written on the caller's side once the blobs are in.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .. import aio, reference
from ..errors import EngineError, ImageNotFound, InvalidArgument, RegistryError, RegistryUnauthorized

if TYPE_CHECKING:  # the HTTP client, credentials and distribution code load when a registry is first used
    from . import credentials
    from .client import RegistryClient
    from .distribution import DistributionMeta, Progress, PullResult

if TYPE_CHECKING:
    from ..engine import Engine

T = TypeVar("T")


def _creds(registry_host: str, auth: dict[str, Any] | None) -> credentials.Credentials | None:
    from . import credentials
    if auth:
        return credentials.Credentials(str(auth.get("username", "")), str(auth.get("password", "")),
                                       str(auth.get("identitytoken", "")))
    return credentials.get(registry_host)


def login_host(server: str | None) -> str:
    """``docker login`` server argument → registry host (Docker Hub when empty)."""
    from . import credentials
    if not server:
        return "docker.io"
    host = credentials.hostname(server)
    if host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    return host


class RegistryMixin:
    """Registry operations mixed into :class:`engine.engine.Engine`."""

    def _registry_client(self: Engine, registry_host: str, auth: dict[str, Any] | None = None) -> RegistryClient:
        from .client import RegistryClient
        return RegistryClient(registry_host, _creds(registry_host, auth))

    def _distribution_meta(self: Engine) -> DistributionMeta:
        from .distribution import DistributionMeta
        return DistributionMeta(self.paths.root)

    async def _in_thread(self: Engine, work: Callable[[Progress], T]) -> AsyncIterator[tuple[str, Any]]:
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
    def _record_pull(self: Engine, ref: reference.Reference, res: PullResult) -> tuple[str, bool]:
        """Register a pulled image; returns (image id, whether the tag moved or the image is new)."""
        previous = self.state.tag(str(ref)) if ref.tag and not ref.digest else None
        known = self.state.image(res.config_digest) is not None
        self.register_image(res.config_digest,
                            repo_tags=[str(ref)] if ref.tag and not ref.digest else [])
        self._add_repo_digest(res.config_digest, ref, res.manifest_digest)
        self.emit("image", "pull", res.config_digest, name=ref.familiar)
        return res.config_digest, previous != res.config_digest or not known

    def _add_repo_digest(self: Engine, image_id: str, ref: reference.Reference, digest: str) -> None:
        doc = self.state.image(image_id)
        if doc is None:
            return
        entry = f"{ref.familiar_repository}@{digest}"
        digests = [d for d in doc.get("RepoDigests", []) if d != entry]
        doc["RepoDigests"] = digests + [entry]
        self.state.put_image(image_id, doc, parent=doc.get("Parent", ""), intermediate=bool(doc.get("Intermediate")))

    async def image_pull(self: Engine, name: str, *, tag: str | None = None, platform: str | None = None,
                         auth: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """``POST /images/create?fromImage=…``: pull an image; yields docker's progress messages.

        Ends with ``Digest: …`` and ``Status: …`` messages. Failures raise (RegistryError and its kinds);
        nothing of a failed pull stays in the store.
        """
        ref = reference.parse(f"{name}:{tag}" if tag else name)
        if ref.digest:
            ref = reference.Reference(ref.domain, ref.path, None, ref.digest)
        from .distribution import pull
        client = self._registry_client(ref.domain, auth)
        blobs, meta = self.blobs, self._distribution_meta()
        result: PullResult | None = None
        with self.operation("pull"):  # its blobs are safe from a prune until the image is recorded
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

    def pull_sync(self: Engine, name: str, progress: Progress, platform: str | None = None) -> str:
        """Pull in this thread (the builder's ``FROM``); returns the image id."""
        from .distribution import pull
        ref = reference.parse(name)
        client = self._registry_client(ref.domain)
        with self.operation("pull"):
            try:
                res = pull(client, self.blobs, ref, progress, platform=platform, meta=self._distribution_meta())
            finally:
                client.close()
            image_id, _ = self._record_pull(ref, res)
        progress({"status": f"Digest: {res.manifest_digest}"})
        progress({"status": f"Status: Downloaded newer image for {ref.familiar}"})
        return image_id

    # -- push -----------------------------------------------------------------------------------
    async def image_push(self: Engine, name: str, *, tag: str | None = None, auth: dict[str, Any] | None = None,
                         oci: bool = False, chunk_size: int = 0) -> AsyncIterator[dict[str, Any]]:
        """``POST /images/{name}/push``: yields docker's progress messages, ending with the digest line."""
        ref = reference.parse(f"{name}:{tag}" if tag else name)
        if ref.digest:
            raise InvalidArgument("cannot push a digest reference")
        image_id = self.state.tag(str(ref))
        if image_id is None:
            raise ImageNotFound(f"An image does not exist locally with the tag: {ref.familiar_repository}",
                                image=name)
        diff_ids = list(self.image_config(image_id).get("rootfs", {}).get("diff_ids", []))
        client = self._registry_client(ref.domain, auth)
        from .distribution import Pusher
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
        self._add_repo_digest(image_id, ref, result[0])
        self.emit("image", "push", image_id, name=ref.familiar)
        self._last_push_stats = pusher.stats  # type: ignore[attr-defined]

    # -- login ----------------------------------------------------------------------------------
    async def login(self: Engine, server: str | None = None, username: str = "", password: str = "") -> dict[str, str]:
        """``POST /auth`` then save: checks the credentials against the registry first."""
        from . import credentials
        host = login_host(server)
        if not username:
            raise InvalidArgument("Username is required")
        if not password:
            raise InvalidArgument("Error: Password Required")
        creds = credentials.Credentials(username, password)
        from .client import RegistryClient
        client = RegistryClient(host, creds)
        try:
            await aio.to_thread(client.check_login, creds)
        except RegistryUnauthorized as exc:
            raise RegistryUnauthorized(f"Get \"{client.url('/v2/')}\": {exc}") from None
        finally:
            client.close()
        path = await aio.to_thread(credentials.store, host, creds)
        warning = "" if credentials.helper_name(host) else \
            f"WARNING! Your password will be stored unencrypted in {path}."
        return {"Status": "Login Succeeded", "IdentityToken": "", "Warning": warning}

    async def logout(self: Engine, server: str | None = None) -> dict[str, str]:
        """Forget the stored credentials; ``Status`` says what happened, in docker's words."""
        from . import credentials
        host = login_host(server)
        key = credentials.server_key(host)
        if await aio.to_thread(credentials.erase, host):
            return {"Status": f"Removing login credentials for {key}"}
        return {"Status": f"Not logged in to {key}"}


__all__ = ["RegistryMixin", "login_host", "RegistryError", "EngineError"]
