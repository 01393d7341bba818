"""Materialise cited files: from the verified cache, else by range request, else from the wheel."""

from __future__ import annotations

import difflib
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from pincite.atomic import check_inside, write_atomic
from pincite.cache import Cache, sha256_hex
from pincite.errors import (
    CacheError,
    FetchError,
    IntegrityError,
    LockError,
    OfflineError,
    PinciteError,
    PinsError,
)
from pincite.lock import LockedFile, LockedRelease
from pincite.pins import Release
from pincite.wheel import inflate, read_member

if TYPE_CHECKING:  # the network modules load only when a file must be fetched
    from pincite.http import HttpClient
    from pincite.index import IndexFile


def _range_not_supported() -> type[Exception]:
    from pincite.http import RangeNotSupported

    return RangeNotSupported


def check_wheel(files: dict[str, IndexFile], locked: LockedRelease, index_url: str) -> IndexFile:
    """Pick the locked wheel from an index listing and check the published sha256."""
    found = files.get(locked.wheel)
    if found is None:
        from pincite.index import not_listed

        raise FetchError(not_listed(locked.project, index_url, locked.wheel, files))
    if found.sha256 != locked.wheel_sha256:
        raise IntegrityError(
            f"{locked.wheel}: the index publishes sha256 {found.sha256 or '(none)'}, "
            f"the lock says {locked.wheel_sha256}"
        )
    return found


class SourceStore:
    """Read cited files of pinned releases, verified against the lock, through a shared cache."""

    def __init__(
        self,
        pins: dict[str, Release],
        lock: dict[str, LockedRelease],
        cache: Cache,
        *,
        offline: bool = False,
        index_url: str | None = None,
        http: HttpClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.pins = pins
        self.lock = lock
        self.cache = cache
        self.offline = offline
        self._index_url = index_url
        self._http = http
        self.timeout = timeout
        self._projects: dict[str, dict[str, IndexFile]] = {}

    @property
    def http(self) -> HttpClient:
        """The HTTP client, made (and urllib3 imported) on first use: a warm build needs none."""
        if self._http is None:
            from pincite.http import HttpClient

            self._http = HttpClient(timeout=self.timeout)
        return self._http

    @property
    def index_url(self) -> str:
        """The package index, resolved lazily so a warm build never even reads pip's config."""
        if self._index_url is None:
            from pincite.index import default_index_url

            self._index_url = default_index_url()
        return self._index_url

    def release(self, release_id: str) -> Release:
        """The pinned release called ``release_id``."""
        try:
            return self.pins[release_id]
        except KeyError:
            near = difflib.get_close_matches(release_id, list(self.pins), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            known = ", ".join(sorted(self.pins))
            raise PinsError(f"unknown release {release_id!r}{hint} (known: {known})") from None

    def locked_file(self, release_id: str, path: str) -> LockedFile:
        """The lock's entry for one cited file."""
        self.release(release_id)
        locked = self.lock.get(release_id)
        if locked is None:
            raise LockError(f"release {release_id!r} is not in the lock")
        try:
            return locked.files[path]
        except KeyError:
            near = difflib.get_close_matches(path, list(locked.files), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise LockError(
                f"{path} is not a locked file of release {release_id!r}{hint}; "
                "add it to the release's `files` in the pins file"
            ) from None

    def scope(self, release_id: str, path: str) -> str:
        """What a cached blob was verified as: this wheel (by its sha256) and this path."""
        return f"{self.lock[release_id].wheel_sha256}/{path}"

    def blob_path(self, release_id: str, path: str) -> Path:
        """Where the verified bytes of a cited file live in the cache."""
        entry = self.locked_file(release_id, path)
        return self.cache.path_for(entry.sha256, self.scope(release_id, path))

    def cached(self, release_id: str, path: str) -> bytes | None:
        """The verified bytes from the cache, or None; cache I/O errors name the file."""
        entry = self.locked_file(release_id, path)
        try:
            return self.cache.get(entry.sha256, self.scope(release_id, path))
        except CacheError as exc:
            raise CacheError(f"{release_id}: {path}: {exc}") from None

    def read_bytes(self, release_id: str, path: str) -> bytes:
        """The exact bytes of ``path`` in the pinned wheel, verified by sha256."""
        entry = self.locked_file(release_id, path)
        cached = self.cached(release_id, path)
        if cached is not None:
            return cached
        if self.offline:
            raise OfflineError(self.offline_message(release_id, path))
        wheel = self._wheel(release_id)
        try:
            raw = self.http.get_range(wheel.url, entry.data_offset, entry.compressed_size)
        except _range_not_supported():
            return self._from_whole_wheel(release_id, path)
        data = inflate(raw, entry.compression, entry.size, f"{release_id}: {path}")
        if sha256_hex(data) != entry.sha256:
            raise IntegrityError(
                f"{release_id}: {path} fetched from {wheel.url} has sha256 {sha256_hex(data)}, "
                f"the lock says {entry.sha256}"
            )
        self._put(release_id, path, data)
        return data

    def offline_message(self, release_id: str, path: str) -> str:
        """Why an offline build cannot have this file: absent, or corrupt and removed."""
        entry = self.locked_file(release_id, path)
        what = f"{release_id}: {path} (sha256 {entry.sha256[:12]})"
        if self.cache.was_removed(entry.sha256, self.scope(release_id, path)):
            state = f"was corrupt in the cache at {self.cache.root} and has been removed"
        else:
            state = f"is not in the cache at {self.cache.root}"
        return f"{what} {state}, and the build is offline"

    def missing_offline(self) -> list[str]:
        """Every locked file of a pinned release that an offline build could not read."""
        missing = []
        for rid in sorted(self.pins.keys() & self.lock.keys()):
            for fpath in sorted(self.lock[rid].files):
                try:
                    if self.cached(rid, fpath) is None:
                        missing.append(f"{rid}: {fpath}")
                except PinciteError as exc:
                    missing.append(f"{rid}: {fpath} ({exc})")
        return missing

    def _put(self, release_id: str, path: str, data: bytes) -> None:
        entry = self.locked_file(release_id, path)
        try:
            self.cache.put(entry.sha256, data, self.scope(release_id, path))
        except CacheError as exc:
            raise CacheError(f"{release_id}: {path}: {exc}") from None

    def read_text(self, release_id: str, path: str) -> str:
        """The cited file decoded as UTF-8 (universal newlines)."""
        data = self.read_bytes(release_id, path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LockError(f"{release_id}: {path} is not UTF-8 text ({exc})") from None
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def _wheel(self, release_id: str) -> IndexFile:
        """The index's entry for the release's wheel; its sha256 must match the lock's."""
        locked = self.lock[release_id]
        if locked.project not in self._projects:  # one index request per project per build
            from pincite.index import project_files

            self._projects[locked.project] = project_files(
                self.http, self.index_url, locked.project
            )
        return check_wheel(self._projects[locked.project], locked, self.index_url)

    def _from_whole_wheel(self, release_id: str, path: str) -> bytes:
        """Fallback when ranges are not honoured: download, verify, cache every locked file."""
        locked = self.lock[release_id]
        wheel = self._wheel(release_id)
        from pincite.lockbuild import download_verified

        fh = download_verified(self.http, wheel.url, locked.wheel_sha256, locked.wheel, "the lock")
        with fh, zipfile.ZipFile(fh) as zf:
            for fpath, entry in locked.files.items():
                info = zf.getinfo(fpath)
                if info.file_size != entry.size:
                    raise IntegrityError(
                        f"{release_id}: {fpath} is {info.file_size} bytes in the wheel, "
                        f"the lock says {entry.size}"
                    )
                data = read_member(zf, fpath, f"{release_id} ({locked.wheel})")
                if sha256_hex(data) != entry.sha256:
                    raise IntegrityError(f"{release_id}: {fpath} does not match the lock")
                self._put(release_id, fpath, data)
        kept = self.cached(release_id, path)
        if kept is None:  # pragma: no cover - just written and verified
            raise IntegrityError(f"{release_id}: {path} vanished from the cache")
        return kept

    def materialize(self, release_id: str, path: str, root: Path) -> Path:
        """Write the verified file to ``root/<release_id>/<path>`` (for autodoc2); return it."""
        data = self.read_bytes(release_id, path)
        try:
            dest = check_inside(root, root / release_id / path)
        except ValueError as exc:
            raise LockError(f"{release_id}: {path}: {exc}") from None
        try:
            try:
                unchanged = dest.read_bytes() == data
            except FileNotFoundError:  # absent, or removed by a concurrent build
                unchanged = False
            if not unchanged:
                write_atomic(dest, data)
        except OSError as exc:
            raise CacheError(f"{release_id}: {path}: cannot write {dest}: {exc}") from None
        return dest
