"""Pull and push over the OCI distribution API (blocking; run in threads).

Pull: the manifest (by tag or digest; manifest lists and OCI indexes narrowed to this platform), the
config, then every missing layer in parallel (bounded), each streamed through decompression (gzip,
zstd, or none) into the blob store while both digests are checked: the compressed bytes against the
manifest, the tar against the config's DiffID. A blob is renamed into the store only once verified;
when anything fails, the blobs this pull added are removed again, so nothing is half-stored.

Push: each layer's compressed digest from an earlier push or pull (``<root>/distribution.json``) is
tried with ``HEAD`` and a cross-repository mount first; otherwise the layer is gzip-compressed
(deterministically: mtime 0, no name) and streamed to an upload session (one streamed ``PATCH``, or
``PATCH`` chunks of ``chunk_size``), then committed with ``PUT ?digest=``. A dropped connection is
retried with backoff; the session's ``Range`` tells where to resume and the regenerated stream is
skipped up to there. Then the config and a docker v2 schema 2 (or OCI) manifest.

Progress goes to a callback as docker's JSON messages (``{"status", "id", "progressDetail"}``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ..errors import DigestMismatch, EngineError, InvalidArgument, RegistryError, RegistryNotFound, \
    RegistryUnauthorized, RegistryUnavailable
from ..images.archive import goarch
from ..images.store import BlobStore, BlobWriter, validate_digest
from ..reference import Reference
from .client import RegistryClient

MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                     "application/vnd.docker.distribution.manifest.v1+prettyjws")
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
FOREIGN = ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
           "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
ACCEPT = ", ".join([MT_OCI_INDEX, MT_DOCKER_LIST, MT_OCI_MANIFEST, MT_DOCKER_MANIFEST])
_CHUNK = 1 << 20
MAX_MANIFEST = 4 << 20  # manifests and indexes, as docker
MAX_CONFIG = 16 << 20  # an image config (history and environment of a large image are well under 1 MiB)

Progress = Callable[[dict[str, Any]], None]


class Descriptor(TypedDict):
    """An OCI content descriptor, as a pushed manifest lists its config and layers."""
    mediaType: str
    size: int
    digest: str


class Manifest(TypedDict):
    """The image manifest a push writes (docker's v2 schema 2 or OCI's)."""
    schemaVersion: int
    mediaType: str
    config: Descriptor
    layers: list[Descriptor]


# --------------------------------------------------------------------------- settings

def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def retries() -> int:
    return max(1, _env_int("PORTSIDE_REGISTRY_RETRIES", 5))


def retry_delay() -> float:
    try:
        return float(os.environ.get("PORTSIDE_REGISTRY_RETRY_DELAY", "1"))
    except ValueError:
        return 1.0


def gzip_level() -> int:
    return min(9, max(1, _env_int("PORTSIDE_PUSH_GZIP_LEVEL", 3)))


def _zlib() -> Any:
    """ISA-L's zlib-compatible module when installed (several times faster), else zlib.

    ``PORTSIDE_GZIP=zlib`` forces zlib. ISA-L levels are 0–3; the level used is ``PORTSIDE_PUSH_GZIP_LEVEL``
    mapped down (1–3 → 1, 4–6 → 2, 7–9 → 3).
    """
    if os.environ.get("PORTSIDE_GZIP", "") != "zlib":
        try:
            from isal import isal_zlib
            return isal_zlib
        except ImportError:
            pass
    return zlib


def concurrency(kind: str) -> int:
    return max(1, _env_int(f"PORTSIDE_MAX_CONCURRENT_{kind.upper()}S", 3))


# --------------------------------------------------------------------------- progress

def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def human(n: float) -> str:
    """docker's units.HumanSize (decimal, 4 significant digits)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.4g}{unit}"
        n /= 1000
    return f"{n}B"


def bar(current: int, total: int) -> str:
    """docker's progress bar: ``[=====>     ]  1.2MB/3.4MB``."""
    if total <= 0:
        return f"{human(current)}"
    width = 50
    filled = min(width, int(width * current / total))
    arrow = ">" if filled < width else ">"
    b = "=" * max(0, filled - 1) + arrow + " " * (width - filled)
    return f"[{b}] {human(current):>8}/{human(total)}"


def status(progress: Progress, text: str, id_: str = "", current: int | None = None, total: int | None = None) -> None:
    msg: dict[str, Any] = {"status": text}
    if id_:
        msg["id"] = id_
    if current is not None:
        msg["progressDetail"] = {"current": current, **({"total": total} if total else {})}
        msg["progress"] = bar(current, total or 0)
    elif id_:
        msg["progressDetail"] = {}
    progress(msg)


class _Throttle:
    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.last = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            return True
        return False


def with_retries(fn: Callable[[], Any], progress: Progress | None, id_: str, abort: threading.Event | None = None) -> Any:
    """Call ``fn``, retrying RegistryUnavailable(retryable) with exponential backoff."""
    n = retries()
    delay = retry_delay()
    for attempt in range(1, n + 1):
        try:
            return fn()
        except RegistryUnavailable as exc:
            if attempt == n or not getattr(exc, "retryable", False) or (abort is not None and abort.is_set()):
                raise
            wait = delay * (2 ** (attempt - 1))
            if progress is not None and id_:
                status(progress, f"Retrying in {wait:g} second{'s' if wait != 1 else ''}", id_)
            if abort is not None:
                if abort.wait(wait):
                    raise
            else:
                time.sleep(wait)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- distribution metadata

class DistributionMeta:
    """Which compressed blobs a DiffID is known as, and where (docker's v2metadata)."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, "distribution.json")
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with self._lock, open(self.path + ".lock", "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            try:
                with open(self.path) as f:
                    data = json.load(f)
            except (OSError, ValueError):
                data = {}
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                tmp = self.path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(data, f)
                os.replace(tmp, self.path)

    def get(self, diff_id: str) -> list[dict[str, Any]]:
        with self._locked() as data:
            return list(data.get(diff_id, []))

    def add(self, diff_id: str, digest: str, size: int, media_type: str, registry: str, repo: str) -> None:
        with self._locked() as data:
            entries = data.setdefault(diff_id, [])
            for e in entries:
                if e["digest"] == digest:
                    if [registry, repo] not in e["sources"]:
                        e["sources"].append([registry, repo])
                        e["sources"] = e["sources"][-8:]
                    return
            entries.append({"digest": digest, "size": size, "mediaType": media_type, "sources": [[registry, repo]]})


# --------------------------------------------------------------------------- pull

@dataclass
class PullResult:
    config_digest: str
    manifest_digest: str
    diff_ids: list[str]
    layers: list[dict[str, Any]]
    new_blobs: list[str] = field(default_factory=list)
    downloaded: bool = False


def _platform(spec: str | None) -> tuple[str, str, str]:
    if spec:
        parts = spec.split("/")
        if len(parts) < 2:
            raise InvalidArgument(f"invalid platform {spec!r}: want os/arch[/variant]")
        return parts[0], parts[1], parts[2] if len(parts) > 2 else ""
    arch = goarch()
    variant = "v8" if arch == "arm64" else "v7" if arch == "arm" else ""
    return "linux", arch, variant


def choose_manifest(index: dict[str, Any], platform: str | None) -> dict[str, Any]:
    os_, arch, variant = _platform(platform)
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    matches = [m for m in entries if (m.get("platform") or {}).get("os") == os_
               and (m.get("platform") or {}).get("architecture") == arch]
    if variant and len(matches) > 1:
        exact = [m for m in matches if (m.get("platform") or {}).get("variant") in (variant, None, "")]
        matches = [m for m in exact if (m.get("platform") or {}).get("variant") == variant] or exact or matches
    if not matches:
        want = f"{os_}/{arch}" + (f"/{variant}" if platform and variant else "")
        raise RegistryNotFound(f"no matching manifest for {want} in the manifest list entries")
    return matches[0]


def _check_digest(data: bytes, digest: str, what: str) -> None:
    algo, _, hexpart = digest.partition(":")
    if algo not in ("sha256", "sha512"):
        raise RegistryError(f"unsupported digest algorithm {algo!r} for {what}")
    if hashlib.new(algo, data).hexdigest() != hexpart:
        raise DigestMismatch(f"{what}: digest mismatch: expected {digest}, got "
                             f"{algo}:{hashlib.new(algo, data).hexdigest()}")


def _get_manifest(client: RegistryClient, ref: Reference, what: str) -> tuple[dict[str, Any], bytes, str]:
    """One manifest (or index) of ``ref``'s repository by tag or digest: (document, bytes, media type)."""
    scopes = (f"repository:{ref.path}:pull",)
    try:
        r = client.request("GET", f"/v2/{ref.path}/manifests/{what}", scopes=scopes, headers={"Accept": ACCEPT})
    except RegistryNotFound as exc:
        code = getattr(exc, "code", "")
        if code != "NAME_UNKNOWN":  # registry:2 says MANIFEST_UNKNOWN for a missing repository too
            try:
                client.request("GET", f"/v2/{ref.path}/tags/list?n=1", scopes=scopes).read()
            except RegistryNotFound as probe:
                if getattr(probe, "code", "") == "NAME_UNKNOWN":
                    exc, code = probe, "NAME_UNKNOWN"
            except RegistryError:
                pass
        if code == "NAME_UNKNOWN":
            raise RegistryNotFound(f"pull access denied for {ref.familiar_repository}, repository does not "
                                   f"exist or may require 'docker login': {exc}", code=code) from None
        if what.startswith("sha256:"):
            raise RegistryNotFound(f"manifest for {ref.familiar_repository}@{what} not found: {exc}",
                                   code=code) from None
        raise RegistryNotFound(f"manifest for {ref.familiar_repository}:{what} not found: {exc}",
                               code=code) from None
    except RegistryUnauthorized as exc:
        raise RegistryUnauthorized(f"pull access denied for {ref.familiar_repository}, repository does not "
                                   f"exist or may require 'docker login': {exc}") from None
    data = r.read(limit=MAX_MANIFEST, what=f"manifest for {ref.familiar}")
    ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip()
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise ValueError
    except ValueError:
        raise RegistryError(f"manifest for {ref.familiar}: the registry answered garbage (not JSON)") from None
    return doc, data, ctype or str(doc.get("mediaType") or "")


def _is_index(doc: dict[str, Any], mtype: str) -> bool:
    return mtype in (MT_DOCKER_LIST, MT_OCI_INDEX) or ("manifests" in doc and "config" not in doc)


def fetch_manifest(client: RegistryClient, ref: Reference, platform: str | None,
                   progress: Progress | None = None) -> tuple[dict[str, Any], str, str]:
    """(image manifest, its media type, the digest the reference resolves to)."""
    target = ref.digest or ref.tag or "latest"
    doc, data, mtype = with_retries(lambda: _get_manifest(client, ref, target), None, "")
    top_digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if ref.digest:
        _check_digest(data, ref.digest, f"manifest {ref.familiar}")
        top_digest = ref.digest
    if mtype in MT_DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise RegistryError(f"{ref.familiar}: docker image manifest schema 1 is not supported "
                            f"(push it again with a current client)")
    if _is_index(doc, mtype):
        chosen = choose_manifest(doc, platform)
        child = str(chosen.get("digest", ""))
        validate_digest(child)
        doc, data, mtype = with_retries(lambda: _get_manifest(client, ref, child), None, "")
        _check_digest(data, child, f"manifest {child}")
    if "config" not in doc or not isinstance(doc.get("layers"), list):
        raise RegistryError(f"manifest for {ref.familiar}: not an image manifest ({mtype or 'no media type'})")
    return doc, mtype, top_digest


def inspect(client: RegistryClient, ref: Reference) -> dict[str, Any]:
    """``GET /distribution/{name}/json``: the descriptor the reference resolves to in its registry and the
    platforms it serves (an index's entries; a single manifest's from its config), as dockerd answers."""
    target = ref.digest or ref.tag or "latest"
    doc, data, mtype = with_retries(lambda: _get_manifest(client, ref, target), None, "")
    digest = ref.digest or "sha256:" + hashlib.sha256(data).hexdigest()
    if ref.digest:
        _check_digest(data, ref.digest, f"manifest {ref.familiar}")
    platforms: list[dict[str, Any]] = []
    if _is_index(doc, mtype):
        for m in doc.get("manifests") or []:
            p = (m.get("platform") or {}) if isinstance(m, dict) else {}
            if p.get("architecture") and p.get("os") and p.get("architecture") != "unknown":
                platforms.append({k: p[k] for k in ("architecture", "os", "os.version", "os.features", "variant",
                                                    "features") if p.get(k)})
    elif isinstance(doc.get("config"), dict):
        cfg_digest = str(doc["config"].get("digest", ""))
        validate_digest(cfg_digest)
        r = client.request("GET", f"/v2/{ref.path}/blobs/{cfg_digest}", scopes=(f"repository:{ref.path}:pull",))
        cfg_data = r.read(limit=MAX_MANIFEST, what=f"image config of {ref.familiar}")
        _check_digest(cfg_data, cfg_digest, f"config {cfg_digest}")
        cfg = json.loads(cfg_data)
        if isinstance(cfg, dict) and cfg.get("architecture") and cfg.get("os"):
            platforms.append({k: cfg[k] for k in ("architecture", "os", "variant") if cfg.get(k)})
    return {"Descriptor": {"mediaType": mtype, "digest": digest, "size": len(data)}, "Platforms": platforms}


class _Decoder:
    """Incremental decompression by magic: gzip (multi-member), zstd, or none."""

    def __init__(self, head: bytes) -> None:
        self.kind = "gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head[:4] == b"\x28\xb5\x2f\xfd" else "none"
        self._d: Any = None
        if self.kind == "gzip":
            self._z = _zlib()
            self._d = self._z.decompressobj(31)
        elif self.kind == "zstd":
            try:
                import zstandard
            except ImportError:
                raise RegistryError("zstd-compressed layers need the zstandard package") from None
            self._zstd = zstandard.ZstdDecompressor()
            try:
                self._d = self._zstd.decompressobj(read_across_frames=True)
            except TypeError:
                self._d = self._zstd.decompressobj()

    def feed(self, data: bytes) -> bytes:
        if self.kind == "none":
            return data
        if self.kind == "gzip":
            out = self._d.decompress(data)
            while self._d.eof and self._d.unused_data:
                rest = self._d.unused_data
                self._d = self._z.decompressobj(31)
                out += self._d.decompress(rest)
            return bytes(out)
        return bytes(self._d.decompress(data))

    def finish(self) -> bytes:
        if self.kind == "gzip":
            if not self._d.eof:
                raise self._z.error("unexpected end of gzip stream")
            return bytes(self._d.flush())
        return b""


def _download_layer(client: RegistryClient, blobs: BlobStore, path: str, desc: dict[str, Any], diff_id: str,
                    progress: Progress, abort: threading.Event) -> bool:
    """Fetch, decompress and verify one layer; True when it was stored by us."""
    digest = str(desc["digest"])
    size = int(desc.get("size") or 0)
    id_ = short(digest)
    scopes = (f"repository:{path}:pull",)
    hexpart = validate_digest(digest)
    throttle = _Throttle()

    def attempt() -> bool:
        if abort.is_set():
            raise RegistryError("aborted")
        r = client.request("GET", f"/v2/{path}/blobs/{digest}", scopes=scopes)
        fd, tmp = blobs._tempfile()
        w = BlobWriter(fd, tmp)
        try:
            h = hashlib.sha256()
            got = 0
            dec: _Decoder | None = None
            with r:
                while True:
                    if abort.is_set():
                        raise RegistryError("aborted")
                    chunk = r.read(_CHUNK)
                    if not chunk:
                        break
                    got += len(chunk)
                    if size and got > size:
                        raise DigestMismatch(f"filesystem layer verification failed for digest {digest}: "
                                             f"more than {size} bytes")
                    h.update(chunk)
                    if dec is None:
                        dec = _Decoder(chunk)
                    w.write(dec.feed(chunk))
                    if throttle():
                        status(progress, "Downloading", id_, got, size)
            if size and got < size:
                raise RegistryUnavailable(f"Get \"{r.url}\": unexpected EOF after {got} of {size} bytes",
                                          retryable=True)
            status(progress, "Verifying Checksum", id_)
            if h.hexdigest() != hexpart or (size and got != size):
                raise DigestMismatch(f"filesystem layer verification failed for digest {digest}")
            if dec is not None:
                w.write(dec.finish())
            w._finish()
            if w.digest != diff_id:
                raise DigestMismatch(f"failed to register layer: layer {digest} has diff id {w.digest}, "
                                     f"the image config says {diff_id}")
            status(progress, "Download complete", id_)
            created = not blobs.has(diff_id)
            blobs._commit(tmp, diff_id)
            return created
        except (zlib.error, _zlib().error) as exc:
            w._abort()
            raise DigestMismatch(f"filesystem layer verification failed for digest {digest}: corrupt "
                                 f"compressed data: {exc}") from None
        except BaseException as exc:
            w._abort()
            if type(exc).__name__ == "ZstdError":
                raise DigestMismatch(f"filesystem layer verification failed for digest {digest}: {exc}") from None
            raise

    return bool(with_retries(attempt, progress, id_, abort))


def pull(client: RegistryClient, blobs: BlobStore, ref: Reference, progress: Progress, *,
         platform: str | None = None, meta: DistributionMeta | None = None) -> PullResult:
    """Pull ``ref`` into ``blobs`` (blobs only; the caller registers the image)."""
    try:
        manifest, _mtype, top_digest = fetch_manifest(client, ref, platform, progress)
    except RegistryUnavailable as exc:
        if not getattr(exc, "unreachable", ""):
            raise
        raise RegistryUnavailable(exc.unreachable) from None  # the registry never answered: say so, and the way
    status(progress, f"{ref.tag if not ref.digest else ref.digest}: Pulling from {ref.path}"
           if ref.domain == "docker.io" else
           f"{ref.tag if not ref.digest else ref.digest}: Pulling from {ref.path}")
    config_desc = manifest["config"]
    config_digest = str(config_desc.get("digest", ""))
    validate_digest(config_digest)
    scopes = (f"repository:{ref.path}:pull",)
    new_blobs: list[str] = []
    if blobs.hold(config_digest):
        config_bytes = blobs.get_bytes(config_digest)
    else:
        def get_config() -> bytes:
            return client.request("GET", f"/v2/{ref.path}/blobs/{config_digest}", scopes=scopes).read(
                limit=MAX_CONFIG, what=f"image config {short(config_digest)}")
        config_bytes = with_retries(get_config, None, "")
        _check_digest(config_bytes, config_digest, "image config")
    try:
        config = json.loads(config_bytes)
        diff_ids = [str(d) for d in config["rootfs"]["diff_ids"]]
        for d in diff_ids:
            validate_digest(d)
    except (ValueError, KeyError, TypeError, InvalidArgument):
        raise RegistryError(f"{ref.familiar}: the image config is not valid") from None
    layers = manifest["layers"]
    if len(layers) != len(diff_ids):
        raise RegistryError(f"{ref.familiar}: the manifest lists {len(layers)} layers, the config {len(diff_ids)}")
    todo: list[tuple[dict[str, Any], str]] = []
    for desc, diff_id in zip(layers, diff_ids):
        if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
            raise RegistryError(f"{ref.familiar}: malformed layer descriptor")
        if desc.get("mediaType") in FOREIGN and not blobs.has(diff_id):
            raise RegistryError(f"{ref.familiar}: foreign (non-distributable) layers are not supported")
        if blobs.hold(diff_id):
            status(progress, "Already exists", short(desc["digest"]))
        else:
            status(progress, "Pulling fs layer", short(desc["digest"]))
            todo.append((desc, diff_id))
    abort = threading.Event()
    errors: list[BaseException] = []
    if todo:
        with concurrent.futures.ThreadPoolExecutor(concurrency("download"), thread_name_prefix="pull") as pool:
            futures = {pool.submit(_download_layer, client, blobs, ref.path, desc, diff_id, progress, abort):
                       (desc, diff_id) for desc, diff_id in todo}
            for fut in concurrent.futures.as_completed(futures):
                desc, diff_id = futures[fut]
                try:
                    if fut.result():
                        new_blobs.append(diff_id)
                    status(progress, "Pull complete", short(desc["digest"]))
                except BaseException as exc:  # noqa: BLE001 - the first failure wins; the rest stop
                    abort.set()
                    errors.append(exc)
    if errors:
        for d in new_blobs:
            blobs.delete(d)
        real = [e for e in errors if str(e) != "aborted"] or errors
        raise real[0]
    if not blobs.has(config_digest):
        blobs.put_bytes(config_bytes)
        new_blobs.append(config_digest)
    if meta is not None:
        for desc, diff_id in zip(layers, diff_ids):
            meta.add(diff_id, desc["digest"], int(desc.get("size") or 0), str(desc.get("mediaType", "")),
                     ref.domain, ref.path)
    return PullResult(config_digest, top_digest, diff_ids, layers, new_blobs, downloaded=bool(todo) or
                      config_digest in new_blobs)


# --------------------------------------------------------------------------- push

@dataclass
class PushStats:
    compress_cpu: float = 0.0
    compressed_bytes: int = 0
    uploaded_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def gzip_stream(path: str, level: int, stats: PushStats | None = None,
                on_read: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """Deterministic gzip of a file (mtime 0, no name): the same bytes every time."""
    z = _zlib()
    if z is not zlib:
        level = 1 if level <= 3 else 2 if level <= 6 else 3
    comp = z.compressobj(level, zlib.DEFLATED, -15, 9)
    crc = 0
    total = 0
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    cpu = 0.0
    try:
        with open(path, "rb") as f:
            while True:
                data = f.read(_CHUNK)
                if not data:
                    break
                t0 = time.thread_time()
                crc = z.crc32(data, crc)
                total += len(data)
                out = comp.compress(data)
                cpu += time.thread_time() - t0
                if on_read is not None:
                    on_read(total)
                if out:
                    yield out
        t0 = time.thread_time()
        tail = comp.flush()
        cpu += time.thread_time() - t0
        yield tail + crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little")
    finally:
        if stats is not None:
            with stats.lock:
                stats.compress_cpu += cpu


def _rel(location: str) -> str:
    u = urllib.parse.urlsplit(location)
    return u.path + ("?" + u.query if u.query else "")


def _with_param(location: str, **params: str) -> str:
    sep = "&" if "?" in location else "?"
    return location + sep + urllib.parse.urlencode(params)


class _Skip:
    """Drops the first ``n`` bytes of a byte-chunk iterator while hashing everything."""

    def __init__(self, source: Iterator[bytes], n: int) -> None:
        self.source = source
        self.skip = n
        self.hash = hashlib.sha256()
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.source:
            self.hash.update(chunk)
            self.size += len(chunk)
            if self.skip >= len(chunk):
                self.skip -= len(chunk)
                continue
            if self.skip:
                chunk = chunk[self.skip:]
                self.skip = 0
            yield chunk


class Pusher:
    def __init__(self, client: RegistryClient, blobs: BlobStore, ref: Reference, progress: Progress, *,
                 meta: DistributionMeta | None = None, oci: bool = False, chunk_size: int = 0) -> None:
        self.client = client
        self.blobs = blobs
        self.ref = ref
        self.path = ref.path
        self.progress = progress
        self.meta = meta
        self.oci = oci
        self.chunk_size = chunk_size or _env_int("PORTSIDE_PUSH_CHUNK_SIZE", 0)
        self.level = gzip_level()
        self.scopes: tuple[str, ...] = (f"repository:{ref.path}:pull,push",)
        self.stats = PushStats()
        self.abort = threading.Event()

    def _blob_exists(self, digest: str) -> int | None:
        try:
            r = self.client.request("HEAD", f"/v2/{self.path}/blobs/{digest}", scopes=self.scopes)
        except RegistryNotFound:
            return None
        r.close()
        return int(r.headers.get("Content-Length") or 0)

    def _start_upload(self, mount: tuple[str, str] | None = None) -> tuple[str, bool]:
        """(location, mounted): a new upload session, or a successful mount."""
        path = f"/v2/{self.path}/blobs/uploads/"
        scopes = self.scopes
        if mount:
            path += "?" + urllib.parse.urlencode({"mount": mount[0], "from": mount[1]})
            scopes = scopes + (f"repository:{mount[1]}:pull",)
        r = self.client.request("POST", path, scopes=scopes, body=b"", ok=(201, 202))
        r.read()
        location = r.headers.get("Location") or ""
        if r.status == 201:
            return location, True
        if not location:
            raise RegistryError("the registry opened an upload session without a Location")
        return _rel(location), False

    def _upload_state(self, location: str) -> tuple[str, int] | None:
        """Where an interrupted upload stands: (location, bytes received), None when it is gone."""
        try:
            r = self.client.request("GET", location, scopes=self.scopes, ok=(204, 200))
        except (RegistryNotFound, RegistryError) as exc:
            if isinstance(exc, RegistryUnavailable):
                raise
            return None
        r.read()
        rng = r.headers.get("Range") or ""
        got = int(rng.rsplit("-", 1)[1]) + 1 if "-" in rng else 0
        return _rel(r.headers.get("Location") or location), got

    def upload_stream(self, id_: str, make_stream: Callable[[], Iterator[bytes]], location: str | None) -> tuple[str, int]:
        """Upload the bytes ``make_stream()`` yields; returns (digest, size). Resumes after a drop."""
        offset = 0
        n = retries()
        delay = retry_delay()
        for attempt in range(1, n + 1):
            try:
                if location is None:
                    location, _ = self._start_upload()
                    offset = 0
                source = _Skip(make_stream(), offset)
                if self.chunk_size:
                    location = self._patch_chunks(location, source, offset)
                else:
                    r = self.client.request("PATCH", location, scopes=self.scopes, body=iter(source),
                                            headers={"Content-Type": "application/octet-stream"}, ok=(202, 204))
                    r.read()
                    location = _rel(r.headers.get("Location") or location)
                for _ in source:  # the hash needs every byte, even when the registry had them all
                    pass
                digest = "sha256:" + source.hash.hexdigest()
                r = self.client.request("PUT", _with_param(location, digest=digest), scopes=self.scopes,
                                        body=b"", ok=(201, 204))
                r.read()
                with self.stats.lock:
                    self.stats.uploaded_bytes += source.size - (offset or 0)
                return digest, source.size
            except RegistryUnavailable as exc:
                if attempt == n or not getattr(exc, "retryable", False) or self.abort.is_set():
                    raise
                wait = delay * (2 ** (attempt - 1))
                status(self.progress, f"Retrying in {wait:g} second{'s' if wait != 1 else ''}", id_)
                time.sleep(wait)
                state = None
                if location is not None:
                    try:
                        state = self._upload_state(location)
                    except RegistryUnavailable:
                        state = ("", -1)  # still down: ask again next time round
                if state is None:
                    location, offset = None, 0
                elif state[1] >= 0:
                    location, offset = state
        raise AssertionError("unreachable")

    def _patch_chunks(self, location: str, source: _Skip, offset: int) -> str:
        buf = bytearray()
        pos = offset

        def send(data: bytes, loc: str) -> str:
            r = self.client.request("PATCH", loc, scopes=self.scopes, body=bytes(data), ok=(202, 204),
                                    headers={"Content-Type": "application/octet-stream",
                                             "Content-Range": f"{pos}-{pos + len(data) - 1}"})
            r.read()
            return _rel(r.headers.get("Location") or loc)

        for chunk in source:
            buf += chunk
            while len(buf) >= self.chunk_size:
                piece, buf = bytes(buf[:self.chunk_size]), buf[self.chunk_size:]
                location = send(piece, location)
                pos += len(piece)
        if buf:
            location = send(bytes(buf), location)
        return location

    def push_layer(self, diff_id: str) -> Descriptor:
        id_ = short(diff_id)
        media = MT_OCI_LAYER_GZIP if self.oci else MT_DOCKER_LAYER
        known = [e for e in (self.meta.get(diff_id) if self.meta else [])
                 if e.get("mediaType") in (MT_OCI_LAYER_GZIP, MT_DOCKER_LAYER)]
        here = [e for e in known if any(s[0] == self.ref.domain for s in e["sources"])]
        for e in here:
            size = with_retries(functools.partial(self._blob_exists, e["digest"]), self.progress, id_, self.abort)
            if size is not None:
                status(self.progress, "Layer already exists", id_)
                self._record(diff_id, e["digest"], e["size"], media)
                return {"mediaType": media, "size": e["size"], "digest": e["digest"]}
        location: str | None = None
        for e in here:
            for registry, repo in reversed(e["sources"]):
                if registry != self.ref.domain or repo == self.path:
                    continue
                try:
                    loc, mounted = with_retries(lambda: self._start_upload((e["digest"], repo)), self.progress,
                                                id_, self.abort)
                except (RegistryUnauthorized, RegistryNotFound):
                    continue
                if mounted:
                    fam = repo[len("library/"):] if self.ref.domain == "docker.io" and repo.startswith("library/") \
                        else repo
                    status(self.progress, f"Mounted from {fam}", id_)
                    self._record(diff_id, e["digest"], e["size"], media)
                    return {"mediaType": media, "size": e["size"], "digest": e["digest"]}
                location = loc
                break
            if location:
                break
        total = self.blobs.size(diff_id)
        throttle = _Throttle()
        path = self.blobs.path(diff_id)

        def on_read(done: int) -> None:
            if throttle():
                status(self.progress, "Pushing", id_, done, total)

        digest, size = self.upload_stream(id_, lambda: gzip_stream(path, self.level, self.stats, on_read), location)
        with self.stats.lock:
            self.stats.compressed_bytes += size
        status(self.progress, "Pushed", id_)
        self._record(diff_id, digest, size, media)
        return {"mediaType": media, "size": size, "digest": digest}

    def _record(self, diff_id: str, digest: str, size: int, media: str) -> None:
        if self.meta is not None:
            self.meta.add(diff_id, digest, size, media, self.ref.domain, self.path)

    def push_bytes(self, data: bytes) -> None:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if with_retries(lambda: self._blob_exists(digest), None, "") is not None:
            return

        def monolithic() -> None:
            location, _ = self._start_upload()
            r = self.client.request("PUT", _with_param(location, digest=digest), scopes=self.scopes, body=data,
                                    headers={"Content-Type": "application/octet-stream"}, ok=(201, 204))
            r.read()
        with_retries(monolithic, None, "")

    def run(self, config_digest: str, diff_ids: list[str]) -> tuple[str, int]:
        """Push layers, config and manifest; returns (manifest digest, manifest size)."""
        tag = self.ref.tag or "latest"
        status(self.progress, f"The push refers to repository [{self.ref.repository}]")
        order = list(reversed(diff_ids))
        for d in order:
            status(self.progress, "Preparing", short(d))
        for d in order[concurrency("upload"):]:
            status(self.progress, "Waiting", short(d))
        descs: dict[str, Descriptor] = {}
        errors: list[BaseException] = []
        with concurrent.futures.ThreadPoolExecutor(concurrency("upload"), thread_name_prefix="push") as pool:
            futures = {pool.submit(self.push_layer, d): d for d in dict.fromkeys(order)}
            for fut in concurrent.futures.as_completed(futures):
                try:
                    descs[futures[fut]] = fut.result()
                except BaseException as exc:  # noqa: BLE001
                    self.abort.set()
                    errors.append(exc)
        if errors:
            err = errors[0]
            if isinstance(err, RegistryUnauthorized):
                raise RegistryUnauthorized(str(err) if "denied" in str(err) or "unauthorized" in str(err)
                                           else f"denied: {err}") from err
            raise err
        config = self.blobs.get_bytes(config_digest)
        self.push_bytes(config)
        manifest: Manifest = {
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST if self.oci else MT_DOCKER_MANIFEST,
            "config": {"mediaType": MT_OCI_CONFIG if self.oci else MT_DOCKER_CONFIG, "size": len(config),
                       "digest": config_digest},
            "layers": [descs[d] for d in diff_ids],
        }
        body = json.dumps(manifest, indent=3).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()

        def put() -> None:
            r = self.client.request("PUT", f"/v2/{self.path}/manifests/{tag}", scopes=self.scopes, body=body,
                                    headers={"Content-Type": manifest["mediaType"]}, ok=(201, 200, 202))
            r.read()
        with_retries(put, None, "")
        status(self.progress, f"{tag}: digest: {digest} size: {len(body)}")
        self.progress({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(body)}})
        return digest, len(body)


__all__ = ["pull", "Pusher", "PullResult", "DistributionMeta", "choose_manifest", "fetch_manifest", "EngineError"]
