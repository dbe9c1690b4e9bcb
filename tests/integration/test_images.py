"""Integration tests for images through the ``portside`` command line: list, tag, rmi, history,
import, save / load (docker and OCI formats, and a hand-made ``docker save`` tarball), prune."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts, cgroups)")]


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def image_ids(cli, *args: str) -> list[str]:
    return ok(cli("images", "-q", "--no-trunc", *args)).split()


def make_layer(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_images_list_formats_and_filters(cli, imported, busybox_tar):
    lines = ok(cli("images")).splitlines()
    header = lines[0]
    cols = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    assert [header.index(c) for c in cols] == sorted(header.index(c) for c in cols)
    assert len(lines) == 2
    row = lines[1].split()
    assert row[:3] == ["busybox", "latest", imported[7:19]]
    assert re.search(r"\d+(\.\d+)?MB$", lines[1])
    assert [line.split()[:3] for line in ok(cli("image", "ls")).splitlines()] == [line.split()[:3] for line in lines]

    assert ok(cli("images", "-q")).split() == [imported[7:19]]
    assert image_ids(cli) == [imported]
    assert ok(cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")).strip() == \
        f"busybox:latest {imported[7:19]}"
    table = ok(cli("images", "--format", "table {{.Repository}}\t{{.ID}}")).splitlines()
    assert table[0].split() == ["REPOSITORY", "IMAGE", "ID"]

    # a second, untagged import is dangling
    dangling = ok(cli("import", busybox_tar)).strip()
    assert dangling != imported  # a new config (new created time) even for the same rootfs
    assert image_ids(cli, "-f", "dangling=true") == [dangling]
    assert image_ids(cli, "-f", "dangling=false") == [imported]
    assert "<none>" in ok(cli("images"))
    assert set(image_ids(cli, "-a")) == {imported, dangling}

    ok(cli("tag", "busybox", "example.com/team/tool:1.0"))
    assert image_ids(cli, "-f", "reference=busybox") == [imported]
    assert image_ids(cli, "-f", "reference=example.com/team/*") == [imported]
    assert image_ids(cli, "-f", "reference=nothing*") == []
    assert image_ids(cli, "busybox") == [imported]
    out = ok(cli("images", "--format", "{{.Repository}} {{.Tag}}"))
    assert "example.com/team/tool 1.0" in out.splitlines()


def test_tag_and_rmi(cli, imported):
    ok(cli("tag", "busybox", "mybox:v1"))
    ok(cli("image", "tag", imported[7:19], "mybox:v2"))
    inspect = json.loads(ok(cli("image", "inspect", "busybox")))[0]
    assert sorted(inspect["RepoTags"]) == ["busybox:latest", "mybox:v1", "mybox:v2"]
    assert inspect["Id"] == imported

    # untag while other tags remain
    assert ok(cli("rmi", "mybox:v1")).strip() == "Untagged: mybox:v1"
    assert image_ids(cli) == [imported]
    # by id with several tags needs -f
    proc = cli("rmi", imported[7:19])
    assert proc.returncode == 1
    assert (f"Error response from daemon: conflict: unable to delete {imported[7:19]} (must be forced) - image is "
            f"referenced in multiple repositories") in proc.stderr

    # an image used by a container cannot go
    cid = ok(cli("create", "--name", "user", "mybox:v2", "true")).strip()
    ok(cli("rmi", "busybox"))  # one of two tags: only untagged
    proc = cli("rmi", "mybox:v2")
    assert proc.returncode == 1
    assert (f'Error response from daemon: conflict: unable to remove repository reference "mybox:v2" (must force) - '
            f"container {cid[:12]} is using its referenced image {imported[7:19]}") in proc.stderr
    proc = cli("rmi", imported)
    assert proc.returncode == 1
    assert (f"conflict: unable to delete {imported[7:19]} (must be forced) - image is being used by stopped "
            f"container {cid[:12]}") in proc.stderr
    ok(cli("rm", "user"))
    out = ok(cli("rmi", "mybox:v2"))
    assert "Untagged: mybox:v2" in out and f"Deleted: {imported}" in out
    assert image_ids(cli, "-a") == []
    proc = cli("rmi", "mybox:v2")
    assert proc.returncode == 1
    assert "Error response from daemon: No such image: mybox:v2" in proc.stderr


def test_rmi_force_and_running_container(cli, imported):
    ok(cli("tag", "busybox", "other"))
    out = ok(cli("rmi", "-f", imported[7:19]))
    assert "Untagged: busybox:latest" in out and "Untagged: other:latest" in out
    assert f"Deleted: {imported}" in out
    assert image_ids(cli, "-a") == []


def test_rmi_refuses_image_of_running_container(cli, imported):
    cid = ok(cli("run", "-d", "busybox", "sleep", "30")).strip()
    proc = cli("rmi", "-f", imported)
    assert proc.returncode == 1
    assert f"image is being used by running container {cid[:12]}" in proc.stderr
    assert image_ids(cli) == [imported]


def test_history(cli, imported, busybox_tar):
    lines = ok(cli("history", "busybox")).splitlines()
    assert lines[0].split()[:2] == ["IMAGE", "CREATED"]
    for col in ("CREATED BY", "SIZE", "COMMENT"):
        assert col in lines[0]
    assert len(lines) == 2
    assert lines[1].startswith(imported[7:19])
    assert ok(cli("history", "-q", "busybox")).split() == [imported[7:19]]
    ok(cli("import", "-m", "my message", busybox_tar, "withmsg"))
    assert ok(cli("history", "--format", "{{.Comment}}", "withmsg")).strip() == "my message"


def test_import_from_stdin_and_changes(cli, busybox_tar):
    with open(busybox_tar, "rb") as f:
        data = f.read()
    proc = cli("import", "-c", "ENV FOO=bar", "-c", 'CMD ["sh", "-c", "echo $FOO"]', "-", "fromstdin:1", input=data)
    image_id = ok(proc).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    assert image_ids(cli) == [image_id]
    assert ok(cli("run", "--rm", "fromstdin:1")) == "bar\n"
    cfg = json.loads(ok(cli("image", "inspect", "--format", "{{json .Config}}", "fromstdin:1")))
    assert "FOO=bar" in cfg["Env"]

    proc = cli("import", "/nonexistent.tar", "x")
    assert proc.returncode != 0
    assert "no such file or directory" in proc.stderr


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_save_rmi_load_round_trip(cli, imported, tmp_path, fmt):
    ok(cli("tag", "busybox", "saved:1"))
    archive = tmp_path / "out.tar"
    ok(cli("save", "--format", fmt, "-o", str(archive), "saved:1"))
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert "index.json" in names and "oci-layout" in names
    if fmt == "docker":
        assert "manifest.json" in names
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["saved:1"]
    ok(cli("rmi", "-f", imported))
    assert image_ids(cli, "-a") == []

    out = ok(cli("load", "-i", str(archive)))
    assert "Loaded image: saved:1" in out
    assert image_ids(cli) == [imported]
    assert ok(cli("run", "--rm", "saved:1", "echo", "loaded")) == "loaded\n"

    # again through stdin: nothing changes, the id is the same
    with open(archive, "rb") as f:
        out = ok(cli("load", input=f.read()))
    assert "Loaded image: saved:1" in out
    assert image_ids(cli, "-a") == [imported]


def test_save_to_stdout_and_by_id(cli, imported, root, tmp_path):
    archive = tmp_path / "byid.tar"
    with open(archive, "wb") as f:
        proc = subprocess.run([sys.executable, "-m", "tui.cli", "save", imported[7:19]], stdout=f,
                              stderr=subprocess.PIPE, env=dict(os.environ, PORTSIDE_ROOT=root), cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert tarfile.is_tarfile(archive)
    ok(cli("rmi", "-f", "busybox"))
    out = ok(cli("load", "-i", str(archive)))
    assert f"Loaded image ID: {imported}" in out
    assert image_ids(cli, "-a") == [imported]
    assert ok(cli("images", "--format", "{{.Repository}}:{{.Tag}}")).strip() == "<none>:<none>"


def test_load_hand_made_docker_save_tarball(cli, tmp_path):
    layer1 = make_layer({"hello.txt": b"hello from layer one\n"})
    layer2 = make_layer({"second.txt": b"second layer\n"})
    config = {
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/hello"], "Labels": {"made": "by-hand"}},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer1), sha256(layer2)]},
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "ADD hello.txt /"},
                    {"created": "2024-01-02T03:04:05Z", "created_by": "ADD second.txt /"}],
    }
    config_bytes = json.dumps(config).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": ["handmade:v1"],
                 "Layers": ["aaaa/layer.tar", "bbbb/layer.tar"]}]
    archive = tmp_path / "handmade.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in ((f"{config_hex}.json", config_bytes), ("aaaa/layer.tar", layer1),
                           ("bbbb/layer.tar", layer2), ("manifest.json", json.dumps(manifest).encode()),
                           ("repositories", json.dumps({"handmade": {"v1": "bbbb"}}).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = ok(cli("load", "-i", str(archive)))
    assert out.strip() == "Loaded image: handmade:v1"
    assert image_ids(cli) == [f"sha256:{config_hex}"]
    inspect = json.loads(ok(cli("image", "inspect", "handmade:v1")))[0]
    assert inspect["RootFS"]["Layers"] == [sha256(layer1), sha256(layer2)]
    assert inspect["Config"]["Labels"] == {"made": "by-hand"}
    history = ok(cli("history", "--format", "{{.CreatedBy}}", "handmade:v1")).splitlines()
    assert history == ["ADD second.txt /", "ADD hello.txt /"]

    # a corrupt archive is refused and leaves nothing
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        data = json.dumps([{"Config": "missing.json", "RepoTags": ["bad:1"], "Layers": []}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    proc = cli("load", "-i", str(bad))
    assert proc.returncode != 0
    assert proc.stderr.startswith("Error response from daemon:")
    assert image_ids(cli, "-a") == [f"sha256:{config_hex}"]


def test_image_prune(cli, imported, busybox_tar):
    dangling = ok(cli("import", busybox_tar)).strip()
    out = ok(cli("image", "prune", "-f"))
    assert "Deleted Images:" in out and f"deleted: {dangling}" in out
    assert "Total reclaimed space:" in out
    assert image_ids(cli, "-a") == [imported]
    # -a removes images without containers, keeps the one a container uses
    other = ok(cli("import", busybox_tar, "other")).strip()
    ok(cli("create", "busybox", "true"))
    out = ok(cli("image", "prune", "-a", "-f"))
    assert f"deleted: {other}" in out
    assert image_ids(cli, "-a") == [imported]


@pytest.mark.parametrize("ref", ["UPPER", "bad ref", "busybox:", ":tag", "a//b", "_lead", "busybox:t@g"])
def test_invalid_references(cli, imported, ref):
    proc = cli("tag", "busybox", ref)
    assert proc.returncode != 0
    assert "invalid reference format" in proc.stderr, proc.stderr
    proc = cli("run", ref)
    assert proc.returncode == 125
    assert "invalid reference format" in proc.stderr, proc.stderr
    assert ok(cli("ps", "-aq")) == ""
    assert image_ids(cli) == [imported]


def test_tag_named_like_an_id_prefix_wins(cli, imported, busybox_tar):
    """Regression: ``run c1`` ran whichever image id started with ``c1`` instead of the tag ``c1``.

    Build tags such as ``c1`` or ``a2`` are valid hex prefixes; docker resolves a name as a tag first.
    """
    prefix = imported.split(":", 1)[1][:2]
    other = cli("import", "--change", "CMD [\"echo\", \"tagged\"]", busybox_tar, prefix)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() != imported
    got = cli("image", "inspect", "-f", "{{.Id}}", prefix)
    assert got.stdout.strip() == other.stdout.strip(), got
    ran = cli("run", "--rm", prefix)
    assert ran.stdout.strip() == "tagged", ran
    by_id = cli("image", "inspect", "-f", "{{.Id}}", imported.split(":", 1)[1][:12])
    assert by_id.stdout.strip() == imported
