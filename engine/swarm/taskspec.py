"""A task as a container: docker's TaskSpec (ContainerSpec, Resources, Networks) and the service's
host-mode ports as a ``POST /containers/create`` body, with the labels docker puts on task containers."""

from __future__ import annotations

import os
from typing import Any

from .model import SECOND


class Rejected(Exception):
    """The task cannot run here; the text is docker's task error (``service ps``'s ERROR column)."""


def labels(service: dict[str, Any], task: dict[str, Any], name: str, node_id: str) -> dict[str, str]:
    """docker's labels on a task's container: the ContainerSpec's own, then ``com.docker.swarm.*``."""
    spec = task["spec"].get("ContainerSpec") or {}
    out = {str(k): str(v) for k, v in (spec.get("Labels") or {}).items()}
    out.update({"com.docker.swarm.node.id": node_id, "com.docker.swarm.service.id": service["id"],
                "com.docker.swarm.service.name": service["name"], "com.docker.swarm.task": "",
                "com.docker.swarm.task.id": task["id"], "com.docker.swarm.task.name": name})
    return out


def bind_or_volume(mount: dict[str, Any]) -> tuple[str | None, str | None]:
    """A ContainerSpec mount as a ``Binds`` entry, or the target of an anonymous volume."""
    kind = mount.get("Type") or "volume"
    source = mount.get("Source") or ""
    target = mount.get("Target") or ""
    mode = "ro" if mount.get("ReadOnly") else "rw"
    if kind == "bind":
        if not source.startswith("/"):
            raise Rejected(f'invalid mount config for type "bind": invalid mount path: \'{source}\' mount path '
                           f"must be absolute")
        if not os.path.exists(source):
            raise Rejected(f'invalid mount config for type "bind": bad mount source path: stat {source}: no such '
                           f"file or directory")
        return f"{source}:{target}:{mode}", None
    if kind == "volume":
        if not source:
            return None, target
        return f"{source}:{target}:{mode}", None
    raise Rejected(f'invalid mount config for type "{kind}": mounts of this type are not supported here')


def ports(endpoint_spec: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """(ExposedPorts, PortBindings) for the service's ``PublishMode: host`` ports; ingress ports are the
    load balancer's (engine/services/endpoints.py)."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for p in (endpoint_spec or {}).get("Ports") or []:
        key = f"{p.get('TargetPort')}/{p.get('Protocol') or 'tcp'}"
        exposed[key] = {}
        if (p.get("PublishMode") or "ingress") == "host" and p.get("PublishedPort"):
            bindings.setdefault(key, []).append({"HostIp": "", "HostPort": str(p["PublishedPort"])})
    return exposed, bindings


def publishes_ingress(endpoint_spec: dict[str, Any] | None) -> bool:
    return any((p.get("PublishMode") or "ingress") == "ingress" and p.get("PublishedPort")
               for p in (endpoint_spec or {}).get("Ports") or [])


def container_config(service: dict[str, Any], task: dict[str, Any], name: str, node_id: str,
                     networks: list[tuple[str, list[str]]], extra_binds: list[str]) -> dict[str, Any]:
    """The container create body for a task. ``networks`` are (network name, aliases) in order (the
    first is the container's network mode, the rest are connected before it starts); ``extra_binds``
    mount its secrets and configs. Raises :class:`Rejected` with docker's text for a mount it refuses."""
    spec = task["spec"]
    cs = spec.get("ContainerSpec") or {}
    if not cs.get("Image"):
        raise Rejected("no image specified")
    binds: list[str] = []
    volumes: dict[str, Any] = {}
    tmpfs: list[dict[str, Any]] = []
    for mount in cs.get("Mounts") or []:
        if mount.get("Type") == "tmpfs":  # the container's --mount type=tmpfs, options and all
            tmpfs.append({k: mount[k] for k in ("Type", "Target", "ReadOnly", "TmpfsOptions") if k in mount})
            continue
        bind, anonymous = bind_or_volume(mount)
        if bind:
            binds.append(bind)
        elif anonymous:
            volumes[anonymous] = {}
    binds += extra_binds
    limits = (spec.get("Resources") or {}).get("Limits") or {}
    exposed, bindings = ports(task["doc"].get("EndpointSpec"))
    host: dict[str, Any] = {"RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "Binds": binds or None,
                            "PortBindings": bindings, "NetworkMode": networks[0][0] if networks else "bridge"}
    if tmpfs:
        host["Mounts"] = tmpfs
    if limits.get("NanoCPUs"):
        host["NanoCpus"] = int(limits["NanoCPUs"])
    if limits.get("MemoryBytes"):
        host["Memory"] = int(limits["MemoryBytes"])
    if limits.get("Pids"):
        host["PidsLimit"] = int(limits["Pids"])
    if cs.get("Init") is not None:
        host["Init"] = bool(cs["Init"])
    if cs.get("ReadOnly"):
        host["ReadonlyRootfs"] = True
    for ours, theirs in (("CapabilityAdd", "CapAdd"), ("CapabilityDrop", "CapDrop"), ("Sysctls", "Sysctls")):
        if cs.get(ours):
            host[theirs] = cs[ours]
    if cs.get("Hosts"):  # docker's "IP host…" lines as --add-host's host:IP
        extra = []
        for line in cs["Hosts"]:
            parts = line.split()
            extra += [f"{h}:{parts[0]}" for h in parts[1:]] if len(parts) > 1 else [line]
        host["ExtraHosts"] = extra
    dns = cs.get("DNSConfig") or {}
    if dns.get("Nameservers"):
        host["Dns"] = dns["Nameservers"]
    config: dict[str, Any] = {"Image": cs["Image"], "Labels": labels(service, task, name, node_id),
                              "Env": cs.get("Env") or [], "HostConfig": host, "Tty": bool(cs.get("TTY")),
                              "OpenStdin": bool(cs.get("OpenStdin"))}
    if cs.get("Command"):
        config["Entrypoint"] = cs["Command"]
        config["Cmd"] = cs.get("Args") or []
    elif cs.get("Args"):
        config["Cmd"] = cs["Args"]
    for ours, theirs in (("Hostname", "Hostname"), ("User", "User"), ("Dir", "WorkingDir"),
                         ("StopSignal", "StopSignal"), ("HealthCheck", "Healthcheck")):
        if cs.get(ours):
            config[theirs] = cs[ours]
    if cs.get("StopGracePeriod") is not None:
        config["StopTimeout"] = max(0, int(cs["StopGracePeriod"]) // SECOND)
    if volumes:
        config["Volumes"] = volumes
    if exposed:
        config["ExposedPorts"] = exposed
    if networks:
        config["NetworkingConfig"] = {"EndpointsConfig": {networks[0][0]: {"Aliases": networks[0][1]}}}
    return config
