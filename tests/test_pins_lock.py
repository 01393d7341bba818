"""Pins and lock files: precise errors naming the file and field; locking checks the RECORD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FakeIndex, Project, make_wheel
from pincite.errors import IntegrityError, LockError, PinsError
from pincite.http import HttpClient
from pincite.lock import check_fresh, content_digest, dump_lock, load_lock
from pincite.lockbuild import build_lock
from pincite.pins import load_pins

GOOD = """\
[[release]]
id = "k-1"
project = "k"
version = "1"
wheel = "k-1-py3-none-any.whl"
repository = "https://example.invalid/k"
tag = "v1"
path-map = { "k/src/" = "k/" }
files = ["k/src/a.py"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pins.toml"
    path.write_text(text)
    return path


def test_good_pins_and_permalinks(tmp_path: Path) -> None:
    rel = load_pins(write(tmp_path, GOOD))["k-1"]
    assert rel.permalink("k/src/a.py", 3, 9) == "https://example.invalid/k/blob/v1/k/a.py#L3-L9"
    assert rel.permalink("other/b.py", 4, 4) == "https://example.invalid/k/blob/v1/other/b.py#L4"
    assert rel.label == "k 1"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('tag = "v1"\n', ""), r"#1: field 'repository' needs 'tag' too"),
        (lambda s: s.replace('id = "k-1"', 'id = "K 1"'), r"release 'K 1': field 'id' must"),
        (lambda s: s.replace("k-1-py3-none-any.whl", "k-1.tar.gz"), r"'wheel' must name a .whl"),
        (lambda s: s.replace('["k/src/a.py"]', '"k/src/a.py"'), r"field 'files' must be a list"),
        (lambda s: s + "colour = 1\n", r"unknown field\(s\) colour"),
        (lambda s: s + s, r"release 'k-1': duplicate id"),
        (lambda s: s.replace("[[release]]", "[[release]"), r"not valid TOML"),
        (lambda s: "", r"expected one or more \[\[release\]\]"),
    ],
)
def test_malformed_pins_name_file_and_field(tmp_path: Path, edit, message: str) -> None:
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(PinsError, match=message) as info:
        load_pins(path)
    assert str(path) in str(info.value)


def test_lock_round_trip_and_malformed_lock(project: Project, tmp_path: Path) -> None:
    lock = load_lock(project.lock)
    assert set(lock) == {"toy-1", "toy-2"}
    entry = lock["toy-1"].files["toy_keras/src/engine/training.py"]
    assert entry.compression == "deflate" and entry.compressed_size < entry.size
    copy = tmp_path / "copy.json"
    dump_lock(lock, copy)
    assert load_lock(copy) == lock

    data = json.loads(project.lock.read_text())
    del data["releases"]["toy-2"]["files"]["toy_keras/src/engine/training.py"]["data_offset"]
    copy.write_text(json.dumps(data))
    # A hand edit is refused by the content digest first ...
    with pytest.raises(LockError, match=r"copy\.json: field 'content-sha256' does not match"):
        load_lock(copy)
    # ... and, re-stamped, by the field check.
    data["content-sha256"] = content_digest(data["releases"])
    copy.write_text(json.dumps(data))
    with pytest.raises(
        LockError,
        match=r"releases\.toy-2\.files\.toy_keras/src/engine/training\.py: field 'data_offset'",
    ):
        load_lock(copy)
    copy.write_text("{not json")
    with pytest.raises(LockError, match=r"copy\.json: not readable JSON"):
        load_lock(copy)


def test_stale_lock_is_refused(project: Project) -> None:
    pins = load_pins(project.pins)
    lock = load_lock(project.lock)
    check_fresh(pins, lock, project.lock)  # fresh: no error
    del lock["toy-2"]
    with pytest.raises(LockError, match=r"release 'toy-2' is not locked") as info:
        check_fresh(pins, lock, project.lock)
    advice = info.value.advice({"lock": "nox -s lock", "fetch": ""})
    assert advice.endswith("; run `nox -s lock` to regenerate it")


def test_lock_refuses_file_missing_from_wheel_with_hint(
    tmp_path: Path, index: FakeIndex, http: HttpClient
) -> None:
    fn, wheel = make_wheel("k", "1", {"k/src/a.py": b"x = 1\n"})
    index.add("k", fn, wheel)
    pins = load_pins(
        write(
            tmp_path, GOOD.replace("k/src/a.py", "k/src/aa.py").replace("k-1-py3-none-any.whl", fn)
        )
    )
    with pytest.raises(LockError, match=r"k/src/aa\.py is not in .*did you mean k/src/a\.py"):
        build_lock(pins, http, index.url, log=lambda *a: None)


def test_lock_checks_the_record_and_the_index_hash(
    tmp_path: Path, index: FakeIndex, http: HttpClient
) -> None:
    fn, wheel = make_wheel("k", "1", {"k/src/a.py": b"x = 1\n"}, tamper_record=True)
    index.add("k", fn, wheel)
    pins = load_pins(write(tmp_path, GOOD.replace("k-1-py3-none-any.whl", fn)))
    with pytest.raises(IntegrityError, match="RECORD says"):
        build_lock(pins, http, index.url, log=lambda *a: None)
    index.index_sha_override = "0" * 64
    with pytest.raises(IntegrityError, match="index says"):
        build_lock(pins, http, index.url, log=lambda *a: None)


def test_lock_refresh_reuses_verified_wheels_and_downloads_nothing(
    project: Project, index: FakeIndex, tmp_path: Path
) -> None:
    from pincite.lockbuild import WheelCache

    pins, wheels = load_pins(project.pins), WheelCache(tmp_path / "cache")
    first = HttpClient(timeout=5)
    locked = build_lock(pins, first, index.url, log=lambda *a: None, wheels=wheels)
    assert first.stats.bytes_by_kind.get("whole", 0) == sum(map(len, project.wheels.values()))
    again = HttpClient(timeout=5)
    relocked = build_lock(
        pins, again, index.url, log=lambda *a: None, previous=locked, wheels=wheels
    )
    assert relocked == locked and again.stats.requests == 0
    # A kept wheel damaged on disk is dropped and fetched again, never used.
    kept = wheels.path_for(locked["toy-1"].wheel, locked["toy-1"].wheel_sha256)
    kept.write_bytes(kept.read_bytes()[:-1] + b"!")
    third = HttpClient(timeout=5)
    assert (
        build_lock(pins, third, index.url, log=lambda *a: None, previous=locked, wheels=wheels)[
            "toy-1"
        ]
        == locked["toy-1"]
    )
    assert third.stats.bytes_by_kind["whole"] == len(project.wheels[locked["toy-1"].wheel])


def test_lock_cli_reports_what_it_fetched(
    project: Project, index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pincite.cli import main

    args = ["lock", "--pins", str(project.pins), "--index-url", index.url]
    args += ["--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("0 request(s), 0 bytes received")
