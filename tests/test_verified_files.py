"""A verified base is not read again: only files whose inode status changed are hashed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from claims import builder
from claims.builder import VERIFIED, Builder, tree_problem

FILES = {"demo/__init__.py": b"VALUE = 1\n", "demo/core.py": b"def f():\n    return 2\n"}


def _site(tmp_path: Path) -> Path:
    """A site-packages folder with one distribution and its RECORD."""
    site = tmp_path / "site"
    rows = []
    for rel, data in FILES.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{rel},sha256={digest},{len(data)}")
    (site / "demo-1.0.dist-info").mkdir()
    (site / "demo-1.0.dist-info" / "RECORD").write_text("\n".join(rows) + "\n")
    return site


@pytest.fixture
def hashed(monkeypatch) -> list[str]:
    """The files each verification reads and hashes; every status counts as settled."""
    seen: list[str] = []
    original = builder._hash_problem

    def counting(path: Path, rel: str, expected: set[str]) -> str | None:
        seen.append(rel)
        return original(path, rel, expected)

    monkeypatch.setattr(builder, "_hash_problem", counting)
    monkeypatch.setattr(builder, "SETTLED_NS", 0)
    return seen


def test_a_second_verification_reads_no_unchanged_file(tmp_path: Path, hashed: list[str]) -> None:
    site = _site(tmp_path)
    statuses: dict[str, list[int]] = {}
    assert tree_problem(site, {}, statuses) is None
    assert sorted(hashed) == sorted(FILES) and sorted(statuses) == sorted(FILES)
    hashed.clear()
    assert tree_problem(site, statuses, {}) is None
    assert hashed == []


def test_a_rewrite_of_the_same_size_with_its_old_mtime_is_still_caught(
    tmp_path: Path, hashed: list[str]
) -> None:
    site = _site(tmp_path)
    statuses: dict[str, list[int]] = {}
    assert tree_problem(site, {}, statuses) is None
    target = site / "demo" / "core.py"
    before = target.stat()
    time.sleep(0.05)  # past the clock's tick, so the kernel stamps a new ctime
    target.write_bytes(b"def f():\n    return 3\n")  # same length
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert target.stat().st_size == before.st_size
    hashed.clear()
    assert tree_problem(site, statuses, {}) == "demo/core.py differs from its RECORD hash"
    assert hashed == ["demo/core.py"]


def test_a_file_written_just_before_its_hash_is_not_trusted_later(tmp_path: Path) -> None:
    """Within one clock tick a write keeps mtime and ctime: so young a status is not kept."""
    site = _site(tmp_path)
    statuses: dict[str, list[int]] = {}
    assert tree_problem(site, {}, statuses) is None
    assert statuses == {}


def test_the_folder_keeps_its_statuses_only_while_it_verifies(
    tmp_path: Path, hashed: list[str]
) -> None:
    site = _site(tmp_path)
    stamp = tmp_path / VERIFIED
    assert Builder._tree_problem(site, tmp_path) is None
    assert sorted(json.loads(stamp.read_text())) == sorted(FILES)
    hashed.clear()
    assert Builder._tree_problem(site, tmp_path) is None
    assert hashed == []
    (site / "demo" / "__init__.py").unlink()
    assert Builder._tree_problem(site, tmp_path) == "demo/__init__.py is missing"
    assert not stamp.exists()


@pytest.mark.parametrize("kept", ["{not json", "[1, 2]", ""])
def test_an_unreadable_record_of_statuses_means_hashing_every_file(
    tmp_path: Path, hashed: list[str], kept: str
) -> None:
    site = _site(tmp_path)
    (tmp_path / VERIFIED).write_text(kept)
    assert Builder._tree_problem(site, tmp_path) is None
    assert sorted(hashed) == sorted(FILES)
