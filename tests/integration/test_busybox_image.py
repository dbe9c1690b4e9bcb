"""``portside image busybox``: a parent image from the host's busybox-static, with no registry.

Before it, a fresh data root had no way to a first image: README's `import rootfs.tar` named a file
nothing made, and `FROM busybox` went to Docker Hub.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from engine.client import Docker
from engine.errors import EngineError
from engine.images import bootstrap

Cli = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not os.path.exists(bootstrap.BUSYBOX), reason="needs busybox-static")]


def test_image_busybox_makes_a_runnable_image(cli: Cli) -> None:
    """A fresh data root: `image busybox`, then `run --rm busybox echo hi` works with no registry."""
    proc = cli("image", "busybox")
    assert proc.returncode == 0, proc.stderr
    image_id = proc.stdout.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71, proc.stdout
    # the same steps by hand, once, on stderr (stdout stays the id alone, for scripts)
    assert proc.stderr.count("portside import -c 'CMD [\"sh\"]' - busybox:latest") == 1, proc.stderr
    assert "tar -c ." in proc.stderr
    run = cli("run", "--rm", "--network", "none", "busybox", "echo", "hi")
    assert (run.returncode, run.stdout) == (0, "hi\n"), run.stderr
    images = cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    assert images.stdout.split() == ["busybox:latest", image_id[7:19]]
    # what a busybox image has: a shell by default, users, a world-writable /tmp, httpd
    run = cli("run", "--rm", "--network", "none", "busybox", "sh", "-c",
              "id -un; stat -c %a /tmp; grep -c . /etc/passwd; which httpd; readlink /usr/bin/[")
    assert run.stdout.split() == ["root", "1777", "2", "/usr/sbin/httpd", "/bin/busybox"], run.stderr
    inspect = cli("image", "inspect", "-f", "{{json .Config.Cmd}}", "busybox")
    assert inspect.stdout.strip() == '["sh"]'
    for by_id in (image_id, image_id[7:]):  # an id is no name to pull: it runs as it is
        run = cli("run", "--rm", "--network", "none", by_id, "true")
        assert run.returncode == 0 and run.stderr == "", run.stderr


def test_image_busybox_with_a_tag_and_again(cli: Cli) -> None:
    """A tag of one's own; making it twice gives the same layer (the tar is reproducible)."""
    first = cli("image", "busybox", "mybox:1")
    again = cli("image", "busybox", "mybox:1")
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    layers = [cli("image", "inspect", "-f", "{{json .RootFS.Layers}}", i.stdout.strip()).stdout
              for i in (first, again)]
    assert layers[0] == layers[1] and "sha256:" in layers[0]
    assert cli("run", "--rm", "--network", "none", "mybox:1", "true").returncode == 0
    before = cli("images", "-aq").stdout
    bad = cli("image", "busybox", "Bad:Name")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "invalid reference format" in bad.stderr
    assert cli("images", "-aq").stdout == before  # nothing left behind


def test_the_printed_recipe_makes_the_same_image(cli: Cli, root: str, tmp_path: str) -> None:
    """The commands `image busybox` prints work when pasted into a shell."""
    recipe = cli("image", "busybox", "handmade").stderr.split("By hand, the same image is:\n", 1)[1]
    cli("rmi", "handmade")
    env = dict(os.environ, PORTSIDE_ROOT=root, PATH=os.path.dirname(sys.executable) + ":" + os.environ["PATH"])
    proc = subprocess.run(["sh", "-e", "-c", recipe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    run = cli("run", "--rm", "--network", "none", "handmade", "sh", "-c",
              "id -un; stat -c %a /tmp; which httpd; readlink /usr/bin/[")
    assert run.stdout.split() == ["root", "1777", "/usr/sbin/httpd", "/bin/busybox"], run.stderr


@pytest.mark.parametrize("fake, words", [
    ("/nonexistent/busybox", "/nonexistent/busybox not found: install Debian's busybox-static"),
    ("/bin/ls", "/bin/ls is dynamically linked (it would not run inside a container): install Debian's "
                "busybox-static"),
    (__file__, "is not an executable: install Debian's busybox-static"),
])
def test_no_static_busybox_says_what_to_install(root: str, monkeypatch: pytest.MonkeyPatch, fake: str,
                                                words: str) -> None:
    """Without a static /bin/busybox: one line naming the package, and no image left behind."""
    monkeypatch.setattr(bootstrap, "BUSYBOX", fake)

    async def attempt() -> tuple[str, list[dict[str, object]]]:
        async with Docker(root=root) as docker:
            try:
                await docker.images.make_busybox()
            except EngineError as exc:
                return str(exc), await docker.images.list(all=True)
            raise AssertionError("make_busybox worked without a static busybox")
    message, images = asyncio.run(attempt())
    assert words in message and "\n" not in message
    assert images == []


def test_make_busybox_answers_as_documented(root: str) -> None:
    """The client's interface the dashboard calls: ``{"Id": …, "RepoTags": [tag]}``."""
    async def make() -> tuple[dict[str, object], dict[str, object]]:
        async with Docker(root=root) as docker:
            made = await docker.images.make_busybox()
            return made, await docker.images.inspect("busybox")
    made, info = asyncio.run(make())
    assert made == {"Id": info["Id"], "RepoTags": ["busybox:latest"]}
