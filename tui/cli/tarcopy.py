"""``cp``'s local side, with docker's naming rules: where a copy lands and what its top entry is called,
tars made from local paths, and tars extracted to them without leaving the destination.

docker cp's rules (moby's pkg/archive/copy.go): a directory destination that exists receives the
source under its own name (``dir/.`` copies a directory's contents); otherwise the destination's
parent receives it under the destination's name. A directory never replaces a file.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import IO

from engine.errors import InvalidArgument

SPOOL = 64 << 20  # a tar to send is kept in memory up to this size, then in a temp file
GO_MODE_DIR = 1 << 31  # the directory bit of Go's os.FileMode, as a container path's stat carries it


def is_dir_mode(mode: int) -> bool:
    """Whether a container path's stat ``mode`` is a directory's."""
    return bool(mode & GO_MODE_DIR)


def split_arg(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` → (container, path); a local path (``/…``, ``./…``, no colon, ``-``) → (None, path)."""
    if arg.startswith(("/", ".")) or arg == "-":
        return None, arg
    container, colon, path = arg.partition(":")
    if not colon:
        return None, arg
    if not container:
        raise InvalidArgument(f"invalid container name in {arg!r}: it is empty")
    return container, path


def top_name(path: str) -> str:
    """The name a path has at the top of its tar: ``.`` for ``dir/.`` (its contents), else its base name."""
    if path.endswith("/.") or path in (".", "/"):
        return "."
    return os.path.basename(path.rstrip("/")) or "."


def landing(dest: str, dest_exists: bool, dest_is_dir: bool, src_is_dir: bool, src_name: str) -> tuple[str, str]:
    """Where a copy is extracted and the name its top entry gets there: (directory, name)."""
    if dest_exists and dest_is_dir:
        return dest, src_name
    if dest_exists and src_is_dir:
        raise InvalidArgument(f"cannot copy a directory to a file: {dest}")
    if not dest_exists and not src_is_dir and dest.endswith("/"):
        raise InvalidArgument(f"no such directory: {dest}")
    parent = os.path.dirname(dest.rstrip("/")) or ("/" if dest.startswith("/") else ".")
    return parent, os.path.basename(dest.rstrip("/"))


def make_tar(src: str, name: str, *, follow_link: bool) -> IO[bytes]:
    """A tar of the local ``src`` with its top entry called ``name`` (a symlink itself, unless ``follow_link``)."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL)
    with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tf:
        if follow_link and os.path.islink(src):
            src = os.path.realpath(src)
        tf.add(src.rstrip("/") or "/", arcname=name)
    spool.seek(0)
    return spool


def rebase(member_name: str, old: str, new: str) -> str | None:
    """A member's name with its top entry ``old`` renamed ``new`` (None: not under ``old``)."""
    name = member_name.lstrip("/")
    if old == ".":
        rest = name[2:] if name.startswith("./") else ("" if name == "." else name)
        return os.path.join(new, rest) if rest else new
    if name == old:
        return new
    if name.startswith(old + "/"):
        return new + name[len(old):]
    return None


def extract(tar: IO[bytes], dest_dir: str, old: str, new: str) -> int:
    """Extract the tar into ``dest_dir`` with its top entry renamed; nothing lands outside ``dest_dir``
    (a link in the archive is kept as it is, never followed). Owners are not kept (docker's NoLchown).
    Returns the bytes of file content written."""
    root = os.path.realpath(dest_dir)
    if not os.path.isdir(root):
        raise InvalidArgument(f"destination directory {dest_dir!r} does not exist")
    written = 0

    def keep(member: tarfile.TarInfo, _path: str) -> tarfile.TarInfo | None:
        nonlocal written
        name = rebase(member.name, old, new)
        if name is None:
            return None
        name = os.path.normpath(name)
        if name.startswith("../") or name == ".." or os.path.isabs(name):
            raise InvalidArgument(f"invalid archive entry {member.name!r}: it points outside the destination")
        where = os.path.realpath(os.path.join(root, os.path.dirname(name)))
        if os.path.commonpath([where, root]) != root:
            raise InvalidArgument(f"invalid archive entry {member.name!r}: a link on its way leads outside "
                                  f"{dest_dir}")
        target = os.path.join(root, name)
        if os.path.lexists(target) and not (os.path.isdir(target) and not os.path.islink(target)):
            if member.isdir():
                raise InvalidArgument(f"cannot overwrite non-directory {target} with directory {name}")
            os.unlink(target)  # replaced, never written through
        elif os.path.isdir(target) and not os.path.islink(target) and not member.isdir():
            raise InvalidArgument(f"cannot overwrite directory {target} with non-directory {name}")
        if member.islnk():
            link = rebase(member.linkname, old, new)
            if link is None or os.path.normpath(link).startswith("..") or os.path.isabs(link):
                return None  # a hard link to something outside what was copied
            member = member.replace(linkname=link, deep=False)
        written += member.size if member.isfile() else 0
        return member.replace(name=name, deep=False)

    with tarfile.open(fileobj=tar, mode="r|*") as tf:
        tf.chown = lambda *a, **kw: None  # type: ignore[method-assign]  # files belong to the user copying
        tf.extractall(root, filter=keep)
    return written
