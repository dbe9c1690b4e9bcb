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


async def _clean(data: str) -> None:
    """Force-remove every container of ``data`` and the host bridge it made (it outlives the folder)."""
    async with Docker(root=data) as docker:
        for c in await docker.containers.list(all=True):
            try:
                await docker.containers.container(c["Id"]).delete(force=True)
            except Exception:  # noqa: BLE001 - cleanup must go on
                pass
    try:
        from engine.network import host_teardown
        host_teardown(data)
    except Exception:  # noqa: BLE001 - cleanup must go on
        pass


def _need_root() -> None:
    if os.geteuid() != 0 or not os.path.exists("/bin/busybox"):
        pytest.skip("needs root and /bin/busybox to run containers")


@pytest.fixture
async def root(tmp_path: Path, busybox_tar: Path) -> AsyncIterator[str]:
    """A fresh data root holding busybox:latest; every container is force-removed afterwards, and the
    host bridge the root made is removed."""
    _need_root()
    data = str(tmp_path / "portside")
    try:
        async with Docker(root=data) as docker:
            with open(busybox_tar, "rb") as f:
                await docker.images.import_image(f, repo="busybox")
        yield data
    finally:
        await _clean(data)


@pytest.fixture
async def empty_root(tmp_path: Path) -> AsyncIterator[str]:
    """A data root with no image at all, as a newcomer's first ``portside`` finds it."""
    _need_root()
    data = str(tmp_path / "portside")
    try:
        yield data
    finally:
        await _clean(data)
