"""Build the lock: find each pinned wheel, have it verified whole, and hash its cited files.

Wheels verified once are kept in the cache (``wheels/<sha256>/<file>``, checked by hash on
every use), so refreshing a lock whose pins did not change downloads nothing.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

from pincite.atomic import write_atomic
from pincite.errors import CacheError, IntegrityError, LockError
from pincite.http import HttpClient
from pincite.index import find_wheel
from pincite.lock import LockedFile, LockedRelease
from pincite.pins import Release
from pincite.wheel import check_member_name, locate_member, read_member, record_digests


def file_sha256(fh: BinaryIO) -> str:
    """sha256 of an open binary file from its start; the file is left at its start."""
    fh.seek(0)
    # Every file handed here is buffered (a temporary file, or a kept wheel opened "rb").
    digest = hashlib.file_digest(cast(io.BufferedReader, fh), "sha256").hexdigest()
    fh.seek(0)
    return digest


def _temporary_file() -> BinaryIO:
    """A fresh anonymous file for one download attempt (the caller closes it)."""
    return cast(BinaryIO, tempfile.TemporaryFile())


def download_verified(
    http: HttpClient, url: str, sha256: str, what: str, authority: str
) -> BinaryIO:
    """Download ``url`` whole into a temporary file whose sha256 must be ``sha256``.

    ``authority`` says where that hash comes from ("the index", "the lock") for the message.
    """
    fh = http.download(url, _temporary_file)
    got = file_sha256(fh)
    if got != sha256:
        fh.close()
        raise IntegrityError(f"{what}: downloaded sha256 {got}, {authority} says {sha256}")
    return fh


class WheelCache:
    """Whole wheels under ``root/wheels/<sha256>/<file name>``, verified on every read."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root) / "wheels"

    def path_for(self, filename: str, sha256: str) -> Path:
        """Where the wheel with this name and hash is kept."""
        return self.root / sha256 / Path(filename).name

    def open(self, filename: str, sha256: str) -> BinaryIO | None:
        """The kept wheel, open, if its bytes still hash to ``sha256``; else None (and dropped)."""
        path = self.path_for(filename, sha256)
        try:
            fh = path.open("rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheError(f"{path}: cannot read the kept wheel: {exc}") from None
        if file_sha256(fh) == sha256:
            return fh
        fh.close()
        path.unlink(missing_ok=True)  # damaged on disk: never used, fetched again
        return None

    def keep(self, filename: str, sha256: str, fh: BinaryIO) -> None:
        """Keep a verified wheel (atomically); a cache that cannot be written is only a miss."""
        with contextlib.suppress(OSError):
            write_atomic(self.path_for(filename, sha256), fh)
        fh.seek(0)


def lock_wheel(release: Release, wheel_file: BinaryIO, wheel_sha256: str) -> LockedRelease:
    """Lock the cited files of one downloaded, verified wheel."""
    try:
        zf = zipfile.ZipFile(wheel_file)
    except zipfile.BadZipFile as exc:
        raise IntegrityError(
            f"release {release.id!r}: {release.wheel} is not a zip: {exc}"
        ) from None
    with zf:
        digests = record_digests(zf)
        names = set(zf.namelist())
        files = {}
        for fpath in release.files:
            check_member_name(fpath)
            if fpath not in names:
                near = difflib.get_close_matches(fpath, sorted(names), n=3, cutoff=0.6)
                hint = f"; did you mean {', '.join(near)}?" if near else ""
                raise LockError(f"release {release.id!r}: {fpath} is not in {release.wheel}{hint}")
            data = read_member(zf, fpath, f"release {release.id!r} ({release.wheel})")
            sha = hashlib.sha256(data).hexdigest()
            if fpath not in digests:
                raise LockError(f"release {release.id!r}: {fpath} is not listed in the RECORD")
            if digests[fpath][0] != sha:
                raise IntegrityError(
                    f"release {release.id!r}: {fpath} has sha256 {sha}, "
                    f"RECORD says {digests[fpath][0]}"
                )
            loc = locate_member(wheel_file, zf.getinfo(fpath))
            files[fpath] = LockedFile(
                sha256=sha,
                size=len(data),
                data_offset=loc.data_offset,
                compressed_size=loc.compressed_size,
                compression=loc.compression,
            )
    return LockedRelease(
        project=release.project,
        version=release.version,
        wheel=release.wheel,
        wheel_sha256=wheel_sha256,
        wheel_size=wheel_file.seek(0, 2),
        files=files,
    )


def build_lock(
    pins: dict[str, Release],
    http: HttpClient,
    index_url: str,
    log: Callable[[str], object] = print,
    *,
    previous: dict[str, LockedRelease] | None = None,
    wheels: WheelCache | None = None,
) -> dict[str, LockedRelease]:
    """Lock every pinned wheel: verified against the index, or reused when already verified.

    A release whose wheel file is already in ``previous`` (a lock `pincite lock` wrote, so its
    hash came from the index) is read from ``wheels`` if kept there: no request at all.
    """
    out = {}
    for rid, rel in pins.items():
        known = (previous or {}).get(rid)
        fh = None
        if wheels is not None and known is not None and known.wheel == rel.wheel:
            fh = wheels.open(rel.wheel, known.wheel_sha256)
            sha256 = known.wheel_sha256
            if fh is not None:
                log(f"lock {rid}: reusing {rel.wheel}, verified by sha256")
        if fh is None:
            entry = find_wheel(http, index_url, rel.project, rel.wheel)
            sha256 = entry.sha256
            fh = wheels.open(rel.wheel, sha256) if wheels is not None else None
            if fh is None:
                log(f"lock {rid}: downloading {rel.wheel}")
                fh = download_verified(http, entry.url, sha256, rel.wheel, "the index")
                if wheels is not None:
                    wheels.keep(rel.wheel, sha256, fh)
        with fh:
            out[rid] = lock_wheel(rel, fh, sha256)
        log(f"lock {rid}: {len(out[rid].files)} file(s) verified against RECORD")
    return out
