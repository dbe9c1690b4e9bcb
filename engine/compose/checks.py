"""Checking a loaded project before anything is deployed: one line per error, docker's warnings.

Each file is checked as written against :data:`engine.compose.schema.SCHEMA`. :func:`conforms` walks the
file along the schema first: a definite yes for a file that matches every keyword (most files), without
importing jsonschema (~100 ms of a command's start-up). Anything else goes to jsonschema (Draft 7, the
validator built once per process), whose errors say what is wrong: the most specific one names the key
path, as docker's does (``services.web.deploy.replicas must be an integer``). Then the
merged model is checked for what a schema cannot say: cpus, memory and durations that do not parse,
networks, volumes, secrets and configs a service names but the file does not define, a missing or
malformed image.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from ..errors import InvalidArgument
from ..units import go_duration_ns
from .project import parse_port
from .schema import DEPRECATED, FORBIDDEN, IGNORED, SCHEMA, UNSUPPORTED
from .specs import check_model

TYPE_CHECKING = False  # typing stays unloaded on the command line's path (mypy reads the block)
if TYPE_CHECKING:
    from typing import Any

    from .project import Project

_DURATION_HINT = "a number and a unit: 500ms, 10s, 1m30s, 2h"
_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "a boolean", "null": "null"}


def _duration(value: object) -> bool:
    """Go's duration syntax (raises ValueError naming the problem)."""
    if isinstance(value, str):
        go_duration_ns(value)
    return True


def _port(value: object) -> bool:
    """The short port syntax (raises InvalidArgument naming the problem); its ranges are not expanded."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        parse_port(str(value))
    return True


#: the schema's formats: name → (check, the exception a failed check raises)
FORMATS: dict[str, tuple[Callable[[object], bool], type[Exception]]] = {
    "duration": (_duration, ValueError), "ports": (_port, InvalidArgument)}


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # ~100 ms to import: only for a file conforms() did not vouch for

    checker = jsonschema.FormatChecker(formats=())
    for name, (check, raises) in FORMATS.items():
        checker.checks(name, raises=raises)(check)
    base = jsonschema.validators.validator_for(SCHEMA)
    # 5.0 is not an integer here (Draft 7 says it is): replicas, ports and counts are whole numbers
    types = base.TYPE_CHECKER.redefine("integer", lambda _checker, value: _JSON_TYPES["integer"](value))
    cls = jsonschema.validators.extend(base, type_checker=types)  # type: ignore[no-untyped-call]
    return cls(SCHEMA, format_checker=checker)


_JSON_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_ANNOTATIONS = ("$schema", "definitions", "default", "description")


def conforms(instance: object, schema: Any = SCHEMA) -> bool:
    """True when ``instance`` certainly matches ``schema`` (the keywords SCHEMA uses, as Draft 7 defines
    them); False when it does not or when this walk cannot tell (jsonschema then decides). Each ``oneOf``
    of SCHEMA has branches of different types, so one matching branch is the only one."""
    if not isinstance(schema, dict):
        return False
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword == "$ref":
            if not (isinstance(value, str) and value.startswith("#/definitions/")):
                return False
            if not conforms(instance, SCHEMA["definitions"][value.rsplit("/", 1)[-1]]):
                return False
        elif keyword == "type":
            kinds = [value] if isinstance(value, str) else value
            if not any(_JSON_TYPES[k](instance) for k in kinds):
                return False
        elif keyword == "oneOf" or keyword == "anyOf":
            if not any(conforms(instance, branch) for branch in value):
                return False
        elif keyword == "enum":
            if not (isinstance(instance, str) and instance in value):
                return False
        elif keyword in ("minimum", "maximum"):
            if not _JSON_TYPES["number"](instance):
                continue
            if instance < value if keyword == "minimum" else instance > value:
                return False
        elif keyword == "format":
            check, raises = FORMATS[value]
            try:
                check(instance)
            except raises:
                return False
        elif keyword == "pattern":
            if isinstance(instance, str) and not _pattern(value).search(instance):
                return False
        elif keyword == "required":
            if isinstance(instance, dict) and not all(k in instance for k in value):
                return False
        elif keyword == "items":
            if isinstance(instance, list) and not all(conforms(item, value) for item in instance):
                return False
        elif keyword == "uniqueItems":
            if isinstance(instance, list) and value and not _unique(instance):
                return False
        elif keyword == "properties":
            if isinstance(instance, dict):
                for key, sub in value.items():
                    if key in instance and not conforms(instance[key], sub):
                        return False
        elif keyword == "patternProperties":
            if isinstance(instance, dict):
                for pattern, sub in value.items():
                    rx = _pattern(pattern)
                    for key, item in instance.items():
                        if rx.search(key) and not conforms(item, sub):
                            return False
        elif keyword == "additionalProperties":
            if isinstance(instance, dict) and value is False:
                known = schema.get("properties", {})
                patterns = [_pattern(p) for p in schema.get("patternProperties", {})]
                if any(k not in known and not any(rx.search(k) for rx in patterns) for k in instance):
                    return False
            elif value is not False:
                return False
        else:
            return False  # a keyword this walk does not know
    return True


def _unique(items: list[Any]) -> bool:
    """No two items equal as JSON values (true is not 1); a list holding floats is left to jsonschema
    (for which 1 == 1.0)."""
    keys = [_canonical(item) for item in items]
    return None not in keys and len(set(keys)) == len(keys)


def _canonical(value: Any) -> Any:
    """A hashable form of a JSON value, None when it holds a float."""
    if isinstance(value, dict):
        parts = [(k, _canonical(v)) for k, v in sorted(value.items())]
        return None if any(v is None for _, v in parts) else ("object", tuple(parts))
    if isinstance(value, list):
        parts_l = [_canonical(v) for v in value]
        return None if None in parts_l else ("array", tuple(parts_l))
    if isinstance(value, float):
        return None
    return (type(value).__name__, value)


@functools.lru_cache(maxsize=64)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _path(error: Any) -> str:
    return ".".join(str(p) for p in error.absolute_path)


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _types(SCHEMA["definitions"][name])
    if "oneOf" in schema or "anyOf" in schema:
        branches: list[Any] = schema.get("oneOf") or schema.get("anyOf") or []
        return [t for s in branches for t in _types(s)]
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) else [str(k) for k in kind] if isinstance(kind, list) else []


def _words(kinds: list[str]) -> str:
    words = list(dict.fromkeys(_TYPE_WORDS.get(k, k) for k in kinds if k != "null")) or ["empty"]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _leaves(error: Any) -> list[Any]:
    """An error and, for oneOf/anyOf, the errors of its branches."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _message(error: Any) -> str:
    """One line for the most specific of a schema failure's errors (docker's getMostSpecificError)."""
    leaves = _leaves(error)
    deepest = max(len(e.absolute_path) for e in leaves)
    specific = [e for e in leaves if len(e.absolute_path) == deepest]
    if deepest == len(error.absolute_path) and error.validator in ("oneOf", "anyOf"):
        # every branch failed at this level: say what the value may be, unless a branch matched its type
        types_ok = [e for e in specific if e.validator != "type"]
        if not types_ok:
            return f"{_path(error) or 'top level'} must be {_words(_types(error.schema))}"
        specific = types_ok
    if len(leaves) > 1:  # a oneOf's branches: one whose type matched tells what is wrong inside it
        best = next((e for e in specific if e.validator != "type"), specific[0])
    else:
        best = specific[0]
    where = _path(best) or "top level"
    kind = best.validator
    if kind == "type":
        if best.schema.get("format") == "duration":
            return f"{where} must be a duration ({_DURATION_HINT})"
        return f"{where} must be {_words(_types(best.schema))}"
    if kind == "additionalProperties":
        extra = sorted(set(best.instance) - set(best.schema.get("properties", {})))
        extra = [k for k in extra if not (k.startswith("x-") and "^x-" in best.schema.get("patternProperties",
                                                                                          {}))]
        if len(best.absolute_path) == 1 and best.absolute_path[0] in ("services", "networks", "volumes",
                                                                      "secrets", "configs"):
            return f"{where}: invalid name {', '.join(repr(k) for k in extra)} (letters, digits, '.', '_', '-')"
        noun = "keys" if len(extra) > 1 else "key"
        if not best.absolute_path:
            return f"unknown top-level {noun} {', '.join(repr(k) for k in extra)}"
        return f"{where}: unknown {noun} {', '.join(repr(k) for k in extra)}"
    if kind == "enum":
        return f"{where} must be one of {', '.join(map(str, best.validator_value))} (got {best.instance!r})"
    if kind == "minimum":
        return f"{where} must be at least {best.validator_value} (got {best.instance})"
    if kind == "maximum":
        return f"{where} must be at most {best.validator_value} (got {best.instance})"
    if kind == "format":
        if best.validator_value == "duration":
            return f'{where}: invalid duration "{best.instance}" ({_DURATION_HINT})'
        cause = best.cause
        return f"{where}: {cause}" if cause else f"{where} does not match format '{best.validator_value}'"
    if kind == "required":
        return f"{where}: {best.message.replace(' is a required property', '').strip(chr(39))} is required"
    if kind == "uniqueItems":
        return f"{where} has duplicate items"
    return f"{where}: {best.message}"


def check_schema(config: dict[str, Any], filename: str = "") -> None:
    """Raise InvalidArgument for the most specific schema error of one file (prefixed by its name when
    several files are loaded)."""
    if conforms(config):
        return
    validator = _validator()
    errors = list(validator.iter_errors(config))
    if not errors:
        return
    best = max(errors, key=lambda e: (max(len(x.absolute_path) for x in _leaves(e)), e.validator == "type"))
    message = _message(best)
    raise InvalidArgument(f"{filename}: {message}" if filename else message)


def _forbidden(config: dict[str, Any]) -> None:
    services = config.get("services")
    found: dict[str, str] = {}
    for svc in (services.values() if isinstance(services, dict) else ()):
        if isinstance(svc, dict):
            found.update({k: FORBIDDEN[k] for k in svc if k in FORBIDDEN})
    if found:
        raise InvalidArgument("Compose file contains unsupported options: " +
                              "; ".join(f"{k}: {v}" for k, v in sorted(found.items())))


def warnings(project: Project) -> list[str]:
    """docker's warnings for keys a stack ignores (and for ``tmpfs``, which docker ignores silently: a
    tmpfs mount is a volume of type tmpfs in a stack)."""
    unsupported: set[str] = set()
    deprecated: dict[str, str] = {}
    for f in project.files:
        services = f.config.get("services")
        for svc in (services.values() if isinstance(services, dict) else ()):
            if isinstance(svc, dict):
                unsupported.update(k for k in (*UNSUPPORTED, *IGNORED) if k in svc)
                deprecated.update({k: DEPRECATED[k] for k in DEPRECATED if k in svc})
    out = []
    if unsupported:
        out.append("Ignoring unsupported options: " + ", ".join(sorted(unsupported)))
    if deprecated:
        out.append("Ignoring deprecated options:\n\n" + "\n\n".join(f"{k}: {v}" for k, v in sorted(deprecated.items())))
    return out


def validate(project: Project) -> list[str]:
    """Check ``project``; returns docker's warnings (unsupported and deprecated keys).

    Raises:
        InvalidArgument: one line naming the key path of the first error found.
    """
    several = len(project.files) > 1
    for f in project.files:
        _forbidden(f.config)
        check_schema(f.config, f.path if several else "")
    check_model(project)
    return warnings(project)

