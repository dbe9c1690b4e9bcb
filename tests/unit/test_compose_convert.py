"""Compose → stack objects (engine.compose.specs): what the real `docker stack deploy` sends for the same
files, byte for byte in JSON terms."""

from __future__ import annotations

import base64
import copy
import os
from typing import Any

import pytest

from compose_files import (EXTRA_ENV, FULL_ENV, GUIDE, OVERRIDE, docker_stack_deploy, needs_docker_28, write,
                           write_extra, write_full)
from engine.compose import convert, load, validate
from engine.errors import InvalidArgument

#: what docker CLI 28.2.2's `stack deploy -c docker-compose.yml getstartedlab` sent for the guide's file
GUIDE_NETWORK = {"Driver": "overlay", "Scope": "", "IPAM": None, "Internal": False, "Attachable": False,
                 "Ingress": False, "ConfigOnly": False, "ConfigFrom": None, "Options": None,
                 "Labels": {"com.docker.stack.namespace": "getstartedlab"}, "Name": "getstartedlab_webnet"}
GUIDE_SERVICE = {
    "Name": "getstartedlab_web",
    "Labels": {"com.docker.stack.image": "username/repo:tag", "com.docker.stack.namespace": "getstartedlab"},
    "TaskTemplate": {
        "ContainerSpec": {"Image": "username/repo:tag", "Labels": {"com.docker.stack.namespace": "getstartedlab"},
                          "Privileges": {"CredentialSpec": None, "SELinuxContext": None, "NoNewPrivileges": False}},
        "Resources": {"Limits": {"NanoCPUs": 100000000, "MemoryBytes": 52428800}},
        "RestartPolicy": {"Condition": "on-failure"}, "Placement": {},
        "Networks": [{"Target": "getstartedlab_webnet", "Aliases": ["web"]}], "ForceUpdate": 0},
    "Mode": {"Replicated": {"Replicas": 5}},
    "EndpointSpec": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 80,
                                "PublishMode": "ingress"}]}}



def test_guide_file_converts_to_what_docker_sends(tmp_path: Any) -> None:
    project = load([write(tmp_path, GUIDE)], env={})
    assert validate(project) == []
    plan = convert(project, "getstartedlab")
    assert plan.networks == {"getstartedlab_webnet": GUIDE_NETWORK}
    assert plan.services == {"getstartedlab_web": GUIDE_SERVICE}
    assert (plan.external_networks, plan.secrets, plan.configs) == ([], {}, {})


@needs_docker_28
def test_guide_file_matches_the_docker_cli(tmp_path: Any) -> None:
    """The recorded constants above are still what this docker CLI sends."""
    path = write(tmp_path, GUIDE)
    sent = docker_stack_deploy(str(tmp_path), [path], "getstartedlab", {})
    assert sent["networks"] == {"getstartedlab_webnet": GUIDE_NETWORK}
    assert sent["services"] == {"getstartedlab_web": GUIDE_SERVICE}


def _as_converted(services: dict[str, Any]) -> dict[str, Any]:
    """docker's specs as its converter made them: the CLI leaves Replicas out when the file has none (the
    daemon makes it 1; ours says 1), and its API client adds ":latest" to a bare image name on the way."""
    out = copy.deepcopy(services)
    for spec in out.values():
        if spec["Mode"].get("Replicated") == {}:
            spec["Mode"]["Replicated"] = {"Replicas": 1}
        container = spec["TaskTemplate"]["ContainerSpec"]
        if container["Image"] == spec["Labels"]["com.docker.stack.image"] + ":latest":
            container["Image"] = spec["Labels"]["com.docker.stack.image"]
    return out


@needs_docker_28
def test_every_honoured_key_converts_as_the_docker_cli_does(tmp_path: Any) -> None:
    """Ports (ranges, udp, long syntax, host mode), networks with aliases and ipam, named, bind, tmpfs and
    anonymous volumes, secrets and configs with file targets, env_file, healthcheck, resources, restart
    policy, placement, update and rollback config, global mode, the legacy `restart:` key."""
    path = write_full(tmp_path)
    sent = docker_stack_deploy(str(tmp_path), [path], "full", FULL_ENV)
    project = load([path], env=FULL_ENV)
    assert validate(project) == ["Ignoring unsupported options: restart"]
    plan = convert(project, "full")
    assert plan.networks == sent["networks"]
    assert plan.external_networks == []  # "outside" is external but no service uses it
    assert plan.secrets == sent["secrets"] and plan.configs == sent["configs"]
    assert base64.b64decode(plan.secrets["full_db_pass"]["Data"]) == b"s3cr3t\n"
    assert plan.external_secrets == []  # "ext" is external but no service uses it: docker does not look
    plan.resolve_references({name: "secret-" + name for name in plan.secrets},
                            {name: "config-" + name for name in plan.configs})
    assert plan.services == _as_converted(sent["services"])


@needs_docker_28
def test_the_other_keys_convert_as_the_docker_cli_does(tmp_path: Any) -> None:
    """Logging, credential spec, read_only/tty/stdin_open/isolation, capabilities, dns_search, an external
    volume, a bind source under ~, an internal network with an ipam driver, a templated secret, generic
    resources, max replicas per node, dnsrr, global-job, restart "no" and unless-stopped."""
    path = write_extra(tmp_path)
    sent = docker_stack_deploy(str(tmp_path), [path], "e", EXTRA_ENV)
    plan = convert(load([path], env=EXTRA_ENV), "e")
    assert plan.networks == sent["networks"] and plan.secrets == sent["secrets"]
    plan.resolve_references({name: "secret-" + name for name in plan.secrets}, {})
    # docker 28's loader never reads oom_score_adj (its field has no mapstructure name): it sends nothing
    assert plan.services["e_app"]["TaskTemplate"]["ContainerSpec"].pop("OomScoreAdj") == 500
    assert plan.services == _as_converted(sent["services"])


@needs_docker_28
def test_two_files_convert_as_the_docker_cli_merges_them(tmp_path: Any) -> None:
    files = [write_full(tmp_path), write(tmp_path, OVERRIDE, "override.yml")]
    sent = docker_stack_deploy(str(tmp_path), files, "two", FULL_ENV)
    plan = convert(load(files, env=FULL_ENV), "two")
    assert plan.networks == sent["networks"]
    plan.resolve_references({name: "secret-" + name for name in plan.secrets},
                            {name: "config-" + name for name in plan.configs})
    assert plan.services == _as_converted(sent["services"])


@needs_docker_28
def test_portside_stack_deploy_sends_what_docker_sends(tmp_path: Any) -> None:
    """Through Portside's own command line (the client's stack deploy on top of this library): the same
    networks, secrets, configs and services as the docker CLI's, but for Replicas said and ":latest"."""
    import sys

    path = write_full(tmp_path)
    docker = docker_stack_deploy(str(tmp_path), [path], "full", FULL_ENV)
    ours = docker_stack_deploy(str(tmp_path), [path], "full", FULL_ENV, cli=[sys.executable, "-m", "tui.cli"])
    for kind in ("networks", "secrets", "configs"):
        assert ours[kind] == docker[kind]
    assert ours["services"] == _as_converted(docker["services"])
    assert ours["stderr"].split() == docker["stderr"].split()


def test_specs_are_deterministic(tmp_path: Any) -> None:
    """A redeploy compares specs: the same services in another order of keys give equal specs."""
    path = write_full(tmp_path)
    first = convert(load([path], env=FULL_ENV), "s").services
    with open(path) as f:
        text = f.read()
    swapped = text.replace("      front:\n        aliases: [www, site]\n      back:\n",
                           "      back:\n      front:\n        aliases: [www, site]\n")
    swapped = swapped.replace("      - Z=last\n      - EMPTY=\n", "      - EMPTY=\n      - Z=last\n")
    assert swapped != text
    assert convert(load([write(tmp_path, swapped)], env=FULL_ENV), "s").services == first
    web = first["s_web"]["TaskTemplate"]["ContainerSpec"]
    assert web["Env"] == sorted(web["Env"])
    assert [n["Target"] for n in first["s_web"]["TaskTemplate"]["Networks"]] == ["s_back", "s_front"]


def test_default_network_and_replicas(tmp_path: Any) -> None:
    path = write(tmp_path, "services:\n  app:\n    image: busybox\n")
    plan = convert(load([path], env={}), "st")
    spec = plan.services["st_app"]
    assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == spec["Labels"]["com.docker.stack.image"] == "busybox"
    assert spec["TaskTemplate"]["Networks"] == [{"Target": "st_default", "Aliases": ["app"]}]
    assert list(plan.networks) == ["st_default"] and plan.networks["st_default"]["Driver"] == "overlay"
    assert spec["EndpointSpec"] == {}


def test_external_network_is_listed_not_created(tmp_path: Any) -> None:
    path = write(tmp_path, "services:\n  app:\n    image: busybox\n    networks: [pub]\n"
                           "networks:\n  pub:\n    external: true\n    name: public\n")
    plan = convert(load([path], env={}), "st")
    assert plan.networks == {} and plan.external_networks == ["public"]
    assert plan.services["st_app"]["TaskTemplate"]["Networks"] == [{"Target": "public", "Aliases": ["app"]}]


def test_external_secret_a_service_uses_is_listed(tmp_path: Any) -> None:
    path = write(tmp_path, "services:\n  app:\n    image: busybox\n    secrets: [used]\n"
                           "secrets:\n  used:\n    external: true\n    name: shared_key\n  unused:\n"
                           "    external: true\n")
    plan = convert(load([path], env={}), "st")
    assert (plan.secrets, plan.external_secrets) == ({}, ["shared_key"])
    refs = plan.services["st_app"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert [(r["SecretName"], r["File"]["Name"]) for r in refs] == [("shared_key", "used")]


def test_missing_secret_id_is_named(tmp_path: Any) -> None:
    write(tmp_path, "x", "s.txt")
    path = write(tmp_path, "services:\n  app:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s:\n    file: s.txt\n")
    plan = convert(load([path], env={}), "st")
    with pytest.raises(InvalidArgument, match="^secret not found: st_s$"):
        plan.resolve_references({}, {})


@pytest.mark.parametrize("service, message", [
    ("image: busybox\n    networks: [nope]", 'services.app.networks: undefined network "nope"'),
    ("image: busybox\n    volumes: ['vol:/data']", 'services.app.volumes.0: undefined volume "vol"'),
    ("image: busybox\n    secrets: [nope]", 'services.app.secrets: undefined secret "nope"'),
    ("image: busybox\n    configs: [nope]", 'services.app.configs: undefined config "nope"'),
    ("command: [sh]", "invalid image reference for service app: no image specified"),
    ("image: Busybox", "invalid image reference for service app: invalid reference format: repository name "
                       "(Busybox) must be lowercase"),
    ("image: busybox\n    deploy:\n      mode: global\n      replicas: 2",
     "services.app.deploy.replicas: replicas can only be used with replicated or replicated-job mode"),
    ("image: busybox\n    healthcheck:\n      disable: true\n      test: [CMD, 'true']",
     "services.app.healthcheck: test and disable can't be set at the same time"),
    ("image: busybox\n    restart: sometimes",
     "services.app.restart: invalid restart policy: unknown policy 'sometimes' (must be one of 'no', 'always', "
     "'on-failure', or 'unless-stopped')"),
])
def test_what_does_not_convert_is_one_line(tmp_path: Any, service: str, message: str) -> None:
    path = write(tmp_path, f"services:\n  app:\n    {service}\n")
    with pytest.raises(InvalidArgument) as info:
        validate(load([path], env={}))
    assert str(info.value) == message


def test_secret_file_that_does_not_exist(tmp_path: Any) -> None:
    path = write(tmp_path, "services:\n  app:\n    image: busybox\nsecrets:\n  s:\n    file: ./gone.txt\n")
    with pytest.raises(InvalidArgument) as info:
        validate(load([path], env={}))
    assert str(info.value) == f"secrets.s: open {tmp_path}/gone.txt: No such file or directory"


@needs_docker_28
def test_zero_values_docker_keeps(tmp_path: Any) -> None:
    """Go drops zero values of plain fields but keeps a pointer set to zero: stop_grace_period 0s, init
    false, replicas 0, max_attempts 0 and restart delay 0s are sent; healthcheck retries 0 is not."""
    path = write(tmp_path, "version: '3.13'\nservices:\n  app:\n    image: busybox\n    stop_grace_period: 0s\n"
                           "    init: false\n    healthcheck:\n      test: [CMD, 'true']\n      retries: 0\n"
                           "    deploy:\n      replicas: 0\n      restart_policy:\n        max_attempts: 0\n"
                           "        delay: 0s\n      update_config:\n        delay: 0s\n"
                           "  job:\n    image: busybox\n    deploy:\n      mode: replicated-job\n      replicas: 0\n")
    sent = docker_stack_deploy(str(tmp_path), [path], "z", {})
    assert convert(load([path], env={}), "z").services == _as_converted(sent["services"])


def test_secret_data_is_bounded(tmp_path: Any) -> None:
    """One 500 KiB file named by many secrets would be read and held once for each."""
    write(tmp_path, "x" * (500 << 10), "big.txt")
    secrets = "".join(f"  s{i:02d}:\n    file: big.txt\n" for i in range(40))
    path = write(tmp_path, "services:\n  app:\n    image: busybox\nsecrets:\n" + secrets)
    with pytest.raises(InvalidArgument) as info:
        convert(load([path], env={}), "st")
    assert str(info.value) == "secrets.s32: the stack's secrets and configs hold more than 16 MiB"


def test_file_mode_as_octal_string(tmp_path: Any) -> None:
    """The compose-spec also writes a secret's mode as an octal string ("0440"): the same 0o440."""
    write(tmp_path, "x", "s.txt")
    path = write(tmp_path, "services:\n  app:\n    image: busybox\n    secrets:\n      - {source: s, mode: '0440'}\n"
                           "      - {source: t, mode: 0440}\nsecrets:\n  s:\n    file: s.txt\n  t:\n    file: s.txt\n")
    project = load([path], env={})
    assert validate(project) == []
    refs = convert(project, "st").services["st_app"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert [r["File"]["Mode"] for r in refs] == [0o440, 0o440]
