"""``portside node …``: the swarm's nodes (one, for a Portside manager) and the tasks on them."""

from __future__ import annotations

import json
import sys
TYPE_CHECKING = False  # typing stays unloaded on the command line's path
if TYPE_CHECKING:
    from typing import Any

from engine.client import Docker
from engine.errors import EngineError, NotFound

from .filters import parse_filters
from .output import daemon_error, out, render_one, render_rows

NODE_TABLE = ("table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}"
              "\t{{.ManagerStatus}}\t{{.EngineVersion}}")
NODE_HEADERS = {"ID": "ID", "Self": "", "Hostname": "HOSTNAME", "Status": "STATUS", "Availability": "AVAILABILITY",
                "ManagerStatus": "MANAGER STATUS", "EngineVersion": "ENGINE VERSION", "TLSStatus": "TLS STATUS"}


def pretty(text: str) -> str:
    return text[:1].upper() + text[1:]


def node_rows(nodes: list[dict[str, Any]], self_id: str) -> list[dict[str, Any]]:
    from .service import natural_key
    rows = []
    for n in sorted(nodes, key=lambda n: natural_key((n.get("Description") or {}).get("Hostname", ""))):
        ms = n.get("ManagerStatus") or {}
        reach = "Leader" if ms.get("Leader") else str(ms.get("Reachability") or "")
        rows.append({"ID": n["ID"], "Self": n["ID"] == self_id,
                     "Hostname": (n.get("Description") or {}).get("Hostname", ""),
                     "Status": pretty(str((n.get("Status") or {}).get("State", ""))),
                     "Availability": pretty(str((n.get("Spec") or {}).get("Availability", ""))),
                     "ManagerStatus": pretty(reach),
                     "EngineVersion": ((n.get("Description") or {}).get("Engine") or {}).get("EngineVersion", ""),
                     "TLSStatus": "Unknown"})
    return rows


async def self_id(docker: Docker) -> str:
    info = await docker.system.info()
    return str((info.get("Swarm") or {}).get("NodeID") or "")


async def resolve_node(docker: Docker, name: str) -> dict[str, Any]:
    """``self`` is this engine's node, else an ID, ID prefix or hostname (the engine decides)."""
    if name == "self":
        name = await self_id(docker)
        if not name:
            raise EngineError('This node is not a swarm manager. Use "portside swarm init" or "portside swarm join" '
                              'to connect this node to swarm and try again.')
    return await docker.nodes.inspect(name)


async def cmd_node_ls(docker: Docker, args: Any) -> int:
    nodes = await docker.nodes.list(filters=parse_filters(args.filter))
    if args.quiet:
        for n in nodes:
            out(n["ID"])
        return 0
    render_rows(args.format, NODE_TABLE, node_rows(nodes, await self_id(docker)), NODE_HEADERS)
    return 0


def pretty_node(n: dict[str, Any]) -> str:
    d = n.get("Description") or {}
    st = n.get("Status") or {}
    lines = [f"ID:\t\t\t{n['ID']}"]
    spec = n.get("Spec") or {}
    if spec.get("Name"):
        lines.append(f"Name:\t\t\t{spec['Name']}")
    if spec.get("Labels"):
        lines.append("Labels:")
        lines += [f" - {k}={v}" if v else f" - {k}" for k, v in spec["Labels"].items()]
    lines += [f"Hostname:              \t{d.get('Hostname', '')}", f"Joined at:             \t{go_time(n.get('CreatedAt', ''))}",
              "Status:", f" State:\t\t\t{pretty(str(st.get('State', '')))}"]
    if st.get("Message"):
        lines.append(f" Message:              \t{st['Message']}")
    lines.append(f" Availability:         \t{pretty(str(spec.get('Availability', '')))}")
    if st.get("Addr"):
        lines.append(f" Address:\t\t{st['Addr']}")
    ms = n.get("ManagerStatus")
    if ms:
        lines += ["Manager Status:", f" Address:\t\t{ms.get('Addr', '')}",
                  f" Raft Status:\t\t{pretty(str(ms.get('Reachability', '')))}",
                  f" Leader:\t\t{'Yes' if ms.get('Leader') else 'No'}"]
    plat = d.get("Platform") or {}
    res = d.get("Resources") or {}
    lines += ["Platform:", f" Operating System:\t{plat.get('OS', '')}", f" Architecture:\t\t{plat.get('Architecture', '')}",
              "Resources:", f" CPUs:\t\t\t{int(res.get('NanoCPUs') or 0) // 10**9}",
              f" Memory:\t\t{_mem(res.get('MemoryBytes'))}",
              ]
    plugins: dict[str, list[str]] = {}
    for plugin in (d.get("Engine") or {}).get("Plugins") or []:
        plugins.setdefault(plugin.get("Type", ""), []).append(plugin.get("Name", ""))
    if plugins:
        lines.append("Plugins:")
        lines += [f" {k}:\t\t{', '.join(sorted(v))}" for k, v in sorted(plugins.items())]
    lines.append(f"Engine Version:\t\t{(d.get('Engine') or {}).get('EngineVersion', '')}")
    labels = (d.get("Engine") or {}).get("Labels") or {}
    if labels:
        lines.append("Engine Labels:")
        lines += [f" - {k}={v}" if v else f" - {k}" for k, v in sorted(labels.items())]
    tls = d.get("TLSInfo") or {}
    # docker's test is a deep comparison with the zero TLSInfo: an empty (not null) byte field counts
    if tls.get("TrustRoot") or tls.get("CertIssuerSubject") is not None or tls.get("CertIssuerPublicKey") is not None:
        lines += ["TLS Info:", " TrustRoot:", str(tls.get("TrustRoot", "")),
                  f" Issuer Subject:\t{tls.get('CertIssuerSubject', '')}",
                  f" Issuer Public Key:\t{tls.get('CertIssuerPublicKey', '')}"]
    return "\n".join(lines)


def go_time(stamp: str) -> str:
    """Go's time.Time String() as docker's pretty node shows it (``2026-12-02 06:01:20.375126598 +0000 utc``)."""
    if "T" not in stamp:
        return stamp
    date, _, rest = stamp.partition("T")
    return f"{date} {rest.rstrip('Z')} +0000 utc"


def _mem(size: Any) -> str:
    """docker's units.BytesSize (binary units, 4 significant digits: ``7.754GiB``)."""
    value = float(size or 0)
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.4g}{units[i]}"


async def cmd_node_inspect(docker: Docker, args: Any) -> int:
    results, failed = [], False
    for name in args.names:
        try:
            results.append(await resolve_node(docker, name))
        except NotFound:
            sys.stderr.write(f"Error: No such node: {name}\n")
            failed = True
    if args.pretty:
        out("\n\n".join(pretty_node(n) for n in results))
    elif args.format:
        for n in results:
            out(render_one(args.format, n))
    else:
        out(json.dumps(results, indent=4, ensure_ascii=False))
    return 1 if failed else 0


async def cmd_node_ps(docker: Docker, args: Any) -> int:
    from .service import print_tasks
    names = args.nodes or ["self"]
    ids = [(await resolve_node(docker, n))["ID"] for n in names]
    filters = parse_filters(args.filter)
    filters["node"] = ids
    tasks = await docker.tasks.list(filters=filters)
    if args.quiet:
        args.no_trunc = True
    await print_tasks(docker, tasks, args)
    return 0


async def cmd_node_update(docker: Docker, args: Any) -> int:
    node = await resolve_node(docker, args.node)
    spec = dict(node.get("Spec") or {})
    if args.availability:
        spec["Availability"] = args.availability
    if args.role:
        spec["Role"] = args.role
    labels = {k: v for k, v in (spec.get("Labels") or {}).items() if k not in args.label_rm}
    labels.update({k: v for k, _, v in (i.partition("=") for i in args.label_add)})
    spec["Labels"] = labels
    await docker.nodes.update(node["ID"], node["Version"]["Index"], spec)
    out(args.node)
    return 0


async def cmd_node_rm(docker: Docker, args: Any) -> int:
    failed = False
    for name in args.names:
        try:
            await docker.nodes.delete(name, force=args.force)
            out(name)
        except EngineError as exc:
            sys.stderr.write(daemon_error(exc) + "\n")
            failed = True
    return 1 if failed else 0
