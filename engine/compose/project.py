"""Compose files → a :class:`Project`: read, interpolated, normalised and merged as docker's stack loader
does (``docker stack config`` prints the same merged model).

Each file is parsed (:mod:`engine.compose.yamlfile`) and interpolated (:mod:`engine.compose.interpolate`)
on its own, from the environment and, *beyond docker*, from the ``.env`` file beside the first compose
file (the environment wins). :attr:`Project.files` keeps each file as written (what the schema checks);
the merged model (:attr:`Project.services`, ``networks``, ``volumes``, ``secrets``, ``configs``) is the
long form of every key: ports as ``{mode, target, published, protocol}``, environment and labels as
mappings, a service's networks as a mapping, volumes as ``{type, source, target, …}`` with bind sources
made absolute, env_file values folded into the environment. Relative paths (env_file, bind sources,
secret and config files) are relative to the directory of the first file, as docker's.

Later files override earlier ones as docker merges them: scalars and mappings key by key, ports by
published port, volumes by target, secrets and configs by source, command and entrypoint replaced,
other lists appended; top-level networks, volumes, secrets and configs replaced entry by entry.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from functools import cached_property

from ..errors import InvalidArgument
from . import envfile, interpolate, yamlfile
from .yamlfile import go_string

#: the compose file versions docker's stack loader reads (absent or "3" is the newest, 3.13)
VERSIONS = ("3", *(f"3.{n}" for n in range(14)))
DEFAULT_VERSION = "3.13"
MAX_PORTS = 65536  # a file's ports once ranges are expanded
MAX_ENV = 100_000  # variables a file's services take from env files, all together

TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

    Dict = dict[str, Any]
    Lookup = Callable[[str], str | None]


class ComposeFile:
    """One file as written, after interpolation (a plain class: dataclasses cost the CLI's start-up)."""

    __slots__ = ("path", "config")

    def __init__(self, path: str, config: Dict) -> None:
        self.path = path
        self.config = config

    def __repr__(self) -> str:
        return f"ComposeFile({self.path!r})"


class Project:
    """Compose files loaded together; the merged model is built on first use.

    Attributes:
        working_dir: the directory of the first file: relative paths in every file start there.
        files: each file as written, after interpolation.
        environment: the variables interpolation saw (the environment given, then ``.env``'s).
        version: the first file's version ("3.13" when it has none).
    """

    def __init__(self, working_dir: str, files: list[ComposeFile], environment: dict[str, str],
                 version: str = DEFAULT_VERSION) -> None:
        self.working_dir = working_dir
        self.files = files
        self.environment = environment
        self.version = version

    def __repr__(self) -> str:
        return f"Project({self.working_dir!r}, {[f.path for f in self.files]!r})"

    def lookup(self, name: str) -> str | None:
        return self.environment.get(name)

    @cached_property
    def model(self) -> Dict:
        """The merged model: ``{"version", "services", "networks", "volumes", "secrets", "configs"}``."""
        merged: Dict = {"version": self.version, "services": {}, "networks": {}, "volumes": {}, "secrets": {},
                        "configs": {}}
        for f in self.files:
            one = _normalise_file(f.config, self.working_dir, self.lookup)
            for name, svc in one["services"].items():
                base = merged["services"].get(name)
                merged["services"][name] = svc if base is None else _merge_service(base, svc)
            for section in ("networks", "volumes", "secrets", "configs"):
                merged[section].update(one[section])
        merged["services"] = dict(sorted(merged["services"].items()))
        return merged

    @property
    def services(self) -> dict[str, Dict]:
        result: dict[str, Dict] = self.model["services"]
        return result

    @property
    def networks(self) -> dict[str, Dict]:
        result: dict[str, Dict] = self.model["networks"]
        return result

    @property
    def volumes(self) -> dict[str, Dict]:
        result: dict[str, Dict] = self.model["volumes"]
        return result

    @property
    def secrets(self) -> dict[str, Dict]:
        result: dict[str, Dict] = self.model["secrets"]
        return result

    @property
    def configs(self) -> dict[str, Dict]:
        result: dict[str, Dict] = self.model["configs"]
        return result


def load(files: list[str], *, env: Mapping[str, str] | None = None) -> Project:
    """Read ``files`` (``-`` is standard input) into a Project.

    Args:
        files: compose files, later ones overriding earlier ones.
        env: the variables for interpolation (default: the process environment); the ``.env`` file
            beside the first file adds the ones this lacks.

    Raises:
        InvalidArgument: a file that cannot be read, a YAML error (``file: line L, column C: problem``),
            a malformed variable or a required one without a value, an unsupported version.
    """
    if not files:
        raise InvalidArgument("Specify a Compose file (with --compose-file)")
    first = files[0]
    working_dir = os.getcwd() if first == "-" else os.path.dirname(os.path.abspath(first))
    variables = dict(os.environ if env is None else env)
    dotenv = os.path.join(working_dir, ".env")
    if os.path.isfile(dotenv):
        for key, value in envfile.parse_dotenv(dotenv).items():
            variables.setdefault(key, value)
    parsed: list[ComposeFile] = []
    version = ""
    for path in files:
        raw = yamlfile.parse(_read(path), path)
        file_version = _version(raw, path)
        version = version or file_version
        parsed.append(ComposeFile(path, interpolate.interpolate(raw, variables.get)))
    return Project(working_dir=working_dir, files=parsed, environment=variables, version=version)


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read(yamlfile.MAX_BYTES + 1)
    try:
        with open(path, "rb") as f:
            return f.read(yamlfile.MAX_BYTES + 1)
    except FileNotFoundError:
        raise InvalidArgument(f"open {path}: no such file or directory") from None
    except IsADirectoryError:
        raise InvalidArgument(f"read {path}: is a directory") from None
    except OSError as exc:
        raise InvalidArgument(f"open {path}: {exc.strerror}") from None


def _version(config: Dict, path: str) -> str:
    if "version" not in config:
        return DEFAULT_VERSION
    text = go_string(config["version"])
    if text not in VERSIONS:
        raise InvalidArgument(f"{path}: unsupported Compose file version: {text} (this engine reads version "
                              f"3.x files, or files without a version)")
    return DEFAULT_VERSION if text == "3" else text


# ----------------------------------------------------------------------------------------- normalising


def _normalise_file(config: Dict, working_dir: str, lookup: Lookup) -> Dict:
    """One file's sections in the model's long forms (shapes the schema refuses are left as they are)."""
    out: Dict = {}
    services = config.get("services")
    budget = _Budget()
    out["services"] = {name: _service(name, svc, working_dir, lookup, budget) if isinstance(svc, dict) else svc
                       for name, svc in (services.items() if isinstance(services, dict) else ())}
    for section in ("networks", "volumes"):
        entries = config.get(section)
        out[section] = {name: _object(entry, name) for name, entry in
                        (entries.items() if isinstance(entries, dict) else ())}
    for section in ("secrets", "configs"):
        entries = config.get(section)
        out[section] = {name: _file_object(entry, name, working_dir) for name, entry in
                        (entries.items() if isinstance(entries, dict) else ())}
    return out


def mapping(value: Any, *, sep: str = "=", allow_none: bool = False) -> Any:
    """A ``KEY=VALUE`` list or a mapping → ``{key: str}`` (``None`` for a bare key when ``allow_none``)."""
    if isinstance(value, dict):
        return {k: (None if v is None and allow_none else go_string(v)) for k, v in value.items()}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        out: dict[str, str | None] = {}
        for item in value:
            key, has, val = item.partition(sep)
            out[key] = val if has else (None if allow_none else "")
        return out
    return value


def _strings(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _object(entry: Any, name: str) -> Any:
    """A top-level network or volume: external's old ``{name: x}`` form folded into ``name``."""
    if entry is None:
        return {}
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    for key in ("labels", "driver_opts"):
        if key in out:
            out[key] = mapping(out[key])
    ext = out.get("external")
    if isinstance(ext, dict):
        out["external"] = True
        if "name" in ext and "name" not in out:
            out["name"] = ext["name"]
    if out.get("external") is True and "name" not in out:
        out["name"] = name
    return out


def _file_object(entry: Any, name: str, working_dir: str) -> Any:
    out = _object(entry, name)
    if isinstance(out, dict) and isinstance(out.get("file"), str) and not out.get("external"):
        out["file"] = os.path.normpath(os.path.join(working_dir, out["file"]))
    return out


class _Budget:
    """What one file may expand to, all services together: ports once ranges are expanded, variables
    taken from env_files (each file read once)."""

    def __init__(self) -> None:
        self.ports = MAX_PORTS
        self.env = MAX_ENV
        self.env_files: dict[str, dict[str, str | None]] = {}


def _service(name: str, svc: Dict, working_dir: str, lookup: Lookup, budget: _Budget) -> Dict:
    where = f"services.{name}"
    out = dict(svc)
    for key in ("command", "entrypoint"):
        if isinstance(out.get(key), str):
            import shlex  # here: only a command written as a string needs it

            try:
                out[key] = shlex.split(out[key])
            except ValueError as exc:
                raise InvalidArgument(f"{where}.{key}: cannot split {out[key]!r} into words: "
                                      f"{str(exc).lower()}") from None
    for key in ("dns", "dns_search", "env_file", "tmpfs"):
        if key in out:
            out[key] = _strings(out[key])
    if "labels" in out:
        out["labels"] = mapping(out["labels"])
    if "sysctls" in out:
        out["sysctls"] = mapping(out["sysctls"])
    logging = out.get("logging")
    if isinstance(logging, dict) and "options" in logging:
        out["logging"] = {**logging, "options": mapping(logging["options"])}
    if "extra_hosts" in out:
        out["extra_hosts"] = _hosts(out["extra_hosts"])
    out["environment"] = _at(f"{where}.env_file", _environment, out, working_dir, lookup, budget)
    if not out["environment"] and "environment" not in svc:
        del out["environment"]
    if isinstance(out.get("networks"), list):
        out["networks"] = {n: None for n in out["networks"]}
    if isinstance(out.get("ports"), list):
        ports: list[Any] = []
        for i, item in enumerate(out["ports"]):  # ranges multiply: "1-65535" lines would fill the memory
            entries = _at(f"{where}.ports.{i}", port_entries, item, budget.ports)
            budget.ports -= len(entries)
            ports += entries
        out["ports"] = ports
    if isinstance(out.get("volumes"), list):
        out["volumes"] = [_at(f"{where}.volumes.{i}", _volume, v, working_dir, lookup)
                          for i, v in enumerate(out["volumes"])]
    for key in ("secrets", "configs"):
        if isinstance(out.get(key), list):
            out[key] = [{"source": v} if isinstance(v, str) else v for v in out[key]]
    hc = out.get("healthcheck")
    if isinstance(hc, dict) and isinstance(hc.get("test"), str):
        out["healthcheck"] = {**hc, "test": ["CMD-SHELL", hc["test"]]}
    deploy = out.get("deploy")
    if isinstance(deploy, dict) and "labels" in deploy:
        out["deploy"] = {**deploy, "labels": mapping(deploy["labels"])}
    return out


def _at(where: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, its InvalidArgument prefixed with the key path it is about."""
    try:
        return fn(*args)
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: {exc}") from None


def _hosts(value: Any) -> Any:
    """extra_hosts → ``["host:ip"]`` (docker's transformHostsList: ``host=ip`` or ``host:ip`` entries, or a
    mapping; brackets around an IPv6 address dropped)."""
    if isinstance(value, dict):
        pairs = sorted((k, go_string(v)) for k, v in value.items() if v is not None)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        pairs = []
        for entry in value:
            sep = "=" if "=" in entry else ":"
            host, has, ip = entry.partition(sep)
            if has:
                pairs.append((host, ip))
    else:
        return value
    return [f"{host}:{ip[1:-1] if ip.startswith('[') and ip.endswith(']') else ip}" for host, ip in pairs]


def _environment(svc: Dict, working_dir: str, lookup: Lookup, budget: _Budget) -> Any:
    """env_file's variables, then ``environment``'s; a variable without a value (or an empty one) takes
    the value from the variables interpolation sees, when they have it (docker's updateEnvironment)."""
    declared = mapping(svc.get("environment", {}), allow_none=True)
    if not isinstance(declared, dict):
        return declared
    result: dict[str, str | None] = {}

    def update(values: Mapping[str, str | None]) -> None:
        for key, value in values.items():
            found = lookup(key)
            result[key] = found if (value is None or value == "") and found is not None else value

    files = svc.get("env_file")
    for entry in (files if isinstance(files, list) else []):
        # a path, or the compose-spec's {path, required}: a file that is not required may be missing
        path = entry.get("path") if isinstance(entry, dict) else entry
        if not isinstance(path, str):
            continue
        full = os.path.normpath(os.path.join(working_dir, path))
        if isinstance(entry, dict) and entry.get("required") is False and not os.path.exists(full):
            continue
        if full not in budget.env_files:
            budget.env_files[full] = envfile.parse_env_file(full, lookup)
        variables = budget.env_files[full]
        budget.env -= len(variables)
        if budget.env < 0:
            raise InvalidArgument(f"more than {MAX_ENV} variables from env files in the file")
        update(variables)
    update(declared)
    return result


# ------------------------------------------------------------------------------------------------- ports

_PORT = re.compile(r"^(?:(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+|[^:]*):)?(?P<host>[0-9]*(?:-[0-9]+)?):)?"
                   r"(?P<cont>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>[a-zA-Z]+))?$")


def parse_port_range(text: str, spec: str) -> tuple[int, int]:
    lo, dash, hi = text.partition("-")
    try:
        a, b = int(lo), int(hi) if dash else int(lo)
    except ValueError:
        raise InvalidArgument(f"invalid port {spec!r}: invalid port format '{text}'") from None
    if not (0 <= a <= 65535 and 0 <= b <= 65535) or b < a:
        raise InvalidArgument(f"invalid port {spec!r}: port out of range: {text}")
    return a, b


def parse_port(spec: str) -> tuple[str, int, int, int, int]:
    """A short port spec → (protocol, container low, high, host low, high; 0 for no host port), checked
    without expanding its ranges."""
    m = _PORT.match(spec)
    if m is None:
        raise InvalidArgument(f"invalid port {spec!r}: expected [host_ip:][host_port:]container_port[/protocol]")
    proto = (m.group("proto") or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid port {spec!r}: invalid proto: {proto}")
    c_lo, c_hi = parse_port_range(m.group("cont"), spec)
    host = m.group("host") or ""
    h_lo, h_hi = parse_port_range(host, spec) if host else (0, 0)
    if host and c_hi - c_lo != h_hi - h_lo and c_lo != c_hi:
        raise InvalidArgument(f"invalid port {spec!r}: invalid ranges specified for container and host "
                              f"Ports: {m.group('cont')} and {host}")
    return proto, c_lo, c_hi, h_lo, h_hi


def port_entries(item: Any, budget: int = MAX_PORTS) -> list[Any]:
    """One entry of ``ports``: short syntax (``"8080-8081:80-81/udp"``, ``80``) → long form entries, one
    per port of a range (docker's nat.ParsePortSpecs + ConvertPortToPortConfig); long syntax kept. More
    than ``budget`` entries is an error (ranges multiply)."""
    if isinstance(item, dict) and isinstance(item.get("published"), str) and item["published"].isdigit():
        return [{**item, "published": int(item["published"])}]  # the compose-spec allows "8080"
    if isinstance(item, bool) or not isinstance(item, (int, str)):
        return [item]
    proto, c_lo, c_hi, h_lo, h_hi = parse_port(str(item))
    if max(c_hi - c_lo, h_hi - h_lo) + 1 > budget:
        raise InvalidArgument(f"more than {MAX_PORTS} ports in the file once ranges are expanded")
    if h_lo and c_lo == c_hi and h_lo != h_hi:  # one container port on a range of host ports: each of them
        pairs = [(c_lo, p) for p in range(h_lo, h_hi + 1)]
    else:
        pairs = [(port, h_lo + i if h_lo else 0) for i, port in enumerate(range(c_lo, c_hi + 1))]
    pairs.sort(key=lambda pair: f"{pair[0]}/{proto}")  # docker walks a range's ports as sorted strings
    out: list[Any] = []
    for target, published in pairs:
        entry: Dict = {"mode": "ingress", "target": target, "published": published, "protocol": proto}
        if not published:
            del entry["published"]
        out.append(entry)
    return out


# ------------------------------------------------------------------------------------------------ volumes

_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


def _is_path(source: str) -> bool:
    return source[:1] in (".", "/", "~")


def _volume(item: Any, working_dir: str, lookup: Lookup) -> Any:
    """Short syntax ``[source:]target[:mode]`` → long form; bind sources made absolute."""
    if isinstance(item, str):
        vol: Dict = parse_volume(item)
    elif isinstance(item, dict):
        vol = dict(item)
    else:
        return item
    if vol.get("type") == "bind" and isinstance(vol.get("source"), str) and vol["source"]:
        source = vol["source"]
        if source.startswith("~"):
            home = lookup("HOME")
            if home is not None:
                source = home + source[1:]
        vol["source"] = os.path.normpath(os.path.join(working_dir, source))
    return vol


def parse_volume(spec: str) -> Dict:
    """docker's loader.ParseVolume for a Linux path."""
    if not spec:
        raise InvalidArgument("invalid empty volume spec")
    parts = spec.split(":")
    if any(p == "" for p in parts):
        raise InvalidArgument(f"invalid spec: {spec}: empty section between colons")
    if len(parts) > 3:
        raise InvalidArgument(f"invalid spec: {spec}: too many colons")
    vol: Dict = {}
    if len(parts) == 1:
        vol["type"], vol["target"] = "volume", parts[0]
        return vol
    vol["source"], vol["target"] = parts[0], parts[1]
    vol["type"] = "bind" if _is_path(parts[0]) else "volume"
    if len(parts) == 3:
        for option in parts[2].split(","):
            if option == "ro":
                vol["read_only"] = True
            elif option == "rw":
                vol["read_only"] = False
            elif option == "nocopy":
                vol["volume"] = {"nocopy": True}
            elif option in _PROPAGATIONS:
                vol["bind"] = {"propagation": option}
    return {k: vol[k] for k in ("type", "source", "target", "read_only", "bind", "volume") if k in vol}


# -------------------------------------------------------------------------------------------------- merge


def _by(items: list[Any], key: Callable[[Any], Any]) -> dict[Any, Any]:
    return {key(i) if isinstance(i, dict) else repr(i): i for i in items}


def _port_key(p: Dict) -> tuple[Any, ...]:
    """A later file's port replaces the one published on the same host port (docker keys by published
    port alone, so that unpublished ones, and tcp and udp on one port, collapse: these stay apart)."""
    published = p.get("published") or 0
    return (published, p.get("protocol") or "tcp") if published else (0, p.get("protocol") or "tcp", p.get("target"))


_KEYED: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "ports": (_port_key, lambda p: int(p.get("published") or 0) if isinstance(p, dict) else 0),
    "volumes": (lambda v: v.get("target", ""), lambda v: v.get("target", "") if isinstance(v, dict) else ""),
    "secrets": (lambda v: v.get("source", ""), lambda v: v.get("source", "") if isinstance(v, dict) else ""),
    "configs": (lambda v: v.get("source", ""), lambda v: v.get("source", "") if isinstance(v, dict) else ""),
}
_REPLACED = ("command", "entrypoint", "healthcheck.test")


def _merge_service(base: Dict, over: Dict) -> Dict:
    return _merge(base, over, "")


def _merge(base: Dict, over: Dict, prefix: str) -> Dict:
    out = dict(base)
    for key, value in over.items():
        path = f"{prefix}{key}"
        old = out.get(key)
        if prefix == "" and key in _KEYED and isinstance(old, list) and isinstance(value, list):
            index, order = _KEYED[key]
            merged = _by(old, index)
            merged.update(_by(value, index))
            out[key] = sorted(merged.values(), key=order)
        elif path in _REPLACED or prefix == "networks.":
            out[key] = value
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = _merge(old, value, f"{path}.")
        elif isinstance(old, list) and isinstance(value, list):
            out[key] = old + value
        else:
            out[key] = value
    return out
