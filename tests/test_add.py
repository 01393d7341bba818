"""``pincite add``: a release's pins entry from the index, against a loopback index."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from conftest import FakeIndex, make_wheel
from pincite.cli import main
from pincite.pins import load_pins

SESSIONS = b"class Session:\n    def request(self, method, url):\n        return method, url\n"
URLS = "Project-URL: Documentation, https://docs.example.invalid/\n"


def sdist(name: str, version: str, members: list[str]) -> tuple[str, bytes]:
    """A ``.tar.gz`` sdist holding ``members`` under its top folder."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member in members:
            info = tarfile.TarInfo(f"{name}-{version}/{member}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return f"{name}-{version}.tar.gz", buf.getvalue()


@pytest.fixture
def published(index: FakeIndex) -> FakeIndex:
    """``toyreq`` 1.0 (a src/ layout, a repository URL) and 1.1 (neither) on the index."""
    metadata = URLS + "Project-URL: Source, https://git.example.invalid/toy/toyreq.git\n"
    for version, meta, layout in (("1.0", metadata, "src/"), ("1.1", "", "")):
        name, data = make_wheel("toyreq", version, {"toyreq/sessions.py": SESSIONS}, metadata=meta)
        index.add("toyreq", name, data)
        name, data = sdist("toyreq", version, [f"{layout}toyreq/sessions.py", "pyproject.toml"])
        index.add("toyreq", name, data)
    return index


def add(index: FakeIndex, pins: Path, *args: str) -> int:
    return main(["add", *args, "--pins", str(pins), "--index-url", index.url])


def test_add_writes_an_entry_nobody_typed(published: FakeIndex, tmp_path: Path, capsys) -> None:
    pins = tmp_path / "pins.toml"
    assert add(published, pins, "toyreq==1.0", "--files", "toyreq/sessions.py") == 0
    release = load_pins(pins)["toyreq-1.0"]
    assert release.wheel == "toyreq-1.0-py3-none-any.whl"
    assert release.repository == "https://git.example.invalid/toy/toyreq"
    assert release.tag == "v1.0"
    assert release.path_map == {"toyreq/": "src/toyreq/"}
    assert release.permalink("toyreq/sessions.py", 2, 3) == (
        "https://git.example.invalid/toy/toyreq/blob/v1.0/src/toyreq/sessions.py#L2-L3"
    )
    text = pins.read_text()
    assert "# proposed from the wheel's metadata" in text and "check that it exists" in text
    out = capsys.readouterr().out
    assert "next: pincite lock --pins" in out and f"from the index at {published.url}" in out
    assert "the tag 'v1.0' is a guess" in out and "git ls-remote --tags" in out


def test_add_without_a_repository_says_there_will_be_no_permalink(
    published: FakeIndex, tmp_path: Path, capsys
) -> None:
    pins = tmp_path / "pins.toml"
    assert add(published, pins, "toyreq==1.1", "--files", "toyreq/sessions.py", "--id", "t") == 0
    release = load_pins(pins)["t"]
    assert (release.repository, release.tag, release.path_map) == ("", "", {})
    assert "no permalink until you add `repository` and `tag`" in capsys.readouterr().out


def test_add_appends_and_refuses_a_second_entry_of_one_id(
    published: FakeIndex, tmp_path: Path, capsys
) -> None:
    pins = tmp_path / "pins.toml"
    assert add(published, pins, "toyreq==1.0") == 0
    assert add(published, pins, "toyreq==1.1") == 0
    before = pins.read_text()
    assert set(load_pins(pins)) == {"toyreq-1.0", "toyreq-1.1"}
    assert add(published, pins, "toyreq==1.0") == 1
    assert "release 'toyreq-1.0' is already pinned" in capsys.readouterr().err
    assert pins.read_text() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["toyreq==1.9"], "nearest versions with wheels: 1.0, 1.1"),
        (["toyreq>=1.0"], "give one exact version, e.g. toyreq==1.2.3"),
        (
            ["toyreq==1.0", "--files", "toyreq/session.py"],
            "did you mean toyreq/sessions.py",
        ),
    ],
)
def test_add_explains_what_it_cannot_do(
    published: FakeIndex, tmp_path: Path, capsys, args, message
) -> None:
    pins = tmp_path / "pins.toml"
    assert add(published, pins, *args) == 1
    assert message in capsys.readouterr().err
    assert not pins.exists()  # nothing half-written
