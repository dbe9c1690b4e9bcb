"""Containers: create, start, stop, kill, remove, logs, exec, stats.

A container's runtime life belongs to its monitor (:mod:`engine.runtime.monitor`); this service writes the
bundle, starts the monitor, and reads the monitor's ``state.json`` to know how the container is doing.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import shutil
import signal as signal_mod
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import IO, TYPE_CHECKING, Any, cast

from .. import aio, logfiles, reference
from ..config import Paths
from ..errors import (CommandNotFound, Conflict, ContainerCannotRun, ContainerNotFound, EngineError,
                      ImageNotFound, InvalidArgument, NotFound, NotImplementedByEngine,
                      NotModified)
from ..runtime import cleanup, health
from ..runtime.proc import deaf_to
from ..signals import parse_signal
from ..state import State
from ..units import human_duration
from ..units import parse_rfc3339 as parse_time
from .events import Events
from .images import Images
from .networks import Networks
from .records import ContainerRecords, pid_alive, rfc3339_now
from .filters import all_labels_match, labels_pass, pattern_in
from .volumes import Volumes, dir_size

if TYPE_CHECKING:
    from ..runtime.forkserver import ForkServer

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
ZERO_TIME = "0001-01-01T00:00:00Z"
PAUSED = "paused"  # a marker in a container's folder while its cgroup is frozen (docker pause)
# HostConfig keys docker's inspect always shows (moby api/swagger.yaml HostConfig), with its value when
# unset; lists docker keeps as null until given (NULL_WHEN_EMPTY) are null here too, never []
NULL_WHEN_EMPTY = ("Binds", "CapAdd", "CapDrop", "SecurityOpt", "VolumesFrom", "Links", "ExtraHosts", "GroupAdd")
HOST_CONFIG_SHOWN: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "",
    "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
    "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None, "Dns": [], "DnsOptions": [],
    "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "Links": None, "Privileged": False,
    "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "Memory": 0, "MemorySwap": 0,
    "NanoCpus": 0, "CpuShares": 0, "CpuPeriod": 0, "CpuQuota": 0, "PidsLimit": None,
}
# what a container's summary shows of its row (Containers.list), picked out of the document by the query
LIST_FIELDS = ("$.Name", "$.Config.Image", "$.Image", "$.Path", "$.Args", "$.Created", "$.Config.Labels",
               "$.HostConfig.NetworkMode", "$.NetworkSettings.Networks", "$.Mounts", "$.Config.ExposedPorts",
               "$.GraphDriver.Data.UpperDir")
MONITOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runtime", "monitor.py")
ADJECTIVES = ["admiring", "brave", "calm", "clever", "eager", "focused", "gallant", "happy", "jolly", "keen",
              "lucid", "modest", "nifty", "quirky", "serene", "sharp", "stoic", "tender", "vibrant", "zealous"]
NAMES = ["archimedes", "babbage", "curie", "darwin", "euclid", "feynman", "galileo", "hopper", "johnson",
         "kepler", "lovelace", "meitner", "newton", "noether", "pascal", "ritchie", "shannon", "turing",
         "wozniak", "yalow"]


def _pick(words: list[str]) -> str:
    """One of ``words``, from the kernel's random source (as ``secrets.choice``, without loading OpenSSL for it)."""
    return words[int.from_bytes(os.urandom(4), "big") % len(words)]


def seccomp_warm(root: str, spec: dict[str, Any]) -> None:
    """Compile the spec's filter through the data root's BPF cache (libseccomp only on a cache miss), and
    name the cache in the spec's annotations, so a monitor restarting the container finds it too."""
    from ..runtime import seccomp
    profile = spec.get("linux", {}).get("seccomp")
    if profile:
        cache = os.path.join(root, "cache", "seccomp")
        spec.setdefault("annotations", {})[seccomp.CACHE_ANNOTATION] = cache
        seccomp.compile_profile(profile, cache)


def _seccomp_file(root: str, spec: dict[str, Any]) -> str:
    """The cache file of the spec's seccomp program (see :func:`seccomp_warm`); "" without one."""
    profile = spec.get("linux", {}).get("seccomp")
    if not profile:
        return ""
    from ..runtime import seccomp
    return seccomp.cache_file(profile, os.path.join(root, "cache", "seccomp"))


class Containers:
    """The container verbs; a container's image, volumes and networks come from those services."""

    def __init__(self, state: State, paths: Paths, records: ContainerRecords, images: Images, networks: Networks,
                 volumes: Volumes, events: Events, forkserver: ForkServer | None = None) -> None:
        self.state = state
        self.forkserver = forkserver  # where monitors are forked from (a daemon's); None: from this process
        self.paths = paths
        self.records = records
        self.images = images
        self.networks = networks
        self.volumes = volumes
        self.events = events

    # -- lookup and state -----------------------------------------------------------------------
    def resolve(self, name_or_id: str) -> str:
        """A container id for a name, an id or a unique id prefix."""
        return self.records.resolve(name_or_id)

    def runtime_state(self, cid: str) -> dict[str, Any]:
        """The monitor's view of the container (see :meth:`ContainerRecords.runtime_state`)."""
        return self.records.runtime_state(cid)

    def status(self, cid: str) -> str:
        return self.records.status(cid)

    # -- crash recovery (the system service's ``recover`` runs these) ----------------------------
    def recover_lost_monitor(self, doc: dict[str, Any]) -> bool | None:
        """A running container whose monitor is gone: end it as exited (137) and release what it held.

        Returns whether its restart policy starts it again; None when it is not ours to recover.
        """
        from ..runtime.monitor import write_json
        cid = doc["Id"]
        cdir = self.paths.container(cid)
        lock = cleanup.monitor_lock(cdir)
        if lock is None:
            return None
        try:
            st = cleanup.read_state(cdir)
            if st.get("status") not in ("running", "restarting") or pid_alive(st.get("monitor_pid", 0),
                                                                                st.get("monitor_start")):
                return None  # recovered by another process between our two reads
            pid, start = st.get("pid", 0), st.get("pid_start")
            was_running = st.get("status") == "running" and pid_alive(pid, start)
            self._kill_cgroup(doc)
            if was_running:
                try:
                    os.kill(pid, signal_mod.SIGKILL)  # the init (pid 1 of its namespace): the tree goes too
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 5
                while pid_alive(pid, start) and time.monotonic() < deadline:
                    time.sleep(0.005)
            # 137: we killed it; 255: it ended unseen (docker's code for a container whose shim was lost)
            code = 137 if was_running else 255 if st.get("status") == "running" else int(st.get("exit_code") or 0)
            policy = doc.get("HostConfig", {}).get("RestartPolicy") or {}
            name = policy.get("Name") or "no"
            limit = int(policy.get("MaximumRetryCount") or 0)
            count = int(st.get("restart_count") or 0)
            again = not os.path.exists(os.path.join(cdir, "stop-requested")) and (
                name in ("always", "unless-stopped")
                or (name == "on-failure" and code != 0 and (limit == 0 or count < limit)))
            st = dict(st, status="exited", pid=0, monitor_pid=0, exit_code=code, oom_killed=False,
                      error="container monitor died unexpectedly" + ("; the container was killed" if was_running
                                                                    else ""),
                      finished_at=rfc3339_now(), restart_count=count + 1 if again else count)
            write_json(os.path.join(cdir, "state.json"), st)
            self.release_stopped(doc)
        finally:
            os.close(lock)
        self.events.emit("container", "die", cid, name=doc.get("Name", "").lstrip("/"),
                  image=doc.get("Config", {}).get("Image", ""), exitCode=str(code))
        if again and doc.get("HostConfig", {}).get("AutoRemove"):
            again = False
        if not again and doc.get("HostConfig", {}).get("AutoRemove"):
            self.networks.release(cid)
            cleanup.remove_container_files(self.paths.root, cid, volumes=True)
            self.networks.removed(doc)
        return again

    def release_stopped(self, doc: dict[str, Any]) -> None:
        """Unmount the rootfs and remove the empty cgroup of a container no monitor owns."""
        from ..runtime import linux
        self.networks.release(doc["Id"])  # ports and veths a killed monitor left
        rootfs = self.paths.container_rootfs(doc["Id"])
        if os.path.ismount(rootfs):
            try:
                linux.umount2(rootfs, linux.MNT_DETACH)
            except OSError:
                pass
        cg = doc.get("HostConfig", {}).get("_Cgroup")
        if cg:
            from ..runtime import cgroups
            c = cgroups.Cgroup(cg)
            if c.exists() and not c.pids():
                try:
                    c.destroy()
                except Exception:  # noqa: BLE001
                    pass

    # -- create ---------------------------------------------------------------------------------
    async def create(self, config: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        """``POST /containers/create``: returns ``{"Id": …, "Warnings": []}``."""
        image_name = config.get("Image") or ""
        if not image_name:
            raise InvalidArgument("no image specified")
        if name is not None and name != "" and not NAME_RE.match(name):
            raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        image_id = self.images.resolve(image_name)
        try:
            image_doc = self.images.config(image_id)
        except NotFound:
            self._image_still_there(image_id, image_name)
            raise
        image_cfg = image_doc.get("config") or {}
        host = dict(config.get("HostConfig") or {})
        cid = os.urandom(32).hex()
        generated = not name
        if not name:
            name = self._unused_name()
        name = name.lstrip("/")
        existing = self.state.container_by_name(name)
        if existing:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container "{existing}". '
                           f"You have to remove (or rename) that container to be able to reuse that name.")
        entrypoint = config.get("Entrypoint")
        cmd = config.get("Cmd")
        if entrypoint is None:
            entrypoint = image_cfg.get("Entrypoint") or []
            if not cmd:
                cmd = image_cfg.get("Cmd") or []
        elif entrypoint == [] or entrypoint == [""]:
            entrypoint = []
            cmd = cmd or []
        cmd = list(cmd or [])
        entrypoint = list(entrypoint or [])
        argv = entrypoint + cmd
        if not argv:
            raise InvalidArgument("no command specified")
        env = merge_env(image_cfg.get("Env") or [], config.get("Env") or [])
        restart = host.get("RestartPolicy") or {"Name": "no", "MaximumRetryCount": 0}
        if restart.get("Name") not in ("", "no", "always", "on-failure", "unless-stopped"):
            raise InvalidArgument(f"invalid restart policy: {restart.get('Name')}")
        if host.get("AutoRemove") and restart.get("Name") not in ("", "no"):
            raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
        check_host_config(host)
        mount_binds, mount_volumes, tmpfs = host_mounts(host)
        health.validate(config.get("Healthcheck"))
        host["LogConfig"] = logfiles.log_config(host.get("LogConfig"))
        runtime = host.get("Runtime") or "native"
        if runtime not in ("native", "portside") and not shutil.which(runtime):
            raise InvalidArgument(f"unknown or invalid runtime name: {runtime}")
        net = host.get("NetworkMode") or "default"  # checked (and addresses allocated) by _network_for_create
        hostname = config.get("Hostname") or (cid[:12] if net != "host" else os.uname().nodename)
        labels = dict(image_cfg.get("Labels") or {})
        labels.update(config.get("Labels") or {})
        volumes = dict(image_cfg.get("Volumes") or {})
        volumes.update(config.get("Volumes") or {})
        for dest in tmpfs:  # a tmpfs over an image's VOLUME takes its place, as docker's
            volumes.pop(dest, None)
        exposed = dict(image_cfg.get("ExposedPorts") or {})
        exposed.update(config.get("ExposedPorts") or {})
        full_cfg = {
            "Hostname": hostname, "Domainname": "", "User": config.get("User") if config.get("User") is not None
            else image_cfg.get("User", ""),
            "AttachStdin": bool(config.get("AttachStdin")), "AttachStdout": bool(config.get("AttachStdout", True)),
            "AttachStderr": bool(config.get("AttachStderr", True)), "ExposedPorts": exposed or None,
            "Tty": bool(config.get("Tty")), "OpenStdin": bool(config.get("OpenStdin")),
            "StdinOnce": bool(config.get("StdinOnce")), "Env": env, "Cmd": cmd or None,
            "Healthcheck": health.merge(config.get("Healthcheck"), image_cfg.get("Healthcheck")),
            "Image": image_name, "Volumes": volumes or None,
            "WorkingDir": config.get("WorkingDir") or image_cfg.get("WorkingDir") or "",
            "Entrypoint": entrypoint or None, "OnBuild": image_cfg.get("OnBuild"), "Labels": labels,
            "StopSignal": config.get("StopSignal") or image_cfg.get("StopSignal") or "SIGTERM",
        }
        if config.get("StopTimeout") is not None:
            full_cfg["StopTimeout"] = int(config["StopTimeout"])
        shell = config.get("Shell")
        if shell:  # (the shell of a CMD-SHELL health check; docker does not take the image's)
            full_cfg["Shell"] = [shell] if isinstance(shell, str) else list(shell)
        parse_signal(str(full_cfg["StopSignal"]))
        cdir = self.paths.container(cid)
        try:
            layer_dirs = self.images.unpack(image_id)
        except (NotFound, OSError):
            self._image_still_there(image_id, image_name)
            raise
        creating = cleanup.creating_lock(os.path.dirname(cdir), cid)  # before the folder exists
        try:
            os.makedirs(os.path.join(cdir, "upper"), exist_ok=True)
            os.makedirs(os.path.join(cdir, "work"), exist_ok=True)
            os.makedirs(os.path.join(cdir, "rootfs"), exist_ok=True)
            binds = list(host.get("Binds") or []) + mount_binds
            for b in binds + mount_volumes:  # (before any volume is made)
                dest = os.path.normpath(b.split(":")[1] if ":" in b else b)
                if dest in tmpfs:
                    raise InvalidArgument(f"Duplicate mount point: {dest}")
            mounts = self._prepare_mounts(cid, binds, dict(volumes, **dict.fromkeys(mount_volumes, {})), layer_dirs)
            mounts += [{"Type": "tmpfs", "Source": "", "Destination": m["Target"], "Mode": "",
                        "RW": not m.get("ReadOnly"), "Propagation": ""}
                       for m in host.get("Mounts") or [] if m.get("Type") == "tmpfs"]
            from ..images import layers as layers_mod
            chains = [c.split(":", 1)[1] for c in layers_mod.chain_ids(
                image_doc.get("rootfs", {}).get("diff_ids", []))]
            host.setdefault("RestartPolicy", restart)
            host["Runtime"] = runtime
            net, networks = self.networks.for_create(cid, name, host, config, hostname)
            host["NetworkMode"] = net
            first_ep: dict[str, Any] = next((ep for ep in networks.values() if ep.get("IPAddress")), {})
            host["_Cgroup"] = f"portside/{cid}"
            doc = {
                "Id": cid, "Created": rfc3339_now(), "Path": argv[0], "Args": argv[1:],
                "State": {"Status": "created"}, "Image": image_id,
                "ResolvConfPath": os.path.join(cdir, "resolv.conf"),
                "HostnamePath": os.path.join(cdir, "hostname"), "HostsPath": os.path.join(cdir, "hosts"),
                "LogPath": os.path.join(cdir, "log.jsonl"), "Name": "/" + name, "RestartCount": 0,
                "Driver": "overlay2", "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
                "AppArmorProfile": "", "ExecIDs": None, "HostConfig": host,
                "GraphDriver": {"Name": "overlay2", "Data": {
                    "UpperDir": os.path.join(cdir, "upper"), "WorkDir": os.path.join(cdir, "work"),
                    "MergedDir": os.path.join(cdir, "rootfs"), "Chains": chains}},
                "Mounts": mounts, "Config": full_cfg,
                "NetworkSettings": {"Bridge": "", "Ports": {}, "Networks": networks,
                                    "IPAddress": first_ep.get("IPAddress", "") if "bridge" in networks else "",
                                    "IPPrefixLen": first_ep.get("IPPrefixLen", 0) if "bridge" in networks else 0,
                                    "Gateway": first_ep.get("Gateway", "") if "bridge" in networks else "",
                                    "MacAddress": ""},
            }
            self._write_etc_files(cid, hostname, net)
            self.networks.etc_files(cid, hostname, networks)
            with self.state.tx():  # the image is checked and referenced at once: `rmi` sees one or neither
                self._image_still_there(image_id, image_name)
                if generated and self.state.container_by_name(name):  # a create running at once took it
                    name = self._renamed(doc, name, self._unused_name())
                for m in mounts:  # a volume removed since it was prepared is made again
                    if m["Type"] == "volume" and self.state.volume(m["Name"]) is None:
                        self._copy_up(self.volumes.ensure(m["Name"], anonymous=bool(m.get("Anonymous"))),
                                      m["Destination"], layer_dirs)
                if not self.state.insert_container(cid, name, image_id, doc):
                    other = self.state.container_by_name(name) or ""
                    raise Conflict(f'Conflict. The container name "/{name}" is already in use by container '
                                   f'"{other}". You have to remove (or rename) that container to be able to reuse '
                                   f"that name.")
        except BaseException:
            shutil.rmtree(cdir, ignore_errors=True)
            self.networks.release_ips(cid)
            raise
        finally:
            cleanup.creating_done(os.path.dirname(cdir), cid, creating)
        self.events.emit("container", "create", cid, name=name, image=image_name)
        return {"Id": cid, "Warnings": []}

    def _unused_name(self) -> str:
        """A generated name (``adjective_scientist``) no container has, as far as 20 tries find one."""
        for _ in range(20):
            name = f"{_pick(ADJECTIVES)}_{_pick(NAMES)}"
            if not self.state.container_by_name(name):
                break
        return name

    @staticmethod
    def _renamed(doc: dict[str, Any], old: str, new: str) -> str:
        """Put ``new`` in place of ``old`` in a new container's document (its name and DNS names)."""
        doc["Name"] = "/" + new
        for ep in (doc.get("NetworkSettings") or {}).get("Networks", {}).values():
            if ep.get("DNSNames"):
                ep["DNSNames"] = [new if n == old else n for n in ep["DNSNames"]]
        return new

    def _image_still_there(self, image_id: str, image_name: str) -> None:
        """Raise docker's "No such image" when ``image_id`` was removed since ``image_name`` was resolved."""
        if self.state.image(image_id) is None:
            self.images.resolve(image_name)  # the message for the name given, if it names nothing now
            raise ImageNotFound(f"No such image: {image_name}", image=image_name)

    def _prepare_mounts(self, cid: str, binds: builtins.list[str], volumes: dict[str, Any],
                        layer_dirs: builtins.list[str]) -> builtins.list[dict[str, Any]]:
        """``-v`` binds and volumes → ``Mounts``. Every bind is checked before anything is made (a missing
        host directory, a named volume), so a refused one leaves nothing behind."""
        from ..runtime.spec import MASKED_PATHS
        parsed = []
        seen: set[str] = set()
        for spec in binds:
            parts = spec.split(":")
            if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
                raise InvalidArgument(f"invalid volume specification: '{spec}'")
            src, dest = parts[0], parts[1]
            mode = parts[2] if len(parts) == 3 else "rw"
            kind = "bind" if src.startswith("/") else "volume"
            if not dest.startswith("/"):
                raise InvalidArgument(f"invalid volume specification: '{spec}': invalid mount config for type "
                                      f"\"{kind}\": invalid mount path: '{dest}' mount path must be absolute")
            if any(m not in ("ro", "rw", "z", "Z", "nocopy") for m in mode.split(",")):
                raise InvalidArgument(f"invalid mode: {mode}")
            dest = os.path.normpath(dest)
            if dest == "/":
                raise InvalidArgument(f"invalid volume specification: '{spec}': invalid mount config for type "
                                      f"\"{kind}\": invalid specification: destination can't be '/'")
            if dest == "/proc" or dest.startswith("/proc/"):
                raise InvalidArgument(f"invalid volume specification: '{spec}': \"{dest}\" cannot be mounted "
                                      f"because it is " + ("not of type proc" if dest == "/proc"
                                                           else "inside /proc"))
            masked = next((p for p in MASKED_PATHS if dest == p or dest.startswith(p + "/")), "")
            if masked:
                raise InvalidArgument(f"invalid volume specification: '{spec}': cannot mount onto {dest}: {masked} "
                                      f"is masked in containers (hidden under an empty read-only tmpfs)")
            if dest in seen:
                raise InvalidArgument(f"Duplicate mount point: {dest}")
            seen.add(dest)
            if kind == "volume" and not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", src):
                raise InvalidArgument(f'create {src}: "{src}" includes invalid characters for a local volume '
                                      f'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to '
                                      f'pass a host directory, use absolute path')
            _check_mount_target(spec, kind, src, dest, layer_dirs)
            parsed.append((kind, src, dest, mode, len(parts) == 3, "ro" not in mode.split(",")))
        mounts: builtins.list[dict[str, Any]] = []
        for kind, src, dest, mode, explicit, rw in parsed:
            if kind == "bind":
                if not os.path.exists(src):
                    os.makedirs(src, exist_ok=True)  # docker creates a missing bind source for -v
                mounts.append({"Type": "bind", "Source": src, "Destination": dest, "Mode": mode if explicit
                               else "", "RW": rw, "Propagation": "rprivate"})
            else:
                path = self.volumes.ensure(src)
                self._copy_up(path, dest, layer_dirs)
                mounts.append({"Type": "volume", "Name": src, "Source": path, "Destination": dest,
                               "Driver": "local", "Mode": "z", "RW": rw, "Propagation": ""})
        for dest in volumes:
            dest = os.path.normpath(dest)
            if dest in seen:
                continue
            vname = os.urandom(32).hex()
            path = self.volumes.ensure(vname, anonymous=True)
            self._copy_up(path, dest, layer_dirs)
            mounts.append({"Type": "volume", "Name": vname, "Source": path, "Destination": dest, "Driver": "local",
                           "Mode": "", "RW": True, "Propagation": "", "Anonymous": True})
        return mounts

    def _copy_up(self, volume_path: str, dest: str, layer_dirs: builtins.list[str]) -> None:
        """A new, empty volume gets the image's content at its mount point, as docker does."""
        try:
            if os.listdir(volume_path):
                return
        except FileNotFoundError:  # removed meanwhile: made again (and filled) as the container's row goes in
            return
        for d in reversed(layer_dirs):
            src = os.path.join(d, dest.lstrip("/"))
            if os.path.isdir(src) and not os.path.islink(src):
                subprocess.run(["cp", "-a", src + "/.", volume_path], check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                break

    def _write_etc_files(self, cid: str, hostname: str, net: str) -> None:
        cdir = self.paths.container(cid)
        with open(os.path.join(cdir, "hostname"), "w") as f:
            f.write(hostname + "\n")
        with open(os.path.join(cdir, "hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                    "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                    "ff02::2\tip6-allrouters\n")
            if net != "host":
                f.write(f"127.0.1.1\t{hostname}\n")
        try:
            with open("/etc/resolv.conf") as f:
                resolv = f.read()
        except OSError:
            resolv = ""
        if net != "host":
            # loopback resolvers of the host are unreachable from a separate network namespace
            lines = [ln for ln in resolv.splitlines() if not re.match(r"\s*nameserver\s+(127\.|::1)", ln)]
            resolv = "\n".join(lines) + "\n"
        with open(os.path.join(cdir, "resolv.conf"), "w") as f:
            f.write(resolv)

    # -- start ----------------------------------------------------------------------------------
    def _bundle(self, cid: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Write the OCI bundle (config.json) and the monitor's options; returns both, as the monitor loads them."""
        from ..runtime.spec import build_spec
        cdir = self.paths.container(cid)
        layer_dirs = self.images.unpack(doc["Image"])
        files = {"/etc/resolv.conf": doc["ResolvConfPath"], "/etc/hostname": doc["HostnamePath"],
                 "/etc/hosts": doc["HostsPath"]}
        runtime = doc["HostConfig"].get("Runtime") or "native"
        cg = doc["HostConfig"]["_Cgroup"]
        spec = build_spec(doc, os.path.join(cdir, "rootfs"), layer_dirs=layer_dirs, files=files,
                          cgroup_path=cg if runtime == "native" else "/" + cg)
        if runtime == "native":
            seccomp_warm(self.paths.root, spec)  # the forked monitor finds the BPF compiled
        rootfs = self._rootfs_plan(cid, layer_dirs)
        opts = {"id": cid, "root": self.paths.root, "rootfs": rootfs, "restart": doc["HostConfig"].get("RestartPolicy"),
                "autoremove": bool(doc["HostConfig"].get("AutoRemove")), "runtime": runtime,
                "cgroup": cg if runtime == "native" else ""}
        log_cfg = doc["HostConfig"].get("LogConfig")
        if log_cfg:
            opts["log"] = list(logfiles.limits(log_cfg.get("Config") or {}))
        checks = health.plan(doc["Config"].get("Healthcheck"), spec, doc["Config"].get("Shell"), cg)
        if checks is not None:  # (a container without a check pays for none of this)
            checks["bpf"] = _seccomp_file(self.paths.root, spec)
            opts["health"] = checks
        net_plan = self.networks.plan(cid, doc, spec)  # may point the spec at another container's netns
        if net_plan is not None:
            opts["net"] = net_plan
        for fname, content in (("config.json", spec), ("monitor.json", opts)):
            tmp = os.path.join(cdir, fname + ".tmp")
            with open(tmp, "w") as f:
                f.write(json.dumps(content))  # json.dump would encode in Python, not C: 4x slower here
            os.replace(tmp, os.path.join(cdir, fname))
        return {"opts": opts, "spec": spec, "state": cleanup.read_state(cdir)}

    def _rootfs_plan(self, cid: str, layer_dirs: builtins.list[str]) -> dict[str, Any]:
        """The monitor's rootfs plan: an overlay of the image's layers (or, without overlayfs, a copy made now)."""
        from ..images import layers as layers_mod
        cdir = self.paths.container(cid)
        overlay = layers_mod.overlay_supported()
        rootfs = {"target": os.path.join(cdir, "rootfs"), "upper": os.path.join(cdir, "upper"),
                  "work": os.path.join(cdir, "work"), "lower": layer_dirs, "layers_root": self.paths.layers,
                  "copy": not overlay}
        target = os.path.join(cdir, "rootfs")
        if not overlay and not os.listdir(target):
            layers_mod.apply_rootfs_copy(layer_dirs, target)
        return rootfs

    # -- files in and out (docker cp) -----------------------------------------------------------
    async def fs_view(self, name_or_id: str) -> dict[str, Any]:
        """What :mod:`engine.runtime.archive` needs to reach a container's files: a running container's
        pid, or a stopped one's rootfs plan, mounts and read-only flag."""
        cid = self.resolve(name_or_id)
        doc = self.state.container(cid)
        if doc is None:
            raise ContainerNotFound(f"No such container: {name_or_id}", container=name_or_id)
        rt = self.runtime_state(cid)
        if rt.get("status") in ("running", "paused") and rt.get("pid") and pid_alive(rt["pid"], rt.get("pid_start")):
            return {"pid": rt["pid"]}
        layer_dirs = await aio.to_thread(self.images.unpack, doc["Image"])
        return {"rootfs": self._rootfs_plan(cid, layer_dirs), "mounts": doc.get("Mounts") or [],
                "readonly": bool(doc["HostConfig"].get("ReadonlyRootfs"))}

    async def archive_stat(self, name_or_id: str, path: str) -> dict[str, Any]:
        """docker's stat of ``path`` in the container (``HEAD /containers/{id}/archive``)."""
        from ..runtime import archive
        with archive.naming(name_or_id):
            return await archive.stat_path(await self.fs_view(name_or_id), archive.container_path(path))

    async def archive_get(self, name_or_id: str, path: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        """The stat of ``path`` and a tar of it, streamed (``GET /containers/{id}/archive``: docker cp out)."""
        from ..runtime import archive
        with archive.naming(name_or_id):
            return await archive.get_archive(await self.fs_view(name_or_id), archive.container_path(path))

    async def archive_put(self, name_or_id: str, path: str, source: IO[bytes], *,
                          no_overwrite_dir_non_dir: bool = False, copy_uidgid: bool = False) -> None:
        """Extract a tar into the directory ``path`` (``PUT /containers/{id}/archive``: docker cp in)."""
        from ..runtime import archive
        with archive.naming(name_or_id):
            await archive.put_archive(await self.fs_view(name_or_id), archive.container_path(path), source,
                                      no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, copy_uidgid=copy_uidgid)

    async def start(self, name_or_id: str, *, attach: tuple[int, int, int] | None = None) -> int | None:
        """Start a container through its monitor.

        With ``attach`` (stdin, stdout, stderr fds) the monitor copies the output there too, and the
        returned fd yields the monitor's final ``{"exit": code}`` line. Raises docker's start errors.
        """
        cid = self.records.resolve(name_or_id)
        doc = self.state.container(cid)
        assert doc is not None
        status = self.records.status(cid)
        if status in ("running", "restarting"):
            if attach is None:
                raise NotModified(f"container {cid[:12]} is already started", container=cid)
            raise Conflict(f"container {cid[:12]} is already running")
        # the previous run's monitor may still be unmounting: let it finish before mounting again
        if not await self._wait_monitor(cid, 10):
            raise Conflict(f"container {cid[:12]} is still being cleaned up; try again")
        for stale in ("stop-requested", PAUSED):  # (a paused container whose monitor was lost: a fresh run)
            try:
                os.unlink(os.path.join(self.paths.container(cid), stale))
            except FileNotFoundError:
                pass
        bundle = self._bundle(cid, doc)
        r, w = os.pipe()
        dups: builtins.list[int] = []
        attach_fds: builtins.list[int] = []
        for fd in attach or ():
            if fd < 0:
                attach_fds.append(-1)
                continue
            d = os.dup(fd)
            dups.append(d)
            attach_fds.append(d)
        try:
            if (doc["HostConfig"].get("Runtime") or "native") == "native":
                from ..runtime import monitor, native, seccomp
                del native  # imported here so the forked monitor finds it loaded
                profile = bundle["spec"].get("linux", {}).get("seccomp")
                if profile:
                    seccomp.compile_profile(profile)  # cached in this process, inherited by the fork
                if self.forkserver is None or not self.forkserver.spawn(self.paths.container(cid), w, attach_fds):
                    monitor.launch(self.paths.container(cid), w, attach_fds, exec_monitor=attach is None,
                                   loaded=bundle, network=self.networks.monitor_side)
            else:
                argv = [sys.executable, "-I", "-S", MONITOR, self.paths.container(cid), str(w)]
                argv += [str(fd) for fd in attach_fds]
                env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
                proc = subprocess.Popen(argv, pass_fds=[w] + dups, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                        start_new_session=True)
                proc.wait()
        finally:
            os.close(w)
            for d in dups:
                os.close(d)
        await aio.readable(r)  # on a loop, other starts go on while this monitor sets its container up
        line = read_line(r)
        if not line:
            os.close(r)
            raise EngineError(f"failed to start container {cid[:12]}: the monitor exited without a word")
        msg = json.loads(line)
        if "error" in msg:
            read_line(r)
            os.close(r)
            kind = msg.get("kind")
            text = f"failed to create task for container: {msg['error']}"
            if kind == "notfound" or (kind == "runtime" and ("not found" in msg["error"]
                                                              or "no such file" in msg["error"])):
                raise CommandNotFound(text, container=cid)
            if kind in ("cannotrun", "runtime"):
                raise ContainerCannotRun(text, container=cid)
            raise EngineError(text, container=cid)
        self.events.emit("container", "start", cid, name=doc["Name"].lstrip("/"), image=doc["Config"]["Image"])
        if attach is not None:
            return r
        os.close(r)
        return None

    # -- stop / kill / restart ------------------------------------------------------------------
    def _signal(self, cid: str, sig: int) -> bool:
        st = self.records.runtime_state(cid)
        pid = st.get("pid", 0)
        if st.get("status") == "running" and pid_alive(pid, st.get("pid_start")):
            try:
                os.kill(pid, sig)
                return True
            except ProcessLookupError:
                return False
        return False

    async def _wait_pid(self, pid: int, start: int | None, timeout: float | None) -> bool:
        """Wait for a process (not necessarily our child) to end, without blocking a loop."""
        if not pid_alive(pid, start):
            return True
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return True
        try:
            if not pid_alive(pid, start):  # it may have ended before the pidfd was opened
                return True
            return await aio.readable(fd, timeout)
        finally:
            os.close(fd)

    async def _wait_stopped(self, cid: str, timeout: float | None) -> bool:
        """Wait until the container no longer runs and its exit is recorded (or the timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            st = self.records.runtime_state(cid)
            if st.get("status") not in ("running", "restarting"):
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if st.get("status") == "running" and pid_alive(st.get("pid", 0), st.get("pid_start")):
                await self._wait_pid(st["pid"], st.get("pid_start"), remaining)
            else:  # exited, and the monitor records it within a moment; or restarting after a back-off
                await aio.sleep(0.002)

    async def _wait_monitor(self, cid: str, timeout: float) -> bool:
        """Wait until the container's monitor has finished (unmounted, removed its cgroup)."""
        st = self.records.runtime_state(cid)
        mpid = st.get("monitor_pid", 0)
        if not mpid:
            return True
        return await self._wait_pid(mpid, st.get("monitor_start"), timeout)

    async def stop(self, name_or_id: str, t: int | None = None, signal: str | None = None) -> bool:
        """Send the stop signal, then SIGKILL when ``t`` seconds pass. False when it was not running."""
        cid = self.records.resolve(name_or_id)
        doc = self.state.container(cid) or {}
        st = self.records.runtime_state(cid)
        if st.get("status") not in ("running", "restarting"):
            return False
        self._thaw(cid)
        with open(os.path.join(self.paths.container(cid), "stop-requested"), "w"):
            pass
        if t is None:
            t = doc.get("Config", {}).get("StopTimeout", 10)
        sig = parse_signal(signal or doc.get("Config", {}).get("StopSignal"), signal_mod.SIGTERM)
        if st.get("status") == "restarting" and st.get("monitor_pid"):
            os.kill(st["monitor_pid"], signal_mod.SIGTERM)
        if self._signal(cid, sig) or st.get("status") == "restarting":
            deaf = st.get("status") == "running" and deaf_to(int(st.get("pid") or 0), sig)
            if deaf or not await self._wait_stopped(cid, t if t >= 0 else None):
                self._signal(cid, signal_mod.SIGKILL)
                self._kill_cgroup(doc)
                await self._wait_stopped(cid, 10)
        else:
            await self._wait_stopped(cid, 2)
        await self._wait_monitor(cid, 5)  # its clean-up frees the published ports: reusable once stop returns
        self.events.emit("container", "stop", cid, name=doc.get("Name", "").lstrip("/"))
        return True

    def _kill_cgroup(self, doc: dict[str, Any]) -> None:
        cg = doc.get("HostConfig", {}).get("_Cgroup")
        if cg:
            from ..runtime import cgroups
            try:
                cgroups.Cgroup(cg).kill_all(signal_mod.SIGKILL)
            except Exception:  # noqa: BLE001
                pass

    async def pause(self, name_or_id: str) -> None:
        """``docker pause``: freeze the container's cgroup; its state says ``paused`` until unpaused."""
        cid = self.records.resolve(name_or_id)
        doc = self.state.container(cid) or {}
        if self.records.status(cid) != "running":
            raise Conflict(f"Container {cid} is not running")
        marker = os.path.join(self.paths.container(cid), PAUSED)
        if os.path.exists(marker):
            raise Conflict(f"Container {cid} is already paused")
        cg = doc.get("HostConfig", {}).get("_Cgroup")
        if not cg:
            raise NotImplementedByEngine("pausing needs the container's cgroup, and this one has none")
        from ..runtime import cgroups
        await aio.to_thread(cgroups.Cgroup(cg).freeze, True)
        with open(marker, "w"):
            pass
        self.events.emit("container", "pause", cid, name=doc.get("Name", "").lstrip("/"),
                         image=doc.get("Config", {}).get("Image", ""))

    async def unpause(self, name_or_id: str) -> None:
        cid = self.records.resolve(name_or_id)
        doc = self.state.container(cid) or {}
        if not os.path.exists(os.path.join(self.paths.container(cid), PAUSED)) or self.records.status(cid) != "running":
            raise Conflict(f"Container {cid} is not paused")
        self._thaw(cid)
        self.events.emit("container", "unpause", cid, name=doc.get("Name", "").lstrip("/"),
                         image=doc.get("Config", {}).get("Image", ""))

    def _thaw(self, cid: str) -> None:
        """Thaw a paused container (before it is signalled, stopped or removed, as dockerd does)."""
        marker = os.path.join(self.paths.container(cid), PAUSED)
        if not os.path.exists(marker):
            return
        cg = (self.state.container(cid) or {}).get("HostConfig", {}).get("_Cgroup")
        if cg:
            from ..runtime import cgroups
            try:
                cgroups.Cgroup(cg).freeze(False)
            except OSError:
                pass  # the cgroup is gone with its processes: nothing is frozen
        os.unlink(marker)

    async def commit(self, name_or_id: str, *, repo: str | None = None, comment: str = "", author: str = "",
                     changes: builtins.list[str] | None = None, pause: bool = True,
                     config: dict[str, Any] | None = None) -> str:
        """``docker commit``: the container's changes (its overlay upper dir) as a new layer over its image,
        with its config (then ``config``, then ``changes``, as dockerd merges them). Returns the image id."""
        import json as json_mod

        from ..images import layers
        from ..runtime import cgroups
        from .images import changes_to_config
        cid = self.records.resolve(name_or_id)
        doc = self.state.container(cid) or {}
        if repo:
            reference.parse(repo)
        overrides = dict(config or {})
        overrides.update(changes_to_config(changes) if changes else {})
        base = self.images.config(doc["Image"])
        keys = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts",
                "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint",
                "OnBuild", "Labels", "StopSignal")
        ccfg = {k: v for k, v in (doc.get("Config") or {}).items() if k in keys}
        ccfg.update({k: v for k, v in overrides.items() if k in keys})
        upper = os.path.join(self.paths.container(cid), "upper")
        cg = doc.get("HostConfig", {}).get("_Cgroup")
        freeze = bool(pause and cg and self.records.status(cid) == "running"
                      and not os.path.exists(os.path.join(self.paths.container(cid), PAUSED)))

        def skip(rel: str) -> bool:  # what the engine mounts over the rootfs is not the container's change
            rel = rel.strip("/")
            return rel.split("/")[0] in ("proc", "sys", "dev") or rel in ("etc/hosts", "etc/hostname",
                                                                           "etc/resolv.conf")

        def write_layer() -> tuple[str, int]:
            if freeze:
                cgroups.Cgroup(cg).freeze(True)
            try:
                with self.images.blobs.writer() as wr:
                    layers.diff_tar(upper, wr, skip=skip)
                return wr.digest, wr.size
            finally:
                if freeze:
                    cgroups.Cgroup(cg).freeze(False)
        with self.images.operation("commit"):
            diff_id, _size = await aio.to_thread(write_layer)
            now = rfc3339_now()
            cfg = dict(base, created=now, config=ccfg)
            cfg["rootfs"] = {"type": "layers",
                             "diff_ids": builtins.list(base.get("rootfs", {}).get("diff_ids", [])) + [diff_id]}
            entry: dict[str, Any] = {"created": now,  # as dockerd: the container's command
                                     "created_by": " ".join((doc.get("Config") or {}).get("Cmd") or [])}
            if author:
                cfg["author"] = entry["author"] = author
            if comment:
                entry["comment"] = comment
            cfg["history"] = builtins.list(base.get("history") or []) + [entry]
            digest = self.images.blobs.put_bytes(json_mod.dumps(cfg, separators=(",", ":")).encode())
            self.images.register(digest, parent=doc["Image"], repo_tags=[repo] if repo else [])
        self.events.emit("container", "commit", cid, name=doc.get("Name", "").lstrip("/"), comment=comment,
                         imageID=digest, imageRef=repo or "")
        return digest

    async def kill(self, name_or_id: str, signal: str | int | None = "SIGKILL") -> None:
        cid = self.records.resolve(name_or_id)
        self._thaw(cid)
        sig = parse_signal(signal)
        doc = self.state.container(cid) or {}
        if self.records.status(cid) != "running":
            raise Conflict(f"Cannot kill container: {name_or_id}: container {cid} is not running")
        if sig == signal_mod.SIGKILL:
            with open(os.path.join(self.paths.container(cid), "stop-requested"), "w"):
                pass
        if not self._signal(cid, sig):
            raise Conflict(f"Cannot kill container: {name_or_id}: container {cid} is not running")
        # recorded at once, ahead of the container's ``die`` (its monitor writes that after reaping it)
        self.events.emit("container", "kill", cid, name=doc.get("Name", "").lstrip("/"), signal=str(sig))
        if sig == signal_mod.SIGKILL:
            await self._wait_stopped(cid, 10)

    async def restart(self, name_or_id: str, t: int | None = None) -> None:
        cid = self.records.resolve(name_or_id)
        await self.stop(cid, t)
        await self.start(cid)
        self.events.emit("container", "restart", cid)

    async def wait(self, name_or_id: str, condition: str = "not-running") -> dict[str, Any]:
        cid = self.records.resolve(name_or_id)
        if condition == "next-exit" or self.records.status(cid) in ("running", "restarting"):
            await self._wait_stopped(cid, None)
        st = self.records.runtime_state(cid)
        return {"StatusCode": st.get("exit_code", 0), "Error": None}

    # -- remove ---------------------------------------------------------------------------------
    async def delete(self, name_or_id: str, force: bool = False, v: bool = False) -> None:
        cid = self.records.resolve(name_or_id)
        status = self.records.status(cid)
        if status in ("running", "restarting"):
            if not force:
                cname = (self.state.container(cid) or {}).get("Name") or "/" + name_or_id
                if os.path.exists(os.path.join(self.paths.container(cid), PAUSED)):
                    status = "paused"
                raise Conflict(f"cannot remove container \"{cname}\": container is {status}: stop the container "
                               f"before removing or force remove")
            try:
                await self.kill(cid, "SIGKILL") if status == "running" else await self.stop(cid, 0)
            except Conflict:
                pass  # it exited on its own since we looked: nothing left to kill
            await self._wait_stopped(cid, 10)
        await self._wait_monitor(cid, 10)
        lock = await self._monitor_lock(cid, force, 10)
        try:
            self._remove_files(cid, v)
        finally:
            if lock is not None:
                os.close(lock)

    async def _monitor_lock(self, cid: str, force: bool, timeout: float) -> int | None:
        """The container's monitor lock, waited for until no monitor (nor a monitor's helper) is starting
        or ending it; a start that won the race is killed when ``force``. None when the folder is gone."""
        cdir = self.paths.container(cid)
        deadline = time.monotonic() + timeout
        while True:
            fd = cleanup.monitor_lock(cdir)
            if fd is not None or not os.path.isdir(cdir) or time.monotonic() > deadline:
                return fd
            if force:
                self._signal(cid, signal_mod.SIGKILL)
            elif self.records.status(cid) in ("running", "restarting"):
                cname = (self.state.container(cid) or {}).get("Name") or "/" + cid
                raise Conflict(f"cannot remove container \"{cname}\": container is running: stop the container "
                               f"before removing or force remove")
            await aio.sleep(0.005)

    def _remove_files(self, cid: str, v: bool) -> None:
        found = self.state.container(cid)
        if found is None:  # a --rm container: its monitor removed it as it ended
            self.events.wake()
            return
        doc = found
        cg = doc.get("HostConfig", {}).get("_Cgroup")
        if cg:
            from ..runtime import cgroups
            c = cgroups.Cgroup(cg)
            if c.exists():
                try:
                    c.kill_all(signal_mod.SIGKILL)
                    c.destroy()
                except Exception:  # noqa: BLE001
                    pass
        runtime = doc.get("HostConfig", {}).get("Runtime") or "native"
        if runtime not in ("native", "portside") and shutil.which(runtime):
            # a monitor killed before its `runc delete`: the runtime's state dir and its cgroups in the
            # hierarchies we do not manage (name=systemd, unified) are left for us
            subprocess.run([runtime, "--root", os.path.join(self.paths.root, "runtime", os.path.basename(runtime)),
                            "delete", "-f", cid], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        self.networks.release(cid)
        cleanup.remove_container_files(self.paths.root, cid, volumes=v)
        self.networks.removed(doc)
        self.events.wake()  # the destroy event is in the database: wake readers

    async def prune(self, filters: dict[str, builtins.list[str]] | None = None) -> dict[str, Any]:
        """Remove stopped containers; ``label`` / ``label!`` / ``until`` filters narrow it, as dockerd's."""
        from ..units import parse_since
        filters = filters or {}
        until = [parse_since(u) for u in filters.get("until", [])]
        deleted = []
        reclaimed = 0
        for doc in self.state.containers():
            if self.records.status(doc["Id"]) in ("running", "restarting"):
                continue
            if not labels_pass((doc.get("Config") or {}).get("Labels") or {}, filters):
                continue
            if until and not all(parse_time(doc["Created"]) < u for u in until):
                continue
            reclaimed += dir_size(os.path.join(self.paths.container(doc["Id"]), "upper"))
            await self.delete(doc["Id"])
            deleted.append(doc["Id"])
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    async def rename(self, name_or_id: str, new_name: str) -> None:
        cid = self.records.resolve(name_or_id)
        if not NAME_RE.match(new_name):
            raise InvalidArgument(f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        new_name = new_name.lstrip("/")
        doc = self.state.container(cid) or {}
        if doc.get("Name", "").lstrip("/") == new_name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        other = self.state.container_by_name(new_name)
        if other:
            raise Conflict(f'Error when allocating new name: Conflict. The container name "/{new_name}" is already in '
                           f'use by container "{other}". You have to remove (or rename) that container to be able '
                           f"to reuse that name.")
        doc["Name"] = "/" + new_name
        self.state.update_container(cid, doc, name=new_name)
        self.events.emit("container", "rename", cid, name=new_name)

    # -- list / inspect -------------------------------------------------------------------------
    def _state(self, cid: str) -> tuple[dict[str, Any], int]:
        """Inspect's ``State`` of a container (from its monitor's record), and its restart count."""
        st = self.records.runtime_state(cid)
        status = st.get("status") or "created"
        paused = status == "running" and os.path.exists(os.path.join(self.paths.container(cid), PAUSED))
        state = {
            "Status": "paused" if paused else status, "Running": status == "running", "Paused": paused,
            "Restarting": status == "restarting",
            "OOMKilled": bool(st.get("oom_killed")), "Dead": False, "Pid": st.get("pid", 0) if status == "running"
            else 0, "ExitCode": st.get("exit_code", 0), "Error": st.get("error", ""),
            "StartedAt": st.get("started_at", ZERO_TIME), "FinishedAt": st.get("finished_at", ZERO_TIME),
        }
        checks = health.shown(st.get("health"), status == "running" and not paused)  # (docker stops checks on pause)
        if checks is not None:
            state["Health"] = checks
        return state, st.get("restart_count", 0)

    def _compose(self, doc: dict[str, Any]) -> dict[str, Any]:
        doc = dict(doc)
        doc["State"], doc["RestartCount"] = self._state(doc["Id"])
        doc["NetworkSettings"] = dict(doc.get("NetworkSettings") or {},
                                      Ports=self.networks.summary(doc, doc["State"]["Running"])[1])
        host = {k: v for k, v in doc["HostConfig"].items() if not k.startswith("_")}
        for key in NULL_WHEN_EMPTY:
            if not host.get(key):
                host[key] = None
        if not host.get("Init"):
            host.pop("Init", None)  # a pointer docker leaves out unless --init was given
        doc["HostConfig"] = {**HOST_CONFIG_SHOWN, **host}
        doc["Mounts"] = [{k: v for k, v in m.items() if k != "Anonymous"} for m in doc.get("Mounts", [])]
        gd = dict(doc.get("GraphDriver", {}))
        gd["Data"] = {k: v for k, v in (gd.get("Data") or {}).items() if k != "Chains"}
        doc["GraphDriver"] = gd
        return doc

    async def inspect(self, name_or_id: str) -> dict[str, Any]:
        cid = self.records.resolve(name_or_id)
        doc = self.state.container(cid)
        if doc is None:
            raise ContainerNotFound(f"No such container: {name_or_id}")
        return self._compose(doc)

    async def list(self, all: bool = False, filters: dict[str, builtins.list[str]] | None = None,
                              limit: int = -1, size: bool = False) -> builtins.list[dict[str, Any]]:
        """``GET /containers/json``: docker's summary objects, newest first.

        Built from the parts of each row the summary shows (:data:`LIST_FIELDS`) and the monitor's
        record of each container, as :meth:`inspect` gives them, without composing inspect documents.
        """
        filters = filters or {}
        for value in filters.get("health", ()):
            if value not in health.STATUSES:
                raise InvalidArgument(f"Unrecognised filter value for health: {value}")
        out = []
        for cid, row in self.state.container_fields(LIST_FIELDS):
            name, image, image_id, path, args, created, labels, mode, networks, mounts, exposed, upper = row
            state, _ = self._state(cid)
            status = state["Status"]
            if not all and status not in ("running", "paused", "restarting") and not filters.get("status"):
                continue
            host = {"NetworkMode": "" if mode is None else mode}
            shown = {"Id": cid, "Config": {"ExposedPorts": exposed}, "HostConfig": host}
            summary = {
                "Id": cid, "Names": [name], "Image": image, "ImageID": image_id,
                "Command": " ".join([path] + (args or [])) if path else "", "Created": int(parse_time(created)),
                "Ports": self.networks.summary(shown, state["Running"])[0], "Labels": labels or {},
                "State": status, "Status": human_status(state), "HostConfig": host,
                "NetworkSettings": {"Networks": {} if networks is None else networks},
                "Mounts": [{k: v for k, v in m.items() if k != "Anonymous"} for m in mounts or ()],
            }
            if size:
                summary["SizeRw"] = dir_size(upper or "")
            if not match_filters(summary, state, filters):
                continue
            out.append(summary)
        if limit and limit > 0:
            out = out[:limit]
        return out

    # -- logs -----------------------------------------------------------------------------------
    async def logs(self, name_or_id: str, *, stdout: bool = True, stderr: bool = True,
                             follow: bool = False, tail: str | int = "all", since: float = 0,
                             until: float = 0, timestamps: bool = False) -> AsyncIterator[dict[str, str]]:
        """Log entries ``{"stream", "log", "time"}`` from the container's log, optionally following it."""
        cid = self.records.resolve(name_or_id)
        path = self.paths.container_log(cid)
        streams = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}

        def keep(entry: dict[str, str]) -> bool:
            if entry.get("stream") not in streams:
                return False
            if since or until:
                t = parse_time(entry.get("time", ""))
                if since and t < since:
                    return False
                if until and t > until:
                    return False
            return True

        decode = json.JSONDecoder().raw_decode  # one line, one object: no per-line set-up

        def parsed(line: bytes) -> dict[str, str] | None:
            try:
                e = decode(line.decode("utf-8", "replace"))[0]
            except ValueError:  # a line cut short (disk full, a crash mid-write): skip it
                return None
            return e if isinstance(e, dict) and keep(e) else None

        # the log's files, streamed oldest first (rotated ones complete), or only the tail read backwards
        files = logfiles.log_files(path)
        try:
            f: Any = open(path, "rb")
        except FileNotFoundError:
            if not follow and not files:
                return
            f = None
        pending = b""
        try:
            rotated = [p for p in files if p != path]
            end = logfiles.complete_end(f) if f is not None else 0
            if tail not in ("all", "", None, -1, "-1"):
                n = int(tail)
                sources = [(path, end)] if f is not None else []
                sources += [(p, -1) for p in reversed(rotated)]
                lines = logfiles.tail_lines(sources, n, lambda x: parsed(x) is not None) if n > 0 else []
                for x in lines:
                    e = parsed(x)
                    if e is not None:
                        yield e
                if f is not None:
                    f.seek(end)
            else:
                for p in rotated:
                    for x in logfiles.lines_of(p):
                        e = parsed(x)
                        if e is not None:
                            yield e
                if f is not None:
                    f.seek(0)
                    for x in iter(lambda: f.readline(1 << 20), b""):
                        if not x.endswith(b"\n"):
                            pending += x  # the line being written (or one longer than a read)
                            continue
                        e = parsed(pending + x)
                        pending = b""
                        if e is not None:
                            yield e
            if not follow:
                return
            delay = 0.01
            while True:
                if f is None:
                    try:
                        f = open(path, "rb")
                    except FileNotFoundError:
                        if self.state.container(cid) is None:
                            return
                        await aio.sleep(0.05)
                        continue
                chunk = f.read(1 << 20)
                if not chunk:
                    try:  # rotated under us: the old file is read to its end, then the new one
                        moved = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
                    except FileNotFoundError:
                        moved = False
                    done = not moved and self.records.status(cid) not in ("running", "restarting")
                    chunk = f.read(1 << 20) if moved or done else b""
                    if not chunk and f.tell() > os.fstat(f.fileno()).st_size:  # truncated (max-file=1)
                        f.seek(0)
                        pending = b""
                        continue
                    if not chunk and moved:
                        f.close()
                        f, pending = None, b""
                        continue
                    if not chunk and done:
                        return
                if chunk:
                    delay = 0.01
                    pending += chunk
                    lines = pending.split(b"\n")
                    pending = lines.pop()
                    for x in lines:
                        if x:
                            e = parsed(x)
                            if e is not None:
                                yield e
                    continue
                await aio.sleep(delay)
                delay = min(delay * 2, 0.2)
        finally:
            if f is not None:
                f.close()

    # -- top / stats / exec ---------------------------------------------------------------------
    def _running_pid(self, cid: str, name_or_id: str) -> int:
        st = self.records.runtime_state(cid)
        if st.get("status") != "running":
            raise Conflict(f"container {cid} is not running")
        return int(st.get("pid", 0))

    async def top(self, name_or_id: str) -> dict[str, Any]:
        cid = self.records.resolve(name_or_id)
        self._running_pid(cid, name_or_id)
        doc = self.state.container(cid) or {}
        from ..runtime import cgroups
        pids = sorted(cgroups.Cgroup(doc["HostConfig"]["_Cgroup"]).pids()) if doc["HostConfig"].get("_Cgroup") else []
        if not pids:
            pids = [self._running_pid(cid, name_or_id)]
        return {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
                "Processes": [ps_row(p) for p in pids if os.path.exists(f"/proc/{p}")]}

    async def stats(self, name_or_id: str) -> dict[str, Any]:
        """One stats sample shaped like ``GET /containers/{id}/stats?stream=false``."""
        cid = self.records.resolve(name_or_id)
        doc = self.state.container(cid) or {}
        running = self.records.status(cid) == "running"
        raw: dict[str, Any] = {}
        if running and doc.get("HostConfig", {}).get("_Cgroup"):
            from ..runtime import cgroups
            try:
                raw = cast("dict[str, Any]", cgroups.Cgroup(doc["HostConfig"]["_Cgroup"]).stats())
            except Exception:  # noqa: BLE001
                raw = {}
        system_ns = int(sum(cpu_times_host()) * 1e9)
        ncpu = os.cpu_count() or 1
        mem = raw.get("memory") or {}
        pids = raw.get("pids") or {}
        blk = raw.get("blkio") or {}
        return {
            "read": rfc3339_now(), "id": cid, "name": doc.get("Name", ""),
            "pids_stats": {"current": pids.get("current") or 0, **({"limit": pids["limit"]} if pids.get("limit")
                                                                    else {})},
            "memory_stats": {"usage": mem.get("usage") or 0, "max_usage": mem.get("max_usage") or 0,
                             "limit": mem.get("limit") or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                             "stats": {}},
            "cpu_stats": {"cpu_usage": {"total_usage": (raw.get("cpu") or {}).get("total_usage_ns") or 0},
                          "system_cpu_usage": system_ns, "online_cpus": ncpu},
            "precpu_stats": {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": ncpu},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"op": "read", "value": blk.get("read_bytes") or 0},
                {"op": "write", "value": blk.get("write_bytes") or 0}]},
            "networks": net_stats(self._running_pid(cid, name_or_id)) if running else {},
        }

    async def exec(self, name_or_id: str, cmd: builtins.list[str], *, stdin: int, stdout: int, stderr: int,
                             tty: bool = False, user: str = "", workdir: str = "", env: builtins.list[str] | None = None,
                             tty_slave: int | None = None, console_socket: int | None = None) -> int:
        """Run ``cmd`` inside the running container; returns its pid (a child of this process).

        With ``tty`` and a ``console_socket``, the terminal is allocated in the container's devpts and
        its master sent over the socket (as ``run -t`` does).
        """
        cid = self.records.resolve(name_or_id)
        pid = self._running_pid(cid, name_or_id)
        doc = self.state.container(cid) or {}
        from ..runtime import native
        from ..runtime.spec import build_spec
        spec_path = os.path.join(self.paths.container(cid), "config.json")
        with open(spec_path) as f:
            spec = json.load(f)
        process = dict(spec["process"])
        process["args"] = cmd
        process["terminal"] = tty
        process["env"] = merge_env(process.get("env") or [], env or [])
        if workdir:
            process["cwd"] = workdir
        if user:
            from ..runtime.spec import lookup_user
            uid, gid, extra = lookup_user(user, [self.paths.container_rootfs(cid)])
            process["user"] = {"uid": uid, "gid": gid, **({"additionalGids": extra} if extra else {})}
        del build_spec
        from ..runtime import cgroups
        # an OCI runtime (runc) makes the same cgroup path ("/" + _Cgroup): exec'd processes join it too,
        # so --pids-limit / -m / --cpus hold for them and `rm -f` finds them
        cg = cgroups.Cgroup(doc["HostConfig"]["_Cgroup"]) if doc["HostConfig"].get("_Cgroup") else None
        if cg is not None and not cg.exists():
            cg = None
        seccomp_warm(self.paths.root, spec)
        return native.exec_process(pid, process, stdin, stdout, stderr, tty_slave=tty_slave, cgroup=cg,
                                   seccomp=spec.get("linux", {}).get("seccomp"), console_socket=console_socket)


INT64_MAX = 2**63 - 1


def _int_field(host: dict[str, Any], key: str, what: str) -> int:
    value = host.get(key) or 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"invalid {what}: {value!r} is not a number") from None
    if isinstance(value, float) and not value.is_integer():
        raise InvalidArgument(f"invalid {what}: {value!r} is not a whole number")
    if number > INT64_MAX or number < -INT64_MAX - 1:
        raise InvalidArgument(f"invalid {what}: out of range (the largest allowed is {INT64_MAX})")
    return number


def host_mounts(host: dict[str, Any]) -> tuple[builtins.list[str], builtins.list[str], builtins.list[str]]:
    """``HostConfig.Mounts`` (``--mount``) as ``-v`` binds, anonymous volume paths and, with
    ``HostConfig.Tmpfs``, the tmpfs paths (checked: engine/runtime/spec.py). One-line errors as dockerd's:
    a bind source must exist (``-v`` makes one, ``--mount`` does not)."""
    from ..runtime.spec import tmpfs_mounts
    binds: builtins.list[str] = []
    anonymous: builtins.list[str] = []
    for m in host.get("Mounts") or []:
        kind, src, dest = m.get("Type") or "", m.get("Source") or "", m.get("Target") or ""
        if kind == "tmpfs":
            continue
        if kind not in ("bind", "volume"):
            raise InvalidArgument(f"mount type {kind or '(none)'} is not supported here (bind, volume or tmpfs)")
        if not dest:
            raise InvalidArgument(f'invalid mount config for type "{kind}": field Target must not be empty')
        mode = ["ro"] if m.get("ReadOnly") else []
        if kind == "bind":
            if not src:
                raise InvalidArgument('invalid mount config for type "bind": field Source must not be empty')
            if not os.path.exists(src):
                raise InvalidArgument(f'invalid mount config for type "bind": bind source path does not exist: '
                                      f"{src}")
        elif (m.get("VolumeOptions") or {}).get("NoCopy"):
            mode.append("nocopy")
        if kind == "volume" and not src:
            anonymous.append(dest)
        else:
            binds.append(f"{src}:{dest}" + (f":{','.join(mode)}" if mode else ""))
    return binds, anonymous, [m["destination"] for m in tmpfs_mounts(host)]


def check_host_config(host: dict[str, Any]) -> None:
    """dockerd's checks of a new container's resources and security options (one-line errors, before
    anything is made): every front end (CLI, API, dashboard) gets the same refusals."""
    memory = _int_field(host, "Memory", "memory limit")
    if memory and memory < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    swap = _int_field(host, "MemorySwap", "memory-swap limit")
    if swap > 0 and memory and swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if swap > 0 and not memory:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    nano = _int_field(host, "NanoCpus", "CPU count")
    ncpu = os.cpu_count() or 1
    if nano and (nano < 10_000_000 or nano > ncpu * 1_000_000_000):
        # below 0.01 CPU the kernel's minimum CFS quota (1 ms per 100 ms period) refuses the value
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")
    if _int_field(host, "CpuShares", "CPU shares") < 0:
        raise InvalidArgument("invalid CPU shares: must be a positive number")
    quota, period = _int_field(host, "CpuQuota", "CPU quota"), _int_field(host, "CpuPeriod", "CPU period")
    if nano and (quota > 0 or period > 0):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period (or CPU Quota) cannot both be set")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                              "(i.e. 1000000)")
    if quota > 0 and quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    _int_field(host, "PidsLimit", "pids limit")
    from ..runtime import spec as spec_mod
    _nnp, profile = spec_mod.security_options(host)
    if profile and profile != "unconfined":
        from ..runtime import seccomp
        seccomp.check(seccomp.parse(profile, spec_mod.DOCKER_DEFAULT_CAPS))


# files the runtime itself puts into the container's /dev (engine.runtime.native): not directories
RUNTIME_DEV_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
                     "/dev/console", "/dev/ptmx", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/core")


def _image_kind(layer_dirs: builtins.list[str], dest: str) -> str:
    """"dir", "file" or "" (absent, a symlink, or unknown) for ``dest`` in the image (top layer wins)."""
    rel = dest.lstrip("/")
    for d in reversed(layer_dirs):
        try:
            st = os.lstat(os.path.join(d, rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return ""
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return ""  # a whiteout: removed in this layer
        if stat.S_ISLNK(st.st_mode):
            return ""
        return "dir" if stat.S_ISDIR(st.st_mode) else "file"
    return ""


def _check_mount_target(spec: str, kind: str, src: str, dest: str, layer_dirs: builtins.list[str]) -> None:
    """A directory (or a volume) cannot be mounted onto a file of the image (or of the runtime's /dev), nor
    a file onto a directory: refused at create with the paths named, rather than a mount error at start."""
    # a missing bind source is made as a directory; a volume is one
    src_is_dir = kind == "volume" or os.path.isdir(src) or not os.path.exists(src)
    target = "file" if dest in RUNTIME_DEV_FILES else _image_kind(layer_dirs, dest)
    if src_is_dir and target == "file":
        what = f"volume {src}" if kind == "volume" else f"directory {src}"
        raise InvalidArgument(f"invalid volume specification: '{spec}': cannot mount {what} onto "
                              f"{dest}: {dest} is a file in the container")
    if not src_is_dir and target == "dir":
        raise InvalidArgument(f"invalid volume specification: '{spec}': cannot mount file {src} onto {dest}: "
                              f"{dest} is a directory in the container")


def read_line(fd: int) -> bytes:
    """One line from a pipe, byte by byte (the rest stays in the pipe for later)."""
    buf = b""
    while not buf.endswith(b"\n"):
        try:
            c = os.read(fd, 1)
        except InterruptedError:
            continue
        if not c:
            break
        buf += c
    return buf.strip()


def merge_env(base: builtins.list[str], extra: builtins.list[str]) -> builtins.list[str]:
    out: dict[str, str] = {}
    for item in list(base) + list(extra):
        k, _, v = item.partition("=")
        out[k] = item if "=" in item else f"{k}={os.environ.get(k, '')}" if k in os.environ else k
    return [v for v in out.values() if "=" in v]


def human_status(state: dict[str, Any]) -> str:
    status = state["Status"]
    now = time.time()
    if status in ("running", "paused"):
        up = "Up " + human_duration(now - parse_time(state["StartedAt"]))
        return up + (" (Paused)" if state["Paused"] else health.suffix(state.get("Health")))
    if status == "restarting":
        return f"Restarting ({state['ExitCode']}) " + human_duration(now - parse_time(state["FinishedAt"])) + " ago"
    if status == "exited":
        finished = parse_time(state["FinishedAt"])
        return f"Exited ({state['ExitCode']}) " + (human_duration(now - finished) + " ago" if finished else "")
    return "Created"


def match_filters(summary: dict[str, Any], state: dict[str, Any], filters: dict[str, builtins.list[str]]) -> bool:
    """Whether a container (its summary and inspect's ``State``) passes ``GET /containers/json``'s filters."""
    for key, values in filters.items():
        if key == "status" and summary["State"] not in values:
            return False
        if key == "name" and not any(pattern_in(v, summary["Names"][0].lstrip("/")) for v in values):
            return False
        if key == "id" and not any(summary["Id"].startswith(v) for v in values):
            return False
        if key == "health" and health.status_of(state.get("Health")) not in values:
            return False
        if key == "exited" and (summary["State"] != "exited" or
                                str(state["ExitCode"]) not in values):
            return False
        if key == "label":
            if not all_labels_match(summary["Labels"], values):
                return False
        if key == "ancestor":
            ok = False
            for v in values:
                try:
                    if summary["Image"] == v or summary["ImageID"] == v or \
                            reference.normalize(summary["Image"]) == reference.normalize(v):
                        ok = True
                except InvalidArgument:
                    pass
            if not ok:
                return False
        if key == "volume" and not any(m.get("Name") in values or m.get("Destination") in values
                                       for m in summary["Mounts"]):
            return False
    return True


def cpu_times_host() -> builtins.list[float]:
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:8]
    hz = os.sysconf("SC_CLK_TCK")
    return [int(p) / hz for p in parts]


def net_stats(pid: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            for line in f.readlines()[2:]:
                name, _, rest = line.partition(":")
                name = name.strip()
                if name == "lo":
                    continue
                v = [int(x) for x in rest.split()]
                out[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                             "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    except (OSError, IndexError, ValueError):
        pass
    return out


def ps_row(pid: int) -> builtins.list[str]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rindex(b")") + 2:].split()
        ppid = int(fields[1])
        ticks = int(fields[11]) + int(fields[12])
        start_ticks = int(fields[19])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        uid = os.stat(f"/proc/{pid}").st_uid
    except (OSError, ValueError, IndexError):
        return [str(0), str(pid), "0", "0", "?", "?", "00:00:00", "?"]
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    started = time.time() - uptime + start_ticks / hz
    secs = ticks // hz
    try:
        import pwd
        uname = pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        uname = str(uid)
    return [uname, str(pid), str(ppid), "0", time.strftime("%H:%M", time.localtime(started)), "?",
            f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}", cmd]
