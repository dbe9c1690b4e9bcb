"""Images: lookup, records, tags, removal and prune, import / save / load, and builds.

Image removal, tagging and container creation decide under one write transaction of the store, so an
image is removed only when no tag and no container (even one being created) refers to it. Results are
shaped like the Docker Engine API's.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from .. import aio, reference
from ..config import Paths
from ..errors import BuildError, Conflict, EngineError, ImageNotFound, InvalidArgument, NotFound
from ..images import layers as layers_mod
from ..images.store import BlobStore
from ..runtime import cleanup
from ..state import State
from ..units import parse_rfc3339
from .events import Events
from .records import ContainerRecords
from .filters import all_labels_match

if TYPE_CHECKING:
    from ..build.builder import Host as BuildHost


class Images:
    """The image verbs over the store and the blob store."""

    def __init__(self, state: State, paths: Paths, blobs: BlobStore, events: Events, records: ContainerRecords,
                 open_build_host: Callable[[], BuildHost]) -> None:
        self.state = state
        self.paths = paths
        self.blobs = blobs
        self.events = events
        self.records = records
        self.open_build_host = open_build_host  # a build runs in a thread, on its own connection to the store

    @contextmanager
    def operation(self, kind: str) -> Iterator[Any]:
        """A live-operation record for the time of the block (:class:`engine.runtime.cleanup.Operation`):
        the blobs stored meanwhile and the images it notes are safe from prune, and should this process
        die, the next engine open ends the processes it notes."""
        with cleanup.Operation(self.paths.root, kind) as op:
            def note(digest: str) -> None:
                op.note("blob", digest)
            self.blobs.journals.append(note)
            try:
                yield op
            finally:
                self.blobs.journals.remove(note)


    # -- image lookup ---------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        """An image id (``sha256:…``) for a reference, an id, or a unique id prefix.

        As docker does, a name that is a tag wins over an id prefix that happens to look the same
        (``c1`` is both a valid repository name and a hex prefix).
        """
        if not name:
            raise InvalidArgument("invalid reference format")
        candidate = name[7:] if name.startswith("sha256:") else name
        is_hex = len(candidate) >= 1 and all(c in "0123456789abcdef" for c in candidate)
        if is_hex and len(candidate) == 64 and self.state.image("sha256:" + candidate):
            return "sha256:" + candidate
        ref = None
        if not name.startswith("sha256:"):
            try:
                ref = reference.parse(name)
            except InvalidArgument:
                if not is_hex:
                    raise
        if ref is not None:
            image_id = self.state.tag(str(ref))
            if image_id is None and ref.digest:
                for iid, _p, _i, doc in self.state.image_rows():
                    if {f"{ref.repository}@{ref.digest}", f"{ref.familiar_repository}@{ref.digest}"} & \
                            set(doc.get("RepoDigests", [])):
                        image_id = iid
            if image_id is not None:
                return image_id
        if is_hex and len(candidate) < 64:
            ids = self.state.image_ids_with_prefix("sha256:" + candidate)
            if len(ids) == 1:
                return ids[0]
        if ref is None:
            raise ImageNotFound(f"No such image: {name}", image=name)
        raise ImageNotFound(f"No such image: {ref.familiar}", image=name)

    def config(self, image_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.blobs.get_bytes(image_id))
        return doc

    def register(self, config_digest: str, *, parent: str = "", intermediate: bool = False,
                       repo_tags: builtins.list[str] | None = None) -> str:
        """Record an image whose config and layers are in the blob store; returns its id."""
        cfg = self.config(config_digest)
        diff_ids = cfg.get("rootfs", {}).get("diff_ids", [])
        size = 0
        for d in diff_ids:
            try:
                size += os.path.getsize(self.blobs.path(d))
            except OSError:
                raise NotFound(f"layer {d} of image {config_digest} is missing") from None
        existing = self.state.image(config_digest)
        if existing is None or (existing.get("Intermediate") and not intermediate):
            self.state.put_image(config_digest, {
                "Id": config_digest, "Parent": parent, "Size": size, "Layers": diff_ids,
                "CreatedUnix": parse_rfc3339(cfg.get("created", "")) or time.time(),
                "Intermediate": intermediate, "RepoDigests": (existing or {}).get("RepoDigests", []),
            }, parent=parent, intermediate=intermediate)
        for tag in repo_tags or []:
            self.add_tag(config_digest, tag)
        return config_digest

    def add_tag(self, image_id: str, ref_text: str) -> None:
        ref = reference.parse(ref_text)
        if ref.digest:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        with self.state.tx():  # an `rmi` running now either sees this tag or has removed the image first
            if self.state.image(image_id) is None:
                raise ImageNotFound(f"No such image: {image_id}", image=image_id)
            self.state.set_tag(str(ref), image_id)
        self.events.emit("image", "tag", image_id, name=ref.familiar)

    # -- images: the API ------------------------------------------------------------------------
    async def list(self, all: bool = False, filters: dict[str, builtins.list[str]] | None = None) -> builtins.list[dict[str, Any]]:
        """ImageSummary objects, newest first (``GET /images/json``)."""
        filters = filters or {}
        tags = self.state.all_tags()
        rows = self.state.image_rows()
        parents = {p for _i, p, _m, _d in rows if p}
        containers: dict[str, int] = {}
        for c in self.state.containers():
            containers[c["Image"]] = containers.get(c["Image"], 0) + 1
        out = []
        for image_id, parent, intermediate, doc in rows:
            refs = tags.get(image_id, [])
            dangling = not refs
            if not all and intermediate and dangling:
                continue
            if not all and dangling and image_id in parents:
                continue
            if "dangling" in filters:
                want = filters["dangling"][-1].lower() in ("true", "1")
                if want != dangling:
                    continue
            if "reference" in filters:
                import fnmatch
                fams = [reference.parse(r).familiar for r in refs]
                if not any(fnmatch.fnmatchcase(f, pat) or fnmatch.fnmatchcase(f.rsplit(":", 1)[0], pat)
                           for f in fams for pat in filters["reference"]):
                    continue
            if "label" in filters:
                labels = (self.config(image_id).get("config") or {}).get("Labels") or {}
                if not all_labels_match(labels, filters["label"]):
                    continue
            out.append({
                "Id": image_id, "ParentId": parent, "RepoTags": [reference.parse(r).familiar for r in refs],
                "RepoDigests": doc.get("RepoDigests", []), "Created": int(doc.get("CreatedUnix", 0)),
                "Size": doc.get("Size", 0), "SharedSize": -1, "VirtualSize": doc.get("Size", 0),
                "Labels": None, "Containers": containers.get(image_id, 0),
            })
        return out

    async def inspect(self, name: str) -> dict[str, Any]:
        image_id = self.resolve(name)
        doc = self.state.image(image_id) or {}
        cfg = self.config(image_id)
        return {
            "Id": image_id,
            "RepoTags": [reference.parse(r).familiar for r in self.state.tags_of(image_id)],
            "RepoDigests": doc.get("RepoDigests", []),
            "Parent": doc.get("Parent", ""),
            "Comment": (cfg.get("history") or [{}])[-1].get("comment", ""),
            "Created": cfg.get("created", ""),
            "DockerVersion": "",
            "Author": cfg.get("author", ""),
            "Config": cfg.get("config", {}),
            "Architecture": cfg.get("architecture", ""),
            "Os": cfg.get("os", "linux"),
            "Size": doc.get("Size", 0),
            "GraphDriver": {"Name": "overlay2", "Data": None},
            "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }

    async def history(self, name: str) -> builtins.list[dict[str, Any]]:
        image_id = self.resolve(name)
        cfg = self.config(image_id)
        diff_ids = list(cfg.get("rootfs", {}).get("diff_ids", []))
        sizes = [os.path.getsize(self.blobs.path(d)) if self.blobs.has(d) else 0 for d in diff_ids]
        out = []
        layer_i = 0
        for h in cfg.get("history", []):
            size = 0
            if not h.get("empty_layer") and layer_i < len(sizes):
                size = sizes[layer_i]
                layer_i += 1
            out.append({"Id": "<missing>", "Created": int(parse_rfc3339(h.get("created", ""))),
                        "CreatedBy": h.get("created_by", ""), "Tags": None, "Size": size,
                        "Comment": h.get("comment", "")})
        out.reverse()
        if out:
            out[0]["Id"] = image_id
            out[0]["Tags"] = [reference.parse(r).familiar for r in self.state.tags_of(image_id)]
        return out

    async def tag(self, name: str, repo: str, tag: str | None = None) -> None:
        image_id = self.resolve(name)
        try:
            self.add_tag(image_id, f"{repo}:{tag}" if tag else repo)
        except ImageNotFound:  # removed since it was resolved: docker's message for the name given
            self.resolve(name)
            raise

    async def delete(self, name: str, force: bool = False, noprune: bool = False) -> builtins.list[dict[str, str]]:
        """``docker rmi``: untag, and delete the image when no tag is left."""
        with self.state.tx():  # decided and done under one lock: no tag or container appears in between
            result = self._delete_locked(name, force, noprune)
        if any("Deleted" in r for r in result):
            self.gc_blobs()
        return result

    def _delete_locked(self, name: str, force: bool, noprune: bool) -> builtins.list[dict[str, str]]:
        image_id = self.resolve(name)
        refs = self.state.tags_of(image_id)
        by_ref = False
        try:
            ref = reference.parse(name)
            by_ref = str(ref) in refs
        except InvalidArgument:
            pass
        users = self.state.containers_using_image(image_id)
        result: builtins.list[dict[str, str]] = []
        if by_ref and len(refs) > 1:
            self.state.delete_tag(str(ref))
            self.events.emit("image", "untag", image_id, name=ref.familiar)
            return [{"Untagged": ref.familiar}]
        if not by_ref and len(refs) > 1 and not force:
            raise Conflict(f"conflict: unable to delete {image_id[7:19]} (must be forced) - image is referenced "
                           f"in multiple repositories")
        if users:
            running = [c for c in users if self.records.status(c) in ("running", "restarting")]
            if running or not force:
                cid = (running or users)[0]
                if by_ref:
                    raise Conflict(f"conflict: unable to remove repository reference \"{name}\" (must force) - "
                                   f"container {cid[:12]} is using its referenced image {image_id[7:19]}")
                raise Conflict(f"conflict: unable to delete {image_id[7:19]} (must be forced) - image is being used "
                               f"by {'running' if running else 'stopped'} container {cid[:12]}")
        # Any child (a build step's intermediate image too) keeps the image, as docker's: removing its
        # last tag only untags it; removing it by id is a conflict even with force.
        children = self.state.children(image_id)
        if children and not by_ref:
            raise Conflict(f"conflict: unable to delete {image_id[7:19]} (cannot be forced) - image has dependent "
                           f"child images")
        for r in refs:
            self.state.delete_tag(r)
            result.append({"Untagged": reference.parse(r).familiar})
            self.events.emit("image", "untag", image_id, name=reference.parse(r).familiar)
        if users or children:  # forced with stopped containers, or a parent of other images: docker only untags
            return result
        if image_id in self._held():  # a running build stands on it: untagged, kept until it is done
            return result
        result += self._delete_chain(image_id, prune_parents=not noprune)
        return result

    def _held(self) -> set[str]:
        """Images that running operations (a build's base and steps) hold; read under the caller's lock."""
        return cleanup.protected(self.paths.root)[0]

    def _delete_chain(self, image_id: str, prune_parents: bool = True) -> builtins.list[dict[str, str]]:
        result = []
        current: str | None = image_id
        held: set[str] | None = None
        while current:
            doc = self.state.image(current)
            if doc is None:
                break
            parent = doc.get("Parent") or ""
            self.state.delete_image(current)
            result.append({"Deleted": current})
            self.events.emit("image", "delete", current)
            if not prune_parents or not parent:
                break
            pdoc = self.state.image(parent)
            if (pdoc is None or not pdoc.get("Intermediate") or self.state.tags_of(parent)
                    or self.state.children(parent) or self.state.containers_using_image(parent)):
                break
            held = self._held() if held is None else held
            if parent in held:
                break
            current = parent
        return result

    def live_blobs(self) -> tuple[set[str], set[str]]:
        """(blob digests, unpacked layer dirs) that images, or operations running now, refer to.

        A running build's images and blobs are not registered yet or not tagged: its live-operation
        record (:class:`engine.runtime.cleanup.Operation`) holds them.
        """
        held_images, held_blobs = cleanup.protected(self.paths.root)
        live: set[str] = set(held_blobs)
        live_chains: set[str] = set()
        docs = [doc for _i, _p, _m, doc in self.state.image_rows()]
        known = {d.get("Id") for d in docs}
        for image_id in held_images - known:
            try:
                layers = self.config(image_id).get("rootfs", {}).get("diff_ids", [])
                docs.append({"Id": image_id, "Layers": layers})
            except (NotFound, ValueError):
                pass
        for doc in docs:
            live.add(doc["Id"])
            for extra in doc.get("Blobs", []):
                live.add(extra)
            layers = doc.get("Layers", [])
            live.update(layers)
            live_chains.update(c.split(":", 1)[1] for c in layers_mod.chain_ids(layers))
        return live, live_chains

    def gc_blobs(self) -> int:
        """Delete blobs and unpacked layers no image (nor running operation) refers to; returns the bytes freed."""
        stored = list(self.blobs.digests())  # listed before the live set: a blob written after is kept
        live, live_chains = self.live_blobs()
        freed = 0
        for digest in stored:
            if digest not in live:
                try:
                    freed += os.path.getsize(self.blobs.path(digest))
                except OSError:
                    continue
                self.blobs.delete(digest)
        if os.path.isdir(self.paths.layers):
            for name in os.listdir(self.paths.layers):
                if name not in live_chains and not name.startswith("."):
                    if any(self.layer_in_use(name) for _ in [0]):
                        continue
                    shutil.rmtree(os.path.join(self.paths.layers, name), ignore_errors=True)
        return freed

    def layer_in_use(self, chain_hex: str) -> bool:
        for c in self.state.containers():
            if chain_hex in c.get("GraphDriver", {}).get("Data", {}).get("Chains", []):
                return True
        return False

    async def prune(self, all: bool = False, filters: dict[str, builtins.list[str]] | None = None) -> dict[str, Any]:
        deleted: builtins.list[dict[str, str]] = []
        reclaimed = 0
        used = {c["Image"] for c in self.state.containers()}
        used |= cleanup.protected(self.paths.root)[0]  # a running build's base and steps
        for image in await self.list(all=True):
            image_id = image["Id"]
            if image_id in used or not self.state.image(image_id):
                continue
            if image["RepoTags"] and not all:
                continue
            if not image["RepoTags"] and (self.state.image(image_id) or {}).get("Intermediate") and not all:
                continue
            if self.state.children(image_id):
                continue
            with self.state.tx():  # checked again under the lock: a container or tag made since keeps it
                gone = self._prune_locked(image_id, all)
            if gone:
                reclaimed += image["Size"]
                deleted += gone
        reclaimed += self.gc_blobs()  # blobs nothing refers to (a failed build's, an interrupted pull's)
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _prune_locked(self, image_id: str, all: bool) -> builtins.list[dict[str, str]]:
        """Untag and delete an image no container uses (with ``all``, tagged ones too); [] when kept."""
        doc = self.state.image(image_id)
        refs = self.state.tags_of(image_id)
        if (doc is None or self.state.containers_using_image(image_id) or self.state.children(image_id)
                or (not all and (refs or doc.get("Intermediate"))) or image_id in self._held()):
            return []
        result = []
        for r in refs:
            self.state.delete_tag(r)
            result.append({"Untagged": reference.parse(r).familiar})
            self.events.emit("image", "untag", image_id, name=reference.parse(r).familiar)
        return result + self._delete_chain(image_id)

    def unpack(self, image_id: str) -> builtins.list[str]:
        """Unpack every layer of an image once; returns the layer dirs, bottom first."""
        diff_ids = self.config(image_id).get("rootfs", {}).get("diff_ids", [])
        dirs = []
        overlay = layers_mod.overlay_supported()
        for diff_id, chain in zip(diff_ids, layers_mod.chain_ids(diff_ids)):
            path = self.blobs.path(diff_id)
            dirs.append(layers_mod.ensure_unpacked(self.paths.layers, chain, partial(_open_binary, path),
                                                   overlay=overlay, owner_root=self.paths.root))
        return dirs

    # -- import / save / load -------------------------------------------------------------------
    async def import_image(self, source: IO[bytes], repo: str | None = None, message: str = "",
                           changes: builtins.list[str] | None = None) -> str:
        """``docker import``; ``changes`` are Dockerfile instructions applied to the config."""
        from ..images import archive
        if repo:
            reference.parse(repo)
        config = changes_to_config(changes) if changes else None
        with self.operation("import"):
            digest = await aio.to_thread(archive.import_rootfs, source, self.blobs, changes_config=config,
                                         message=message)
            self.register(digest, repo_tags=[repo] if repo else [])
        self.events.emit("image", "import", digest)
        return digest

    async def make_busybox(self, tag: str = "busybox:latest") -> dict[str, Any]:
        """A ``busybox`` image from this host's static /bin/busybox (Debian's busybox-static), no registry.

        Returns ``{"Id": …, "RepoTags": [tag]}``. Without a static busybox, one line says what to install.
        """
        import io

        from ..images import bootstrap
        ref = reference.parse(tag)
        if ref.digest:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        data = await aio.to_thread(bootstrap.rootfs_bytes)
        image_id = await self.import_image(io.BytesIO(data), repo=str(ref), changes=[f"CMD {bootstrap.CMD}"],
                                           message=f"made from this host's {bootstrap.BUSYBOX}")
        return {"Id": image_id, "RepoTags": [reference.familiar(str(ref))]}

    async def save(self, names: builtins.list[str], out: IO[bytes], fmt: str = "docker") -> None:
        from ..images import archive
        images = []
        for name in names:
            image_id = self.resolve(name)
            cfg = self.config(image_id)
            try:
                ref = reference.parse(name)
                tags = [str(ref)] if ref.tag and str(ref) in self.state.tags_of(image_id) else []
            except InvalidArgument:
                tags = []
            if not tags and not name.startswith("sha256:") and not all(c in "0123456789abcdef" for c in name):
                tags = self.state.tags_of(image_id)
            images.append(archive.ArchiveImage(config_digest=image_id,
                                               layer_digests=list(cfg.get("rootfs", {}).get("diff_ids", [])),
                                               repo_tags=tags))
        await aio.to_thread(archive.write_archive, out, images, self.blobs, fmt)

    async def load(self, source: IO[bytes]) -> builtins.list[str]:
        """``docker load``: returns docker's lines (``Loaded image: …`` / ``Loaded image ID: …``)."""
        from ..images import archive
        with self.operation("load"):
            loaded = await aio.to_thread(archive.read_archive, source, self.blobs)
            for img in loaded:
                self.register(img.config_digest)
        lines = []
        for img in loaded:
            if img.repo_tags:
                for t in img.repo_tags:
                    prev = self.state.tag(reference.normalize(t))
                    self.add_tag(img.config_digest, t)
                    if prev and prev != img.config_digest:
                        lines.append(f"The image {reference.familiar(t)} already exists, renaming the old one "
                                     f"with ID {prev} to empty string")
                    lines.append(f"Loaded image: {reference.familiar(t)}")
            else:
                lines.append(f"Loaded image ID: {img.config_digest}")
            self.events.emit("image", "load", img.config_digest)
        return lines

    # -- build ----------------------------------------------------------------------------------
    async def build(self, *, path: str, tags: builtins.list[str], dockerfile: str = "Dockerfile",
                    buildargs: dict[str, str] | None = None, nocache: bool = False, target: str = "",
                    labels: dict[str, str] | None = None,
                    networkmode: str = "default") -> AsyncIterator[dict[str, Any]]:
        """Build an image; yields docker's progress messages, then ``{"aux": {"ID": …}}``.

        Failures come as a final ``{"error": …, "errorDetail": …}`` message, as the Docker API sends them.
        """
        import queue as queue_mod
        import threading

        from ..build.builder import Builder
        loop = aio.running_loop()
        messages: queue_mod.SimpleQueue[dict[str, Any] | None] = queue_mod.SimpleQueue()
        wake_r, wake_w = os.pipe()  # wakes an event loop without polling
        os.set_blocking(wake_w, False)  # never stall the builder: a full pipe has woken the reader already

        def emit(msg: dict[str, Any] | None) -> None:
            messages.put(msg)
            try:
                os.write(wake_w, b"x")
            except OSError:
                pass

        builders: builtins.list[Builder] = []  # the running one, for cancel() when our consumer goes away
        done = threading.Event()  # set when nobody reads the progress any more (the client went away)

        def work() -> None:
            host = self.open_build_host()
            try:
                builder = Builder(host, path, dockerfile, tags, buildargs or {}, nocache, target, labels or {}, emit,
                                  network=networkmode)
                builders.append(builder)
                if done.is_set():
                    builder.cancel()
                image_id = builder.run()
                emit({"aux": {"ID": image_id}})
            except EngineError as exc:
                step = getattr(exc, "step", "")
                log = getattr(exc, "log", "")
                # the API's "error" is the bare message (clients add their "ERROR: ", as docker's do)
                msg = f"failed to solve: {exc}" if not step else f"{step}: {exc}"
                # errorDetail.code: the failing step's own exit status (docker build exits with it)
                code = int(getattr(exc, "code", 1)) if isinstance(exc, BuildError) else exc.exit_code
                emit({"error": msg, "errorDetail": {"message": str(exc), "code": code,
                                                     "step": step, "log": log}})
            except Exception as exc:  # noqa: BLE001 - reported as a build error, never a crash
                emit({"error": f"{type(exc).__name__}: {exc}", "errorDetail": {"message": str(exc)}})
            finally:
                host.close()
                emit(None)

        thread = threading.Thread(target=work, name="portside-build", daemon=True)
        thread.start()
        try:
            while True:
                if loop is not None:
                    while messages.empty():
                        await aio.readable(wake_r)
                        os.read(wake_r, 65536)
                msg = messages.get()  # without a loop (the CLI), block here: nothing else runs
                if msg is None:
                    break
                if "aux" in msg:
                    self.events.emit("image", "build", msg["aux"]["ID"])
                yield msg
        finally:
            done.set()
            if thread.is_alive():
                for b in builders:
                    b.cancel()
            await aio.to_thread(thread.join)
            os.close(wake_r)
            os.close(wake_w)


def changes_to_config(changes: builtins.list[str]) -> dict[str, Any]:
    """``import --change``: the Dockerfile instructions docker allows there."""
    from ..build import parser as dfp
    cfg: dict[str, Any] = {}
    for change in changes:
        inst = dfp.parse_instruction(change)
        if inst.cmd == "ENV":
            env = cfg.setdefault("Env", [])
            for k, v in dfp.parse_kv(inst, {}):
                env.append(f"{k}={v}")
        elif inst.cmd in ("CMD", "ENTRYPOINT"):
            cfg["Cmd" if inst.cmd == "CMD" else "Entrypoint"] = dfp.to_argv(inst)
        elif inst.cmd == "WORKDIR":
            cfg["WorkingDir"] = inst.args[0]
        elif inst.cmd == "USER":
            cfg["User"] = inst.args[0]
        elif inst.cmd == "EXPOSE":
            cfg.setdefault("ExposedPorts", {}).update({p if "/" in p else p + "/tcp": {} for p in inst.args})
        elif inst.cmd == "LABEL":
            cfg.setdefault("Labels", {}).update(dict(dfp.parse_kv(inst, {})))
        elif inst.cmd == "VOLUME":
            cfg.setdefault("Volumes", {}).update({v: {} for v in inst.args})
        elif inst.cmd == "STOPSIGNAL":
            cfg["StopSignal"] = inst.args[0]
        else:
            raise InvalidArgument(f"{inst.cmd.lower()} is not a valid change command")
    return cfg


def _open_binary(path: str) -> BinaryIO:
    return open(path, "rb")
