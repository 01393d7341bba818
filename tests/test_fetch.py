"""Fetching cited files from a real HTTP server on 127.0.0.1: ranges, fallbacks and faults."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from conftest import TRAINING_PY, FakeIndex, Project
from pincite.cache import Cache, sha256_hex
from pincite.errors import FetchError, IntegrityError, LockError, OfflineError, PinsError
from pincite.http import HttpClient
from pincite.lock import load_lock
from pincite.pins import load_pins
from pincite.store import SourceStore

PATH = "toy_keras/src/engine/training.py"


def store_for(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex, **kw
) -> SourceStore:
    return SourceStore(
        load_pins(project.pins),
        load_lock(project.lock),
        cache,
        index_url=index.url,
        http=http,
        **kw,
    )


def cached_files(cache: Cache) -> list[Path]:
    return sorted(p for p in cache.root.rglob("*") if p.is_file())


def content_name(blob: Path) -> str:
    """The content sha256 in a blob's name (``<scope>-<sha256>``)."""
    return blob.name.rsplit("-", 1)[-1]


def test_range_request_fetches_only_the_compressed_member(
    project: Project, cache: Cache, index: FakeIndex
) -> None:
    http = HttpClient(timeout=5, retries=1)
    store = store_for(project, cache, http, index)
    entry = store.locked_file("toy-1", PATH)
    assert store.read_text("toy-1", PATH) == TRAINING_PY
    assert index.file_hits == [
        f"bytes={entry.data_offset}-{entry.data_offset + entry.compressed_size - 1}"
    ]
    wheel_size = len(next(iter(project.wheels.values())))
    assert http.stats.bytes_by_kind["range"] == entry.compressed_size < wheel_size / 10
    assert "whole" not in http.stats.bytes_by_kind
    assert [content_name(p) for p in cached_files(cache)] == [entry.sha256]


def test_warm_cache_needs_no_network_and_works_offline(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    store_for(project, cache, http, index).read_bytes("toy-1", PATH)
    offline_http = HttpClient(timeout=1, retries=1)
    warm = store_for(project, cache, offline_http, index, offline=True)
    assert warm.read_text("toy-1", PATH) == TRAINING_PY
    assert offline_http.stats.requests == 0


def test_cold_cache_offline_names_what_is_missing(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    store = store_for(project, cache, http, index, offline=True)
    with pytest.raises(
        OfflineError, match=rf"toy-2: {PATH} \(sha256 [0-9a-f]{{12}}\) is not in the cache"
    ):
        store.read_bytes("toy-2", PATH)
    assert http.stats.requests == 0


def test_server_ignoring_ranges_falls_back_to_the_verified_whole_wheel(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    index.honour_ranges = False
    store = store_for(project, cache, http, index)
    assert store.read_text("toy-1", PATH) == TRAINING_PY
    assert index.file_hits[-1] == "whole"
    assert len(cached_files(cache)) == 1


def test_tampered_range_is_refused_and_nothing_is_cached(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    index.tamper = True
    store = store_for(project, cache, http, index)
    with pytest.raises(IntegrityError):
        store.read_bytes("toy-1", PATH)
    assert cached_files(cache) == []


def test_tampered_whole_wheel_is_refused(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    index.tamper, index.honour_ranges = True, False
    with pytest.raises(IntegrityError, match=r"downloaded sha256 .* the lock says"):
        store_for(project, cache, http, index).read_bytes("toy-1", PATH)
    assert cached_files(cache) == []


def test_index_hash_disagreeing_with_lock_is_refused(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    index.index_sha_override = "f" * 64
    with pytest.raises(IntegrityError, match=r"the index publishes sha256 f{64}, the lock says"):
        store_for(project, cache, http, index).read_bytes("toy-1", PATH)
    assert index.file_hits == []


def test_connection_dropped_mid_body_is_retried(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    index.drop_after, index.drops_left = 10, 1
    assert store_for(project, cache, http, index).read_text("toy-1", PATH) == TRAINING_PY
    assert len(index.file_hits) == 2


def test_connection_dropped_every_time_fails_clearly(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    index.drop_after, index.drops_left = 10, 99
    with pytest.raises(
        FetchError, match=r"GET http://(localhost|127\.0\.0\.1):\d+/files/.*after 3 attempts"
    ):
        store_for(project, cache, http, index).read_bytes("toy-1", PATH)
    assert len(index.file_hits) == 3
    assert cached_files(cache) == []


def test_5xx_is_retried_with_backoff_404_is_not(
    project: Project, cache: Cache, index: FakeIndex
) -> None:
    sleeps: list[float] = []
    http = HttpClient(timeout=5, retries=3, backoff=0.25, sleep=sleeps.append)
    index.status_file, index.statuses_left = 503, 2
    assert store_for(project, cache, http, index).read_text("toy-1", PATH) == TRAINING_PY
    assert sleeps == [0.25, 0.5]

    index.status_file, index.statuses_left = 404, 99
    http404 = HttpClient(timeout=5, retries=3, backoff=0.0, sleep=lambda s: None)
    with pytest.raises(FetchError, match="HTTP 404"):
        store_for(project, Cache(cache.root.parent / "c2"), http404, index).read_bytes(
            "toy-2", PATH
        )
    assert index.file_hits.count("whole") == 0 and len(index.file_hits) == 3 + 1


def test_unknown_release_and_unlocked_path_suggest_near_matches(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    store = store_for(project, cache, http, index)
    with pytest.raises(PinsError, match=r"unknown release 'toy-3'; did you mean"):
        store.read_bytes("toy-3", PATH)
    with pytest.raises(LockError, match=r"not a locked file of release 'toy-1'; did you mean"):
        store.read_bytes("toy-1", PATH.replace("training", "trainin"))
    assert http.stats.requests == 0


def test_tampered_cache_entry_is_dropped_and_refetched(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    store = store_for(project, cache, http, index)
    store.read_bytes("toy-1", PATH)
    (blob,) = cached_files(cache)
    blob.write_bytes(blob.read_bytes()[:-5])  # truncated on disk
    assert store.read_text("toy-1", PATH) == TRAINING_PY
    assert len(index.file_hits) == 2
    assert sha256_hex(blob.read_bytes()) == content_name(blob)


def test_tampered_cache_entry_offline_is_reported_not_served(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    store_for(project, cache, http, index).read_bytes("toy-1", PATH)
    (blob,) = cached_files(cache)
    blob.write_bytes(b"tampered")
    with pytest.raises(OfflineError):
        store_for(project, cache, http, index, offline=True).read_bytes("toy-1", PATH)
    assert not blob.exists()


def test_two_stores_sharing_one_cache_at_once(
    project: Project, cache: Cache, index: FakeIndex
) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            http = HttpClient(timeout=5, retries=3, backoff=0.0, sleep=lambda s: None)
            store = store_for(project, cache, http, index)
            for _ in range(5):
                for rid in ("toy-1", "toy-2"):
                    store.read_bytes(rid, PATH)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    blobs = cached_files(cache)
    assert len(blobs) == 2 and all(sha256_hex(b.read_bytes()) == content_name(b) for b in blobs)


def test_slow_server_times_out_with_a_clear_message(
    project: Project, cache: Cache, index: FakeIndex
) -> None:
    import time

    original = index.handle

    def slow(request):
        if "/files/" in request.path:
            time.sleep(1.5)
        return original(request)

    index.handle = slow  # type: ignore[method-assign]
    index.server.clear_all_handlers()
    index.server.expect_request(__import__("re").compile(".*")).respond_with_handler(slow)
    http = HttpClient(timeout=0.5, retries=2, backoff=0.0, sleep=lambda s: None)
    with pytest.raises(FetchError, match=r"no answer within 0\.5 s") as info:
        store_for(project, cache, http, index).read_bytes("toy-1", PATH)
    # The message names the timeout that fired and how long the fetch took in all.
    m = re.search(r"after 2 attempts, ([\d.]+) s in all; pincite_timeout is 0.5 s", str(info.value))
    assert m and 0.9 <= float(m[1]) < 3.0, str(info.value)
    assert cached_files(cache) == []
