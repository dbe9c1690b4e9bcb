"""The JSON bodies the API accepts, field by field, as dockerd decodes them into its Go structs.

dockerd refuses a field of the wrong type with a 400 before anything is made (Go's decoder); so do
we, naming the field: ``invalid JSON body: HostConfig.Memory must be an integer, not a string``.
As in Go, ``null`` is the zero value and unknown fields are ignored.
"""

from __future__ import annotations

from typing import Any, Union

from ..errors import InvalidArgument

# a field's type: one of these names, or a nested schema (an object with known fields)
STR, BOOL, INT, NUMBER = "string", "boolean", "integer", "number"
STRS = "list of strings"
STR_OR_STRS = "string or list of strings"  # docker's StrSlice (Cmd, Entrypoint, Shell, Healthcheck.Test)
MAP = "object of strings"  # map[string]string
OBJ = "object"
LIST = "list"
INTS = "list of integers"

Schema = dict[str, Union[str, "Schema", tuple["Schema"]]]  # a tuple of one schema: a list of such objects

HEALTHCHECK: Schema = {"Test": STR_OR_STRS, "Interval": INT, "Timeout": INT, "Retries": INT, "StartPeriod": INT,
                       "StartInterval": INT}

CONFIG: Schema = {
    "Hostname": STR, "Domainname": STR, "User": STR, "AttachStdin": BOOL, "AttachStdout": BOOL,
    "AttachStderr": BOOL, "ExposedPorts": OBJ, "Tty": BOOL, "OpenStdin": BOOL, "StdinOnce": BOOL, "Env": STR_OR_STRS,
    "Cmd": STR_OR_STRS, "Healthcheck": HEALTHCHECK, "ArgsEscaped": BOOL, "Image": STR, "Volumes": OBJ,
    "WorkingDir": STR, "Entrypoint": STR_OR_STRS, "NetworkDisabled": BOOL, "MacAddress": STR, "OnBuild": STRS,
    "Labels": MAP, "StopSignal": STR, "StopTimeout": INT, "Shell": STR_OR_STRS,
}

HOST_CONFIG: Schema = {
    "Binds": STRS, "ContainerIDFile": STR, "LogConfig": {"Type": STR, "Config": MAP}, "NetworkMode": STR,
    "PortBindings": OBJ, "RestartPolicy": {"Name": STR, "MaximumRetryCount": INT}, "AutoRemove": BOOL,
    "VolumeDriver": STR, "VolumesFrom": STRS, "Mounts": LIST, "ConsoleSize": INTS, "Annotations": MAP,
    "CapAdd": STRS, "CapDrop": STRS, "CgroupnsMode": STR, "Dns": STRS, "DnsOptions": STRS, "DnsSearch": STRS,
    "ExtraHosts": STRS, "GroupAdd": STRS, "IpcMode": STR, "Cgroup": STR, "Links": STRS, "OomScoreAdj": INT,
    "PidMode": STR, "Privileged": BOOL, "PublishAllPorts": BOOL, "ReadonlyRootfs": BOOL, "SecurityOpt": STRS,
    "StorageOpt": MAP, "Tmpfs": MAP, "UTSMode": STR, "UsernsMode": STR, "ShmSize": INT, "Sysctls": MAP,
    "Runtime": STR, "Isolation": STR, "CpuShares": INT, "Memory": INT, "NanoCpus": INT, "CgroupParent": STR,
    "BlkioWeight": INT, "BlkioWeightDevice": LIST, "BlkioDeviceReadBps": LIST, "BlkioDeviceWriteBps": LIST,
    "BlkioDeviceReadIOps": LIST, "BlkioDeviceWriteIOps": LIST, "CpuPeriod": INT, "CpuQuota": INT,
    "CpuRealtimePeriod": INT, "CpuRealtimeRuntime": INT, "CpusetCpus": STR, "CpusetMems": STR, "Devices": LIST,
    "DeviceCgroupRules": STRS, "DeviceRequests": LIST, "MemoryReservation": INT, "MemorySwap": INT,
    "MemorySwappiness": INT, "OomKillDisable": BOOL, "Init": BOOL, "PidsLimit": INT,
    "Ulimits": ({"Name": STR, "Soft": INT, "Hard": INT},), "CpuCount": INT, "CpuPercent": INT,
    "IOMaximumIOps": INT, "IOMaximumBandwidth": INT, "MaskedPaths": STRS, "ReadonlyPaths": STRS,
}

CONTAINER_CREATE: Schema = {**CONFIG, "HostConfig": HOST_CONFIG, "NetworkingConfig": {"EndpointsConfig": OBJ}}

VOLUME_CREATE: Schema = {"Name": STR, "Driver": STR, "DriverOpts": MAP, "Labels": MAP}

NETWORK_CREATE: Schema = {
    "Name": STR, "CheckDuplicate": BOOL, "Driver": STR, "Scope": STR, "Internal": BOOL, "Attachable": BOOL,
    "Ingress": BOOL, "ConfigOnly": BOOL, "EnableIPv4": BOOL, "EnableIPv6": BOOL, "Options": MAP, "Labels": MAP,
    "IPAM": {"Driver": STR, "Options": MAP,
             "Config": ({"Subnet": STR, "IPRange": STR, "Gateway": STR, "AuxiliaryAddresses": MAP},)},
}


def json_kind(value: Any) -> str:
    """The JSON name of a value's type, as an error says it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _fits(value: Any, kind: str) -> bool:
    if kind == STR:
        return isinstance(value, str)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and value.is_integer()
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == OBJ:
        return isinstance(value, dict)
    if kind == LIST:
        return isinstance(value, list)
    raise AssertionError(kind)


def check(body: Any, schema: Schema, where: str = "") -> None:
    """InvalidArgument (400) naming the first field of ``body`` whose type ``schema`` does not allow."""
    if not isinstance(body, dict):
        raise InvalidArgument(f"invalid JSON body: {where or 'the body'} must be an object, not {json_kind(body)}")
    for key, kind in schema.items():
        value = body.get(key)
        if value is None:
            continue
        name = f"{where}.{key}" if where else key
        if isinstance(kind, dict):
            check(value, kind, name)
        elif isinstance(kind, tuple):
            if not isinstance(value, list):
                raise InvalidArgument(f"invalid JSON body: {name} must be a list, not {json_kind(value)}")
            for i, item in enumerate(value):
                check(item, kind[0], f"{name}[{i}]")
        else:
            _check_leaf(value, kind, name)


def _check_leaf(value: Any, kind: str, name: str) -> None:
    def wrong(item: Any, item_name: str, expected: str) -> InvalidArgument:
        shown = f" ({item!r})" if isinstance(item, (str, int, float)) and not isinstance(item, bool) else ""
        return InvalidArgument(f"invalid JSON body: {item_name} must be {expected}, not {json_kind(item)}{shown}")
    if kind in (STRS, STR_OR_STRS, INTS):
        if kind == STR_OR_STRS and isinstance(value, str):
            return
        if not isinstance(value, list):
            raise wrong(value, name, "a list" if kind != STR_OR_STRS else "a string or a list of strings")
        item_kind = INT if kind == INTS else STR
        for i, item in enumerate(value):
            if not _fits(item, item_kind):
                raise wrong(item, f"{name}[{i}]", "an integer" if item_kind == INT else "a string")
        return
    if kind == MAP:
        if not isinstance(value, dict):
            raise wrong(value, name, "an object")
        for k, v in value.items():
            if v is not None and not isinstance(v, str):
                raise wrong(v, f"{name}[{k!r}]", "a string")
        return
    if not _fits(value, kind):
        article = "an" if kind[0] in "aeiou" else "a"
        raise wrong(value, name, f"{article} {kind}")
