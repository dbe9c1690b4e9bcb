"""A ServiceSpec as dockerd reads and stores it (engine/swarm/model.py, the swarm service's ``_check_spec``):
keys matched case-insensitively as Go's encoding/json does (docker-py's ``{"replicated": …}`` Mode),
``null`` members dropped (docker-py's ``"Args": null``), and dockerd's defaults for a missing Mode and Labels.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InvalidArgument
from engine.services.swarm import Swarm
from engine.swarm import model


def check(spec: dict[str, Any]) -> dict[str, Any]:
    """``_check_spec`` of a spec that needs none of the service's peers (no networks, refs or ports)."""
    return Swarm.__new__(Swarm)._check_spec(spec)


def plain(**more: Any) -> dict[str, Any]:
    return {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}, **more}


def test_fold_keys_renames_what_matches_but_for_case() -> None:
    assert model.fold_keys({"replicated": 1, "other": 2}, ("Replicated",)) == {"Replicated": 1, "other": 2}
    assert model.fold_keys({"Replicated": 1, "REPLICATED": 2}, ("Replicated",)) == {"Replicated": 2}  # as Go


def test_canonical_mode_of_each_of_docker_pys_modes() -> None:
    assert model.canonical_mode({"replicated": {"replicas": 2}}) == {"Replicated": {"Replicas": 2}}
    assert model.canonical_mode({"global": {}}) == {"Global": {}}
    assert model.canonical_mode({"ReplicatedJob": {"maxconcurrent": 1, "TotalCompletions": 3}}) == \
        {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 3}}
    assert model.canonical_mode("replicated") == "replicated"  # not an object: the checks that follow say so


def test_without_nulls_at_any_depth_but_not_list_items() -> None:
    assert model.without_nulls({"a": None, "b": {"c": None, "d": [None, {"e": None}]}}) == {"b": {"d": [None, {}]}}


def test_docker_py_create_body_is_stored_as_dockerd_shows_it() -> None:
    got = check({"Name": "web", "Labels": None, "Networks": None, "Mode": {"replicated": {"Replicas": 2}},
                 "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Command": ["sh"], "Args": None}}})
    assert got == {"Name": "web", "Labels": {}, "Mode": {"Replicated": {"Replicas": 2}},
                   "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Command": ["sh"], "Isolation": "default"},
                                    "ForceUpdate": 0, "Runtime": "container"}}  # (dockerd's fill-ins)


@pytest.mark.parametrize("mode", [None, {}, {"Replicated": {}}, {"replicated": {}}])
def test_no_replica_count_is_dockerds_replicated_one(mode: Any) -> None:
    spec = plain() if mode is None else plain(Mode=mode)
    assert check(spec)["Mode"] == {"Replicated": {"Replicas": 1}}


def test_other_modes_and_labels_stay() -> None:
    got = check(plain(Mode={"global": {}}, Labels={"a": "b"}))
    assert (got["Mode"], got["Labels"]) == ({"Global": {}}, {"a": "b"})
    assert check(plain(Mode={"GlobalJob": {}}))["Mode"] == {"GlobalJob": {}}


def test_two_modes_are_still_refused_whatever_their_case() -> None:
    with pytest.raises(InvalidArgument, match="only one service mode may be set"):
        check(plain(Mode={"replicated": {"Replicas": 1}, "global": {}}))
    with pytest.raises(InvalidArgument, match="Replicas of type uint64"):
        check(plain(Mode={"replicated": {"replicas": -1}}))
