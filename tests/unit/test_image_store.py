"""Blob store, layer tars (unpack / diff / overlay whiteouts) and save/load/import archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.errors import InvalidArgument, NotFound
from engine.images import archive, layers
from engine.images.archive import ArchiveImage, import_rootfs, read_archive, write_archive
from engine.images.layers import (apply_rootfs_copy, chain_ids, diff_tar, ensure_unpacked, layer_dir,
                                  overlay_supported, tar_paths, unpack)
from engine.images.store import BlobStore

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (mknod, chown, trusted xattrs)")
needs_overlay = pytest.mark.skipif(not (ROOT and overlay_supported()), reason="needs root and overlayfs")


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- helpers

def make_tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in members:
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def ti(name: str, kind: bytes = tarfile.REGTYPE, *, mode: int = 0o644, linkname: str = "",
       mtime: int = 1_600_000_000) -> tarfile.TarInfo:
    t = tarfile.TarInfo(name)
    t.type = kind
    t.mode = mode
    t.linkname = linkname
    t.mtime = mtime
    return t


def tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getnames()


def snapshot(root: str) -> dict[str, Any]:
    """A comparable description of a tree: type, mode, owner, content / link target per path."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, Path(p).read_bytes())
            else:
                out[rel] = ("other", stat.S_IFMT(st.st_mode), st.st_rdev)
    return out


def build_tree(root: Path) -> None:
    """Files, an executable, a symlink, a hardlink, nested and empty dirs, odd modes."""
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_bytes(b"box\n")
    os.chmod(root / "etc" / "hostname", 0o640)
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(root / "bin" / "tool", 0o755)
    os.link(root / "bin" / "tool", root / "bin" / "tool-hardlink")
    os.symlink("tool", root / "bin" / "tool-symlink")
    os.symlink("/etc/hostname", root / "abs-link")
    (root / "empty").mkdir(mode=0o700)
    os.chmod(root / "empty", 0o700)
    (root / "deep" / "a" / "b").mkdir(parents=True)
    (root / "deep" / "a" / "b" / "leaf.txt").write_bytes(b"leaf" * 1000)
    os.setxattr(root / "etc" / "hostname", "user.portside", b"yes")
    for p in [root / "etc" / "hostname", root / "bin" / "tool", root / "deep" / "a" / "b" / "leaf.txt"]:
        os.utime(p, (1_500_000_000, 1_500_000_000))


class PipeReader:
    """A non-seekable reader, like stdin."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(min(n, 1000) if n and n > 0 else n)

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise OSError("not seekable")


def no_temp_files(store: BlobStore) -> bool:
    names = os.listdir(os.path.join(store.root, "blobs", "sha256")) + os.listdir(store.root)
    return not [n for n in names if n.startswith(".tmp") or n.startswith("tmp")]


# --------------------------------------------------------------------------- store

def test_store_layout_and_bytes_roundtrip(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "s"))
    assert json.loads((tmp_path / "s" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    d = store.put_bytes(b"hello")
    assert d == sha(b"hello")
    assert store.has(d) and store.get_bytes(d) == b"hello" and store.size(d) == 5
    assert store.path(d) == str(tmp_path / "s" / "blobs" / "sha256" / d[7:])
    assert store.put_bytes(b"hello") == d  # idempotent
    d2, size = store.put_stream(io.BytesIO(b"x" * 3_000_000))
    assert (d2, size) == (sha(b"x" * 3_000_000), 3_000_000)
    assert sorted(store.digests()) == sorted([d, d2])
    assert store.delete(d) is True and not store.has(d) and store.delete(d) is False
    with pytest.raises(NotFound):
        store.get_bytes(d)
    assert list(store.digests()) == [d2]


@pytest.mark.parametrize("bad", ["sha256:../../etc/passwd", "sha256:" + "A" * 64, "sha256:" + "a" * 63,
                                 "md5:" + "a" * 32, "a" * 64, "sha256:" + "a" * 64 + "/x", ""])
def test_store_rejects_bad_digests(tmp_path: Path, bad: str) -> None:
    store = BlobStore(str(tmp_path))
    for call in (store.path, store.has, store.get_bytes, store.delete):
        with pytest.raises(InvalidArgument):
            call(bad)


def test_put_stream_digest_mismatch_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path))
    wrong = sha(b"other")
    with pytest.raises(InvalidArgument) as err:
        store.put_stream(io.BytesIO(b"data"), expected=wrong)
    assert str(err.value) == f"digest mismatch: expected {wrong}, got {sha(b'data')}"
    assert list(store.digests()) == [] and no_temp_files(store)
    assert store.put_stream(io.BytesIO(b"data"), expected=sha(b"data")) == (sha(b"data"), 4)


def test_writer_commits_and_aborts(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path))
    with store.writer() as w:
        w.write(b"abc")
        w.write(b"def")
    assert (w.digest, w.size) == (sha(b"abcdef"), 6) and store.get_bytes(w.digest) == b"abcdef"
    with pytest.raises(RuntimeError):
        with store.writer() as w2:
            w2.write(b"partial")
            raise RuntimeError("boom")
    assert not store.has(sha(b"partial")) and list(store.digests()) == [sha(b"abcdef")]
    assert no_temp_files(store)


# --------------------------------------------------------------------------- layers

def test_chain_ids() -> None:
    a, b, c = sha(b"a"), sha(b"b"), sha(b"c")
    ab = sha(f"{a} {b}".encode())
    assert chain_ids([]) == []
    assert chain_ids([a]) == [a]
    assert chain_ids([a, b, c]) == [a, ab, sha(f"{ab} {c}".encode())]
    with pytest.raises(InvalidArgument):
        chain_ids(["nope"])


def test_tar_paths_roundtrip_and_determinism(tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_tree(src)
    out1, out2 = io.BytesIO(), io.BytesIO()
    d1, n1 = tar_paths([(str(src), "/app")], out1)
    d2, _ = tar_paths([(str(src), "app")], out2)
    data = out1.getvalue()
    assert (d1, n1) == (sha(data), len(data)) and d1 == d2  # deterministic
    names = tar_names(data)
    assert names[0] == "app" and names == sorted(names, key=lambda n: n.split("/"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        hl = tf.getmember("app/bin/tool-hardlink")
        assert hl.islnk() and hl.linkname == "app/bin/tool"
        assert all(m.uname == "" and m.gname == "" for m in tf.getmembers())

    dest = tmp_path / "dest"
    unpack(io.BytesIO(data), str(dest))
    assert snapshot(str(dest / "app")) == snapshot(str(src))
    assert os.stat(dest / "app" / "bin" / "tool").st_ino == os.stat(dest / "app" / "bin" / "tool-hardlink").st_ino
    assert os.lstat(dest / "app" / "etc" / "hostname").st_mtime == 1_500_000_000
    assert "user.portside" not in os.listxattr(dest / "app" / "etc" / "hostname")  # COPY carries no xattrs
    assert os.readlink(dest / "app" / "abs-link") == "/etc/hostname"


def test_diff_tar_of_plain_dir_keeps_xattrs_and_hardlinks(tmp_path: Path) -> None:
    src = tmp_path / "upper"
    build_tree(src)
    (src / "sock-parent").mkdir()
    out = io.BytesIO()
    diff_id, _ = diff_tar(str(src), out, skip=lambda p: p == "/deep/a")
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert members["etc/hostname"].pax_headers.get("SCHILY.xattr.user.portside") == "yes"
    assert members["bin/tool-hardlink"].islnk() and members["bin/tool-hardlink"].linkname == "bin/tool"
    assert "deep" in members and not any(n.startswith("deep/a") for n in members)
    assert members["etc/hostname"].mtime == 1_500_000_000
    dest = tmp_path / "dest"
    unpack(io.BytesIO(out.getvalue()), str(dest))
    assert os.getxattr(dest / "etc" / "hostname", "user.portside") == b"yes"
    assert (dest / "bin" / "tool-hardlink").read_bytes() == b"#!/bin/sh\necho hi\n"


def test_tar_paths_parents_owner_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "file.txt"
    f.write_bytes(b"content")
    out = io.BytesIO()
    tar_paths([(str(f), "/usr/local/share/file.txt")], out, uid=1000, gid=1001, mtime_zero=True)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert list(members) == ["usr", "usr/local", "usr/local/share", "usr/local/share/file.txt"]
    for parent in ["usr", "usr/local", "usr/local/share"]:
        m = members[parent]
        assert m.isdir() and m.mode == 0o755 and (m.uid, m.gid) == (0, 0)
    leaf = members["usr/local/share/file.txt"]
    assert (leaf.uid, leaf.gid, leaf.mtime, leaf.size) == (1000, 1001, 0, 7)
    with pytest.raises(InvalidArgument):
        tar_paths([(str(f), "../escape")], io.BytesIO())


def test_unpack_gzip_and_metadata(tmp_path: Path) -> None:
    raw = make_tar([(ti("d", tarfile.DIRTYPE, mode=0o711), None), (ti("d/f", mode=0o4755), b"suid"),
                    (ti("d/l", tarfile.SYMTYPE, linkname="f"), None), (ti("d/h", tarfile.LNKTYPE, linkname="d/f"), None),
                    (ti("fifo", tarfile.FIFOTYPE), None)])
    dest = tmp_path / "out"
    unpack(io.BytesIO(gzip.compress(raw)), str(dest))
    assert stat.S_IMODE(os.stat(dest / "d").st_mode) == 0o711
    assert os.stat(dest / "d").st_mtime == 1_600_000_000
    assert stat.S_IMODE(os.stat(dest / "d" / "f").st_mode) == 0o4755
    assert (dest / "d" / "h").read_bytes() == b"suid" and os.stat(dest / "d" / "h").st_nlink == 2
    assert os.readlink(dest / "d" / "l") == "f" and stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)


@needs_root
def test_unpack_preserves_owner_device_and_xattr(tmp_path: Path) -> None:
    f = ti("owned", mode=0o600)
    f.uid, f.gid = 1234, 5678
    f.pax_headers = {"SCHILY.xattr.user.k": "v", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02 \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}
    dev = ti("null", tarfile.CHRTYPE, mode=0o666)
    dev.devmajor, dev.devminor = 1, 3
    dest = tmp_path / "out"
    unpack(io.BytesIO(make_tar([(f, b"x"), (dev, None)])), str(dest))
    st = os.stat(dest / "owned")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert os.getxattr(dest / "owned", "user.k") == b"v"
    assert os.getxattr(dest / "owned", "security.capability")[:4] == b"\x01\x00\x00\x02"
    dst = os.lstat(dest / "null")
    assert stat.S_ISCHR(dst.st_mode) and (os.major(dst.st_rdev), os.minor(dst.st_rdev)) == (1, 3)


def test_unpack_rejects_path_escapes(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(InvalidArgument, match="escapes"):
        unpack(io.BytesIO(make_tar([(ti("../evil"), b"x")])), str(dest))
    with pytest.raises(InvalidArgument, match="escapes"):
        unpack(io.BytesIO(make_tar([(ti("h", tarfile.LNKTYPE, linkname="../../etc/passwd"), None)])), str(dest))
    with pytest.raises(InvalidArgument, match="hardlink 'x' points to missing"):
        unpack(io.BytesIO(make_tar([(ti("x", tarfile.LNKTYPE, linkname="missing"), None)])), str(dest))
    # a symlink pointing outside is resolved inside dest, like a chroot would
    tar = make_tar([(ti("esc", tarfile.SYMTYPE, linkname=str(outside)), None), (ti("esc/pwned"), b"x"),
                    (ti("rel", tarfile.SYMTYPE, linkname="../../../.."), None), (ti("rel/pwned2"), b"y"),
                    (ti("/abs/file"), b"z")])
    unpack(io.BytesIO(tar), str(dest))
    assert list(outside.iterdir()) == []
    assert (dest / str(outside).lstrip("/") / "pwned").read_bytes() == b"x"
    assert (dest / "pwned2").read_bytes() == b"y" and (dest / "abs" / "file").read_bytes() == b"z"
    # an existing symlink at a file's own path is replaced, not written through
    tar2 = make_tar([(ti("victim", tarfile.SYMTYPE, linkname=str(outside / "target")), None), (ti("victim"), b"new")])
    unpack(io.BytesIO(tar2), str(dest))
    assert not (outside / "target").exists() and (dest / "victim").read_bytes() == b"new"


def test_unpack_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="invalid layer tar"):
        unpack(io.BytesIO(b"this is not a tar archive at all" * 40), str(tmp_path / "a"))
    good = make_tar([(ti("f"), os.urandom(100_000))])
    with pytest.raises(InvalidArgument, match="invalid layer tar"):
        unpack(io.BytesIO(gzip.compress(good)[:2000]), str(tmp_path / "b"))
    with pytest.raises(InvalidArgument, match="zstd"):
        unpack(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 100), str(tmp_path / "c"))


@needs_root
def test_unpack_whiteouts_overlay_and_copy_mode(tmp_path: Path) -> None:
    tar = make_tar([(ti("gone/.wh.file"), b""), (ti(".wh.olddir"), b""),
                    (ti("opq", tarfile.DIRTYPE, mode=0o755), None), (ti("opq/new"), b"n"),
                    (ti("opq/.wh..wh..opq"), b""), (ti("opq/sub", tarfile.DIRTYPE, mode=0o755), None),
                    (ti("opq/sub/x"), b"x")])
    ov = tmp_path / "layer"
    unpack(io.BytesIO(tar), str(ov), overlay=True)
    for p in [ov / "gone" / "file", ov / "olddir"]:
        st = os.lstat(p)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(ov / "opq", "trusted.overlay.opaque") == b"y"
    assert not (ov / ".wh.olddir").exists() and not (ov / "opq" / ".wh..wh..opq").exists()

    rootfs = tmp_path / "rootfs"
    (rootfs / "gone").mkdir(parents=True)
    (rootfs / "gone" / "file").write_text("old")
    (rootfs / "gone" / "keep").write_text("keep")
    (rootfs / "olddir" / "deep").mkdir(parents=True)
    (rootfs / "opq" / "sub").mkdir(parents=True)
    (rootfs / "opq" / "lower").write_text("lower")
    (rootfs / "opq" / "sub" / "lower2").write_text("lower")
    unpack(io.BytesIO(tar), str(rootfs), overlay=False)
    assert sorted(os.listdir(rootfs)) == ["gone", "opq"]
    assert os.listdir(rootfs / "gone") == ["keep"]
    assert sorted(os.listdir(rootfs / "opq")) == ["new", "sub"]  # entries of this layer survive the marker
    assert os.listdir(rootfs / "opq" / "sub") == ["x"]


@needs_overlay
def test_overlay_diff_roundtrip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_tree(src)
    (src / "var" / "lib" / "old").mkdir(parents=True)
    (src / "var" / "lib" / "old" / "data").write_text("old data")
    (src / "proc").mkdir()
    base_tar = io.BytesIO()
    tar_paths([(str(src), "/")], base_tar)
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    unpack(io.BytesIO(base_tar.getvalue()), str(lower))
    for d in (upper, work, merged):
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower},upperdir={upper},workdir={work}", str(merged)], check=True)
    try:
        os.unlink(merged / "etc" / "hostname")                      # delete a lower file
        subprocess.run(["rm", "-rf", str(merged / "var" / "lib")], check=True)  # replace a dir
        (merged / "var" / "lib").mkdir()
        (merged / "var" / "lib" / "fresh").write_text("fresh")
        (merged / "bin" / "tool").write_bytes(b"changed")          # modify a hardlinked file (copy-up)
        (merged / "proc" / "junk").write_text("runtime")            # must be skipped
        (merged / "newfile").write_text("new")
        expected = snapshot(str(merged))
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    assert os.getxattr(upper / "var" / "lib", "trusted.overlay.opaque") == b"y"

    diff = io.BytesIO()
    diff_id, size = diff_tar(str(upper), diff, skip=lambda p: p == "/proc" or p.startswith("/proc/"))
    data = diff.getvalue()
    assert (diff_id, size) == (sha(data), len(data))
    names = tar_names(data)
    assert "etc/.wh.hostname" in names and "var/lib/.wh..wh..opq" in names
    assert "var/lib/fresh" in names and "newfile" in names and not any(n.startswith("proc") for n in names)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert all(m.uname == "" and m.gname == "" for m in tf.getmembers())
        assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for m in tf.getmembers() for k in m.pax_headers)
    again = io.BytesIO()
    assert diff_tar(str(upper), again, skip=lambda p: p.startswith("/proc"))[0] == diff_id  # deterministic
    expected.pop("proc/junk")

    # copy fallback: apply the diff onto a copy of the lower rootfs
    copy = tmp_path / "copy"
    apply_rootfs_copy([str(lower)], str(copy))
    assert snapshot(str(copy)) == snapshot(str(lower))
    unpack(io.BytesIO(data), str(copy), overlay=False)
    assert snapshot(str(copy)) == expected

    # overlay form: unpack as a layer dir, then merge by copying and by mounting
    layer2 = tmp_path / "layer2"
    unpack(io.BytesIO(data), str(layer2), overlay=True)
    merged_copy = tmp_path / "merged_copy"
    apply_rootfs_copy([str(lower), str(layer2)], str(merged_copy))
    assert snapshot(str(merged_copy)) == expected
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={layer2}:{lower}", str(ro)], check=True)
    try:
        assert snapshot(str(ro)) == expected
    finally:
        subprocess.run(["umount", str(ro)], check=True)


@needs_root
def test_ensure_unpacked_once_and_concurrently(tmp_path: Path) -> None:
    data = make_tar([(ti("etc", tarfile.DIRTYPE, mode=0o755), None), (ti("etc/os-release"), b"ID=test\n")])
    root = str(tmp_path / "layers")
    cid = chain_ids([sha(data)])[0]
    assert layer_dir(root, cid) == os.path.join(root, cid[7:], "diff")
    opened: list[int] = []

    def open_blob() -> io.BytesIO:
        opened.append(1)
        return io.BytesIO(data)

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_unpacked(root, cid, open_blob))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {layer_dir(root, cid)}
    assert Path(results[0], "etc", "os-release").read_bytes() == b"ID=test\n"
    assert os.listdir(root) == [cid[7:]]  # losers cleaned up their temp dirs
    n = len(opened)
    assert ensure_unpacked(root, cid, open_blob) == results[0] and len(opened) == n
    bad = chain_ids([sha(b"bad")])[0]
    with pytest.raises(InvalidArgument):
        ensure_unpacked(root, bad, lambda: io.BytesIO(b"garbage" * 200))
    assert os.listdir(root) == [cid[7:]]


def test_overlay_supported_reads_proc() -> None:
    assert overlay_supported() == ("overlay" in Path("/proc/filesystems").read_text().split())


# --------------------------------------------------------------------------- archives

def make_image(store: BlobStore, files: dict[str, bytes], parent: list[str] | None = None) -> tuple[str, list[str]]:
    tar = make_tar([(ti(n), d) for n, d in files.items()])
    diff_id = store.put_bytes(tar)
    diff_ids = (parent or []) + [diff_id]
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    return store.put_bytes(json.dumps(config).encode()), diff_ids


def read_members(data: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            if m.isfile():
                out[m.name] = tf.extractfile(m).read()  # type: ignore[union-attr]
    return out


def test_docker_save_format_and_roundtrip(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "a"))
    cfg1, ids1 = make_image(store, {"bin/sh": b"shell"})
    cfg2, ids2 = make_image(store, {"app/main": b"main"}, parent=ids1)
    images = [ArchiveImage(cfg1, ids1, ["docker.io/library/busybox:latest", "docker.io/user/repo:v1"]),
              ArchiveImage(cfg2, ids2, ["ghcr.io/org/app:2"])]
    out = io.BytesIO()
    write_archive(out, images, store)
    files = read_members(out.getvalue())
    manifest = json.loads(files["manifest.json"])
    assert manifest[0]["RepoTags"] == ["busybox:latest", "user/repo:v1"]
    assert manifest[1]["RepoTags"] == ["ghcr.io/org/app:2"]
    assert manifest[1]["Config"] == "blobs/sha256/" + cfg2[7:]
    assert manifest[1]["Layers"] == ["blobs/sha256/" + d[7:] for d in ids2]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    repos = json.loads(files["repositories"])
    assert repos == {"busybox": {"latest": ids1[-1][7:]}, "user/repo": {"v1": ids1[-1][7:]},
                     "ghcr.io/org/app": {"2": ids2[-1][7:]}}
    index = json.loads(files["index.json"])
    anns = [m["annotations"] for m in index["manifests"]]
    assert anns[0] == {"io.containerd.image.name": "docker.io/library/busybox:latest",
                       "org.opencontainers.image.ref.name": "latest"}
    assert [a["io.containerd.image.name"] for a in anns] == ["docker.io/library/busybox:latest",
                                                              "docker.io/user/repo:v1", "ghcr.io/org/app:2"]
    for desc in index["manifests"]:
        body = files["blobs/sha256/" + desc["digest"][7:]]
        assert sha(body) == desc["digest"] and len(body) == desc["size"]
        oci_manifest = json.loads(body)
        assert all(layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar" for layer in oci_manifest["layers"])
    # every blob path is named by its content
    assert all(sha(v) == "sha256:" + k.rsplit("/", 1)[1] for k, v in files.items() if k.startswith("blobs/"))

    fresh = BlobStore(str(tmp_path / "b"))
    loaded = read_archive(io.BytesIO(out.getvalue()), fresh)
    assert [(i.config_digest, i.diff_ids) for i in loaded] == [(cfg1, ids1), (cfg2, ids2)]
    assert loaded[0].repo_tags == ["docker.io/library/busybox:latest", "docker.io/user/repo:v1"]
    assert loaded[1].repo_tags == ["ghcr.io/org/app:2"]
    for d in ids2 + [cfg1, cfg2]:
        assert fresh.get_bytes(d) == store.get_bytes(d)
    # the same archive through a pipe and gzip-compressed
    for payload in (PipeReader(out.getvalue()), PipeReader(gzip.compress(out.getvalue())),
                    io.BytesIO(gzip.compress(out.getvalue()))):
        again = BlobStore(str(tmp_path / f"c{id(payload)}"))
        assert [i.config_digest for i in read_archive(payload, again)] == [cfg1, cfg2]  # type: ignore[arg-type]
        assert sorted(again.digests()) == sorted(set(ids2 + [cfg1, cfg2])) and no_temp_files(again)


def test_oci_format_roundtrip(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "a"))
    cfg, ids = make_image(store, {"hello": b"world"})
    out = io.BytesIO()
    write_archive(out, [ArchiveImage(cfg, ids, ["alpine:3.19"]), ArchiveImage(cfg, ids, [])], store, fmt="oci")
    files = read_members(out.getvalue())
    assert "manifest.json" not in files and "repositories" not in files
    index = json.loads(files["index.json"])
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/library/alpine:3.19"
    assert "annotations" not in index["manifests"][1]
    loaded = read_archive(io.BytesIO(out.getvalue()), BlobStore(str(tmp_path / "b")))
    assert len(loaded) == 1 and loaded[0].config_digest == cfg and loaded[0].diff_ids == ids
    assert loaded[0].repo_tags == ["docker.io/library/alpine:3.19"]
    with pytest.raises(InvalidArgument):
        write_archive(io.BytesIO(), [], store, fmt="zip")


def add_file(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    t = tarfile.TarInfo(name)
    t.size = len(data)
    tf.addfile(t, io.BytesIO(data))


def test_legacy_docker_save_with_gzip_and_symlinked_layers(tmp_path: Path) -> None:
    layer1 = make_tar([(ti("bin/sh"), b"sh")])
    layer2 = make_tar([(ti("etc/motd"), b"hi")])
    ids = [sha(layer1), sha(layer2)]
    config = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
    config_b = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": ids[:1]}}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        add_file(tf, "aaa/VERSION", b"1.0")
        add_file(tf, "aaa/layer.tar", layer1)
        add_file(tf, "bbb/layer.tar", gzip.compress(layer2))
        link = tarfile.TarInfo("ccc/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../aaa/layer.tar"
        tf.addfile(link)
        add_file(tf, sha(config)[7:] + ".json", config)
        add_file(tf, sha(config_b)[7:] + ".json", config_b)
        add_file(tf, "manifest.json", json.dumps([
            {"Config": sha(config)[7:] + ".json", "RepoTags": ["myapp:1", "localhost:5000/x/y:dev"],
             "Layers": ["aaa/layer.tar", "bbb/layer.tar"]},
            {"Config": sha(config_b)[7:] + ".json", "RepoTags": None, "Layers": ["ccc/layer.tar"]}]).encode())
    store = BlobStore(str(tmp_path))
    loaded = read_archive(io.BytesIO(buf.getvalue()), store)
    assert [(i.config_digest, i.diff_ids, i.repo_tags) for i in loaded] == [
        (sha(config), ids, ["docker.io/library/myapp:1", "localhost:5000/x/y:dev"]),
        (sha(config_b), ids[:1], [])]
    assert store.get_bytes(ids[1]) == layer2  # stored uncompressed: blob digest == diff_id


def test_oci_layout_with_gzip_layers_and_nested_index(tmp_path: Path) -> None:
    layer = make_tar([(ti("hello.txt"), b"hello" * 1000)])
    gz = gzip.compress(layer)
    config = json.dumps({"architecture": archive.goarch(), "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": sha(gz), "size": len(gz)}]}).encode()
    other = "sha256:" + "e" * 64  # another platform, blob absent from the archive
    nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": other, "size": 1,
         "platform": {"os": "linux", "architecture": "s390x"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest),
         "platform": {"os": "linux", "architecture": archive.goarch()}}]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(nested), "size": len(nested),
         "annotations": {"org.opencontainers.image.ref.name": "quay.io/org/img:v2"}}]}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        add_file(tf, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add_file(tf, "index.json", index)
        for blob in (gz, config, manifest, nested):
            add_file(tf, "blobs/sha256/" + sha(blob)[7:], blob)
    store = BlobStore(str(tmp_path))
    loaded = read_archive(io.BytesIO(buf.getvalue()), store)
    assert [(i.config_digest, i.diff_ids, i.repo_tags) for i in loaded] == [
        (sha(config), [sha(layer)], ["quay.io/org/img:v2"])]
    assert store.get_bytes(sha(layer)) == layer and not store.has(sha(gz))


def test_layer_digest_mismatch_rejected(tmp_path: Path) -> None:
    layer = make_tar([(ti("a"), b"a")])
    wrong = sha(b"something else")
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [wrong]}}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        add_file(tf, "l/layer.tar", gzip.compress(layer))
        add_file(tf, "c.json", config)
        add_file(tf, "manifest.json", json.dumps([{"Config": "c.json", "Layers": ["l/layer.tar"]}]).encode())
    store = BlobStore(str(tmp_path))
    with pytest.raises(InvalidArgument, match="digest mismatch: expected " + wrong):
        read_archive(io.BytesIO(buf.getvalue()), store)
    assert list(store.digests()) == [] and no_temp_files(store)


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for n, d in files.items():
            add_file(tf, n, d)
    return buf.getvalue()


@pytest.mark.parametrize("payload, message", [
    (b"definitely not a tar" * 100, "not a tar file"),
    (b"", "not a tar file"),
    (tar_of({"README": b"hi"}), "neither manifest.json nor index.json"),
    (tar_of({"manifest.json": b"{broken"}), "manifest.json is not valid JSON"),
    (tar_of({"manifest.json": json.dumps([{"Config": "missing.json", "Layers": []}]).encode()}), "missing missing.json"),
    (tar_of({"c.json": b'{"rootfs": {"diff_ids": ["sha256:' + b"a" * 64 + b'"]}}',
             "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["x/layer.tar"]}]).encode()}),
     "missing x/layer.tar"),
    (tar_of({"c.json": b'{"rootfs": {"diff_ids": []}}',
             "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["x/layer.tar"]}]).encode()}),
     "lists 0 layers"),
    (tar_of({"index.json": json.dumps({"manifests": [{"digest": "sha256:" + "b" * 64}]}).encode()}),
     "missing blobs/sha256/" + "b" * 64),
    (gzip.compress(os.urandom(5000))[:100], "corrupt compressed input"),
])
def test_corrupt_archives(tmp_path: Path, payload: bytes, message: str) -> None:
    store = BlobStore(str(tmp_path))
    for source in (io.BytesIO(payload), PipeReader(payload)):
        with pytest.raises(InvalidArgument) as err:
            read_archive(source, store)  # type: ignore[arg-type]
        assert message in str(err.value) and "\n" not in str(err.value)
    assert no_temp_files(store)


def test_truncated_gzip_layer(tmp_path: Path) -> None:
    layer = make_tar([(ti("big"), os.urandom(200_000))])
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    archive_bytes = tar_of({"l.tar": gzip.compress(layer)[:50_000], "c.json": config,
                            "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l.tar"]}]).encode()})
    store = BlobStore(str(tmp_path))
    with pytest.raises(InvalidArgument, match="layer l.tar is corrupt"):
        read_archive(io.BytesIO(archive_bytes), store)
    assert not store.has(sha(layer)) and no_temp_files(store)


def test_import_rootfs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    build_tree(src)
    layer = io.BytesIO()
    diff_id, _ = tar_paths([(str(src), "/")], layer)
    store = BlobStore(str(tmp_path / "store"))
    image_id = import_rootfs(io.BytesIO(gzip.compress(layer.getvalue())), store,
                             changes_config={"Cmd": ["/bin/tool"]}, message="hello")
    config = json.loads(store.get_bytes(image_id))
    assert config["rootfs"] == {"type": "layers", "diff_ids": [diff_id]}
    assert store.get_bytes(diff_id) == layer.getvalue()
    assert config["architecture"] == archive.goarch() and config["os"] == "linux"
    assert config["config"] == {"Cmd": ["/bin/tool"]} and config["history"][0]["comment"] == "hello"
    assert config["created"].endswith("Z") and config["created"][:4].isdigit()
    other = import_rootfs(PipeReader(layer.getvalue()), store)  # type: ignore[arg-type]
    assert json.loads(store.get_bytes(other))["history"][0]["comment"] == "Imported from -"
    with pytest.raises(InvalidArgument, match="not a tar"):
        import_rootfs(io.BytesIO(b"plain text, not a tarball" * 50), store)
    # an imported image saves and loads like any other
    out = io.BytesIO()
    write_archive(out, [ArchiveImage(image_id, [diff_id], ["imported:latest"])], store)
    loaded = read_archive(io.BytesIO(out.getvalue()), BlobStore(str(tmp_path / "fresh")))
    assert loaded[0].config_digest == image_id and loaded[0].repo_tags == ["docker.io/library/imported:latest"]
    restored = tmp_path / "restored"
    with BlobStore(str(tmp_path / "fresh")).open(diff_id) as blob:
        unpack(blob, str(restored))
    assert snapshot(str(restored)) == snapshot(str(src))
