"""Variables in compose files (engine.compose.interpolate): the compose-spec's forms, as docker's stack loader
substitutes them, typed where the schema wants numbers or booleans, with one-line errors naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from compose_files import docker_stack_config, needs_docker_28, write
from engine.compose import load, validate
from engine.compose.interpolate import TemplateError, interpolate, substitute
from engine.compose.yamlfile import parse
from engine.errors import InvalidArgument


ENV = {"SET": "value", "EMPTY": "", "N": "5", "TAG": "1.27"}

# (template, expected) with ENV; the forms docker's CLI knows
FORMS = [
    ("$SET", "value"), ("${SET}", "value"), ("a${SET}b", "avalueb"), ("$SET$SET", "valuevalue"),
    ("$$SET", "$SET"), ("$${SET}", "${SET}"), ("cost $$5", "cost $5"),
    ("${UNSET:-dflt}", "dflt"), ("${EMPTY:-dflt}", "dflt"), ("${SET:-dflt}", "value"),
    ("${UNSET-dflt}", "dflt"), ("${EMPTY-dflt}", ""), ("${SET-dflt}", "value"),
    ("${UNSET:-}", ""), ("${EMPTY?msg}", ""), ("${SET:?msg}", "value"), ("${SET?msg}", "value"),
    ("$UNSET", ""), ("${UNSET}", ""), ("${UNSET:-a b c}", "a b c"),
    ("nginx:${TAG:-latest}", "nginx:1.27"), ("${SET}-${N}", "value-5"),
]
# the compose-spec's forms beyond docker's CLI
BEYOND = [
    ("${UNSET:-${SET}}", "value"), ("${UNSET:-${ALSO:-deep}}", "deep"), ("${SET:+alt}", "alt"),
    ("${UNSET:+alt}", ""), ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"), ("${SET:-${UNSET:?unused}}", "value"),
]


@pytest.mark.parametrize("template, expected", FORMS + BEYOND)
def test_forms(template: str, expected: str) -> None:
    assert substitute(template, ENV.get) == expected


@pytest.mark.parametrize("template, message", [
    ("${UNSET:?need it}", "required variable UNSET is missing a value: need it"),
    ("${EMPTY:?need it}", "required variable EMPTY is missing a value: need it"),
    ("${UNSET?no default}", "required variable UNSET is missing a value: no default"),
    ("${UNSET:?}", "required variable UNSET is missing a value"),
    ("cost $5", 'invalid interpolation format "cost $5"; you may need to escape any $ with another $'),
    ("${not valid}", 'invalid interpolation format "${not valid}"; you may need to escape any $ with another $'),
    ("${SET", 'invalid interpolation format "${SET": a "${" is not closed'),
    ("${}", 'invalid interpolation format "${}"; you may need to escape any $ with another $'),
])
def test_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        substitute(template, ENV.get)
    assert str(info.value) == message


@needs_docker_28
def test_forms_agree_with_docker_stack_config(tmp_path: Any) -> None:
    labels = "".join(f"      l{i}: {template!r}\n" for i, (template, _) in enumerate(FORMS))
    path = write(tmp_path, f"version: '3.13'\nservices:\n  web:\n    image: x\n    labels:\n{labels}")
    done = docker_stack_config(str(tmp_path), [path], ENV)
    assert done.returncode == 0, done.stderr
    docker = parse(done.stdout, "docker")["services"]["web"]["labels"]
    ours = load([path], env=ENV).services["web"]["labels"]
    assert ours == docker == {f"l{i}": expected for i, (_, expected) in enumerate(FORMS)}


def test_values_are_cast_where_the_schema_wants_them(tmp_path: Any) -> None:
    """`replicas: ${N}` is the integer 5 (docker's loader casts it), so the schema accepts it; a string that
    was never interpolated is not cast."""
    path = write(tmp_path, "services:\n  web:\n    image: 'nginx:${TAG}'\n    init: '${YES:-yes}'\n"
                           "    deploy:\n      replicas: ${N}\n"
                           "    ports:\n      - target: ${N}0\n        published: ${N}000\n")
    project = load([path], env=ENV)
    web = project.services["web"]
    assert web["deploy"]["replicas"] == 5 and web["init"] is True and web["image"] == "nginx:1.27"
    assert web["ports"] == [{"target": 50, "published": 5000}]
    assert validate(project) == []


def test_cast_failure_names_the_key(tmp_path: Any) -> None:
    path = write(tmp_path, "services:\n  web:\n    image: x\n    deploy:\n      replicas: ${SET}\n")
    with pytest.raises(InvalidArgument, match='^services.web.deploy.replicas: "value" is not a number$'):
        load([path], env=ENV)


def test_error_names_the_key_path(tmp_path: Any) -> None:
    path = write(tmp_path, "services:\n  web:\n    image: ${IMAGE:?set IMAGE to the image to run}\n")
    with pytest.raises(InvalidArgument) as info:
        load([path], env={})
    assert str(info.value) == "services.web.image: required variable IMAGE is missing a value: set IMAGE to the " \
                              "image to run"


def test_extension_fields_and_keys_are_left_alone() -> None:
    config = {"x-script": "echo $HOME", "services": {"$KEY": {"image": "$SET"}}}
    assert interpolate(config, ENV.get) == {"x-script": "echo $HOME", "services": {"$KEY": {"image": "value"}}}


def test_defaults_nested_too_deeply_are_one_line(tmp_path: Any) -> None:
    path = write(tmp_path, "services:\n  web:\n    image: '" + "${A:-" * 2000 + "x" + "}" * 2000 + "'\n")
    with pytest.raises(InvalidArgument, match="^services.web.image: variables nest too deeply$"):
        load([path], env={})


def test_expansion_is_bounded(tmp_path: Any) -> None:
    """A 1 MiB variable used a hundred times would make the file 100 MiB: refused at the value that
    passes 10 MiB."""
    labels = "".join(f"      l{i}: $BIG\n" for i in range(100))
    path = write(tmp_path, f"services:\n  web:\n    image: x\n    labels:\n{labels}")
    with pytest.raises(InvalidArgument) as info:
        load([path], env={"BIG": "x" * (1 << 20)})
    assert str(info.value) == "services.web.labels.l10: the variables' values add more than 10 MiB to the file"
