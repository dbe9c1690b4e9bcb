"""The rules the reconciler follows: restart policy, placement constraints, task history, what an
update changes. Pure functions over docker's objects (rows of the store as dicts)."""

from __future__ import annotations

import json
import re
from typing import Any

from .model import ACTIVE, SECOND, TERMINAL, parse_time, restart_policy

NO_SUITABLE_NODE = "no suitable node (scheduling constraints not satisfied on 1 node)"
CONSTRAINT_RE = re.compile(r"^\s*([\w.\-]+)\s*(==|!=)\s*(.*?)\s*$")


class ConstraintError(ValueError):
    """A placement constraint docker would refuse (its text is the message)."""


def parse_constraint(text: str) -> tuple[str, str, str]:
    m = CONSTRAINT_RE.match(text)
    if m is None or not m.group(3):
        raise ConstraintError(f"invalid constraint: {text!r}: it should be <key>==<value> or <key>!=<value>")
    key = m.group(1).lower()
    if key not in ("node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch") and \
            not key.startswith(("node.labels.", "engine.labels.")):
        raise ConstraintError(f"constraint expected one operator from ==, != (invalid key {m.group(1)!r})")
    return m.group(1), m.group(2), m.group(3)


def node_value(node: dict[str, Any], key: str) -> str | None:
    """What ``key`` of a placement constraint is on this node (None: the node has no such label)."""
    lower = key.lower()
    desc = node.get("Description") or {}
    if lower == "node.id":
        return str(node.get("ID", ""))
    if lower == "node.hostname":
        return str(desc.get("Hostname", ""))
    if lower == "node.role":
        return str((node.get("Spec") or {}).get("Role", ""))
    if lower == "node.platform.os":
        return str((desc.get("Platform") or {}).get("OS", ""))
    if lower == "node.platform.arch":
        return str((desc.get("Platform") or {}).get("Architecture", ""))
    if lower.startswith("node.labels."):
        value = ((node.get("Spec") or {}).get("Labels") or {}).get(key[len("node.labels."):])
        return None if value is None else str(value)
    value = ((desc.get("Engine") or {}).get("Labels") or {}).get(key[len("engine.labels."):])
    return None if value is None else str(value)


def constraints_met(constraints: list[str], node: dict[str, Any]) -> bool:
    """Whether this node satisfies every constraint (docker's: ``==`` is case-insensitive for node
    fields, a missing label never equals and always differs)."""
    for text in constraints:
        key, op, want = parse_constraint(text)
        have = node_value(node, key)
        if key.lower() in ("node.hostname", "node.role", "node.platform.os", "node.platform.arch") and have:
            equal = have.lower() == want.lower()
        else:
            equal = have is not None and have == want
        if equal != (op == "=="):
            return False
    return True


def restart_decision(spec: dict[str, Any], slot_tasks: list[dict[str, Any]], now: float) -> float | None:
    """When the slot's next task should start, or None when the policy says it stays down.

    ``slot_tasks`` are the slot's tasks, oldest first; the last one has ended. Condition ``none``:
    never; ``on-failure``: only after a failure (exit != 0, rejected); ``any``: always. ``MaxAttempts``
    counts the slot's restarts of this spec (those inside ``Window`` when it is set)."""
    policy = restart_policy(spec)
    last = slot_tasks[-1]
    state = last["status"].get("State")
    condition = policy.get("Condition") or "any"
    if condition == "none":
        return None
    if condition == "on-failure" and state not in ("failed", "rejected"):
        return None
    if last["doc"].get("Interrupted") and condition != "none":
        return now  # it ended while no manager ran (a host reboot): back at once, as the daemon starts
    ended = parse_time(last["status"].get("Timestamp", "")) or now
    attempts = int(policy.get("MaxAttempts") or 0)
    if attempts and len(restarts_counted(spec, last, now)) >= attempts:
        return None
    delay = policy.get("Delay")
    return ended + (5.0 if delay is None else int(delay) / SECOND)


def restarts_counted(spec: dict[str, Any], last: dict[str, Any], now: float) -> list[float]:
    """The times of the slot's restarts that count against ``MaxAttempts``: those of this service
    version (an update starts the count again), inside ``Window`` when it is set. Each task carries
    the list on (``doc["Restarts"]``), so history pruning does not reset it."""
    window = int(restart_policy(spec).get("Window") or 0) / SECOND
    times = [float(t) for t in last["doc"].get("Restarts") or []]
    return [t for t in times if not window or t >= now - window]


def of_version(task: dict[str, Any], version: int) -> bool:
    """Whether a task was made for its service's spec ``version`` (for a job: of its present iteration)."""
    return bool(task["doc"].get("SpecVersion") == version)


def next_restarts(spec: dict[str, Any], slot_tasks: list[dict[str, Any]], version: int, now: float) -> list[float]:
    """The restart list of a slot's new task (its predecessor's, plus this restart)."""
    if not slot_tasks:
        return []
    last = slot_tasks[-1]
    if not of_version(last, version):
        return []
    return restarts_counted(spec, last, now) + [now]


def is_active(task: dict[str, Any]) -> bool:
    """A task that runs or is on its way to running (not ended, not asked to end)."""
    return task["status"].get("State") in ACTIVE and task["desired_state"] in ("running", "ready")


def is_ended(task: dict[str, Any]) -> bool:
    return task["status"].get("State") in TERMINAL


def history_to_drop(slot_tasks: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The oldest ended tasks of a slot beyond the swarm's ``TaskHistoryRetentionLimit`` (which counts
    the slot's live task too)."""
    ended = [t for t in slot_tasks if is_ended(t)]
    keep = max(limit, 1) - (len(slot_tasks) - len(ended))
    keep = max(keep, 0)
    return ended[:len(ended) - keep] if len(ended) > keep else []


def task_spec_key(task_spec: dict[str, Any]) -> str:
    """What makes two tasks the same: their TaskSpec (ForceUpdate included), canonically encoded."""
    return json.dumps(task_spec, sort_keys=True)


def failure_exceeded(failed: int, total: int, max_ratio: float) -> bool:
    """docker's rule: the update fails once the failed share exceeds ``MaxFailureRatio``."""
    return total > 0 and failed > 0 and failed / total > max_ratio
