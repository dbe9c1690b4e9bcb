"""Portside's archives against a real docker: ``portside save`` → ``docker load`` and ``docker save`` → ``portside load``.

A private ``dockerd`` (Debian's docker.io) is started once for this module by the helpers in
``bench/run.py``: its own data root, exec root, socket and pid file under one folder in /tmp, no
iptables, no bridge, so it leaves the host's docker (if any) alone. The docker CLI
(/usr/local/bin/docker when present) talks to it through ``DOCKER_HOST``. Afterwards its containers
are removed, dockerd (and the containerd it started) are stopped by pid, the folder is unmounted and
deleted, and the few host paths dockerd creates regardless of its flags are removed again if they
were not there before. Containers run with ``--network none``; builds use the legacy builder
(``DOCKER_BUILDKIT=0``: Debian's docker.io has no buildx).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKER_CLI = "/usr/local/bin/docker" if os.access("/usr/local/bin/docker", os.X_OK) else (shutil.which("docker") or "")

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("portside_bench_run", os.path.join(REPO, "bench", "run.py"))
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Docker:
    """The docker CLI pointed at the private dockerd."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, timeout: float = 60, cwd: str | None = None,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([DOCKER_CLI, *args], env={**self.env, **(env or {})}, cwd=cwd,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)

    def ok(self, *args: str, **kw: Any) -> str:
        p = self(*args, **kw)
        assert p.returncode == 0, f"docker {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
        return p.stdout


@pytest.fixture(scope="module")
def docker() -> Iterator[Docker]:
    if os.geteuid() != 0:
        pytest.skip("needs root (a private dockerd)")
    if not shutil.which("dockerd"):
        pytest.skip("dockerd is not installed (Debian package docker.io; `make test` installs it)")
    if not DOCKER_CLI:
        pytest.skip("no docker CLI (/usr/local/bin/docker or docker on PATH)")
    bench = _bench()
    host_before = bench.host_leftovers_before()
    tmp = tempfile.mkdtemp(prefix="ps-dk-", dir="/tmp")  # short: unix socket paths must stay < 108 bytes
    d = bench.DockerD(tmp)
    d.env["PATH"] = os.path.dirname(DOCKER_CLI) + os.pathsep + d.env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    d.env.pop("DOCKER_TLS_VERIFY", None)
    d.env.pop("DOCKER_CERT_PATH", None)
    try:
        try:
            d.start()
        except bench.CmdError as exc:
            pytest.fail(f"the private dockerd did not start: {exc}")
        yield Docker(d.env)
    finally:
        try:
            d.stop()  # removes its containers, SIGTERMs dockerd by pid (SIGKILL after 30 s), then its children
        finally:
            if getattr(d, "logf", None) is not None:
                d.logf.close()
            left = bench.unmount_all_under(tmp)
            if not left:
                shutil.rmtree(tmp, ignore_errors=True)
            bench.remove_host_leftovers(host_before)
            assert not left, f"still mounted under {tmp}: {left}"


def _id(s: str) -> str:
    s = s.strip()
    return s if s.startswith("sha256:") else "sha256:" + s


def _portside_id(cli: Cli, ref: str) -> str:
    p = cli("image", "inspect", "-f", "{{.Id}}", ref)
    assert p.returncode == 0, p.stderr
    return _id(p.stdout)


def _docker_image(docker: Docker, ref: str) -> dict[str, Any]:
    doc = json.loads(docker.ok("image", "inspect", ref))
    assert isinstance(doc, list) and len(doc) == 1
    return doc[0]  # type: ignore[no-any-return]


def test_portside_save_loads_in_docker_and_runs(docker: Docker, cli: Cli, imported: str,
                                                tmp_path: Any) -> None:
    image_id = _portside_id(cli, "busybox")
    assert _id(imported) == image_id
    out = str(tmp_path / "x.tar")
    p = cli("save", "busybox", "-o", out)
    assert p.returncode == 0, p.stderr

    loaded = docker.ok("load", "-i", out)
    assert "busybox:latest" in loaded, loaded
    doc = _docker_image(docker, "busybox")
    assert doc["Id"] == image_id, "docker computed a different image id (config digest)"
    assert "busybox:latest" in doc["RepoTags"]
    layers = docker.ok("image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox")
    p = cli("image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox")
    assert p.returncode == 0, p.stderr
    assert json.loads(layers) == json.loads(p.stdout)

    assert docker.ok("run", "--rm", "--network", "none", "busybox", "echo", "hi") == "hi\n"


def test_portside_save_oci_format_in_docker(docker: Docker, cli: Cli, imported: str, tmp_path: Any) -> None:
    out = str(tmp_path / "oci.tar")
    p = cli("save", "--format", "oci", "-o", out, "busybox")
    assert p.returncode == 0, p.stderr
    docker("rmi", "-f", "busybox")
    p = docker("load", "-i", out)
    if p.returncode != 0:
        # dockerd 20.10 only reads docker-save archives: with no manifest.json it falls back to the
        # v1 loader, which takes each top-level folder for a v1 image and fails on "blobs/json".
        # Docker 25+ loads OCI layouts. Anything else is a real failure.
        err = (p.stderr or p.stdout).strip()
        assert re.search(r"(/blobs/json|manifest\.json): no such file or directory", err), err
        pytest.skip(f"this dockerd cannot load a pure OCI layout (docker 25+ can): {err}")
    loaded = p.stdout
    assert "busybox:latest" in loaded or _id(imported) in loaded, loaded
    assert _docker_image(docker, _id(imported))["Id"] == _id(imported)


DOCKERFILE = """\
FROM ps-interop-base
RUN mkdir -p /data && echo kept > /data/keep && echo doomed > /data/gone
RUN rm /data/gone /etc/group
ENV GREETING=hello-from-docker
WORKDIR /data
CMD ["sh", "-c", "echo $GREETING; cat keep; ls -a /data; test -e /data/gone && echo GONE-STILL-THERE; test -e /etc/group && echo GROUP-STILL-THERE; echo end"]
"""


def _whiteouts(archive: str) -> list[str]:
    """Names of whiteout entries in the layers of a docker-save archive."""
    import tarfile
    found = []
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            f = tf.extractfile(layer)
            assert f is not None
            with tarfile.open(fileobj=f, mode="r:*") as lt:
                found += [m.name for m in lt.getmembers() if os.path.basename(m.name).startswith(".wh.")]
    return found


def test_docker_built_image_loads_and_runs_in_portside(docker: Docker, cli: Cli, busybox_tar: str,
                                                       tmp_path: Any) -> None:
    docker.ok("import", busybox_tar, "ps-interop-base")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    docker.ok("build", "--network", "none", "-q", "-t", "ps-interop-app:v1", str(ctx), timeout=120,
              env={"DOCKER_BUILDKIT": "0"})
    docker_id = _docker_image(docker, "ps-interop-app:v1")["Id"]
    want = "hello-from-docker\nkept\n.\n..\nkeep\nend\n"
    assert docker.ok("run", "--rm", "--network", "none", "ps-interop-app:v1") == want

    archive = str(tmp_path / "app.tar")
    docker.ok("save", "-o", archive, "ps-interop-app:v1")
    wh = _whiteouts(archive)
    assert "data/.wh.gone" in wh and "etc/.wh.group" in wh, wh

    p = cli("load", "-i", archive)
    assert p.returncode == 0, p.stderr
    assert "ps-interop-app:v1" in p.stdout, p.stdout
    assert _portside_id(cli, "ps-interop-app:v1") == docker_id

    p = cli("run", "--rm", "ps-interop-app:v1")
    assert (p.returncode, p.stdout) == (0, want), p.stderr
    p = cli("run", "--rm", "ps-interop-app:v1", "env")
    assert p.returncode == 0, p.stderr
    assert "GREETING=hello-from-docker" in p.stdout.splitlines()
