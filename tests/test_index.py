"""The index: which one is used, both listing formats, and rate limiting honoured."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TRAINING_PY, FakeIndex, Project
from pincite.cache import Cache
from pincite.errors import FetchError
from pincite.http import HttpClient
from pincite.index import default_index_url, find_wheel, project_files
from pincite.lock import load_lock
from pincite.pins import load_pins
from pincite.store import SourceStore

PATH = "toy_keras/src/engine/training.py"


def store_for(project: Project, cache: Cache, http: HttpClient, index: FakeIndex) -> SourceStore:
    return SourceStore(
        load_pins(project.pins), load_lock(project.lock), cache, index_url=index.url, http=http
    )


def test_html_listing_is_read_like_the_json_one(
    project: Project, index: FakeIndex, http: HttpClient
) -> None:
    as_json = project_files(http, index.url, "Toy_Keras")
    index.html_listing = True
    as_html = project_files(http, index.url, "toy.keras")
    assert sorted(as_html) == sorted(as_json) == sorted(project.wheels)
    for name, entry in as_html.items():
        assert (entry.sha256, entry.url) == (as_json[name].sha256, as_json[name].url)


def test_html_listing_serves_a_verified_fetch(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    index.html_listing = True
    assert store_for(project, cache, http, index).read_text("toy-1", PATH) == TRAINING_PY


def test_listing_of_another_type_is_refused_by_name(
    index: FakeIndex, http: HttpClient, httpserver
) -> None:
    httpserver.clear_all_handlers()
    httpserver.expect_request("/simple/toy/").respond_with_data("x", content_type="image/png")
    with pytest.raises(FetchError, match=r"GET http://.*/simple/toy/: .*image/png"):
        project_files(http, index.url, "toy")


def test_wheel_without_published_sha256_is_refused(
    project: Project, index: FakeIndex, http: HttpClient
) -> None:
    index.html_listing = True
    index.index_sha_override = ""
    name = next(iter(project.wheels))
    with pytest.raises(Exception, match="publishes no sha256"):
        find_wheel(http, index.url, "toy-keras", name)


def test_429_waits_as_long_as_retry_after_says(
    project: Project, cache: Cache, index: FakeIndex
) -> None:
    sleeps: list[float] = []
    http = HttpClient(timeout=5, retries=3, backoff=0.25, sleep=sleeps.append)
    index.status_file, index.statuses_left, index.retry_after = 429, 2, "3"
    assert store_for(project, cache, http, index).read_text("toy-1", PATH) == TRAINING_PY
    assert sleeps == [3.0, 3.0]


def test_429_without_retry_after_backs_off_and_gives_up_with_the_status(
    project: Project, cache: Cache, index: FakeIndex
) -> None:
    sleeps: list[float] = []
    http = HttpClient(timeout=5, retries=3, backoff=0.25, sleep=sleeps.append)
    index.status_file, index.statuses_left = 429, 99
    with pytest.raises(FetchError, match="HTTP 429"):
        store_for(project, cache, http, index).read_bytes("toy-1", PATH)
    assert sleeps == [0.25, 0.5]


def test_index_url_setting_wins_then_environment_then_pip_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = http://127.0.0.1:9/from-pip-config/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    assert default_index_url() == "http://127.0.0.1:9/from-pip-config/simple"
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/from-env/simple")
    assert default_index_url() == "http://127.0.0.1:9/from-env/simple"
    assert default_index_url("http://127.0.0.1:9/set/simple") == "http://127.0.0.1:9/set/simple"


def test_no_pip_internals_are_imported() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pincite.sphinxext, pincite.cli, pincite.drift, pincite.index;"
        "print(sorted(m for m in sys.modules if m.startswith('pip')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_missing_wheel_names_the_nearest_versions_and_the_same_versions_wheels() -> None:
    from pincite.index import IndexFile, not_listed

    names = [
        "requests-2.30.0-py3-none-any.whl",
        "requests-2.31.0-py3-none-any.whl",
        "requests-2.32.3-py3-none-any.whl",
        "requests-2.32.3.tar.gz",
    ]
    files = {n: IndexFile(n, f"http://127.0.0.1:9/{n}", "0" * 64, 1) for n in names}
    missing = not_listed(
        "requests", "http://127.0.0.1:9/simple", "requests-2.31.9-py3-none-any.whl", files
    )
    assert missing.endswith("nearest versions with wheels: 2.30.0, 2.31.0, 2.32.3")
    other_tag = not_listed("requests", "x", "requests-2.31.0-cp311-cp311-linux_x86_64.whl", files)
    assert other_tag.endswith("its wheels of 2.31.0: requests-2.31.0-py3-none-any.whl")
