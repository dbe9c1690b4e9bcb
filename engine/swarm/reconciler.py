"""The reconciler: keeps every service at its desired state, event-driven.

It wakes when the desired state changes (:meth:`Reconciler.kick`, called by the swarm service in this
process), when a task's container exits (one watcher per running task, on the container's pidfd), when
a container's health changes (the engine's events), and on a slow sweep. Each pass compares each
service's slots with its tasks and acts: a missing or ended slot gets a new task (the restart policy
decides whether and when), extra slots are shut down, old history is dropped, outdated tasks are
replaced by a rolling update (one per service, :meth:`Reconciler._rollout`), and the load balancer is
told whenever a service's set of ready backends changes.

The container work is the host's (:class:`Host`, implemented by engine/services/swarm_tasks.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, Protocol

from . import policy
from .model import SECOND, job_concurrency, mode_of, slots_of, update_config
from .taskspec import Rejected

SWEEP = 30.0  # seconds between passes when nothing happens (changes made by other processes)


class Host(Protocol):
    """What the reconciler needs from the engine (engine/services/swarm_tasks.py's TaskHost)."""

    def active(self) -> bool: ...
    def node(self) -> dict[str, Any]: ...
    def history_limit(self) -> int: ...
    def services(self) -> list[dict[str, Any]]: ...
    def service(self, service_id: str) -> dict[str, Any] | None: ...
    def tasks(self, service_id: str | None = None) -> list[dict[str, Any]]: ...
    def task(self, task_id: str) -> dict[str, Any] | None: ...
    def new_task(self, service: dict[str, Any], slot: int, state: str, *, message: str | None = None,
                 err: str | None = None, start_at: float = 0.0,
                 restarts: list[float] | None = None) -> dict[str, Any]: ...
    def set_status(self, task_id: str, state: str, *, message: str | None = None, err: str | None = None,
                   exit_code: int | None = None) -> None: ...
    def set_desired(self, task_id: str, desired: str) -> None: ...
    async def prepare(self, service: dict[str, Any], task: dict[str, Any]) -> str: ...
    async def start(self, task_id: str) -> None: ...
    async def wait_exit(self, task_id: str) -> None: ...
    async def stop(self, task_id: str) -> None: ...
    async def drop(self, task_id: str) -> None: ...
    async def remove_service_tasks(self, service_id: str) -> None: ...
    def ready(self, task: dict[str, Any]) -> bool: ...
    def unhealthy(self, task: dict[str, Any]) -> bool: ...
    async def fail_unhealthy(self, task_id: str) -> None: ...
    def backends(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]: ...
    async def apply_endpoints(self, service: dict[str, Any], backends: list[dict[str, Any]]) -> None: ...
    async def adopt(self) -> list[str]: ...
    def set_update_status(self, service_id: str, status: dict[str, Any] | None) -> None: ...
    def roll_back(self, service_id: str, message: str) -> bool: ...
    def health_events(self) -> Any: ...


class Reconciler:
    """One per daemon; ``await run()`` until cancelled."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self.jobs: dict[str, asyncio.Task[None]] = {}  # task id → its launch or watch
        self.rollouts: dict[str, asyncio.Task[None]] = {}  # service id → its rolling update
        self.busy: dict[str, set[int]] = {}  # service id → slots a rolling update is replacing
        self.removing: dict[str, asyncio.Task[None]] = {}  # removed service id → its tasks going
        self.applied: dict[str, str] = {}  # service id → the backends last given to the load balancer
        self.closed = False
        self.critical: set[str] = set()  # tasks whose container is being made or started right now
        self.released: set[str] = set()  # removed services whose tasks their remover removes

    def kick(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        health = asyncio.create_task(self._health())
        try:
            async with self.lock:
                if self.host.active():
                    for task_id in await self.host.adopt():
                        self._watch(task_id)
            while True:
                self.wake.clear()
                try:
                    async with self.lock:
                        if self.host.active():
                            await self.converge()
                except Exception as exc:  # noqa: BLE001 - a pass that failed is tried again, the daemon lives on
                    sys.stderr.write(f"portside daemon: reconciler: {type(exc).__name__}: {exc}\n")
                    sys.stderr.flush()
                    await asyncio.sleep(1)
                try:
                    await asyncio.wait_for(self.wake.wait(), SWEEP)
                except asyncio.TimeoutError:
                    pass
        finally:
            health.cancel()
            await self.stop()
            await asyncio.gather(health, return_exceptions=True)

    async def stop(self) -> None:
        """Cancel every launch, watch and rollout (``swarm leave --force`` removes what they made). A
        container being made or started is let finish first: cut off half-way, its monitor would start
        it after its task was gone."""
        self.closed = True
        for _ in range(3000):
            if not self.critical:
                break
            await asyncio.sleep(0.01)
        jobs = [*self.jobs.values(), *self.rollouts.values(), *self.removing.values()]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        self.jobs.clear()
        self.rollouts.clear()
        self.removing.clear()
        self.busy.clear()
        self.applied.clear()
        self.closed = False

    async def _health(self) -> None:
        """A task container's health changed (its monitor says so in the engine's events): a pass."""
        try:
            async for ev in self.host.health_events():
                if str(ev.get("Action", "")).startswith("health_status"):
                    self.kick()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the event stream is a hint; the sweep still runs
            return

    # -- one pass ---------------------------------------------------------------------------------
    async def converge(self) -> None:
        services = self.host.services()
        ids = {s["id"] for s in services}
        by_service: dict[str, list[dict[str, Any]]] = {}
        for t in self.host.tasks():
            by_service.setdefault(t["service_id"], []).append(t)
        for sid, tasks in by_service.items():
            if sid not in ids and sid not in self.removing and sid not in self.released:
                self._cancel_service(sid, tasks)
                self.removing[sid] = asyncio.create_task(self._remove(sid))
        node = self.host.node()
        limit = self.host.history_limit()
        for service in services:
            await self._converge_service(service, by_service.get(service["id"], []), node, limit)

    async def release(self, sid: str) -> None:
        """A removed service's tasks are its remover's now: this reconciler lets them go (a container being
        made or started is let finish first) and leaves their removal alone."""
        self.released.add(sid)
        tasks = self.host.tasks(sid)
        self._cancel_service(sid, tasks)
        ids = {t["id"] for t in tasks}
        while ids & self.critical:
            await asyncio.sleep(0.01)
        removing = self.removing.get(sid)
        if removing is not None:
            await asyncio.gather(removing, return_exceptions=True)

    def done_with(self, sid: str) -> None:
        self.released.discard(sid)

    def _cancel_service(self, sid: str, tasks: list[dict[str, Any]]) -> None:
        rollout = self.rollouts.pop(sid, None)
        if rollout is not None:
            rollout.cancel()
        self.busy.pop(sid, None)
        self.applied.pop(sid, None)
        for t in tasks:
            if t["id"] in self.critical:
                continue  # its container is being made or started: it finishes, then goes with the rest
            job = self.jobs.pop(t["id"], None)
            if job is not None:
                job.cancel()

    async def _remove(self, sid: str) -> None:
        try:
            ids = {t["id"] for t in self.host.tasks(sid)}
            while ids & self.critical:
                await asyncio.sleep(0.01)
            await self.host.remove_service_tasks(sid)
        finally:
            self.removing.pop(sid, None)

    async def _converge_service(self, service: dict[str, Any], tasks: list[dict[str, Any]],
                                node: dict[str, Any], limit: int) -> None:
        spec = service["spec"]
        mode = mode_of(spec)
        constraints = ((spec.get("TaskTemplate") or {}).get("Placement") or {}).get("Constraints") or []
        try:
            placeable = policy.constraints_met(constraints, node) and \
                (node.get("Spec") or {}).get("Availability", "active") == "active"
        except policy.ConstraintError:
            placeable = False
        wanted = slots_of(spec) if placeable or not mode.startswith("global") else []
        earlier: list[dict[str, Any]] = []
        if mode.endswith("-job"):  # each update of a job is a new iteration (its version): it runs again
            earlier = [t for t in tasks if not policy.of_version(t, service["version"])]
            for t in earlier:
                if policy.is_active(t):
                    self._shutdown(t)
            tasks = [t for t in tasks if policy.of_version(t, service["version"])]
        # a replicated job runs its completions MaxConcurrent at a time: a slot waits for a free place
        free = job_concurrency(spec) - sum(1 for t in tasks if policy.is_active(t)) \
            if mode == "replicated-job" else len(wanted)
        slots: dict[int, list[dict[str, Any]]] = {}
        for t in tasks:
            slots.setdefault(t["slot"], []).append(t)
        busy = self.busy.get(service["id"], set())
        now = time.time()
        key = policy.task_spec_key(spec.get("TaskTemplate") or {})
        outdated = False
        for slot, slot_tasks in slots.items():
            if slot in wanted:
                continue
            for t in slot_tasks:  # scaled down: the slot's live task is shut down
                if policy.is_active(t):
                    self._shutdown(t)
            self._trim(slot_tasks, 0)
        for slot in wanted:
            slot_tasks = slots.get(slot, [])
            active = [t for t in slot_tasks if policy.is_active(t)]
            if slot in busy:
                continue
            if active:
                for t in active:
                    if t["status"].get("State") == "running" and self.host.unhealthy(t) and \
                            f"unhealthy:{t['id']}" not in self.jobs:
                        self.jobs[f"unhealthy:{t['id']}"] = asyncio.create_task(self._unhealthy(t["id"]))
                    if t["status"].get("State") == "pending" and placeable and t["id"] not in self.jobs:
                        self._launch(service, t, now)
                    if policy.task_spec_key(t["spec"]) != key:
                        outdated = True
            else:
                if slot_tasks and policy.is_ended(slot_tasks[-1]):
                    when = policy.restart_decision(spec, slot_tasks, now)
                    if when is None:
                        self._trim(slot_tasks, limit)
                        continue
                elif slot_tasks and not policy.is_ended(slot_tasks[-1]):
                    continue  # shutting down (a rolling update's stop-first half): it ends first
                else:
                    when = now
                if free <= 0:
                    continue
                free -= 1
                if not placeable:
                    self.host.new_task(service, slot, "pending", err=policy.NO_SUITABLE_NODE)
                else:
                    restarts = policy.next_restarts(spec, slot_tasks, service["version"], now) \
                        if slot_tasks and policy.is_ended(slot_tasks[-1]) else []
                    t = self.host.new_task(service, slot, "assigned", start_at=when, restarts=restarts)
                    self._launch(service, t, when)
                for old in slot_tasks:  # replaced: the ended tasks are no longer meant to run (docker's)
                    if old["desired_state"] == "running":
                        self.host.set_desired(old["id"], "shutdown")
                slot_tasks = self.host.tasks(service["id"])
                slot_tasks = [x for x in slot_tasks if x["slot"] == slot]
            self._trim(slot_tasks, limit)
        if earlier:  # an earlier iteration's tasks are their slot's history
            by_slot: dict[int, list[dict[str, Any]]] = {}
            for t in self.host.tasks(service["id"]):
                by_slot.setdefault(t["slot"], []).append(t)
            for slot_tasks in by_slot.values():
                self._trim(slot_tasks, limit)
        status = (service.get("update_status") or {}).get("State")
        if outdated and service["id"] not in self.rollouts and status not in ("paused", "rollback_paused"):
            self.rollouts[service["id"]] = asyncio.create_task(self._rollout(service["id"]))
        elif not outdated and status in ("updating", "rollback_started") and service["id"] not in self.rollouts:
            self._finish(service["id"], status)
        await self._endpoints(service, tasks)

    def _trim(self, slot_tasks: list[dict[str, Any]], limit: int) -> None:
        for t in policy.history_to_drop(slot_tasks, limit):
            if t["id"] not in self.jobs:
                self.jobs[t["id"]] = asyncio.create_task(self._drop(t["id"]))

    async def _drop(self, task_id: str) -> None:
        try:
            await self.host.drop(task_id)
        finally:
            self.jobs.pop(task_id, None)

    def _finish(self, sid: str, state: str | None) -> None:
        from .model import rfc3339_nano
        service = self.host.service(sid)
        started = ((service or {}).get("update_status") or {}).get("StartedAt")
        now = rfc3339_nano()
        done = "rollback_completed" if state == "rollback_started" else "completed"
        self.host.set_update_status(sid, {"State": done, **({"StartedAt": started} if started else {}),
                                          "CompletedAt": now, "Message": "rollback completed"
                                          if done == "rollback_completed" else "update completed"})

    async def _endpoints(self, service: dict[str, Any], tasks: list[dict[str, Any]]) -> None:
        ready = [t for t in tasks if t["desired_state"] == "running" and t["status"].get("State") == "running"
                 and self.host.ready(t)]
        backends = self.host.backends(ready)
        key = json.dumps([service["version"], backends], sort_keys=True)
        if self.applied.get(service["id"]) == key:
            return
        try:
            await self.host.apply_endpoints(service, backends)
        except Exception:  # noqa: BLE001 - retried on the next pass
            self.applied.pop(service["id"], None)
            raise
        self.applied[service["id"]] = key

    # -- a task's life ----------------------------------------------------------------------------
    def _launch(self, service: dict[str, Any], task: dict[str, Any], when: float) -> None:
        self.jobs[task["id"]] = asyncio.create_task(self._life(service, task, when))

    def _watch(self, task_id: str) -> None:
        self.jobs[task_id] = asyncio.create_task(self._life(None, {"id": task_id}, 0.0))

    async def _life(self, service: dict[str, Any] | None, task: dict[str, Any], when: float) -> None:
        """Prepare (create the container), wait for the restart delay, start, then watch it until it
        exits; its end wakes a pass (the restart policy decides what follows)."""
        tid = task["id"]
        try:
            if service is not None:
                if self.closed:
                    return
                self.critical.add(tid)
                try:
                    await self.host.prepare(service, task)
                except Rejected as exc:
                    self.host.set_status(tid, "rejected", message="preparing", err=str(exc))
                    return
                finally:
                    self.critical.discard(tid)
                delay = when - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                current = self.host.task(tid)
                if self.closed or current is None or current["desired_state"] not in ("running", "ready"):
                    return
                self.critical.add(tid)
                try:
                    await self.host.start(tid)
                except Rejected as exc:
                    self.host.set_status(tid, "rejected", message="starting", err=str(exc))
                    return
                except Exception as exc:  # noqa: BLE001 - docker's task error is the engine's text
                    self.host.set_status(tid, "failed", message="starting", err=str(exc))
                    return
                finally:
                    self.critical.discard(tid)
                self.kick()  # a new backend
            await self.host.wait_exit(tid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the task ends with the engine's word; the pass goes on
            self.host.set_status(tid, "failed", err=str(exc))
        finally:
            self.jobs.pop(tid, None)
            if not self.closed:
                self.kick()

    async def _unhealthy(self, tid: str) -> None:
        """A running task whose health check says unhealthy fails (docker's ``unhealthy container``) and is
        replaced as its restart policy says."""
        try:
            await self.host.fail_unhealthy(tid)
        finally:
            self.jobs.pop(f"unhealthy:{tid}", None)
            self.kick()

    def _shutdown(self, task: dict[str, Any]) -> None:
        tid = task["id"]
        job = self.jobs.pop(tid, None)
        self.host.set_desired(tid, "shutdown")
        self.jobs[tid] = asyncio.create_task(self._stop(tid, job))

    async def _stop(self, tid: str, job: asyncio.Task[None] | None) -> None:
        try:
            while tid in self.critical:  # a container half-started would outlive its task
                await asyncio.sleep(0.01)
            if job is not None and not job.done():
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
            await self._drain(tid)
            await self.host.stop(tid)
        finally:
            self.jobs.pop(tid, None)
            self.kick()

    async def _drain(self, tid: str) -> None:
        """Take a task out of its service's pool before its container stops, so no new connection is
        sent to a replica that is going (a rolling update under a client loop sees no refused request)."""
        task = self.host.task(tid)
        service = self.host.service(task["service_id"]) if task else None
        if service is None:
            return
        try:
            await self._endpoints(service, self.host.tasks(service["id"]))
        except Exception:  # noqa: BLE001 - the next pass programs it again; the task stops regardless
            pass

    # -- rolling updates --------------------------------------------------------------------------
    async def _rollout(self, sid: str) -> None:
        """Replace a service's outdated tasks batch by batch (UpdateConfig, or RollbackConfig while rolling
        back): parallelism, order, monitor, failure action and ratio, delay; UpdateStatus as docker's."""
        try:
            while True:
                service = self.host.service(sid)
                if service is None:
                    return
                spec = service["spec"]
                state = (service.get("update_status") or {}).get("State")
                rolling_back = state in ("rollback_started",)
                cfg = update_config(spec, rollback=rolling_back)
                key = policy.task_spec_key(spec.get("TaskTemplate") or {})
                tasks = self.host.tasks(sid)
                wanted = set(slots_of(spec))
                outdated = sorted((t for t in tasks if policy.is_active(t) and t["slot"] in wanted
                                   and policy.task_spec_key(t["spec"]) != key), key=lambda t: t["slot"])
                if not outdated:
                    if state in ("updating", "rollback_started"):
                        self._finish(sid, state)
                    return
                total = len(outdated)
                parallel = int(cfg.get("Parallelism") or 0) or total
                failed_tasks: list[str] = []
                for start in range(0, total, parallel):
                    batch = outdated[start:start + parallel]
                    news = await asyncio.gather(*(self._replace(service, t, cfg.get("Order") or "stop-first")
                                                  for t in batch))
                    failed_tasks += await self._monitor([n for n in news if n], int(cfg.get("Monitor") or 0) / SECOND)
                    failed_tasks += [t["id"] for t, n in zip(batch, news) if n is None]
                    done = start + len(batch)
                    if policy.failure_exceeded(len(failed_tasks), total, float(cfg.get("MaxFailureRatio") or 0)):
                        action = cfg.get("FailureAction") or "pause"
                        culprit = failed_tasks[-1]
                        if action == "rollback" and not rolling_back:
                            if self.host.roll_back(sid, f"update rolled back due to failure or early termination of "
                                                        f"task {culprit}"):
                                break  # the next round replaces the tasks with the previous spec
                        if action in ("pause", "rollback"):
                            self.host.set_update_status(sid, {
                                "State": "rollback_paused" if rolling_back else "paused",
                                "StartedAt": (service.get("update_status") or {}).get("StartedAt"),
                                "Message": (f"rollback paused due to failure or early termination of task {culprit}"
                                            if rolling_back else
                                            f"update paused due to failure or early termination of task {culprit}")})
                            return
                    if done < total:
                        await asyncio.sleep(int(cfg.get("Delay") or 0) / SECOND)
                    fresh = self.host.service(sid)
                    if fresh is None or fresh["version"] != service["version"]:
                        break  # updated again meanwhile: start over with the newest spec
        finally:
            self.rollouts.pop(sid, None)
            self.busy.pop(sid, None)
            if not self.closed:
                self.kick()

    async def _replace(self, service: dict[str, Any], old: dict[str, Any], order: str) -> dict[str, Any] | None:
        """One slot's new task for ``old`` (start-first: the new one ready before the old one stops)."""
        sid = service["id"]
        busy = self.busy.setdefault(sid, set())
        busy.add(old["slot"])
        try:
            if order != "start-first":
                self._shutdown(old)
                await self._settled(old["id"])
            new = self.host.new_task(service, old["slot"], "assigned")
            self._launch(service, new, time.time())
            ok = await self._until_ready(new["id"])
            if order == "start-first":
                self._shutdown(old)
            return new if ok else None
        finally:
            busy.discard(old["slot"])

    async def _settled(self, tid: str) -> None:
        while True:
            t = self.host.task(tid)
            if t is None or policy.is_ended(t):
                return
            await asyncio.sleep(0.02)

    async def _until_ready(self, tid: str) -> bool:
        """Wait until a new task runs and (with a health check) is healthy; False when it ended first."""
        while True:
            t = self.host.task(tid)
            if t is None or policy.is_ended(t):
                return False
            if t["status"].get("State") == "running" and self.host.ready(t):
                return True
            await asyncio.sleep(0.02)

    async def _monitor(self, news: list[dict[str, Any]], seconds: float) -> list[str]:
        """The updated tasks that fail within ``seconds`` of starting (docker's UpdateConfig.Monitor)."""
        deadline = time.time() + seconds
        failed: list[str] = []
        pending = {t["id"] for t in news}
        while pending:
            for tid in list(pending):
                t = self.host.task(tid)
                if t is None or t["status"].get("State") in ("failed", "rejected") or (
                        t["status"].get("State") == "complete" and t["desired_state"] == "running"):
                    failed.append(tid)
                    pending.discard(tid)
            if time.time() >= deadline:
                break
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.time())))
        return failed
