"""``docker save`` / ``docker load`` archives, OCI layout tars and ``docker import``.

The blob store keeps layers uncompressed, so a layer's blob digest is its DiffID.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import hashlib
import io
import json
import lzma
import platform
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator

from engine.errors import InvalidArgument
from engine.images.layers import _Prefixed, _read_upto, broken_hardlink, is_compressed, open_decompressed
from engine.images.store import BlobStore, validate_digest

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ANN_IMAGE_NAME = "io.containerd.image.name"
ANN_REF_NAME = "org.opencontainers.image.ref.name"
_INDEX_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST)
_CHUNK = 1 << 20
_DECODE_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError, tarfile.TarError)


@dataclass
class ArchiveImage:
    """An image to save: its config blob, uncompressed layer blobs (== diff_ids) and full tags."""

    config_digest: str
    layer_digests: list[str]
    repo_tags: list[str] = field(default_factory=list)


@dataclass
class LoadedImage:
    """An image read from an archive; ``repo_tags`` are full names (``docker.io/library/x:tag``)."""

    config_digest: str
    diff_ids: list[str]
    repo_tags: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- references

def _split_ref(ref: str) -> tuple[str, str]:
    """(name, tag) of a reference; a digest part is dropped, a missing tag is ``latest``."""
    ref = ref.split("@", 1)[0]
    i = ref.rfind(":")
    if i > ref.rfind("/"):
        return ref[:i], ref[i + 1:]
    return ref, "latest"


def normalize_name(name: str) -> str:
    """Fully-qualified repository name: ``busybox`` -> ``docker.io/library/busybox``."""
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        domain, remainder = "docker.io", name
    else:
        domain, remainder = first, rest
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in remainder:
        remainder = "library/" + remainder
    return f"{domain}/{remainder}"


def familiar_name(name: str) -> str:
    """Docker's short form: ``docker.io/library/busybox`` -> ``busybox``, ``docker.io/u/r`` -> ``u/r``."""
    name = normalize_name(name)
    if name.startswith("docker.io/"):
        name = name[len("docker.io/"):]
        if name.startswith("library/") and name.count("/") == 1:
            name = name[len("library/"):]
    return name


def full_ref(ref: str) -> str:
    name, tag = _split_ref(ref)
    return f"{normalize_name(name)}:{tag}"


def familiar_ref(ref: str) -> str:
    name, tag = _split_ref(ref)
    return f"{familiar_name(name)}:{tag}"


# --------------------------------------------------------------------------- writing

class _CountingWriter:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.pos = 0

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos


def _entry(name: str, *, size: int = 0, is_dir: bool = False) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    ti.mode = 0o755 if is_dir else 0o644
    ti.size = size
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + validate_digest(digest)


def write_archive(out_fileobj: BinaryIO, images: list[ArchiveImage], blobs: BlobStore, fmt: str = "docker") -> None:
    """Write images as a docker-save tar (``fmt="docker"``, also an OCI layout) or a pure OCI layout tar."""
    if fmt not in ("docker", "oci"):
        raise InvalidArgument(f"unknown archive format {fmt!r} (want docker or oci)")
    sink = _CountingWriter(out_fileobj)
    written: set[str] = set()
    index_entries: list[dict[str, Any]] = []
    manifest_json: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
                      copybufsize=_CHUNK) as tf:
        tf.addfile(_entry("blobs", is_dir=True))
        tf.addfile(_entry("blobs/sha256", is_dir=True))

        def put_bytes(data: bytes) -> str:
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if digest not in written:
                written.add(digest)
                tf.addfile(_entry(_blob_name(digest), size=len(data)), io.BytesIO(data))
            return digest

        for img in images:
            config = blobs.get_bytes(img.config_digest)
            layers = []
            for d in img.layer_digests:
                size = blobs.size(d)
                layers.append({"mediaType": MT_OCI_LAYER, "digest": d, "size": size})
                if d not in written:
                    written.add(d)
                    with blobs.open(d) as f:
                        tf.addfile(_entry(_blob_name(d), size=size), f)
            put_bytes(config)
            manifest = {
                "schemaVersion": 2,
                "mediaType": MT_OCI_MANIFEST,
                "config": {"mediaType": MT_OCI_CONFIG, "digest": img.config_digest, "size": len(config)},
                "layers": layers,
            }
            mbytes = _json_bytes(manifest)
            mdigest = put_bytes(mbytes)
            desc = {"mediaType": MT_OCI_MANIFEST, "digest": mdigest, "size": len(mbytes)}
            tags = [full_ref(t) for t in img.repo_tags]
            if tags:
                for t in tags:
                    index_entries.append({**desc, "annotations": {ANN_IMAGE_NAME: t, ANN_REF_NAME: _split_ref(t)[1]}})
            else:
                index_entries.append(desc)
            manifest_json.append({
                "Config": _blob_name(img.config_digest),
                "RepoTags": [familiar_ref(t) for t in tags],
                "Layers": [_blob_name(d) for d in img.layer_digests],
            })
            for t in tags:
                name, tag = _split_ref(t)
                if img.layer_digests:
                    repositories.setdefault(familiar_name(name), {})[tag] = validate_digest(img.layer_digests[-1])

        def put_file(name: str, data: bytes) -> None:
            tf.addfile(_entry(name, size=len(data)), io.BytesIO(data))

        put_file("index.json", _json_bytes({"schemaVersion": 2, "mediaType": MT_OCI_INDEX,
                                            "manifests": index_entries}))
        if fmt == "docker":
            put_file("manifest.json", _json_bytes(manifest_json))
        put_file("oci-layout", _json_bytes({"imageLayoutVersion": "1.0.0"}))
        if fmt == "docker" and repositories:
            put_file("repositories", _json_bytes(repositories))


# --------------------------------------------------------------------------- reading

class _HashingReader:
    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._hash.update(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def _norm(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


class _Archive:
    """Random access to the members of a (seekable, uncompressed) archive tar."""

    def __init__(self, tf: tarfile.TarFile) -> None:
        self.tf = tf
        self.members = {_norm(m.name): m for m in tf.getmembers()}

    def __contains__(self, name: str) -> bool:
        return _norm(name) in self.members

    def open(self, name: str, _hops: int = 0) -> BinaryIO:
        if not isinstance(name, str):
            raise InvalidArgument(f"invalid archive: bad path {name!r}")
        key = _norm(name)
        m = self.members.get(key)
        if m is None:
            raise InvalidArgument(f"invalid archive: missing {name}")
        if _hops > 16:
            raise InvalidArgument(f"invalid archive: link loop at {name}")
        if m.issym():
            return self.open(posixpath.join(posixpath.dirname(key), m.linkname), _hops + 1)
        if m.islnk():
            return self.open(m.linkname, _hops + 1)
        f = self.tf.extractfile(m) if m.isreg() else None
        if f is None:
            raise InvalidArgument(f"invalid archive: {name} is not a file")
        return f  # type: ignore[return-value]

    def read_bytes(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.read_bytes(name))
        except ValueError:
            raise InvalidArgument(f"invalid archive: {name} is not valid JSON") from None


def _diff_ids(config_bytes: bytes, where: str) -> list[str]:
    try:
        cfg = json.loads(config_bytes)
        diff_ids = cfg["rootfs"]["diff_ids"] or []
        for d in diff_ids:
            validate_digest(d)
    except (ValueError, KeyError, TypeError, InvalidArgument):
        raise InvalidArgument(f"invalid archive: {where} is not a valid image config") from None
    return list(diff_ids)


def _store_layer(arch: _Archive, path: str, diff_id: str, blobs: BlobStore, descriptor_digest: str | None = None) -> None:
    """Store one layer uncompressed, verifying it against ``diff_id`` (and the descriptor's digest)."""
    if blobs.hold(diff_id):
        return
    with arch.open(path) as raw:
        hashing = _HashingReader(raw)
        try:
            blobs.put_stream(open_decompressed(hashing), expected=diff_id,  # type: ignore[arg-type]
                             check=_check_links)
            hashing.drain()
        except InvalidArgument as e:
            raise InvalidArgument(f"invalid archive: layer {path}: {e}") from None
        except _DECODE_ERRORS as e:
            raise InvalidArgument(f"invalid archive: layer {path} is corrupt: {e}") from None
    if descriptor_digest is not None and hashing.digest != descriptor_digest:
        # the stored diff is verified, but the archive lied about the blob it came from
        raise InvalidArgument(f"invalid archive: blob {path} does not match its digest {descriptor_digest}")


def _check_links(tar_path: str) -> None:
    """Refuse a layer now that could only fail when a container starts from it."""
    try:
        problem = broken_hardlink(tar_path)
    except (tarfile.TarError, EOFError) as e:
        raise InvalidArgument(f"not a valid tar: {e}") from None
    if problem:
        raise InvalidArgument(problem)


class _NewBlobs:
    """The blob store, noting the blobs one load adds, so that a refused archive leaves none behind."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.root = blobs.root
        self.added: list[str] = []

    def has(self, digest: str) -> bool:
        return self.blobs.has(digest)

    def hold(self, digest: str) -> bool:
        return self.blobs.hold(digest)

    def path(self, digest: str) -> str:
        return self.blobs.path(digest)

    def put_stream(self, fileobj: BinaryIO, expected: str, check: Any = None) -> tuple[str, int]:
        existed = self.blobs.has(expected)
        digest, size = self.blobs.put_stream(fileobj, expected=expected, check=check)
        if not existed:
            self.added.append(digest)
        return digest, size

    def put_bytes(self, data: bytes) -> str:
        existed = self.blobs.has("sha256:" + hashlib.sha256(data).hexdigest())
        digest = self.blobs.put_bytes(data)
        if not existed:
            self.added.append(digest)
        return digest

    def discard(self) -> None:
        for digest in self.added:
            self.blobs.delete(digest)


def _add(results: dict[str, LoadedImage], config_digest: str, diff_ids: list[str], tags: list[str]) -> None:
    img = results.get(config_digest)
    if img is None:
        img = results[config_digest] = LoadedImage(config_digest, diff_ids, [])
    for t in tags:
        if t not in img.repo_tags:
            img.repo_tags.append(t)


def _load_docker(arch: _Archive, blobs: BlobStore) -> list[LoadedImage]:
    manifest = arch.read_json("manifest.json")
    if not isinstance(manifest, list):
        raise InvalidArgument("invalid archive: manifest.json is not a list")
    results: dict[str, LoadedImage] = {}
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidArgument("invalid archive: malformed manifest.json entry")
        config_bytes = arch.read_bytes(entry["Config"])
        diff_ids = _diff_ids(config_bytes, entry["Config"])
        layers = entry.get("Layers") or []
        if len(layers) != len(diff_ids):
            raise InvalidArgument(f"invalid archive: {entry['Config']} lists {len(diff_ids)} layers, "
                                  f"manifest.json {len(layers)}")
        for path, diff_id in zip(layers, diff_ids):
            _store_layer(arch, path, diff_id, blobs)
        config_digest = blobs.put_bytes(config_bytes)
        tags = [full_ref(t) for t in entry.get("RepoTags") or [] if isinstance(t, str)]
        _add(results, config_digest, diff_ids, tags)
    return list(results.values())


def _host_platform() -> tuple[str, str]:
    return "linux", goarch()


def _descriptor_digest(desc: Any) -> str:
    digest = desc.get("digest") if isinstance(desc, dict) else None
    if not isinstance(digest, str):
        raise InvalidArgument("invalid archive: malformed descriptor")
    try:
        validate_digest(digest)
    except InvalidArgument:
        raise InvalidArgument(f"invalid archive: unsupported digest {digest!r}") from None
    return digest


def _verified_blob(arch: _Archive, desc: Any) -> bytes:
    digest = _descriptor_digest(desc)
    data = arch.read_bytes(_blob_name(digest))
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise InvalidArgument(f"invalid archive: blob {digest} does not match its digest")
    return data


def _manifests(arch: _Archive, desc: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Image manifests reachable from ``desc``, nested indexes narrowed to this platform."""
    if depth > 8:
        raise InvalidArgument("invalid archive: indexes nested too deeply")
    try:
        doc = json.loads(_verified_blob(arch, desc))
    except ValueError:
        raise InvalidArgument(f"invalid archive: blob {desc.get('digest')} is not valid JSON") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"invalid archive: blob {desc.get('digest')} is not a manifest")
    if desc.get("mediaType") in _INDEX_TYPES or ("manifests" in doc and "config" not in doc):
        children = [c for c in doc.get("manifests") or [] if isinstance(c, dict)]
        present = [c for c in children if isinstance(c.get("digest"), str) and c["digest"].startswith("sha256:")
                   and _blob_name(c["digest"]) in arch]
        os_, arch_ = _host_platform()
        ours = [c for c in present if (c.get("platform") or {}).get("os") == os_
                and (c.get("platform") or {}).get("architecture") == arch_]
        real = [c for c in present if (c.get("platform") or {}).get("os") != "unknown"]
        chosen = (ours or real)[:1]
        if not chosen:
            raise InvalidArgument("invalid archive: index has no manifest present in the archive")
        yield from _manifests(arch, chosen[0], depth + 1)
        return
    yield doc


def _image_name(annotations: dict[str, Any]) -> str | None:
    name = annotations.get(ANN_IMAGE_NAME)
    if isinstance(name, str) and name:
        return full_ref(name)
    ref = annotations.get(ANN_REF_NAME)
    if isinstance(ref, str) and ("/" in ref or ":" in ref):
        return full_ref(ref)
    return None  # a bare tag names no repository


def _load_oci(arch: _Archive, blobs: BlobStore) -> list[LoadedImage]:
    index = arch.read_json("index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise InvalidArgument("invalid archive: index.json has no manifests")
    results: dict[str, LoadedImage] = {}
    for desc in index["manifests"]:
        if not isinstance(desc, dict):
            raise InvalidArgument("invalid archive: malformed index.json entry")
        name = _image_name(desc.get("annotations") or {})
        for manifest in _manifests(arch, desc):
            config_desc = manifest.get("config")
            layers = manifest.get("layers") or []
            if not isinstance(config_desc, dict) or not isinstance(layers, list):
                raise InvalidArgument("invalid archive: malformed image manifest")
            config_bytes = _verified_blob(arch, config_desc)
            diff_ids = _diff_ids(config_bytes, _blob_name(config_desc["digest"]))
            if len(layers) != len(diff_ids):
                raise InvalidArgument(f"invalid archive: manifest has {len(layers)} layers, config {len(diff_ids)}")
            for layer, diff_id in zip(layers, diff_ids):
                digest = _descriptor_digest(layer)
                _store_layer(arch, _blob_name(digest), diff_id, blobs, descriptor_digest=digest)
            config_digest = blobs.put_bytes(config_bytes)
            _add(results, config_digest, diff_ids, [name] if name else [])
    return list(results.values())


@contextlib.contextmanager
def _plain_seekable(fileobj: BinaryIO, spool_dir: str) -> Iterator[BinaryIO]:
    """Yield a seekable, uncompressed view of ``fileobj``; spools pipes and compressed input."""
    try:
        seekable = bool(fileobj.seekable()) and fileobj.tell() >= 0
    except (AttributeError, OSError, ValueError):
        seekable = False
    if seekable:
        start = fileobj.tell()
        head = _read_upto(fileobj, 6)
        fileobj.seek(start)
        if not is_compressed(head):
            yield fileobj
            return
        source: BinaryIO = fileobj
    else:
        head = _read_upto(fileobj, 6)
        source = _Prefixed(head, fileobj)  # type: ignore[assignment]
    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        try:
            shutil.copyfileobj(open_decompressed(source) if is_compressed(head) else source, spool, _CHUNK)
        except _DECODE_ERRORS as e:
            raise InvalidArgument(f"invalid archive: corrupt compressed input: {e}") from None
        spool.seek(0)
        yield spool


def read_archive(in_fileobj: BinaryIO, blobs: BlobStore) -> list[LoadedImage]:
    """Load a docker-save or OCI layout tar (plain or compressed, file or pipe) into ``blobs``.

    A refused archive (one line saying why) leaves no blob of its own behind.
    """
    new = _NewBlobs(blobs)
    try:
        return _read_archive(in_fileobj, new)
    except BaseException:
        new.discard()
        raise


def _read_archive(in_fileobj: BinaryIO, blobs: Any) -> list[LoadedImage]:
    with _plain_seekable(in_fileobj, blobs.root) as f:
        try:
            tf = tarfile.open(fileobj=f, mode="r:", encoding="utf-8", errors="surrogateescape")
        except tarfile.TarError:
            raise InvalidArgument("invalid archive: not a tar file") from None
        with tf:
            try:
                arch = _Archive(tf)
            except tarfile.TarError as e:
                raise InvalidArgument(f"invalid archive: {e}") from None
            try:
                if "manifest.json" in arch:
                    return _load_docker(arch, blobs)
                if "index.json" in arch:
                    return _load_oci(arch, blobs)
            except (tarfile.TarError, EOFError) as e:
                raise InvalidArgument(f"invalid archive: {e}") from None
            raise InvalidArgument("invalid archive: neither manifest.json nor index.json found")


# --------------------------------------------------------------------------- import

_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
           "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
           "riscv64": "riscv64", "mips64": "mips64"}


def goarch() -> str:
    """This machine's architecture in Go's spelling (amd64, arm64, ...)."""
    m = platform.machine().lower()
    return _GOARCH.get(m, m)


def rfc3339_now() -> str:
    """Current UTC time as RFC 3339 with nanosecond-style precision, like docker writes."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def import_rootfs(tar_fileobj: BinaryIO, blobs: BlobStore, *, changes_config: dict[str, Any] | None = None,
                  message: str = "") -> str:
    """``docker import``: store a (possibly compressed) rootfs tar as one layer; returns the image id."""
    try:
        stream = open_decompressed(tar_fileobj)
        head = _read_upto(stream, 512)
        if len(head) < 512:
            raise InvalidArgument("import: input is not a tar archive")
        if head != b"\0" * 512:
            try:
                tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
            except tarfile.HeaderError:
                raise InvalidArgument("import: input is not a tar archive") from None
        try:
            diff_id, _ = blobs.put_stream(_Prefixed(head, stream), check=_check_links)  # type: ignore[arg-type]
        except InvalidArgument as e:
            raise InvalidArgument(f"import: {e}") from None
    except _DECODE_ERRORS as e:
        raise InvalidArgument(f"import: corrupt compressed input: {e}") from None
    now = rfc3339_now()
    config = {
        "architecture": goarch(),
        "config": changes_config or {},
        "created": now,
        "history": [{"created": now, "created_by": "", "comment": message or "Imported from -"}],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    return blobs.put_bytes(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
