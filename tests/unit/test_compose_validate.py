"""Checking compose files (engine.compose.checks): one line per error naming the key path, docker's
warnings for keys a stack ignores, and the same verdicts as the docker CLI on what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from compose_files import (GUIDE, OVERRIDE, docker_stack_config, docker_stack_deploy, needs_docker_28, write,
                           write_extra, write_full)
from engine.compose import convert, load, validate
from engine.errors import InvalidArgument


HEAD = "version: '3'\nservices:\n  web:\n    image: busybox\n"

BAD = [
    ("    deploy:\n      replicas: five\n", "services.web.deploy.replicas must be an integer"),
    ("    deploy:\n      replicas: -1\n", "services.web.deploy.replicas must be at least 0 (got -1)"),
    ("    deploy:\n      replicas: 1.5\n", "services.web.deploy.replicas must be an integer"),
    ("    deploy:\n      replicas: 5.0\n", "services.web.deploy.replicas must be an integer"),
    ("    foo: 1\n", "services.web: unknown key 'foo'"),
    ("    foo: 1\n    bar: 2\n", "services.web: unknown keys 'bar', 'foo'"),
    ("    deploy:\n      replica: 5\n", "services.web.deploy: unknown key 'replica'"),
    ("    deploy:\n      resources:\n        limits:\n          cpus: abc\n",
     "services.web.deploy.resources.limits.cpus: invalid value 'abc': a number of CPUs is expected (like 0.5)"),
    ("    deploy:\n      resources:\n        limits:\n          cpus: '0.0000000001'\n",
     "services.web.deploy.resources.limits.cpus: invalid value '0.0000000001': value is too precise"),
    ("    deploy:\n      resources:\n        limits:\n          memory: 50X\n",
     "services.web.deploy.resources.limits.memory: invalid size '50X' (a number of bytes with an optional unit: "
     "b, k, m, g)"),
    ("    deploy:\n      resources:\n        reservations:\n          memory: lots\n",
     "services.web.deploy.resources.reservations.memory: invalid size 'lots' (a number of bytes with an optional "
     "unit: b, k, m, g)"),
    ("    stop_grace_period: 10x\n",
     'services.web.stop_grace_period: invalid duration "10x" (a number and a unit: 500ms, 10s, 1m30s, 2h)'),
    ("    healthcheck:\n      interval: 5\n",
     "services.web.healthcheck.interval must be a duration (a number and a unit: 500ms, 10s, 1m30s, 2h)"),
    ("    deploy:\n      restart_policy:\n        delay: soon\n",
     'services.web.deploy.restart_policy.delay: invalid duration "soon" (a number and a unit: 500ms, 10s, '
     '1m30s, 2h)'),
    ("    deploy:\n      restart_policy:\n        condition: sometimes\n",
     "services.web.deploy.restart_policy.condition must be one of none, on-failure, any (got 'sometimes')"),
    ("    deploy:\n      update_config:\n        order: random\n",
     "services.web.deploy.update_config.order must be one of start-first, stop-first (got 'random')"),
    ("    deploy:\n      update_config:\n        max_failure_ratio: 2\n",
     "services.web.deploy.update_config.max_failure_ratio must be at most 1 (got 2)"),
    ("    deploy:\n      endpoint_mode: round-robin\n",
     "services.web.deploy.endpoint_mode must be one of vip, dnsrr (got 'round-robin')"),
    ("    ports: ['a:b']\n",
     "services.web.ports.0: invalid port 'a:b': expected [host_ip:][host_port:]container_port[/protocol]"),
    ("    ports: ['70000:80']\n", "services.web.ports.0: invalid port '70000:80': port out of range: 70000"),
    ("    ports: ['80/sctx']\n", "services.web.ports.0: invalid port '80/sctx': invalid proto: sctx"),
    ("    ports: [{published: 80}]\n", "services.web.ports.0: target is required"),
    ("    environment: 5\n", "services.web.environment must be a mapping or a list"),
    ("    labels: {a: [1]}\n", "services.web.labels.a must be a string, a number or a boolean"),
    ("    networks: 5\n", "services.web.networks must be a list or a mapping"),
    ("    command: 5\n", "services.web.command must be a string or a list"),
    ("    init: 'sure'\n", "services.web.init must be a boolean"),
    ("    volumes: [{type: bogus, target: /x}]\n",
     "services.web.volumes.0.type must be one of volume, bind, tmpfs, npipe, cluster, image (got 'bogus')"),
    ("    volumes: ['a:b:c:d']\n", "services.web.volumes.0: invalid spec: a:b:c:d: too many colons"),
    ("    volumes: ['a::b']\n", "services.web.volumes.0: invalid spec: a::b: empty section between colons"),
    ("    command: echo 'unclosed\n", "services.web.command: cannot split \"echo 'unclosed\" into words: no "
                                     "closing quotation"),
    ("    volumes_from: [a]\n",
     "Compose file contains unsupported options: volumes_from: To share a volume between services, define it "
     "using the top-level `volumes` option and reference it from each service that shares it using the "
     "service-level `volumes` option."),
]


@pytest.mark.parametrize("body, message", BAD)
def test_bad_value_is_one_line_naming_the_key(tmp_path: Any, body: str, message: str) -> None:
    path = write(tmp_path, HEAD + body)
    with pytest.raises(InvalidArgument) as info:
        validate(load([path], env={}))
    assert str(info.value) == message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("services: [a]\n", "services must be a mapping"),
    ("services:\n  web:\n", "services.web must be a mapping"),
    ("services:\n  'we b':\n    image: x\n", "services: invalid name 'we b' (letters, digits, '.', '_', '-')"),
    ("service:\n  web: {}\n", "unknown top-level key 'service'"),
    ("services: {}\nnetworks:\n  n:\n    external: maybe\n", "networks.n.external must be a boolean or a mapping"),
])
def test_bad_structure(tmp_path: Any, text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate(load([write(tmp_path, text)], env={}))
    assert str(info.value) == message


#: refused here before anything is made; docker's loader lets them through to fail at convert time or in
#: the daemon (or, for a port without a target, to publish port 0)
STRICTER = ("5.0", "cpus", "condition: sometimes", "max_failure_ratio: 2", "round-robin", "bogus", "a:b:c:d",
            "{published: 80}", "a::b")


@needs_docker_28
@pytest.mark.parametrize("body", [b for b, _ in BAD if not any(word in b for word in STRICTER)])
def test_docker_refuses_them_too(tmp_path: Any, body: str) -> None:
    """Each file refused above is refused by `docker stack config` as well."""
    path = write(tmp_path, HEAD.replace("'3'", "'3.13'") + body)
    assert docker_stack_config(str(tmp_path), [path], {}).returncode != 0


def test_error_in_second_file_names_it(tmp_path: Any) -> None:
    a = write(tmp_path, GUIDE)
    b = write(tmp_path, "services:\n  web:\n    deploy:\n      replicas: many\n", "override.yml")
    with pytest.raises(InvalidArgument) as info:
        validate(load([a, b], env={}))
    assert str(info.value) == f"{b}: services.web.deploy.replicas must be an integer"


def test_unsupported_and_deprecated_keys_warn_as_docker(tmp_path: Any) -> None:
    path = write(tmp_path, HEAD + "    build: .\n    links: [db]\n    privileged: true\n    container_name: x\n"
                                  "    expose: ['80']\n")
    assert validate(load([path], env={})) == [
        "Ignoring unsupported options: build, links, privileged",
        "Ignoring deprecated options:\n\ncontainer_name: Setting the container name is not supported.\n\n"
        "expose: Exposing ports is unnecessary - services on the same network can access each other's "
        "containers on any port."]


@needs_docker_28
def test_warnings_are_docker_words(tmp_path: Any) -> None:
    path = write(tmp_path, HEAD.replace("'3'", "'3.13'") + "    build: .\n    links: [db]\n    privileged: true\n"
                                                           "    container_name: x\n    expose: ['80']\n")
    sent = docker_stack_deploy(str(tmp_path), [path], "st", {})
    ours = validate(load([path], env={}))
    assert sent["stderr"].strip() == "\n\n".join(ours)  # docker prints each followed by a blank line


def test_schema_is_compiled_once(tmp_path: Any) -> None:
    """Building the jsonschema validator is most of a failing check's cost: once per process."""
    from engine.compose.checks import _validator

    path = write(tmp_path, HEAD + "    deploy:\n      replicas: many\n")
    _validator.cache_clear()
    for _ in range(3):
        with pytest.raises(InvalidArgument):
            validate(load([path], env={}))
    assert (_validator.cache_info().misses, _validator.cache_info().hits) == (1, 2)


def test_full_file_is_valid(tmp_path: Any) -> None:
    assert validate(load([write_full(tmp_path)], env={"PASS": "x"})) == ["Ignoring unsupported options: restart"]


def test_keys_docker_drops_silently_are_named(tmp_path: Any) -> None:
    """docker's stack deploy drops a service's `tmpfs:` (and refuses the compose-spec's platform, profiles,
    pull_policy); here they are in the warning. The long volume syntax (type: tmpfs) is what works."""
    path = write(tmp_path, HEAD + "    tmpfs: /run\n    platform: linux/amd64\n    profiles: [debug]\n"
                                  "    depends_on:\n      db: {condition: service_healthy}\n")
    assert validate(load([path], env={})) == ["Ignoring unsupported options: platform, profiles, tmpfs"]


def _one_ofs(schema: Any) -> list[list[Any]]:
    found = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("oneOf", "anyOf"):
                found.append(value)
            found += _one_ofs(value)
    elif isinstance(schema, list):
        for value in schema:
            found += _one_ofs(value)
    return found


def test_every_one_of_has_branches_of_different_types() -> None:
    """conforms() counts one matching branch as the only one: that holds when no two branches share a
    JSON type."""
    from engine.compose.schema import SCHEMA
    from engine.compose.checks import _types

    for branches in _one_ofs(SCHEMA):
        kinds = [k for b in branches for k in _types(b)]
        assert len(kinds) == len(set(kinds)), branches


def _corpus(tmp_path: Any) -> list[Any]:
    texts = [GUIDE, HEAD, OVERRIDE, *(HEAD + body for body, _ in BAD),
             "services: [a]\n", "services:\n  web:\n", "service:\n  web: {}\n",
             "services: {}\nnetworks:\n  n:\n    external: maybe\n"]
    configs = [load([write(tmp_path, text)], env={}).files[0].config for text in texts]
    configs.append(load([write_full(tmp_path)], env={"PASS": "x"}).files[0].config)
    configs.append(load([write_extra(tmp_path)], env={}).files[0].config)
    return configs


def test_the_quick_walk_and_jsonschema_agree(tmp_path: Any) -> None:
    """conforms() never vouches for a file jsonschema refuses, and vouches for each valid one of the
    test files (else a valid file would pay jsonschema's import)."""
    from engine.compose.checks import _validator, conforms

    for config in _corpus(tmp_path):
        assert conforms(config) == (list(_validator().iter_errors(config)) == []), config


def test_a_valid_file_is_checked_without_importing_jsonschema(tmp_path: Any) -> None:
    """jsonschema's import is ~100 ms of `stack deploy`'s start-up: a file that conforms never needs it."""
    import subprocess
    import sys

    path = write(tmp_path, GUIDE)
    code = ("import sys\nfrom engine.compose import load, validate, convert\n"
            f"p = load([{path!r}], env={{}}); validate(p); convert(p, 'g')\n"
            "print('jsonschema' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "False\n"), done.stderr


_ODD_VALUES: list[Any] = [None, 5, 0, -1, 1.5, "x", "", "a:b", "$", [], {}, True, [1], [None], {"a": None},
                          {"a": [1]}, ["x=1"], "10s", "0.5", "/abs", "vol:/t", "80:80/udp"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        out += _paths(value, (*prefix, key))
    return out


def test_any_odd_value_anywhere_is_one_line_or_a_plan(tmp_path: Any) -> None:
    """Seeded mutations of the test files (a value replaced by one of another type, a key removed): each
    one loads, checks and converts, or fails with one line; nothing else escapes. Regression: a wrong key
    under a service's network (a oneOf inside a oneOf) raised IndexError while the message was chosen."""
    import copy
    import random

    import yaml

    from compose_files import EXTRA, FULL

    write_full(tmp_path)
    bases = [yaml.safe_load(text) for text in (FULL, EXTRA, GUIDE)]
    rng = random.Random(10)
    outcomes = {"plan": 0, "error": 0}
    for _ in range(150):
        config = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            *parents, last = rng.choice(_paths(config))
            node = config
            for key in parents:
                node = node[key]
            if rng.random() < 0.2:
                del node[last]
            else:
                node[last] = copy.deepcopy(rng.choice(_ODD_VALUES))
        path = write(tmp_path, yaml.safe_dump(config), "mutated.yml")
        try:
            project = load([path], env={"PASS": "x", "HOME": "/root"})
            validate(project)
            convert(project, "st")
            outcomes["plan"] += 1
        except InvalidArgument as exc:
            assert "\n" not in str(exc), str(exc)
            outcomes["error"] += 1
    assert outcomes["plan"] > 0 and outcomes["error"] > 0
