"""The lock's schema: load, validate, dump and check freshness (building it: ``lockbuild``)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from pincite.atomic import write_atomic
from pincite.errors import LockError
from pincite.pins import Release, check_release_id, path_problem
from pincite.wheel import COMPRESSIONS

LOCK_VERSION = 1
T = TypeVar("T")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class LockedFile:
    """A cited file: its sha256 (checked against the wheel's RECORD) and where its bytes are."""

    sha256: str
    size: int
    data_offset: int
    compressed_size: int
    compression: str


@dataclass(frozen=True)
class LockedRelease:
    """A pinned wheel: its published sha256 and the cited files inside it."""

    project: str
    version: str
    wheel: str
    wheel_sha256: str
    wheel_size: int
    files: dict[str, LockedFile]


def default_lock_path(pins_path: str | Path) -> Path:
    """``snippets/pins.toml`` is locked by ``snippets/pins.lock.json``."""
    pins_path = Path(pins_path)
    return pins_path.with_name(pins_path.stem + ".lock.json")


def _field(where: str, obj: object, key: str, kind: type[T]) -> T:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise LockError(f"{where}: field {key!r} is missing or not {kind.__name__}")
    return value


def _sha(where: str, obj: object, key: str) -> str:
    value = _field(where, obj, key, str)
    if not _HEX64.fullmatch(value):
        raise LockError(f"{where}: field {key!r} must be 64 lower-case hex digits, got {value!r}")
    return value


def _count(where: str, obj: object, key: str) -> int:
    value = _field(where, obj, key, int)
    if value < 0:
        raise LockError(f"{where}: field {key!r} must not be negative, got {value}")
    return value


def content_digest(releases: dict[str, Any]) -> str:
    """sha256 of the lock's ``releases`` in canonical JSON: what `pincite lock` wrote."""
    canonical = json.dumps(releases, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_lock(path: str | Path) -> dict[str, LockedRelease]:
    """Parse the lock; errors name the file and the field. An edited lock is refused."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LockError(f"{path}: lock not found") from None
    except (OSError, ValueError) as exc:
        raise LockError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("lock-version") != LOCK_VERSION:
        raise LockError(f"{path}: field 'lock-version' must be {LOCK_VERSION}")
    releases = _field(str(path), data, "releases", dict)
    # The lock is generated: a digest of its content, written by `pincite lock`, proves that no
    # hash, offset or path in it was edited by hand (which would serve one file as another).
    if data.get("content-sha256") != content_digest(releases):
        raise LockError(
            f"{path}: field 'content-sha256' does not match the lock's content: the lock was "
            "edited by hand or is damaged"
        )
    out: dict[str, LockedRelease] = {}
    for rid, rel in releases.items():
        where = f"{path}: releases.{rid}"
        if problem := check_release_id(rid):
            raise LockError(f"{where}: release id {problem}")
        files_raw = _field(where, rel, "files", dict)
        files = {}
        for fpath, f in files_raw.items():
            fwhere = f"{where}.files.{fpath}"
            if problem := path_problem(fpath):
                raise LockError(f"{where}.files: path {fpath!r} {problem}")
            compression = _field(fwhere, f, "compression", str)
            if compression not in COMPRESSIONS.values():
                raise LockError(f"{fwhere}: field 'compression' must be stored or deflate")
            files[fpath] = LockedFile(
                sha256=_sha(fwhere, f, "sha256"),
                size=_count(fwhere, f, "size"),
                data_offset=_count(fwhere, f, "data_offset"),
                compressed_size=_count(fwhere, f, "compressed_size"),
                compression=compression,
            )
        out[rid] = LockedRelease(
            project=_field(where, rel, "project", str),
            version=_field(where, rel, "version", str),
            wheel=_field(where, rel, "wheel", str),
            wheel_sha256=_sha(where, rel, "wheel_sha256"),
            wheel_size=_count(where, rel, "wheel_size"),
            files=files,
        )
    return out


def dump_lock(releases: dict[str, LockedRelease], path: str | Path) -> None:
    """Write the lock atomically (sorted, stable, diff-friendly), with its content digest."""
    path = Path(path)
    body = {rid: asdict(rel) for rid, rel in sorted(releases.items())}
    data = {
        "lock-version": LOCK_VERSION,
        "generated-by": "pincite lock; do not edit by hand",
        "content-sha256": content_digest(body),
        "releases": body,
    }
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def check_fresh(pins: dict[str, Release], lock: dict[str, LockedRelease], lock_path: Path) -> None:
    """Fail when the lock does not describe exactly what the pins file asks for."""
    problems = []
    for rid, rel in pins.items():
        locked = lock.get(rid)
        if locked is None:
            problems.append(f"release {rid!r} is not locked")
            continue
        for name in ("project", "version", "wheel"):
            if getattr(locked, name) != getattr(rel, name):
                problems.append(
                    f"release {rid!r}: {name} is locked as {getattr(locked, name)}, "
                    f"pinned as {getattr(rel, name)}"
                )
        missing = sorted(set(rel.files) - set(locked.files))
        if missing:
            problems.append(f"release {rid!r}: files not locked: {', '.join(missing)}")
    if problems:
        raise LockError(f"{lock_path}: stale lock ({'; '.join(problems)})")
