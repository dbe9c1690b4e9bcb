"""What a build needs of the engine (:class:`engine.build.builder.Host`), from the services of an engine
opened for the build's thread."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from ..runtime import cleanup
from .containers import seccomp_warm
from .images import Images
from .networks import Networks
from .registry import Registry


class BuildHost:
    """The builder's view of one engine: images, pulls for ``FROM``, the default bridge for ``RUN``."""

    def __init__(self, images: Images, registry: Registry, networks: Networks, close: Callable[[], None]) -> None:
        self.images = images
        self.registry = registry
        self.networks = networks
        self.paths = images.paths
        self.state = images.state
        self.blobs = images.blobs
        self.close = close  # closes the engine the host was made from

    def operation(self, kind: str) -> AbstractContextManager[cleanup.Operation]:
        return self.images.operation(kind)

    def register_image(self, config_digest: str, *, parent: str = "", intermediate: bool = False,
                       repo_tags: list[str] | None = None) -> str:
        return self.images.register(config_digest, parent=parent, intermediate=intermediate, repo_tags=repo_tags)

    def tag_image(self, image_id: str, ref_text: str) -> None:
        self.images.add_tag(image_id, ref_text)

    def image_config(self, image_id: str) -> dict[str, Any]:
        return self.images.config(image_id)

    def resolve_image(self, name: str) -> str:
        return self.images.resolve(name)

    def unpack_image(self, image_id: str) -> list[str]:
        return self.images.unpack(image_id)

    def pull_sync(self, name: str, progress: Callable[[dict[str, Any]], None]) -> str:
        return self.registry.pull_sync(name, progress)

    def seccomp_warm(self, spec: dict[str, Any]) -> None:
        seccomp_warm(self.paths.root, spec)

    def ensure_predefined_networks(self) -> None:
        self.networks.ensure_predefined()

    def network_endpoint(self, cid: str, cdoc: dict[str, Any], doc: dict[str, Any], aliases: list[str],
                         ipv4: str | None) -> dict[str, Any]:
        return self.networks.endpoint(cid, cdoc, doc, aliases, ipv4)

    def endpoint_plan(self, cid: str, doc: dict[str, Any], ep: dict[str, Any], index: int,
                      default_route: bool) -> dict[str, Any]:
        return self.networks.endpoint_plan(cid, doc, ep, index, default_route)
