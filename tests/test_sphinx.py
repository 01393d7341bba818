"""The directives inside real Sphinx builds (sphinx.testing fixtures and test roots)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FakeIndex, Project, warnings_of

PATH = "toy_keras/src/engine/training.py"
EXPECTED = Path(__file__).parent / "roots" / "test-basic" / "expected-doctree.txt"


def build(make_app, overrides, testroot: str, tmp_path: Path, app_kwargs=None, **extra):
    from sphinx.testing.util import SphinxTestApp  # noqa: F401  (documents the fixture type)

    srcdir = tmp_path / testroot
    import shutil

    shutil.copytree(Path(__file__).parent / "roots" / f"test-{testroot}", srcdir)
    app = make_app(
        "html", srcdir=srcdir, confoverrides={**overrides, **extra}, **(app_kwargs or {})
    )
    app.build()
    return app


def test_citation_renders_header_permalink_and_upstream_line_numbers(
    make_app, overrides, tmp_path: Path
) -> None:
    app = build(make_app, overrides, "basic", tmp_path)
    assert warnings_of(app) == ""
    html = (app.outdir / "index.html").read_text()
    # Header: dist version · path · Lstart–Lend · sha256 prefix, linking the tagged upstream.
    m = re.search(
        r'href="https://example\.invalid/toy/keras/blob/v1\.0/toy_keras/engine/training\.py'
        r'#L(\d+)-L(\d+)"[^>]*>toy-keras 1\.0 · toy_keras/src/engine/training\.py · '
        r"L(\d+)–L(\d+) · sha256 ([0-9a-f]{12})</a>",
        html,
    )
    assert m, html
    assert m[1] == m[3] and m[2] == m[4]
    # The first displayed line carries the real upstream number.
    first = re.search(r'<span class="linenos">\s*(\d+)</span>', html)
    assert first and first[1] == m[1]
    # The block names its release, for scripts and themes.
    assert re.search(r'class="[^"]*pincite-source pincite-release-toy-1', html)
    # The emphasised line is highlighted.
    assert re.search(r'<span class="hll">.*regularization_losses', html, re.S)
    # The page ends with the list of what it cites, one entry per file with each line range.
    tail = html[html.index("Sources cited on this page") :]
    items = re.findall(r"<li><p>(toy-keras \d\.\d) · ", tail)
    assert items == ["toy-keras 1.0", "toy-keras 2.0"]
    assert f"#L{m[1]}-L{m[2]}" in tail
    # The diff shows both headers and the changed line.
    assert "toy-keras 2.0 · toy_keras/src/engine/training.py" in html
    assert re.search(r"\+.*self\.losses.*\+.*\[\]", html)


def test_releases_table_is_rendered_from_the_lock(
    make_app, overrides, tmp_path: Path, project: Project
) -> None:
    import json

    app = build(make_app, overrides, "basic", tmp_path)
    html = (app.outdir / "releases.html").read_text()
    lock = json.loads(project.lock.read_text())
    for release in lock["releases"].values():
        assert release["wheel_sha256"] in html
        for entry in release["files"].values():
            assert entry["sha256"] in html
    assert 'href="https://example.invalid/toy/keras/tree/v2.0"' in html


def test_doctree_regression(make_app, overrides, tmp_path: Path, file_regression) -> None:
    """The first citation's doctree; `pytest --force-regen` rewrites the expected file."""
    app = build(make_app, overrides, "basic", tmp_path)
    doctree = app.env.get_doctree("index")
    from docutils import nodes

    first = next(iter(doctree.findall(nodes.container)))
    file_regression.check(first.pformat(), fullpath=EXPECTED)


def test_rebuild_with_warm_cache_is_offline(
    make_app, overrides, tmp_path: Path, index: FakeIndex
) -> None:
    build(make_app, overrides, "basic", tmp_path)
    hits = len(index.file_hits)
    assert hits == 2  # one range request per cited file
    # A fresh build from a fresh source copy, offline, with the cache the first one filled.
    app = build(make_app, overrides, "basic", tmp_path / "again", pincite_offline=True)
    assert warnings_of(app) == ""
    assert len(index.file_hits) == hits


def test_bad_citations_warn_with_page_line_and_subtype(make_app, overrides, tmp_path: Path) -> None:
    app = build(make_app, overrides, "errors", tmp_path)
    warnings = warnings_of(app)
    expected = [
        (4, r"unknown release 'toy-9'; did you mean toy-\d", "pins"),
        (7, "trainin.py is not a locked file of release 'toy-1'; did you mean", "lock"),
        (9, "symbol 'Model.compute_los' not found .*did you mean Model.compute_loss", "slice"),
        (12, "start-at pattern 'no such text' not found in Model.compute_loss", "slice"),
        (16, r":old: expects '<release> <path>'", "option"),
        (20, "Model.losses: no change between .* marked :cause: of a change", "cause"),
        (26, r"Model.compute_loss changed between .* marked :same: \(identical code\)", "same"),
        # line 32, the same on a symbol that did not change: no error
        (38, ":cause: .* and :same: .* contradict each other", "option"),
    ]
    for line, message, subtype in expected:
        assert re.search(
            rf"index\.rst:{line}: ERROR: .*{message}.*\[pincite\.{subtype}\]", warnings
        ), (line, warnings)
    assert warnings.count("ERROR") == len(expected)
    assert app.statuscode == 1  # fails closed, -W or not


def test_an_identical_diff_says_so_in_prose_of_exactly_the_lines_it_shows(
    make_app, overrides, tmp_path: Path
) -> None:
    app = build(make_app, overrides, "errors", tmp_path)
    html = (app.outdir / "index.html").read_text()
    verdicts = re.findall(
        r'<p class="pincite-unchanged"><strong>Identical: </strong>(.*?)</p>', html
    )
    # A whole symbol, and a narrowed slice of a symbol that did change elsewhere: only the
    # lines shown are called identical.
    assert verdicts[0] == "Model.losses: no change between toy-keras 1.0 and toy-keras 2.0."
    assert re.fullmatch(
        r"Model\.compute_loss, lines L(\d+)-L\1 → L(\d+)-L\2: no change between toy-keras "
        r"1\.0 and toy-keras 2\.0\.",
        verdicts[1],
    ), verdicts[1]
    assert len(verdicts) == 2
    # Under each verdict, the identical code itself (Python, not an empty diff).
    after = html[html.index(verdicts[0]) :]
    block = after[after.index("<pre>") : after.index("</pre>")]
    assert "_losses" in re.sub(r"<[^>]+>", "", block) and "highlight-python" in after[:2000]


def test_bad_citations_are_fatal_under_W(make_app, overrides, tmp_path: Path) -> None:
    from sphinx.errors import SphinxError

    with pytest.raises(SphinxError, match=r"unknown release .toy-9."):
        build(make_app, overrides, "errors", tmp_path, app_kwargs={"exception_on_warning": True})


def test_stale_lock_stops_the_build_naming_the_lock(
    make_app, overrides, tmp_path: Path, project: Project
) -> None:
    project.pins.write_text(project.pins.read_text().replace('id = "toy-2"', 'id = "toy-3"'))
    app = build(make_app, overrides, "basic", tmp_path)
    warnings = warnings_of(app)
    assert re.search(r"ERROR: .*pins\.lock\.json: stale lock .*'toy-3' is not locked", warnings)
    assert warnings.count("ERROR") == 1, warnings  # once, not once per citation
    assert app.statuscode == 1


def test_offline_cold_cache_names_the_missing_file(make_app, overrides, tmp_path: Path) -> None:
    app = build(make_app, overrides, "basic", tmp_path, pincite_offline=True)
    warnings = warnings_of(app)
    assert re.search(
        r"index\.rst:4: ERROR: toy-1: toy_keras/src/engine/training\.py .* is not in the cache "
        r".* offline.*\[pincite\.offline\]",
        warnings,
    ), warnings


def test_parallel_build_gives_the_same_pages_and_manifest(
    make_app, overrides, tmp_path: Path
) -> None:
    """-j 2: citations read in worker processes reach the environment and the manifest."""
    import shutil

    pages = [f"page{n}" for n in range(8)]  # Sphinx reads in parallel from 6 pages on
    for kind in ("serial", "parallel"):
        srcdir = tmp_path / kind / "drift"
        shutil.copytree(Path(__file__).parent / "roots" / "test-drift", srcdir)
        for page in pages:
            (srcdir / f"{page}.rst").write_text(
                (srcdir / "nested.rst").read_text().replace("Nested", page.title())
            )
        index = srcdir / "index.rst"
        index.write_text(
            index.read_text().replace("   nested\n", "".join(f"   {p}\n" for p in pages))
        )
        (srcdir / "nested.rst").unlink()
    serial = make_app("html", srcdir=tmp_path / "serial" / "drift", confoverrides=overrides)
    serial.build()
    parallel = make_app(
        "html", srcdir=tmp_path / "parallel" / "drift", confoverrides=overrides, parallel=2
    )
    parallel.build()
    assert parallel.parallel == 2 and warnings_of(parallel) == ""
    for name in ("index.html", "page3.html"):
        ours = (Path(parallel.outdir) / name).read_text()
        theirs = (Path(serial.outdir) / name).read_text()
        assert ours == theirs and "pincite-permalink" in ours
    manifest = (Path(parallel.outdir) / "pincite-citations.json").read_text()
    assert manifest == (Path(serial.outdir) / "pincite-citations.json").read_text()
    assert sorted(parallel.env.pincite_citations) == ["index", *pages]


def test_incremental_builds_follow_edits_and_removed_pages(
    make_app, overrides, tmp_path: Path
) -> None:
    """Edit a page, then remove one: the environment, the lists and the manifest follow."""
    import json

    app = build(make_app, overrides, "drift", tmp_path)
    srcdir, outdir = Path(app.srcdir), Path(app.outdir)
    manifest = outdir / "pincite-citations.json"

    def cited() -> set[tuple[str, str]]:
        data = json.loads(manifest.read_text())["citations"]
        return {(c["docname"], c["options"].get("pyobject")) for c in data}

    assert ("nested", "Model.train_step") in cited()
    nested = srcdir / "nested.rst"
    nested.write_text(nested.read_text().replace("Model.train_step", "Model.losses"))
    again = make_app("html", srcdir=srcdir, confoverrides=overrides)
    again.build()
    assert ("nested", "Model.losses") in cited() and ("nested", "Model.train_step") not in cited()

    nested.unlink()
    index = srcdir / "index.rst"
    index.write_text(index.read_text().replace("   nested\n", ""))
    last = make_app("html", srcdir=srcdir, confoverrides=overrides)
    last.build()
    assert {doc for doc, _ in cited()} == {"index"}
    assert "nested" not in last.env.pincite_citations


# --- fail closed, in plain words: sphinx-build itself, in a subprocess -----------------------


def _sphinx_build(srcdir: Path, overrides: dict, *args: str) -> subprocess.CompletedProcess:
    """Run ``sphinx-build`` as a user would (no -W); its output and status."""
    defines = [f"-D{k}={v}" for k, v in overrides.items()]
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-q", *defines, *args, str(srcdir),
         str(srcdir / "_build")],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("pins version", "field 'version' is 1.1, the wheel is version 1.0"),
        ("lock offset", "edited by hand or is damaged; run `pincite lock --pins"),
        ("unwritable materialise folder", "while materialising into"),
        ("misspelt symbol", "symbol 'Model.compute_los' not found"),
        ("cold offline cache", "offline build, but 2 cited file(s) are not in the cache"),
    ],
)
def test_every_error_is_one_plain_message_and_a_failed_build(
    tmp_path: Path, project: Project, overrides: dict, damage: str, message: str
) -> None:
    import shutil

    srcdir = tmp_path / "basic"
    shutil.copytree(Path(__file__).parent / "roots" / "test-basic", srcdir)
    extra: dict[str, object] = {}
    if damage == "pins version":
        project.pins.write_text(
            project.pins.read_text().replace('version = "1.0"', 'version = "1.1"')
        )
    elif damage == "lock offset":
        _edit_json(
            project.lock,
            lambda d: d["releases"]["toy-1"]["files"][PATH].update(data_offset=1),
        )
    elif damage == "unwritable materialise folder":
        blocker = tmp_path / "blocker"
        blocker.write_text("not a folder")
        extra["pincite_materialize_dir"] = str(blocker / "sources")
    elif damage == "misspelt symbol":
        index = srcdir / "index.rst"
        index.write_text(index.read_text().replace("Model.compute_loss", "Model.compute_los", 1))
    else:
        extra["pincite_offline"] = "1"
    proc = _sphinx_build(srcdir, {**overrides, **extra})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert message in output, output
    for banner in ("Traceback", "sphinx-doc", "Exception occurred", "Configuration error"):
        assert banner not in output, output
    # One message for the fault (an offline cache also names each citation it stops).
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == (1 + 3 if damage == "cold offline cache" else 1), output


def test_drafts_build_with_failed_citations_as_warnings(tmp_path: Path, overrides: dict) -> None:
    import shutil

    srcdir = tmp_path / "errors"
    shutil.copytree(Path(__file__).parent / "roots" / "test-errors", srcdir)
    proc = _sphinx_build(srcdir, {**overrides, "pincite_on_error": "warning"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING: unknown release 'toy-9'" in proc.stderr
    failing = _sphinx_build(srcdir, overrides, "-E")
    assert failing.returncode == 1 and "ERROR: unknown release 'toy-9'" in failing.stderr


def test_a_release_without_repository_and_tag_is_cited_without_a_permalink(
    make_app, overrides, tmp_path: Path, project: Project
) -> None:
    text = project.pins.read_text()
    text = text.replace('repository = "https://example.invalid/toy/keras"\ntag = "v1.0"\n', "", 1)
    project.pins.write_text(text.replace('path-map = { "toy_keras/src/" = "toy_keras/" }\n', ""))
    app = build(make_app, overrides, "basic", tmp_path)
    assert "ERROR" not in warnings_of(app) and "WARNING" not in warnings_of(app), warnings_of(app)
    page = (Path(app.outdir) / "index.html").read_text()
    assert "sha256 " in page and "· no permalink" in page
    assert "https://example.invalid/toy/keras/blob/v1.0" not in page
    assert "https://example.invalid/toy/keras/blob/v2.0" in page  # toy-2 still has its own
