"""sha256 of small inputs (ids, cache keys) without loading OpenSSL.

``hashlib`` loads libcrypto on import (~2.5 ms of a short command's start); CPython's own sha256 is
already there and fast enough for a few kilobytes. Blobs and layers (megabytes) are hashed with
``hashlib``, whose OpenSSL code is the faster one on large data.
"""

from __future__ import annotations


def sha256_hex(data: bytes) -> str:
    """The hex sha256 of ``data`` (meant for inputs of a few kilobytes)."""
    try:
        import _sha256  # type: ignore[import-not-found]  # hashlib's own fallback, built into CPython
    except ImportError:  # an interpreter built without it
        import hashlib
        return hashlib.sha256(data).hexdigest()
    digest: str = _sha256.sha256(data).hexdigest()
    return digest
