"""``portside context …``: docker's context commands, over docker's own context store.

They need no engine: they read and write ``$DOCKER_CONFIG`` (else ``~/.docker``) as the docker CLI
does, so a context made by either is used by both.
"""

from __future__ import annotations

import json
import os
import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Context, ContextError, ContextStore, current_context_name, default_context
from engine.errors import NotFound

from .output import out, render_one, render_rows

LS_FORMAT = "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}"
LS_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT", "Error": "ERROR"}
DOCKER_KEYS = ("from", "host", "ca", "cert", "key", "skip-tls-verify")


def _store() -> ContextStore:
    return ContextStore()


def _current(args: Any, store: ContextStore) -> str:
    return current_context_name(context=getattr(args, "context", None), host=getattr(args, "host", None),
                                store=store)


def _get(store: ContextStore, name: str, root: str | None = None) -> Context:
    if name == "default":
        return default_context(root=root)
    try:
        return store.get(name)
    except NotFound as exc:
        raise ContextError(str(exc)) from None


def cmd_context_ls(args: Any) -> int:
    store = _store()
    current = _current(args, store)
    rows: list[dict[str, Any]] = []
    for name in ["default", *store.names()]:
        try:
            ctx = _get(store, name, getattr(args, "root", None))
            desc, endpoint, error = ctx.description, ctx.host, ctx.error
        except ContextError as exc:
            desc, endpoint, error = "", "", str(exc)
        rows.append({"Current": name == current, "Description": desc, "DockerEndpoint": endpoint,
                     "Error": error, "Name": name})
    rows.sort(key=lambda r: r["Name"])
    if args.quiet:
        for r in rows:
            out(r["Name"])
        return 0
    render_rows(args.format, LS_FORMAT, rows, LS_HEADERS)
    return 0


def cmd_context_inspect(args: Any) -> int:
    store = _store()
    names = args.names or [_current(args, store)]
    docs = []
    failed = False
    for name in names:
        try:
            docs.append(_get(store, name, getattr(args, "root", None)).inspect())
        except ContextError as exc:
            sys.stderr.write(f"{exc}\n")
            failed = True
    if args.format:
        for doc in docs:
            out(render_one(args.format, doc))
    elif docs or not failed:
        out(json.dumps(docs, indent=4))
    return 1 if failed else 0


def cmd_context_use(args: Any) -> int:
    store = _store()
    if args.name != "default" and not store.exists(args.name):
        _get(store, args.name)  # docker's "context not found"
    store.set_current(args.name)
    out(args.name)
    sys.stderr.write(f'Current context is now "{args.name}"\n')
    if os.environ.get("DOCKER_HOST"):
        sys.stderr.write("Warning: DOCKER_HOST environment variable overrides the active context. To use a "
                         "context, either set the global --context flag, or unset DOCKER_HOST environment "
                         "variable.\n")
    return 0


def cmd_context_show(args: Any) -> int:
    out(_current(args, _store()))
    return 0


def _docker_options(values: list[str]) -> dict[str, str]:
    """``--docker host=…,ca=…`` (repeatable) as a dict, with docker's keys."""
    opts: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            key, sep, val = part.partition("=")
            key = key.strip()
            if not sep:
                raise ContextError(f'invalid docker endpoint option "{part}": expected key=value')
            if key not in DOCKER_KEYS:
                raise ContextError(f'unable to create docker endpoint config: unrecognized config key: {key}')
            opts[key] = val.strip()
    return opts


def cmd_context_create(args: Any) -> int:
    store = _store()
    opts = _docker_options(args.docker or [])
    source = opts.pop("from", None) or args.from_
    if not opts or source:
        base = _get(store, source or _current(args, store))
        opts = {"host": base.host, **({"ca": base.tls_files["ca.pem"]} if "ca.pem" in base.tls_files else {}),
                **({"cert": base.tls_files["cert.pem"]} if "cert.pem" in base.tls_files else {}),
                **({"key": base.tls_files["key.pem"]} if "key.pem" in base.tls_files else {}),
                "skip-tls-verify": "true" if base.skip_tls_verify else "false", **opts}
    host = opts.get("host", "")
    if not host or host.startswith("embedded"):
        raise ContextError("unable to create docker endpoint config: no host: give --docker host=unix:///… "
                           "or host=tcp://…")
    store.create(args.name, host, description=args.description or "",
                 skip_tls_verify=opts.get("skip-tls-verify", "false").lower() in ("1", "true", "yes"),
                 ca=opts.get("ca") or None, cert=opts.get("cert") or None, key=opts.get("key") or None)
    out(args.name)
    sys.stderr.write(f'Successfully created context "{args.name}"\n')
    return 0


def cmd_context_rm(args: Any) -> int:
    store = _store()
    current = store.current()
    failed = False
    for name in args.names:
        try:
            if name == "default":
                raise ContextError('context "default" cannot be removed')
            if name == current and not args.force:
                raise ContextError(f'context "{name}" is in use, set -f flag to force remove')
            if not store.exists(name):
                _get(store, name)
            store.remove(name)
            if name == current:
                store.set_current("default")
            out(name)
        except ContextError as exc:
            sys.stderr.write(f"{exc}\n")
            failed = True
    return 1 if failed else 0


def run(args: Any) -> int:
    """Run the ``context`` command ``args`` names; one line and exit 1 for what cannot be done."""
    try:
        return int(globals()[f"cmd_{args.func}"](args))
    except ContextError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
