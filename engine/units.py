"""docker's human units: sizes, durations, times and byte-size flags (shared by engine, CLI, dashboard)."""

from __future__ import annotations

import functools
import re
import time

from .errors import InvalidArgument

_SI = ["B", "kB", "MB", "GB", "TB", "PB"]
_BIN = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]


def _fmt(size: float, base: float, units: list[str]) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    text = f"{size:.3g}"
    if "e" in text:
        text = f"{size:.0f}"
    return f"{text}{units[i]}"


def human_size(size: float) -> str:
    """``4.26MB``: docker's units.HumanSizeWithPrecision(size, 3)."""
    return _fmt(float(size), 1000.0, _SI)


def bytes_size(size: float) -> str:
    """``1.5MiB``: docker's units.BytesSize (used by stats)."""
    return _fmt(float(size), 1024.0, _BIN)


def ram_in_bytes(text: str) -> int:
    """``512m`` → 536870912 (docker's RAMInBytes: b, k, m, g, t, p; binary)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)(i?b)?\s*", text.lower())
    if not m:
        raise InvalidArgument(f"invalid size: '{text}'")
    mult = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}[m.group(2)]
    return int(float(m.group(1)) * mult)


def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration (``Up 2 minutes``, ``3 hours ago``)."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def since(ts: float) -> str:
    return human_duration(time.time() - ts) + " ago"


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1e9):09d}Z"


# patterns compile at their first use (re caches them): a command that reads no time pays nothing
_RFC3339_UTC = r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z"


@functools.lru_cache(maxsize=4096)  # a container's times are read on every listing
def parse_rfc3339(text: str) -> float:
    """Seconds since the epoch for an RFC 3339 UTC time (0 for docker's zero time)."""
    if not text or text.startswith("0001"):
        return 0.0
    import calendar  # here, not at the top: it brings datetime along (~2 ms for every CLI command)
    m = re.fullmatch(_RFC3339_UTC, text)
    if m is not None:  # the engine's own form, without strptime's locale work
        y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
        if 1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and sec < 61:
            return calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)) + (float("0." + m.group(7)) if m.group(7)
                                                                         else 0.0)
    main, _, frac = text.rstrip("Z").partition(".")
    base = calendar.timegm(time.strptime(main[:19], "%Y-%m-%dT%H:%M:%S"))
    digits = "".join(c for c in frac if c.isdigit())
    return base + (float("0." + digits) if digits else 0.0)


def parse_since(text: str) -> float:
    """``--since``/``--until``: a duration (``10m``, ``1h30m``) before now, a Unix time, or RFC 3339."""
    if not text:
        return 0.0
    if re.fullmatch(r"((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)", text):
        total = 0.0
        for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
            total += float(num) * {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[unit]
        return time.time() - total
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        return parse_rfc3339(text if "T" in text else text + "T00:00:00Z")
    except ValueError:
        raise InvalidArgument(f'invalid value for "since": failed to parse value as time or duration: "{text}"') from None


_GO_DURATION = r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)"
_GO_UNIT_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
               "h": 3600 * 10**9}


def go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration in whole nanoseconds, exactly (``"1m30s"`` → 90000000000).

    Raises ValueError with Go's words (``time: invalid duration "10x"``)."""
    s, sign = text, 1
    if s[:1] in ("+", "-"):
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total, pos = 0, 0
    while pos < len(s):
        m = re.compile(_GO_DURATION).match(s, pos)
        if m is None or m.group(1) in ("", "."):
            if m is None and re.match(r"[0-9.]+$", s[pos:]):
                raise ValueError(f'time: missing unit in duration "{text}"')
            raise ValueError(f'time: invalid duration "{text}"')
        whole, _, frac = m.group(1).partition(".")
        unit = _GO_UNIT_NS[m.group(2)]
        total += int(whole or 0) * unit + (int(frac) * unit // 10 ** len(frac) if frac else 0)
        pos = m.end()
    return sign * total


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String`` (``30s``, ``1.5s``, ``500ms``, ``1m30s``, ``1h0m0s``), as docker's
    messages show a duration."""
    if ns == 0:
        return "0s"
    sign, ns = ("-" if ns < 0 else ""), abs(ns)

    def frac(value: int, unit: int) -> str:
        whole, rest = divmod(value, unit)
        digits = str(rest).rjust(len(str(unit)) - 1, "0").rstrip("0")
        return f"{whole}.{digits}" if digits else str(whole)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 10**6:
        return f"{sign}{frac(ns, 1000)}µs"
    if ns < 10**9:
        return f"{sign}{frac(ns, 10**6)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    head = f"{hours}h{minutes}m" if hours else f"{minutes}m" if minutes else ""
    return f"{sign}{head}{frac(rest, 10**9)}s"
