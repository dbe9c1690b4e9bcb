"""The image builder: Dockerfile instructions → layers and config, with a build cache.

Each step yields an intermediate image (as docker's classic builder does); its cache key is the parent
image, the instruction as evaluated, the build args it can see and, for ADD/COPY, a checksum of the
sources' content and metadata (never mtime). The first miss invalidates the rest because the new
image ids differ. RUN steps run in an isolated container over the current rootfs (overlayfs); the
upper dir becomes the new layer. A failed step leaves no image for that step and no tag.
"""

from __future__ import annotations

import copy
import fnmatch
import glob
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .. import reference
from ..errors import BuildError, EngineError, ImageNotFound, InvalidArgument, shorten
from ..images import layers as layers_mod
from ..runtime import cleanup
from ..runtime.rootpath import resolve_in
from . import dockerignore
from . import parser as dfp

if TYPE_CHECKING:
    from ..config import Paths
    from ..images.store import BlobStore
    from ..state import State


class Host(Protocol):
    """What a build needs of the engine, handed to it (the images service builds one per build thread)."""

    paths: Paths
    state: State
    blobs: BlobStore

    def operation(self, kind: str) -> AbstractContextManager[cleanup.Operation]: ...
    def register_image(self, config_digest: str, *, parent: str = "", intermediate: bool = False,
                       repo_tags: list[str] | None = None) -> str: ...
    def tag_image(self, image_id: str, ref_text: str) -> None: ...
    def image_config(self, image_id: str) -> dict[str, Any]: ...
    def resolve_image(self, name: str) -> str: ...
    def unpack_image(self, image_id: str) -> list[str]: ...
    def pull_sync(self, name: str, progress: Callable[[dict[str, Any]], None]) -> str: ...
    def seccomp_warm(self, spec: dict[str, Any]) -> None: ...
    def ensure_predefined_networks(self) -> None: ...
    def network_endpoint(self, cid: str, cdoc: dict[str, Any], doc: dict[str, Any], aliases: list[str],
                         ipv4: str | None) -> dict[str, Any]: ...
    def endpoint_plan(self, cid: str, doc: dict[str, Any], ep: dict[str, Any], index: int,
                      default_route: bool) -> dict[str, Any]: ...
    def close(self) -> None: ...

Emit = Callable[[dict[str, Any]], None]
DEFAULT_SHELL = ["/bin/sh", "-c"]
MOUNT_STUBS = {"proc", "sys", "dev", "etc/hosts", "etc/hostname", "etc/resolv.conf", "dev/shm", "dev/pts",
               "dev/mqueue", "sbin/docker-init"}


def now_rfc3339() -> str:
    from ..runtime.monitor import now_rfc3339 as n
    return n()


@dataclass
class Stage:
    name: str
    index: int
    image_id: str = ""               # current image (empty for scratch before any step)
    config: dict[str, Any] = field(default_factory=dict)  # the OCI image config document
    args: dict[str, str | None] = field(default_factory=dict)
    shell: list[str] = field(default_factory=lambda: list(DEFAULT_SHELL))
    cmd_set: bool = False

    @property
    def cfg(self) -> dict[str, Any]:
        cfg: dict[str, Any] = self.config.setdefault("config", {})
        return cfg

    # Env as a dict, with each name's place in the list, kept while the list object stays the same (a
    # Dockerfile of 10,000 ENV lines re-read the whole list twice a step)
    _env_cache: tuple[list[str], int, dict[str, str], dict[str, int]] | None = field(
        default=None, init=False, repr=False, compare=False)

    def _env_index(self) -> tuple[list[str], dict[str, str], dict[str, int]]:
        items = self.cfg.get("Env") or []
        c = self._env_cache
        if c is None or c[0] is not items or c[1] != len(items):
            out: dict[str, str] = {}
            for item in items:
                k, _, v = item.partition("=")
                out[k] = v
            c = self._env_cache = (items, len(items), out, {k: i for i, k in enumerate(out)})
        return c[0], c[2], c[3]

    def env(self) -> dict[str, str]:
        return dict(self._env_index()[1])

    def set_env(self, pairs: list[tuple[str, str]]) -> None:
        """Set variables in Env: a name already there keeps its place, a new one goes last."""
        items, values, places = self._env_index()
        if self.cfg.get("Env") is not items or len(items) != len(values):  # none yet, or a name twice
            items = [f"{k}={v}" for k, v in values.items()]
            self.cfg["Env"] = items
        for k, v in pairs:
            if k in places:
                items[places[k]] = f"{k}={v}"
            else:
                places[k] = len(items)
                items.append(f"{k}={v}")
            values[k] = v
        self._env_cache = (items, len(items), values, places)

    def expansion_env(self) -> dict[str, str]:
        env = {k: v for k, v in self.args.items() if v is not None}
        env.update(self._env_index()[1])
        return env


#: instructions that change only the image config (each ends in ``_metadata``)
_CONFIG_ONLY = frozenset({"ARG", "ENV", "LABEL", "MAINTAINER", "EXPOSE", "VOLUME", "USER", "STOPSIGNAL", "SHELL",
                          "CMD", "ENTRYPOINT", "ONBUILD", "HEALTHCHECK"})


class Builder:
    def __init__(self, host: Host, context: str, dockerfile: str, tags: list[str], buildargs: dict[str, str],
                 nocache: bool, target: str, labels: dict[str, str], emit: Emit, *, network: str = "default") -> None:
        self.host = host
        self.network = check_network(network)
        self.context = os.path.abspath(context)
        self.dockerfile = dockerfile
        self.tags = tags
        self.buildargs = dict(buildargs)
        self.used_args: set[str] = set()
        self.nocache = nocache
        self.target = target
        self.labels = labels
        self.emit = emit
        self.stages: list[Stage] = []
        self.cache_broken = nocache
        self._matcher: dockerignore.PatternMatcher | None = None
        self._mounts: list[str] = []
        self.op: cleanup.Operation | None = None
        self._cancelled = threading.Event()
        self._running: Any = None  # the cgroup of the RUN step running now (cancel ends its processes)

    # -- cancellation ---------------------------------------------------------------------------
    def cancel(self) -> None:
        """End the build soon, from any thread (its client went away): a running RUN step's processes
        are killed; the build then stops before its next step. The step's container, its rootfs, its
        network namespace and cgroup and any half-written layer are removed, as after a failed step;
        the steps already done stay in the cache, as docker's."""
        self._cancelled.set()
        running = self._running
        if running is not None:
            try:
                running.kill_all()
            except (OSError, EngineError):
                pass

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise BuildCancelled("the build was cancelled: its client went away")

    # -- output ---------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.emit({"stream": text + "\n"})

    # -- entry ----------------------------------------------------------------------------------
    def run(self) -> str:
        """Build; while it runs, a live-operation lock protects its images and blobs from prune and
        lets crash recovery end its RUN processes and remove its temp dirs should it be killed."""
        with self.host.operation("build") as op:
            self.op = op
            return self._run()

    def _hold(self, image_id: str) -> None:
        if self.op is not None and image_id:
            self.op.note("image", image_id)

    def _run(self) -> str:
        for tag in self.tags:
            reference.parse(tag)
        if not os.path.isdir(self.context):
            raise InvalidArgument(f'unable to prepare context: path "{self.context}" not found')
        df_path = self.dockerfile if os.path.isabs(self.dockerfile) else os.path.join(os.getcwd(), self.dockerfile)
        if not os.path.exists(df_path) and not os.path.isabs(self.dockerfile):
            df_path = os.path.join(self.context, self.dockerfile)
        try:
            with open(df_path, encoding="utf-8", errors="surrogateescape") as f:  # bytes pass through, as docker's
                text = f.read(dfp.MAX_DOCKERFILE + 1)
        except FileNotFoundError:
            raise InvalidArgument(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                                  f"lstat {df_path}: no such file or directory") from None
        ignore_path = os.path.join(self.context, ".dockerignore")
        if os.path.exists(ignore_path):
            with open(ignore_path) as f:
                self._matcher = dockerignore.PatternMatcher(dockerignore.parse_dockerignore(f.read()))
        df = dfp.parse(text)
        groups = self._split_stages(df)
        if not groups:
            raise InvalidArgument("no build stage in current context")
        names = [g[0] for g in groups]
        last = len(groups) - 1
        if self.target:
            if self.target not in names:
                raise InvalidArgument(f"failed to reach build target {self.target} in Dockerfile")
            last = names.index(self.target)
        needed = self._needed_stages(groups, last)
        total = sum(len(groups[i][1]) for i in needed)
        step = 0
        try:
            for i in range(last + 1):
                name, instructions = groups[i]
                if i not in needed:
                    self.stages.append(Stage(name=name, index=i))
                    continue
                stage = Stage(name=name, index=i)
                self.stages.append(stage)
                for inst in instructions:
                    self._check_cancelled()
                    step += 1
                    self.say(f"Step {step}/{total} : {inst.original}")
                    self.execute(stage, inst)
        finally:
            for m in reversed(self._mounts):
                self._umount(m)
        final = self.stages[last]
        if not final.image_id:
            final.image_id = self._commit(final, None, "", empty=True, key=None)
        unused = sorted(set(self.buildargs) - self.used_args)
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        image_id = final.image_id
        if self.labels:
            cfg = copy.deepcopy(final.config)
            cfg["config"].setdefault("Labels", {}) if cfg["config"].get("Labels") else None
            cfg["config"]["Labels"] = dict(cfg["config"].get("Labels") or {}, **self.labels)
            image_id = self.host.register_image(self.host.blobs.put_bytes(_dump(cfg)), parent=final.image_id)
        self.host.register_image(image_id, parent=(self.host.state.image(image_id) or {}).get("Parent", ""))
        self.say(f"Successfully built {image_id[7:19]}")
        for tag in self.tags:
            self.host.tag_image(image_id, tag)
            self.say(f"Successfully tagged {reference.parse(tag).familiar}")
        return image_id

    def _split_stages(self, df: dfp.Dockerfile) -> list[tuple[str, list[dfp.Instruction]]]:
        groups: list[tuple[str, list[dfp.Instruction]]] = []
        self.meta_args: dict[str, str | None] = {}
        for inst in df.instructions:
            if inst.cmd == "FROM":
                name = inst.args[2].lower() if len(inst.args) == 3 else str(len(groups))
                groups.append((name, [inst]))
            elif not groups:
                if inst.cmd == "ARG":
                    for k, v in dfp.parse_arg(inst, {k: v for k, v in self.meta_args.items() if v is not None}):
                        self.meta_args[k] = self.buildargs.get(k, v)
                        if k in self.buildargs:
                            self.used_args.add(k)
                continue
            else:
                groups[-1][1].append(inst)
        # a config-only step followed by another one folds into it: one image for the run of them (a
        # Dockerfile of 10,000 LABELs made 10,000 images, each config bigger than the last)
        self._folds = {id(inst) for _name, insts in groups for inst, nxt in zip(insts, insts[1:])
                       if inst.cmd in _CONFIG_ONLY and nxt.cmd in _CONFIG_ONLY}
        self._chains: dict[int, tuple[str, list[str]]] = {}
        return groups

    def _needed_stages(self, groups: list[tuple[str, list[dfp.Instruction]]], last: int) -> set[int]:
        names = [g[0] for g in groups]
        needed: set[int] = set()
        todo = [last]
        while todo:
            i = todo.pop()
            if i in needed:
                continue
            needed.add(i)
            for inst in groups[i][1]:
                refs = []
                if inst.cmd == "FROM":
                    refs.append(dfp.expand(inst.args[0], self._meta_env()))
                if inst.cmd in ("COPY", "ADD") and inst.flags.get("from"):
                    refs.append(inst.flags["from"])
                for r in refs:
                    r = r.lower()
                    if r in names[:i]:
                        todo.append(names.index(r))
                    elif r.isdigit() and int(r) < i:
                        todo.append(int(r))
        return needed

    def _meta_env(self) -> dict[str, str]:
        return {k: v for k, v in self.meta_args.items() if v is not None}

    # -- one instruction ------------------------------------------------------------------------
    def execute(self, stage: Stage, inst: dfp.Instruction) -> None:
        handler = getattr(self, f"op_{inst.cmd.lower()}", None)
        if handler is None:
            raise BuildError(f"unknown instruction: {inst.cmd}", step=inst.original)
        handler(stage, inst)

    def _base(self, stage: Stage, name: str) -> None:
        if name == "scratch":
            stage.config = {"architecture": _arch(), "os": "linux", "config": {},
                            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
            stage.image_id = ""
            self.say(" ---> scratch")
            return
        for prev in self.stages[:-1]:
            if prev.name == name.lower() and prev.image_id:
                stage.image_id = prev.image_id
                stage.config = copy.deepcopy(self.host.image_config(prev.image_id))
                stage.shell = list(prev.shell)
                self.say(f" ---> {stage.image_id[7:19]}")
                return
        try:
            image_id = self.host.resolve_image(name)
        except ImageNotFound:
            image_id = self._pull_base(name)
        self._hold(image_id)
        with self.host.state.tx():  # after the hold is noted: an rmi either sees the hold or ran before this
            if self.host.state.image(image_id) is None:
                raise BuildError(f"the base image {name} was removed while the build started; build again")
        stage.image_id = image_id
        stage.config = copy.deepcopy(self.host.image_config(image_id))
        stage.config.setdefault("history", [])
        self.say(f" ---> {image_id[7:19]}")

    def _pull_base(self, name: str) -> str:
        """FROM an image that is not here: pull it, as docker does (progress as build output)."""
        def progress(msg: dict[str, Any]) -> None:
            if (msg.get("progressDetail") or {}).get("current") is None and "aux" not in msg:
                self.say(f"{msg['id']}: {msg['status']}" if msg.get("id") else str(msg.get("status", "")))
        try:
            return str(self.host.pull_sync(name, progress))
        except EngineError as exc:
            raise BuildError(str(exc), step=f"FROM {name}") from None

    def op_from(self, stage: Stage, inst: dfp.Instruction) -> None:
        name = dfp.expand(inst.args[0], self._meta_env())
        if not name:
            raise BuildError("base name (${...}) should not be blank", step=inst.original)
        self._base(stage, name)
        stage.config.setdefault("config", {})
        stage.shell = list(stage.cfg.get("Shell") or DEFAULT_SHELL)  # a base image's SHELL carries over
        stage.cmd_set = False
        triggers = stage.cfg.get("OnBuild") or []
        if triggers:
            stage.cfg["OnBuild"] = None
            for trig in triggers:
                t = dfp.parse_instruction(trig)
                if t.cmd in ("ONBUILD", "FROM", "MAINTAINER"):
                    raise BuildError(f"{t.cmd} isn't allowed as an ONBUILD trigger", step=trig)
                self.say(f" ---> Running ONBUILD trigger: {trig}")
                self.execute(stage, t)

    def op_arg(self, stage: Stage, inst: dfp.Instruction) -> None:
        changed = []
        for k, default in dfp.parse_arg(inst, stage.expansion_env()):
            if default is None and k in self.meta_args:
                default = self.meta_args[k]
            if k in self.buildargs:
                value: str | None = self.buildargs[k]
                self.used_args.add(k)
            else:
                value = default
            stage.args[k] = value
            changed.append(f"{k}={value}" if value is not None else k)
        self._metadata(stage, inst, f"ARG {' '.join(changed)}")

    def op_env(self, stage: Stage, inst: dfp.Instruction) -> None:
        pairs = dfp.parse_kv(inst, stage.expansion_env())
        stage.set_env(pairs)
        self._metadata(stage, inst, "ENV " + " ".join(f"{k}={v}" for k, v in pairs))

    def op_label(self, stage: Stage, inst: dfp.Instruction) -> None:
        pairs = dfp.parse_kv(inst, stage.expansion_env())
        if not isinstance(stage.cfg.get("Labels"), dict):
            stage.cfg["Labels"] = {}
        stage.cfg["Labels"].update(pairs)  # the stage's own copy (configs are deep-copied when taken)
        self._metadata(stage, inst, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs))

    def op_maintainer(self, stage: Stage, inst: dfp.Instruction) -> None:
        stage.config["author"] = inst.args[0]
        self._metadata(stage, inst, f"MAINTAINER {inst.args[0]}")

    def op_expose(self, stage: Stage, inst: dfp.Instruction) -> None:
        ports = dict(stage.cfg.get("ExposedPorts") or {})
        words = []
        for arg in inst.args:
            words += dfp.expand_words(arg, stage.expansion_env())
        for w in words:
            port, _, proto = w.partition("/")
            proto = (proto or "tcp").lower()
            if proto not in ("tcp", "udp", "sctp"):
                raise BuildError(f"invalid proto: {proto}", step=inst.original)
            lo, _, hi = port.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise BuildError(f"invalid containerPort: {port}", step=inst.original)
            for p in range(int(lo), int(hi or lo) + 1):
                ports[f"{p}/{proto}"] = {}
        stage.cfg["ExposedPorts"] = ports
        self._metadata(stage, inst, "EXPOSE " + " ".join(sorted(ports)))

    def op_volume(self, stage: Stage, inst: dfp.Instruction) -> None:
        vols = dict(stage.cfg.get("Volumes") or {})
        words = []
        for arg in inst.args:
            words += dfp.expand_words(arg, stage.expansion_env()) if not inst.json_form else [
                dfp.expand(arg, stage.expansion_env())]
        for v in words:
            if not v.strip():
                raise BuildError("VOLUME specified can not be an empty string", step=inst.original)
            vols[v] = {}
        stage.cfg["Volumes"] = vols
        self._metadata(stage, inst, "VOLUME " + json.dumps(words))

    def op_user(self, stage: Stage, inst: dfp.Instruction) -> None:
        stage.cfg["User"] = dfp.expand(inst.args[0], stage.expansion_env())
        self._metadata(stage, inst, f"USER {stage.cfg['User']}")

    def op_workdir(self, stage: Stage, inst: dfp.Instruction) -> None:
        path = dfp.expand(inst.args[0], stage.expansion_env())
        if not path.startswith("/"):
            path = os.path.join(stage.cfg.get("WorkingDir") or "/", path)
        stage.cfg["WorkingDir"] = os.path.normpath(path)
        text = f"/bin/sh -c #(nop) WORKDIR {stage.cfg['WorkingDir']}"
        key = self._key(stage, text, json.dumps(stage.cfg, sort_keys=True))
        hit = self._lookup(key)
        if hit:
            self._use_cache(stage, hit)
            return
        layer = self._workdir_layer(stage, stage.cfg["WorkingDir"])
        stage.image_id = self._commit(stage, layer, text, empty=layer is None, key=key)

    def _workdir_layer(self, stage: Stage, path: str) -> tuple[str, int] | None:
        """A layer creating the missing directories of ``path`` (owned by the current USER), or None."""
        if path == "/":
            return None
        view = self._mount_view(stage.image_id)
        try:
            resolved = resolve_in(view, path, follow_last=False)
            missing: list[str] = []
            parts = [p for p in resolved.split("/") if p]
            for i in range(len(parts)):
                rel = "/".join(parts[:i + 1])
                if not os.path.lexists(os.path.join(view, rel)):
                    missing.append(rel)
                elif missing:
                    break
            if not missing:
                return None
            uid = gid = 0
            user = stage.cfg.get("User") or ""
            if user:
                from ..runtime.spec import lookup_user
                try:
                    uid, gid, _ = lookup_user(user, self._layer_dirs(stage))
                except InvalidArgument:
                    uid = gid = 0
            buf = io.BytesIO()
            now = int(time.time())
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
                for i in range(len(parts)):
                    rel = "/".join(parts[:i + 1])
                    ti = tarfile.TarInfo(rel)
                    ti.type = tarfile.DIRTYPE
                    if rel in missing:
                        ti.mode, ti.uid, ti.gid, ti.mtime = 0o755, uid, gid, now
                    else:
                        st = os.lstat(os.path.join(view, rel))
                        ti.mode, ti.uid, ti.gid, ti.mtime = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                                             int(st.st_mtime))
                    tf.addfile(ti)
            buf.seek(0)
            return self.host.blobs.put_stream(buf)
        finally:
            self._release_view(view)

    def op_stopsignal(self, stage: Stage, inst: dfp.Instruction) -> None:
        from ..signals import parse_signal
        sig = dfp.expand(inst.args[0], stage.expansion_env())
        try:
            parse_signal(sig)
        except InvalidArgument as exc:
            raise BuildError(str(exc), step=inst.original) from None
        stage.cfg["StopSignal"] = sig
        self._metadata(stage, inst, f"STOPSIGNAL {sig}")

    def op_shell(self, stage: Stage, inst: dfp.Instruction) -> None:
        if not inst.json_form:
            raise BuildError("SHELL requires the arguments to be in JSON form", step=inst.original)
        stage.shell = list(inst.args)
        stage.cfg["Shell"] = list(inst.args)
        self._metadata(stage, inst, "SHELL " + json.dumps(inst.args))

    def op_cmd(self, stage: Stage, inst: dfp.Instruction) -> None:
        stage.cfg["Cmd"] = dfp.to_argv(inst, stage.shell)
        stage.cmd_set = True
        self._metadata(stage, inst, "CMD " + json.dumps(stage.cfg["Cmd"]))

    def op_entrypoint(self, stage: Stage, inst: dfp.Instruction) -> None:
        stage.cfg["Entrypoint"] = dfp.to_argv(inst, stage.shell) if inst.args and inst.args != [""] else None
        if not stage.cmd_set:
            stage.cfg["Cmd"] = None  # an ENTRYPOINT resets the base image's CMD
        self._metadata(stage, inst, "ENTRYPOINT " + json.dumps(stage.cfg["Entrypoint"]))

    def op_onbuild(self, stage: Stage, inst: dfp.Instruction) -> None:
        trigger = inst.args[0]
        t = dfp.parse_instruction(trigger)
        if t.cmd in ("ONBUILD", "FROM", "MAINTAINER"):
            raise BuildError(f"{t.cmd} isn't allowed as an ONBUILD trigger", step=inst.original)
        stage.cfg["OnBuild"] = list(stage.cfg.get("OnBuild") or []) + [trigger]
        self._metadata(stage, inst, f"ONBUILD {trigger}")

    def op_healthcheck(self, stage: Stage, inst: dfp.Instruction) -> None:
        test = dfp.healthcheck_test(inst)
        hc: dict[str, Any] = {"Test": test}
        for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                          ("start-interval", "StartInterval")):
            if inst.flags.get(flag):
                hc[key] = int(dfp.parse_duration(inst.flags[flag]) * 1e9)
        if inst.flags.get("retries"):
            hc["Retries"] = int(inst.flags["retries"])
        stage.cfg["Healthcheck"] = hc
        self._metadata(stage, inst, "HEALTHCHECK " + json.dumps(hc))

    # -- metadata and commit ----------------------------------------------------------------------
    def _key(self, stage: Stage, text: str, extra: str = "") -> str:
        h = hashlib.sha256()
        h.update(f"{stage.image_id}\n{text}\n{extra}\n".encode("utf-8", "surrogateescape"))
        h.update(json.dumps(stage.cfg, sort_keys=True).encode() if not stage.image_id else b"")
        return h.hexdigest()

    def _lookup(self, key: str) -> str | None:
        if self.cache_broken:
            return None
        image_id = self.host.state.cache_get(key)
        if image_id and self.host.state.image(image_id):
            return image_id
        return None

    def _metadata(self, stage: Stage, inst: dfp.Instruction, created_by: str) -> None:
        """Commit a step that changes only the config, or fold it into the next such step.

        A folded step adds its history entry and gets a cache key chained from the previous step's
        (so a rebuild still says which steps are cached); the last step of the run commits one image,
        which every key of the run then names in the cache.
        """
        text = f"/bin/sh -c #(nop) {created_by}"
        chain = getattr(self, "_chains", {}).get(stage.index)
        if chain is None:
            key = self._key(stage, text, json.dumps(stage.cfg, sort_keys=True))
        else:
            key = hashlib.sha256(f"{chain[0]}\n{text}\n{sorted(stage.args.items())}".encode(
                "utf-8", "surrogateescape")).hexdigest()
        if id(inst) in getattr(self, "_folds", ()):
            if self._lookup(key):
                self.say(" ---> Using cache (CACHED)")
            stage.config.setdefault("history", []).append(
                {"created": now_rfc3339(), "created_by": text, "empty_layer": True})
            folded = chain[1] if chain else []
            folded.append(key)
            self._chains[stage.index] = (key, folded)
            return
        if chain:
            del self._chains[stage.index]
        hit = self._lookup(key)
        if hit:
            self._use_cache(stage, hit)
        else:
            stage.image_id = self._commit(stage, None, text, empty=True, key=key)
        for folded_key in (chain[1] if chain else []):
            self.host.state.cache_put(folded_key, stage.image_id)

    def _use_cache(self, stage: Stage, image_id: str) -> None:
        self._hold(image_id)
        stage.image_id = image_id
        stage.config = copy.deepcopy(self.host.image_config(image_id))
        self.say(" ---> Using cache (CACHED)")
        self.say(f" ---> {image_id[7:19]}")

    def _commit(self, stage: Stage, layer: tuple[str, int] | None, created_by: str, *, empty: bool,
                key: str | None) -> str:
        cfg = stage.config
        cfg.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        cfg.setdefault("history", [])
        cfg.setdefault("architecture", _arch())
        cfg.setdefault("os", "linux")
        now = now_rfc3339()
        cfg["created"] = now
        entry: dict[str, Any] = {"created": now, "created_by": created_by}
        if empty:
            entry["empty_layer"] = True
        else:
            assert layer is not None
            cfg["rootfs"]["diff_ids"].append(layer[0])
        cfg["history"].append(entry)
        digest = self.host.blobs.put_bytes(_dump(cfg))
        self._hold(digest)
        self.host.register_image(digest, parent=stage.image_id, intermediate=True)
        if key:
            self.host.state.cache_put(key, digest)
        self.say(f" ---> {digest[7:19]}")
        return digest

    # -- COPY / ADD ------------------------------------------------------------------------------
    def op_copy(self, stage: Stage, inst: dfp.Instruction) -> None:
        self._copy(stage, inst, add=False)

    def op_add(self, stage: Stage, inst: dfp.Instruction) -> None:
        self._copy(stage, inst, add=True)

    def _copy(self, stage: Stage, inst: dfp.Instruction, add: bool) -> None:
        env = stage.expansion_env()
        args = [dfp.expand(a, env) for a in inst.args]
        if len(args) < 2:
            raise BuildError(f"{inst.cmd} requires at least two arguments", step=inst.original)
        sources, dest = args[:-1], args[-1]
        workdir = stage.cfg.get("WorkingDir") or "/"
        dest_abs = os.path.normpath(dest if dest.startswith("/") else os.path.join(workdir, dest))
        dest_is_dir = dest.endswith("/") or dest.endswith("/.") or dest in (".", "") or len(sources) > 1
        uid = gid = None
        chown = inst.flags.get("chown")
        if chown:
            from ..runtime.spec import lookup_user
            if chown.split(":")[0].isdigit() and (":" not in chown or chown.split(":")[1].isdigit()):
                u, _, g = chown.partition(":")
                uid, gid = int(u), int(g or u)
            else:
                try:
                    uid, _g, _ = lookup_user(chown, self._layer_dirs(stage))
                    gid = _g
                except InvalidArgument as exc:
                    raise BuildError(str(exc), step=inst.original) from None
        chmod = inst.flags.get("chmod")
        try:
            mode = int(chmod, 8) if chmod else None
        except ValueError:
            raise BuildError(f"invalid chmod parameter: {chmod}", step=inst.original) from None
        # what the sources are, and the checksum of what they hold (the destination depends only on the
        # parent image, which is part of the cache key)
        root = self.context
        from_ref = inst.flags.get("from")
        if from_ref:
            root = self._stage_root(from_ref, inst)
        digest = hashlib.sha256()
        items: list[tuple[str, str, list[str]]] = []   # (kind, host path, walked entries)
        url_srcs: list[str] = []
        for src in sources:
            if add and urllib.parse.urlparse(src).scheme in ("http", "https"):
                url_srcs.append(src)
                digest.update(f"url:{src}\n".encode())
                continue
            matches = self._glob(root, src, from_ref is None)
            if not matches:
                raise BuildError(f"COPY failed: file not found in build context or excluded by .dockerignore: "
                                 f"stat {src}: file does not exist" if from_ref is None else
                                 f"COPY failed: stat {src}: file does not exist", step=inst.original)
            if len(matches) > 1:
                dest_is_dir = True
            for host in matches:
                st = os.stat(host)
                if add and stat.S_ISREG(st.st_mode) and _is_archive(host):
                    items.append(("archive", host, []))
                    _hash_path(digest, host, "archive", None)
                elif stat.S_ISDIR(st.st_mode):
                    walked = self._walk(host, from_ref is None, root)
                    items.append(("dir", host, walked))
                    _hash_path(digest, host, "dir:.", None)
                    for rel in walked:
                        _hash_path(digest, os.path.join(host, rel), "dir:" + rel, None)
                else:
                    items.append(("file", host, []))
                    _hash_path(digest, host, "file:" + os.path.basename(host), None)
        text = f"{inst.cmd} " + " ".join(f"--{k}={v}" for k, v in sorted(inst.flags.items()) if k != "from") + \
            f" {' '.join(sources)} {dest}"
        created_by = f"/bin/sh -c #(nop) {text.strip()}"
        key = self._key(stage, created_by, digest.hexdigest() + f"{uid}:{gid}:{mode}:{dest_is_dir}")
        hit = self._lookup(key) if not url_srcs else None
        if hit:
            self._use_cache(stage, hit)
            return
        view = self._mount_view(stage.image_id)
        try:
            # the destination as the image sees it: symlinked parents followed, an existing directory
            # receives files rather than being replaced by them
            dest_abs = resolve_in(view, dest_abs, follow_last=False)
            if os.path.isdir(view + dest_abs) and not os.path.islink(view + dest_abs):
                dest_is_dir = True
            entries: list[tuple[str, str]] = []
            extract: list[tuple[str, str]] = []
            urls: list[tuple[str, str]] = []
            dir_modes: list[int] = []
            for src in url_srcs:
                name = os.path.basename(urllib.parse.urlparse(src).path) or "download"
                urls.append((src, os.path.join(dest_abs, name) if dest_is_dir else dest_abs))
            for kind, host, walked in items:
                if kind == "archive":
                    extract.append((host, dest_abs))
                elif kind == "dir":
                    dir_modes.append(stat.S_IMODE(os.stat(host).st_mode))
                    for rel in walked:
                        entries.append((os.path.join(host, rel), os.path.join(dest_abs, rel)))
                else:
                    entries.append((host, os.path.join(dest_abs, os.path.basename(host)) if dest_is_dir
                                    else dest_abs))
            into_dir = dest_is_dir or bool(dir_modes) or bool(extract)
            new_dir_mode = dir_modes[0] if len(dir_modes) == 1 and not dest_is_dir else 0o755
            layer = self._write_copy_layer(entries, extract, urls, uid, gid, mode,
                                           dest_abs if into_dir else None, view, new_dir_mode)
        finally:
            self._release_view(view)
        stage.image_id = self._commit(stage, layer, created_by, empty=False, key=key)

    def _glob(self, root: str, pattern: str, in_context: bool) -> list[str]:
        rel = os.path.normpath(pattern.lstrip("/")) if pattern not in ("", ".", "/") else "."
        if rel.startswith(".."):
            raise InvalidArgument(f"forbidden path outside the build context: {pattern}")
        if any(c in rel for c in "*?["):
            found = sorted(glob.glob(os.path.join(root, rel)))
        else:
            p = os.path.join(root, rel)
            found = [p] if os.path.lexists(p) else []
        if in_context and self._matcher is not None:
            found = [f for f in found if os.path.relpath(f, root) == "." or
                     not self._matcher.excluded(os.path.relpath(f, root))]
        real_root = os.path.realpath(root)
        for f in found:
            if not os.path.realpath(f).startswith(real_root):
                raise InvalidArgument(f"forbidden path outside the build context: {pattern}")
        return found

    def _walk(self, host_dir: str, in_context: bool, root: str) -> list[str]:
        out = []
        base_rel = os.path.relpath(host_dir, root)
        for dirpath, dirnames, filenames in os.walk(host_dir):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, host_dir)
            for name in sorted(dirnames) + sorted(filenames):
                rel = os.path.normpath(os.path.join(rel_dir, name))
                ctx_rel = os.path.normpath(os.path.join(base_rel, rel))
                if in_context and self._matcher is not None and self._matcher.excluded(ctx_rel):
                    if name in dirnames and not self._matcher.may_include_under(ctx_rel):
                        dirnames.remove(name)
                    continue
                out.append(rel)
        return out

    def _write_copy_layer(self, entries: list[tuple[str, str]], extract: list[tuple[str, str]],
                          urls: list[tuple[str, str]], uid: int | None, gid: int | None, mode: int | None,
                          dest_dir: str | None, view: str, new_dir_mode: int = 0o755) -> tuple[str, int]:
        """A layer tar of the copied paths. ``view`` is the parent image's filesystem: directories the copy
        only passes through (parents, an existing destination directory) keep the metadata they have there
        instead of being reset; missing ones are created root-owned 0755 (the destination directory itself
        gets ``--chown`` and, for a directory source, that directory's mode)."""
        tmpdir = self._tempdir("copy-")
        try:
            tree = os.path.join(tmpdir, "tree")
            os.makedirs(tree)
            copied: set[str] = set()
            # a staging tree: it gives directories their parents and archives their contents
            for host, target in entries:
                rel = target.lstrip("/")
                dst = os.path.join(tree, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                st = os.lstat(host)
                if stat.S_ISDIR(st.st_mode):
                    os.makedirs(dst, exist_ok=True)
                    os.chmod(dst, stat.S_IMODE(st.st_mode))
                elif stat.S_ISLNK(st.st_mode):
                    if os.path.lexists(dst):
                        os.unlink(dst)
                    os.symlink(os.readlink(host), dst)
                else:
                    if os.path.lexists(dst) and not os.path.isdir(dst):
                        os.unlink(dst)
                    shutil.copy2(host, dst)
                copied.add(rel)
            for host, target in extract:
                dst = os.path.join(tree, target.lstrip("/"))
                os.makedirs(dst, exist_ok=True)
                with tarfile.open(host, "r:*") as tf:
                    tf.extractall(dst, filter="tar")
                for dirpath, dirnames, filenames in os.walk(dst):
                    for name in dirnames + filenames:
                        copied.add(os.path.relpath(os.path.join(dirpath, name), tree))
            for url, target in urls:
                rel = target.lstrip("/")
                dst = os.path.join(tree, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                try:
                    import urllib.request
                    with urllib.request.urlopen(url, timeout=60) as resp, open(dst, "wb") as f:
                        shutil.copyfileobj(resp, f)
                        lm = resp.headers.get("Last-Modified")
                except OSError as exc:
                    raise BuildError(f"failed to download {url}: {exc}", step=f"ADD {url}") from None
                os.chmod(dst, 0o600)
                if lm:
                    import email.utils
                    ts = email.utils.parsedate_to_datetime(lm).timestamp()
                    os.utime(dst, (ts, ts))
                copied.add(rel)
            dest_rel = dest_dir.strip("/") if dest_dir else None
            if dest_rel:
                os.makedirs(os.path.join(tree, dest_rel), exist_ok=True)
            out_path = os.path.join(tmpdir, "layer.tar")
            with open(out_path, "wb") as out:
                with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
                    for dirpath, dirnames, filenames in os.walk(tree):
                        dirnames.sort()
                        for name in sorted(dirnames) + sorted(filenames):
                            host = os.path.join(dirpath, name)
                            rel = os.path.relpath(host, tree)
                            ti = tf.gettarinfo(host, arcname=rel)
                            ti.uname = ti.gname = ""
                            if rel in copied:
                                if uid is not None:
                                    ti.uid, ti.gid = uid, gid if gid is not None else uid
                                if mode is not None and not ti.issym():
                                    ti.mode = mode
                            else:
                                try:
                                    existing = os.lstat(os.path.join(view, rel))
                                except OSError:
                                    existing = None
                                if existing is not None and stat.S_ISDIR(existing.st_mode):
                                    ti.uid, ti.gid = existing.st_uid, existing.st_gid
                                    ti.mode = stat.S_IMODE(existing.st_mode)
                                    ti.mtime = int(existing.st_mtime)
                                elif rel == dest_rel:
                                    ti.uid = uid if uid is not None else 0
                                    ti.gid = (gid if gid is not None else uid) if uid is not None else 0
                                    ti.mode = mode if mode is not None else new_dir_mode
                                else:
                                    ti.uid = ti.gid = 0
                                    ti.mode = 0o755
                                    ti.mtime = 0
                            if ti.isreg():
                                with open(host, "rb") as f:
                                    tf.addfile(ti, f)
                            else:
                                tf.addfile(ti)
            with open(out_path, "rb") as f:
                return self.host.blobs.put_stream(f)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def _layer_dirs(self, stage: Stage) -> list[str]:
        if not stage.image_id:
            return []
        return self.host.unpack_image(stage.image_id)

    def _stage_root(self, ref: str, inst: dfp.Instruction) -> str:
        """A read-only merged view of a stage's or an image's filesystem (for COPY --from)."""
        image_id = ""
        for prev in self.stages[:-1]:
            if prev.name == ref.lower() or str(prev.index) == ref:
                image_id = prev.image_id
                break
        else:
            try:
                image_id = self.host.resolve_image(ref)
            except ImageNotFound:
                raise BuildError(f"COPY --from: no stage or local image named {ref} (COPY --from does not pull; "
                                 f"run: portside pull {ref})", step=inst.original) from None
        return self._mount_view(image_id, prefix="from-")

    def _release_view(self, path: str) -> None:
        if path in self._mounts:
            self._mounts.remove(path)
        self._umount(path)

    def _mount_view(self, image_id: str, prefix: str = "view-") -> str:
        """Mount a read-only merged view of an image's layers under <root>/tmp; unmounted by
        :meth:`_release_view` or at the end of the build."""
        dirs = self.host.unpack_image(image_id) if image_id else []
        target = self._tempdir(prefix)
        self._mounts.append(target)
        if not dirs:
            return target
        if layers_mod.overlay_supported():
            from ..runtime import linux
            if len(dirs) == 1:
                linux.mount(dirs[0], target, None, linux.MS_BIND, None)
                # a bind mount ignores MS_RDONLY until it is remounted: the layer must never be written
                linux.mount("none", target, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY, None)
            else:
                cwd = os.getcwd()
                os.chdir(self.host.paths.layers)
                try:
                    lowers = ":".join(os.path.relpath(d, self.host.paths.layers) for d in reversed(dirs))
                    linux.mount("overlay", target, "overlay", linux.MS_RDONLY, f"lowerdir={lowers}")
                finally:
                    os.chdir(cwd)
        else:
            layers_mod.apply_rootfs_copy(dirs, target)
        return target

    def _tempdir(self, prefix: str) -> str:
        """A temp dir under <root>/tmp named for its owner (``run-<pid>.<start>-…``): crash recovery
        unmounts and removes it once this process is gone."""
        tag = cleanup.temp_owner(self.host.paths.root)
        return tempfile.mkdtemp(prefix=f"{prefix}{tag}-", dir=self.host.paths.tmp)

    def _umount(self, path: str) -> None:
        # os.path.ismount misses a bind mount from the same file system, and rmtree through a mount
        # would delete an unpacked layer: unmount whatever is there, then delete only if nothing is
        from ..runtime import linux
        for _ in range(8):
            if not _is_mountpoint(path):
                break
            try:
                linux.umount2(path, linux.MNT_DETACH)
            except OSError:
                break
        if _is_mountpoint(path):
            return
        shutil.rmtree(path, ignore_errors=True)

    # -- RUN ------------------------------------------------------------------------------------
    def op_run(self, stage: Stage, inst: dfp.Instruction) -> None:
        argv = dfp.to_argv(inst, stage.shell)
        if not argv:
            raise BuildError("RUN requires at least one argument", step=inst.original)
        env = stage.env()
        visible_args = {k: v for k, v in stage.args.items() if v is not None and k not in env}
        created_by = (" ".join(argv) if not inst.json_form else " ".join(argv))
        if visible_args:
            created_by = f"|{len(visible_args)} " + " ".join(f"{k}={v}" for k, v in sorted(visible_args.items())) + \
                " " + created_by
        key = self._key(stage, "RUN " + json.dumps(argv), json.dumps(sorted(visible_args.items())))
        hit = self._lookup(key)
        if hit:
            self._use_cache(stage, hit)
            return
        layer = self._run_container(stage, argv, visible_args, inst)
        stage.image_id = self._commit(stage, layer, created_by, empty=False, key=key)

    def _run_container(self, stage: Stage, argv: list[str], args: dict[str, str],
                       inst: dfp.Instruction) -> tuple[str, int]:
        from ..runtime import cgroups, linux, native
        from ..runtime.spec import build_spec
        layer_dirs = self._layer_dirs(stage)
        net: tuple[int, str, str, int] | None = None
        made_cgroup = False
        work = self._tempdir("run-")
        rootfs = os.path.join(work, "rootfs")
        upper = os.path.join(work, "upper")
        for d in (rootfs, upper, os.path.join(work, "work")):
            os.makedirs(d)
        mounted = False
        cid = hashlib.sha256(os.urandom(16)).hexdigest()
        self.say(f" ---> Running in {cid[:12]}")
        try:
            if layers_mod.overlay_supported():
                lowers = layer_dirs or [os.path.join(work, "empty")]
                if not layer_dirs:
                    os.makedirs(lowers[0])
                cwd = os.getcwd()
                os.chdir(self.host.paths.layers)
                try:
                    rel = ":".join(os.path.relpath(d, self.host.paths.layers) for d in reversed(lowers))
                    linux.mount("overlay", rootfs, "overlay", 0,
                                f"lowerdir={rel},upperdir={upper},workdir={os.path.join(work, 'work')}")
                finally:
                    os.chdir(cwd)
                mounted = True
            else:
                raise EngineError("RUN needs overlayfs to record the step's changes (the copying fallback is for "
                                  "containers only)")
            files = {}
            for name, content in (("hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
                                  ("hostname", cid[:12] + "\n")):
                p = os.path.join(work, name)
                with open(p, "w") as f:
                    f.write(content)
                files[f"/etc/{name}"] = p
            files["/etc/resolv.conf"] = self._run_resolv_conf(work)
            env = [f"{k}={v}" for k, v in stage.env().items()] + [f"{k}={v}" for k, v in args.items()]
            cgroup_name = f"portside/build-{cid}"
            doc = {"Id": cid, "Path": argv[0], "Args": argv[1:],
                   "Config": {"Env": env, "User": stage.cfg.get("User") or "", "Hostname": cid[:12],
                              "WorkingDir": stage.cfg.get("WorkingDir") or "/", "Tty": False},
                   "HostConfig": {"NetworkMode": self.network}, "Mounts": []}
            try:
                spec = build_spec(doc, rootfs, layer_dirs=layer_dirs, files=files, cgroup_path=cgroup_name)
            except InvalidArgument as exc:
                raise BuildError(str(exc), step=inst.original) from None
            spec["hostname"] = cid[:12]
            for m in spec["mounts"]:
                if m["destination"] == "/etc/resolv.conf":
                    m["options"] = ["rbind", "ro"]
            cgroup = cgroups.Cgroup(cgroup_name)
            if self.op is not None:  # noted before it exists, so a kill between the two still leaves a record
                self.op.note("cgroup", cgroup_name)
            cgroup.create(spec["linux"].get("resources"))
            made_cgroup = True
            self._running = cgroup
            self._check_cancelled()  # cancelled before the cgroup was there to be killed
            if self.network != "host":
                net = self._run_netns(cid)
                for ns in spec["linux"]["namespaces"]:
                    if ns["type"] == "network":
                        ns["path"] = f"/proc/{os.getpid()}/fd/{net[0]}"
            self.host.seccomp_warm(spec)
            r, w = os.pipe()
            devnull = os.open("/dev/null", os.O_RDONLY)
            pass  # native.start makes the init a direct child: no subreaper needed
            try:
                pid = native.start(spec, work, devnull, w, w, cgroup=cgroup)
                if self.op is not None:  # pid 1 of its own pid namespace: recovery ends the tree by it
                    self.op.note_process(pid)
            except EngineError as exc:
                os.close(r)
                raise BuildError(f"The command '{shorten(' '.join(argv))}' could not run: {exc}", step=inst.original,
                                 code=exc.exit_code) from None
            finally:
                os.close(w)
                os.close(devnull)
            output = bytearray()
            partial = b""
            while True:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                output += chunk
                partial += chunk
                *lines, partial = partial.split(b"\n")
                for line in lines:
                    self.say(line.decode("utf-8", "replace"))
            if partial:
                self.say(partial.decode("utf-8", "replace"))
            os.close(r)
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            if code < 0:
                code = 128 - code
            self._check_cancelled()  # killed by cancel(): no layer from this step
            if code != 0:
                raise BuildError(f"The command '{shorten(' '.join(argv))}' returned a non-zero code: {code}",
                                 step=inst.original, log=output.decode("utf-8", "replace"), code=code)
            linux.umount2(rootfs, linux.MNT_DETACH)
            mounted = False
            lower_has = {stub: any(os.path.lexists(os.path.join(d, stub)) for d in layer_dirs)
                         for stub in MOUNT_STUBS}

            def skip(rel: str) -> bool:
                rel = rel.strip("/")
                if rel in MOUNT_STUBS and not lower_has[rel]:
                    p = os.path.join(upper, rel)
                    if os.path.isdir(p) and not os.path.islink(p):
                        return not os.listdir(p) or rel in ("proc", "sys", "dev")
                    return os.path.isfile(p) and os.path.getsize(p) == 0
                return False
            with self.host.blobs.writer() as wr:
                layers_mod.diff_tar(upper, wr, skip=skip)
                self._check_cancelled()  # a half-written layer is dropped by the writer
            return wr.digest, wr.size
        finally:
            self._running = None
            if made_cgroup:
                self._run_cgroup_gone(cgroups.Cgroup(f"portside/build-{cid}"))
            if net is not None:
                self._run_netns_gone(cid, net)
            if mounted:
                try:
                    linux.umount2(rootfs, linux.MNT_DETACH)
                except OSError:
                    pass
            shutil.rmtree(work, ignore_errors=True)

    def _run_resolv_conf(self, work: str) -> str:
        """The RUN step's resolv.conf: the host's, without loopback resolvers outside the host's netns."""
        try:
            with open("/etc/resolv.conf") as f:
                text = f.read()
        except OSError:
            text = ""
        if self.network != "host":
            text = "\n".join(ln for ln in text.splitlines()
                             if not re.match(r"\s*nameserver\s+(127\.|::1)", ln)) + "\n"
        path = os.path.join(work, "resolv.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def _run_netns(self, cid: str) -> tuple[int, str, str, int]:
        """A network namespace for a RUN step, held by the returned fd: ``lo`` only (``none``) or, as
        docker's builder, an endpoint on the default bridge. Returns (fd, veth, network id, lock fd)."""
        from ..network import ipam, setup
        from ..network.netlink import in_netns, new_netns
        try:
            nsfd = new_netns()
        except OSError as exc:
            raise EngineError(f"RUN: creating a network namespace: {exc.strerror}") from None
        veth, network_id, lock = "", "", -1
        try:
            if self.network == "none":
                in_netns(nsfd, setup._configure_inside, [])
                return nsfd, veth, network_id, -1
            from ..runtime import cleanup
            lock = cleanup.creating_lock(os.path.join(self.host.paths.root, "containers"), cid)
            self.host.ensure_predefined_networks()
            ndoc = ipam.network_by_name(self.host.state, "bridge")
            if ndoc is None:
                raise EngineError("RUN: the default bridge network is missing")
            network_id = ndoc["Id"]
            ep = self.host.network_endpoint(cid, {"Name": "/" + cid[:12]}, ndoc, [], None)
            plan = self.host.endpoint_plan(cid, ndoc, ep, 0, default_route=True)
            veth = plan["veth"]
            setup.add_endpoint(nsfd, plan)
            return nsfd, veth, network_id, lock
        except BaseException:
            self._run_netns_gone(cid, (nsfd, veth, network_id, lock))
            raise

    def _run_netns_gone(self, cid: str, net: tuple[int, str, str, int]) -> None:
        from ..network import ipam, setup
        from ..runtime import cleanup
        nsfd, veth, network_id, lock = net
        if veth and os.path.exists(f"/sys/class/net/{veth}"):
            setup.remove_endpoint(veth)
        try:
            os.close(nsfd)
        except OSError:
            pass
        if network_id:
            ipam.release(self.host.state, cid)
        if lock >= 0:  # held while the address was allocated to a container id with no row
            cleanup.creating_done(os.path.join(self.host.paths.root, "containers"), cid, lock)

    @staticmethod
    def _run_cgroup_gone(cg: Any) -> None:
        try:
            cg.kill_all()
            cg.destroy()
        except (OSError, EngineError):
            pass


BUILD_NETWORKS = ("default", "bridge", "host", "none")


class BuildCancelled(BuildError):
    """The build was cancelled (:meth:`Builder.cancel`): its client went away."""


def check_network(mode: str) -> str:
    """``build --network``: where RUN steps run (docker's modes); "" is the default bridge."""
    mode = mode or "default"
    if mode not in BUILD_NETWORKS:
        raise InvalidArgument(f'network mode "{mode}" not supported for RUN: use one of '
                              f'{", ".join(BUILD_NETWORKS)}')
    return "bridge" if mode == "default" else mode


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _arch() -> str:
    from ..images.archive import goarch
    return goarch()


def _is_mountpoint(path: str) -> bool:
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4]
                if "\\" in mp:
                    mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), mp)
                if mp == real:
                    return True
    except OSError:
        return os.path.ismount(path)
    return False


def _is_archive(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def _hash_path(h: Any, host: str, target: str, root: str | None) -> None:
    st = os.lstat(host)
    h.update(f"{target}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0{st.st_uid}\0{st.st_gid}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        h.update(os.readlink(host).encode())
    elif stat.S_ISREG(st.st_mode):
        with open(host, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    h.update(b"\n")


def fnmatch_any(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


__all__ = ["Builder", "io", "time"]
