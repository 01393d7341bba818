"""A content-addressed file cache: atomic writes, verified by sha256 on every read."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from pincite.errors import IntegrityError


def default_cache_dir() -> Path:
    """``$PINCITE_CACHE_DIR``, else ``$XDG_CACHE_HOME/pincite``, else ``~/.cache/pincite``."""
    if env := os.environ.get("PINCITE_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pincite"


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class Cache:
    """Blobs under ``root/sha256/<2 hex>/<64 hex>``; a blob failing its hash is dropped."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        """Where the blob with this sha256 lives (whether or not it exists)."""
        digest = digest.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a sha256 hex digest: {digest!r}")
        return self.root / "sha256" / digest[:2] / digest

    def get(self, digest: str) -> bytes | None:
        """The verified bytes for ``digest``, or None when absent or corrupt (then removed)."""
        path = self.path_for(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if sha256_hex(data) != digest.lower():
            # Never serve a tampered or truncated blob; drop it so it is refetched.
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return None
        return data

    def put(self, digest: str, data: bytes) -> Path:
        """Store ``data`` under ``digest`` atomically; refuse bytes that do not match."""
        actual = sha256_hex(data)
        if actual != digest.lower():
            raise IntegrityError(f"refusing to cache bytes with sha256 {actual}, expected {digest}")
        path = self.path_for(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a unique temporary file in the same directory, then rename: readers
        # (even another build sharing this cache) see either nothing or the whole blob.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return path
