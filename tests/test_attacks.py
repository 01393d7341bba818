"""The engine under attack (issue 10): each attack here got wrong output, a crash or a write
outside the project before its fix; now each gets a precise error or the right output."""

from __future__ import annotations

import errno
import json
import re
import threading
from pathlib import Path

import pytest

from conftest import PINS_TOML, TRAINING_PY, FakeIndex, Project, make_wheel, warnings_of
from pincite.atomic import check_inside
from pincite.cache import Cache
from pincite.errors import IntegrityError, LockError, OfflineError, PinsError, SliceError
from pincite.http import HttpClient
from pincite.lock import check_fresh, content_digest, dump_lock, load_lock
from pincite.lockbuild import build_lock
from pincite.pins import load_pins
from pincite.reader import cite, narrow, parse_line_range, symbol_span
from pincite.store import SourceStore

PATH = "toy_keras/src/engine/training.py"
OTHER = "toy_keras/src/engine/other.py"


def sphinx_build(make_app, srcdir: Path, overrides: dict, **extra):
    """Build ``srcdir`` (re-using its doctrees, as an incremental build does)."""
    app = make_app("html", srcdir=srcdir, confoverrides={**overrides, **extra})
    app.build()
    return app


def restamp(lock_path: Path, edit) -> None:
    """Edit the lock as an attacker who also recomputes its content digest would."""
    data = json.loads(lock_path.read_text())
    edit(data)
    data["content-sha256"] = content_digest(data["releases"])
    lock_path.write_text(json.dumps(data))


def page(tmp_path: Path, body: str) -> Path:
    """A one-page Sphinx project citing with ``body``."""
    src = tmp_path / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "conf.py").write_text('extensions = ["pincite"]\n')
    (src / "index.rst").write_text("Page\n====\n\n" + body)
    return src


# --- 1. a page that failed to cite is read again once the pins and the lock are fixed --------


def test_page_that_failed_is_reread_after_the_lock_is_fixed(
    make_app, tmp_path: Path, index: FakeIndex
) -> None:
    fn, wheel = make_wheel("toy-keras", "1.0", {PATH: TRAINING_PY.encode(), OTHER: b"x = 1\n"})
    index.add("toy-keras", fn, wheel)
    pins = tmp_path / "pins.toml"
    # Only the first release of the toy pins: one wheel, citing training.py alone.
    pins.write_text("[[release]]" + PINS_TOML.format(wheel1=fn, wheel2="-").split("[[release]]")[1])
    lock = tmp_path / "pins.lock.json"
    http = HttpClient(timeout=5)
    dump_lock(build_lock(load_pins(pins), http, index.url, log=lambda *a: None), lock)
    src = page(tmp_path, f".. pincite-source:: toy-1 {OTHER}\n")
    overrides = {
        "pincite_pins": str(pins),
        "pincite_lock": str(lock),
        "pincite_cache_dir": str(tmp_path / "cache"),
        "pincite_index_url": index.url,
    }
    app = sphinx_build(make_app, src, overrides)
    assert "is not a locked file of release 'toy-1'" in warnings_of(app)
    # The maintainer adds the file to the pins and re-locks; nothing else changes.
    pins.write_text(
        pins.read_text().replace(f'files = ["{PATH}"]', f'files = ["{PATH}", "{OTHER}"]')
    )
    dump_lock(build_lock(load_pins(pins), http, index.url, log=lambda *a: None), lock)
    app = sphinx_build(make_app, src, overrides)
    assert "WARNING" not in warnings_of(app) and "ERROR" not in warnings_of(app), warnings_of(app)
    assert (
        'x</span> <span class="o">=</span> <span class="mi">1'
        in (app.outdir / "index.html").read_text()
    )


# --- 2. pins that contradict their wheel ---------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s.replace('version = "1.0"', 'version = "1.1"', 1),
            r"field 'version' is 1.1, the wheel is version 1.0",
        ),
        (
            lambda s: s.replace('tag = "v1.0"', 'tag = "v2.0"', 1),
            r"field 'tag' 'v2.0' does not name version 1.0",
        ),
        (
            lambda s: s.replace('project = "toy-keras"', 'project = "toy-other"', 1),
            r"field 'project' is 'toy-other'",
        ),
        (
            lambda s: s.replace('id = "toy-1"', 'id = "toy-1"\ntitle = "Toy 2.0"', 1),
            r"field 'title' 'Toy 2.0' does not mention version 1.0",
        ),
        (lambda s: s.replace("-1.0-py3", "-1.0-x-py3", 1), r"field 'wheel'"),
    ],
)
def test_pins_contradicting_their_wheel_are_refused(project: Project, edit, message) -> None:
    project.pins.write_text(edit(project.pins.read_text()))
    with pytest.raises(PinsError, match=message) as info:
        load_pins(project.pins)
    assert str(project.pins) in str(info.value) and "release 'toy-1'" in str(info.value)


# --- 3. paths that would write outside the project ----------------------------------------


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("../../../../tmp/x.py", "'.' or '..' segment"),
        ("/tmp/x.py", "is absolute"),
        ("toy_keras\\..\\x.py", "backslash"),
        ("toy_keras//x.py", "empty segment"),
    ],
)
def test_lock_paths_outside_the_folder_are_refused(project: Project, bad: str, why: str) -> None:
    def edit(data):
        files = data["releases"]["toy-1"]["files"]
        files[bad] = files.pop(PATH)

    restamp(project.lock, edit)
    with pytest.raises(LockError, match=re.escape(why)) as info:
        load_lock(project.lock)
    assert str(project.lock) in str(info.value)


def test_lock_release_id_cannot_climb_out(project: Project) -> None:
    restamp(project.lock, lambda d: d["releases"].__setitem__("../../x", d["releases"]["toy-1"]))
    with pytest.raises(LockError, match=r"releases\.\.\./\.\./x: release id must be"):
        load_lock(project.lock)


def test_every_write_is_checked_to_stay_under_its_root(tmp_path: Path) -> None:
    assert check_inside(tmp_path, tmp_path / "a" / "b.py") == (tmp_path / "a" / "b.py").resolve()
    with pytest.raises(ValueError, match="outside"):
        check_inside(tmp_path / "root", tmp_path / "root" / ".." / "x.py")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="outside"):
        check_inside(tmp_path / "root", tmp_path / "root" / "link" / "x.py")


# --- 4. a warm cache and an edited lock ----------------------------------------------------


def test_hand_edited_lock_is_refused(project: Project) -> None:
    data = json.loads(project.lock.read_text())
    toy2 = data["releases"]["toy-2"]["files"][PATH]["sha256"]
    data["releases"]["toy-1"]["files"][PATH]["sha256"] = toy2
    project.lock.write_text(json.dumps(data))
    with pytest.raises(LockError, match="'content-sha256' does not match"):
        load_lock(project.lock)


def test_cached_bytes_are_never_served_as_another_file(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    def store() -> SourceStore:
        return SourceStore(
            load_pins(project.pins), load_lock(project.lock), cache, index_url=index.url, http=http
        )

    warm = store()
    v1, v2 = warm.read_text("toy-1", PATH), warm.read_text("toy-2", PATH)
    assert v1 != v2
    # Even with its digest recomputed, a lock that points toy-1 at toy-2's bytes gets nothing.
    toy2 = json.loads(project.lock.read_text())["releases"]["toy-2"]["files"][PATH]["sha256"]
    restamp(project.lock, lambda d: d["releases"]["toy-1"]["files"][PATH].update(sha256=toy2))
    with pytest.raises(IntegrityError, match=r"toy-1: .* has sha256 .*the lock says"):
        store().read_text("toy-1", PATH)
    with pytest.raises(OfflineError, match="not in the cache"):
        SourceStore(
            load_pins(project.pins), load_lock(project.lock), cache, offline=True
        ).read_text("toy-1", PATH)


# --- 5. cache I/O errors -------------------------------------------------------------------


def _assert_located_cache_warning(app, cache_root: Path) -> None:
    text = warnings_of(app)
    assert re.search(
        r"index\.rst:4: ERROR: toy-1: toy_keras/src/engine/training\.py: cannot", text
    ), text
    assert str(cache_root) in text and "[pincite.cache]" in text
    assert "Traceback" not in text


def test_unwritable_cache_folder_is_a_located_warning(make_app, overrides, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    src = page(tmp_path, f".. pincite-source:: toy-1 {PATH}\n   :pyobject: Model.losses\n")
    app = sphinx_build(make_app, src, overrides, pincite_cache_dir=str(blocker / "cache"))
    _assert_located_cache_warning(app, blocker / "cache")


def test_a_folder_in_a_blobs_place_is_a_located_warning(
    make_app, overrides, tmp_path: Path, project: Project
) -> None:
    cache = Cache(tmp_path / "cache")
    lock = load_lock(project.lock)
    entry = lock["toy-1"].files[PATH]
    cache.path_for(entry.sha256, f"{lock['toy-1'].wheel_sha256}/{PATH}").mkdir(parents=True)
    src = page(tmp_path, f".. pincite-source:: toy-1 {PATH}\n   :pyobject: Model.losses\n")
    app = sphinx_build(make_app, src, overrides)
    _assert_located_cache_warning(app, tmp_path / "cache")


def test_a_full_disk_is_a_located_warning_and_leaves_no_part_file(
    make_app, overrides, tmp_path: Path, monkeypatch
) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fsync", full)
    src = page(tmp_path, f".. pincite-source:: toy-1 {PATH}\n   :pyobject: Model.losses\n")
    app = sphinx_build(make_app, src, overrides)
    _assert_located_cache_warning(app, tmp_path / "cache")
    assert "No space left on device" in warnings_of(app)
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


# --- 6. a symbol defined twice in one scope ------------------------------------------------

TWICE = (
    "class Model:\n    def step(self):\n        return 1\n\n    x = 0\n\n"
    "    def step(self):\n        return 2\n"
)


def test_a_symbol_defined_twice_is_refused_with_its_candidates() -> None:
    with pytest.raises(
        SliceError, match=r"defined 2 times .*\[0\] L2-L3, \[1\] L7-L8.*Model\.step\[-1\]"
    ):
        symbol_span(TWICE, "Model.step")
    assert symbol_span(TWICE, "Model.step[-1]") == (7, 8)
    assert symbol_span(TWICE, "Model.step[0]") == (2, 3)
    with pytest.raises(SliceError, match=r"there is no \[2\]"):
        symbol_span(TWICE, "Model.step[2]")


# --- 7. line numbers on sources with form feeds and other separators -------------------------


@pytest.mark.parametrize("separator", ["\f", "\v", "\x1c", "\x85", "\u2028"])
def test_line_numbers_follow_the_tokenizer(separator: str) -> None:
    # Inside comments and strings these are ordinary characters to Python.
    source = f"# one{separator}two\ny = '{separator}'\n\ndef f():\n    return y\n"
    sl = cite(source, pyobject="f")
    assert (sl.start, sl.end) == (4, 5)
    assert sl.lines == ("def f():", "    return y")


# --- 8. lock and pins validation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["releases"]["toy-1"]["files"][PATH].update(sha256="z" * 64),
            r"files\.toy_keras/src/engine/training\.py: field 'sha256' must be 64 lower-case hex",
        ),
        (
            lambda d: d["releases"]["toy-1"].update(wheel_sha256="g" * 64),
            r"releases\.toy-1: field 'wheel_sha256' must be 64 lower-case hex",
        ),
        (
            lambda d: d["releases"]["toy-1"]["files"][PATH].update(data_offset=-5),
            r"field 'data_offset' must not be negative",
        ),
    ],
)
def test_malformed_lock_fields_are_refused(project: Project, edit, message) -> None:
    restamp(project.lock, edit)
    with pytest.raises(LockError, match=message) as info:
        load_lock(project.lock)
    assert str(project.lock) in str(info.value)


def test_malformed_lock_is_a_configuration_error_in_a_build(
    make_app, overrides, tmp_path, project
) -> None:
    restamp(project.lock, lambda d: d["releases"]["toy-1"]["files"][PATH].update(sha256="z" * 64))
    src = page(tmp_path, f".. pincite-source:: toy-1 {PATH}\n")
    app = sphinx_build(make_app, src, overrides)  # no ConfigError: one message, then exit 1
    text = warnings_of(app)
    assert re.search(r"ERROR: .*pins\.lock\.json: releases\.toy-1\.files\..*'sha256'", text)
    assert "run `pincite lock --pins" in text
    assert text.count("ERROR") == 1, text
    assert app.statuscode == 1


def test_stale_lock_says_which_field_differs(project: Project) -> None:
    pins = load_pins(project.pins)
    lock = load_lock(project.lock)
    from dataclasses import replace

    lock["toy-1"] = replace(lock["toy-1"], version="0.9")
    with pytest.raises(
        LockError, match=r"release 'toy-1': version is locked as 0\.9, pinned as 1\.0"
    ):
        check_fresh(pins, lock, project.lock)


# --- 9. concurrent materialisation ---------------------------------------------------------


def test_concurrent_materialisation_never_collides(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex, tmp_path: Path
) -> None:
    store = SourceStore(
        load_pins(project.pins), load_lock(project.lock), cache, index_url=index.url, http=http
    )
    store.read_bytes("toy-1", PATH)
    root = tmp_path / "out"
    # The old fixed temporary name, occupied: a fixed-name writer fails here, a unique one not.
    (root / "toy-1" / (PATH + ".tmp")).mkdir(parents=True)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(30):
                store.materialize("toy-1", PATH, root)
                (root / "toy-1" / PATH).unlink(missing_ok=True)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.materialize("toy-1", PATH, root).read_text() == TRAINING_PY
    leftovers = [p.name for p in (root / "toy-1").rglob("*.part")]
    assert leftovers == []


# --- 10. smaller ones ------------------------------------------------------------------------


def test_reversed_line_range_says_so() -> None:
    with pytest.raises(SliceError, match=r"'50-40' is reversed: it starts at 50, after 40"):
        parse_line_range("50-40", 100)


def test_end_pattern_before_the_start_says_so() -> None:
    lines = ["a", "end here", "start here", "b"]
    with pytest.raises(
        SliceError,
        match=r"end-before pattern 'end here' matches only at L2, "
        r"before the slice starts at L4 \(start-after\)",
    ):
        narrow(lines, 1, 4, start_after="start here", end_before="end here")


def test_offline_build_with_a_corrupt_cached_file_says_it_was_corrupt(
    project: Project, cache: Cache, http: HttpClient, index: FakeIndex
) -> None:
    store = SourceStore(
        load_pins(project.pins), load_lock(project.lock), cache, index_url=index.url, http=http
    )
    store.read_bytes("toy-1", PATH)
    blob = store.blob_path("toy-1", PATH)
    blob.write_bytes(b"corrupted")
    offline = SourceStore(
        load_pins(project.pins), load_lock(project.lock), Cache(cache.root), offline=True
    )
    with pytest.raises(OfflineError, match=r"was corrupt in the cache at .* and has been removed"):
        offline.read_bytes("toy-1", PATH)
    assert not blob.exists()


def test_cold_offline_build_names_every_missing_file(make_app, overrides, tmp_path: Path) -> None:
    src = page(tmp_path, f".. pincite-source:: toy-1 {PATH}\n")
    app = sphinx_build(make_app, src, overrides, pincite_offline=True)
    text = warnings_of(app)
    assert re.search(
        r"offline build, but 2 cited file\(s\) are not in the cache at .*toy-1: "
        r"toy_keras/src/engine/training\.py; toy-2: toy_keras/src/engine/training\.py",
        text,
    ), text


def test_timeout_given_on_the_command_line_is_used(make_app, overrides, tmp_path: Path) -> None:
    from pincite.sphinxext import get_store

    src = page(tmp_path, f".. pincite-source:: toy-1 {PATH}\n   :pyobject: Model.losses\n")
    app = sphinx_build(make_app, src, overrides, pincite_timeout="2")  # as -D passes it
    assert "WARNING" not in warnings_of(app) and "ERROR" not in warnings_of(app), warnings_of(app)
    store, _ = get_store(app.config)
    assert store.http.timeout == 2.0
    app = sphinx_build(make_app, page(tmp_path / "b", ""), overrides, pincite_timeout="soon")
    assert (
        "pincite_timeout must be a number of seconds, got 'soon'; using the default 30.0 "
        "[pincite.config]" in warnings_of(app)
    ), warnings_of(app)
    assert get_store(app.config)[0].http.timeout == 30.0


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("pincite_diff_mode", "pretty", "must be one of exact, readable, got 'pretty'"),
        ("pincite_timeout", -1, "must be positive, got -1"),
        ("pincite_index_url", 3, "must be a string, got int 3"),
    ],
)
def test_bad_settings_warn_once_and_fall_back(
    make_app, overrides, tmp_path: Path, setting: str, value: object, message: str
) -> None:
    from pincite.config import PinciteConfig

    app = sphinx_build(make_app, page(tmp_path, ""), overrides, **{setting: value})
    warnings = warnings_of(app)
    assert warnings.count(f"{setting} {message}; using the default") == 1, warnings
    default = getattr(PinciteConfig(), setting.removeprefix("pincite_"))
    assert getattr(app.config, setting) == default
