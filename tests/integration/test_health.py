"""Health checks with real containers: ``--health-*`` and an image's HEALTHCHECK run by the container's
monitor, as docker's exec runs them; ``State.Health`` in inspect, the STATUS text, ``--filter health=``
and ``health_status`` events.

Fixtures ``root``, ``cli``, ``busybox_tar`` and ``imported`` come from ``conftest.py``. Waits poll the
container's state with a generous limit; nothing asserts on time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from subprocess import CompletedProcess
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

Cli = Callable[..., CompletedProcess[str]]
NONE = ("--network", "none")
FAST = ("--health-interval", "100ms")
# field names of docker's swagger (api/swagger.yaml: Health, HealthcheckResult, HealthConfig)
HEALTH_FIELDS = {"Status", "FailingStreak", "Log"}
RESULT_FIELDS = {"Start", "End", "ExitCode", "Output"}
CONFIG_FIELDS = {"Test", "Interval", "Timeout", "Retries", "StartPeriod", "StartInterval"}


def ok(cli: Cli, *args: str) -> str:
    proc = cli(*args)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def inspect(cli: Cli, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(cli, "inspect", name))[0]
    return doc


def health(cli: Cli, name: str) -> dict[str, Any]:
    return inspect(cli, name)["State"].get("Health") or {}


def wait_for(cli: Cli, name: str, check: Callable[[dict[str, Any]], bool], limit: float = 30) -> dict[str, Any]:
    """The container's State.Health once ``check`` passes on it (polled; fails after ``limit`` seconds)."""
    deadline = time.monotonic() + limit
    while True:
        h = health(cli, name)
        if check(h):
            return h
        assert time.monotonic() < deadline, f"{name}: health never got there: {h}"
        time.sleep(0.05)


def run(cli: Cli, name: str, *args: str) -> str:
    return ok(cli, "run", "-d", "--name", name, *NONE, *args).strip()


def status_text(cli: Cli, name: str) -> str:
    return ok(cli, "ps", "-a", "--filter", f"name=^{name}$", "--format", "{{.Status}}").strip()


def names(cli: Cli, *filters: str) -> list[str]:
    args = [a for f in filters for a in ("--filter", f)]
    return sorted(ok(cli, "ps", "-a", *args, "--format", "{{.Names}}").split())


def test_a_passing_check_turns_healthy(cli: Cli, imported: str) -> None:
    run(cli, "good", "--health-cmd", "echo ok", *FAST, "busybox", "sleep", "60")
    h = wait_for(cli, "good", lambda h: h.get("Status") == "healthy")
    assert set(h) == HEALTH_FIELDS and h["FailingStreak"] == 0
    assert h["Log"] and all(set(r) == RESULT_FIELDS for r in h["Log"])
    last = h["Log"][-1]
    assert (last["ExitCode"], last["Output"]) == (0, "ok\n")
    assert last["Start"] <= last["End"] and last["End"].endswith("Z")
    cfg = inspect(cli, "good")["Config"]["Healthcheck"]
    assert cfg == {"Test": ["CMD-SHELL", "echo ok"], "Interval": 100_000_000} and set(cfg) <= CONFIG_FIELDS
    assert status_text(cli, "good").startswith("Up ") and status_text(cli, "good").endswith(" (healthy)")
    assert wait_for(cli, "good", lambda h: len(h["Log"]) == 5, limit=60)["Log"][-1]["ExitCode"] == 0  # the last 5 kept


def test_failing_checks_make_it_unhealthy_after_the_retries_and_it_is_not_restarted(cli: Cli, imported: str) -> None:
    run(cli, "bad", "--health-cmd", "echo failing; exit 3", *FAST, "--health-retries", "2", "busybox", "sleep", "60")
    h = wait_for(cli, "bad", lambda h: h.get("Status") == "unhealthy")
    assert h["FailingStreak"] >= 2
    assert all((r["ExitCode"], r["Output"]) == (3, "failing\n") for r in h["Log"])
    assert len(h["Log"]) <= 5
    assert status_text(cli, "bad").endswith(" (unhealthy)")
    doc = inspect(cli, "bad")
    assert doc["State"]["Running"] and doc["RestartCount"] == 0  # docker leaves an unhealthy container running
    # the streak counts every failure since the last success
    later = wait_for(cli, "bad", lambda x: x["FailingStreak"] > h["FailingStreak"])
    assert later["Status"] == "unhealthy"


def test_a_check_not_run_yet_is_starting_and_the_filter_sees_each_status(cli: Cli, imported: str) -> None:
    run(cli, "slow", "--health-cmd", "true", "busybox", "sleep", "60")  # docker's 30 s interval: not run yet
    run(cli, "good", "--health-cmd", "true", *FAST, "busybox", "sleep", "60")
    run(cli, "bad", "--health-cmd", "false", *FAST, "--health-retries", "1", "busybox", "sleep", "60")
    run(cli, "plain", "busybox", "sleep", "60")
    assert health(cli, "slow") == {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert status_text(cli, "slow").endswith(" (health: starting)")
    assert status_text(cli, "plain").startswith("Up ") and "(" not in status_text(cli, "plain")
    assert "Health" not in inspect(cli, "plain")["State"]
    wait_for(cli, "good", lambda h: h.get("Status") == "healthy")
    wait_for(cli, "bad", lambda h: h.get("Status") == "unhealthy")
    assert names(cli, "health=starting") == ["slow"]
    assert names(cli, "health=healthy") == ["good"]
    assert names(cli, "health=unhealthy") == ["bad"]
    assert names(cli, "health=none") == ["plain"]
    assert names(cli, "health=healthy", "health=none") == ["good", "plain"]
    bad = cli("ps", "--filter", "health=fine")
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].endswith(
        "Unrecognised filter value for health: fine")


def test_failures_in_the_start_period_do_not_count_and_a_success_ends_it(cli: Cli, imported: str) -> None:
    run(cli, "warm", "--health-cmd", "test -e /tmp/ready", "--health-start-period", "10m",
        "--health-start-interval", "100ms", "--health-interval", "100ms", "--health-retries", "1",
        "busybox", "sleep", "120")
    h = wait_for(cli, "warm", lambda h: len(h["Log"]) >= 3)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 0)  # three failures, none counted
    assert all(r["ExitCode"] == 1 for r in h["Log"])
    ok(cli, "exec", "warm", "touch", "/tmp/ready")
    wait_for(cli, "warm", lambda h: h["Status"] == "healthy")
    ok(cli, "exec", "warm", "rm", "/tmp/ready")
    h = wait_for(cli, "warm", lambda h: h["Status"] == "unhealthy")  # still in the start period: counted now
    assert h["FailingStreak"] >= 1


def test_a_probe_past_its_timeout_is_killed(cli: Cli, imported: str) -> None:
    run(cli, "stuck", "--health-cmd", "echo begun; sleep 100; echo never", "--health-timeout", "300ms", *FAST,
        "--health-retries", "1", "busybox", "sleep", "120")
    h = wait_for(cli, "stuck", lambda h: len(h["Log"]) >= 2)
    assert h["Status"] == "unhealthy"
    for r in h["Log"]:
        assert (r["ExitCode"], r["Output"]) == (-1, "Health check exceeded timeout (300ms): begun\n")
    # killed with what it started: at most the probe running now has a `sleep 100` (and nothing was left
    # to the container's init as a zombie)
    procs = ok(cli, "exec", "stuck", "ps", "-o", "pid,stat,args").splitlines()[1:]
    assert len([p for p in procs if p.split()[2:] == ["sleep", "100"]]) <= 1, procs
    assert not [p for p in procs if p.split()[1].startswith("Z")], procs


def test_a_probe_runs_as_exec_does_in_the_container(cli: Cli, imported: str) -> None:
    cid = run(cli, "where", "-e", "GREETING=hello", "-u", "1000", "-w", "/tmp", "--health-cmd",
              'echo "$GREETING $(id -u) $(pwd) $(hostname)"; grep -E "^(Seccomp|CapEff):" /proc/self/status; '
              'cat /proc/self/cgroup', *FAST, "busybox", "sleep", "60")
    h = wait_for(cli, "where", lambda h: h.get("Status") == "healthy")
    first, caps, seccomp, *cgroup = h["Log"][-1]["Output"].splitlines()  # (/proc's order)
    assert first == f"hello 1000 /tmp {cid[:12]}"
    init = ok(cli, "exec", "where", "grep", "-E", "^(Seccomp|CapEff):", "/proc/1/status").splitlines()
    # the container's seccomp filter; user 1000 keeps no effective capabilities, as with exec
    assert [caps, seccomp] == ["CapEff:\t0000000000000000", init[1]] and init[1].split() == ["Seccomp:", "2"]
    mine = ok(cli, "exec", "where", "cat", "/proc/1/cgroup").splitlines()
    assert cgroup == mine  # the container's own cgroup


def test_output_is_capped_at_4_kib(cli: Cli, imported: str) -> None:
    run(cli, "loud", "--health-cmd", "yes 0123456789abcdef | head -c 100000", *FAST, "busybox", "sleep", "60")
    out = wait_for(cli, "loud", lambda h: h.get("Status") == "healthy")["Log"][-1]["Output"]
    assert len(out) == 4096 + 3 and out.endswith("...") and out.startswith("0123456789abcdef\n")


def test_a_command_that_is_not_there_fails_the_check(cli: Cli, imported: str) -> None:
    run(cli, "gone", "--health-cmd", "x", *FAST, "--health-retries", "1", "busybox", "sleep", "60")
    h = wait_for(cli, "gone", lambda h: h.get("Status") == "unhealthy")
    assert h["Log"][-1]["ExitCode"] == 127 and "not found" in h["Log"][-1]["Output"]


def test_image_healthcheck_from_a_dockerfile_and_flags_over_it(cli: Cli, imported: str, tmp_path: Any) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM busybox\nHEALTHCHECK --interval=100ms --retries=4 CMD ["echo", "built"]\n')
    ok(cli, "build", "-t", "checked", str(ctx))
    run(cli, "img", "checked", "sleep", "60")
    assert inspect(cli, "img")["Config"]["Healthcheck"] == {"Test": ["CMD", "echo", "built"],
                                                            "Interval": 100_000_000, "Retries": 4}
    h = wait_for(cli, "img", lambda h: h.get("Status") == "healthy")
    assert h["Log"][-1]["Output"] == "built\n"
    # a flag replaces its own field only
    run(cli, "over", "--health-retries", "7", "--health-cmd", "echo mine", "checked", "sleep", "60")
    assert inspect(cli, "over")["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "echo mine"],
                                                             "Interval": 100_000_000, "Retries": 7}
    assert wait_for(cli, "over", lambda h: h.get("Status") == "healthy")["Log"][-1]["Output"] == "mine\n"
    # --no-healthcheck: none at all
    run(cli, "off", "--no-healthcheck", "checked", "sleep", "60")
    doc = inspect(cli, "off")
    # (docker's merge keeps the image's other fields: only the test says NONE)
    assert doc["Config"]["Healthcheck"]["Test"] == ["NONE"] and "Health" not in doc["State"]
    assert names(cli, "health=none") == ["off"]
    assert "(" not in status_text(cli, "off")


def test_checks_stop_with_the_container_and_start_again_with_it(cli: Cli, imported: str) -> None:
    since = str(time.time() - 1)
    cid = run(cli, "cycle", "--health-cmd", "true", *FAST, "busybox", "sleep", "60")
    wait_for(cli, "cycle", lambda h: h.get("Status") == "healthy")
    ok(cli, "stop", "-t", "0", "cycle")
    doc = inspect(cli, "cycle")
    assert doc["State"]["Health"]["Status"] == "unhealthy"  # as docker: checks stopped
    assert status_text(cli, "cycle").startswith("Exited (137)")
    from engine.runtime import cgroups
    assert not cgroups.Cgroup(f"portside/{cid}").exists()  # gone with the container: no probe left in it
    kept = len(doc["State"]["Health"]["Log"])
    ok(cli, "start", "cycle")
    h = health(cli, "cycle")  # starting again (or healthy already), the results kept
    assert h["Status"] in ("starting", "healthy") and h["FailingStreak"] == 0 and len(h["Log"]) >= kept
    wait_for(cli, "cycle", lambda h: h.get("Status") == "healthy")
    # the second healthy event: the status went back to starting when the container started again
    events = ok(cli, "events", "--since", since, "--until", str(time.time()), "--filter", "event=health_status",
                "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}").splitlines()
    assert events == ["container health_status: healthy cycle"] * 2
    exact = ok(cli, "events", "--since", since, "--until", str(time.time()), "--filter",
               "event=health_status: healthy", "--format", "{{.Action}}").splitlines()
    assert exact == ["health_status: healthy"] * 2


@pytest.mark.parametrize("flags, message", [
    (("--no-healthcheck", "--health-cmd", "true"), "--no-healthcheck conflicts with --health-* options"),
    (("--health-interval", "abc"), 'invalid argument "abc" for "--health-interval" flag: time: invalid duration "abc"'),
    (("--health-timeout=-1s",), "--health-timeout cannot be negative"),
    (("--health-retries", "-2"), "--health-retries cannot be negative"),
    (("--health-retries", "x"), 'invalid argument "x" for "--health-retries" flag: strconv.ParseInt: parsing "x": '
                                "invalid syntax"),
    (("--health-cmd", "true", "--health-interval", "500us"), "Interval in Healthcheck cannot be less than 1ms"),
    (("--health-cmd", "true", "--health-start-period", "10ns"), "StartPeriod in Healthcheck cannot be less than 1ms"),
])
def test_bad_health_flags_are_one_line_and_make_nothing(cli: Cli, imported: str, flags: tuple[str, ...],
                                                       message: str) -> None:
    proc = cli("run", "-d", "--name", "nope", *NONE, *flags, "busybox", "sleep", "60")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(message), proc.stderr
    assert ok(cli, "ps", "-aq") == ""
