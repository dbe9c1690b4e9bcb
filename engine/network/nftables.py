"""nftables in process, through libnftables (ctypes): no ``nft`` process per change.

One libnftables context per process, made on first use and reused (a forked child makes its own: the
context holds a netlink socket). The context prints JSON (``NFT_CTX_OUTPUT_JSON``), so listings come
back as nftables' JSON documents; it takes commands either as nft's own syntax (what the fixed tables
are written in) or as a JSON document (``{"nftables": [...]}``), which libnftables tells apart by
itself. Each call is one transaction: all of it or none of it. A failure is one :class:`NftError` line
with nft's own message (``Error: Could not process rule: File exists``).
"""

from __future__ import annotations

import _thread
import ctypes
import os
from typing import Any

from ..errors import EngineError

NFT_CTX_DEFAULT = 0
NFT_CTX_OUTPUT_HANDLE = 1 << 3
NFT_CTX_OUTPUT_JSON = 1 << 4

_lock = _thread.allocate_lock()  # (not threading: a container's monitor uses this module and loads no threading)
_lib: ctypes.CDLL | None = None
_ctx: int | None = None
_ctx_pid = 0


class NftError(EngineError):
    """nftables refused a command; ``str()`` is nft's first error line."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail  # nft's whole error text (the line with the offending command, the caret)


def _libnftables() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        except OSError:
            raise EngineError("libnftables.so.1 not found: container networking needs nftables "
                              "(apt-get install nftables, or `make debs`)") from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        _lib = lib
    return _lib


def _context(lib: ctypes.CDLL) -> int:
    """This process's context (a child of a fork gets a new one; the parent's socket stays the parent's)."""
    global _ctx, _ctx_pid
    if _ctx is None or _ctx_pid != os.getpid():
        ctx = lib.nft_ctx_new(NFT_CTX_DEFAULT)
        if not ctx:
            raise EngineError("nftables: could not make a libnftables context")
        lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON)
        if lib.nft_ctx_buffer_output(ctx) != 0 or lib.nft_ctx_buffer_error(ctx) != 0:
            lib.nft_ctx_free(ctx)
            raise EngineError("nftables: could not buffer libnftables' output")
        _ctx, _ctx_pid = int(ctx), os.getpid()
    return _ctx


def available() -> bool:
    try:
        _libnftables()
    except EngineError:
        return False
    return True


def first_error_line(text: str) -> str:
    """nft's message without its ``<cmdline>:1:1-20:`` location prefix, or "failed"."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Error:") or ": Error:" in line:
            return line[line.index("Error:"):]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0].strip() if lines else "failed"


def run(commands: str | dict[str, Any]) -> str:
    """Run nft commands (nft syntax, or a JSON document) as one transaction; returns the output (JSON text
    for listings, "" otherwise). Raises :class:`NftError` with nft's message."""
    if isinstance(commands, str):
        text = commands
    else:
        import json
        text = json.dumps(commands)
    lib = _libnftables()
    with _lock:
        ctx = _context(lib)
        rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
        out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode(errors="replace")
        err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
    if rc != 0:
        raise NftError(f"nftables: {first_error_line(err)}", err)
    return out


def try_run(commands: str | dict[str, Any]) -> bool:
    """:func:`run`, True when it succeeded (for deletes of what may already be gone)."""
    try:
        run(commands)
    except NftError:
        return False
    return True


def listing(what: str) -> list[dict[str, Any]]:
    """``list <what>`` (e.g. ``table ip portside``) as nftables' JSON objects; [] when it does not exist."""
    try:
        out = run(f"list {what}")
    except NftError:
        return []
    if not out.strip():
        return []
    import json
    items: list[dict[str, Any]] = json.loads(out).get("nftables", [])
    return items


def exists(what: str) -> bool:
    """Whether ``what`` (``table ip portside``, ``chain ip portside published``) is there."""
    return try_run(f"list {what}")
