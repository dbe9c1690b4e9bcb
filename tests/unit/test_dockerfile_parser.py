"""Unit tests for engine.build.parser (Dockerfile parsing and variable expansion)."""

from __future__ import annotations

import pytest

from engine.build.parser import (
    EXPANDS,
    KNOWN_INSTRUCTIONS,
    Dockerfile,
    Instruction,
    expand,
    expand_words,
    healthcheck_test,
    parse,
    parse_arg,
    parse_duration,
    parse_instruction,
    parse_kv,
    shell_form_to_argv,
    to_argv,
)
from engine.errors import InvalidArgument


def one(text: str) -> Instruction:
    """Parse ``FROM scratch`` + text and return the second instruction."""
    df = parse("FROM scratch\n" + text)
    assert len(df.instructions) == 2
    return df.instructions[1]


def err(text: str) -> str:
    with pytest.raises(InvalidArgument) as exc:
        parse(text)
    return str(exc.value)


# ----------------------------------------------------------------------------- basics


def test_simple_dockerfile() -> None:
    df = parse("FROM busybox\nRUN echo hi\nCMD [\"sh\"]\n")
    assert isinstance(df, Dockerfile)
    assert [i.cmd for i in df.instructions] == ["FROM", "RUN", "CMD"]
    assert df.escape == "\\"
    assert df.meta_args == []
    assert df.instructions[0].args == ["busybox"]
    assert df.instructions[1].args == ["echo hi"]
    assert df.instructions[1].json_form is False
    assert df.instructions[2].args == ["sh"]
    assert df.instructions[2].json_form is True


def test_line_numbers_are_one_based() -> None:
    df = parse("\n# comment\nFROM a\n\nRUN x\n")
    assert [i.lineno for i in df.instructions] == [3, 5]


def test_instructions_are_case_insensitive() -> None:
    df = parse("from alpine\nrun echo hi\nCmd [\"a\"]\n")
    assert [i.cmd for i in df.instructions] == ["FROM", "RUN", "CMD"]
    assert df.instructions[1].original == "run echo hi"


def test_original_keeps_text_as_written() -> None:
    inst = one("RUN   echo   hi  ")
    assert inst.original == "RUN   echo   hi"
    assert inst.args == ["echo   hi"]


def test_known_instruction_set() -> None:
    assert KNOWN_INSTRUCTIONS == {
        "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
        "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    }


def test_crlf_line_endings() -> None:
    df = parse("FROM a\r\nRUN echo hi \\\r\n  there\r\n")
    assert df.instructions[1].args == ["echo hi   there"]


def test_bom_is_stripped() -> None:
    df = parse("\ufeffFROM a\n")
    assert df.instructions[0].cmd == "FROM"


def test_stages_grouping() -> None:
    df = parse("ARG X\nFROM a AS one\nRUN 1\nFROM b\nRUN 2\nRUN 3\n")
    stages = df.stages()
    assert [[i.cmd for i in s] for s in stages] == [["FROM", "RUN"], ["FROM", "RUN", "RUN"]]


# ----------------------------------------------------------------------------- comments / continuation


def test_comments_and_indented_comments_ignored() -> None:
    df = parse("# top\nFROM a\n   # indented comment\n\t# tab\nRUN x # not a comment\n")
    assert [i.cmd for i in df.instructions] == ["FROM", "RUN"]
    assert df.instructions[1].args == ["x # not a comment"]


def test_line_continuation_joins_lines() -> None:
    inst = one("RUN apt-get update && \\\n    apt-get install -y curl\n")
    # Docker concatenates continuation lines verbatim (leading whitespace kept).
    assert inst.args == ["apt-get update &&     apt-get install -y curl"]
    assert inst.original == "RUN apt-get update && apt-get install -y curl"
    assert inst.lineno == 2
    assert inst.end_lineno == 3


def test_continuation_without_space_glues_words() -> None:
    inst = one("RUN echo foo\\\nbar\n")
    assert inst.args == ["echo foobar"]


def test_continuation_trailing_whitespace_after_escape() -> None:
    inst = one("RUN echo a \\   \n  b\n")
    assert inst.args == ["echo a   b"]


def test_comment_lines_inside_continuation_are_skipped() -> None:
    inst = one("RUN echo a && \\\n# inner comment\n    # indented inner\n  echo b\n")
    assert inst.args == ["echo a &&   echo b"]


def test_empty_continuation_lines_allowed() -> None:
    inst = one("RUN echo a \\\n\n   \n  b\n")
    assert inst.args == ["echo a   b"]


def test_continuation_at_end_of_file() -> None:
    inst = one("RUN echo a \\")
    assert inst.args == ["echo a"]


def test_next_instruction_line_number_after_continuation() -> None:
    df = parse("FROM a\nRUN a \\\n b \\\n c\nUSER x\n")
    assert df.instructions[2].lineno == 5


# ----------------------------------------------------------------------------- directives


def test_escape_directive_backtick() -> None:
    df = parse("# escape=`\nFROM windows\nRUN dir c:\\ `\n  && echo hi\nCOPY a c:\\dst\\\n")
    assert df.escape == "`"
    assert df.instructions[1].args == ["dir c:\\   && echo hi"]
    assert df.instructions[2].args == ["a", "c:\\dst\\"]
    assert df.instructions[1].escape == "`"


def test_backslash_is_not_continuation_with_backtick_escape() -> None:
    df = parse("# escape=`\nFROM a\nRUN echo \\\nUSER x\n")
    assert [i.cmd for i in df.instructions] == ["FROM", "RUN", "USER"]


def test_syntax_directive_accepted_and_ignored() -> None:
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n")
    assert df.escape == "`"
    assert len(df.instructions) == 1


def test_directive_with_spaces_and_case() -> None:
    df = parse("#  ESCAPE = `\nFROM a\n")
    assert df.escape == "`"


def test_directive_after_comment_is_plain_comment() -> None:
    df = parse("# hello\n# escape=`\nFROM a\nRUN a \\\n b\n")
    assert df.escape == "\\"
    assert df.instructions[1].args == ["a  b"]


def test_directive_after_blank_line_is_ignored() -> None:
    df = parse("\n# escape=`\nFROM a\n")
    assert df.escape == "\\"


def test_directive_after_instruction_is_ignored() -> None:
    df = parse("FROM a\n# escape=`\nRUN a \\\n b\n")
    assert df.escape == "\\"
    assert df.instructions[1].args == ["a  b"]


def test_invalid_escape_token() -> None:
    msg = err("# escape=x\nFROM a\n")
    assert msg == "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\"


def test_duplicate_directive() -> None:
    msg = err("# escape=`\n# escape=\\\nFROM a\n")
    assert msg == "dockerfile parse error on line 2: only one escape parser directive can be used"


# ----------------------------------------------------------------------------- errors


def test_unknown_instruction_error_with_line() -> None:
    msg = err("FROM a\nRUN x\nFOO bar\n")
    assert msg == "dockerfile parse error on line 3: unknown instruction: FOO"


def test_unknown_instruction_keeps_case_as_written() -> None:
    assert err("FROM a\nfrobnicate x\n") == "dockerfile parse error on line 2: unknown instruction: frobnicate"


def test_error_carries_lineno_attribute() -> None:
    with pytest.raises(InvalidArgument) as exc:
        parse("FROM a\n\nBOGUS\n")
    assert exc.value.lineno == 3
    assert exc.value.status == 400


def test_empty_dockerfile() -> None:
    assert err("") == "the Dockerfile cannot be empty"
    assert err("# just a comment\n\n   \n") == "the Dockerfile cannot be empty"


def test_no_build_stage() -> None:
    assert err("RUN echo hi\nFROM a\n") == "no build stage in current context"
    assert err("ARG A\nENV B=1\nFROM a\n") == "no build stage in current context"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RUN", "RUN requires at least one argument"),
        ("RUN []", "RUN requires at least one argument"),
        ("CMD", "CMD requires at least one argument"),
        ("ENTRYPOINT", "ENTRYPOINT requires at least one argument"),
        ("ENV", "ENV requires at least one argument"),
        ("ENV A", "ENV must have two arguments"),
        ("ENV =x", "ENV names can not be blank"),
        ("LABEL", "LABEL requires at least one argument"),
        ("LABEL a=b c", "Syntax error - can't find = in \"c\". Must be of the form: name=value"),
        ("ARG", "ARG requires at least one argument"),
        ("ARG =x", "ARG names can not be blank"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ('VOLUME ["/a", ""]', "VOLUME specified can not be an empty string"),
        ("USER", "USER requires exactly one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
        ("COPY", "COPY requires at least two arguments"),
        ("ADD onlyone",
         "ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("SHELL", "SHELL requires at least one argument"),
        ("SHELL /bin/bash -c", "SHELL requires the arguments to be in JSON form"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD maintainer x", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK FOO x", 'Unknown type "FOO" in HEALTHCHECK (try CMD)'),
        ("HEALTHCHECK --interval=abc CMD x", 'time: invalid duration "abc"'),
        ("HEALTHCHECK --timeout=5 CMD x", 'time: missing unit in duration "5"'),
        ("HEALTHCHECK --interval=1us CMD x", 'Interval "interval" cannot be less than 1ms'),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
        ("HEALTHCHECK --retries=x CMD x", 'strconv.ParseInt: parsing "x": invalid syntax'),
        ("HEALTHCHECK --bogus=1 CMD x", "Unknown flag: bogus"),
        ('CMD ["a", 1]', "when using JSON array syntax, arrays must be comprised of strings only"),
        ("RUN --foo=bar echo", "Unknown flag: foo"),
        ("ENV --x=1 A=b", "Unknown flag: x"),
        ("COPY --from=a --from=b x y", "Duplicate flag specified: from"),
        ("COPY --chown a b", "Missing a value on flag: chown"),
        ("COPY --link=maybe a b", "expecting boolean value for flag link, not: maybe"),
    ],
)
def test_instruction_errors(text: str, message: str) -> None:
    assert err("FROM scratch\n" + text + "\n") == f"dockerfile parse error on line 2: {message}"


def test_from_argument_count_errors() -> None:
    assert err("FROM a b\n") == "dockerfile parse error on line 1: FROM requires either one or three arguments"
    assert err("FROM\n") == "dockerfile parse error on line 1: FROM requires either one or three arguments"
    assert err("FROM a IS b\n") == "dockerfile parse error on line 1: FROM requires either one or three arguments"


def test_from_invalid_stage_name() -> None:
    msg = err("FROM a AS 1abc\n")
    assert msg == ('dockerfile parse error on line 1: invalid name for build stage: "1abc", '
                   "name can't start with a number or contain symbols")


def test_error_line_is_start_of_continued_instruction() -> None:
    assert err("FROM a\nBAD \\\n x \\\n y\n").startswith("dockerfile parse error on line 2:")


# ----------------------------------------------------------------------------- FROM / ARG


def test_from_with_stage_and_platform() -> None:
    df = parse("FROM --platform=linux/amd64 golang:1.22 as Build\n")
    inst = df.instructions[0]
    assert inst.args == ["golang:1.22", "as", "Build"]
    assert inst.flags == {"platform": "linux/amd64"}


def test_arg_before_from_is_meta_arg() -> None:
    df = parse("ARG VERSION=1.0\nARG OTHER\nFROM alpine:${VERSION}\nARG INSIDE\n")
    assert [i.cmd for i in df.instructions] == ["ARG", "ARG", "FROM", "ARG"]
    assert [m.args for m in df.meta_args] == [["VERSION=1.0"], ["OTHER"]]
    assert df.instructions[2].args == ["alpine:${VERSION}"]


def test_arg_multiple_and_quoted() -> None:
    inst = one('ARG A=1 B C="x y" D')
    assert inst.args == ["A=1", "B", 'C="x y"', "D"]
    assert parse_arg(inst) == [("A", "1"), ("B", None), ("C", "x y"), ("D", None)]


def test_arg_fully_quoted_word_fails_like_docker() -> None:
    # Docker splits at '=' before removing quotes, so the key becomes '"C' (unterminated quote).
    inst = one('ARG "C=x y"')
    assert inst.args == ['"C=x y"']
    with pytest.raises(InvalidArgument, match="matching double-quote"):
        parse_arg(inst)


def test_arg_quoted_value() -> None:
    inst = one('ARG MSG="hello world"')
    assert inst.args == ['MSG="hello world"']
    assert parse_arg(inst) == [("MSG", "hello world")]


def test_parse_arg_expands_with_env() -> None:
    inst = one("ARG B=${A}-suffix C")
    assert parse_arg(inst, {"A": "x"}) == [("B", "x-suffix"), ("C", None)]
    assert parse_arg(inst) == [("B", "${A}-suffix"), ("C", None)]


# ----------------------------------------------------------------------------- exec vs shell form


def test_exec_form_json() -> None:
    inst = one('ENTRYPOINT ["/bin/app", "--flag", "a b"]')
    assert inst.json_form is True
    assert inst.args == ["/bin/app", "--flag", "a b"]


def test_exec_form_with_escapes_and_unicode() -> None:
    inst = one(r'CMD ["echo", "a\"b", "\u00e9", "c\\d"]')
    assert inst.args == ["echo", 'a"b', "é", "c\\d"]


def test_invalid_json_falls_back_to_shell_form() -> None:
    inst = one("CMD ['single', 'quotes']")
    assert inst.json_form is False
    assert inst.args == ["['single', 'quotes']"]
    inst = one('RUN ["unterminated"')
    assert inst.json_form is False
    assert inst.args == ['["unterminated"']


def test_json_with_trailing_text_is_still_json() -> None:
    # Go's json.Decoder stops after the first value.
    inst = one('CMD ["a"] trailing')
    assert inst.json_form is True
    assert inst.args == ["a"]


def test_empty_json_array_cmd_allowed() -> None:
    inst = one("CMD []")
    assert inst.json_form is True
    assert inst.args == []
    assert one("ENTRYPOINT []").args == []


def test_run_flags_repeatable_mount() -> None:
    inst = one("RUN --mount=type=cache,target=/root/.cache --mount=type=secret,id=x --network=none make")
    assert inst.args == ["make"]
    assert inst.flag_list == [("mount", "type=cache,target=/root/.cache"), ("mount", "type=secret,id=x"),
                              ("network", "none")]
    assert inst.flags["network"] == "none"


def test_flags_with_quotes() -> None:
    inst = one('COPY --chown="1000:1000" a b')
    assert inst.flags == {"chown": "1000:1000"}
    assert inst.args == ["a", "b"]


def test_bool_flag_without_value() -> None:
    inst = one("COPY --link --from=builder /out /dst")
    assert inst.flags == {"link": "true", "from": "builder"}
    assert inst.args == ["/out", "/dst"]


def test_double_dash_ends_flags() -> None:
    inst = one("RUN -- --not-a-flag")
    assert inst.flags == {}
    assert inst.args == ["--not-a-flag"]


def test_single_dash_is_not_a_flag() -> None:
    inst = one("RUN -x")
    assert inst.args == ["-x"]


def test_shell_instruction() -> None:
    inst = one('SHELL ["/bin/bash", "-o", "pipefail", "-c"]')
    assert inst.json_form
    assert inst.args == ["/bin/bash", "-o", "pipefail", "-c"]


def test_copy_and_add_forms() -> None:
    inst = one("COPY --from=builder --chown=1:1 /src/a /src/b /dst/")
    assert inst.args == ["/src/a", "/src/b", "/dst/"]
    assert inst.flags == {"from": "builder", "chown": "1:1"}
    assert inst.json_form is False
    inst = one('ADD ["a file", "/dst dir/"]')
    assert inst.args == ["a file", "/dst dir/"]
    assert inst.json_form is True


def test_add_flags() -> None:
    inst = one("ADD --checksum=sha256:abc --keep-git-dir=true --chmod=755 http://x/y /y")
    assert inst.flags == {"checksum": "sha256:abc", "keep-git-dir": "true", "chmod": "755"}


# ----------------------------------------------------------------------------- word-list instructions


def test_expose_words() -> None:
    assert one("EXPOSE 80 443/tcp  53/udp").args == ["80", "443/tcp", "53/udp"]


def test_volume_shell_and_json() -> None:
    inst = one("VOLUME /data /logs")
    assert inst.args == ["/data", "/logs"]
    assert not inst.json_form
    inst = one('VOLUME ["/data", "/var/log"]')
    assert inst.args == ["/data", "/var/log"]
    assert inst.json_form


def test_user_workdir_stopsignal_maintainer_single_string() -> None:
    assert one("USER app:app").args == ["app:app"]
    assert one("WORKDIR /my dir").args == ["/my dir"]
    assert one("STOPSIGNAL SIGTERM").args == ["SIGTERM"]
    assert one("MAINTAINER Jane Doe <jane@example.com>").args == ["Jane Doe <jane@example.com>"]


def test_onbuild_trigger_text() -> None:
    inst = one("ONBUILD RUN echo $HOME && make")
    assert inst.args == ["RUN echo $HOME && make"]
    trigger = parse_instruction(inst.args[0])
    assert trigger.cmd == "RUN"
    assert trigger.args == ["echo $HOME && make"]


def test_onbuild_with_continuation() -> None:
    inst = one("onbuild COPY a \\\n  /b\n")
    assert inst.args == ["COPY a   /b"]


# ----------------------------------------------------------------------------- ENV / LABEL


def test_env_key_value_pairs() -> None:
    inst = one('ENV A=1 B="two words" C=three\\ words D=\'$E\' F=')
    assert inst.args == ['A=1 B="two words" C=three\\ words D=\'$E\' F=']
    assert parse_kv(inst) == [("A", "1"), ("B", "two words"), ("C", "three words"), ("D", "$E"), ("F", "")]


def test_env_legacy_form() -> None:
    inst = one("ENV PATH_EXTRA  /opt/bin:/usr/local/bin with spaces")
    assert parse_kv(inst) == [("PATH_EXTRA", "/opt/bin:/usr/local/bin with spaces")]


def test_env_legacy_form_with_quotes() -> None:
    inst = one('ENV MSG "hello world"')
    assert parse_kv(inst) == [("MSG", "hello world")]


def test_env_expansion_uses_previous_environment() -> None:
    inst = one("ENV abc=bye def=$abc ghi=${abc:-x}")
    assert parse_kv(inst, {"abc": "hello"}) == [("abc", "bye"), ("def", "hello"), ("ghi", "hello")]


def test_env_without_env_keeps_references() -> None:
    inst = one('ENV PATH=/x:$PATH HOME="${HOME}/y"')
    assert parse_kv(inst) == [("PATH", "/x:$PATH"), ("HOME", "${HOME}/y")]


def test_env_multiline() -> None:
    inst = one("ENV A=1 \\\n    B=2 \\\n    C=3\n")
    assert parse_kv(inst) == [("A", "1"), ("B", "2"), ("C", "3")]


def test_label_pairs() -> None:
    inst = one('LABEL "com.example.vendor"="ACME Inc" version=1.0 description="multi word"')
    assert parse_kv(inst) == [("com.example.vendor", "ACME Inc"), ("version", "1.0"),
                              ("description", "multi word")]


def test_label_legacy_form() -> None:
    assert parse_kv(one("LABEL maintainer someone else")) == [("maintainer", "someone else")]


def test_env_escape_backtick() -> None:
    df = parse("# escape=`\nFROM a\nENV A=x`y B=c:\\dir\n")
    assert parse_kv(df.instructions[1]) == [("A", "xy"), ("B", "c:\\dir")]


def test_parse_kv_rejects_other_instructions() -> None:
    with pytest.raises(InvalidArgument):
        parse_kv(one("RUN x"))


# ----------------------------------------------------------------------------- HEALTHCHECK


def test_healthcheck_shell_form_with_flags() -> None:
    inst = one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1s --start-interval=2s --retries=3 "
               "CMD curl -f http://localhost/ || exit 1")
    assert inst.args == ["CMD", "curl -f http://localhost/ || exit 1"]
    assert inst.json_form is False
    assert inst.flags == {"interval": "5m", "timeout": "3s", "start-period": "1s", "start-interval": "2s",
                          "retries": "3"}
    assert healthcheck_test(inst) == ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]


def test_healthcheck_exec_form() -> None:
    inst = one('HEALTHCHECK cmd ["/bin/check", "-v"]')
    assert inst.args == ["CMD", "/bin/check", "-v"]
    assert inst.json_form is True
    assert healthcheck_test(inst) == ["CMD", "/bin/check", "-v"]


def test_healthcheck_none() -> None:
    inst = one("HEALTHCHECK none")
    assert inst.args == ["NONE"]
    assert healthcheck_test(inst) == ["NONE"]


def test_healthcheck_zero_interval_ok() -> None:
    assert one("HEALTHCHECK --interval=0s CMD x").flags == {"interval": "0s"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("5s", 5.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("300ms", 0.3), ("-2s", -2.0), ("10us", 1e-5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "abc", "5x", "s"])
def test_parse_duration_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# ----------------------------------------------------------------------------- argv helpers


def test_shell_form_to_argv() -> None:
    assert shell_form_to_argv("echo hi") == ["/bin/sh", "-c", "echo hi"]
    assert shell_form_to_argv("echo hi", ["/bin/bash", "-xc"]) == ["/bin/bash", "-xc", "echo hi"]


def test_to_argv() -> None:
    assert to_argv(one('CMD ["a", "b"]')) == ["a", "b"]
    assert to_argv(one("CMD a b")) == ["/bin/sh", "-c", "a b"]
    assert to_argv(one("ENTRYPOINT exec app"), ["pwsh", "-Command"]) == ["pwsh", "-Command", "exec app"]


# ----------------------------------------------------------------------------- expansion


def test_expands_set() -> None:
    assert EXPANDS == {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME",
                       "WORKDIR", "ARG"}
    for not_expanded in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER"):
        assert not_expanded not in EXPANDS


ENV = {"A": "a", "B": "b c", "EMPTY": "", "PATHV": "/usr/local/lib/file.tar.gz"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("plain", "plain"),
        ("$A", "a"),
        ("${A}", "a"),
        ("x${A}y", "xay"),
        ("$Ax", ""),  # name is "Ax", unset
        ("$UNSET", ""),
        ("${UNSET}", ""),
        ("$A$A", "aa"),
        ("$", "$"),
        ("a$", "a$"),
        ("$/", "$/"),
        ("\\$A", "$A"),
        ("'$A'", "$A"),
        ('"$A"', "a"),
        ('"${A}"x', "ax"),
        ('"\\$A"', "$A"),
        ('"a\\"b"', 'a"b'),
        ('"a\\nb"', "a\\nb"),
        ("'a\\nb'", "a\\nb"),
        ("a\\ b", "a b"),
        ("\\\\", "\\"),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${A:-default}", "a"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-$A}", "a"),
        ("${UNSET:-${A}x}", "ax"),
        ("${UNSET:-'quoted $A'}", "quoted $A"),
        ("${A:?must be set}", "a"),
        ("${PATHV%.*}", "/usr/local/lib/file.tar"),
        ("${PATHV%%.*}", "/usr/local/lib/file"),
        ("${PATHV#*/}", "usr/local/lib/file.tar.gz"),
        ("${PATHV##*/}", "file.tar.gz"),
        ("${PATHV/l/L}", "/usr/Local/lib/file.tar.gz"),
        ("${PATHV//l/L}", "/usr/LocaL/Lib/fiLe.tar.gz"),
        ("${B}", "b c"),
        ("$1", ""),
    ],
)
def test_expand_table(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${UNSET:?}", "UNSET: is not allowed to be unset"),
        ("${UNSET?custom msg}", "UNSET: custom msg"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${A", "syntax error: missing '}'"),
        ("${", "syntax error: missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:-x}", "syntax error: bad substitution"),
        ("${A!x}", "unsupported modifier (!) in substitution"),
        ("${A:%x}", "unsupported modifier (:%) in substitution"),
        ("'unterminated", "unexpected end of statement while looking for matching single-quote"),
        ('"unterminated', "unexpected end of statement while looking for matching double-quote"),
    ],
)
def test_expand_errors(word: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        expand(word, ENV)
    assert message in str(exc.value)
    assert str(exc.value).startswith("failed to process ")


def test_expand_empty_error_value_allowed_without_colon() -> None:
    assert expand("${EMPTY?}", ENV) == ""


def test_expand_with_backtick_escape() -> None:
    assert expand("`$A", ENV, "`") == "$A"
    assert expand("c:\\dir\\$A", ENV, "`") == "c:\\dir\\a"
    assert expand('"`"q"', ENV, "`") == '"q'


def test_expand_trailing_escape_dropped() -> None:
    assert expand("abc\\", ENV) == "abc"


def test_expand_words() -> None:
    assert expand_words('a "b c" $B d', ENV) == ["a", "b c", "b", "c", "d"]
    assert expand_words("  80/tcp   $A  ", ENV) == ["80/tcp", "a"]
    assert expand_words("'x y'z \"\"", ENV) == ["x yz"]
    assert expand_words("a\\ b c", ENV) == ["a b", "c"]
    assert expand_words("", ENV) == []


def test_expand_is_case_sensitive() -> None:
    assert expand("$a", ENV) == ""
