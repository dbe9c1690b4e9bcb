"""Go text/template subset and docker table formatting (tui.cli.template).

Expected strings are what Go's text/template / docker print for the same template; tabwriter
expectations are worked out by hand from Go's algorithm (minwidth 10, padding 3, space padded,
a line's last cell never padded, width decided per block of consecutive lines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.errors import InvalidArgument
from tui.cli.template import (
    compile_template,
    format_table,
    is_table_format,
    prepare_format,
    render,
    tabwrite,
)

CONTAINER: dict[str, Any] = {
    "ID": "4c01db0b339c",
    "Names": "web",
    "Image": "nginx:1.25",
    "State": "running",
    "Args": ["-g", "daemon off;"],
    "Labels": {"com.example.team": "core", "a": "1"},
    "Mounts": [
        {"Source": "/srv/data", "Destination": "/data"},
        {"Source": "/etc/conf", "Destination": "/conf"},
    ],
    "Config": {"Image": "nginx:1.25", "Env": ["A=1"], "Tty": False, "ExposedPorts": {"80/tcp": {}}},
    "Health": None,
    "Size": 0,
}


# --------------------------------------------------------------------------------------------
# docker --format examples


def test_fields_and_literal_tab() -> None:
    assert render("{{.ID}}\t{{.Names}}", CONTAINER) == "4c01db0b339c\tweb"


def test_nested_field_chain() -> None:
    assert render("{{.Config.Image}}", CONTAINER) == "nginx:1.25"


def test_json_of_map_is_compact_and_keeps_order() -> None:
    assert render("{{json .Config}}", CONTAINER) == (
        '{"Image":"nginx:1.25","Env":["A=1"],"Tty":false,"ExposedPorts":{"80/tcp":{}}}'
    )


def test_json_scalars_nil_and_no_html_escaping() -> None:
    assert render("{{json .Names}}", CONTAINER) == '"web"'
    assert render("{{json .Health}}", CONTAINER) == "null"
    assert render("{{json .Missing}}", CONTAINER) == "null"
    assert render("{{json .}}", {"s": "<a&b>", "f": 2.0, "g": 1.5, "u": "é"}) == '{"s":"<a&b>","f":2,"g":1.5,"u":"é"}'


def test_index_map_label() -> None:
    assert render('{{index .Labels "com.example.team"}}', CONTAINER) == "core"


def test_index_missing_label_is_empty_like_docker_string_map() -> None:
    assert render('[{{index .Labels "nope"}}]', CONTAINER) == "[]"


def test_index_list_and_nested() -> None:
    assert render("{{index .Args 1}}", CONTAINER) == "daemon off;"
    assert render("{{index .M 0 1}}", {"M": [[1, 2], [3]]}) == "2"


def test_range_over_mounts() -> None:
    assert render("{{range .Mounts}}{{.Source}} {{end}}", CONTAINER) == "/srv/data /etc/conf "


def test_if_eq_else() -> None:
    tmpl = '{{if eq .State "running"}}up{{else}}down{{end}}'
    assert render(tmpl, CONTAINER) == "up"
    assert render(tmpl, {"State": "exited"}) == "down"


def test_len() -> None:
    assert render("{{len .Args}} {{len .Labels}} {{len .Names}}", CONTAINER) == "2 2 3"


def test_len_of_string_counts_bytes_like_go() -> None:
    assert render('{{len "héllo"}}', None) == "6"


def test_upper_lower_title() -> None:
    assert render("{{upper .Names}} {{lower .Image}}", CONTAINER) == "WEB nginx:1.25"
    assert render('{{title "hello wORLD-foo_bar x"}}', None) == "Hello WORLD-Foo_bar X"


def test_join_split() -> None:
    assert render('{{join .Args ","}}', CONTAINER) == "-g,daemon off;"
    assert render('{{split "a:b:c" ":"}}', None) == "[a b c]"
    assert render('{{range split "a,b" ","}}<{{.}}>{{end}}', None) == "<a><b>"
    assert render('{{join (split "a,b" ",") "+"}}', None) == "a+b"


def test_pad_and_truncate() -> None:
    assert render('[{{pad "x" 2 1}}][{{pad "" 2 1}}]', None) == "[  x ][]"
    assert render('{{truncate .ID 4}} {{truncate "ab" 5}}', CONTAINER) == "4c01 ab"


def test_table_function_is_a_no_op() -> None:
    assert render("{{table .Names}}", CONTAINER) == "web"


def test_wrong_argument_type_errors_like_go() -> None:
    with pytest.raises(InvalidArgument, match="wrong type for value; expected string; got int"):
        render("{{upper .Size}}", CONTAINER)


# --------------------------------------------------------------------------------------------
# syntax


def test_plain_text_only() -> None:
    assert render("no actions here", CONTAINER) == "no actions here"
    assert render("", CONTAINER) == ""


def test_trim_markers() -> None:
    assert render("a  {{- .Names -}}  b", CONTAINER) == "aweb" + "b"
    assert render("a\n\t {{- .Names}}\n", CONTAINER) == "aweb\n"
    assert render("{{.Names -}}\n\n  !", CONTAINER) == "web!"


def test_minus_number_is_not_a_trim_marker() -> None:
    assert render("{{-3}}", None) == "-3"


def test_comments() -> None:
    assert render("a{{/* a comment */}}b", None) == "ab"
    assert render("a {{- /* trimmed */ -}} b", None) == "ab"


def test_dot_and_root_variable() -> None:
    assert render("{{.}}", "plain") == "plain"
    data = {"Name": "n", "Items": [1, 2]}
    assert render("{{range .Items}}{{$.Name}}{{.}} {{end}}", data) == "n1 n2 "


def test_variables_declare_and_assign() -> None:
    assert render("{{$x := .Names}}{{$x}}-{{$x}}", CONTAINER) == "web-web"
    assert render("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", None) == "2"
    assert render("{{$m := .Config}}{{$m.Image}}", CONTAINER) == "nginx:1.25"


def test_variable_scope_ends_with_control_structure() -> None:
    with pytest.raises(InvalidArgument, match='undefined variable "\\$y"'):
        render("{{if true}}{{$y := 1}}{{end}}{{$y}}", None)


def test_pipelines_pass_value_as_last_argument() -> None:
    assert render('{{.Names | printf "%s-%s" "x"}}', CONTAINER) == "x-web"
    assert render("{{.Names | upper | printf \"%q\"}}", CONTAINER) == '"WEB"'


def test_parenthesised_pipelines_and_chains() -> None:
    assert render("{{(index .Mounts 1).Destination}}", CONTAINER) == "/conf"
    assert render('{{printf "%s" (print 1 2)}}', None) == "1 2"


def test_literals() -> None:
    assert render(r'{{"a\tb\u00e9\x41"}}', None) == "a\tbéA"
    assert render("{{`raw\\n`}}", None) == "raw\\n"
    assert render("{{1}} {{-2}} {{0x1F}} {{010}} {{1_000}} {{1.5}} {{1e3}} {{'a'}}", None) == "1 -2 31 8 1000 1.5 1000 97"
    assert render("{{true}} {{false}}", None) == "true false"


def test_newlines_inside_actions() -> None:
    assert render("{{if\n .Names}}y{{end}}", CONTAINER) == "y"


# --------------------------------------------------------------------------------------------
# control structures


def test_else_if_chain() -> None:
    tmpl = "{{if .A}}a{{else if .B}}b{{else}}c{{end}}"
    assert render(tmpl, {"A": 1}) == "a"
    assert render(tmpl, {"B": 1}) == "b"
    assert render(tmpl, {}) == "c"


def test_with_and_else() -> None:
    tmpl = "{{with .Config}}{{.Image}}{{else}}none{{end}}"
    assert render(tmpl, CONTAINER) == "nginx:1.25"
    assert render(tmpl, {}) == "none"
    assert render("{{with .A}}a{{else with .B}}{{.}}{{end}}", {"B": "b"}) == "b"


def test_range_with_index_and_value() -> None:
    assert render("{{range $i, $v := .Args}}{{$i}}={{$v}};{{end}}", CONTAINER) == "0=-g;1=daemon off;;"


def test_range_single_variable_gets_element() -> None:
    assert render("{{range $v := .Args}}[{{$v}}]{{end}}", CONTAINER) == "[-g][daemon off;]"


def test_range_over_map_is_sorted_by_key() -> None:
    assert render("{{range $k, $v := .Labels}}{{$k}}={{$v}} {{end}}", CONTAINER) == "a=1 com.example.team=core "
    assert render("{{range .}}{{.}}{{end}}", {"b": 2, "a": 1}) == "12"


def test_range_else_for_empty_and_missing() -> None:
    tmpl = "{{range .L}}{{.}}{{else}}empty{{end}}"
    assert render(tmpl, {"L": []}) == "empty"
    assert render(tmpl, {}) == "empty"
    assert render(tmpl, {"L": None}) == "empty"


def test_nested_range_with_root_variable() -> None:
    data = {
        "Prefix": "-",
        "Groups": [{"Name": "g1", "Items": ["a", "b"]}, {"Name": "g2", "Items": ["c"]}],
    }
    tmpl = "{{range $g := .Groups}}{{range .Items}}{{$.Prefix}}{{$g.Name}}:{{.}} {{end}}{{end}}"
    assert render(tmpl, data) == "-g1:a -g1:b -g2:c "


def test_range_over_integer() -> None:
    assert render("{{range 3}}{{.}}{{end}}", None) == "012"


def test_break_and_continue() -> None:
    tmpl = "{{range .}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}"
    assert render(tmpl, [1, 2, 3, 4, 5]) == "13"


def test_define_template_and_block() -> None:
    assert render('{{define "T"}}[{{.}}]{{end}}{{template "T" .Names}}', CONTAINER) == "[web]"
    assert render('{{block "B" .Names}}<{{.}}>{{end}}', CONTAINER) == "<web>"


# --------------------------------------------------------------------------------------------
# missing values, nil, printing


def test_missing_map_key_prints_no_value() -> None:
    assert render("{{.Nope}}", CONTAINER) == "<no value>"
    assert render("{{.Nope.Deeper}}", CONTAINER) == "<no value>"


def test_nil_data_and_nil_fields() -> None:
    assert render("{{.Anything}}", None) == "<no value>"
    assert render("{{.Health}}", CONTAINER) == "<nil>"
    assert render("{{.Health.Status}}", CONTAINER) == "<no value>"


def test_missing_values_are_false() -> None:
    assert render("{{if .Nope}}y{{else}}n{{end}}", CONTAINER) == "n"


def test_value_printing_like_go_fmt() -> None:
    data = {"B": True, "L": [1, "a", None, [2]], "M": {"z": 1, "a": [1, 2]}, "E": {}, "I": -7}
    assert render("{{.B}} {{.L}} {{.M}} {{.E}} {{.I}}", data) == "true [1 a <nil> [2]] map[a:[1 2] z:1] map[] -7"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, "2"),
        (1.5, "1.5"),
        (-0.25, "-0.25"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (1e21, "1e+21"),
        (float("inf"), "+Inf"),
    ],
)
def test_float_printing_like_go(value: float, expected: str) -> None:
    assert render("{{.}}", value) == expected


def test_truthiness_per_go() -> None:
    tmpl = "{{if .}}T{{else}}F{{end}}"
    falsy: list[Any] = ["", [], {}, 0, 0.0, False, None]
    truthy: list[Any] = ["x", [0], {"a": 0}, 1, -1.5, True, object()]
    assert [render(tmpl, v) for v in falsy] == ["F"] * len(falsy)
    assert [render(tmpl, v) for v in truthy] == ["T"] * len(truthy)


# --------------------------------------------------------------------------------------------
# builtins


def test_and_or_not_return_values_and_short_circuit() -> None:
    assert render('{{and 1 0 2}} {{or 0 "" 3}} {{and 1 2}} {{or 0 false}} {{not 0}} {{not "x"}}', None) == (
        "0 3 2 false true false"
    )
    # or stops before evaluating the failing call
    assert render("{{or 1 (index .L 9)}}", {"L": []}) == "1"


def test_comparisons() -> None:
    assert render('{{eq .State "exited" "running"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}', CONTAINER) == (
        "true true true true true false"
    )
    assert render("{{eq .Nope nil}} {{eq .Health nil}} {{eq .Names nil}}", CONTAINER) == "true true false"


def test_incompatible_comparison_errors() -> None:
    with pytest.raises(InvalidArgument, match="error calling eq: incompatible types for comparison"):
        render('{{eq 1 "1"}}', None)
    with pytest.raises(InvalidArgument, match="error calling lt: invalid type for comparison"):
        render("{{lt .Args 1}}", CONTAINER)


def test_print_println() -> None:
    assert render('{{print 1 2 "a" 3 "b" "c"}}', None) == "1 2a3bc"
    assert render('{{println 1 "a"}}', None) == "1 a\n"
    assert render("{{print .Nope}}", CONTAINER) == "<nil>"


@pytest.mark.parametrize(
    ("tmpl", "expected"),
    [
        ('{{printf "%s|%v|%d" "a" .L 42}}', "a|[1 b]|42"),
        ('{{printf "%5s|%-5s|%.2s" "ab" "ab" "abc"}}', "   ab|ab   |ab"),
        ('{{printf "%05d|%+d|%x|%X|%o|%b" -42 5 255 255 8 5}}', "-0042|+5|ff|FF|10|101"),
        ('{{printf "%q|%q|%c|%U" "a\\"b" 65 65 65}}', "\"a\\\"b\"|'A'|A|U+0041"),
        ('{{printf "%.2f|%8.3f|%e|%g|%v" 3.14159 3.14159 1234.5678 0.000001 1e6}}', "3.14|   3.142|1.234568e+03|1e-06|1e+06"),
        ('{{printf "%t|%v|%T|%T" true nil "s" 1}}', "true|<nil>|string|int"),
        ('{{printf "%x" "hi"}}', "6869"),
        ('{{printf "%d %d" 1}}', "1 %!d(MISSING)"),
        ('{{printf "%d" 1 "x"}}', "1%!(EXTRA string=x)"),
        ('{{printf "%d|%s|%f" "s" 1 1}}', "%!d(string=s)|%!s(int=1)|%!f(int=1)"),
        ('{{printf "100%%"}}', "100%"),
    ],
)
def test_printf(tmpl: str, expected: str) -> None:
    assert render(tmpl, {"L": [1, "b"]}) == expected


def test_html_js_urlquery() -> None:
    assert render("{{html .}}", "<a href='x'>&\"") == "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"
    assert render("{{js .}}", "it's <b>\n") == "it\\'s \\u003Cb\\u003E\\u000A"
    assert render("{{urlquery .}}", "a b&c=d/é") == "a+b%26c%3Dd%2F%C3%A9"


def test_slice() -> None:
    assert render('{{slice "hello" 1 3}} {{slice .L 1}} {{slice .L}} {{slice .L 0 1}}', {"L": [1, 2, 3]}) == "el [2 3] [1 2 3] [1]"


def test_index_errors() -> None:
    with pytest.raises(InvalidArgument, match="error calling index: index out of range: 5"):
        render("{{index .Args 5}}", CONTAINER)
    with pytest.raises(InvalidArgument, match="error calling index: index of untyped nil"):
        render('{{index .Nope "a"}}', CONTAINER)


def test_index_missing_key_in_non_string_map_is_no_value() -> None:
    assert render('{{index .M "zz"}}', {"M": {"k": 1}}) == "<no value>"


def test_call_function_and_error() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    def boom() -> None:
        raise RuntimeError("kaput")

    assert render("{{call .F 1 2}}", {"F": add}) == "3"
    with pytest.raises(InvalidArgument, match="error calling call: kaput"):
        render("{{call .F}}", {"F": boom})
    with pytest.raises(InvalidArgument, match="error calling call: non-function of type string"):
        render("{{call .S}}", {"S": "x"})


def test_wrong_number_of_args() -> None:
    with pytest.raises(InvalidArgument, match="wrong number of args for len: want 1 got 2"):
        render("{{len 1 2}}", None)
    with pytest.raises(InvalidArgument, match="wrong number of args for and: want at least 1 got 0"):
        render("{{and}}", None)


# --------------------------------------------------------------------------------------------
# objects


@dataclass
class _Port:
    Private: int
    Public: int

    def Spec(self, proto: str = "tcp") -> str:
        return f"{self.Public}->{self.Private}/{proto}"


@dataclass
class _Ctr:
    ID: str
    Ports: list[_Port] = field(default_factory=list)


def test_object_attributes_and_methods() -> None:
    c = _Ctr("abc", [_Port(80, 8080)])
    assert render("{{.ID}} {{range .Ports}}{{.Public}}:{{.Private}}{{end}}", c) == "abc 8080:80"
    assert render('{{range .Ports}}{{.Spec}} {{.Spec "udp"}}{{end}}', c) == "8080->80/tcp 8080->80/udp"
    assert render('{{range .Ports}}{{"sctp" | .Spec}}{{end}}', c) == "8080->80/sctp"


def test_object_unknown_field_errors() -> None:
    with pytest.raises(InvalidArgument, match="can't evaluate field Nope in type _Ctr"):
        render("{{.Nope}}", _Ctr("x"))


def test_json_of_objects_uses_public_attributes() -> None:
    assert render("{{json .}}", _Ctr("x", [_Port(1, 2)])) == '{"ID":"x","Ports":[{"Private":1,"Public":2}]}'


# --------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    ("tmpl", "message"),
    [
        ("{{.ID}", 'template parsing error: template: :1: unexpected "}" in operand'),
        ("{{if .X}}", "template parsing error: template: :1: unexpected EOF"),
        ("{{end}}", "template parsing error: template: :1: unexpected {{end}}"),
        ("{{else}}", "template parsing error: template: :1: unexpected {{else}}"),
        ("{{nosuch .X}}", 'template parsing error: template: :1: function "nosuch" not defined'),
        ("{{$x}}", 'template parsing error: template: :1: undefined variable "$x"'),
        ("{{}}", "template parsing error: template: :1: missing value for command"),
        ("{{range}}{{end}}", "template parsing error: template: :1: missing value for range"),
        ('{{"abc}}', "template parsing error: template: :1: unterminated quoted string"),
        ("{{/* x }}", "template parsing error: template: :1: unclosed comment"),
        ("{{.X", "template parsing error: template: :1: unclosed action"),
        ("{{3x}}", 'template parsing error: template: :1: bad number syntax: "3x"'),
        ("{{(.X}}", "template parsing error: template: :1: unclosed left paren"),
        ("{{.X)}}", "template parsing error: template: :1: unexpected right paren"),
        ("{{.X | 3}}", "template parsing error: template: :1: non executable command in pipeline stage 2"),
        ("{{if 1}}{{else}}{{else}}{{end}}", "template parsing error: template: :1: expected end; found {{else}}"),
        ("{{break}}", "template parsing error: template: :1: {{break}} outside {{range}}"),
        ('{{"a".X}}', 'template parsing error: template: :1: unexpected . after term "\\"a\\""'),
        ("line1\n{{.X}", 'template parsing error: template: :2: unexpected "}" in operand'),
    ],
)
def test_parse_errors(tmpl: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        compile_template(tmpl)
    assert str(info.value) == message
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("tmpl", "message"),
    [
        ("{{len 3}}", 'template parsing error: template: :1:2: executing "" at <len 3>: error calling len: len of type int'),
        (
            "{{.Names.X}}",
            'template parsing error: template: :1:2: executing "" at <.Names.X>: can\'t evaluate field X in type string',
        ),
        ("{{nil}}", 'template parsing error: template: :1:2: executing "" at <nil>: nil is not a command'),
        ("{{.Args 1}}", 'template parsing error: template: :1:2: executing "" at <.Args>: Args is not a method but has arguments'),
        ('{{template "x"}}', 'template parsing error: template: :1:11: executing "" at <{{template "x"}}>: template "x" not defined'),
        ("{{range .Names}}{{end}}", 'template parsing error: template: :1:8: executing "" at <.Names>: range can\'t iterate over web'),
    ],
)
def test_execution_errors(tmpl: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        render(tmpl, CONTAINER)
    assert str(info.value) == message


def test_compile_is_cached() -> None:
    assert compile_template("{{.ID}}") is compile_template("{{.ID}}")


# --------------------------------------------------------------------------------------------
# tabwriter (Go's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0))


def test_tabwrite_minwidth_and_padding() -> None:
    # column 0: widest cell 3 + padding 3 = 6 < minwidth 10 -> 10; last cells never padded
    assert tabwrite(["a\tb", "abc\tc"]) == "a         b\nabc       c\n"


def test_tabwrite_wide_column() -> None:
    # column 0: "aaaaaaaaaaaaaaaa" is 16 wide -> 19
    assert tabwrite(["a\tx", "aaaaaaaaaaaaaaaa\ty"]) == "a" + " " * 18 + "x\n" + "aaaaaaaaaaaaaaaa   y\n"


def test_tabwrite_column_blocks_are_per_run_of_lines() -> None:
    # a line without a tab ends the block: the last line's column restarts at minwidth
    lines = ["a\tb\tc", "aaaaaaaaaaaaa\tb", "no tabs", "x\ty"]
    assert tabwrite(lines) == (
        "a" + " " * 15 + "b" + " " * 9 + "c\n"  # col0 = 13+3 = 16, col1 only on line 0 -> 10
        "aaaaaaaaaaaaa   b\n"
        "no tabs\n"
        "x" + " " * 9 + "y\n"
    )


def test_tabwrite_trailing_tab_and_empty_cells() -> None:
    assert tabwrite(["a\tb\t", "\tbb\t"]) == ("a" + " " * 9 + "b" + " " * 9 + "\n" + " " * 10 + "bb" + " " * 8 + "\n")


def test_tabwrite_inner_column_only_where_present() -> None:
    # column 1 exists on lines 0 and 2 but not 1, so it forms two blocks of its own
    lines = ["a\tbbbbbbbbbbbbbbb\tc", "a\tb", "a\tb\tc"]
    assert tabwrite(lines) == (
        "a" + " " * 9 + "bbbbbbbbbbbbbbb   c\n"
        "a" + " " * 9 + "b\n"
        "a" + " " * 9 + "b" + " " * 9 + "c\n"
    )


def test_tabwrite_no_tabs_is_unchanged() -> None:
    assert tabwrite(["one", "two"]) == "one\ntwo\n"
    assert tabwrite([]) == ""


# --------------------------------------------------------------------------------------------
# docker table formatting

HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Status": "STATUS", "Names": "NAMES", "Labels": "LABELS"}
ROWS = [
    {"ID": "4c01db0b339c", "Image": "ubuntu:22.04", "Status": "Up 2 hours", "Names": "web", "Labels": ["a"]},
    {"ID": "d7886598dbe2", "Image": "alpine", "Status": "Exited (0) 3 days ago", "Names": "db", "Labels": []},
]


def test_format_table_docker_ps() -> None:
    out = format_table("table {{.ID}}\t{{.Image}}\t{{.Status}}\t{{.Names}}", ROWS, HEADERS)
    # widths: ID 12+3=15, IMAGE 12+3=15, STATUS 21+3=24, NAMES is last (unpadded)
    assert out == (
        "CONTAINER ID   " + "IMAGE" + " " * 10 + "STATUS" + " " * 18 + "NAMES\n"
        "4c01db0b339c   " + "ubuntu:22.04   " + "Up 2 hours" + " " * 14 + "web\n"
        "d7886598dbe2   " + "alpine" + " " * 9 + "Exited (0) 3 days ago   " + "db\n"
    )


def test_format_table_with_backslash_t_escape_from_command_line() -> None:
    out = format_table(r"table {{.ID}}\t{{.Names}}", ROWS, HEADERS)
    assert out == ("CONTAINER ID   NAMES\n" "4c01db0b339c   web\n" "d7886598dbe2   db\n")


def test_format_table_header_keeps_titles_through_functions() -> None:
    out = format_table(r"table {{upper .Names}}\t{{json .Labels}}", ROWS, HEADERS)
    assert out == ("NAMES     LABELS\n" 'WEB       ["a"]\n' "DB        []\n")


def test_format_table_no_rows_prints_header_only() -> None:
    assert format_table(r"table {{.ID}}\t{{.Names}}", [], HEADERS) == "CONTAINER ID   NAMES\n"


def test_format_without_table_has_no_header_and_no_alignment() -> None:
    assert format_table(r"{{.ID}}\t{{.Names}}", ROWS, HEADERS) == "4c01db0b339c\tweb\nd7886598dbe2\tdb\n"
    assert format_table("{{.Names}}", ROWS, HEADERS) == "web\ndb\n"
    assert format_table("{{.Names}}", [], HEADERS) == ""


def test_format_json_prints_each_row() -> None:
    out = format_table("json", [{"ID": "a", "N": 1}], HEADERS)
    assert out == '{"ID":"a","N":1}\n'


def test_format_table_errors_are_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="template parsing error"):
        format_table("table {{.ID}", ROWS, HEADERS)


def test_prepare_format_and_is_table() -> None:
    assert prepare_format(r"{{.ID}}\t{{.Names}}\n") == "{{.ID}}\t{{.Names}}\n"
    assert prepare_format("{{.ID}}") == "{{.ID}}"
    assert is_table_format("table {{.ID}}")
    assert not is_table_format("{{.ID}}")
