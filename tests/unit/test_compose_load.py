"""Reading compose files (engine.compose.project, engine.compose.yamlfile): the merged model is the one
`docker stack config` prints, YAML errors name line and column, oversized and alias-bomb files are refused
before anything walks them."""

from __future__ import annotations

import os
import resource
from typing import Any

import pytest

from compose_files import (EXTRA_ENV, FULL_ENV, GUIDE, OVERRIDE, docker_stack_config, needs_docker_28, write,
                           write_extra, write_full)
from engine.compose import load, validate
from engine.compose.yamlfile import MAX_BYTES, parse
from engine.errors import InvalidArgument
from engine.units import go_duration_ns, ram_in_bytes



_DURATIONS = {"stop_grace_period", "interval", "timeout", "start_period", "start_interval", "delay", "window",
              "monitor"}


def _comparable(value: Any, key: str = "") -> Any:
    """docker prints durations as Go does (2m0s) and sizes in bytes; the model keeps the file's text."""
    if isinstance(value, dict):
        return {k: _comparable(v, k) for k, v in value.items() if v not in ({}, None) or key == "networks"}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if key in _DURATIONS and isinstance(value, str):
        return go_duration_ns(value)
    if key == "memory" and isinstance(value, str):
        return ram_in_bytes(value)
    return value


def _docker_model(directory: str, files: list[str], env: dict[str, str]) -> Any:
    done = docker_stack_config(directory, files, env)
    assert done.returncode == 0, done.stderr
    return _comparable(parse(done.stdout, "docker stack config"))


@needs_docker_28
@pytest.mark.parametrize("which", ["guide", "full", "full+override", "extra"])
def test_model_is_what_docker_stack_config_prints(tmp_path: Any, which: str) -> None:
    """Short syntaxes in long form, env_file folded into environment, bind sources absolute, and a second
    file merged as docker merges it (ports by published port, volumes by target, secrets by source,
    command replaced, constraints and dns appended, top-level networks replaced)."""
    if which == "guide":
        files, env = [write(tmp_path, GUIDE)], {}
    elif which == "extra":
        files, env = [write_extra(tmp_path)], EXTRA_ENV
    else:
        files, env = [write_full(tmp_path)], FULL_ENV
        if which == "full+override":
            files.append(write(tmp_path, OVERRIDE, "override.yml"))
    project = load(files, env=env)
    if which == "extra":  # docker 28's loader never reads oom_score_adj (no mapstructure name on its field)
        assert project.services["app"].pop("oom_score_adj") == 500
    ours = _comparable({k: v for k, v in project.model.items() if v})
    assert ours == _docker_model(str(tmp_path), files, env)


def test_env_file_and_environment(tmp_path: Any) -> None:
    """env_file first, then environment; a bare or empty variable takes the value interpolation sees."""
    path = write_full(tmp_path)
    env = load([path], env=FULL_ENV).services["web"]["environment"]
    assert env == {"A": "1", "B": "two words", "PASS": "frompass", "Z": "last", "EMPTY": "", "BARE": None}


def test_dot_env_beside_the_first_file_and_the_environment_wins(tmp_path: Any) -> None:
    write(tmp_path, "# the project's defaults\nTAG=1.0\nexport NAME='my app'\nREPLICAS=3 # three\n"
                    "Q=\"a\\nb\"\n", ".env")
    path = write(tmp_path, 'services:\n  app:\n    image: "busybox:${TAG}"\n    labels: ["n=${NAME}", "q=${Q}"]\n'
                           "    deploy:\n      replicas: ${REPLICAS}\n")
    app = load([path], env={}).services["app"]
    assert app["image"] == "busybox:1.0" and app["deploy"]["replicas"] == 3
    assert app["labels"] == {"n": "my app", "q": "a\nb"}
    assert load([path], env={"TAG": "2.0"}).services["app"]["image"] == "busybox:2.0"


def test_env_file_error_names_file_and_line(tmp_path: Any) -> None:
    write(tmp_path, "A=1\nBAD KEY=2\n", "web.env")
    path = write(tmp_path, "services:\n  app:\n    image: busybox\n    env_file: web.env\n")
    with pytest.raises(InvalidArgument) as info:
        validate(load([path], env={}))
    assert str(info.value) == f"services.app.env_file: {tmp_path}/web.env: line 2: variable 'BAD KEY' contains " \
                              f"whitespaces"


def test_dot_env_error_names_its_line(tmp_path: Any) -> None:
    write(tmp_path, "A=1\nthis is not a variable\n", ".env")
    with pytest.raises(InvalidArgument, match=r"\.env: line 2: expected KEY=VALUE, got 'this is not a variable'$"):
        load([write(tmp_path, GUIDE)], env={})


def test_missing_env_file_is_one_line(tmp_path: Any) -> None:
    path = write(tmp_path, "services:\n  app:\n    image: busybox\n    env_file: nope.env\n")
    with pytest.raises(InvalidArgument) as info:
        validate(load([path], env={}))
    assert str(info.value) == f"services.app.env_file: open {tmp_path}/nope.env: no such file or directory"


@pytest.mark.parametrize("text, message", [
    ("services:\n  web:\n    image: x\n   bad: [\n", "line 4, column 4: did not find expected key"),
    ("services:\n\tweb: {}\n", "line 2, column 1: found character that cannot start any token"),
    ("services:\n  web:\n    image: 'x\n", "line 4, column 1: found unexpected end of stream"),
    ("services:\n  web:\n    image: a\n    image: b\n",
     'line 4, column 5: mapping key "image" already defined at line 3'),
    ("- a\n", "Top-level object must be a mapping"),
    ("", "empty compose file"),
    ("version: '2'\nservices: {}\n", "unsupported Compose file version: 2 (this engine reads version 3.x files, "
                                     "or files without a version)"),
])
def test_bad_yaml_names_file_line_and_column(tmp_path: Any, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidArgument) as info:
        load([path], env={})
    assert str(info.value) == f"{path}: {message}"


def test_missing_file(tmp_path: Any) -> None:
    with pytest.raises(InvalidArgument, match="^open nowhere.yml: no such file or directory$"):
        load(["nowhere.yml"], env={})


BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def test_alias_bomb_is_refused_in_bounded_memory(tmp_path: Any) -> None:
    """Nine lines that stand for 10^9 strings: refused from the node graph, before construction."""
    path = write(tmp_path, 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + BOMB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InvalidArgument) as info:
        load([path], env={})
    assert str(info.value) == (f"{path}: the YAML expands to more than 100000 values (aliases referring to "
                               f"aliases); refused")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


def test_alias_inside_its_own_anchor_is_refused(tmp_path: Any) -> None:
    for n, text in enumerate(["x: &a [1, *a]\n", "x: &a {y: {z: *a}}\n"]):
        path = write(tmp_path, text, f"{n}.yml")
        with pytest.raises(InvalidArgument) as info:
            load([path], env={})
        assert str(info.value) == f"{path}: an alias inside its own anchor (a structure that contains itself); refused"


def test_deep_nesting_is_refused_aliases_included(tmp_path: Any) -> None:
    """500 nested lists raised RecursionError while the keys were made strings; nesting through aliases
    (each anchor 30 deep around the previous one) counts as deep as it expands."""
    chain = "a0: &a0 " + "[" * 30 + "1" + "]" * 30 + "\n" + "".join(
        f"a{i}: &a{i} " + "[" * 30 + f"*a{i - 1}" + "]" * 30 + "\n" for i in range(1, 40))
    for name, text in (("deep.yml", "a: " + "[" * 500 + "]" * 500 + "\n"), ("chain.yml", chain)):
        path = write(tmp_path, text, name)
        with pytest.raises(InvalidArgument) as info:
            load([path], env={})
        assert str(info.value) == f"{path}: the YAML nests deeper than 64 levels; refused"


def test_oversized_file_is_refused(tmp_path: Any) -> None:
    path = os.path.join(tmp_path, "big.yml")
    with open(path, "w") as f:
        f.write("x: '" + "a" * MAX_BYTES + "'\n")
    with pytest.raises(InvalidArgument, match=r"big\.yml: the file is larger than 10 MiB$"):
        load([path], env={})


def test_scalars_read_as_docker_reads_them() -> None:
    """YAML 1.2 booleans (yes/on stay strings, as docker's yaml.v3 reads them), dates stay strings, number
    keys become strings, and values become Go's strings in environment and labels."""
    config = parse("a: yes\nb: on\nc: true\nd: 2001-01-01\n80: x\nenv: {F: 1.5, T: true, N: 10, E: 1e3}\n"
                   "n: [0x1f, 0o17, 017, 1_000, -3]\n", "f")
    assert config["a"] == "yes" and config["b"] == "on" and config["c"] is True and config["d"] == "2001-01-01"
    assert config["80"] == "x" and config["n"] == [31, 15, 15, 1000, -3]
    from engine.compose.project import mapping

    assert mapping(config["env"]) == {"F": "1.5", "T": "true", "N": "10", "E": "1000"}


def test_unquoted_port_mapping_stays_a_mapping(tmp_path: Any) -> None:
    """YAML 1.1 reads `- 22:22` as the base-60 number 1342 (PyYAML did); docker reads the mapping 22:22."""
    path = write(tmp_path, "services:\n  ssh:\n    image: x\n    ports:\n      - 22:22\n      - 2222:22\n")
    ports = load([path], env={}).services["ssh"]["ports"]
    assert [(p["published"], p["target"]) for p in ports] == [(22, 22), (2222, 22)]


def test_merge_keeps_tcp_and_udp_on_one_port(tmp_path: Any) -> None:
    """docker keys merged ports by published port alone (53/tcp and 53/udp collapse); here they stay."""
    a = write(tmp_path, "services:\n  dns:\n    image: x\n    ports: ['53:53/tcp', '53:53/udp', 9000]\n", "a.yml")
    b = write(tmp_path, "services:\n  dns:\n    ports: ['5353:53/udp', 9001]\n", "b.yml")
    ports = load([a, b], env={}).services["dns"]["ports"]
    assert [(p["target"], p.get("published"), p["protocol"]) for p in ports] == [
        (9000, None, "tcp"), (9001, None, "tcp"), (53, 53, "tcp"), (53, 53, "udp"), (53, 5353, "udp")]


def test_extension_fields_and_merge_keys(tmp_path: Any) -> None:
    """The usual way to share settings: an x- anchor merged into services with <<."""
    path = write(tmp_path, "x-common: &common\n  image: busybox\n  environment: {A: '1'}\n  deploy: {replicas: 2}\n"
                           "services:\n  a:\n    <<: *common\n  b:\n    <<: *common\n    deploy: {replicas: 3}\n")
    project = load([path], env={})
    assert validate(project) == []
    a, b = project.services["a"], project.services["b"]
    assert a["image"] == b["image"] == "busybox" and a["environment"] == {"A": "1"}
    assert (a["deploy"]["replicas"], b["deploy"]["replicas"]) == (2, 3)


def test_extra_hosts_forms(tmp_path: Any) -> None:
    """host:ip and host=ip entries, or a mapping; brackets around an IPv6 address dropped, as docker's."""
    path = write(tmp_path, "services:\n  a:\n    image: x\n    extra_hosts: ['db:10.0.0.2', 'v6=[::1]']\n"
                           "  b:\n    image: x\n    extra_hosts: {z: 10.0.0.3, y: '::2'}\n")
    services = load([path], env={}).services
    assert services["a"]["extra_hosts"] == ["db:10.0.0.2", "v6:::1"]
    assert services["b"]["extra_hosts"] == ["y:::2", "z:10.0.0.3"]


def test_long_port_syntax_with_published_as_a_string(tmp_path: Any) -> None:
    """The compose-spec writes published ports as strings too ("8080"): the model holds the number."""
    path = write(tmp_path, "services:\n  a:\n    image: x\n    ports:\n      - {target: 80, published: '8080'}\n")
    project = load([path], env={})
    assert validate(project) == []
    assert project.services["a"]["ports"] == [{"target": 80, "published": 8080}]


def test_standard_input_as_the_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`-c -` reads the file from standard input; relative paths start in the working directory."""
    import io
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GUIDE.encode())))
    project = load(["-"], env={})
    assert project.working_dir == str(tmp_path) and project.files[0].path == "-"
    assert project.services["web"]["deploy"]["replicas"] == 5


def test_env_file_long_syntax(tmp_path: Any) -> None:
    """The compose-spec's {path, required}: a file that is not required may be missing."""
    write(tmp_path, "A=1\n", "a.env")
    path = write(tmp_path, "services:\n  s:\n    image: x\n    env_file:\n      - a.env\n"
                           "      - {path: ./missing.env, required: false}\n      - {path: a.env}\n")
    project = load([path], env={})
    assert validate(project) == []
    assert project.services["s"]["environment"] == {"A": "1"}


def test_port_ranges_are_bounded(tmp_path: Any) -> None:
    """One short line expands to 65535 ports: many such lines, in one service or many, would fill the
    memory (and checking a line does not expand it)."""
    services = "".join(f"  s{i}:\n    image: x\n    ports: ['1-65535']\n" for i in range(3))
    path = write(tmp_path, "services:\n" + services)
    project = load([path], env={})
    with pytest.raises(InvalidArgument) as info:
        validate(project)
    assert str(info.value) == "services.s1.ports.0: more than 65536 ports in the file once ranges are expanded"


def test_env_files_are_bounded_per_file(tmp_path: Any) -> None:
    """Each service holds its own environment: one large env_file named by many services would multiply."""
    write(tmp_path, "".join(f"V{i}=x\n" for i in range(40_000)), "big.env")
    services = "".join(f"  s{i}:\n    image: x\n    env_file: big.env\n" for i in range(3))
    path = write(tmp_path, "services:\n" + services)
    with pytest.raises(InvalidArgument) as info:
        load([path], env={}).services
    assert str(info.value) == "services.s2.env_file: more than 100000 variables from env files in the file"
