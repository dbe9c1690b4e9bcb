"""Content-addressed blob store laid out as an OCI image layout (``oci-layout`` + ``blobs/sha256``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
TYPE_CHECKING = False  # typing, hashlib (OpenSSL) and tempfile load when used: a container's start needs none
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import BinaryIO

from engine.errors import InvalidArgument, NotFound

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_CHUNK = 1 << 20


def validate_digest(digest: str) -> str:
    """Return the hex part of a ``sha256:<64 lowercase hex>`` digest, else raise InvalidArgument."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidArgument(f"invalid digest: {digest!r}")
    return digest[7:]


class BlobWriter:
    """Streams bytes into a temporary file while hashing; see :meth:`BlobStore.writer`."""

    def __init__(self, fd: int, tmp_path: str) -> None:
        self._file = os.fdopen(fd, "wb", buffering=_CHUNK)
        self._tmp = tmp_path
        import hashlib
        self._hash = hashlib.sha256()
        self._size = 0
        self.digest: str = ""
        self.size: int = 0

    def write(self, data: bytes) -> int:
        """Append ``data`` to the blob."""
        self._hash.update(data)
        self._size += len(data)
        self._file.write(data)
        return len(data)

    def _finish(self) -> None:
        self._file.close()
        self.digest = "sha256:" + self._hash.hexdigest()
        self.size = self._size

    def _abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


class BlobStore:
    """Blobs stored by sha256 digest under ``<root>/blobs/sha256/<hex>``; writes are atomic renames."""

    def __init__(self, root: str, *, owner_root: str | None = None) -> None:
        self.root = os.path.abspath(root)
        self.owner_root = owner_root  # the data root whose crash recovery removes our temp files
        # each is called with every digest stored or found, before it appears: running operations (a
        # build, a pull, a load) note their blobs so that a prune at the same time leaves them alone
        # (engine.runtime.cleanup.Operation)
        self.journals: list[Callable[[str], None]] = []
        self._dir = os.path.join(self.root, "blobs", "sha256")
        os.makedirs(self._dir, exist_ok=True)
        layout = os.path.join(self.root, "oci-layout")
        if not os.path.exists(layout):
            tmp = f"{layout}.{os.getpid()}.tmp"  # per process: two first commands may race here
            with open(tmp, "w") as f:
                json.dump({"imageLayoutVersion": "1.0.0"}, f)
            os.replace(tmp, layout)

    def path(self, digest: str) -> str:
        """Filesystem path of a blob (which may not exist)."""
        return os.path.join(self._dir, validate_digest(digest))

    def has(self, digest: str) -> bool:
        """Whether the blob is present."""
        return os.path.isfile(self.path(digest))

    def hold(self, digest: str) -> bool:
        """Whether the blob is present; when it is, the running operations note it as theirs (a blob an
        operation found rather than stored must be as safe from prune and crash recovery as its own)."""
        if not self.has(digest):
            return False
        for note in list(self.journals):
            note(digest)
        return True

    def size(self, digest: str) -> int:
        """Size in bytes of a stored blob."""
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob not found: {digest}", digest=digest) from None

    def open(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading."""
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob not found: {digest}", digest=digest) from None

    def get_bytes(self, digest: str) -> bytes:
        """Whole content of a stored blob."""
        with self.open(digest) as f:
            return f.read()

    def _tempfile(self) -> tuple[int, str]:
        from engine.runtime import cleanup
        tag = cleanup.temp_owner(self.owner_root) if self.owner_root else cleanup.owner_tag()
        import tempfile
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{tag}-", dir=self._dir)
        os.fchmod(fd, 0o644)
        return fd, tmp

    def _commit(self, tmp: str, digest: str) -> None:
        for note in list(self.journals):
            note(digest)
        final = self.path(digest)
        if os.path.exists(final):
            os.unlink(tmp)
        else:
            os.replace(tmp, final)

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; returns its digest."""
        import hashlib
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.has(digest):
            for note in list(self.journals):
                note(digest)
            return digest
        fd, tmp = self._tempfile()
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self._commit(tmp, digest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return digest

    def put_stream(self, fileobj: BinaryIO, expected: str | None = None,
                   check: Callable[[str], None] | None = None) -> tuple[str, int]:
        """Store everything read from ``fileobj``; returns (digest, size).

        With ``expected``, a different digest raises InvalidArgument and stores nothing. ``check`` is
        called with the written temp file's path before the blob appears; if it raises, nothing is stored.
        """
        if expected is not None:
            validate_digest(expected)
        fd, tmp = self._tempfile()
        w = BlobWriter(fd, tmp)
        try:
            read = fileobj.read
            while True:
                chunk = read(_CHUNK)
                if not chunk:
                    break
                w.write(chunk)
            w._finish()
            if expected is not None and w.digest != expected:
                raise InvalidArgument(f"digest mismatch: expected {expected}, got {w.digest}",
                                      expected=expected, actual=w.digest)
            if check is not None:
                check(tmp)
            self._commit(tmp, w.digest)
        except BaseException:
            w._abort()
            raise
        return w.digest, w.size

    @contextlib.contextmanager
    def writer(self) -> Iterator[BlobWriter]:
        """Context manager yielding a :class:`BlobWriter`; the blob exists only after a clean exit."""
        fd, tmp = self._tempfile()
        w = BlobWriter(fd, tmp)
        try:
            yield w
            w._finish()
            self._commit(tmp, w.digest)
        except BaseException:
            w._abort()
            raise

    def delete(self, digest: str) -> bool:
        """Remove a blob; returns False if it was not there."""
        try:
            os.unlink(self.path(digest))
            return True
        except FileNotFoundError:
            return False

    def digests(self) -> Iterator[str]:
        """Digests of all stored blobs (temporary files excluded)."""
        for name in sorted(os.listdir(self._dir)):
            digest = "sha256:" + name
            if _DIGEST_RE.fullmatch(digest) and os.path.isfile(os.path.join(self._dir, name)):
                yield digest
