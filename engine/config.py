"""Where Portside keeps its state.

``/var/lib/portside`` as root, ``$XDG_DATA_HOME/portside`` otherwise; ``PORTSIDE_ROOT`` overrides.
"""

from __future__ import annotations

import os


def default_root() -> str:
    env = os.environ.get("PORTSIDE_ROOT")
    if env:
        return os.path.abspath(env)
    if os.geteuid() == 0:
        return "/var/lib/portside"
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(xdg, "portside")


class Paths:
    """Path helpers for one data root, keyed by ids (a plain class: dataclasses cost CLI start-up)."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = root

    @property
    def db(self) -> str:
        return os.path.join(self.root, "state.db")

    @property
    def blobs(self) -> str:
        return os.path.join(self.root, "images")

    @property
    def layers(self) -> str:
        return os.path.join(self.root, "layers")

    @property
    def tmp(self) -> str:
        return os.path.join(self.root, "tmp")

    @property
    def volumes(self) -> str:
        return os.path.join(self.root, "volumes")

    def container(self, cid: str) -> str:
        return os.path.join(self.root, "containers", cid)

    def container_rootfs(self, cid: str) -> str:
        return os.path.join(self.root, "containers", cid, "rootfs")

    def container_log(self, cid: str) -> str:
        return os.path.join(self.root, "containers", cid, "log.jsonl")

    def container_state(self, cid: str) -> str:
        return os.path.join(self.root, "containers", cid, "state.json")

    def volume(self, name: str) -> str:
        return os.path.join(self.root, "volumes", name, "_data")

    def ensure(self) -> None:
        for d in (self.root, self.blobs, self.layers, self.tmp, self.volumes,
                  os.path.join(self.root, "containers")):
            os.makedirs(d, mode=0o711, exist_ok=True)
