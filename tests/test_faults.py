"""Hostile input and hard failures: never a half-written or unverified file in the cache."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import PINS_TOML, TRAINING_PY, FakeIndex, Project, make_wheel
from pincite.cache import Cache, sha256_hex
from pincite.errors import CacheError, FetchError, IntegrityError, LockError, PinsError
from pincite.http import HttpClient
from pincite.lock import load_lock
from pincite.lockbuild import build_lock
from pincite.pins import load_pins
from pincite.store import SourceStore
from pincite.wheel import check_member_name, inflate

PATH = "toy_keras/src/engine/training.py"


def cached(cache: Cache) -> list[Path]:
    return sorted(p for p in cache.root.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["../evil.py", "/etc/passwd", "a/../../b.py", "C:/x.py"])
def test_path_traversal_names_are_refused(name: str) -> None:
    with pytest.raises(IntegrityError, match="unsafe member name"):
        check_member_name(name)


def test_pins_naming_a_traversal_path_cannot_be_locked(
    tmp_path: Path, index: FakeIndex, http: HttpClient
) -> None:
    fn, wheel = make_wheel("toy-keras", "1.0", {PATH: b"x = 1\n"})
    index.add("toy-keras", fn, wheel)
    pins = tmp_path / "pins.toml"
    pins.write_text(
        PINS_TOML.format(wheel1=fn, wheel2=fn).replace(
            f'files = ["{PATH}"]', 'files = ["../../etc/passwd"]', 1
        )
    )
    # Refused when the pins are read, before anything is downloaded or written.
    with pytest.raises(PinsError, match=r"'\.\./\.\./etc/passwd' has a '\.' or '\.\.' segment"):
        load_pins(pins)


def test_member_inflating_past_the_locked_size_is_refused() -> None:
    import zlib

    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = bomb.compress(b"\0" * 10_000_000) + bomb.flush()
    with pytest.raises(IntegrityError, match="the lock says 1000"):
        inflate(raw, "deflate", 1000, "bomb")
    with pytest.raises(IntegrityError, match="truncated"):
        inflate(raw[: len(raw) // 2], "deflate", 10_000_000, "half")


def test_lock_claiming_a_smaller_member_is_refused_and_nothing_cached(
    project: Project, cache: Cache, index: FakeIndex, http: HttpClient
) -> None:
    lock = load_lock(project.lock)
    entry = lock["toy-1"].files[PATH]
    lock["toy-1"].files[PATH] = dataclasses.replace(entry, size=entry.size // 2)
    store = SourceStore(load_pins(project.pins), lock, cache, index_url=index.url, http=http)
    with pytest.raises(IntegrityError, match="the lock says"):
        store.read_bytes("toy-1", PATH)
    assert cached(cache) == []


def _corrupt_member(wheel: bytes, name: str) -> bytes:
    """Flip one compressed byte of a member, leaving the zip's CRC as it was."""
    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        info = zf.getinfo(name)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    i = start + info.compress_size // 2
    return wheel[:i] + bytes([wheel[i] ^ 0x01]) + wheel[i + 1 :]


def test_bad_crc_in_a_published_wheel_stops_the_lock(
    tmp_path: Path, index: FakeIndex, http: HttpClient
) -> None:
    fn, wheel = make_wheel("toy-keras", "1.0", {PATH: TRAINING_PY.encode()})
    fn2, wheel2 = make_wheel("toy-keras", "2.0", {PATH: TRAINING_PY.encode()})
    index.add("toy-keras", fn, _corrupt_member(wheel, PATH))
    index.add("toy-keras", fn2, wheel2)
    pins = tmp_path / "pins.toml"
    pins.write_text(PINS_TOML.format(wheel1=fn, wheel2=fn2))
    with pytest.raises((IntegrityError, LockError), match="toy-1"):
        build_lock(load_pins(pins), http, index.url, log=lambda *a: None)


def test_connection_refused_fails_clearly_after_bounded_retries(
    project: Project, cache: Cache
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed as soon as we leave: nothing listens there
    sleeps: list[float] = []
    http = HttpClient(timeout=2, retries=3, backoff=0.1, sleep=sleeps.append)
    store = SourceStore(
        load_pins(project.pins),
        load_lock(project.lock),
        cache,
        index_url=f"http://127.0.0.1:{port}/simple",
        http=http,
    )
    with pytest.raises(FetchError, match=r"refused.*after 3 attempts"):
        store.read_bytes("toy-1", PATH)
    assert sleeps == [0.1, 0.2]
    assert cached(cache) == []


def test_a_cache_blob_is_never_half_written(cache: Cache, monkeypatch) -> None:
    data = b"x" * 100_000
    digest = __import__("hashlib").sha256(data).hexdigest()

    def explode(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", explode)
    # A full disk is a CacheError naming the cache folder, never a raw OSError.
    with pytest.raises(CacheError, match="No space left on device") as info:
        cache.put(digest, data)
    assert str(cache.root) in str(info.value)
    assert cached(cache) == []
    with pytest.raises(IntegrityError):
        cache.put("0" * 64, data)


def test_two_processes_sharing_one_cache(
    project: Project, index: FakeIndex, tmp_path: Path
) -> None:
    cache = tmp_path / "shared"
    argv = [
        sys.executable,
        "-m",
        "pincite",
        "fetch",
        "--pins",
        str(project.pins),
        "--lock",
        str(project.lock),
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache),
    ]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)
    ]
    results = [(*p.communicate(timeout=60), p.returncode) for p in procs]
    assert [r[2] for r in results] == [0, 0, 0], results
    blobs = cached(Cache(cache))
    lock = json.loads(project.lock.read_text())
    expected = {f["sha256"] for r in lock["releases"].values() for f in r["files"].values()}
    # Blobs are named <scope>-<content sha256>: one per (release, path) verified.
    assert {b.name.rsplit("-", 1)[-1] for b in blobs} == expected
    assert len(blobs) == len(expected)
    assert all(sha256_hex(b.read_bytes()) == b.name.rsplit("-", 1)[-1] for b in blobs)


def test_an_atomic_write_gets_the_mode_of_any_new_file(tmp_path: Path) -> None:
    """Not mkstemp's private 0600: a web server must be able to serve what the build wrote."""
    import os

    from pincite import atomic

    target = atomic.write_atomic(tmp_path / "claims.json", b"{}")
    assert target.stat().st_mode & 0o777 == 0o666 & ~atomic._UMASK
    assert os.umask(atomic._UMASK) == atomic._UMASK  # reading it left it as it was
