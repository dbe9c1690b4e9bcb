"""Container health checks, as dockerd runs them (moby ``daemon/health.go``).

A container's ``Config.Healthcheck`` (docker's HealthConfig: ``Test``, ``Interval``, ``Timeout``,
``StartPeriod``, ``StartInterval`` in nanoseconds, ``Retries``) is the create body's over the image's
(:func:`merge`). When the container starts, the engine hands its monitor a probe plan (:func:`plan`);
the monitor's :class:`Checker` runs each probe as ``exec`` does — in the container's namespaces and
cgroup, with its env, user and working dir (:func:`engine.runtime.native.exec_prepared`) — and keeps
``State.Health`` (``Status`` starting | healthy | unhealthy, ``FailingStreak``, the last 5 results) in
the container's ``state.json``, where ``inspect`` reads it. A status change is a ``health_status: …``
event. The engine never restarts an unhealthy container (neither does docker).

Only the standard library at import: the monitor loads this module for a container with a check.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing into the monitor
if TYPE_CHECKING:
    import select
    from collections.abc import Callable
    from typing import Any, TypedDict

    from engine.runtime.cgroups import Cgroup
    from engine.runtime.native import PreparedProcess

    class Plan(TypedDict):
        """What the monitor needs to run the checks (``monitor.json``'s ``health``); times in seconds."""
        argv: list[str]
        interval: float
        timeout: float
        start_period: float
        start_interval: float
        retries: int
        cgroup: str  # the container's cgroup, which each probe joins ("" for none)
        process: dict[str, Any]  # the OCI process of a probe: the container's, running argv
        bpf: str  # the container's seccomp program (its cache file; "" for none)

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096  # bytes of a probe's output kept (docker's maxOutputLen), "..." marking a cut
MAX_LOG = 5  # results kept
STATUSES = ("starting", "healthy", "unhealthy", "none")  # the values ``--filter health=`` takes
FIELDS = ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")


# -- configuration (engine side) ----------------------------------------------------------------
def normalized(hc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A HealthConfig as stored and shown: ``Test`` a list (a lone string is a shell command), no unset
    (null, zero, empty) fields, as Go's ``omitempty`` leaves them out."""
    if not hc:
        return None
    out = {k: hc[k] for k in FIELDS if hc.get(k)}
    test = out.get("Test")
    if isinstance(test, str):
        out["Test"] = ["CMD-SHELL", test] if test else []
    for key in FIELDS[1:]:
        if key in out:
            out[key] = int(out[key])
    return out


def merge(user: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The container's HealthConfig: the create body's, each unset field taken from the image's (moby's
    ``merge``; a body's ``Test: ["NONE"]`` disables the image's check)."""
    user, image = normalized(user), normalized(image)
    if image is None:
        return user
    if user is None:
        return image
    merged = dict(user)
    for key in FIELDS:
        if not merged.get(key):
            if image.get(key):
                merged[key] = image[key]
    return merged


def validate(hc: dict[str, Any] | None) -> None:
    """dockerd's checks of a create body's HealthConfig (InvalidArgument, one line)."""
    if not hc:
        return
    from engine.errors import InvalidArgument
    if not isinstance(hc.get("Test") or [], (list, str)):
        raise InvalidArgument("invalid JSON body: Healthcheck.Test must be a list of strings")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = int(hc.get(key) or 0)
        if value != 0 and value < 1_000_000:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    if int(hc.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


def plan(hc: dict[str, Any] | None, spec: dict[str, Any], shell: list[str] | None = None, cgroup: str = "",
         bpf: str = "") -> Plan | None:
    """The probe plan for the monitor, docker's defaults filled in; None when there is nothing to run
    (no check, ``NONE``, an unknown test type or no command: dockerd runs nothing then either).

    A probe runs as the container's process (OCI ``spec["process"]``: env, user, cwd, capabilities,
    rlimits) with the check's argv, under the seccomp program compiled in file ``bpf``.
    """
    test = list((hc or {}).get("Test") or [])
    if not test or test[0] not in ("CMD", "CMD-SHELL") or len(test) < 2:
        return None
    argv = test[1:] if test[0] == "CMD" else list(shell or ["/bin/sh", "-c"]) + test[1:]
    assert hc is not None

    def seconds(key: str, default: int) -> float:
        return (int(hc.get(key) or 0) or default) / SECOND
    return {"argv": argv, "interval": seconds("Interval", DEFAULT_INTERVAL),
            "timeout": seconds("Timeout", DEFAULT_TIMEOUT),
            "start_period": seconds("StartPeriod", DEFAULT_START_PERIOD),
            "start_interval": seconds("StartInterval", DEFAULT_START_INTERVAL),
            "retries": int(hc.get("Retries") or 0) or DEFAULT_RETRIES, "cgroup": cgroup,
            "process": dict(spec["process"], args=argv, terminal=False), "bpf": bpf}


# -- what inspect and ps show (engine side) -----------------------------------------------------
def shown(record: dict[str, Any] | None, running: bool) -> dict[str, Any] | None:
    """inspect's ``State.Health`` from the monitor's record: a container that is not running (or is
    paused) is ``unhealthy`` (docker marks it so when its checks stop); None when it never had checks."""
    if not record:
        return None
    return {"Status": record.get("Status") if running else "unhealthy",
            "FailingStreak": int(record.get("FailingStreak") or 0), "Log": list(record.get("Log") or [])}


def ready(state: dict[str, Any]) -> bool:
    """Whether a container (inspect's ``State``) can take traffic: running, and healthy if it has a check
    (what a service's load balancer and a rolling update wait for)."""
    return bool(state.get("Running")) and not state.get("Paused") and (
        not state.get("Health") or state["Health"].get("Status") == "healthy")


def status_of(health: dict[str, Any] | None) -> str:
    """The ``--filter health=`` value of a container: its Health status, or ``none``."""
    return str(health.get("Status") or "none") if health else "none"


def suffix(health: dict[str, Any] | None) -> str:
    """What ``ps`` adds to a running container's STATUS: `` (healthy)``, `` (health: starting)``…"""
    if not health:
        return ""
    status = health.get("Status")
    return " (health: starting)" if status == "starting" else f" ({status})"


# -- running the checks (monitor side) ----------------------------------------------------------
def _now_rfc3339() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // SECOND)) + f".{ns % SECOND:09d}Z"


def _descendants(pid: int) -> list[int]:
    """``pid``'s children, their children… (``/proc/PID/task/TID/children``)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except (OSError, ValueError):
                continue
            found += kids
            todo += kids
    return found


class Checker:
    """Runs one container's checks inside its monitor's poll loop, never blocking it.

    The monitor calls :meth:`begin` when the container (re)starts, :meth:`step` whenever its loop wakes
    (and at :meth:`wait_ms` at the latest), :meth:`read` when the probe's output fd is readable, and
    :meth:`stop` when the container has exited.
    """

    def __init__(self, plan: Plan, cdir: str, state: dict[str, Any], save: Callable[[], None],
                 emit: Callable[[str], None]) -> None:
        self.plan = plan
        self.cdir = cdir
        self.state = state  # the monitor's state.json document; ours is its "health"
        self.save = save
        self.emit = emit
        self.t0 = float(state.get("health_t0") or time.monotonic())  # the container's start (monotonic)
        self.target = int(state.get("pid") or 0)
        self.due = self.t0 + self.interval()
        self.pid = 0  # the probe running, if any
        self.fd = -1  # its stdout and stderr (one pipe, as docker's one buffer)
        self.output = bytearray()
        self.cut = False
        self.keep = True
        self.started = 0.0
        self.started_at = ""
        self.prepared: PreparedProcess | None = None
        self._cgroup: Cgroup | None = None
        self.dying: list[int] = []  # killed probes not reaped yet

    def begin(self, target_pid: int) -> None:
        """The container has (re)started: ``starting``, no failing streak, earlier results kept."""
        self.stop()
        self.target = target_pid
        self.t0 = time.monotonic()
        record = self.state.get("health") or {}
        self.state["health"] = {"Status": "starting", "FailingStreak": 0, "Log": list(record.get("Log") or [])}
        self.state["health_t0"] = self.t0
        self.due = self.t0 + self.interval()

    def interval(self) -> float:
        """docker's: the start interval while starting within the start period, else the interval."""
        p = self.plan
        if time.monotonic() - self.t0 >= p["start_period"]:
            return p["interval"]
        starting = (self.state.get("health") or {}).get("Status") == "starting"
        return p["start_interval"] if starting else p["interval"]

    def wait_ms(self) -> int:
        """Milliseconds until the next thing to do (a probe due, or the running one's timeout)."""
        at = self.started + self.plan["timeout"] if self.pid else self.due
        return max(0, int((at - time.monotonic()) * 1000) + 1)

    def step(self, poller: select.poll) -> None:
        """Reap a finished probe, kill one past its timeout, start one that is due."""
        now = time.monotonic()
        for pid in list(self.dying):
            try:
                if not os.waitpid(pid, os.WNOHANG)[0]:
                    continue
            except ChildProcessError:
                pass
            self.dying.remove(pid)
        if self.pid:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done, status = self.pid, 0
            if done:
                self._finish(poller, os.waitstatus_to_exitcode(status) if status else 0)
            elif now >= self.started + self.plan["timeout"]:
                self.read()
                self.keep = False  # the output until the timeout, not what the killing prints
                self._kill()
                self._finish(poller, None)
            return
        if now >= self.due:
            if os.path.exists(os.path.join(self.cdir, "paused")):  # a frozen container: no probe and, as
                self.due = now + self.interval()                    # docker's, unhealthy until the next one
                health = self.state.get("health") or {}
                if health.get("Status") != "unhealthy":
                    health["Status"] = "unhealthy"
                    self.save()
                return
            self._start(poller)

    def read(self) -> None:
        """Keep the first 4 KiB of the probe's output; drain the rest."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                return
            keep = MAX_OUTPUT - len(self.output) if self.keep else 0
            if keep > 0:
                self.output += data[:keep]
            if len(data) > max(keep, 0) and self.keep:
                self.cut = True

    def stop(self) -> None:
        """The container is done: no probe left, and (as docker) an ``unhealthy`` status until it starts again."""
        if self.pid:
            self._kill()
            self.pid = 0
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.state.get("health"):
            self.state["health"]["Status"] = "unhealthy"

    # -- one probe ----------------------------------------------------------------------------------
    def _process(self) -> PreparedProcess:
        """The container's process (env, user, cwd, capabilities, seccomp) running the probe's argv,
        made ready once. The seccomp program comes from its cache file (no libseccomp, no hashing here),
        or, missing that, is compiled from the container's spec."""
        if self.prepared is not None:
            return self.prepared
        from engine.runtime import native
        bpf = b""
        if self.plan.get("bpf"):
            try:
                with open(self.plan["bpf"], "rb") as f:
                    bpf = f.read()
            except OSError:
                bpf = b""
        if self.plan.get("bpf") and not bpf:
            import json
            with open(os.path.join(self.cdir, "config.json")) as f:
                spec = json.load(f)
            self.prepared = native.prepare_exec(self.plan["process"], (spec.get("linux") or {}).get("seccomp"),
                                                spec.get("annotations"))
        else:
            self.prepared = native.prepare_exec(self.plan["process"])
            self.prepared["bpf"] = bpf or None
        return self.prepared

    def _start(self, poller: select.poll) -> None:
        from engine.runtime import native
        self.output = bytearray()
        self.cut = False
        self.keep = True
        self.started_at = _now_rfc3339()
        r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.set_blocking(w, True)
            pid = native.exec_prepared(self.target, self._process(), null, w, w, cgroup=self.cgroup())
        except Exception as exc:  # noqa: BLE001 - the probe could not start: a failed result, as docker's
            os.close(r)
            self._record(-1, f"OCI runtime exec failed: exec failed: unable to start container process: {exc}: "
                             f"unknown")
            return
        finally:
            os.close(w)
            os.close(null)
        self.pid, self.fd, self.started = pid, r, time.monotonic()
        poller.register(r, 1)  # POLLIN

    def cgroup(self) -> Cgroup | None:
        if self._cgroup is None and self.plan.get("cgroup"):
            from engine.runtime import cgroups
            cg = cgroups.Cgroup(self.plan["cgroup"])
            if cg.exists():
                self._cgroup = cg
        return self._cgroup

    def _kill(self) -> None:
        """SIGKILL what the probe started (a shell's children) and then the probe, and reap it.

        The children go first and their parents get a moment to reap them: killed together, they
        would become zombies of the container's init, which may never reap them.
        """
        kids = _descendants(self.pid)
        for pid in reversed(kids):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 0.1
        while kids and time.monotonic() < deadline:
            kids = [k for k in kids if os.path.exists(f"/proc/{k}")]
            if kids:
                time.sleep(0.002)
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 0.2
        while True:  # a frozen (paused) probe dies only once thawed: never wait for it here
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return
            if time.monotonic() >= deadline:
                self.dying.append(self.pid)  # reaped by a later step
                return
            time.sleep(0.001)

    def _finish(self, poller: select.poll, code: int | None) -> None:
        self.read()
        try:
            poller.unregister(self.fd)
        except (KeyError, ValueError):
            pass
        os.close(self.fd)
        self.fd, self.pid = -1, 0
        out = self.output.decode("utf-8", "replace") + ("..." if self.cut else "")
        if code is None:
            from engine.units import go_duration
            limit = go_duration(int(round(self.plan["timeout"] * SECOND)))
            self._record(-1, f"Health check exceeded timeout ({limit})" + (f": {out}" if out else ""))
        else:
            self._record(code if code >= 0 else 128 - code, out)

    def _record(self, code: int, output: str) -> None:
        """docker's handleProbeResult: the log, the streak, the status, an event when it changes."""
        health = self.state.setdefault("health", {"Status": "starting", "FailingStreak": 0, "Log": []})
        old = health["Status"]
        started = self.started or time.monotonic()
        entry = {"Start": self.started_at or _now_rfc3339(), "End": _now_rfc3339(), "ExitCode": code,
                 "Output": output}
        health["Log"] = (list(health.get("Log") or []) + [entry])[-MAX_LOG:]
        if code == 0:
            health["FailingStreak"] = 0
            health["Status"] = "healthy"
        elif not (old == "starting" and started - self.t0 < self.plan["start_period"]):
            health["FailingStreak"] = int(health.get("FailingStreak") or 0) + 1
            if health["FailingStreak"] >= self.plan["retries"]:
                health["Status"] = "unhealthy"
        self.started = 0.0
        self.save()
        if health["Status"] != old:
            self.emit("health_status: " + health["Status"])
        self.due = time.monotonic() + self.interval()
