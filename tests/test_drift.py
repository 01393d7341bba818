"""`pincite drift` against a loopback index that has published a newer release."""

from __future__ import annotations

from pathlib import Path

from conftest import TRAINING_PY, FakeIndex, Project, make_wheel
from pincite.cache import Cache
from pincite.drift import check_drift, find_citations, format_report
from pincite.http import HttpClient
from pincite.lock import load_lock
from pincite.pins import load_pins
from pincite.store import SourceStore

PAGE = """\
# A page

```{pincite-source} toy-1 toy_keras/src/engine/training.py
:pyobject: Model.compute_loss
:start-after: "del x"
```

```{pincite-source} toy-1 toy_keras/src/engine/training.py
---
pyobject: Model.losses
emphasize: |
  return
---
```

```{pincite-diff}
:old: toy-1 toy_keras/src/engine/training.py
:new: toy-2 toy_keras/src/engine/training.py
:pyobject: Model.train_step
```
"""


def test_find_citations_reads_options_blocks_and_diffs(tmp_path: Path) -> None:
    (tmp_path / "page.md").write_text(PAGE)
    found = {(c.release, c.pyobject, c.where) for c in find_citations(tmp_path)}
    assert found == {
        ("toy-1", "Model.compute_loss", "page.md:3"),
        ("toy-1", "Model.losses", "page.md:8"),
        ("toy-1", "Model.train_step", "page.md:16"),
        ("toy-2", "Model.train_step", "page.md:16"),
    }


def test_drift_reports_unchanged_changed_and_gone(
    project: Project, index: FakeIndex, tmp_path: Path
) -> None:
    newer = TRAINING_PY.replace("sample_weight, regularization_losses", "sample_weight, reg")
    newer = newer.replace("    def train_step(self, data):", "    def fit_step(self, data):")
    fn, wheel = make_wheel("toy-keras", "3.0", {"toy_keras/src/engine/training.py": newer.encode()})
    index.add("toy-keras", fn, wheel)
    index.add("toy-keras", "toy_keras-4.0rc1-py3-none-any.whl", wheel)  # pre-releases are skipped
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(PAGE)
    http = HttpClient(timeout=5, retries=1)
    store = SourceStore(
        load_pins(project.pins),
        load_lock(project.lock),
        Cache(tmp_path / "c"),
        index_url=index.url,
        http=http,
    )
    drifts = {
        (d.citation.release, d.citation.pyobject): d
        for d in check_drift(store, find_citations(tmp_path / "docs"), http)
    }
    assert {k: d.newest for k, d in drifts.items()} == dict.fromkeys(drifts, "3.0")
    assert drifts[("toy-1", "Model.losses")].status == "unchanged"
    changed = drifts[("toy-1", "Model.compute_loss")]
    assert changed.status == "changed"
    assert "+        y, y_pred, sample_weight, reg=self.losses" in changed.diff
    gone = drifts[("toy-1", "Model.train_step")]
    assert gone.status == "gone" and "did you mean Model.fit_step" in gone.detail  # a rename
    assert drifts[("toy-2", "Model.train_step")].status == "gone"
    report = format_report(list(drifts.values()))
    assert "4 citations: 1 unchanged, 1 changed, 2 gone, 0 error" in report
    # Read-only, and only ranges of the newest wheel were read: never the whole file.
    assert all(hit.startswith("bytes=") for hit in index.file_hits)


def test_size_of_a_remote_file_comes_from_a_one_byte_range(
    project: Project, index: FakeIndex
) -> None:
    http = HttpClient(timeout=5, retries=1)
    fn, wheel = next(iter(project.wheels.items()))
    assert http.size(index.server.url_for(f"/files/{fn}")) == len(wheel)
    assert index.file_hits[-1] == "bytes=0-0"
