"""Dashboard test fixtures: a private config file and tour folder for every test; a real data root
holding busybox for the engine tests (every container force-removed afterwards)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.client import Docker
from engine_helpers import busybox_rootfs_tar


@pytest.fixture(autouse=True)
def private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Never read or write the user's ~/.config/portside/config.yaml (nor ~/portside-tour)."""
    path = tmp_path / "config" / "config.yaml"
    monkeypatch.setenv("PORTSIDE_CONFIG", str(path))
    monkeypatch.setenv("PORTSIDE_TOUR_DIR", str(tmp_path / "tour"))
    yield path


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox_rootfs_tar(tmp_path_factory.mktemp("busybox") / "busybox.tar")


@pytest.fixture
async def root(tmp_path: Path, busybox_tar: Path) -> AsyncIterator[str]:
    """A fresh data root holding busybox:latest; every container is force-removed afterwards, and the
    host bridge the root made is removed."""
    if os.geteuid() != 0 or not os.path.exists("/bin/busybox"):
        pytest.skip("needs root and /bin/busybox to run containers")
    data = str(tmp_path / "portside")
    try:
        async with Docker(root=data) as docker:
            with open(busybox_tar, "rb") as f:
                await docker.images.import_image(f, repo="busybox")
        yield data
    finally:
        async with Docker(root=data) as docker:
            for c in await docker.containers.list(all=True):
                try:
                    await docker.containers.container(c["Id"]).delete(force=True)
                except Exception:  # noqa: BLE001 - cleanup must go on
                    pass
        try:  # the bridge this data root made on the host (engine.network); it outlives the folder
            from engine.network import host_teardown
            host_teardown(data)
        except Exception:  # noqa: BLE001 - cleanup must go on
            pass
