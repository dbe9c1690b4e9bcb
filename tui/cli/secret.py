"""``portside secret …`` and (through :func:`commands`) ``portside config …``: docker's swarm objects of data."""

from __future__ import annotations

import json
import sys
import time
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import EngineError, InvalidArgument, NotFound

from .filters import parse_filters
from .output import daemon_error, out, render_one, render_rows

TABLES = {"secret": "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}",
          "config": "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"}
HEADERS = {"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED",
           "Labels": "LABELS"}


def collection(docker: Docker, kind: str) -> Any:
    return docker.secrets if kind == "secret" else docker.configs


def rows(items: list[dict[str, Any]], now: float | None = None) -> list[dict[str, Any]]:
    from engine.client import human_duration, parse_rfc3339
    now = time.time() if now is None else now

    def ago(ts: str) -> str:
        return human_duration(max(0.0, now - parse_rfc3339(ts))) + " ago"
    out_ = []
    for s in sorted(items, key=lambda s: s["Spec"]["Name"]):
        spec = s.get("Spec") or {}
        out_.append({"ID": s["ID"], "Name": spec.get("Name", ""), "Driver": (spec.get("Driver") or {}).get("Name", ""),
                     "CreatedAt": ago(str(s.get("CreatedAt") or "")), "UpdatedAt": ago(str(s.get("UpdatedAt") or "")),
                     "Labels": ",".join(f"{k}={v}" for k, v in (spec.get("Labels") or {}).items())})
    return out_


async def create(docker: Docker, args: Any, kind: str) -> int:
    import base64
    if args.file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(args.file, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise InvalidArgument(f"error reading content from \"{args.file}\": open {args.file}: "
                                  f"{(exc.strerror or '').lower()}") from None
    spec: dict[str, Any] = {"Name": args.name, "Labels": {k: v for k, _, v in (i.partition("=") for i in args.label)},
                            "Data": base64.b64encode(data).decode()}
    answer = await collection(docker, kind).create(spec)
    out(answer["ID"])
    return 0


async def ls(docker: Docker, args: Any, kind: str) -> int:
    items = await collection(docker, kind).list(filters=parse_filters(args.filter))
    if args.quiet:
        for s in items:
            out(s["ID"])
        return 0
    render_rows(args.format, TABLES[kind], rows(items), HEADERS)
    return 0


async def inspect(docker: Docker, args: Any, kind: str) -> int:
    results, failed = [], False
    for name in args.names:
        try:
            results.append(await collection(docker, kind).inspect(name))
        except NotFound:
            sys.stderr.write(f"Error: no such {kind}: {name}\n")
            failed = True
    if args.pretty:
        from .node import go_time
        pages = []
        for s in results:
            spec = s.get("Spec") or {}
            wide = kind == "config"  # docker's two templates are laid out differently
            lines = [f"ID:{chr(9) * 3 if wide else ' ' * 14}{s['ID']}",
                     f"Name:{chr(9) * 3 if wide else ' ' * 14}{spec.get('Name', '')}"]
            if spec.get("Labels"):
                lines.append("Labels:")
                lines += [f" - {k}={v}" if v else f" - {k}" for k, v in sorted(spec["Labels"].items())]
            if kind == "secret":
                lines.append(f"Driver:            {(spec.get('Driver') or {}).get('Name', '')}")
                lines += [f"Created at:        {go_time(str(s.get('CreatedAt', '')))}",
                          f"Updated at:        {go_time(str(s.get('UpdatedAt', '')))}"]
            else:
                import base64
                lines += [f"Created at:            \t{go_time(str(s.get('CreatedAt', '')))}",
                          f"Updated at:            \t{go_time(str(s.get('UpdatedAt', '')))}", "Data:",
                          base64.b64decode(spec.get("Data") or "").decode(errors="replace")]
            pages.append("\n".join(lines))
        sys.stdout.write("\n\n".join(pages) + "\n")
    elif args.format:
        for s in results:
            out(render_one(args.format, s))
    else:
        out(json.dumps(results, indent=4, ensure_ascii=False))
    return 1 if failed else 0


async def rm(docker: Docker, args: Any, kind: str) -> int:
    failed = False
    for name in args.names:
        try:
            await collection(docker, kind).delete(name)
            out(name)
        except EngineError as exc:
            sys.stderr.write(daemon_error(exc) + "\n")
            failed = True
    return 1 if failed else 0


async def cmd_secret_create(docker: Docker, args: Any) -> int:
    return await create(docker, args, "secret")


async def cmd_secret_ls(docker: Docker, args: Any) -> int:
    return await ls(docker, args, "secret")


async def cmd_secret_inspect(docker: Docker, args: Any) -> int:
    return await inspect(docker, args, "secret")


async def cmd_secret_rm(docker: Docker, args: Any) -> int:
    return await rm(docker, args, "secret")
