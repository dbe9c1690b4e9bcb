"""Push and pull against a local docker-registry: Portside against ``skopeo copy``, in the same run.

    .venv/bin/python bench/registry.py        # as root or not; needs docker-registry and skopeo

A ~200 MB image of 5 layers (each half incompressible bytes, half text) is made in a private
``PORTSIDE_ROOT``. Every repeat starts a fresh docker-registry on 127.0.0.1 (private config and storage,
stopped by pid), so neither tool can skip work through blobs or caches from an earlier repeat.

- push: Portside ``image_push`` (gzip in threads, one layer per thread) against
  ``skopeo copy docker-archive:<portside save> docker://…`` (skopeo compresses with pgzip).
- pull: Portside ``image_pull`` into an empty store (decompress + verify + store) against
  ``skopeo copy docker://… docker-archive:…`` (which also decompresses), both from the Portside push.

MB/s is the image's uncompressed size over wall time. CPU is user+sys of the whole process (Portside
in-process, skopeo as a child); "compress CPU" is the CPU Portside's threads spent in zlib.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

N = int(os.environ.get("BENCH_N", "3"))
LAYERS = 5
LAYER_MB = int(os.environ.get("BENCH_LAYER_MB", "40"))
REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO = shutil.which("skopeo")


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    def __init__(self, base: str) -> None:
        self.base = base
        os.makedirs(base)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cfg = {"version": 0.1, "log": {"level": "error"},
               "storage": {"filesystem": {"rootdirectory": os.path.join(base, "storage")}},
               "http": {"addr": self.host, "secret": "bench"}}
        self.config = os.path.join(base, "config.yml")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.proc = subprocess.Popen([REGISTRY, "serve", self.config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)


def layer_tar(i: int) -> bytes:
    half = (LAYER_MB << 20) // 2
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in ((f"data/random{i}", os.urandom(half)),
                           (f"data/text{i}", b"".join(b"portside bench line %08d of layer %d\n" % (n, i)
                                                      for n in range(half // 36))[:half])):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def make_image(engine: Any) -> tuple[str, int]:
    diff_ids = []
    total = 0
    for i in range(LAYERS):
        data = layer_tar(i)
        total += len(data)
        diff_ids.append(engine.blobs.put_bytes(data))
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "created": "2024-01-01T00:00:00Z", "history": [{"created_by": f"layer {i}"} for i in range(LAYERS)],
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cid = engine.blobs.put_bytes(json.dumps(config, sort_keys=True).encode())
    engine.images.register(cid, repo_tags=["bench/image:v1"])
    return cid, total


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


async def portside_push(engine: Any, target: str) -> tuple[float, float, float]:
    try:
        os.unlink(os.path.join(engine.paths.root, "distribution.json"))
    except FileNotFoundError:
        pass
    await engine.images.tag("bench/image:v1", target.rsplit(":", 1)[0], "v1")
    c0, t0 = cpu_self(), time.perf_counter()
    async for _ in engine.registry.push(target):
        pass
    wall, cpu = time.perf_counter() - t0, cpu_self() - c0
    await engine.images.delete(target)
    return wall, cpu, engine.registry.last_push_stats.compress_cpu


async def portside_pull(root: str, source: str) -> tuple[float, float, str]:
    from engine.engine import Engine
    shutil.rmtree(root, ignore_errors=True)
    async with Engine.open(root) as engine:
        c0, t0 = cpu_self(), time.perf_counter()
        async for _ in engine.registry.pull(source):
            pass
        wall, cpu = time.perf_counter() - t0, cpu_self() - c0
        image_id = engine.images.resolve(source)
    shutil.rmtree(root, ignore_errors=True)
    return wall, cpu, image_id


def skopeo(*args: str) -> tuple[float, float]:
    assert SKOPEO
    c0, t0 = cpu_children(), time.perf_counter()
    subprocess.run([SKOPEO, "copy", "-q", *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, cpu_children() - c0


def row(name: str, size: int, walls: list[float], cpus: list[float], extra: str = "") -> list[str]:
    w = statistics.median(walls)
    return [name, f"{size / w / 1e6:.1f}", f"{w:.2f}", f"{statistics.median(cpus):.2f}", extra]


async def main() -> int:
    if not os.access(REGISTRY, os.X_OK) or not SKOPEO:
        log("needs docker-registry and skopeo (apt-get install docker-registry skopeo)")
        return 2
    from engine.engine import Engine
    base = tempfile.mkdtemp(prefix="portside-bench-registry-")
    regs: list[Registry] = []
    try:
        root = os.path.join(base, "root")
        async with Engine.open(root) as engine:
            log(f"making a {LAYERS}-layer image of {LAYERS * LAYER_MB} MB")
            image_id, size = make_image(engine)
            archive = os.path.join(base, "image.docker.tar")
            with open(archive, "wb") as f:
                await engine.images.save(["bench/image:v1"], f, fmt="docker")
            res: dict[str, Any] = {k: [] for k in ("pp_w", "pp_c", "pp_z", "sp_w", "sp_c", "pl_w", "pl_c",
                                                   "sl_w", "sl_c")}
            for i in range(N):
                reg = Registry(os.path.join(base, f"reg-p{i}"))
                regs.append(reg)
                target = f"{reg.host}/bench/image:v1"
                log(f"[{i + 1}/{N}] portside push")
                w, c, z = await portside_push(engine, target)
                res["pp_w"].append(w); res["pp_c"].append(c); res["pp_z"].append(z)  # noqa: E702
                log(f"[{i + 1}/{N}] portside pull")
                w, c, pulled = await portside_pull(os.path.join(base, "pull-root"), target)
                assert pulled == image_id, "the pulled image has another id"
                res["pl_w"].append(w); res["pl_c"].append(c)  # noqa: E702
                log(f"[{i + 1}/{N}] skopeo pull")
                out = os.path.join(base, "skopeo-pull.tar")
                w, c = skopeo("--src-tls-verify=false", f"docker://{target}", f"docker-archive:{out}:x/y:v1")
                os.unlink(out)
                res["sl_w"].append(w); res["sl_c"].append(c)  # noqa: E702
                sreg = Registry(os.path.join(base, f"reg-s{i}"))
                regs.append(sreg)
                log(f"[{i + 1}/{N}] skopeo push")
                w, c = skopeo("--dest-tls-verify=false", f"docker-archive:{archive}",
                              f"docker://{sreg.host}/bench/image:v1")
                res["sp_w"].append(w); res["sp_c"].append(c)  # noqa: E702
                reg.stop()
                sreg.stop()
        from engine.registry.distribution import _zlib
        gz = "ISA-L" if _zlib().__name__ != "zlib" else "zlib"
        rows = [["", "MB/s", "wall s", "CPU s", "note"],
                row("push  portside", size, res["pp_w"], res["pp_c"],
                    f"compress CPU {statistics.median(res['pp_z']):.2f} s (gzip level "
                    f"{os.environ.get('PORTSIDE_PUSH_GZIP_LEVEL', '3')}, {gz}, a thread per layer)"),
                row("push  skopeo", size, res["sp_w"], res["sp_c"], "pgzip; CPU is the whole skopeo process"),
                row("pull  portside", size, res["pl_w"], res["pl_c"], "gunzip + 2 sha256 + store"),
                row("pull  skopeo", size, res["sl_w"], res["sl_c"], "to docker-archive (decompressed)")]
        ratio_push = statistics.median(res["sp_w"]) / statistics.median(res["pp_w"])
        ratio_pull = statistics.median(res["sl_w"]) / statistics.median(res["pl_w"])
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = [f"Registry push/pull, {LAYERS} layers, {size / 1e6:.0f} MB uncompressed, median of {N}, "
                 f"{os.cpu_count()} CPUs", ""]
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(rows[0], widths)) + " |")
        lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for r in rows[1:]:
            lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        lines.append("")
        lines.append(f"speed vs skopeo (>1 = Portside faster): push {ratio_push:.2f}x, pull {ratio_pull:.2f}x")
        print("\n".join(lines))
        return 0
    finally:
        for reg in regs:
            reg.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
