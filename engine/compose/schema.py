"""The JSON schema (Draft 7) of the compose keys a stack reads, modelled on docker's
``config_schema_v3.13.json`` and the compose-spec's schema.

Keys a stack honours are typed; keys docker's stack loader reads but ignores (``build``, ``links``…) are
accepted so :func:`engine.compose.checks.validate` can warn about them; any other key of a service is an
error naming it. Formats ``duration`` (Go's ``10s``, ``1m30s``) and ``ports`` (short port syntax) are
checked by the validator.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any


_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_NUM: dict[str, Any] = {"type": "number"}
_ANY: dict[str, Any] = {}
_DURATION: dict[str, Any] = {"type": "string", "format": "duration"}
_NAME_RE = "^[a-zA-Z0-9._-]+$"
_STR_OR_NUM: dict[str, Any] = {"type": ["string", "number"]}


def _obj(props: dict[str, Any], *, extensions: bool = False, nullable: bool = False,
         required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": ["object", "null"] if nullable else "object", "properties": props,
                           "additionalProperties": False}
    if extensions:
        out["patternProperties"] = {"^x-": {}}
    if required:
        out["required"] = required
    return out


_DEFS: dict[str, Any] = {
    "list_of_strings": {"type": "array", "items": _STR, "uniqueItems": True},
    "string_or_list": {"oneOf": [_STR, {"$ref": "#/definitions/list_of_strings"}]},
    "list_or_dict": {"oneOf": [
        {"type": "object", "patternProperties": {".+": {"type": ["string", "number", "boolean", "null"]}},
         "additionalProperties": False},
        {"type": "array", "items": _STR, "uniqueItems": True}]},
    "command": {"oneOf": [_STR, {"type": "array", "items": _STR}]},
    "size": {"type": ["string", "integer"]},
    "cpus": {"type": ["string", "number"]},
    "update_config": _obj({
        "parallelism": {"type": "integer", "minimum": 0},
        "delay": _DURATION,
        "failure_action": {"type": "string", "enum": ["continue", "pause", "rollback"]},
        "monitor": _DURATION,
        "max_failure_ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "order": {"type": "string", "enum": ["start-first", "stop-first"]},
    }, extensions=True),
    "file_reference": {"oneOf": [_STR, _obj({
        "source": _STR, "target": _STR, "uid": _STR, "gid": _STR,
        "mode": {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 0o7777},
                           {"type": "string", "pattern": "^0?[0-7]{1,4}$"}]}}, required=["source"])]},
    "external": {"type": ["boolean", "object"], "properties": {"name": _STR}, "additionalProperties": False},
    "driver_opts": {"type": "object", "patternProperties": {"^.+$": _STR_OR_NUM}},
}

_DEPLOY = _obj({
    "mode": {"type": "string", "enum": ["replicated", "global", "replicated-job", "global-job"]},
    "endpoint_mode": {"type": "string", "enum": ["vip", "dnsrr"]},
    "replicas": {"type": "integer", "minimum": 0},
    "labels": {"$ref": "#/definitions/list_or_dict"},
    "update_config": {"$ref": "#/definitions/update_config"},
    "rollback_config": {"$ref": "#/definitions/update_config"},
    "resources": _obj({
        "limits": _obj({"cpus": {"$ref": "#/definitions/cpus"}, "memory": {"$ref": "#/definitions/size"},
                        "pids": _INT}),
        "reservations": _obj({
            "cpus": {"$ref": "#/definitions/cpus"}, "memory": {"$ref": "#/definitions/size"},
            "generic_resources": {"type": "array", "items": _obj({"discrete_resource_spec": _obj({
                "kind": _STR, "value": _NUM})})}}),
    }),
    "restart_policy": _obj({
        "condition": {"type": "string", "enum": ["none", "on-failure", "any"]},
        "delay": _DURATION, "max_attempts": {"type": "integer", "minimum": 0}, "window": _DURATION,
    }),
    "placement": _obj({
        "constraints": {"type": "array", "items": _STR},
        "preferences": {"type": "array", "items": _obj({"spread": _STR})},
        "max_replicas_per_node": {"type": "integer", "minimum": 0},
    }),
}, extensions=True, nullable=True)

_HEALTHCHECK = _obj({
    "disable": _BOOL, "interval": _DURATION, "retries": {"type": "integer", "minimum": 0},
    "test": {"$ref": "#/definitions/command"}, "timeout": _DURATION, "start_period": _DURATION,
    "start_interval": _DURATION,
}, extensions=True)

_SERVICE_NETWORKS = {"oneOf": [
    {"$ref": "#/definitions/list_of_strings"},
    {"type": "object", "patternProperties": {_NAME_RE: {"oneOf": [_obj({
        "aliases": {"$ref": "#/definitions/list_of_strings"},
        "driver_opts": {"$ref": "#/definitions/driver_opts"},
        "ipv4_address": _STR, "ipv6_address": _STR}, extensions=True), {"type": "null"}]}},
     "additionalProperties": False}]}

_PORTS = {"type": "array", "items": {"oneOf": [
    {"type": "integer", "format": "ports"},
    {"type": "string", "format": "ports"},
    _obj({"mode": {"type": "string", "enum": ["ingress", "host"]},
          "target": {"type": "integer", "minimum": 1, "maximum": 65535},
          "published": {"type": ["integer", "string"]},
          "protocol": {"type": "string", "enum": ["tcp", "udp", "sctp"]},
          "host_ip": _STR, "name": _STR, "app_protocol": _STR}, extensions=True, required=["target"]),
]}}

_VOLUMES = {"type": "array", "items": {"oneOf": [
    _STR,
    _obj({"type": {"type": "string", "enum": ["volume", "bind", "tmpfs", "npipe", "cluster", "image"]},
          "source": _STR, "target": _STR, "read_only": _BOOL, "consistency": _STR,
          "bind": _obj({"propagation": _STR, "create_host_path": _BOOL}),
          "volume": _obj({"nocopy": _BOOL, "subpath": _STR}),
          "tmpfs": _obj({"size": {"oneOf": [{"type": "integer", "minimum": 0}, _STR]}, "mode": _NUM}),
          "image": _obj({"subpath": _STR})}, extensions=True, required=["type"]),
]}, "uniqueItems": True}

#: the service keys docker's stack loader reads and ignores (with its warning), or refuses
UNSUPPORTED = ("build", "cgroupns_mode", "cgroup_parent", "devices", "domainname", "external_links", "ipc",
               "links", "mac_address", "network_mode", "pid", "privileged", "restart", "security_opt",
               "shm_size", "userns_mode")
#: keys docker's stack deploy drops without a word; here they get the same warning as UNSUPPORTED
IGNORED = ("tmpfs", "platform", "profiles", "pull_policy")
DEPRECATED = {
    "container_name": "Setting the container name is not supported.",
    "expose": "Exposing ports is unnecessary - services on the same network can access each other's "
              "containers on any port.",
}
FORBIDDEN = {
    "extends": "`extends` is not supported in a stack: write the service out in full.",
    "volume_driver": "Instead of setting the volume driver on the service, define a volume using the "
                     "top-level `volumes` option and specify the driver there.",
    "volumes_from": "To share a volume between services, define it using the top-level `volumes` option "
                    "and reference it from each service that shares it using the service-level `volumes` "
                    "option.",
    "cpu_quota": "Set resource limits using deploy.resources",
    "cpu_shares": "Set resource limits using deploy.resources",
    "cpuset": "Set resource limits using deploy.resources",
    "mem_limit": "Set resource limits using deploy.resources",
    "memswap_limit": "Set resource limits using deploy.resources",
}

_SERVICE = _obj({
    "image": _STR,
    "command": {"$ref": "#/definitions/command"},
    "entrypoint": {"$ref": "#/definitions/command"},
    "environment": {"$ref": "#/definitions/list_or_dict"},
    "env_file": {"oneOf": [_STR, {"type": "array", "items": {"oneOf": [
        _STR, _obj({"path": _STR, "required": _BOOL, "format": {"type": "string", "enum": ["raw"]}},
                   required=["path"])]}}]},
    "ports": _PORTS,
    "networks": _SERVICE_NETWORKS,
    "volumes": _VOLUMES,
    "configs": {"type": "array", "items": {"$ref": "#/definitions/file_reference"}},
    "secrets": {"type": "array", "items": {"$ref": "#/definitions/file_reference"}},
    "healthcheck": _HEALTHCHECK,
    "labels": {"$ref": "#/definitions/list_or_dict"},
    "hostname": _STR,
    "user": _STR,
    "working_dir": _STR,
    "stop_signal": _STR,
    "stop_grace_period": _DURATION,
    "init": _BOOL,
    "deploy": _DEPLOY,
    # passed on to the service as docker's stack deploy passes them
    "cap_add": {"type": "array", "items": _STR, "uniqueItems": True},
    "cap_drop": {"type": "array", "items": _STR, "uniqueItems": True},
    "credential_spec": _obj({"config": _STR, "file": _STR, "registry": _STR}),
    "depends_on": {"oneOf": [{"$ref": "#/definitions/list_of_strings"}, {"type": "object"}]},
    "dns": {"$ref": "#/definitions/string_or_list"},
    "dns_search": {"$ref": "#/definitions/string_or_list"},
    "extra_hosts": {"$ref": "#/definitions/list_or_dict"},
    "isolation": _STR,
    "logging": _obj({"driver": _STR, "options": {"type": "object", "patternProperties": {
        "^.+$": {"type": ["string", "number", "null"]}}}}),
    "oom_score_adj": {"type": "integer", "minimum": -1000, "maximum": 1000},
    "read_only": _BOOL,
    "stdin_open": _BOOL,
    "sysctls": {"$ref": "#/definitions/list_or_dict"},
    "tty": _BOOL,
    "ulimits": {"type": "object", "patternProperties": {"^[a-z]+$": {"oneOf": [
        _INT, _obj({"hard": _INT, "soft": _INT}, required=["soft", "hard"])]}}},
    # read and ignored (a warning), or refused with docker's reason
    **{key: _ANY for key in UNSUPPORTED},
    **{key: _ANY for key in IGNORED},
    **{key: _ANY for key in DEPRECATED},
    **{key: _ANY for key in FORBIDDEN},
}, extensions=True)

_NETWORK = _obj({
    "name": _STR, "driver": _STR, "driver_opts": {"$ref": "#/definitions/driver_opts"},
    "ipam": _obj({"driver": _STR, "config": {"type": "array", "items": _obj({"subnet": _STR})}}),
    "external": {"$ref": "#/definitions/external"}, "internal": _BOOL, "attachable": _BOOL,
    "labels": {"$ref": "#/definitions/list_or_dict"},
}, extensions=True, nullable=True)

_VOLUME = _obj({
    "name": _STR, "driver": _STR, "driver_opts": {"$ref": "#/definitions/driver_opts"},
    "external": {"$ref": "#/definitions/external"}, "labels": {"$ref": "#/definitions/list_or_dict"},
}, extensions=True, nullable=True)

_SECRET = _obj({
    "name": _STR, "file": _STR, "external": {"$ref": "#/definitions/external"},
    "labels": {"$ref": "#/definitions/list_or_dict"}, "driver": _STR,
    "driver_opts": {"$ref": "#/definitions/driver_opts"}, "template_driver": _STR,
}, extensions=True)

_CONFIG = _obj({
    "name": _STR, "file": _STR, "external": {"$ref": "#/definitions/external"},
    "labels": {"$ref": "#/definitions/list_or_dict"}, "template_driver": _STR,
}, extensions=True)


def _section(entry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "patternProperties": {_NAME_RE: entry}, "additionalProperties": False}


SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "version": {"type": ["string", "number"]},
        "name": _STR,
        "services": _section(_SERVICE),
        "networks": _section(_NETWORK),
        "volumes": _section(_VOLUME),
        "secrets": _section(_SECRET),
        "configs": _section(_CONFIG),
    },
    "patternProperties": {"^x-": {}},
    "additionalProperties": False,
    "definitions": _DEFS,
}
