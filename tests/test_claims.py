"""The claims catalog, the results file the site renders, and the page helper's assertion."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

CLAIMS = Path(__file__).resolve().parent.parent / "claims"
sys.path.insert(0, str(CLAIMS))

import catalog  # noqa: E402
import proofs  # noqa: E402  (NumPy only at import; Keras is loaded by Lab)


def test_every_claim_has_exactly_one_proof() -> None:
    cat = catalog.load_catalog()
    assert set(proofs.PROOFS) == set(cat.claims)


def test_committed_results_match_the_current_claims() -> None:
    cat = catalog.load_catalog()
    data = catalog.load_results(cat)
    for env in data["envs"].values():
        for result in env["results"].values():
            assert result["outcome"] == result["expected"]


def _results_copy(tmp_path: Path, edit) -> Path:
    data = json.loads(catalog.RESULTS.read_text())
    edit(data)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["envs"]["keras-2.15"]["results"].pop("tfp-kl-weight"), "missing"),
        (
            lambda d: d["envs"]["keras-2.15"]["results"].__setitem__("new-claim", {}),
            "unknown",
        ),
        (
            lambda d: d["envs"]["keras-3.15-jax"]["results"]["add-loss-once-unweighted"].update(
                expected="fails"
            ),
            "the catalog now expects 'holds'",
        ),
        (lambda d: d["envs"].pop("keras-3.15-jax"), "results are for envs"),
    ],
)
def test_results_not_matching_the_claims_are_refused(tmp_path: Path, edit, message) -> None:
    path = _results_copy(tmp_path, edit)
    with pytest.raises(catalog.CatalogError, match=message) as info:
        catalog.load_results(catalog.load_catalog(), path)
    assert "nox -s matrix" in str(info.value)


def test_malformed_catalog_names_the_entry(tmp_path: Path) -> None:
    text = catalog.CATALOG.read_text().replace(
        'holds-in = ["keras-2.15", "tf-keras-2.21"]\nruns-in', 'holds-in = ["keras-9"]\nruns-in', 1
    )
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    with pytest.raises(
        catalog.CatalogError, match=r"\(tfp-kl-weight\): unknown env\(s\) \['keras-9'\]"
    ):
        catalog.load_catalog(path)


def test_prove_fails_naming_the_claim_when_reality_disagrees(monkeypatch, capsys) -> None:
    import page

    class FakeKeras:
        __name__ = "fakekeras"
        __version__ = "0"

    class FakeLab:
        keras = FakeKeras()

    monkeypatch.setattr(page, "_LABS", {"tf-keras-2.21": FakeLab()})
    monkeypatch.setitem(
        proofs.PROOFS,
        "add-loss-once-unweighted",
        lambda lab: proofs.Evidence("add-loss-once-unweighted", holds=False, numbers={"x": 1.0}),
    )
    with pytest.raises(AssertionError, match=r"claim 'add-loss-once-unweighted' in tf-keras-2.21"):
        page.prove("add-loss-once-unweighted")
    assert "x = 1" in capsys.readouterr().out
    # A claim expected *not* to hold passes when it does not hold.
    monkeypatch.setitem(
        proofs.PROOFS,
        "nonscalar-add-loss-summed",
        lambda lab: proofs.Evidence("nonscalar-add-loss-summed", holds=False),
    )
    page.prove("nonscalar-add-loss-summed")
