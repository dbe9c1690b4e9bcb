"""Files in and out of a container as tar archives (``docker cp``'s ``/containers/{id}/archive``).

Every operation runs in a short-lived child process that ``chroot``s into the container's filesystem
before it touches a path, as dockerd's chrootarchive does, so a symlink in the container (``/x ->
/etc``, ``../../..``) resolves inside the container and never reaches the host:

- a running container's root is ``/proc/<pid>/root``: its own mount namespace, volumes and binds included;
- a stopped (or never started) one gets a private mount namespace in the child: the rootfs overlay is
  mounted there, each volume and bind on its destination (resolved inside the rootfs), and all of it
  goes away with the child.

A *view* (what the child needs) is a plain dict: ``{"pid": int}`` or ``{"rootfs": {...monitor's rootfs
plan...}, "mounts": [docker Mounts], "readonly": bool}``. The child speaks JSON lines on stderr: first
``{"stat": {...}}`` or ``{"error": kind, "message": text}``, then (for a copy out) the tar on stdout.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import stat as st
import sys
import tarfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any

from ..errors import EngineError, InvalidArgument, NotFound
from . import rootpath

CHUNK = 1 << 16

# Go's os.FileMode type bits, as docker's X-Docker-Container-Path-Stat carries them
_DIR, _SYMLINK, _DEVICE, _PIPE, _SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_SETUID, _SETGID, _CHARDEV, _STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


def go_mode(mode: int) -> int:
    """A ``st_mode`` as Go's ``os.FileMode`` (what docker's path stat sends)."""
    m = mode & 0o777
    kind = st.S_IFMT(mode)
    m |= {st.S_IFDIR: _DIR, st.S_IFLNK: _SYMLINK, st.S_IFIFO: _PIPE, st.S_IFSOCK: _SOCKET,
          st.S_IFBLK: _DEVICE, st.S_IFCHR: _DEVICE | _CHARDEV}.get(kind, 0)
    if mode & st.S_ISUID:
        m |= _SETUID
    if mode & st.S_ISGID:
        m |= _SETGID
    if mode & st.S_ISVTX:
        m |= _STICKY
    return m


def is_dir_mode(mode: int) -> bool:
    """Whether a path stat's Go ``mode`` is a directory."""
    return bool(mode & _DIR)


def container_path(path: str) -> str:
    """``path`` made absolute and clean, keeping a trailing ``/`` or ``/.`` (docker's
    PreserveTrailingDotOrSeparator: ``dir/.`` means the directory's contents)."""
    if not path:
        raise InvalidArgument("path cannot be empty")
    clean = os.path.normpath("/" + path)
    clean = "/" + clean.lstrip("/")
    if clean != "/" and (path.endswith("/.") or path == "."):
        return clean + "/."
    if clean != "/" and path.endswith("/"):
        return clean + "/"
    return clean


def archive_base(path: str) -> str:
    """The name a copied-out path has at the top of its tar (Go's ``filepath.Base`` of the path)."""
    if path.endswith("/.") or path == "/":
        return "."
    return os.path.basename(path.rstrip("/")) or "."


def encode_stat(doc: dict[str, Any]) -> str:
    """The ``X-Docker-Container-Path-Stat`` header's value: base64 of the JSON."""
    return base64.b64encode(json.dumps(doc).encode()).decode()


def decode_stat(header: str) -> dict[str, Any]:
    """The path stat from an ``X-Docker-Container-Path-Stat`` header."""
    try:
        doc = json.loads(base64.b64decode(header))
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("invalid X-Docker-Container-Path-Stat header: not base64-encoded JSON") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid X-Docker-Container-Path-Stat header: a JSON object is expected")
    return doc


# -- the engine's side: start the child, read its word ----------------------------------------------
class PathNotFound(NotFound):
    """No such path in the container; :func:`naming` names the container as the user did."""

    path: str = ""


@contextlib.contextmanager
def naming(container: str) -> Iterator[None]:
    """A missing path becomes docker's 404, naming the container as the user did."""
    try:
        yield
    except PathNotFound as exc:
        raise NotFound(f"Could not find the file {exc.path} in container {container}", path=exc.path,
                       container=container) from None


def _raise(doc: dict[str, Any]) -> None:
    kind, message = doc.get("error"), str(doc.get("message") or "")
    if kind == "notfound":
        raise PathNotFound(message, path=message)
    if kind == "invalid":
        raise InvalidArgument(message)
    raise EngineError(message)


class _Child:
    """The child process, read and written through :mod:`engine.aio` (with or without an event loop)."""

    def __init__(self, op: str, view: dict[str, Any], path: str, *, stdin: bool = False, **opts: Any) -> None:
        import subprocess
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
        arg = json.dumps({"view": view, "path": path, **opts})
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.runtime.archive", op, arg], env=env,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.said = b""

    async def read(self, fileobj: IO[bytes]) -> bytes:
        from .. import aio
        fd = fileobj.fileno()
        await aio.readable(fd)
        return os.read(fd, CHUNK)

    async def first_word(self) -> dict[str, Any]:
        """The child's first JSON line on stderr: its stat, or why it cannot go on."""
        assert self.proc.stderr is not None
        while b"\n" not in self.said:
            data = await self.read(self.proc.stderr)
            if not data:
                break
            self.said += data
        line, _, self.said = self.said.partition(b"\n")
        try:
            doc = json.loads(line) if line.strip() else {}
        except ValueError:
            doc = {}
        if not isinstance(doc, dict) or not doc:
            rest = (line + self.said).decode(errors="replace").strip()
            await self.finish()
            raise EngineError(f"copying failed: {rest.splitlines()[-1] if rest else 'the helper said nothing'}")
        return doc

    async def finish(self, kill: bool = False) -> list[dict[str, Any]]:
        """Wait for the child (killed first with ``kill``); returns its later JSON lines."""
        from .. import aio
        if kill and self.proc.poll() is None:
            self.proc.kill()
        assert self.proc.stderr is not None
        while True:
            data = await self.read(self.proc.stderr)
            if not data:
                break
            self.said += data
        await aio.to_thread(self.proc.wait)
        for f in (self.proc.stdout, self.proc.stderr, self.proc.stdin):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        words = []
        for line in self.said.splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                words.append(doc)
        return words


async def stat_path(view: dict[str, Any], path: str) -> dict[str, Any]:
    """docker's path stat (``name``, ``size``, ``mode``, ``mtime``, ``linkTarget``) of ``path`` in the view."""
    child = _Child("stat", view, path)
    doc = await child.first_word()
    await child.finish()
    if "error" in doc:
        _raise(doc)
    return dict(doc["stat"])


async def get_archive(view: dict[str, Any], path: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
    """The path stat and a tar of ``path`` (its top entry named :func:`archive_base`), streamed.

    Leaving the stream early ends the child."""
    child = _Child("get", view, path)
    doc = await child.first_word()
    if "error" in doc:
        await child.finish()
        _raise(doc)

    async def chunks() -> AsyncIterator[bytes]:
        assert child.proc.stdout is not None
        done = False
        try:
            while True:
                data = await child.read(child.proc.stdout)
                if not data:
                    break
                yield data
            done = True
        finally:
            words = await child.finish(kill=not done)
        for word in words:
            if "error" in word:
                _raise(word)
    return dict(doc["stat"]), chunks()


async def put_archive(view: dict[str, Any], path: str, source: IO[bytes], *, no_overwrite_dir_non_dir: bool = False,
                      copy_uidgid: bool = False) -> None:
    """Extract the tar in ``source`` into the directory ``path``; files are owned by root unless
    ``copy_uidgid`` (``docker cp -a``) keeps the archive's owners."""
    from .. import aio
    child = _Child("put", view, path, stdin=True, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                   copy_uidgid=copy_uidgid)
    doc = await child.first_word()  # the extraction point is checked before any byte is sent
    if "error" in doc:
        await child.finish()
        _raise(doc)

    def send() -> None:
        stdin = child.proc.stdin
        assert stdin is not None
        try:
            while True:
                data = source.read(CHUNK)
                if not data:
                    break
                stdin.write(data)
            stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child stopped reading: its last word says why
    await aio.to_thread(send)
    words = await child.finish()
    for word in words:
        if "error" in word:
            _raise(word)
    if child.proc.returncode != 0:
        raise EngineError(f"copying into the container failed (exit {child.proc.returncode})")


# -- the child's side: enter the container's filesystem, then work on plain paths -------------------
def _say(doc: dict[str, Any]) -> None:
    sys.stderr.write(json.dumps(doc) + "\n")
    sys.stderr.flush()


def _enter(view: dict[str, Any]) -> None:
    """chroot into the container's filesystem (see the module's docstring)."""
    from . import linux
    if view.get("pid"):
        root = f"/proc/{int(view['pid'])}/root"
    else:
        from .monitor import mount_rootfs
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        rootfs = view["rootfs"]
        mount_rootfs(rootfs)
        root = rootfs["target"]
        for m in sorted(view.get("mounts") or [], key=lambda m: len(m["Destination"].split("/"))):
            src = m.get("Source") or ""
            if not os.path.exists(src):
                continue
            dest = root + rootpath.resolve_in(root, m["Destination"])
            if not os.path.lexists(dest):
                if os.path.isdir(src):
                    os.makedirs(dest, exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    open(dest, "a").close()
            linux.mount(src, dest, None, linux.MS_BIND | linux.MS_REC)
            if not m.get("RW", True):
                linux.mount(None, dest, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_REC)
        if view.get("readonly"):  # --read-only: the rootfs is, its volumes (mounted on it above) are not
            linux.mount(None, root, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
    os.chroot(root)
    os.chdir("/")


def _rfc3339_nano(t: float) -> str:
    whole = int(t)
    nanos = int(round((t - whole) * 1e9))
    if nanos >= 1_000_000_000:
        whole, nanos = whole + 1, 0
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return text + (f".{nanos:09d}".rstrip("0") if nanos else "") + "Z"


def _stat_doc(path: str) -> dict[str, Any]:
    s = os.lstat(path)
    link = os.path.realpath(path) if st.S_ISLNK(s.st_mode) else ""
    return {"name": archive_base(path), "size": s.st_size, "mode": go_mode(s.st_mode),
            "mtime": _rfc3339_nano(s.st_mtime), "linkTarget": link}


def _extract_filter(dest: str, no_overwrite: bool, copy_uidgid: bool) -> Any:
    def keep(member: tarfile.TarInfo, _path: str) -> tarfile.TarInfo | None:
        name = os.path.normpath(member.name.lstrip("/"))
        if name in (".", ""):
            if not member.isdir():
                raise tarfile.FilterError(f"cannot overwrite directory {dest!r} with non-directory")
            return None  # the extraction point itself: it is there already
        if name == ".." or name.startswith("../"):
            raise tarfile.FilterError(f"{member.name!r} would be extracted outside {dest!r}")
        target = os.path.join(dest, name)
        try:
            old = os.lstat(target)
        except FileNotFoundError:
            old = None
        if old is not None:
            was_dir = st.S_ISDIR(old.st_mode)
            if no_overwrite and was_dir and not member.isdir():
                raise tarfile.FilterError(f"cannot overwrite directory {target!r} with non-directory {name!r}")
            if no_overwrite and not was_dir and member.isdir():
                raise tarfile.FilterError(f"cannot overwrite non-directory {target!r} with directory {name!r}")
            if not (was_dir and member.isdir()):  # as docker: whatever was there is replaced, never written through
                if was_dir:
                    import shutil
                    shutil.rmtree(target)
                else:
                    os.unlink(target)
        changes: dict[str, Any] = {"name": name}
        if not copy_uidgid:
            changes.update(uid=0, gid=0, uname="", gname="")
        if member.islnk():
            changes["linkname"] = member.linkname.lstrip("/")
        return member.replace(**changes, deep=False)
    return keep


def _preload() -> None:
    """Import now what tarfile may want later: after the chroot, the host's modules are out of reach."""
    import importlib
    for name in ("shutil", "gzip", "bz2", "lzma", "zlib", "pwd", "grp"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _child(op: str, arg: dict[str, Any]) -> int:
    path = str(arg["path"])
    _preload()
    try:
        _enter(arg["view"])
    except OSError as exc:
        _say({"error": "engine", "message": f"cannot reach the container's filesystem: {exc.strerror or exc}"})
        return 1
    try:
        doc = _stat_doc(path)
    except FileNotFoundError:
        _say({"error": "notfound", "message": path.rstrip(".").rstrip("/") or "/"})
        return 1
    except NotADirectoryError:
        _say({"error": "notfound", "message": path.rstrip(".").rstrip("/") or "/"})
        return 1
    except OSError as exc:
        _say({"error": "engine", "message": f"{path}: {exc.strerror or exc}"})
        return 1
    if op == "stat":
        _say({"stat": doc})
        return 0
    if op == "get":
        _say({"stat": doc})
        try:
            with tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                # "link/" names what the link points to (as lstat("link/") does); "dir/." the directory
                src = os.path.realpath(path) if path.endswith("/") else path
                tf.add(src, arcname=archive_base(path))
        except BrokenPipeError:
            return 0  # the reader left
        except OSError as exc:
            _say({"error": "engine", "message": f"{path}: {exc.strerror or exc}"})
            return 1
        return 0
    # put: the extraction point must be a directory
    if not is_dir_mode(doc["mode"]):
        _say({"error": "invalid", "message": "extraction point is not a directory"})
        return 1
    _say({"stat": doc})
    dest = os.path.realpath(path)
    try:
        with tarfile.open(fileobj=sys.stdin.buffer, mode="r|*") as tf:
            tf.extractall(dest, numeric_owner=True,
                          filter=_extract_filter(dest, bool(arg.get("no_overwrite_dir_non_dir")),
                                                 bool(arg.get("copy_uidgid"))))
    except tarfile.FilterError as exc:
        _say({"error": "engine", "message": str(exc)})
        return 1
    except tarfile.TarError as exc:
        _say({"error": "invalid", "message": f"invalid tar archive: {exc}"})
        return 1
    except OSError as exc:
        if exc.errno == errno.EROFS:
            _say({"error": "invalid", "message": "container rootfs is marked read-only"})
        else:
            where = f" {exc.filename}" if exc.filename else ""
            _say({"error": "engine", "message": f"copying to{where}: {exc.strerror or exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], json.loads(sys.argv[2])))
