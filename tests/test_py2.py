"""The proofs rewritten for Python 2.7 (`claims.py2`): what the rewrite leaves, what it keeps."""

from __future__ import annotations

import ast
import json
import re
import sys
import textwrap
import types
from pathlib import Path

import pytest

from claims import catalog, py2, py2_runtime
from claims.builder import pip_source_args
from claims.grid import GridError, load_grid

#: Syntax that Python 2.7 cannot read, by AST node.
PY3_ONLY = (ast.JoinedStr, ast.AnnAssign, ast.NamedExpr, ast.Nonlocal, ast.YieldFrom)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime importable as the rewritten modules import it (``claims._py2``)."""
    monkeypatch.setitem(sys.modules, "claims._py2", py2_runtime)


def _py3_only(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, PY3_ONLY):
            found.append(type(node).__name__)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            found.append("@")
        elif isinstance(node, ast.Dict) and None in node.keys:
            found.append("{**}")
        elif isinstance(node, ast.FunctionDef | ast.Lambda):
            args = node.args
            annotated = [a for a in (*args.args, args.vararg, args.kwarg) if a and a.annotation]
            if annotated or getattr(node, "returns", None) or args.kwonlyargs:
                found.append(f"annotations of {getattr(node, 'name', 'lambda')}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "super":
            if not node.args:
                found.append("super()")
        elif isinstance(node, ast.ClassDef) and not node.bases:
            found.append(f"old-style class {node.name}")
    return found


def test_the_tree_of_the_real_proofs_holds_nothing_python_2_7_cannot_read() -> None:
    files = py2.tree_files(catalog.HERE)
    as_written = {"claims/__init__.py", "claims/_py2.py"} | {f"claims/{n}" for n in py2.VERBATIM}
    rewritten = {k: v for k, v in files.items() if k not in as_written}
    assert {"claims/proofs/__init__.py", "claims/proofs/lab.py", "claims/run_py2.py"} <= set(
        rewritten
    )
    assert any(k.startswith("claims/reader_code/") for k in rewritten)
    for rel, text in rewritten.items():
        assert _py3_only(text) == [], rel
        assert text.startswith("# -*- coding: utf-8 -*-\n"), rel
        tree = ast.parse(text)
        futures = [
            n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"
        ]
        assert futures and "division" in {a.name for a in futures[0].names}, rel
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not imported & {"dataclasses", "typing", "collections.abc", "pathlib"}, rel


SAMPLE = '''
"""A module that uses what 2.7 lacks."""
from __future__ import annotations
import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
import numpy as np

@dataclass(frozen=True)
class Term:
    kind: str
    scale: float = 2.0

@dataclass
class Evidence:
    holds: bool
    numbers: dict[str, Any] = field(default_factory=dict)

class Base:
    def hello(self) -> str:
        return "base"

class Child(Base):
    def hello(self) -> str:
        return "child of " + super().hello()

def run(width: int = 7) -> dict[str, Any]:
    a, b = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])
    k, v = "loss", 1 / 3
    first = {"x": 1, "y": 2}
    e = Evidence(True)
    e.numbers["n"] = 1
    return {
        "f": f"{k:<{width}} = {v:.3f} {k!r} {{braces}} {len(k)}",
        "matmul": (a @ b).tolist(),
        "merged": {**first, "y": 3, **{"z": 4}},
        "listed": [*range(3), 9, *"ab"],
        "tupled": (*range(2), 5),
        "super": Child().hello(),
        "term": (Term("k"), Term("k") == Term("k", 2.0), Term("k", scale=3.0).scale),
        "fresh": Evidence(False).numbers,
        "defaults": (max([], default=-1), max([4, 2], default=0), min([], default=5)),
        "nan": math.isnan(math.nan),
        "ns": SimpleNamespace(a=1).a,
        "division": 7 / 2,
    }
'''


def _run(source: str, where: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    module = types.ModuleType(where)  # dataclasses look their class's module up
    monkeypatch.setitem(sys.modules, where, module)
    exec(compile(source, where, "exec"), module.__dict__)
    return module.run()


def test_rewritten_code_computes_what_the_original_computes(
    runtime: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewritten = py2.transpile(SAMPLE, "sample.py")
    assert _py3_only(rewritten) == []
    original = _run(SAMPLE, "sample", monkeypatch)
    converted = _run(rewritten, "sample2", monkeypatch)
    # Dataclass instances differ by class; compare what they hold.
    term, term2 = original.pop("term"), converted.pop("term")
    assert (term[0].kind, term[0].scale, term[1], term[2]) == (
        term2[0].kind,
        term2[0].scale,
        term2[1],
        term2[2],
    )
    assert converted == original
    assert original["f"] == "loss    = 0.333 'loss' {braces} 4"
    # The module docstring stays the module's docstring.
    assert ast.get_docstring(ast.parse(rewritten)) == "A module that uses what 2.7 lacks."


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("def f():\n    x = 1\n    def g():\n        nonlocal x\n", "nonlocal"),
        ("if (n := 3):\n    pass\n", "assignment expression"),
        ("def f(a, *, b):\n    pass\n", "keyword-only"),
        ("def f():\n    yield from range(3)\n", "yield from"),
        ("print(*a, *b)\n", "two *-arguments"),
        ("x = max(a, key=len)\n", "keywords other than default="),
        ("*a, b = c\n", "starred assignment"),
        ("def f(:\n", "invalid syntax"),
    ],
)
def test_what_2_7_cannot_express_is_an_error_naming_the_line(source: str, what: str) -> None:
    with pytest.raises(py2.Py2Error, match=rf"^mod\.py:\d+: .*{re.escape(what)}"):
        py2.transpile("\n" + source, "mod.py")


def test_the_catalog_stand_in_names_variants_as_the_catalog_does(runtime: None) -> None:
    scope: dict = {}
    exec(compile(py2.catalog_module(), "catalog2", "exec"), scope)
    for name in ("HOLDS", "FAILS", "REFUSES", "UNTESTED", "NA"):
        assert scope[name] == getattr(catalog, name)
    for axes in ({}, {"entry": "fit"}, {"entry": "fit", "loss": "kl", "execution": "run_eagerly"}):
        mine, theirs = scope["Variant"](**axes), catalog.Variant(**axes)
        assert (mine.label, mine.eager, mine.axes()) == (theirs.label, theirs.eager, theirs.axes())
    variants = [{"outcome": o, "detail": o} for o in (catalog.HOLDS, catalog.REFUSES)]
    assert scope["claim_result"](variants, 1.23456) == catalog.claim_result(variants, 1.23456)


def test_the_tree_is_written_once_under_a_name_of_its_contents(tmp_path: Path) -> None:
    first = py2.write_tree(catalog.HERE, tmp_path)
    assert (first / "claims" / "_py2.py").read_text() == py2.RUNTIME.read_text()
    stamp = (first / "claims" / "run_py2.py").stat().st_mtime_ns
    assert py2.write_tree(catalog.HERE, tmp_path) == first
    assert (first / "claims" / "run_py2.py").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary folder left


def _measured(outcomes: dict[str, list[str]], loaded: str = "2.3.1") -> dict:
    results = {
        claim_id: {
            "variants": [
                {
                    "variant": "fit",
                    "axes": {"entry": "fit"},
                    "outcome": o,
                    "numbers": {},
                    "detail": d,
                }
                for o, d in zip(found, ("", "TypeError: no"), strict=False)
            ],
            "seconds": 0.25,
        }
        for claim_id, found in outcomes.items()
    }
    return {
        "loaded": loaded,
        "backend": "tensorflow",
        "python": "2.7.18",
        "platform": "linux-x86_64",
        "versions": {"keras": "2.3.1", "tensorflow": "2.0.0"},
        "seconds": 3.14159,
        "results": results,
    }


def test_the_record_of_a_2_7_run_is_composed_like_any_other() -> None:
    cat = catalog.load_catalog_in(catalog.HERE)
    env = cat.envs["keras2-2.3.1-tensorflow"]
    plan = py2.plan(cat, env)
    assert plan["line"] == "keras2" and plan["backend"] == "tensorflow"
    assert all(cat.claims[c["id"]].expected(env) != catalog.NA for c in plan["claims"])
    assert json.loads(json.dumps(plan)) == plan  # what the 2.7 runner reads
    # Every planned claim reports what the catalog expects there, but one.
    wanted = {c["id"]: [cat.claims[c["id"]].expected(env)] for c in plan["claims"]}
    odd = plan["claims"][0]["id"]
    wanted[odd] = (
        [catalog.HOLDS, catalog.FAILS] if wanted[odd] != [catalog.FAILS] else [catalog.HOLDS]
    )
    lines: list[str] = []
    base = {"id": "keras-2.3.1-tf-2.0", "identity": "x" * 64}
    record, disagree = py2.record(cat, env, "f" * 64, base, _measured(wanted), lines.append)
    assert record["fingerprint"] == "f" * 64 and record["base"] == base
    assert record["python"] == "2.7.18" and record["preloaded"] is None
    assert record["seconds"] == 3.142 and record["status"] == "disagrees"
    assert len(disagree) == 1 and odd in disagree[0]
    assert record["results"][odd]["outcome"] != cat.claims[odd].expected(env)
    assert (
        len(lines) == len(plan["claims"])
        and sum(line.startswith("DISAGREES") for line in lines) == 1
    )
    with pytest.raises(SystemExit, match=r"loaded 2\.2\.5 on tensorflow"):
        py2.record(cat, env, "f" * 64, base, _measured(wanted, loaded="2.2.5"), lines.append)


def test_pip_gets_the_same_sources_as_uv() -> None:
    uv = ["--extra-index-url", "file:///x", "--find-links", "/w", "--index-strategy",
          "unsafe-best-match", "--constraint", "/c.txt"]  # fmt: skip
    assert pip_source_args(uv) == [
        "--extra-index-url", "file:///x", "--find-links", "/w", "--constraint", "/c.txt",
    ]  # fmt: skip


def test_a_base_names_its_own_interpreter_only_inside_a_system(tmp_path: Path) -> None:
    spec = textwrap.dedent(
        """
        [system.old]
        suite = "bullseye"
        packages = ["python3", "python2.7"]
        python = "/usr/bin/python3.9"
        [base.two]
        system = "old"
        python = "/usr/bin/python2.7"
        requires = ["keras==2.3.1"]
        [line.keras2]
        label = "Keras"
        dist = "keras"
        releases = ["2.3.1"]
        [line.keras2.backends]
        tensorflow = { "" = "two" }
        [base.host]
        python = "/usr/bin/python2.7"
        requires = ["keras==2.3.1"]
        """
    )
    path = tmp_path / "grid.toml"
    path.write_text(spec)
    with pytest.raises(GridError, match=r"\[base\.host\]: 'python' is a path"):
        load_grid(path)
    path.write_text(spec.split("[base.host]")[0])  # the same, without the host's
    grid = load_grid(path)
    assert grid.python_of("two") == "2.7" and grid.bases["two"].interpreter == "/usr/bin/python2.7"
