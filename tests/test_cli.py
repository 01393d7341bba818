"""`pincite lock` and `pincite fetch` against the loopback index."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FakeIndex, Project
from pincite.cli import main


def test_lock_then_fetch_then_fetch_again_offline(
    project: Project, index: FakeIndex, tmp_path: Path, capsys
) -> None:
    lock = tmp_path / "fresh.lock.json"
    assert (
        main(["lock", "--pins", str(project.pins), "--lock", str(lock), "--index-url", index.url])
        == 0
    )
    assert json.loads(lock.read_text()) == json.loads(project.lock.read_text())
    cache = tmp_path / "cli-cache"
    argv = ["fetch", "--pins", str(project.pins), "--lock", str(lock), "--index-url", index.url]
    assert main([*argv, "--cache-dir", str(cache)]) == 0
    assert "materialised 2 file(s)" in capsys.readouterr().out
    assert main([*argv, "--cache-dir", str(cache)]) == 0
    assert "0 request(s), 0 bytes received" in capsys.readouterr().out


def test_errors_are_one_line_and_exit_1(project: Project, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[release]]\nid = 3\n")
    assert main(["fetch", "--pins", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pincite fetch: error: ") and "field 'id'" in err and str(bad) in err
