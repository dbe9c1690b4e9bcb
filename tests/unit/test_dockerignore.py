"""Unit tests for engine.build.dockerignore (.dockerignore parsing, matching, context walking)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.build.dockerignore import (
    Pattern,
    PatternMatcher,
    clean_path,
    parse_dockerignore,
    walk_context,
)
from engine.errors import InvalidArgument

# ----------------------------------------------------------------------------- parsing


def test_parse_comments_blank_and_trim() -> None:
    text = "# comment\n\n  node_modules  \n\t*.log\n#another\n"
    assert parse_dockerignore(text) == ["node_modules", "*.log"]


def test_parse_hash_not_at_column_zero_is_a_pattern() -> None:
    # moby only treats '#' in the first column as a comment.
    assert parse_dockerignore("  #foo\n") == ["#foo"]


def test_parse_cleans_paths() -> None:
    assert parse_dockerignore("./a/../b/\n/abs/path\na//b/./c\n") == ["b", "abs/path", "a/b/c"]


def test_parse_keeps_exclamation_and_cleans_after_it() -> None:
    assert parse_dockerignore("!keep.txt\n! /spaced/../x\n") == ["!keep.txt", "!x"]


def test_parse_crlf_and_bom() -> None:
    assert parse_dockerignore("\ufeffa\r\nb\r\n") == ["a", "b"]


def test_parse_root_slash_stays() -> None:
    assert parse_dockerignore("/\n") == ["/"]


@pytest.mark.parametrize(
    ("path", "cleaned"),
    [("", "."), (".", "."), ("a/", "a"), ("/a/../..", "/"), ("../a", "../a"), ("a/b/../../..", ".."),
     ("//a", "/a"), ("a/./b", "a/b")],
)
def test_clean_path(path: str, cleaned: str) -> None:
    assert clean_path(path) == cleaned


# ----------------------------------------------------------------------------- matching


def m(patterns: list[str], path: str) -> bool:
    return PatternMatcher(patterns).matches(path)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*", "foo", True),
        ("*", "foo/bar", True),  # parent dir "foo" matches
        ("*.go", "main.go", True),
        ("*.go", "pkg/main.go", False),  # * does not cross /
        ("*/*.go", "pkg/main.go", True),
        ("*/*.go", "a/b/main.go", False),
        ("**/*.go", "a/b/main.go", True),
        ("**/*.go", "main.go", True),
        ("**", "anything/at/all", True),
        ("a/**", "a/b/c", True),
        ("a/**", "b/a/c", False),
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
        ("a/**/z", "a/b/c/y", False),
        ("**/node_modules", "x/y/node_modules/pkg/index.js", True),
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("?", "/", False),
        ("[abc].txt", "b.txt", True),
        ("[abc].txt", "d.txt", False),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "dx", True),
        ("[^a-c]x", "ax", False),
        ("\\*.txt", "*.txt", True),
        ("\\*.txt", "a.txt", False),
        ("foo.bar", "fooxbar", False),  # '.' is literal
        ("a+b(c)", "a+b(c)", True),
        ("docs", "docs", True),
        ("docs", "docs/a/b.md", True),
        ("docs", "mydocs", False),
        ("docs", "src/docs", False),
        ("src/docs", "src/docs/x", True),
        ("/rooted", "rooted", False),  # matcher itself keeps the slash; parse_dockerignore strips it
    ],
)
def test_glob_table(pattern: str, path: str, expected: bool) -> None:
    assert m([pattern], path) is expected


def test_exception_reincludes() -> None:
    pm = PatternMatcher(["*.md", "!README.md"])
    assert pm.matches("CHANGELOG.md")
    assert not pm.matches("README.md")
    assert not pm.matches("main.go")


def test_last_match_wins() -> None:
    pm = PatternMatcher(["*.md", "!README*.md", "README-secret.md"])
    assert pm.matches("README-secret.md")
    assert not pm.matches("README-public.md")
    assert pm.matches("notes.md")


def test_exception_before_exclusion_has_no_effect() -> None:
    pm = PatternMatcher(["!keep.txt", "*.txt"])
    assert pm.matches("keep.txt")


def test_exception_inside_excluded_dir() -> None:
    pm = PatternMatcher(["docs", "!docs/README.md"])
    assert pm.matches("docs")
    assert pm.matches("docs/other.md")
    assert not pm.matches("docs/README.md")


def test_exception_reinclude_then_exclude_subdir() -> None:
    pm = PatternMatcher(["**", "!src", "src/tmp"])
    assert pm.matches("top.txt")
    assert not pm.matches("src")
    assert not pm.matches("src/a.py")
    assert pm.matches("src/tmp")
    assert pm.matches("src/tmp/x")


def test_double_star_exception() -> None:
    pm = PatternMatcher(["**/*.log", "!**/important.log"])
    assert pm.matches("a/b/debug.log")
    assert not pm.matches("a/b/important.log")


def test_matches_normalizes_input() -> None:
    pm = PatternMatcher(["a/b"])
    assert pm.matches("./a/b")
    assert pm.matches("a//b/")
    assert pm.excluded("a/b/c")


def test_context_root_never_matches() -> None:
    assert not PatternMatcher(["*"]).matches(".")


def test_blank_patterns_skipped_and_exclusions_flag() -> None:
    pm = PatternMatcher(["", "  ", "a"])
    assert [str(p) for p in pm.patterns] == ["a"]
    assert pm.exclusions is False
    assert PatternMatcher(["a", "!a/b"]).exclusions is True


def test_illegal_exclusion_pattern() -> None:
    with pytest.raises(InvalidArgument) as exc:
        PatternMatcher(["!"])
    assert str(exc.value) == 'illegal exclusion pattern: "!"'


@pytest.mark.parametrize("bad", ["[", "a[b", "[]", "a]"])
def test_bad_pattern_syntax(bad: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        PatternMatcher([bad])
    assert "syntax error in pattern" in str(exc.value)


def test_pattern_may_include_under() -> None:
    assert Pattern("!docs/README.md").could_match_under("docs")
    assert not Pattern("!docs/README.md").could_match_under("src")
    assert Pattern("!**/keep").could_match_under("deep/dir")
    assert Pattern("!*/keep").could_match_under("x")
    assert not Pattern("!a/*/keep").could_match_under("b/c")
    assert Pattern("!a/*/keep").could_match_under("a/c")
    assert str(Pattern("!a/./b")) == "!a/b"


# ----------------------------------------------------------------------------- walking


def make_tree(root: Path, files: list[str]) -> None:
    for rel in files:
        p = root / rel
        if rel.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(rel)


def test_walk_without_matcher_lists_everything_sorted(tmp_path: Path) -> None:
    make_tree(tmp_path, ["b.txt", "a/2.txt", "a/1.txt", "empty/"])
    assert list(walk_context(str(tmp_path), None)) == ["a", "a/1.txt", "a/2.txt", "b.txt", "empty"]


def test_walk_excludes_dir_and_its_contents(tmp_path: Path) -> None:
    make_tree(tmp_path, ["Dockerfile", "node_modules/x/index.js", "src/app.py", "src/app.pyc"])
    pm = PatternMatcher(parse_dockerignore("node_modules\n**/*.pyc\n"))
    assert list(walk_context(str(tmp_path), pm)) == ["Dockerfile", "src", "src/app.py"]


def test_walk_accepts_pattern_list(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.log", "b.txt"])
    assert list(walk_context(str(tmp_path), ["*.log"])) == ["b.txt"]


def test_walk_descends_for_exceptions(tmp_path: Path) -> None:
    make_tree(tmp_path, ["docs/README.md", "docs/guide.md", "docs/img/logo.png", "main.go"])
    pm = PatternMatcher(["docs", "!docs/README.md"])
    # The excluded parent is emitted before its re-included child so the tree stays consistent.
    assert list(walk_context(str(tmp_path), pm)) == ["docs", "docs/README.md", "main.go"]


def test_walk_descends_for_wildcard_exceptions(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a/b/keep.md", "a/b/drop.txt", "c/drop.txt", "top.md"])
    pm = PatternMatcher(["**", "!**/*.md"])
    assert list(walk_context(str(tmp_path), pm)) == ["a", "a/b", "a/b/keep.md", "top.md"]


def test_walk_skips_excluded_dir_without_reinclusion(tmp_path: Path) -> None:
    make_tree(tmp_path, ["secret/a", "secret/b/c", "ok"])
    pm = PatternMatcher(["secret", "!other"])
    assert list(walk_context(str(tmp_path), pm)) == ["ok"]


def test_walk_everything_excluded(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a", "b/c"])
    assert list(walk_context(str(tmp_path), PatternMatcher(["*"]))) == []


def test_walk_symlinks_listed_not_followed(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real/file.txt"])
    os.symlink("real", tmp_path / "link")
    os.symlink("/nonexistent", tmp_path / "dangling")
    assert list(walk_context(str(tmp_path))) == ["dangling", "link", "real", "real/file.txt"]


def test_walk_excludes_symlink_by_pattern(tmp_path: Path) -> None:
    make_tree(tmp_path, ["real/file.txt"])
    os.symlink("real", tmp_path / "link")
    assert list(walk_context(str(tmp_path), ["link"])) == ["real", "real/file.txt"]


def test_walk_dockerignore_roundtrip(tmp_path: Path) -> None:
    make_tree(tmp_path, [".git/HEAD", ".dockerignore", "Dockerfile", "build/out.bin", "build/keep/me.txt",
                         "src/main.c", "src/main.o", "tmp.swp"])
    pm = PatternMatcher(parse_dockerignore(".git\nbuild\n!build/keep\n*.swp\n**/*.o\n"))
    assert list(walk_context(str(tmp_path), pm)) == [
        ".dockerignore", "Dockerfile", "build", "build/keep", "build/keep/me.txt", "src", "src/main.c",
    ]
