"""The Dockerfile parser on long lines, NUL bytes and oversized input (engine.build.parser)."""

from __future__ import annotations

import pytest

from engine.build import parser
from engine.errors import BuildError, InvalidArgument, shorten


def test_long_lines_keep_their_values() -> None:
    """Long ENV/LABEL/COPY lines went through per-character string building (1.6 MB: 26 s); the run-at-a-time
    scanners must give the same words and values as before, quotes and escapes included."""
    n = 1_000_000
    df = parser.parse("FROM scratch\nLABEL a=" + "b" * n + ' q="x y" e=1\\ 2\nENV A="' + "c d " * (n // 4) + '"\n'
                      "COPY " + "src " * 1000 + "/dst/\n")
    label, env, copy = df.instructions[1:]
    assert parser.parse_kv(label, {}) == [("a", "b" * n), ("q", "x y"), ("e", "1 2")]
    assert parser.parse_kv(env, {}) == [("A", "c d " * (n // 4))]
    assert copy.args == ["src"] * 1000 + ["/dst/"]
    assert parser.expand_words('"$A"' * 3 + " x'$A'" + " " + "y" * n, {"A": "1 2"}) == ["1 21 21 2", "x$A", "y" * n]


def test_words_split_like_buildkit_at_the_edges() -> None:
    """The pattern-based parseWords keeps buildkit's corner cases: a dangling escape, unterminated quotes,
    escapes inside double quotes but not single ones."""
    assert parser._parse_words("a b\\", "\\") == ["a", "b"]
    assert parser._parse_words("a \\", "\\") == ["a"]
    assert parser._parse_words('a "b c', "\\") == ["a", '"b c']
    assert parser._parse_words("'a\\' b", "\\") == ["'a\\'", "b"]
    assert parser._parse_words('"a\\" b" c', "\\") == ['"a\\" b"', "c"]
    assert parser._parse_words("a`  b", "`") == ["a` ", "b"]


def test_nul_byte_is_refused_naming_its_line() -> None:
    """A NUL byte reached the exec of a RUN step as "ValueError: embedded null byte"."""
    with pytest.raises(InvalidArgument, match="^dockerfile parse error on line 3: the line holds a NUL byte$"):
        parser.parse("FROM scratch\nLABEL a=1\nENV B=a\0b\n")


def test_oversized_dockerfile_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"^the Dockerfile is too large \(more than 16 MiB\)$"):
        parser.parse("FROM scratch\nLABEL a=" + "x" * parser.MAX_DOCKERFILE + "\n")


def test_invalid_utf8_passes_through_as_surrogate_escapes() -> None:
    text = b"FROM scratch\nLABEL l=\xff\xfe\n".decode("utf-8", "surrogateescape")
    [(key, value)] = parser.parse_kv(parser.parse(text).instructions[1], {})
    assert (key, value.encode("utf-8", "surrogateescape")) == ("l", b"\xff\xfe")


def test_build_errors_show_a_shortened_step() -> None:
    """A 500 KB RUN was echoed whole in its error."""
    step = "RUN " + "x" * 5000
    assert BuildError("failed", step=step).step == step[:100] + "…"
    assert shorten("short") == "short"


def test_stage_env_updates_in_place_keep_docker_order() -> None:
    """ENV kept re-reading the whole Env list (10,000 ENV lines: 77 s); the remembered index must give
    what the rebuild gave: a redefined name keeps its place, a new one goes last, a doubled name of the
    base image collapses to its last value."""
    from engine.build.builder import Stage
    stage = Stage(name="0", index=0, config={"config": {"Env": ["A=1", "B=2", "A=3"]}})
    assert stage.env() == {"A": "3", "B": "2"}
    stage.set_env([("B", "x"), ("C", "y")])
    assert stage.cfg["Env"] == ["A=3", "B=x", "C=y"]
    for i in range(100):
        stage.set_env([(f"K{i}", str(i)), ("A", str(i))])
    assert stage.cfg["Env"][:4] == ["A=99", "B=x", "C=y", "K0=0"] and len(stage.cfg["Env"]) == 103
    assert stage.expansion_env()["K99"] == "99"
    stage.config = {"config": {"Env": ["Z=1"]}}  # a config taken from a cached image
    assert stage.env() == {"Z": "1"}
