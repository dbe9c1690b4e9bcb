"""Docker's swarm objects as data: task states, ids, names, the defaults docker fills in.

Task states in order (moby api/swagger.yaml ``TaskState``); a task only moves forward.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Iterable
from typing import Any

STATES = ("new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running",
          "complete", "shutdown", "failed", "rejected", "remove", "orphaned")
ORDER = {s: i for i, s in enumerate(STATES)}
TERMINAL = frozenset({"complete", "shutdown", "failed", "rejected", "remove", "orphaned"})
ACTIVE = frozenset({"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting",
                    "running"})
# the message docker's task status carries in each state
MESSAGES = {"new": "created", "allocated": "allocated", "pending": "pending task scheduling",
            "assigned": "scheduler assigned task to node", "accepted": "accepted", "preparing": "preparing",
            "ready": "prepared", "starting": "starting", "running": "started", "complete": "finished",
            "shutdown": "shutdown", "failed": "started", "rejected": "preparing", "orphaned": "orphaned"}

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
SECOND = 1_000_000_000  # docker's durations are nanoseconds

RESTART_DEFAULTS: dict[str, Any] = {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0}
UPDATE_DEFAULTS: dict[str, Any] = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * SECOND,
                                   "MaxFailureRatio": 0, "Order": "stop-first"}
ROLLBACK_DEFAULTS: dict[str, Any] = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * SECOND,
                                     "MaxFailureRatio": 0, "Order": "stop-first"}
SWARM_SPEC_DEFAULTS: dict[str, Any] = {
    "Name": "default", "Labels": {}, "Orchestration": {"TaskHistoryRetentionLimit": 5},
    "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
             "ElectionTick": 10, "HeartbeatTick": 1},
    "Dispatcher": {"HeartbeatPeriod": 5 * SECOND}, "CAConfig": {"NodeCertExpiry": 7776000 * SECOND},
    "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": False}}


def new_id() -> str:
    """An object id as swarmkit makes them: 25 characters of [a-z0-9]."""
    return "".join(secrets.choice(ALPHABET) for _ in range(25))


def rfc3339_nano(t: float | None = None) -> str:
    """A UTC time with nanoseconds, as docker writes ``CreatedAt`` and status timestamps (Go's
    RFC3339Nano: trailing zeros of the fraction dropped)."""
    t = time.time() if t is None else t
    whole = int(t)
    frac = f"{int((t - whole) * 1e9):09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + (f".{frac}" if frac else "") + "Z"


def parse_time(text: str) -> float:
    """The inverse of :func:`rfc3339_nano` (0 for an empty or zero time)."""
    if not text or text.startswith("0001-"):
        return 0.0
    import calendar
    main, _, frac = text.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0.0)


def task_name(service_name: str, slot: int, node_id: str, task_id: str, global_mode: bool) -> str:
    """A task's (and its container's) name: ``<service>.<slot>.<task id>``; global, or slot 0 (a replicated job's
    first), ``<service>.<node>.<task>`` (swarmkit's)."""
    return f"{service_name}.{node_id if global_mode or not slot else slot}.{task_id}"


MODE_FIELDS: dict[str, tuple[str, ...]] = {"Replicated": ("Replicas",), "Global": (),
                                            "ReplicatedJob": ("MaxConcurrent", "TotalCompletions"), "GlobalJob": ()}


def fold_keys(obj: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``obj`` with each key that matches one of ``names`` but for case renamed to it: dockerd decodes a body
    with Go's encoding/json, which matches a struct's field names case-insensitively (docker-py sends
    ``{"replicated": {"Replicas": 2}}`` for a Mode), and answers with the field's own name. Two keys for
    one field: the later wins, as in Go."""
    by_fold = {n.casefold(): n for n in names}
    return {by_fold.get(key.casefold(), key): value for key, value in obj.items()}


def without_nulls(value: Any) -> Any:
    """A request body without its ``null`` members, at any depth: dockerd decodes ``null`` into a Go
    field's zero value and leaves it out of its answers (``omitempty``), so docker-py's ``"Args": null``
    is no Args at all; ``null`` items of a list stay."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def canonical_mode(mode: Any) -> Any:
    """A ServiceSpec's ``Mode`` with docker's field names (see :func:`fold_keys`); not a dict: as it is."""
    if not isinstance(mode, dict):
        return mode
    out = fold_keys(mode, MODE_FIELDS)
    for name, fields in MODE_FIELDS.items():
        if isinstance(out.get(name), dict):
            out[name] = fold_keys(out[name], fields)
    return out


def mode_of(spec: dict[str, Any]) -> str:
    """``replicated``, ``global``, ``replicated-job`` or ``global-job``."""
    mode = spec.get("Mode") or {}
    for name in ("Global", "ReplicatedJob", "GlobalJob"):
        if name in mode:
            return {"Global": "global", "ReplicatedJob": "replicated-job", "GlobalJob": "global-job"}[name]
    return "replicated"


def replicas_of(spec: dict[str, Any]) -> int:
    """The replica count of a replicated service (1 when unset, as docker); of a replicated job, the
    completions it runs to (``TotalCompletions``, by default ``MaxConcurrent``)."""
    mode = spec.get("Mode") or {}
    if "ReplicatedJob" in mode:
        job = mode["ReplicatedJob"] or {}
        total = job.get("TotalCompletions")
        return job_concurrency(spec) if total is None else int(total)
    replicated = mode.get("Replicated")
    if replicated is None:
        return 1
    value = replicated.get("Replicas")
    return 1 if value is None else int(value)


def slots_of(spec: dict[str, Any]) -> list[int]:
    """The slots a service's tasks fill on this node: 1…replicas; a replicated job's completions 0…n-1 (as
    swarmkit numbers them, and docker's CLI reads them); a global service's one task, slot 0."""
    mode = mode_of(spec)
    if mode.startswith("global"):
        return [0]
    first = 0 if mode == "replicated-job" else 1
    return list(range(first, first + replicas_of(spec)))


def job_concurrency(spec: dict[str, Any]) -> int:
    """How many of a replicated job's tasks run at once (``MaxConcurrent``, 1 when unset)."""
    value = ((spec.get("Mode") or {}).get("ReplicatedJob") or {}).get("MaxConcurrent")
    return 1 if value is None else max(int(value), 1)


def with_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """A ServiceSpec with docker's defaults filled in (``inspect --insert-defaults`` / ``?insertDefaults``)."""
    out = copy.deepcopy(spec)
    template = out.setdefault("TaskTemplate", {})
    template.setdefault("ContainerSpec", {})
    template["RestartPolicy"] = {**RESTART_DEFAULTS, **(template.get("RestartPolicy") or {})}
    template.setdefault("Resources", {"Limits": {}, "Reservations": {}})
    template.setdefault("Placement", {})
    template.setdefault("ForceUpdate", 0)
    if mode_of(out) == "replicated":
        out["Mode"] = {"Replicated": {"Replicas": replicas_of(out)}}
    out["UpdateConfig"] = {**UPDATE_DEFAULTS, **(out.get("UpdateConfig") or {})}
    out["RollbackConfig"] = {**ROLLBACK_DEFAULTS, **(out.get("RollbackConfig") or {})}
    out.setdefault("EndpointSpec", {"Mode": "vip"})
    out["EndpointSpec"].setdefault("Mode", "vip")
    return out


def restart_policy(spec: dict[str, Any]) -> dict[str, Any]:
    """The task template's RestartPolicy with docker's defaults (condition any, delay 5 s, no limit). A
    job's task that completes is done: for jobs, condition any means on-failure (swarmkit's)."""
    policy = {**RESTART_DEFAULTS, **(((spec.get("TaskTemplate") or {}).get("RestartPolicy")) or {})}
    if mode_of(spec).endswith("-job") and (policy.get("Condition") or "any") == "any":
        policy["Condition"] = "on-failure"
    return policy


def update_config(spec: dict[str, Any], rollback: bool = False) -> dict[str, Any]:
    key, defaults = ("RollbackConfig", ROLLBACK_DEFAULTS) if rollback else ("UpdateConfig", UPDATE_DEFAULTS)
    return {**defaults, **(spec.get(key) or {})}


def status(state: str, message: str | None = None, err: str | None = None, container_id: str = "",
           pid: int = 0, exit_code: int | None = None) -> dict[str, Any]:
    """A task's ``Status`` as docker shows it."""
    out: dict[str, Any] = {"Timestamp": rfc3339_nano(), "State": state,
                           "Message": MESSAGES.get(state, state) if message is None else message}
    if err:
        out["Err"] = err
    if container_id:
        out["ContainerStatus"] = {"ContainerID": container_id, "PID": pid, "ExitCode": exit_code or 0}
    out["PortStatus"] = {}
    return out
