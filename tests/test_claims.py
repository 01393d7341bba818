"""The release grid, the claims catalog, the results the site renders, ranges and the export."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from claims import (
    catalog,
    grid,
    proofs,  # NumPy only at import; Keras is loaded by Lab
    provenance,
    ranges,
    sphinxext,
)
from conftest import warnings_of

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "claims"

SMALL_GRID = """
[base.old]
requires = ["jax==0.4.28"]
[base.new]
requires = ["jax==0.10.2"]
[base.tf]
requires = ["tensorflow-cpu==2.21.0"]

[line.keras]
label = "Keras"
dist = "keras"
overlay = "keras"
releases = ["3.12.4", "3.13.2", "3.14.1", "3.15.1"]
[line.keras.backends]
jax = { "<3.13" = "old", "" = "new" }
tensorflow = { "" = "tf" }

[line.tf_keras]
label = "tf-keras"
dist = "tf-keras"
releases = ["2.20.1", "2.21.0"]
[line.tf_keras.backends]
tensorflow = { "" = "tf" }
"""

SMALL_CATALOG = """
[[claim]]
id = "divided"
title = "Divided"
statement = "divided by the batch size"
holds = ["keras >=3.14", "tf_keras"]

[[claim]]
id = "mirrored"
title = "Mirrored"
statement = "scaled"
holds = ["keras >=3.13 on tensorflow", "tf_keras"]
runs = ["keras on tensorflow", "tf_keras"]
refuses = ["keras <3.13 on tensorflow"]
"""


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    """A four-release grid and a two-claim catalog, written by the test."""
    (tmp_path / "grid.toml").write_text(SMALL_GRID)
    (tmp_path / "catalog.toml").write_text(SMALL_CATALOG)
    return tmp_path / "catalog.toml", tmp_path / "grid.toml"


def fake_results(cat: catalog.Catalog, outcome) -> dict:
    """Results in which ``outcome(claim, env)`` is what every run measured."""
    envs = {}
    for env in cat.envs.values():
        results = {}
        for claim in cat.claims.values():
            if claim.expected(env) != catalog.NA:
                got = outcome(claim, env)
                variant = {"variant": "fit", "axes": {"entry": "fit"}, "outcome": got,
                           "numbers": {"x": 1.0}}  # fmt: skip
                results[claim.id] = {"outcome": got, "variants": [variant]}
        envs[env.id] = {"env": env.id, "versions": {"keras": env.release}, "results": results}
    return {"fingerprint": "f", "envs": envs}


# --- the grid --------------------------------------------------------------------------------


def test_grid_covers_every_line_and_backend() -> None:
    g = grid.load_grid()
    assert len(g.envs) >= 130
    keras3 = [e for e in g.envs.values() if e.line == "keras"]
    assert {e.backend for e in keras3} == {"jax", "tensorflow", "torch"}
    assert {e.minor for e in keras3} == {f"3.{n}" for n in range(16)}
    # Every release as the grid last listed them, patch releases included, on every backend.
    listed = json.loads((CLAIMS / "releases.json").read_text())["lines"]
    wanted = {v for v in listed["keras"] if Version(v) >= Version("3.0.0")}
    assert {"3.0.0", "3.3.0", "3.3.3", "3.12.0"} <= wanted
    for backend in ("jax", "tensorflow", "torch"):
        assert {e.release for e in keras3 if e.backend == backend} == wanted
    assert {e.minor for e in g.envs.values() if e.line == "tf.keras"} == {
        f"2.{n}" for n in range(5, 16)
    }
    # tf.keras 2.5-2.11 and standalone Keras 2.3.1 run in the bullseye root filesystem: on its
    # Python 3.9, and Keras 2.3.1 on its own TensorFlow on its Python 2.7; the rest on 3.11.
    for env in g.envs.values():
        old = env.line == "keras2" or (
            env.line == "tf.keras" and Version(env.release) < Version("2.12")
        )
        assert (g.bases[env.base].system == "bullseye") == old, env.id
        on_2_7 = env.id == "keras2-2.3.1-tensorflow"
        assert g.python_of(env.base) == ("2.7" if on_2_7 else "3.9" if old else "3.11"), env.id
        if on_2_7:  # pip 20.3 has no --exclude-newer: every distribution is pinned instead
            pins = [Requirement(r).specifier for r in g.bases[env.base].requires]
            assert all(len(p) == 1 and next(iter(p)).operator == "==" for p in pins), pins
        elif old:  # their dependencies as they were when each was released
            assert g.bases[env.base].exclude_newer, env.id
    assert {e.backend for e in g.envs.values() if e.line == "keras2"} == {"tensorflow", "theano"}
    assert {e.minor for e in g.envs.values() if e.line == "tf_keras"} == {
        f"2.{n}" for n in range(16, 22)
    }
    # Old Keras runs over a contemporary backend, and only Keras changes between neighbours.
    assert g.envs["keras-3.0.0-jax"].base == "jax-0.4.23"
    assert g.envs["keras-3.9.0-jax"].base == "jax-0.4.28"
    assert g.envs["keras-3.8.0-tensorflow"].overlay == "keras==3.8.0"
    assert g.envs["tf_keras-2.16.0"].overlay == "tf-keras==2.16.0"
    assert g.envs["tf.keras-2.15.1"].overlay is None


def test_grid_base_requirements_include_the_lines_that_use_them() -> None:
    g = grid.load_grid()
    reqs = g.base_requires("tf-2.16")
    assert "tensorflow-cpu==2.16.2" in reqs  # its own
    assert "dm-tree" in reqs  # Keras 3.0-3.3 are laid over it


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('"" = "new"', '"" = "nowhere"'), "unknown base 'nowhere'"),
        (lambda t: t.replace('"" = "new"', '">=9" = "new"'), "no base admits release 3.13.2"),
        (lambda t: t.replace('"<3.13" = "old"', '"<<3" = "old"'), "Invalid specifier"),
        (lambda t: t.replace('"3.14.1", "3.15.1"', '"3.14.1", "3.14.1"'), "listed twice"),
        (
            lambda t: t.replace('releases = ["3.12.4"', 'first = "3.0.0"\nreleases = ["3.12.4"'),
            "'releases' or 'first', not both",
        ),
        (
            lambda t: t.replace(
                'releases = ["3.12.4", "3.13.2", "3.14.1", "3.15.1"]', 'first = "3.13.0"'
            ),
            "no releases recorded for this line",
        ),
        (
            lambda t: t.replace('tensorflow = { "" = "tf" }\n\n', 'tpu = { "" = "tf" }\n\n'),
            "unknown backend 'tpu'",
        ),
    ],
)
def test_bad_grid_is_refused_naming_the_entry(tmp_path: Path, edit, message) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(edit(SMALL_GRID))
    with pytest.raises(grid.GridError, match=re.escape(str(path))) as info:
        grid.load_grid(path)
    assert message in str(info.value)


def test_a_line_from_the_index_runs_every_final_release_from_its_first(
    index, monkeypatch, tmp_path: Path
) -> None:
    from claims import matrix, releases

    for name in ("keras-3.12.4", "keras-3.13.0", "keras-3.13.1", "keras-3.14.0rc1",
                 "keras-3.14.0", "keras-3.14.0.post1", "keras-2.15.0"):  # fmt: skip
        index.add("keras", f"{name}-py3-none-any.whl", b"wheel")
    index.add("keras", "keras-3.15.0.tar.gz", b"sdist")  # no wheel: not installable here
    index.add("keras", "keras-3.13.2-py3-none-any.whl", b"wheel")
    index.yanked.add("keras-3.13.2-py3-none-any.whl")
    listed = releases.from_index({"keras": "keras"}, index.url)
    assert listed == {"keras": ["2.15.0", "3.12.4", "3.13.0", "3.13.1", "3.14.0"]}
    spec = SMALL_GRID.replace(
        'releases = ["3.12.4", "3.13.2", "3.14.1", "3.15.1"]',
        'first = "3.13.0"\nexclude = { "3.13.1" = "its wheel does not import" }',
    )
    (tmp_path / "grid.toml").write_text(spec)
    (tmp_path / "catalog.toml").write_text(SMALL_CATALOG)
    g = grid.load_grid(tmp_path / "grid.toml", listed)
    assert [e.id for e in g.envs.values() if e.line == "keras"] == [
        "keras-3.13.0-jax",
        "keras-3.14.0-jax",
        "keras-3.13.0-tensorflow",
        "keras-3.14.0-tensorflow",
    ]
    # The run asks the index and says what is new since the list was last recorded; offline,
    # every consumer reads that record.
    (tmp_path / "releases.json").write_text(json.dumps({"lines": {"keras": ["3.13.0"]}}))
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    assert matrix.listed_releases(tmp_path, recorded=False) == listed
    assert matrix.listed_releases(tmp_path, recorded=True) == {"keras": ["3.13.0"]}
    assert [e.release for e in grid.load_grid(tmp_path / "grid.toml").envs.values()
            if e.line == "keras"] == ["3.13.0", "3.13.0"]  # fmt: skip
    (tmp_path / "releases.json").write_text('{"lines": {"keras": "3.13.0"}}')
    with pytest.raises(grid.GridError, match=r"releases.json: field 'lines'"):
        grid.load_grid(tmp_path / "grid.toml")


def test_an_unreachable_index_is_one_clear_error(monkeypatch) -> None:
    from claims import releases

    with pytest.raises(releases.ReleasesError, match="cannot list releases"):
        releases.from_index({"keras": "keras"}, "http://127.0.0.1:9/simple", timeout=2)


def test_the_longest_environments_start_first_and_new_ones_cost_their_lines_mean(
    small, tmp_path: Path
) -> None:
    from claims import matrix

    cat = catalog.load_catalog(*small)
    envs = list(cat.envs.values())
    out, folder = tmp_path / "out", tmp_path / "claims"
    out.mkdir()
    folder.mkdir()
    # No timings yet: the committed results' own clocks give the order.
    (folder / "results.json").write_text(
        json.dumps({"envs": {"keras-3.12.4-jax": {"seconds": 9.0}, "tf_keras-2.21.0": {}}})
    )
    assert matrix.last_seconds(out, folder) == {"keras-3.12.4-jax": 9.0, "tf_keras-2.21.0": 0.0}
    # A run's own timings win over them.
    timings = {
        "keras-3.12.4-jax": {"prepare": 1.0, "run": 10.0},
        "keras-3.13.2-jax": {"prepare": 0.0, "run": 30.0},
        "tf_keras-2.20.1": {"prepare": 2.0, "run": 58.0},
    }
    (out / "timings.json").write_text(json.dumps({"envs": timings}))
    took = matrix.last_seconds(out, folder)
    assert took["tf_keras-2.20.1"] == 60.0
    order = sorted(envs, key=lambda e: -matrix.estimate(e, took, envs))
    assert [e.id for e in order][:2] == ["tf_keras-2.20.1", "tf_keras-2.21.0"]  # mean: 60
    assert matrix.estimate(cat.envs["keras-3.15.1-jax"], took, envs) == 20.5
    (out / "timings.json").write_text("{not json")  # a broken file orders nothing wrongly
    assert matrix.last_seconds(out, folder)["keras-3.12.4-jax"] == 9.0


def test_shards_partition_the_grid_by_whole_bases() -> None:
    g = grid.load_grid()
    envs = list(g.envs.values())
    shards = [grid.shard(envs, f"{i}/4") for i in range(1, 5)]
    ids = [e.id for s in shards for e in s]
    assert sorted(ids) == sorted(g.envs)  # every env exactly once
    for i, s in enumerate(shards):
        others = {e.base for j, t in enumerate(shards) if j != i for e in t}
        assert not {e.base for e in s} & others  # no base installed by two shards
        assert s  # no idle runner
    with pytest.raises(grid.GridError, match="between 1 and N"):
        grid.shard(envs, "5/4")


# --- the catalog -----------------------------------------------------------------------------


def test_every_claim_has_exactly_one_proof() -> None:
    assert set(proofs.PROOFS) == set(catalog.load_catalog().claims)


def test_variants_are_every_combination_of_the_named_axes() -> None:
    cat = catalog.load_catalog()
    claim = cat.claims["loss-weights-skip-layer-losses"]
    keras3 = claim.variants(cat.envs["keras-3.15.1-jax"])
    tf2 = claim.variants(cat.envs["tf_keras-2.21.0"])
    assert len(keras3) == 2 * 3 * 2 and len(tf2) == 2 * 4 * 2  # TFP's KL on the Keras 2 lines
    assert keras3[0].label == "fit · add_loss · default"
    assert {v.loss for v in tf2} - {v.loss for v in keras3} == {"kl"}
    assert all(c.axes for c in cat.claims.values()), "every claim names its variants"
    # The model style sits between the loss kind and the execution, in labels too.
    styled = cat.claims["jax-custom-step-fix-works"].variants(cat.envs["keras-3.15.1-jax"])
    assert len(styled) == 2 * 3 * 2 * 2
    assert styled[1].label == "fit · add_loss · functional · run_eagerly"
    assert {v.model for v in styled} == {"functional", "subclassed"}


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ('{ entry = ["fitt"] }', "variants.entry has no value 'fitt' (known: fit,"),
        ('{ loop = ["fit"] }', "unknown variant axis loop"),
        ("{ entry = [] }", "variants.entry must be a non-empty list"),
        ('{ loss = ["add_loss", "add_loss"] }', "variants.loss repeats a value"),
        ('{ model = ["sequential"] }', "variants.model has no value 'sequential'"),
    ],
)
def test_bad_variants_get_a_located_message(small, variants, message) -> None:
    path, grid_path = small
    text = path.read_text().replace("[[claim]]\n", f"[[claim]]\nvariants = {variants}\n", 1)
    path.write_text(text)
    with pytest.raises(catalog.CatalogError, match=re.escape(message)) as info:
        catalog.load_catalog(path, grid_path)
    assert "[[claim]] #1" in str(info.value)


def test_a_claim_combines_its_variants_without_blurring_outcomes() -> None:
    H, F, R, U = catalog.HOLDS, catalog.FAILS, catalog.REFUSES, catalog.UNTESTED
    assert catalog.combine([H, H]) == H
    assert catalog.combine([H, R]) == R  # a refused variant is behaviour, not a failure
    assert catalog.combine([R, U, H]) == U  # one variant not reached: not tested
    assert catalog.combine([U, F]) == F  # reached and different: does not hold
    assert catalog.combine([]) == U


def test_a_variant_whose_setup_fails_is_not_tested_and_the_others_still_run(monkeypatch) -> None:
    cat = catalog.load_catalog()
    claim = cat.claims["add-loss-once-unweighted"]

    def flaky(lab, v):
        if v.eager:
            raise RuntimeError("harness broke")
        return proofs.Evidence(holds=True, numbers={"loss": 1.0})

    monkeypatch.setitem(proofs.PROOFS, claim.id, flaky)
    res = proofs.run_claim(None, claim, cat.envs["keras-3.15.1-jax"])
    assert [v["outcome"] for v in res["variants"]] == [catalog.HOLDS, catalog.UNTESTED] * 2
    assert res["outcome"] == catalog.UNTESTED
    assert res["detail"] == "RuntimeError: harness broke"


def test_scopes_admit_exactly_their_part_of_the_grid(small) -> None:
    cat = catalog.load_catalog(*small)
    mirrored, divided = cat.claims["mirrored"], cat.claims["divided"]
    assert mirrored.expected(cat.envs["keras-3.13.2-tensorflow"]) == catalog.HOLDS
    assert mirrored.expected(cat.envs["keras-3.12.4-tensorflow"]) == catalog.REFUSES
    assert mirrored.expected(cat.envs["keras-3.15.1-jax"]) == catalog.NA
    assert divided.expected(cat.envs["keras-3.13.2-jax"]) == catalog.FAILS
    assert divided.expected(cat.envs["tf_keras-2.20.1"]) == catalog.HOLDS
    # Four outcomes, never merged: a refusal is not "does not hold", and "not tested" passes
    # nowhere that the catalog does not name it.
    assert mirrored.accepts(cat.envs["keras-3.12.4-tensorflow"], catalog.REFUSES)
    assert not mirrored.accepts(cat.envs["keras-3.12.4-tensorflow"], catalog.FAILS)
    assert not divided.accepts(cat.envs["keras-3.13.2-jax"], catalog.REFUSES)
    for env in cat.envs.values():
        assert not divided.accepts(env, catalog.UNTESTED)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('"tf_keras"]\n\n', '"keras-9"]\n\n', 1), "unknown line 'keras-9'"),
        (lambda t: t.replace("keras >=3.14", "keras >>3.14"), "is not a version specifier"),
        (lambda t: t.replace('on tensorflow"', 'on tpu"'), "has no backend ['tpu']"),
        (
            lambda t: t.replace('runs = ["keras on tensorflow", ', "runs = ["),
            "reaches beyond 'runs'",
        ),
        (lambda t: t.replace('statement = "scaled"\n', ""), "field 'statement' is missing"),
        (lambda t: t.replace('title = "Mirrored"\n', ""), "field 'title' is missing"),
        (lambda t: t.replace("refuses = ", "raises = "), "unknown field(s) raises"),
        (
            lambda t: t.replace('refuses = ["keras <3.13', 'refuses = ["keras <3.14'),
            "'holds' and 'refuses' both cover keras-3.13.2-tensorflow",
        ),
        (
            lambda t: t + 'untested = ["tf_keras"]\n',
            "'untested' and 'untested-why' go together",
        ),
    ],
)
def test_malformed_catalog_names_the_claim(small, edit, message) -> None:
    cat_path, grid_path = small
    cat_path.write_text(edit(SMALL_CATALOG))
    with pytest.raises(catalog.CatalogError, match=re.escape(message)) as info:
        catalog.load_catalog(cat_path, grid_path)
    assert str(cat_path) in str(info.value)


# --- results ---------------------------------------------------------------------------------


def test_committed_results_cover_the_grid_and_agree() -> None:
    cat = catalog.load_catalog()
    data = provenance.load_results(cat)  # raises if stale, incomplete or disagreeing
    assert len(data["envs"]) == len(cat.envs) >= 45
    for env_id, run in data["envs"].items():
        assert catalog.check_run(cat, run, env_id) == []


def _copy_claims(tmp_path: Path) -> Path:
    folder = tmp_path / "claims"
    folder.mkdir()
    for name in (*catalog.fingerprinted(), "results.json"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CLAIMS / name, folder / name)
    return folder


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["envs"]["tf.keras-2.15.1"]["results"].pop("tfp-kl-weight"), "missing"),
        (
            lambda d: d["envs"]["tf.keras-2.15.1"]["results"].__setitem__(
                "new-claim", d["envs"]["tf.keras-2.15.1"]["results"]["tfp-kl-weight"]
            ),
            "unknown",
        ),
        (
            lambda d: d["envs"]["keras-3.13.2-jax"]["results"][
                "activity-regularizer-batch-mean"
            ].update(outcome="holds"),
            "claim 'activity-regularizer-batch-mean' in keras-3.13.2-jax",
        ),
        (
            lambda d: d["envs"]["keras-3.15.1-torch"]["results"]["add-loss-once-unweighted"].update(
                outcome="not tested"
            ),
            "expected it to hold, but the outcome is 'not tested'",
        ),
        (lambda d: d["envs"].pop("keras-3.15.1-jax"), "do not cover the grid"),
        (lambda d: d.update(fingerprint="0" * 64), "stale"),
    ],
)
def test_results_not_matching_the_claims_are_refused(tmp_path: Path, edit, message) -> None:
    folder = _copy_claims(tmp_path)
    data = json.loads((folder / "results.json").read_text())
    edit(data)
    (folder / "results.json").write_text(json.dumps(data))
    with pytest.raises(catalog.CatalogError, match=re.escape(message)) as info:
        provenance.load_results(catalog.load_catalog(), folder / "results.json", folder)
    assert "nox -s matrix" in str(info.value)


def test_editing_a_proof_makes_the_results_stale(tmp_path: Path) -> None:
    folder = _copy_claims(tmp_path)
    before = catalog.fingerprint(folder)
    assert "proofs/pitfalls.py" in catalog.fingerprinted(folder)  # every topic module
    with (folder / "proofs" / "pitfalls.py").open("a") as f:
        f.write("\n# a change\n")
    assert catalog.fingerprint(folder) != before
    with pytest.raises(catalog.CatalogError, match="stale"):
        provenance.load_results(catalog.load_catalog(), folder / "results.json", folder)


def test_rewording_or_rescoping_a_claim_keeps_the_results_but_changing_what_runs_does_not(
    tmp_path: Path,
) -> None:
    folder = _copy_claims(tmp_path)
    before = catalog.fingerprint(folder)
    path = folder / "catalog.toml"
    text = path.read_text()
    # The prose the site shows: a statement, a title, a why, a comment.
    reworded = text.replace(
        'statement = "A scalar `add_loss` term', 'statement = "A scalar `add_loss` term (reworded)'
    ).replace('title = "An add_loss term', 'title = "Reworded: an add_loss term')
    path.write_text("# a new comment\n" + reworded.replace('why = "', 'why = "Also: ', 1))
    assert path.read_text() != text
    assert catalog.fingerprint(folder) == before
    # Where each outcome is expected: checked anew against every record at every merge and
    # on every page, so the records stay current (a test of the grid runner proves the check).
    path.write_text(text.replace('holds = ["keras", "tf.keras", "tf_keras"', 'holds = ["keras"', 1))
    assert catalog.fingerprint(folder) == before
    # What runs: the variants of a claim, and where it runs at all.
    path.write_text(text.replace('entry = ["fit", "train_on_batch"]', 'entry = ["fit"]', 1))
    assert catalog.fingerprint(folder) != before
    path.write_text(text)
    # The grid's release lists name which environments exist, not what one measured.
    grid_path = folder / "grid.toml"
    spec = grid_path.read_text()
    grid_path.write_text(spec.replace("exclude = {}", 'exclude = { "3.0.1" = "broken" }', 1))
    assert catalog.fingerprint(folder) == before
    grid_path.write_text(spec.replace('"jax[cpu]==0.4.28"', '"jax[cpu]==0.4.29"', 1))
    assert catalog.fingerprint(folder) != before
    grid_path.write_text(spec)
    # A catalog that does not parse is fingerprinted as it is (its loader says what is wrong).
    path.write_text(text + "\n[[claim]\n")
    assert catalog.fingerprint(folder) != before


def test_editing_the_code_readers_copy_makes_the_results_stale(tmp_path: Path) -> None:
    folder = _copy_claims(tmp_path)
    before = catalog.fingerprint(folder)
    assert "reader_code/jax_train_step.py" in catalog.fingerprinted(folder)
    with (folder / "reader_code" / "jax_train_step.py").open("a") as f:
        f.write("\n# a change\n")
    assert catalog.fingerprint(folder) != before


# --- ranges, boundaries, export -------------------------------------------------------------


def test_ranges_are_computed_from_the_results(small) -> None:
    cat = catalog.load_catalog(*small)

    def measured(claim, env):
        if claim.id == "divided":  # reality: 3.14+ everywhere, but 3.12 on JAX too
            ok = env.line == "tf_keras" or env.version.minor >= 14 or env.id == "keras-3.12.4-jax"
            return "holds" if ok else "does not hold"
        return claim.expected(env)

    results = fake_results(cat, measured)
    divided, mirrored = cat.claims["divided"], cat.claims["mirrored"]
    assert ranges.summary(cat, results, divided, "holds") == (
        "Keras 3.12.4, 3.14.1–3.15.1 on JAX; Keras 3.14.1–3.15.1 on TensorFlow; "
        "tf-keras 2.20.1–2.21.0"
    )
    assert ranges.summary(cat, results, divided, "does not hold") == (
        "Keras 3.13.2 on JAX; Keras 3.12.4–3.13.2 on TensorFlow"
    )
    # A refusal is stated as such, never as "does not hold"; n/a environments appear nowhere.
    assert ranges.summary(cat, results, mirrored, catalog.REFUSES) == "Keras 3.12.4 on TensorFlow"
    assert ranges.summary(cat, results, mirrored, catalog.FAILS) == ""
    found = {
        (b["claim"], b["backend"], b["before"], b["after"]) for b in ranges.boundaries(cat, results)
    }
    assert found == {
        ("divided", "jax", "3.12.4", "3.13.2"),
        ("divided", "jax", "3.13.2", "3.14.1"),
        ("divided", "tensorflow", "3.13.2", "3.14.1"),
        ("mirrored", "tensorflow", "3.12.4", "3.13.2"),
    }
    assert (
        ranges.example_env(cat, results, divided, "does not hold").id == "keras-3.13.2-tensorflow"
    )


def test_export_has_the_documented_shape() -> None:
    cat = catalog.load_catalog()
    data = provenance.load_results(cat)
    exported = ranges.export(cat, data)
    records = exported["results"]
    assert len({r["env"] for r in records}) >= 45
    assert {r["line"] for r in records} == {"keras", "tf.keras", "tf_keras", "keras2"}
    assert {r["backend"] for r in records} == {"jax", "tensorflow", "torch", "theano"}
    assert {r["outcome"] for r in records} <= {*catalog.OUTCOMES, catalog.NA}
    assert catalog.REFUSES in {r["outcome"] for r in records}
    base = {"claim", "env", "line", "backend", "versions", "python", "base", "outcome", "variants"}
    # Each record names the interpreter it was measured on: tf.keras 2.5-2.11 on 3.9.
    pythons = {r["env"]: r["python"] for r in records}
    assert pythons["tf.keras-2.5.3"].startswith("3.9.") and pythons["tf.keras-2.12.1"].startswith(
        "3.11."
    )
    # Standalone Keras 2.3.1 names the backend it ran on and its version: Theano on 3.9, and
    # its own TensorFlow (2.0) on 2.7.
    keras2 = next(r for r in records if r["env"] == "keras2-2.3.1-theano")
    assert pythons["keras2-2.3.1-theano"].startswith("3.9.")
    assert keras2["versions"]["keras"] == "2.3.1" and keras2["versions"]["theano"] == "1.0.5"
    on_tf = next(r for r in records if r["env"] == "keras2-2.3.1-tensorflow")
    assert pythons["keras2-2.3.1-tensorflow"].startswith("2.7.")
    assert on_tf["versions"]["keras"] == "2.3.1" and on_tf["versions"]["tensorflow"] == "2.0.0"
    for r in records:
        extra = {"refused"} if r["outcome"] == catalog.REFUSES else set()
        extra |= {"why"} if r["outcome"] == catalog.UNTESTED else set()
        assert set(r) == base | extra, r
        if extra == {"refused"}:
            # The exception's type, after the variant that raised it where a claim has several.
            assert re.match(r"([\w ,]+: )?[A-Za-z]\w*(Error|Exception)\b", r["refused"]), r
        # A measured number never hides an exception the outcome does not state.
        if r["outcome"] in (catalog.HOLDS, catalog.FAILS):
            numbers = [v["numbers"] for v in r["variants"]]
            assert not re.search(r"\b[A-Z]\w*(Error|Exception)\b", json.dumps(numbers)), r
        # Every variant the catalog names for the claim was run, with its own outcome.
        if r["outcome"] != catalog.NA:
            claim = cat.claims[r["claim"]]
            labels = [v.label for v in claim.variants(cat.envs[r["env"]])]
            assert [v["variant"] for v in r["variants"]] == labels, r["claim"]
            assert catalog.combine([v["outcome"] for v in r["variants"]]) == r["outcome"]
    json.dumps(exported)  # serialisable as it is


def test_every_boundary_in_the_results_has_its_diff_on_the_page() -> None:
    cat = catalog.load_catalog()
    found = ranges.boundaries(cat, provenance.load_results(cat))
    assert found, "the grid found no boundary: the page would explain nothing"
    page = (ROOT / "docs" / "boundaries.md").read_text()
    import tomllib

    pins = tomllib.loads((ROOT / "snippets" / "pins.toml").read_text())["release"]
    version = {p["id"]: (p["project"], p["version"]) for p in pins}
    pairs = {
        (version[old], version[new])
        for old, new in re.findall(r":old: ([\w.-]+) .*\n:new: ([\w.-]+) ", page)
    }
    # Whose code a boundary is in: Keras 3's and tf-keras's own releases, exactly those two;
    # for tf.keras, the `keras` 2.x package of each TensorFlow minor (one release per minor).
    for b in found:
        if b["line"] == "tf.keras":
            minors = [".".join(v.split(".")[:2]) for v in (b["before"], b["after"])]
            ok = any(
                (o[0], n[0]) == ("keras", "keras")
                and [".".join(v.split(".")[:2]) for v in (o[1], n[1])] == minors
                for o, n in pairs
            )
        else:
            project = "keras" if b["line"] == "keras" else "tf-keras"
            ok = ((project, b["before"]), (project, b["after"])) in pairs
        assert ok, f"no diff between the pinned releases {b['before']} and {b['after']} for {b}"
        assert f"{{claim-holds}}`{b['claim']}`" in page or b["claim"] in page


def test_the_variants_that_differ_are_said_where_they_do(small) -> None:
    cat = catalog.load_catalog(*small)
    results = fake_results(cat, lambda claim, env: claim.expected(env))
    divided = cat.claims["divided"]
    for env_id in ("keras-3.12.4-jax", "keras-3.13.2-jax"):  # both do not hold, for one variant
        entry = results["envs"][env_id]["results"]["divided"]
        assert entry["outcome"] == catalog.FAILS
        entry["variants"] = [
            {"variant": "fit", "axes": {}, "outcome": catalog.HOLDS, "numbers": {}},
            {"variant": "train_on_batch", "axes": {}, "outcome": catalog.FAILS, "numbers": {}},
        ]
    assert ranges.variant_differences(cat, results, divided) == [
        ("fit", catalog.HOLDS, "Keras 3.12.4–3.13.2 on JAX", "")
    ]
    assert ranges.variant_differences(cat, results, cat.claims["mirrored"]) == []


def test_a_range_can_be_stated_for_some_variants_only(small) -> None:
    """``{claim-refuses}`id: fit, functional``` states the combined outcome of those variants."""
    cat = catalog.load_catalog(*small)
    results = fake_results(cat, lambda claim, env: claim.expected(env))
    divided = cat.claims["divided"]
    for env in cat.envs.values():
        entry = results["envs"][env.id]["results"].get("divided")
        if entry is None:
            continue
        functional = catalog.REFUSES if env.backend == "jax" else catalog.HOLDS
        subclassed = catalog.HOLDS if env.release == "3.12.4" else catalog.REFUSES
        entry["variants"] = [
            {"variant": f"fit · {m} · {x}", "axes": {"entry": "fit", "model": m, "execution": x},
             "outcome": o, "numbers": {}}
            for m, o in (("functional", functional), ("subclassed", subclassed))
            for x in ("default", "run_eagerly")
        ]  # fmt: skip
    text = ranges.summary(cat, results, divided, catalog.REFUSES, ("fit", "functional"))
    assert text == "Keras 3.12.4–3.15.1 on JAX"
    text = ranges.summary(cat, results, divided, catalog.HOLDS, ("subclassed", "run_eagerly"))
    assert text == "Keras 3.12.4 on JAX, TensorFlow"
    # Variants that were not run match nothing: the sentence would have no evidence.
    assert ranges.summary(cat, results, divided, catalog.HOLDS, ("train_on_batch",)) == ""


def test_a_variant_filter_is_checked_against_the_claim_axes() -> None:
    cat = catalog.load_catalog()
    claim = cat.claims["jax-custom-step-fix-works"]
    assert ranges.parse_variant_filter(claim, " fit, subclassed ") == ("fit", "subclassed")
    with pytest.raises(ValueError, match="no variant value 'evaluate'"):
        ranges.parse_variant_filter(claim, "fit, evaluate")
    with pytest.raises(ValueError, match=r"no variant value \(none\)"):
        ranges.parse_variant_filter(claim, " , ")


def test_prove_fails_naming_the_claim_when_reality_disagrees(monkeypatch, capsys) -> None:
    from claims import page

    class FakeKeras:
        __name__ = "fakekeras"
        __version__ = "0"

    class FakeLab:
        keras = FakeKeras()

    monkeypatch.setattr(page, "_LABS", {"tf_keras-2.21.0": FakeLab()})
    monkeypatch.setitem(
        proofs.PROOFS,
        "add-loss-once-unweighted",
        lambda lab, v: proofs.Evidence(holds=False, numbers={"x": 1.0}),
    )
    with pytest.raises(
        AssertionError, match=r"claim 'add-loss-once-unweighted' in tf_keras-2.21.0"
    ):
        page.prove("add-loss-once-unweighted")
    assert "x = 1" in capsys.readouterr().out
    # Where the catalog says Keras refuses, a refusal passes; "does not hold" does not.
    monkeypatch.setitem(
        proofs.PROOFS,
        "nonscalar-add-loss-summed",
        lambda lab, v: proofs.Evidence(holds=False, refused="ValueError: shapes"),
    )
    page.prove("nonscalar-add-loss-summed")
    monkeypatch.setitem(
        proofs.PROOFS, "nonscalar-add-loss-summed", lambda lab, v: proofs.Evidence(holds=False)
    )
    with pytest.raises(AssertionError, match="but the outcome is 'does not hold'"):
        page.prove("nonscalar-add-loss-summed")


def test_a_claim_gets_one_proof() -> None:
    with pytest.raises(ValueError, match="claim 'add-loss-once-unweighted' has two proofs"):
        proofs.proof("add-loss-once-unweighted")(lambda lab, v: proofs.Evidence(holds=True))


def test_one_comparison_of_an_outcome_with_the_catalog() -> None:
    cat = catalog.load_catalog()
    claim, env = cat.claims["activity-regularizer-batch-mean"], cat.envs["keras-3.13.2-jax"]
    assert catalog.disagreement(claim, env, catalog.FAILS) is None
    assert catalog.disagreement(claim, env, catalog.HOLDS) == (
        f"claim 'activity-regularizer-batch-mean' in keras-3.13.2-jax ({env.label}): "
        "expected it to not hold, but the outcome is 'holds'"
    )


def test_error_text_in_results_does_not_depend_on_the_run() -> None:
    a = RuntimeError("defined in FuncGraph(name=step, id=139963294214208) at 0x7f3a2b4c5d60")
    b = RuntimeError("defined in FuncGraph(name=step, id=140096217311552) at 0x7f00000000aa")
    assert (
        proofs._last_line(a)
        == proofs._last_line(b)
        == ("defined in FuncGraph(name=step, id=…) at 0x…")
    )


def test_export_is_rewritten_only_when_the_results_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    results = tmp_path / "results.json"
    shutil.copy(catalog.RESULTS, results)
    monkeypatch.setattr(sphinxext, "RESULTS", results)
    app = SimpleNamespace(
        outdir=str(tmp_path),
        confdir=str(tmp_path),
        config=SimpleNamespace(pincite_pins=""),
        builder=SimpleNamespace(format="html"),
    )
    sphinxext.write_export(app, None)
    target = tmp_path / "claims.json"
    first = json.loads(target.read_text())
    assert {"fingerprint", "claims", "results", "source-sha256"} <= set(first)
    target.write_text(json.dumps({**first, "marker": 1}))  # what a skipped rewrite leaves
    sphinxext.write_export(app, None)
    assert json.loads(target.read_text())["marker"] == 1
    results.write_text(results.read_text() + "\n")  # new results (same content, new bytes)
    sphinxext.write_export(app, None)
    assert "marker" not in json.loads(target.read_text())
    # New pins change whose code a block shows: the picker's script is rewritten.
    script = tmp_path / "_static" / sphinxext.SETUPS_SCRIPT
    before = script.read_text()
    shutil.copy(Path(__file__).parents[1] / "snippets" / "pins.toml", tmp_path / "pins.toml")
    app.config.pincite_pins = "pins.toml"
    sphinxext.write_export(app, None)
    assert script.read_text().splitlines()[0] != before.splitlines()[0]
    # New wording of the reader's lines (setups.py) is new data too.
    from claims import setups

    worded = tmp_path / "setups.py"
    worded.write_text(Path(setups.__file__).read_text() + "# reworded\n")
    before = script.read_text()
    monkeypatch.setattr(setups, "__file__", str(worded))
    sphinxext.write_export(app, None)
    assert script.read_text().splitlines()[0] != before.splitlines()[0]


def test_a_range_role_states_one_variants_outcome_or_says_where_its_filter_is_wrong(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sphinxext, "_reported", set())
    src = tmp_path / "site"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["claims.sphinxext"]\n')
    claim = "jax-custom-step-without-return-losses"
    (src / "index.rst").write_text(
        "Claims\n======\n\n"
        f"Refused: :claim-refuses:`{claim}: fit, kernel_regularizer, functional`.\n\n"
        f"Runs: :claim-holds:`{claim}: fit, kernel_regularizer, subclassed, default`.\n\n"
        f"Wrong: :claim-holds:`{claim}: fit, evaluate`.\n"
    )
    app = make_app("html", srcdir=src)
    app.build()
    page = (Path(app.outdir) / "index.html").read_text()
    cat = catalog.load_catalog()
    results = provenance.load_results(cat)
    for outcome, only in (
        (catalog.REFUSES, ("fit", "kernel_regularizer", "functional")),
        (catalog.HOLDS, ("fit", "kernel_regularizer", "subclassed", "default")),
    ):
        text = ranges.summary(cat, results, cat.claims[claim], outcome, only)
        assert text and text in page
    warnings = warnings_of(app)
    assert "index.rst:8" in warnings and "no variant value 'evaluate'" in warnings, warnings
    assert len(warnings.strip().splitlines()) == 1 and "Traceback" not in warnings


def test_claim_labels_come_from_docutils_targets_and_follow_edits(make_app, tmp_path: Path) -> None:
    """A claim box is an explicit target: `ref` shows its title, and forgets a removed box."""
    src = tmp_path / "site"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["claims.sphinxext"]\n')
    (src / "index.rst").write_text(
        "Claims\n======\n\n.. toctree::\n\n   other\n\n.. claim:: add-loss-once-unweighted\n"
    )
    (src / "other.rst").write_text("Other\n=====\n\nSee :ref:`claim-add-loss-once-unweighted`.\n")
    app = make_app("html", srcdir=src)
    app.build()
    page = (Path(app.outdir) / "other.html").read_text()
    assert 'href="index.html#claim-add-loss-once-unweighted"' in page
    title = catalog.load_catalog().claims["add-loss-once-unweighted"].title
    assert f"{title}</span>" in page
    labels = app.env.domains.standard_domain.labels
    assert labels["claim-add-loss-once-unweighted"] == (
        "index",
        "claim-add-loss-once-unweighted",
        title,
    )
    (src / "index.rst").write_text("Claims\n======\n\n.. toctree::\n\n   other\n")
    again = make_app("html", srcdir=src)
    again.build()
    assert "claim-add-loss-once-unweighted" not in again.env.domains.standard_domain.labels


def test_grid_text_states_only_what_the_grid_spec_holds(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(
        SMALL_GRID
        + '[cited-only."tf-2.2"]\nlabel = "tf.keras 2.2–2.11"\nwhy = "no wheels"\n'
        + '[cited-only."keras-2.3"]\nlabel = "Keras 2.3.1"\nwhy = "no backend"\n'
    )
    small = grid.load_grid(path)
    assert ranges.grid_text(small, "keras") == "3.12.4–3.15.1"
    assert ranges.grid_text(small, "tf_keras") == "2.20.1–2.21.0"
    assert ranges.grid_text(small, "keras jax") == "0.4.28–0.10.2"  # both bases
    assert ranges.grid_text(small, "tf_keras tensorflow-cpu") == "2.21.0"
    assert ranges.grid_text(small, "cited tf-2.2") == "tf.keras 2.2–2.11"
    assert ranges.grid_text(small, "cited") == "tf.keras 2.2–2.11 and Keras 2.3.1"
    for bad in ("keras torch", "keras-4", "cited nothing", "", "keras jax extra"):
        with pytest.raises(ValueError):
            ranges.grid_text(small, bad)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no grid results; run `nox -s matrix`"),
        ("[]", "top level: [] is not of type 'object'"),
        ("{", "not valid JSON"),
    ],
)
def test_refused_results_give_the_build_one_located_message(
    make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content, message
) -> None:
    """Every box, role and the export refuse the same file: one warning says so, no crash."""
    results = tmp_path / "results.json"
    if content is not None:
        results.write_text(content)
    monkeypatch.setattr(sphinxext, "RESULTS", results)
    monkeypatch.setattr(sphinxext, "INPUTS", (catalog.CATALOG, results, grid.GRID))
    monkeypatch.setattr(sphinxext, "_reported", set())
    src = tmp_path / "site"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["claims.sphinxext"]\n')
    roles = " ".join(["{r}`add-loss-once-unweighted`".replace("{r}", ":claim-holds:")] * 20)
    (src / "index.rst").write_text(
        f"Claims\n======\n\n.. claim:: add-loss-once-unweighted\n\n{roles}\n\n"
        "See :ref:`claim-add-loss-once-unweighted`.\n\n.. claims-matrix::\n"
    )
    app = make_app("html", srcdir=src)
    app.build()  # no exception: the build ends, and says why the results were refused
    warnings = warnings_of(app)
    assert warnings.count(message) == 1, warnings
    assert str(results) in warnings
    assert "Traceback" not in warnings and "sphinx-doc" not in warnings
    assert len(warnings.strip().splitlines()) == 1, warnings  # no undefined label either
    assert not (Path(app.outdir) / "claims.json").exists()


def test_a_refusal_is_recorded_in_keras_own_words() -> None:
    wrapped = ValueError(
        "Exception encountered when calling Loop.call().\n\n\x1b[1mCould not automatically "
        "infer the output shape / dtype of 'loop' (of type Loop). Error encountered:\n\n"
        "`add_loss()` can only be called from inside `build()` or `call()`, on a tensor input. "
        "Received invalid value: <function <lambda> at 0x7fc5923f7880>\x1b[0m\n\n"
        "Arguments received by Loop.call():\n  • args=('<KerasTensor shape=(None, 2)>',)"
    )
    assert proofs.refusal(wrapped) == (
        "ValueError: `add_loss()` can only be called from inside `build()` or `call()`, on a "
        "tensor input. Received invalid value: <function <lambda> at 0x…>"
    )
    assert proofs.refusal(NotImplementedError()) == "NotImplementedError"


def test_a_missing_module_is_never_keras_refusing() -> None:
    """A proof that catches what Keras raises still lets an import failure through: the
    variant is then not tested (the environment lacks a module), never "Keras refuses"."""
    from claims.catalog import Variant

    claim = catalog.load_catalog().claims["add-loss-once-unweighted"]

    def refusing(lab, v):
        try:
            raise ModuleNotFoundError("No module named 'pkg_resources'")
        except Exception as exc:  # as a proof catches the pattern's own exception
            return proofs.Evidence(holds=False, refused=proofs.refusal(exc))

    saved = proofs.PROOFS[claim.id]
    proofs.PROOFS[claim.id] = refusing
    try:
        record = proofs.run_variant(None, claim, Variant(entry="fit"))
    finally:
        proofs.PROOFS[claim.id] = saved
    assert record["outcome"] == catalog.UNTESTED
    assert "pkg_resources" in record["detail"]


def test_the_reader_line_states_the_outcome_and_the_numbers_measured() -> None:
    """Each claim's line for one environment comes from its record: outcome, numbers, exception."""
    from claims import setups

    cat = catalog.load_catalog()
    results = json.loads(catalog.RESULTS.read_text())
    data = setups.data(cat, results)
    assert {s["id"] for s in data["setups"]} == set(cat.envs)
    assert {c["id"] for c in data["cited"]} == set(cat.grid.cited_only)
    for claim in cat.claims.values():
        for env in cat.envs.values():
            res = results["envs"][env.id]["results"].get(claim.id)
            line = data["claims"][claim.id]["envs"][env.id]
            if res is None:
                assert line["outcome"] == catalog.NA
                continue
            assert line["outcome"] == res["outcome"]
            words = {catalog.HOLDS: "holds", catalog.FAILS: "does not hold",
                     catalog.REFUSES: "Keras refuses", catalog.UNTESTED: "not tested"}  # fmt: skip
            assert line["text"].startswith(words[res["outcome"]]), line
            if res["outcome"] == catalog.REFUSES:
                assert res["detail"] in line["text"]
            shown = next(v for v in res["variants"] if v["outcome"] == res["outcome"])
            if res["outcome"] in (catalog.HOLDS, catalog.FAILS) and "reported loss" in shown.get(
                "numbers", {}
            ):
                assert (
                    f"reported loss = {setups.format_number(shown['numbers']['reported loss'])}"
                    in line["text"]
                )
    script = setups.script(cat, results)
    assert script.startswith("window.CLAIM_SETUPS = ") and "</" not in script
    # The script carries each claim's distinct lines once; expanded, it is the data itself.
    packed = json.loads(script.removeprefix("window.CLAIM_SETUPS = ").removesuffix(";\n"))
    for claim_id, claim in packed["claims"].items():
        expanded = {env: claim["lines"][i] for env, i in claim["envs"].items()}
        assert expanded == data["claims"][claim_id]["envs"]
    assert len(script) < len(json.dumps(data)) / 3


def test_the_picker_knows_whose_code_each_block_shows_and_the_cited_spans(tmp_path) -> None:
    from claims import setups

    pins = tmp_path / "pins.toml"
    pins.write_text(
        "".join(
            f'[[release]]\nid = "{i}"\ntitle = "{t}"\nproject = "{p}"\nversion = "{v}"\n'
            for i, t, p, v in (
                ("k3", "Keras 3.15.1", "keras", "3.15.1"),
                ("k215", "keras 2.15.0", "keras", "2.15.0"),
                ("k23", "Keras 2.3.1", "keras", "2.3.1"),
                ("tfk", "tf-keras 2.21.0", "tf_keras", "2.21.0"),
                ("tfp", "TFP", "tensorflow-probability", "0.25.0"),
            )
        )
    )
    assert setups.cited_code(pins) == {
        "k3": {"line": "keras", "minor": "3.15", "release": "3.15.1", "label": "Keras 3.15.1"},
        "k215": {"line": "tf.keras", "minor": "2.15", "release": "2.15.0", "label": "keras 2.15.0"},
        "k23": {"line": "keras2", "minor": "2.3", "release": "2.3.1", "label": "Keras 2.3.1"},
        "tfk": {
            "line": "tf_keras",
            "minor": "2.21",
            "release": "2.21.0",
            "label": "tf-keras 2.21.0",
        },
    }
    # Every cited-only line of the grid has its span, and a span is not a release it runs.
    cat = catalog.load_catalog()
    assert set(setups.CITED_SPANS) == set(cat.grid.cited_only)
    for line, first, last in setups.CITED_SPANS.values():
        runs = [e.minor for e in cat.envs.values() if e.line == line]
        assert not any(Version(first) <= Version(m) <= Version(last) for m in runs), line


def test_a_line_that_fails_everywhere_says_so_without_a_double_negative() -> None:
    from claims import setups

    cat = catalog.load_catalog()
    results = json.loads(catalog.RESULTS.read_text())
    texts = [
        setups.reader_line(claim, env, results)["text"]
        for claim in cat.claims.values()
        for env in cat.envs.values()
    ]
    assert not [t for t in texts if t.startswith("does not hold in all")]
    assert any(t.startswith("does not hold in any of the") for t in texts)


def test_a_line_names_every_variant_where_they_differ() -> None:
    """No variant is left out of a reader's line: each group is named with its outcome, and
    numbers say which variant measured them."""
    from claims import setups

    cat = catalog.load_catalog()
    results = json.loads(catalog.RESULTS.read_text())
    mixed = 0
    for claim in cat.claims.values():
        for env in cat.envs.values():
            res = results["envs"][env.id]["results"].get(claim.id)
            if not res or len({v["outcome"] for v in res["variants"]}) < 2:
                continue
            mixed += 1
            text = setups.reader_line(claim, env, results)["text"]
            every = res["variants"]
            for outcome in {v["outcome"] for v in every}:
                group = [v for v in every if v["outcome"] == outcome]
                names = setups.variant_groups(group, every)
                # The names cover exactly the group: each of its variants, and no other one.
                for v in every:
                    hits = [n for n in names if set(n.split(" · ")) <= set(v["axes"].values())]
                    assert bool(hits) == (v in group), (claim.id, env.id, v["variant"], names)
                for name in names:
                    assert name in text, (claim.id, env.id, name, text)
    assert mixed  # the grid has such lines (the JAX train_step claims, at least)


def test_a_group_of_variants_is_named_by_the_axes_it_does_not_cover_whole() -> None:
    from claims import setups

    def variant(entry: str, model: str, execution: str) -> dict:
        axes = {"entry": entry, "execution": execution, "model": model}  # stored sorted
        return {"variant": f"{entry} · {model} · {execution}", "axes": axes}

    every = [
        variant(e, m, x)
        for e in ("fit", "train_on_batch")
        for m in ("functional", "subclassed")
        for x in ("default", "run_eagerly")
    ]
    refused = [
        v for v in every if v["axes"]["entry"] == "fit" and v["axes"]["model"] == "functional"
    ]
    assert setups.variant_groups(refused, every) == ["fit · functional"]
    rest = [v for v in every if v not in refused]
    assert setups.variant_groups(rest, every) == ["fit · subclassed", "train_on_batch"]
    assert setups.variant_groups(every, every) == ["every variant"]
    one = [every[3]]
    assert setups.variant_groups(one, every) == ["fit · subclassed · run_eagerly"]


def test_a_box_on_another_page_is_linked_there_from_the_picker_data(make_app, tmp_path) -> None:
    src = tmp_path / "site"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["claims.sphinxext"]\n')
    (src / "index.rst").write_text("Home\n====\n\n.. toctree::\n\n   other\n")
    (src / "other.rst").write_text("Other\n=====\n\n.. claim:: tfp-kl-weight\n")
    app = make_app("html", srcdir=src)
    app.build()
    script = (Path(app.outdir) / "_static" / sphinxext.SETUPS_SCRIPT).read_text()
    data = json.loads(script.split("window.CLAIM_SETUPS = ", 1)[1].rstrip().rstrip(";"))
    assert data["claims"]["tfp-kl-weight"]["page"] == "other.html"
    assert data["claims"]["add-loss-once-unweighted"]["page"] == ""  # no box in this site


def test_key_numbers_put_what_was_measured_next_to_the_prediction() -> None:
    from claims import setups

    numbers = {
        "mse + a * sum(out**2) (not it)": 3.75,
        "mse + a * sum(out**2) / batch size": 2.0625,
        "reported loss": 3.75,
        "w after one SGD step": [[0.0], [1.3125]],
    }
    assert setups.key_numbers(numbers) == (
        "reported loss = 3.75; w after one SGD step = [[0.0],[1.3125]]; "
        "mse + a * sum(out**2) / batch size = 2.0625"
    )
    assert setups.key_numbers({"devices": 2}) == "devices = 2"


def test_the_grid_and_the_picker_are_built_from_the_results(make_app, tmp_path: Path) -> None:
    """The grid page has one row per line and backend, one coloured cell per release."""
    src = tmp_path / "site"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["claims.sphinxext"]\n')
    (src / "index.rst").write_text("Grid\n====\n\n.. claims-matrix::\n")
    app = make_app("html", srcdir=src)
    app.build()
    page = (Path(app.outdir) / "index.html").read_text()
    cat = catalog.load_catalog()
    results = json.loads(catalog.RESULTS.read_text())
    for env in cat.envs.values():
        outcome = results["envs"][env.id]["results"]["add-loss-once-unweighted"]["outcome"]
        css = sphinxext.OUTCOME_CLASS[outcome]
        assert f'<span class="grid-cell {css}" data-env="{env.id}"' in page
    assert page.count('class="grid-claim docutils') == len(cat.claims)
    script = (Path(app.outdir) / "_static" / "claims-setups.js").read_text()
    assert json.loads(script.split("window.CLAIM_SETUPS = ", 1)[1].rstrip(";\n"))["setups"]
    assert (Path(app.outdir) / "_static" / "setup.js").exists()


def test_a_digest_entry_can_link_to_what_to_do_next(make_app, tmp_path: Path) -> None:
    """``<id> | <label> | <text>``: the claim's link, then the section's; a malformed one warns
    at its line."""
    src = tmp_path / "site"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["claims.sphinxext"]\n')
    (src / "index.rst").write_text(
        "Home\n====\n\n.. claim-digest::\n\n   add-loss-once-unweighted | next | what to do\n"
        "   tfp-kl-weight | next\n\n.. _next:\n\nNext\n----\n\n"
        ".. claim:: add-loss-once-unweighted\n\n.. claim:: tfp-kl-weight\n"
    )
    app = make_app("html", srcdir=src)
    app.build()
    page = (Path(app.outdir) / "index.html").read_text()
    digest = page[page.index('class="claim-digest') :]
    digest = digest[: digest.index("</ul>")]
    assert re.search(
        r'href="#claim-add-loss-once-unweighted".*href="#next".*what to do', digest, re.S
    )
    assert "index.rst:" in warnings_of(app) and "needs '<id> | <label> | <text>'" in warnings_of(
        app
    )


#: Words that state an outcome: a paragraph using them speaks of a claim's result.
OUTCOME_WORDS = re.compile(
    r"\b(holds|does not hold|refuses|refused|counted twice|counts? it twice|T \+ 1"
    r"|divided by the batch size|not divided)\b"
)


@pytest.mark.parametrize("name", ["index", "questions", "boundaries", "verdict", "bayesian",
                                  "layer-losses", "call-chain", "changes"])  # fmt: skip
def test_every_sentence_about_an_outcome_is_tied_to_a_claim(name: str) -> None:
    """A paragraph that states an outcome names its claim (a box, a range role or a link), or
    shows the cited code it quotes, or is the short answer the claim digest below it lists."""
    text = (ROOT / "docs" / f"{name}.md").read_text()
    blocks = re.split(r"\n\s*\n", text)
    untied = []
    inside_fence = False
    for i, block in enumerate(blocks):
        fences = block.count("```")
        if inside_fence or block.lstrip().startswith("```"):
            inside_fence = (inside_fence + fences) % 2 == 1
            continue
        inside_fence = fences % 2 == 1
        if not OUTCOME_WORDS.search(block) or re.search(r"claim-|\{claim-", block):
            continue
        following = blocks[i + 1].lstrip() if i + 1 < len(blocks) else ""
        # Evidence right below: the cited code (for releases that are cited, not executed), or
        # (a formula and a line later) the digest of the claims the short answer sums up.
        if following.startswith(("```{pincite-source}", "```{pincite-diff}")):
            continue
        if any(b.lstrip().startswith("```{claim-digest}") for b in blocks[i + 1 : i + 4]):
            continue
        if "its box says" in block:  # the questions page says what a box is, not an outcome
            continue
        untied.append(" ".join(block.split())[:120])
    assert untied == []


def test_the_questions_list_is_the_questions_headings() -> None:
    """The list at the top of the questions page names each section as its heading does."""
    text = (ROOT / "docs" / "questions.md").read_text()
    listed = re.findall(r"^- \[(.+)\]\(#(q-[a-z-]+)\)$", text, re.M)
    headings = re.findall(r"^\((q-[a-z-]+)\)=\n## (.+)$", text, re.M)
    assert listed == [(title, label) for label, title in headings]
