"""Health check configuration as dockerd treats it: the create body's HealthConfig over the image's,
its checks, the probe plan with docker's defaults, and what inspect and ps show of a record."""

from __future__ import annotations

import pytest

from engine.errors import InvalidArgument
from engine.runtime import health
from engine.units import go_duration

SPEC = {"process": {"args": ["sleep", "60"], "env": ["PATH=/bin"], "cwd": "/", "terminal": True}}


def test_merge_takes_each_unset_field_from_the_image() -> None:
    image = {"Test": ["CMD", "check"], "Interval": 5_000_000_000, "Retries": 4}
    assert health.merge(None, image) == image
    assert health.merge({"Retries": 7, "Interval": 0, "Test": None}, image) == {
        "Test": ["CMD", "check"], "Interval": 5_000_000_000, "Retries": 7}
    assert health.merge({"Test": ["NONE"]}, image)["Test"] == ["NONE"]  # type: ignore[index]
    assert health.merge({"Test": ["CMD-SHELL", "x"]}, None) == {"Test": ["CMD-SHELL", "x"]}
    assert health.merge(None, None) is None
    assert health.merge({"Test": "curl -f localhost"}, None) == {"Test": ["CMD-SHELL", "curl -f localhost"]}


@pytest.mark.parametrize("hc, message", [
    ({"Interval": 999_999}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Timeout": 1}, "Timeout in Healthcheck cannot be less than 1ms"),
    ({"StartPeriod": 10}, "StartPeriod in Healthcheck cannot be less than 1ms"),
    ({"StartInterval": 10}, "StartInterval in Healthcheck cannot be less than 1ms"),
    ({"Retries": -1}, "Retries in Healthcheck cannot be negative"),
])
def test_validate_refuses_as_dockerd(hc: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^{message}$"):
        health.validate(hc)


def test_validate_accepts_zero_and_a_millisecond() -> None:
    health.validate({"Interval": 0, "Timeout": 1_000_000, "Retries": 0})
    health.validate(None)


def test_plan_fills_in_dockers_defaults_and_runs_the_containers_process() -> None:
    p = health.plan({"Test": ["CMD-SHELL", "exit 0"]}, SPEC, cgroup="portside/x", bpf="/c/f.bpf")
    assert p is not None
    assert p["argv"] == ["/bin/sh", "-c", "exit 0"]
    assert (p["interval"], p["timeout"], p["start_period"], p["start_interval"], p["retries"]) == (30, 30, 0, 5, 3)
    assert p["process"] == {"args": ["/bin/sh", "-c", "exit 0"], "env": ["PATH=/bin"], "cwd": "/", "terminal": False}
    assert (p["cgroup"], p["bpf"]) == ("portside/x", "/c/f.bpf")
    assert SPEC["process"]["args"] == ["sleep", "60"]  # the container's own process is left alone
    q = health.plan({"Test": ["CMD", "check", "-q"], "Interval": 250_000_000, "Retries": 1}, SPEC, ["/bin/bash", "-c"])
    assert q is not None and q["argv"] == ["check", "-q"] and (q["interval"], q["retries"]) == (0.25, 1)
    shell = health.plan({"Test": ["CMD-SHELL", "x"]}, SPEC, ["/bin/bash", "-c"])
    assert shell is not None and shell["argv"] == ["/bin/bash", "-c", "x"]


@pytest.mark.parametrize("hc", [None, {}, {"Test": ["NONE"]}, {"Test": []}, {"Test": ["CMD"]}, {"Test": ["WHAT", "x"]}])
def test_nothing_to_run_has_no_plan(hc: dict[str, list[str]] | None) -> None:
    assert health.plan(hc, SPEC) is None


def test_what_inspect_and_ps_show() -> None:
    record = {"Status": "healthy", "FailingStreak": 0, "Log": [{"Start": "a", "End": "b", "ExitCode": 0,
                                                                 "Output": ""}]}
    assert health.shown(record, True) == record
    assert health.shown(record, False)["Status"] == "unhealthy"  # type: ignore[index]
    assert health.shown(None, True) is None
    assert [health.suffix({"Status": s}) for s in ("starting", "healthy", "unhealthy")] == [
        " (health: starting)", " (healthy)", " (unhealthy)"]
    assert health.suffix(None) == ""
    assert health.status_of(None) == "none" and health.status_of({"Status": "starting"}) == "starting"


def test_ready_is_running_and_healthy_or_unchecked() -> None:
    assert health.ready({"Running": True})
    assert health.ready({"Running": True, "Health": {"Status": "healthy"}})
    assert not health.ready({"Running": True, "Health": {"Status": "starting"}})
    assert not health.ready({"Running": True, "Health": {"Status": "unhealthy"}})
    assert not health.ready({"Running": False})
    assert not health.ready({"Running": True, "Paused": True})


@pytest.mark.parametrize("ns, text", [
    (0, "0s"), (999, "999ns"), (1500, "1.5µs"), (300_000_000, "300ms"), (1_000_000_000, "1s"),
    (1_500_000_000, "1.5s"), (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"), (-2_000_000_000, "-2s"),
])
def test_go_duration_prints_as_go(ns: int, text: str) -> None:
    assert go_duration(ns) == text
