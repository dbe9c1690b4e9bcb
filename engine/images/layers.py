"""Layer tars: chain ids, safe streaming unpack (overlay or copy semantics), diffs of overlay upper dirs.

Whiteouts follow the OCI image spec in tars (``.wh.<name>``, ``.wh..wh..opq``) and overlayfs
conventions on disk (char device 0/0, xattr ``trusted.overlay.opaque=y``).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
TYPE_CHECKING = False  # tar, compression, typing and hashlib load in the functions that use them:
if TYPE_CHECKING:      # a container's start reads chain ids and unpacked layers only
    import tarfile
    from collections.abc import Callable
    from typing import IO, BinaryIO, Protocol

from engine.errors import EngineError, InvalidArgument
from engine.digests import sha256_hex
from engine.images.store import validate_digest

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
_SKIP_XATTRS = ("security.selinux",)
_CHUNK = 1 << 20
_MAX_SYMLINK_HOPS = 40


# --------------------------------------------------------------------------- ids

def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI ChainIDs for a list of DiffIDs."""
    out: list[str] = []
    for diff_id in diff_ids:
        validate_digest(diff_id)
        if not out:
            out.append(diff_id)
        else:
            out.append("sha256:" + sha256_hex(f"{out[-1]} {diff_id}".encode()))
    return out


# --------------------------------------------------------------------------- compression

class _Prefixed:
    """A read-only stream that replays already-read ``head`` bytes before the rest of ``raw``."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            if len(data) < n:
                data += self._raw.read(n - len(data))
            return data
        return self._raw.read(n)

    def readable(self) -> bool:
        return True


def _read_upto(fileobj: BinaryIO, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = fileobj.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def open_decompressed(fileobj: BinaryIO) -> BinaryIO:
    """Wrap ``fileobj`` so reads return uncompressed bytes (gzip, bzip2, xz detected by magic)."""
    import bz2
    import gzip
    import lzma
    head = _read_upto(fileobj, 6)
    raw: BinaryIO = _Prefixed(head, fileobj)  # type: ignore[assignment]
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if head[:4] == b"\x28\xb5\x2f\xfd":
        raise InvalidArgument("zstd-compressed layers are not supported")
    if head[:3] == b"BZh":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if head[:6] == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    return raw


def is_compressed(head: bytes) -> bool:
    """Whether ``head`` (first bytes of a blob) starts with a known compression magic."""
    return head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd" or head[:3] == b"BZh" \
        or head[:6] == b"\xfd7zXZ\x00"


# --------------------------------------------------------------------------- helpers

def _clean_rel(name: str) -> str:
    """Normalise a tar member name to a relative path; raise if it escapes the root."""
    parts: list[str] = []
    for p in name.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if not parts:
                raise InvalidArgument(f"layer entry {name!r} escapes the layer root")
            parts.pop()
        else:
            parts.append(p)
    return "/".join(parts)


def _is_root() -> bool:
    return os.geteuid() == 0


def _remove_path(path: str) -> None:
    """Remove a file, link or directory tree if present."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _set_xattr(path: str, name: str, value: bytes) -> None:
    try:
        os.setxattr(path, name, value, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES, errno.EINVAL):
            raise


def _list_xattrs(path: str) -> list[tuple[str, bytes]]:
    """Xattrs of ``path`` worth carrying in a layer (overlay internals and selinux labels excluded)."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        if name.startswith(_OVERLAY_XATTR_PREFIXES) or name in _SKIP_XATTRS:
            continue
        try:
            out.append((name, os.getxattr(path, name, follow_symlinks=False)))
        except OSError:
            continue
    return out


def _is_opaque(path: str) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _is_whiteout(path: str, st: os.stat_result) -> bool:
    """Overlay whiteout: char device 0/0 (or a zero-size file carrying the whiteout xattr)."""
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return True
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        for name in ("trusted.overlay.whiteout", "user.overlay.whiteout"):
            try:
                os.getxattr(path, name, follow_symlinks=False)
                return True
            except OSError:
                continue
    return False


def _mknod_whiteout(path: str) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
    except PermissionError:
        raise EngineError("cannot create overlay whiteout (mknod needs CAP_MKNOD)", path=path) from None


# --------------------------------------------------------------------------- unpack

_HOLE = 4096  # zero runs of whole blocks this size are left as holes
_ZERO_CHUNK = bytes(_CHUNK)
_ZERO_BLOCK = bytes(_HOLE)


def _write_keeping_holes(fd: int, src: IO[bytes], m: tarfile.TarInfo) -> None:
    """Copy member ``m`` from ``src`` to the empty file ``fd`` so its holes stay holes.

    A GNU sparse member's map says where its data lies: only that is read and written. In the data (and
    in a plain member) zero blocks are seeked over too. The file keeps its size and takes only its
    data's disk space.
    """
    from typing import cast
    src = getattr(src, "raw", src)  # tarfile's own reader: it seeks without asking the stream
    sparse = cast("list[tuple[int, int]] | None", m.sparse)  # the GNU sparse map (typeshed says bytes)
    for offset, length in (sparse or [(0, m.size)]):
        if length:
            src.seek(offset)  # forward only, as a streamed tar allows
        pos, left = offset, length
        while left > 0:
            chunk = src.read(min(_CHUNK, left))
            if not chunk:
                break
            _write_data(fd, chunk, pos)
            pos += len(chunk)
            left -= len(chunk)
    os.ftruncate(fd, m.size)


def _write_data(fd: int, chunk: bytes, pos: int) -> None:
    n = len(chunk)
    if chunk == (_ZERO_CHUNK if n == _CHUNK else bytes(n)):
        return
    mv = memoryview(chunk)
    run = -1  # start of the current run of data blocks
    for off in range(0, n, _HOLE):
        block = chunk[off:off + _HOLE]
        zero = block == (_ZERO_BLOCK if len(block) == _HOLE else bytes(len(block)))
        if zero and run >= 0:
            _pwrite_all(fd, mv[run:off], pos + run)
            run = -1
        elif not zero and run < 0:
            run = off
    if run >= 0:
        _pwrite_all(fd, mv[run:], pos + run)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


def copy_keeping_holes(src: str, dst_fd: int) -> None:
    """Copy the file ``src`` into the empty ``dst_fd``, data extents only (holes stay holes)."""
    with open(src, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        for start, length in data_extents(f.fileno(), size):
            done = 0
            while done < length:
                n = os.copy_file_range(f.fileno(), dst_fd, length - done, start + done, start + done)
                if n == 0:
                    break
                done += n
        os.ftruncate(dst_fd, size)


def data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """(offset, length) of the data in a file, holes left out (SEEK_DATA/SEEK_HOLE; one extent if unsupported)."""
    extents = []
    pos = 0
    try:
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole from pos to the end
                    break
                raise
            end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            extents.append((start, end - start))
            pos = end
    except OSError:
        return [(0, size)] if size else []
    return extents


class _Extractor:
    """Applies tar members under ``dest`` without following links out of it."""

    def __init__(self, dest: str, overlay: bool) -> None:
        self.dest = dest
        self.overlay = overlay
        self.root = _is_root()
        self.verified: dict[str, str] = {"": dest}   # rel dir -> real host directory
        self.dirs: dict[str, tarfile.TarInfo] = {}   # host dir -> member, metadata applied last
        self.unpacked: set[str] = set()              # host paths written by this layer (copy mode)

    def _reset_cache(self) -> None:
        self.verified = {"": self.dest}

    def resolve_dir(self, rel: str, hops: int = 0) -> str:
        """Host path of directory ``rel``, creating missing dirs; symlinks resolve inside dest."""
        cached = self.verified.get(rel)
        if cached is not None:
            return cached
        parent_rel, _, base = rel.rpartition("/")
        parent = self.resolve_dir(parent_rel, hops)
        host = os.path.join(parent, base)
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            os.mkdir(host, 0o755)
            if not self.overlay:
                self.unpacked.add(host)
            self.verified[rel] = host
            return host
        if stat.S_ISDIR(st.st_mode):
            self.verified[rel] = host
            return host
        if stat.S_ISLNK(st.st_mode):
            if hops >= _MAX_SYMLINK_HOPS:
                raise InvalidArgument(f"too many levels of symbolic links at {rel!r}")
            target = os.readlink(host)
            base_parts = [] if target.startswith("/") else [p for p in parent_rel.split("/") if p]
            for p in target.split("/"):
                if p in ("", "."):
                    continue
                if p == "..":
                    if base_parts:
                        base_parts.pop()
                else:
                    base_parts.append(p)
            resolved = self.resolve_dir("/".join(base_parts), hops + 1)
            self.verified[rel] = resolved
            return resolved
        raise InvalidArgument(f"layer path {rel!r} is not a directory")

    def _meta(self, path: str, m: tarfile.TarInfo, *, symlink: bool = False) -> None:
        import base64
        import urllib.parse
        if self.root:
            os.lchown(path, m.uid, m.gid)
        if not symlink:
            os.chmod(path, m.mode & 0o7777)
        for key, value in m.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                name, data = key[13:], value.encode("utf-8", "surrogateescape")
            elif key.startswith("LIBARCHIVE.xattr."):
                name, data = urllib.parse.unquote(key[17:]), base64.b64decode(value + "==")
            else:
                continue
            if name.startswith(_OVERLAY_XATTR_PREFIXES):
                continue
            _set_xattr(path, name, data)
        mtime = m.mtime
        atime = float(m.pax_headers.get("atime", mtime))
        os.utime(path, ns=(int(atime * 1e9), int(mtime * 1e9)), follow_symlinks=False)

    def _make_opaque(self, host_dir: str) -> None:
        """Copy mode: drop everything under ``host_dir`` not written by this layer."""
        stack = [host_dir]
        while stack:
            d = stack.pop()
            with os.scandir(d) as it:
                entries = list(it)
            for e in entries:
                if e.path in self.unpacked:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                elif e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
        self._reset_cache()

    def _whiteout(self, parent_rel: str, base: str, m: tarfile.TarInfo) -> None:
        parent = self.resolve_dir(parent_rel)
        if base == OPAQUE_MARKER:
            if self.overlay:
                os.setxattr(parent, OPAQUE_XATTR, b"y", follow_symlinks=False)
            else:
                self._make_opaque(parent)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # aufs bookkeeping (.wh..wh.plnk etc.)
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", ".."):
            raise InvalidArgument(f"invalid whiteout entry {m.name!r}")
        target = os.path.join(parent, name)
        if os.path.lexists(target):
            _remove_path(target)
            self._reset_cache()
        if self.overlay:
            _mknod_whiteout(target)
            if self.root:
                os.lchown(target, m.uid, m.gid)

    def extract(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        rel = _clean_rel(m.name)
        if rel == "":
            if m.isdir():
                self.dirs[self.dest] = m
            return
        parent_rel, _, base = rel.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent_rel, base, m)
            return
        parent = self.resolve_dir(parent_rel)
        target = os.path.join(parent, base)
        try:
            st: os.stat_result | None = os.lstat(target)
        except FileNotFoundError:
            st = None
        if m.islnk():
            link_rel = _clean_rel(m.linkname)
            if link_rel == rel:
                return
            lp, _, lb = link_rel.rpartition("/")
            source = os.path.join(self.resolve_dir(lp), lb)
            if not os.path.lexists(source) or link_rel == "":
                raise InvalidArgument(f"hardlink {m.name!r} points to missing {m.linkname!r}")
        if st is not None and not (m.isdir() and stat.S_ISDIR(st.st_mode)):
            _remove_path(target)
            if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
                self._reset_cache()
        if not self.overlay:
            self.unpacked.add(target)

        if m.isdir():
            if st is None or not stat.S_ISDIR(st.st_mode):
                os.mkdir(target, 0o700)
            self.dirs[target] = m
            self.verified[rel] = target
        elif m.isreg():
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                src = tf.extractfile(m)
                if src is not None:
                    _write_keeping_holes(fd, src, m)
            finally:
                os.close(fd)
            self._meta(target, m)
        elif m.issym():
            os.symlink(m.linkname, target)
            self._meta(target, m, symlink=True)
        elif m.islnk():
            os.link(source, target, follow_symlinks=False)
        elif m.ischr() or m.isblk() or m.isfifo():
            if m.isfifo():
                os.mkfifo(target, 0o600)
            else:
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                try:
                    os.mknod(target, kind | 0o600, os.makedev(m.devmajor, m.devminor))
                except PermissionError:
                    return  # unprivileged: device nodes are skipped, as rootless docker does
            self._meta(target, m)
        # other member types (sockets cannot be in tars; GNU volume headers...) are ignored

    def finish(self) -> None:
        for path, m in reversed(list(self.dirs.items())):
            try:
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    continue
            except FileNotFoundError:
                continue
            self._meta(path, m)


def unpack(tar_fileobj: BinaryIO, dest: str, *, overlay: bool = True) -> None:
    """Extract a (possibly gzip/bzip2/xz) layer tar into ``dest``.

    overlay=True turns OCI whiteouts into overlayfs whiteouts/opaque xattrs (a stackable lowerdir);
    overlay=False applies them to ``dest`` as a merged rootfs (delete / empty lower content).
    """
    import gzip
    import lzma
    import tarfile
    import zlib
    dest = os.path.abspath(dest)
    os.makedirs(dest, exist_ok=True)
    ex = _Extractor(dest, overlay)
    try:
        stream = open_decompressed(tar_fileobj)
        with tarfile.open(fileobj=stream, mode="r|*", encoding="utf-8", errors="surrogateescape",
                          bufsize=_CHUNK) as tf:
            while True:
                m = tf.next()
                if m is None:
                    break
                tf.members.clear()  # type: ignore[attr-defined]  # stream mode: don't accumulate every TarInfo
                ex.extract(tf, m)
        ex.finish()
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, lzma.LZMAError, zlib.error) as e:
        raise InvalidArgument(f"invalid layer tar: {e}") from None


def broken_hardlink(tar_path: str) -> str | None:
    """The first hardlink of a plain layer tar whose target is no earlier entry of the same layer, as a
    sentence; None when every link can be made. A layer is unpacked into a folder of its own (an
    overlayfs lower dir), as docker's overlay2 applies it: a link to anything else cannot be made."""
    import tarfile
    seen: set[str] = set()
    with tarfile.open(tar_path, mode="r:", encoding="utf-8", errors="surrogateescape") as tf:
        while True:
            m = tf.next()
            if m is None:
                return None
            tf.members.clear()  # type: ignore[attr-defined]  # only headers are read (data is seeked over)
            rel = _clean_rel(m.name)
            if m.islnk():
                target = _clean_rel(m.linkname)
                if target not in seen or target == rel:
                    return f"hardlink {m.name!r} points to {m.linkname!r}, which is not in the layer"
            if m.isdir():
                seen.discard(rel)
            else:
                seen.add(rel)


# --------------------------------------------------------------------------- writing tars

if TYPE_CHECKING:
    class Sink(Protocol):
        """Where a tar is written: a binary file, a blob store's writer."""

        def write(self, data: bytes, /) -> object: ...


class _HashingWriter:
    """File-like sink that forwards writes and computes sha256 and size."""

    def __init__(self, out: Sink) -> None:
        import hashlib
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def _open_writer(sink: _HashingWriter) -> tarfile.TarFile:
    # writing needs only write() and tell() of the file object; typeshed asks for a readable, seekable one
    import tarfile
    return tarfile.TarFile(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT,  # type: ignore[arg-type]
                           encoding="utf-8", errors="surrogateescape", copybufsize=_CHUNK)


def _tarinfo(host: str, name: str, st: os.stat_result, links: dict[tuple[int, int], str],
             *, xattrs: bool) -> tarfile.TarInfo | None:
    """TarInfo for a host file; None for what tar can't hold (sockets)."""
    import tarfile
    mode = st.st_mode
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    if stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            ti.type = tarfile.LNKTYPE
            ti.linkname = links[key]
        else:
            if st.st_nlink > 1:
                links[key] = name
            ti.type = tarfile.REGTYPE
            ti.size = st.st_size
    elif stat.S_ISLNK(mode):
        ti.type = tarfile.SYMTYPE
        ti.linkname = os.readlink(host)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
    else:
        return None
    if xattrs:
        headers = dict(ti.pax_headers)
        for k, v in _list_xattrs(host):
            headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
        ti.pax_headers = headers
    return ti


def _add(tf: tarfile.TarFile, ti: tarfile.TarInfo, host: str) -> None:
    import tarfile
    if ti.type == tarfile.REGTYPE:
        with open(host, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_blocks * 512 < st.st_size:  # fewer blocks than bytes: it has holes
                extents = data_extents(f.fileno(), st.st_size)
                if sum(n for _, n in extents) < st.st_size:
                    _add_sparse(tf, ti, f, extents)
                    return
            tf.addfile(ti, f)
    else:
        tf.addfile(ti)


class _SparseBody:
    """The body of a PAX 1.0 sparse member: the map (padded to a block), then the data extents."""

    def __init__(self, head: bytes, f: BinaryIO, extents: list[tuple[int, int]]) -> None:
        self._parts: list[tuple[bytes | None, int, int]] = [(head, 0, len(head))]
        self._parts += [(None, off, n) for off, n in extents if n]
        self._f = f

    def read(self, n: int) -> bytes:
        """``n`` bytes (fewer only at the end), as tarfile's copy expects."""
        out: list[bytes] = []
        while self._parts and n > 0:
            head, off, left = self._parts[0]
            take = min(n, left)
            data = head[off:off + take] if head is not None else os.pread(self._f.fileno(), take, off)
            if len(data) < take:
                raise OSError(errno.EIO, "file shrank while being archived")
            if take == left:
                self._parts.pop(0)
            else:
                self._parts[0] = (head, off + take, left - take)
            out.append(data)
            n -= take
        return b"".join(out)


def _add_sparse(tf: tarfile.TarFile, ti: tarfile.TarInfo, f: BinaryIO, extents: list[tuple[int, int]]) -> None:
    """Write a file with holes as a GNU sparse member (PAX format 1.0, which docker and GNU tar read)."""
    import tarfile
    size = ti.size
    mapping = [e for e in extents if e[1]]
    if not mapping or mapping[-1][0] + mapping[-1][1] < size:
        mapping.append((size, 0))  # GNU tar ends the map at the file's end
    text = f"{len(mapping)}\n" + "".join(f"{off}\n{n}\n" for off, n in mapping)
    head = text.encode() + b"\0" * (-len(text) % tarfile.BLOCKSIZE)
    parent, _, base = ti.name.rpartition("/")
    sparse = tarfile.TarInfo(f"{parent}/GNUSparseFile.0/{base}" if parent else f"GNUSparseFile.0/{base}")
    for attr in ("mode", "uid", "gid", "uname", "gname", "mtime", "type"):
        setattr(sparse, attr, getattr(ti, attr))
    sparse.pax_headers = dict(ti.pax_headers, **{"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                                                 "GNU.sparse.name": ti.name, "GNU.sparse.realsize": str(size)})
    sparse.size = len(head) + sum(n for _, n in mapping)
    tf.addfile(sparse, _SparseBody(head, f, mapping))  # type: ignore[arg-type]


def _empty_file_entry(name: str, st: os.stat_result) -> tarfile.TarInfo:
    import tarfile
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.REGTYPE
    ti.mode = stat.S_IMODE(st.st_mode) & 0o777
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    return ti


def _sorted_names(d: str) -> list[str]:
    return sorted(os.listdir(d), key=os.fsencode)


def diff_tar(upper: str, out_fileobj: Sink, skip: Callable[[str], bool] | None = None) -> tuple[str, int]:
    """Write an OCI layer tar of an overlay upper dir; returns (diff_id, size).

    ``skip`` gets in-layer paths like ``/proc`` and drops the entry (and its subtree) when True.
    """
    import tarfile
    sink = _HashingWriter(out_fileobj)
    links: dict[tuple[int, int], str] = {}
    with _open_writer(sink) as tf:
        stack: list[tuple[str, str]] = [(os.path.join(upper, n), n) for n in reversed(_sorted_names(upper))]
        while stack:
            host, rel = stack.pop()
            if skip is not None and skip("/" + rel):
                continue
            st = os.lstat(host)
            if _is_whiteout(host, st):
                parent, _, base = rel.rpartition("/")
                wh = WHITEOUT_PREFIX + base
                tf.addfile(_empty_file_entry(f"{parent}/{wh}" if parent else wh, st))
                continue
            ti = _tarinfo(host, rel, st, links, xattrs=True)
            if ti is None:
                continue
            _add(tf, ti, host)
            if ti.type == tarfile.DIRTYPE:
                if _is_opaque(host):
                    tf.addfile(_empty_file_entry(f"{rel}/{OPAQUE_MARKER}", st))
                for n in reversed(_sorted_names(host)):
                    stack.append((os.path.join(host, n), f"{rel}/{n}"))
    return sink.digest, sink.size


def _root_dir_entry(name: str, mtime: int) -> tarfile.TarInfo:
    import tarfile
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = 0o755
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mtime = mtime
    return ti


def tar_paths(entries: list[tuple[str, str]], out_fileobj: Sink, *, uid: int | None = None,
              gid: int | None = None, mtime_zero: bool = False) -> tuple[str, int]:
    """Layer tar from (host_path, path_in_layer) pairs; returns (diff_id, size).

    A top-level host path is followed if it is a symlink; links inside directories are kept.
    Missing parents of path_in_layer become 0755 root-owned dirs (mtime 0). ``uid``/``gid``
    override ownership of the copied entries; ``mtime_zero`` zeroes every mtime.
    """
    import tarfile
    sink = _HashingWriter(out_fileobj)
    links: dict[tuple[int, int], str] = {}
    emitted_dirs: set[str] = set()
    with _open_writer(sink) as tf:

        def emit(host: str, rel: str, st: os.stat_result) -> bool:
            ti = _tarinfo(host, rel, st, links, xattrs=False)
            if ti is None:
                return False
            if uid is not None:
                ti.uid = uid
            if gid is not None:
                ti.gid = gid
            if mtime_zero:
                ti.mtime = 0
            if ti.type == tarfile.DIRTYPE:
                if rel in emitted_dirs:
                    return True
                emitted_dirs.add(rel)
            _add(tf, ti, host)
            return ti.type == tarfile.DIRTYPE

        for host_path, in_layer in entries:
            rel = _clean_rel(in_layer)
            parts = rel.split("/") if rel else []
            for i in range(1, len(parts)):
                prefix = "/".join(parts[:i])
                if prefix not in emitted_dirs:
                    emitted_dirs.add(prefix)
                    tf.addfile(_root_dir_entry(prefix, 0))
            try:
                st = os.stat(host_path)
            except FileNotFoundError:
                raise InvalidArgument(f"no such file or directory: {host_path}") from None
            if rel == "":
                if not stat.S_ISDIR(st.st_mode):
                    raise InvalidArgument(f"cannot place non-directory {host_path} at the layer root")
                is_dir = True
            else:
                is_dir = emit(host_path, rel, st)
            if not is_dir:
                continue
            stack = [(os.path.join(host_path, n), f"{rel}/{n}" if rel else n)
                     for n in reversed(_sorted_names(host_path))]
            while stack:
                host, r = stack.pop()
                if emit(host, r, os.lstat(host)):
                    stack.extend((os.path.join(host, n), f"{r}/{n}") for n in reversed(_sorted_names(host)))
    return sink.digest, sink.size


# --------------------------------------------------------------------------- unpacked layers

def layer_dir(layers_root: str, chain_id: str) -> str:
    """``<layers_root>/<hex>/diff``."""
    return os.path.join(layers_root, validate_digest(chain_id), "diff")


def ensure_unpacked(layers_root: str, chain_id: str, open_blob: Callable[[], BinaryIO],
                    overlay: bool = True, owner_root: str | None = None) -> str:
    """Unpack a layer once (temp dir + atomic rename; concurrent losers discard theirs); returns its diff dir."""
    final = layer_dir(layers_root, chain_id)
    if os.path.isdir(final):
        return final
    os.makedirs(layers_root, exist_ok=True)
    hexid = validate_digest(chain_id)
    from engine.runtime import cleanup  # the temp dir names its owner: crash recovery removes it
    tag = cleanup.temp_owner(owner_root) if owner_root else cleanup.owner_tag()
    import tempfile
    tmp = tempfile.mkdtemp(prefix=f".tmp-{tag}-{hexid[:12]}-", dir=layers_root)
    try:
        with open_blob() as f:
            unpack(f, os.path.join(tmp, "diff"), overlay=overlay)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, os.path.dirname(final))
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY) and os.path.isdir(final):
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _copy_meta(src: str, dst: str, st: os.stat_result, root: bool) -> None:
    symlink = stat.S_ISLNK(st.st_mode)
    if root:
        os.lchown(dst, st.st_uid, st.st_gid)
    if not symlink:
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    for name, value in _list_xattrs(src):
        _set_xattr(dst, name, value)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def apply_rootfs_copy(layer_dirs: list[str], dest: str) -> None:
    """Merge overlay-form layer dirs (bottom first) into plain dir ``dest`` by copying.

    Whiteout char devices delete lower content, opaque dirs hide it, exactly as overlayfs would.
    """
    root = _is_root()
    os.makedirs(dest, exist_ok=True)
    for layer in layer_dirs:
        dirs: list[tuple[str, str, os.stat_result]] = [(layer, dest, os.lstat(layer))]
        links: dict[tuple[int, int], str] = {}
        stack = [(layer, dest)]
        while stack:
            src_dir, dst_dir = stack.pop()
            for name in _sorted_names(src_dir):
                s, d = os.path.join(src_dir, name), os.path.join(dst_dir, name)
                st = os.lstat(s)
                if _is_whiteout(s, st):
                    _remove_path(d)
                    continue
                try:
                    dst_st: os.stat_result | None = os.lstat(d)
                except FileNotFoundError:
                    dst_st = None
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    if dst_st is not None and (not stat.S_ISDIR(dst_st.st_mode) or _is_opaque(s)):
                        _remove_path(d)
                        dst_st = None
                    if dst_st is None:
                        os.mkdir(d, 0o700)
                    dirs.append((s, d, st))
                    stack.append((s, d))
                    continue
                if dst_st is not None:
                    _remove_path(d)
                if stat.S_ISREG(mode):
                    key = (st.st_dev, st.st_ino)
                    if st.st_nlink > 1 and key in links:
                        os.link(links[key], d, follow_symlinks=False)
                        continue
                    links[key] = d
                    fd = os.open(d, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                    try:
                        copy_keeping_holes(s, fd)
                    finally:
                        os.close(fd)
                elif stat.S_ISLNK(mode):
                    os.symlink(os.readlink(s), d)
                elif stat.S_ISFIFO(mode):
                    os.mkfifo(d, 0o600)
                elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    try:
                        os.mknod(d, stat.S_IFMT(mode) | 0o600, st.st_rdev)
                    except PermissionError:
                        continue
                else:
                    continue
                _copy_meta(s, d, st, root)
        for s, d, st in reversed(dirs):
            _copy_meta(s, d, st, root)


def overlay_supported() -> bool:
    """Whether the kernel lists overlayfs in /proc/filesystems."""
    try:
        with open("/proc/filesystems") as f:
            return any(line.split()[-1:] == ["overlay"] for line in f)
    except OSError:
        return False

