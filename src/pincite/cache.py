"""A file cache keyed by what was verified: atomic writes, checked by sha256 on every read."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

from pincite.atomic import write_atomic
from pincite.errors import CacheError, IntegrityError

_HEX64 = re.compile(r"[0-9a-f]{64}")


def default_cache_dir() -> Path:
    """``$PINCITE_CACHE_DIR``, else the platform's user cache folder for pincite."""
    if env := os.environ.get("PINCITE_CACHE_DIR"):
        return Path(env)
    from platformdirs import user_cache_path

    return user_cache_path("pincite", appauthor=False)


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class Cache:
    """Blobs under ``root/sha256/<2 hex>/<name>``; a blob failing its hash is dropped.

    A blob is filed under its content's sha256 and, when given, a *scope*: the release and
    path it was verified for. Bytes verified for one file are then never served as another,
    even when a lock entry is made to point at another file's hash.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        #: Blobs found corrupt (and removed) by this cache object, for precise messages.
        self.removed: set[Path] = set()

    def path_for(self, digest: str, scope: str = "") -> Path:
        """Where the blob with this sha256 (and scope) lives, whether or not it exists."""
        digest = digest.lower()
        if not _HEX64.fullmatch(digest):
            raise IntegrityError(f"not a sha256 hex digest: {digest!r}")
        name = digest if not scope else f"{sha256_hex(scope.encode())[:16]}-{digest}"
        return self.root / "sha256" / digest[:2] / name

    def get(self, digest: str, scope: str = "") -> bytes | None:
        """The verified bytes for ``digest``, or None when absent or corrupt (then removed)."""
        path = self.path_for(digest, scope)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(
                f"cannot read {path} in the cache at {self.root}: {_why(exc)}"
            ) from None
        if sha256_hex(data) != digest.lower():
            # Never serve a tampered or truncated blob; drop it so it is refetched.
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self.removed.add(path)
            return None
        return data

    def was_removed(self, digest: str, scope: str = "") -> bool:
        """Whether this cache dropped that blob as corrupt."""
        return self.path_for(digest, scope) in self.removed

    def put(self, digest: str, data: bytes, scope: str = "") -> Path:
        """Store ``data`` under ``digest`` atomically; refuse bytes that do not match."""
        actual = sha256_hex(data)
        if actual != digest.lower():
            raise IntegrityError(f"refusing to cache bytes with sha256 {actual}, expected {digest}")
        path = self.path_for(digest, scope)
        try:
            # Readers (even another build sharing this cache) see nothing or the whole blob.
            return write_atomic(path, data, fsync=True)
        except OSError as exc:
            raise CacheError(
                f"cannot write {path} in the cache at {self.root}: {_why(exc)}"
            ) from None


def _why(exc: OSError) -> str:
    """``No space left on device`` rather than the whole OSError repr."""
    return exc.strerror or str(exc) or type(exc).__name__
