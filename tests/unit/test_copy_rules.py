"""docker cp's path rules: the engine's (engine/runtime/archive.py, rootpath.py) and the CLI's (tui/cli/tarcopy.py)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from typing import Any

import pytest

from engine.errors import InvalidArgument
from engine.runtime.archive import archive_base, container_path, go_mode, is_dir_mode
from engine.runtime.rootpath import resolve_in
from tui.cli import tarcopy


def test_container_path_keeps_a_trailing_dot_or_slash() -> None:
    assert container_path("tmp/x") == "/tmp/x"
    assert container_path("/tmp/../etc/") == "/etc/"
    assert container_path("/tmp/d/.") == "/tmp/d/."
    assert container_path("/") == "/"
    with pytest.raises(InvalidArgument, match="path cannot be empty"):
        container_path("")


def test_archive_base_is_go_filepath_base() -> None:
    assert [archive_base(p) for p in ("/tmp/x", "/tmp/x/", "/tmp/x/.", "/")] == ["x", "x", ".", "."]


def test_go_mode_bits() -> None:
    assert go_mode(stat.S_IFDIR | 0o755) == (1 << 31) | 0o755 and is_dir_mode(go_mode(stat.S_IFDIR | 0o700))
    assert go_mode(stat.S_IFLNK | 0o777) == (1 << 27) | 0o777
    assert go_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755
    assert not is_dir_mode(go_mode(stat.S_IFREG | 0o644))


def test_resolve_in_never_leaves_the_root(tmp_path: Any) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/", root / "abs")
    os.symlink("../../../../..", root / "up")
    os.symlink("/etc", root / "etclink")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    assert resolve_in(str(root), "/abs/etc/passwd") == "/etc/passwd"
    assert resolve_in(str(root), "/up/etc") == "/etc"
    assert resolve_in(str(root), "/../../etclink/x") == "/etc/x"
    with pytest.raises(OSError, match="too many levels"):
        resolve_in(str(root), "/loop1/x")


def test_resolve_in_last_link_only_to_a_directory(tmp_path: Any) -> None:
    """A builder's destination: a last-component link is followed when it leads to a directory."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "f").write_text("x")
    os.symlink("/etc", root / "dirlink")
    os.symlink("etc/f", root / "filelink")
    assert resolve_in(str(root), "/dirlink", follow_last=False) == "/etc"
    assert resolve_in(str(root), "/filelink", follow_last=False) == "/filelink"
    assert resolve_in(str(root), "/filelink") == "/etc/f"
    assert resolve_in(str(root), "/dirlink/f", follow_last=False) == "/etc/f"


def test_split_arg() -> None:
    assert tarcopy.split_arg("web:/etc/hosts") == ("web", "/etc/hosts")
    assert tarcopy.split_arg("./a:b") == (None, "./a:b")
    assert tarcopy.split_arg("/a:b") == (None, "/a:b")
    assert tarcopy.split_arg("-") == (None, "-")
    assert tarcopy.split_arg("plain") == (None, "plain")
    with pytest.raises(InvalidArgument):
        tarcopy.split_arg(":/x")


def test_landing_follows_docker_cp() -> None:
    assert tarcopy.landing("/d", True, True, False, "f") == ("/d", "f")       # into an existing directory
    assert tarcopy.landing("/d/new", False, False, True, "src") == ("/d", "new")  # a new directory
    assert tarcopy.landing("/d/file", True, False, False, "f") == ("/d", "file")  # a file replaced
    with pytest.raises(InvalidArgument, match="cannot copy a directory to a file"):
        tarcopy.landing("/d/file", True, False, True, "src")
    with pytest.raises(InvalidArgument, match="no such directory"):
        tarcopy.landing("/d/missing/", False, False, False, "f")


def test_rebase() -> None:
    assert tarcopy.rebase("src/a/b", "src", "dst") == "dst/a/b"
    assert tarcopy.rebase("src", "src", "dst") == "dst"
    assert tarcopy.rebase("./a", ".", "dst") == "dst/a"
    assert tarcopy.rebase(".", ".", "dst") == "dst"
    assert tarcopy.rebase("other/a", "src", "dst") is None


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data else None)
    buf.seek(0)
    return buf


def test_extract_stays_in_the_destination(tmp_path: Any) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    link = tarfile.TarInfo("x/esc")
    link.type, link.linkname = tarfile.SYMTYPE, str(tmp_path)
    top = tarfile.TarInfo("x")
    top.type = tarfile.DIRTYPE
    through = tarfile.TarInfo("x/esc/owned.txt")
    through.size = 3
    with pytest.raises(InvalidArgument, match="leads outside"):
        tarcopy.extract(_tar((top, b""), (link, b""), (through, b"bad")), str(dest), "x", "y")
    assert not (tmp_path / "owned.txt").exists()
    assert os.readlink(dest / "y" / "esc") == str(tmp_path)  # the link itself is kept, as docker cp keeps it
    dotdot = tarfile.TarInfo("x/../../evil")
    dotdot.size = 3
    with pytest.raises(InvalidArgument, match="outside the destination"):
        tarcopy.extract(_tar((dotdot, b"bad")), str(dest), "x", "z")
    assert not (tmp_path / "evil").exists()
