"""`pincite drift`: the manifest a build writes, read against a newer release on loopback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import TRAINING_PY, FakeIndex, Project, make_wheel
from pincite.cache import Cache
from pincite.cli import main
from pincite.drift import check_drift, format_report, newest_wheel
from pincite.errors import ManifestError, PinsError
from pincite.http import HttpClient
from pincite.index import IndexFile
from pincite.lock import load_lock
from pincite.manifest import MANIFEST_NAME, load_manifest
from pincite.pins import load_pins
from pincite.store import SourceStore

PATH = "toy_keras/src/engine/training.py"


def build_manifest(make_app, overrides, tmp_path: Path) -> Path:
    srcdir = tmp_path / "drift"
    shutil.copytree(Path(__file__).parent / "roots" / "test-drift", srcdir)
    app = make_app("html", srcdir=srcdir, confoverrides=overrides)
    app.build()
    return Path(app.outdir) / MANIFEST_NAME


def test_manifest_records_every_directive_and_no_example(
    make_app, overrides, tmp_path: Path
) -> None:
    records = load_manifest(build_manifest(make_app, overrides, tmp_path))
    got = {(r.source, r.line, r.role, r.release, r.options.get("pyobject")) for r in records}
    assert got == {
        ("index.rst", 8, "source", "toy-1", "Model.compute_loss"),
        ("index.rst", 23, "source", "toy-1", "Model.losses"),  # indented in a note
        ("nested.rst", 4, "old", "toy-1", "Model.train_step"),
        ("nested.rst", 4, "new", "toy-2", "Model.train_step"),
        ("nested.rst", 9, "source", "toy-1", "Model.compute_loss"),
    }  # and not the `Model.nothing_here` example inside the code block
    narrowed = next(r for r in records if r.options.get("start_after"))
    assert narrowed.options == {
        "dedent": True,
        "pyobject": "Model.compute_loss",
        "start_after": "del x",
    }
    source = TRAINING_PY.splitlines()
    assert source[narrowed.start - 1].strip().startswith("return self.compiled_loss(")
    assert len(narrowed.sha256) == len(narrowed.slice_sha256) == 64


def test_manifest_is_rewritten_only_when_citations_change(
    make_app, overrides, tmp_path: Path
) -> None:
    path = build_manifest(make_app, overrides, tmp_path)
    before = path.stat().st_mtime_ns
    app = make_app("html", srcdir=tmp_path / "drift", confoverrides=overrides)
    app.build()
    assert path.stat().st_mtime_ns == before
    page = tmp_path / "drift" / "nested.rst"
    page.write_text(page.read_text().split(".. pincite-source::")[0])
    app = make_app("html", srcdir=tmp_path / "drift", confoverrides=overrides)
    app.build()
    assert len(load_manifest(path)) == 4


def test_drift_cuts_each_slice_again_with_its_own_narrowing(
    make_app, overrides, project: Project, index: FakeIndex, tmp_path: Path
) -> None:
    manifest = build_manifest(make_app, overrides, tmp_path)
    newer = TRAINING_PY.replace("sample_weight, regularization_losses", "sample_weight, reg")
    newer = newer.replace("    def train_step(self, data):", "    def fit_step(self, data):")
    # Model.losses only re-wrapped: formatting, not a change a page would have to follow.
    newer = newer.replace(
        "return list(self._losses)", "return list(\n            self._losses,\n        )"
    )
    fn, wheel = make_wheel("toy-keras", "3.0", {PATH: newer.encode()})
    index.add("toy-keras", fn, wheel)
    index.add("toy-keras", "toy_keras-4.0rc1-py3-none-any.whl", wheel)  # pre-releases skipped
    index.file_hits.clear()
    http = HttpClient(timeout=5, retries=1)
    store = SourceStore(
        load_pins(project.pins),
        load_lock(project.lock),
        Cache(tmp_path / "c"),
        index_url=index.url,
        http=http,
    )
    drifts = check_drift(store, load_manifest(manifest), http)
    by = {(d.citation.release, d.citation.source, d.citation.line): d for d in drifts}
    assert {d.newest for d in drifts} == {"3.0"}
    # The changed line is after `del x`: the narrowed slice changed ...
    changed = by[("toy-1", "index.rst", 8)]
    assert changed.status == "changed"
    assert "+    y, y_pred, sample_weight, reg=self.losses" in changed.diff
    # ... and the slice that ends before `del x`, of the same symbol, did not.
    assert by[("toy-1", "nested.rst", 9)].status == "unchanged"
    reformatted = by[("toy-1", "index.rst", 23)]
    assert reformatted.status == "reformatted" and "formatting only" in reformatted.detail
    gone = by[("toy-1", "nested.rst", 4)]
    assert gone.status == "gone" and "did you mean Model.fit_step" in gone.detail  # a rename
    assert by[("toy-2", "nested.rst", 4)].status == "gone"
    report = format_report(drifts)
    assert "5 citations: 1 unchanged, 1 reformatted, 1 changed, 2 gone, 0 error" in report
    assert "(end-before: del x)" in report and "[nested.rst:9 L" in report
    # Read-only, and only ranges of the newest wheel were read: never the whole file.
    assert index.file_hits and all(hit.startswith("bytes=") for hit in index.file_hits)


def _files(*names: str) -> dict[str, IndexFile]:
    return {n: IndexFile(n, f"http://127.0.0.1:9/{n}", "0" * 64, 1) for n in names}


def test_newest_wheel_stays_within_the_pins_line(tmp_path: Path) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(
        '[[release]]\nid = "k2"\nproject = "keras"\nversion = "2.15.0"\n'
        'wheel = "keras-2.15.0-py3-none-any.whl"\nrepository = "https://example.invalid/k"\n'
        'tag = "v2.15.0"\ndrift-within = "<3"\n'
    )
    release = load_pins(pins)["k2"]
    files = _files(
        "keras-2.15.0-py3-none-any.whl",
        "keras-2.16.1-py3-none-any.whl",
        "keras-3.15.1-py3-none-any.whl",
        "keras-2.17.0rc0-py3-none-any.whl",
        "keras-1!0.1-py3-none-any.whl",  # an epoch: a valid name, and newer than all of them
        "keras-2.16.1.tar.gz",
    )
    assert newest_wheel(files, release).filename == "keras-2.16.1-py3-none-any.whl"
    pins.write_text(pins.read_text().replace('drift-within = "<3"\n', ""))
    assert newest_wheel(files, load_pins(pins)["k2"]).filename == "keras-1!0.1-py3-none-any.whl"


@pytest.mark.parametrize(
    ("within", "message"),
    [('">=3"', "excludes the pinned version 2.15.0"), ('"<<3"', "drift-within"), ("3", "string")],
)
def test_bad_drift_within_is_refused_naming_the_field(
    tmp_path: Path, within: str, message: str
) -> None:
    pins = tmp_path / "pins.toml"
    pins.write_text(
        '[[release]]\nid = "k2"\nproject = "keras"\nversion = "2.15.0"\n'
        'wheel = "keras-2.15.0-py3-none-any.whl"\nrepository = "https://example.invalid/k"\n'
        f'tag = "v2.15.0"\ndrift-within = {within}\n'
    )
    with pytest.raises(PinsError, match=rf"release 'k2': field .*{message}"):
        load_pins(pins)


def test_drift_without_a_manifest_says_to_build_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["drift", "--manifest", str(tmp_path / "none.json")]) == 1
    assert "build the site first" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"manifest-version": 1, "citations": [{"release": "x"}]}))
    with pytest.raises(ManifestError, match=r"bad.json: citations\[0\]"):
        load_manifest(bad)


def test_size_of_a_remote_file_comes_from_a_one_byte_range(
    project: Project, index: FakeIndex
) -> None:
    http = HttpClient(timeout=5, retries=1)
    fn, wheel = next(iter(project.wheels.items()))
    assert http.size(index.server.url_for(f"/files/{fn}")) == len(wheel)
    assert index.file_hits[-1] == "bytes=0-0"


def test_a_file_moved_inside_its_package_is_followed(
    make_app, overrides, project: Project, index: FakeIndex, tmp_path: Path
) -> None:
    from pincite.drift import moved_to

    names = ["keras/src/engine/training.py", "keras/src/engine/base_layer.py", "keras/x.py"]
    assert moved_to("keras/engine/training.py", names) == "keras/src/engine/training.py"
    assert moved_to("keras/engine/network.py", names) is None
    assert moved_to("other/engine/training.py", names) is None  # another package
    two = [*names, "keras/legacy/engine/training.py"]
    assert moved_to("keras/engine/training.py", two) is None  # ambiguous: not followed

    manifest = build_manifest(make_app, overrides, tmp_path)
    fn, wheel = make_wheel(
        "toy-keras", "5.0", {"toy_keras/engine/training.py": TRAINING_PY.encode()}
    )
    index.add("toy-keras", fn, wheel)
    http = HttpClient(timeout=5, retries=1)
    store = SourceStore(
        load_pins(project.pins), load_lock(project.lock), Cache(tmp_path / "c"),
        index_url=index.url, http=http,
    )  # fmt: skip
    drifts = check_drift(store, load_manifest(manifest), http)
    first = next(d for d in drifts if (d.citation.source, d.citation.line) == ("index.rst", 8))
    assert first.status == "unchanged" and "moved to toy_keras/engine/training.py" in first.detail
    assert "moved to toy_keras/engine/training.py" in format_report(drifts)
