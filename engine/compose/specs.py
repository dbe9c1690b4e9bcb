"""A loaded project → what ``docker stack deploy`` sends: network create bodies, secret and config specs,
service specs (docker/cli's ``cli/compose/convert``), as docker's JSON (Engine API v1.50 shapes, fields
left out where Go's ``omitempty`` leaves them out).

Specs are deterministic (environment sorted, networks sorted by target, secrets and configs by name,
ports by published port), so a redeploy can compare them with what it sent before. Two things differ
from docker's CLI on purpose: ``Mode.Replicated.Replicas`` is always set (1 when the file says nothing,
the daemon's default), and a secret or config reference carries ``SecretName``/``ConfigName`` with an
empty ``SecretID``/``ConfigID``: the deployer fills the ids once the objects exist (docker's CLI looks
them up while converting, which needs a daemon).
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping

from ..errors import InvalidArgument, InvalidReference
from ..units import go_duration_ns, ram_in_bytes
from .yamlfile import go_string

TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any, TypedDict

    from .project import Project

    Dict = dict[str, Any]

    class NetworkCreate(TypedDict):
        """POST /networks/create's body, as docker's CLI sends it for a stack network."""

        Driver: str
        Scope: str
        IPAM: Dict | None
        Internal: bool
        Attachable: bool
        Ingress: bool
        ConfigOnly: bool
        ConfigFrom: Dict | None
        Options: dict[str, str] | None
        Labels: dict[str, str]
        Name: str

    class _ObjectSpec(TypedDict):
        Name: str
        Labels: dict[str, str]

    class ObjectSpec(_ObjectSpec, total=False):
        """A SecretSpec or ConfigSpec: ``Data`` base64, or a secret's ``Driver``; ``Templating``."""

        Data: str
        Driver: Dict
        Templating: Dict

    class _ServiceSpec(TypedDict):
        Name: str
        Labels: dict[str, str]
        TaskTemplate: Dict
        Mode: Dict

    class ServiceSpec(_ServiceSpec, total=False):
        """docker's ServiceSpec (TaskTemplate.ContainerSpec, Resources, RestartPolicy, Placement,
        Networks, ForceUpdate inside); convert always sets EndpointSpec."""

        UpdateConfig: Dict
        RollbackConfig: Dict
        EndpointSpec: Dict

LABEL_NAMESPACE = "com.docker.stack.namespace"
LABEL_IMAGE = "com.docker.stack.image"
DEFAULT_NETWORK = "default"
DEFAULT_DRIVER = "overlay"
MAX_DATA = 16 << 20  # the secrets' and configs' data of one stack, all together (each at most 500 KiB)


class StackPlan:
    """Everything a stack deploy creates, keyed by the objects' full names (``<stack>_<name>``).

    Attributes:
        namespace: the stack's name.
        networks: name → NetworkCreate body (with its "Name"), the networks the services use.
        external_networks: the names of external networks the services use (they must exist).
        secrets, configs: name → SecretSpec / ConfigSpec (``Data`` base64), every one the file defines.
        external_secrets, external_configs: the names of the external ones the services use (they must
            exist).
        services: name → ServiceSpec.
    """

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.networks: dict[str, NetworkCreate] = {}
        self.external_networks: list[str] = []
        self.secrets: dict[str, ObjectSpec] = {}
        self.external_secrets: list[str] = []
        self.configs: dict[str, ObjectSpec] = {}
        self.external_configs: list[str] = []
        self.services: dict[str, ServiceSpec] = {}

    def __repr__(self) -> str:
        return f"StackPlan({self.namespace!r}, services={list(self.services)!r})"

    def resolve_references(self, secret_ids: Mapping[str, str], config_ids: Mapping[str, str]) -> None:
        """Fill the services' ``SecretID``/``ConfigID`` from the ids of the objects by name, once they
        exist (docker's ParseSecrets/ParseConfigs); InvalidArgument names one that does not."""
        for spec in self.services.values():
            container = spec["TaskTemplate"]["ContainerSpec"]
            for key, ids in (("Secret", secret_ids), ("Config", config_ids)):
                for ref in container.get(f"{key}s", []):
                    name = ref[f"{key}Name"]
                    if name not in ids:
                        raise InvalidArgument(f"{key.lower()} not found: {name}")
                    ref[f"{key}ID"] = ids[name]


def scope(namespace: str, name: str) -> str:
    return f"{namespace}_{name}"


def _stack_labels(namespace: str, labels: Any) -> dict[str, str]:
    out = dict(labels) if isinstance(labels, dict) else {}
    out[LABEL_NAMESPACE] = namespace
    return out


def _ns(value: Any, where: str) -> int:
    """A compose duration (``10s``) in nanoseconds."""
    try:
        return go_duration_ns(str(value))
    except ValueError as exc:
        raise InvalidArgument(f"{where}: {exc}") from None


def parse_cpus(value: Any, where: str) -> int:
    """``"0.5"`` → 500000000 NanoCPUs (docker's opts.ParseCPUs: exact, at most 9 decimals)."""
    text = go_string(value).strip()
    m = re.fullmatch(r"(\d*)(?:\.(\d*))?", text)
    if m is None or not (m.group(1) or m.group(2)):
        raise InvalidArgument(f"{where}: invalid value '{text}': a number of CPUs is expected (like 0.5)")
    whole, frac = m.group(1) or "0", (m.group(2) or "").rstrip("0")
    if len(frac) > 9:
        raise InvalidArgument(f"{where}: invalid value '{text}': value is too precise")
    return int(whole) * 10**9 + (int(frac.ljust(9, "0")) if frac else 0)


def parse_bytes(value: Any, where: str) -> int:
    """``50M`` → 52428800 (docker's RAMInBytes); an integer is bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return ram_in_bytes(str(value))
    except InvalidArgument:
        raise InvalidArgument(f"{where}: invalid size '{value}' (a number of bytes with an optional unit: "
                              f"b, k, m, g)") from None


def _drop_empty(d: Dict) -> Dict:
    """Go's omitempty: no None, "", 0, False, [] or {} values."""
    return {k: v for k, v in d.items() if v not in (None, "", 0, False, [], {})}


def convert(project: Project, namespace: str) -> StackPlan:
    """``project`` as the objects of stack ``namespace``.

    Raises:
        InvalidArgument: a value that does not convert (one line naming its key path), an undefined
            network, volume, secret or config, a secret or config file that cannot be read.
    """
    plan = StackPlan(namespace)
    used: set[str] = set()
    for name, svc in project.services.items():
        check_image(name, svc.get("image"))
        networks = svc.get("networks")
        used.update(networks if isinstance(networks, dict) and networks else [DEFAULT_NETWORK])
    for internal in sorted(used):
        if internal not in project.networks and internal != DEFAULT_NETWORK:
            continue  # reported by the service that names it
        nw = project.networks.get(internal, {})
        if nw.get("external"):
            plan.external_networks.append(nw.get("name") or internal)
            continue
        full = nw.get("name") or scope(namespace, internal)
        plan.networks[full] = _network(namespace, full, nw)
    data_left = MAX_DATA
    for kind, target, externals in (("secret", plan.secrets, plan.external_secrets),
                                    ("config", plan.configs, plan.external_configs)):
        objects = project.secrets if kind == "secret" else project.configs
        referenced = {ref.get("source") if isinstance(ref, dict) else ref
                      for svc in project.services.values() for ref in svc.get(f"{kind}s") or []}
        for name, obj in sorted(objects.items()):
            if obj.get("external"):
                if name in referenced:  # the ones the services use must exist (docker looks them up)
                    externals.append(obj.get("name") or name)
                continue
            full = obj.get("name") or scope(namespace, name)
            target[full] = _file_object(namespace, kind, name, full, obj)
            data_left -= len(target[full].get("Data", "")) * 3 // 4
            if data_left < 0:
                raise InvalidArgument(f"{kind}s.{name}: the stack's secrets and configs hold more than "
                                      f"{MAX_DATA >> 20} MiB")
    for name, svc in project.services.items():
        spec = service_spec(project, namespace, name, svc)
        plan.services[spec["Name"]] = spec
    return plan


def check_image(name: str, image: Any) -> str:
    """docker's check that a service names a valid image reference; the image as the file writes it
    (docker's API client, not its converter, adds ``:latest`` to a bare name when it sends the spec)."""
    if not image:
        raise InvalidArgument(f"invalid image reference for service {name}: no image specified")
    from ..reference import parse

    text = str(image)
    try:
        parse(text, default_tag=False)
    except InvalidReference as exc:
        raise InvalidArgument(f"invalid image reference for service {name}: {exc}") from None
    return text


def check_model(project: Project) -> None:
    """Every conversion ``convert`` makes, for its errors (validate's second half)."""
    convert(project, "stack")


def _network(namespace: str, full: str, nw: Dict) -> NetworkCreate:
    ipam = nw.get("ipam") if isinstance(nw.get("ipam"), dict) else None
    body: NetworkCreate = {"Driver": nw.get("driver") or DEFAULT_DRIVER, "Scope": "", "IPAM": None,
                  "Internal": bool(nw.get("internal")), "Attachable": bool(nw.get("attachable")),
                  "Ingress": False, "ConfigOnly": False, "ConfigFrom": None,
                  "Options": {k: go_string(v) for k, v in nw["driver_opts"].items()} if nw.get("driver_opts")
                  else None,
                  "Labels": _stack_labels(namespace, nw.get("labels")), "Name": full}
    if ipam and (ipam.get("driver") or ipam.get("config")):
        settings: Dict = {"Driver": ipam.get("driver", ""), "Options": None}
        subnets = [_drop_empty({"Subnet": c.get("subnet", "")}) for c in ipam.get("config") or []]
        if subnets:
            settings["Config"] = subnets
        body["IPAM"] = settings
    return body


def _file_object(namespace: str, kind: str, name: str, full: str, obj: Dict) -> ObjectSpec:
    spec: ObjectSpec = {"Name": full, "Labels": _stack_labels(namespace, obj.get("labels"))}
    if kind == "secret" and obj.get("driver"):
        spec["Driver"] = {"Name": obj["driver"], "Options": {k: go_string(v) for k, v in
                                                            (obj.get("driver_opts") or {}).items()}}
    else:
        path = obj.get("file")
        if not path:
            raise InvalidArgument(f"{kind}s.{name}: a file (or external: true) is required")
        try:
            with open(path, "rb") as f:
                data = f.read((500 << 10) + 1)
        except OSError as exc:
            raise InvalidArgument(f"{kind}s.{name}: open {path}: {exc.strerror}") from None
        if len(data) > 500 << 10:
            raise InvalidArgument(f"{kind}s.{name}: {path} is larger than 500 KiB, the limit for a {kind}")
        spec["Data"] = binascii.b2a_base64(data, newline=False).decode()
    if obj.get("template_driver"):
        spec["Templating"] = {"Name": obj["template_driver"]}
    return spec


# ------------------------------------------------------------------------------------------------ service


def service_spec(project: Project, namespace: str, name: str, svc: Dict) -> ServiceSpec:
    """One service's ServiceSpec (docker/cli's convert.Service)."""
    where = f"services.{name}"
    deploy: Dict = svc.get("deploy") or {}
    cap_add, cap_drop = _capabilities(svc.get("cap_add"), svc.get("cap_drop"))
    container: Dict = {
        "Image": check_image(name, svc.get("image")),
        "Labels": _stack_labels(namespace, svc.get("labels")),
        "Command": svc.get("entrypoint"),
        "Args": svc.get("command"),
        "Hostname": svc.get("hostname"),
        "Env": _environment(svc.get("environment")),
        "Dir": svc.get("working_dir"),
        "User": svc.get("user"),
        "Privileges": {"CredentialSpec": _credential_spec(svc.get("credential_spec"), where),
                       "SELinuxContext": None, "NoNewPrivileges": False},
        "Init": svc.get("init"),
        "StopSignal": svc.get("stop_signal"),
        "TTY": bool(svc.get("tty")),
        "OpenStdin": bool(svc.get("stdin_open")),
        "ReadOnly": bool(svc.get("read_only")),
        "Mounts": _mounts(project, namespace, svc.get("volumes") or [], where),
        "StopGracePeriod": _ns(svc["stop_grace_period"], f"{where}.stop_grace_period")
        if svc.get("stop_grace_period") is not None else None,
        "Healthcheck": _healthcheck(svc.get("healthcheck"), where),
        "Hosts": [f"{ip} {host}" for host, sep, ip in (h.partition(":") for h in svc.get("extra_hosts") or [])
                  if sep],  # swarmkit's "IP hostname"
        "DNSConfig": _drop_empty({"Nameservers": svc.get("dns"), "Search": svc.get("dns_search")}) or None,
        "Secrets": _references(project, namespace, "secret", svc.get("secrets") or [], where),
        "Configs": _references(project, namespace, "config", svc.get("configs") or [], where),
        "Isolation": svc.get("isolation"),
        "Sysctls": svc.get("sysctls"),
        "CapabilityAdd": cap_add,
        "CapabilityDrop": cap_drop,
        "Ulimits": _ulimits(svc.get("ulimits")),
        "OomScoreAdj": svc.get("oom_score_adj"),
    }
    # Go's omitempty, but a pointer (Init, StopGracePeriod) stays when set, to false or 0 too
    container = {k: v for k, v in container.items()
                 if k in ("Privileges", "Init", "StopGracePeriod") and v is not None
                 or v not in (None, "", 0, False, [], {})}
    task: Dict = {"ContainerSpec": container}
    if isinstance(svc.get("logging"), dict) and svc["logging"]:
        task["LogDriver"] = _drop_empty({"Name": svc["logging"].get("driver", ""),
                                         "Options": {k: go_string(v) for k, v in
                                                     (svc["logging"].get("options") or {}).items()}})
    task["Resources"] = _resources(deploy.get("resources") or {}, f"{where}.deploy.resources")
    restart = _restart_policy(svc.get("restart"), deploy.get("restart_policy"), where)
    if restart is not None:
        task["RestartPolicy"] = restart
    placement: Dict = deploy.get("placement") or {}
    task["Placement"] = _drop_empty({
        "Constraints": placement.get("constraints"),
        "Preferences": [{"Spread": {"SpreadDescriptor": p.get("spread", "")}} for p in
                        placement.get("preferences") or []],
        "MaxReplicas": placement.get("max_replicas_per_node")})
    task["Networks"] = _service_networks(project, namespace, name, svc.get("networks"), where)
    task["ForceUpdate"] = 0
    spec: ServiceSpec = {
        "Name": scope(namespace, name),
        "Labels": {**_stack_labels(namespace, deploy.get("labels")), LABEL_IMAGE: svc.get("image", "")},
        "TaskTemplate": task,
        "Mode": _mode(deploy, f"{where}.deploy"),
    }
    if deploy.get("update_config") is not None:
        spec["UpdateConfig"] = _update_config(deploy["update_config"], f"{where}.deploy.update_config")
    if deploy.get("rollback_config") is not None:
        spec["RollbackConfig"] = _update_config(deploy["rollback_config"], f"{where}.deploy.rollback_config")
    spec["EndpointSpec"] = _endpoint(deploy.get("endpoint_mode"), svc.get("ports") or [], where)
    spec["Labels"] = dict(sorted(spec["Labels"].items()))
    return spec


def _environment(env: Any) -> list[str] | None:
    if not isinstance(env, dict):
        return None
    return sorted(k if v is None else f"{k}={v}" for k, v in env.items()) or None


def _capability(cap: Any) -> str:
    """docker's opts.NormalizeCapability: upper case, a ``CAP_`` prefix; ``ALL`` and ``RESET`` as they are."""
    up = str(cap).strip().upper()
    return up if up in ("ALL", "RESET") or up.startswith("CAP_") else "CAP_" + up


def _capabilities(add: Any, drop: Any) -> tuple[list[str] | None, list[str] | None]:
    """docker's opts.EffectiveCapAddCapDrop: ALL trumps the others, adding wins over dropping, RESET goes."""
    adds = {_capability(c) for c in add or []}
    drops = {_capability(c) for c in drop or []}
    adds = {"ALL"} if "ALL" in adds else adds
    drops = {"ALL"} if "ALL" in drops else drops
    cap_add = sorted(c for c in adds if c != "RESET")
    cap_drop = sorted(c for c in drops if c not in adds and c != "RESET")
    return cap_add or None, cap_drop or None


def _ulimits(ulimits: Any) -> list[Dict] | None:
    if not isinstance(ulimits, dict) or not ulimits:
        return None
    out = []
    for name, u in sorted(ulimits.items()):
        soft, hard = (u, u) if isinstance(u, int) else (u.get("soft", 0), u.get("hard", 0))
        out.append({"Name": name, "Hard": hard, "Soft": soft})
    return out


def _credential_spec(spec: Any, where: str) -> Dict | None:
    if not isinstance(spec, dict) or not spec:
        return None
    given = [k for k in ("config", "file", "registry") if spec.get(k)]
    if len(given) > 1:
        raise InvalidArgument(f"{where}.credential_spec: invalid credential spec: cannot specify both "
                              f"{', '.join(repr(k.title()) for k in given)}")
    return {"Config": spec.get("config", ""), "File": spec.get("file", ""), "Registry": spec.get("registry", "")} \
        if given else None


def _healthcheck(hc: Any, where: str) -> Dict | None:
    if not isinstance(hc, dict):
        return None
    if hc.get("disable"):
        if hc.get("test"):
            raise InvalidArgument(f"{where}.healthcheck: test and disable can't be set at the same time")
        return {"Test": ["NONE"]}
    out: Dict = {"Test": hc.get("test")}
    for key, field_name in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                            ("start_interval", "StartInterval")):
        if hc.get(key) is not None:
            out[field_name] = _ns(hc[key], f"{where}.healthcheck.{key}")
    out["Retries"] = hc.get("retries")
    return _drop_empty(out)


def _restart_policy(restart: Any, policy: Any, where: str) -> Dict | None:
    if isinstance(policy, dict):
        out: Dict = {"Condition": policy.get("condition", "")}
        if policy.get("delay") is not None:
            out["Delay"] = _ns(policy["delay"], f"{where}.deploy.restart_policy.delay")
        if policy.get("max_attempts") is not None:
            out["MaxAttempts"] = policy["max_attempts"]
        if policy.get("window") is not None:
            out["Window"] = _ns(policy["window"], f"{where}.deploy.restart_policy.window")
        return {k: v for k, v in out.items() if v != ""}
    if not restart:
        return None
    name, _, count = str(restart).partition(":")
    attempts = None
    if count:
        try:
            attempts = int(count)
        except ValueError:
            raise InvalidArgument(f"{where}.restart: invalid restart policy: maximum retry count must be an "
                                  f"integer") from None
        if attempts < 0:
            raise InvalidArgument(f"{where}.restart: invalid restart policy: maximum retry count cannot be "
                                  f"negative")
    if name in ("no", ""):
        return None
    if name in ("always", "unless-stopped"):
        return _drop_empty({"Condition": "any", "MaxAttempts": attempts})
    if name == "on-failure":
        return _drop_empty({"Condition": "on-failure", "MaxAttempts": attempts})
    raise InvalidArgument(f"{where}.restart: invalid restart policy: unknown policy '{name}' (must be one of "
                          f"'no', 'always', 'on-failure', or 'unless-stopped')")


def _resources(resources: Dict, where: str) -> Dict:
    out: Dict = {}
    limits = resources.get("limits")
    if isinstance(limits, dict):
        out["Limits"] = _drop_empty({
            "NanoCPUs": parse_cpus(limits["cpus"], f"{where}.limits.cpus") if limits.get("cpus") is not None
            else 0,
            "MemoryBytes": parse_bytes(limits["memory"], f"{where}.limits.memory")
            if limits.get("memory") is not None else 0,
            "Pids": limits.get("pids")})
    reservations = resources.get("reservations")
    if isinstance(reservations, dict):
        generic = [{"DiscreteResourceSpec": {"Kind": g["discrete_resource_spec"].get("kind", ""),
                                             "Value": g["discrete_resource_spec"].get("value", 0)}}
                   if g.get("discrete_resource_spec") else {} for g in reservations.get("generic_resources") or []]
        out["Reservations"] = _drop_empty({
            "NanoCPUs": parse_cpus(reservations["cpus"], f"{where}.reservations.cpus")
            if reservations.get("cpus") is not None else 0,
            "MemoryBytes": parse_bytes(reservations["memory"], f"{where}.reservations.memory")
            if reservations.get("memory") is not None else 0,
            "GenericResources": generic})
    return out


def _mode(deploy: Dict, where: str) -> Dict:
    mode = deploy.get("mode") or "replicated"
    replicas = deploy.get("replicas")
    if mode in ("global", "global-job"):
        if replicas is not None:
            raise InvalidArgument(f"{where}.replicas: replicas can only be used with replicated or "
                                  f"replicated-job mode")
        return {"Global": {}} if mode == "global" else {"GlobalJob": {}}
    if isinstance(replicas, bool) or replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        raise InvalidArgument(f"{where}.replicas must be a whole number, 0 or more (got {replicas})")
    if mode == "replicated-job":
        return {"ReplicatedJob": {} if replicas is None else {"MaxConcurrent": replicas,
                                                              "TotalCompletions": replicas}}
    if mode != "replicated":
        raise InvalidArgument(f"{where}.mode: unknown mode: {mode}")
    return {"Replicated": {"Replicas": 1 if replicas is None else replicas}}


def _update_config(cfg: Any, where: str) -> Dict:
    cfg = cfg if isinstance(cfg, dict) else {}
    out: Dict = {"Parallelism": 1 if cfg.get("parallelism") is None else cfg["parallelism"]}
    if cfg.get("delay") is not None:
        out["Delay"] = _ns(cfg["delay"], f"{where}.delay")
    if cfg.get("failure_action"):
        out["FailureAction"] = cfg["failure_action"]
    if cfg.get("monitor") is not None:
        out["Monitor"] = _ns(cfg["monitor"], f"{where}.monitor")
    out["MaxFailureRatio"] = cfg.get("max_failure_ratio") or 0
    out["Order"] = cfg.get("order") or ""  # no omitempty on docker's Order
    return {k: v for k, v in out.items() if v != 0 or k in ("Parallelism", "MaxFailureRatio")}


def _endpoint(mode: Any, ports: list[Any], where: str) -> Dict:
    configs = []
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            raise InvalidArgument(f"{where}.ports.{i}: invalid port {p!r}")
        published = p.get("published") or 0
        try:
            published = int(published)
        except (TypeError, ValueError):
            raise InvalidArgument(f"{where}.ports.{i}.published: invalid port '{published}'") from None
        if not 0 <= published <= 65535:
            raise InvalidArgument(f"{where}.ports.{i}.published: port out of range: {published}")
        configs.append(_drop_empty({"Name": p.get("name"), "Protocol": p.get("protocol"),
                                    "TargetPort": p.get("target"), "PublishedPort": published,
                                    "PublishMode": p.get("mode")}))
    configs.sort(key=lambda c: c.get("PublishedPort", 0))
    return _drop_empty({"Mode": str(mode).lower() if mode else "", "Ports": configs})


def _service_networks(project: Project, namespace: str, service: str, networks: Any, where: str) -> list[Dict]:
    attached = networks if isinstance(networks, dict) and networks else {DEFAULT_NETWORK: None}
    out = []
    for name, cfg in attached.items():
        if name not in project.networks and name != DEFAULT_NETWORK:
            raise InvalidArgument(f'{where}.networks: undefined network "{name}"')
        nw = project.networks.get(name, {})
        target = nw.get("name") or scope(namespace, name)
        cfg = cfg if isinstance(cfg, dict) else {}
        aliases = list(cfg.get("aliases") or [])
        if target not in ("host", "bridge", "none", "default") and not target.startswith("container:"):
            aliases.append(service)
        out.append(_drop_empty({"Target": target, "Aliases": aliases,
                                "DriverOpts": {k: go_string(v) for k, v in (cfg.get("driver_opts") or {}).items()}}))
    out.sort(key=lambda n: n["Target"])
    return out


def _mounts(project: Project, namespace: str, volumes: list[Any], where: str) -> list[Dict]:
    out = []
    for i, vol in enumerate(volumes):
        at = f"{where}.volumes.{i}"
        if not isinstance(vol, dict):
            raise InvalidArgument(f"{at}: invalid volume {vol!r}")
        kind = vol.get("type") or "volume"
        source = vol.get("source") or ""
        mount: Dict = _drop_empty({"Type": kind, "Source": source, "Target": vol.get("target"),
                                   "ReadOnly": vol.get("read_only"), "Consistency": vol.get("consistency")})
        others = {"volume", "bind", "tmpfs", "image"} - {kind}
        for option in sorted(others):
            if vol.get(option) is not None:
                raise InvalidArgument(f"{at}: {option} options are incompatible with type {kind}")
        if not vol.get("target"):
            raise InvalidArgument(f"{at}: invalid mount config for type \"{kind}\": field Target must not be empty")
        if kind == "volume":
            if source:
                stack_volume = project.volumes.get(source)
                if stack_volume is None:
                    raise InvalidArgument(f'{at}: undefined volume "{source}"')
                mount["Source"] = stack_volume.get("name") or scope(namespace, source)
                options: Dict = _drop_empty({"NoCopy": (vol.get("volume") or {}).get("nocopy"),
                                             "Subpath": (vol.get("volume") or {}).get("subpath")})
                if not stack_volume.get("external"):
                    options["Labels"] = _stack_labels(namespace, stack_volume.get("labels"))
                    if stack_volume.get("driver") or stack_volume.get("driver_opts") is not None:
                        options["DriverConfig"] = _drop_empty({
                            "Name": stack_volume.get("driver"),
                            "Options": {k: go_string(v) for k, v in (stack_volume.get("driver_opts") or {}).items()}})
                mount["VolumeOptions"] = options
        elif kind == "bind":
            if not source:
                raise InvalidArgument(f"{at}: invalid mount config for type \"bind\": field Source must not be "
                                      f"empty")
            if vol.get("bind") is not None:
                mount["BindOptions"] = _drop_empty({"Propagation": vol["bind"].get("propagation")})
        elif kind == "tmpfs":
            if source:
                raise InvalidArgument(f"{at}: invalid tmpfs source, source must be empty")
            if vol.get("tmpfs") is not None:
                size = vol["tmpfs"].get("size")
                mount["TmpfsOptions"] = _drop_empty({"SizeBytes": parse_bytes(size, f"{at}.tmpfs.size")
                                                     if size is not None else 0})
        else:
            raise InvalidArgument(f"{at}: volume type {kind} is not supported by a stack (volume, bind or tmpfs)")
        out.append(mount)
    return out


def _references(project: Project, namespace: str, kind: str, refs: list[Any], where: str) -> list[Dict]:
    objects = project.secrets if kind == "secret" else project.configs
    out = []
    for ref in refs:
        source = ref.get("source", "") if isinstance(ref, dict) else str(ref)
        obj = objects.get(source)
        if obj is None:
            raise InvalidArgument(f'{where}.{kind}s: undefined {kind} "{source}"')
        name = obj.get("name") or scope(namespace, source)
        target = ref.get("target") or source
        mode = ref.get("mode")
        file = {"Name": target, "UID": str(ref.get("uid") or "0"), "GID": str(ref.get("gid") or "0"),
                "Mode": 0o444 if mode is None else int(mode, 8) if isinstance(mode, str) else int(mode)}
        key = "Secret" if kind == "secret" else "Config"
        out.append({"File": file, f"{key}ID": "", f"{key}Name": name})
    out.sort(key=lambda r: str(r.get("SecretName") or r.get("ConfigName") or ""))
    return out
