"""The proofs on Python 2.7: the same source, rewritten by syntax into what 2.7 reads.

Standalone Keras 2.3.1 runs on the TensorFlow of its time (2.0) only under CPython 2.7. The
proofs are written once, in today's Python; this module rewrites them, and the reader code
they execute, into a tree that 2.7 imports, so that the proofs that run there are the proofs
that run everywhere else, not a second copy. Every rewrite keeps what the code does:

- annotations go; ``from __future__ import annotations`` becomes ``division`` (``/`` stays
  true division), ``unicode_literals`` (a literal is text, as today), ``print_function`` and
  ``absolute_import``;
- f-strings become ``str.format`` calls; ``a @ b`` becomes ``numpy.matmul(a, b)``;
  ``{**a, k: v}`` and ``[*a, b]`` become a merge and a concatenation; ``super()`` names its
  class; a class without bases derives from ``object``; ``max(..., default=d)`` and
  ``math.nan`` are spelled as 2.7 can;
- ``dataclasses``, ``typing``, ``types.SimpleNamespace`` and ``importlib.util`` come from a
  small runtime (`claims/py2_runtime.py`), ``pathlib`` from its backport ``pathlib2``.

Anything else that 2.7 cannot read is an error naming the file and line, never a silent
change. The tree holds a catalog stand-in (the outcome names and `Variant`, from
`claims.catalog`) and the runner (`claims/run_py2.py`, rewritten like the proofs); the grid
runner writes the record from what it reports (`claims.run.compose_record`).
"""

from __future__ import annotations

import ast
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claims import catalog
from claims.catalog import NA, PROOFS_PACKAGE, READER_CODE, Catalog, claim_result
from claims.grid import Env
from claims.provenance import reported_names
from claims.run import compose_record

HERE = Path(__file__).resolve().parent
#: The runtime every rewritten module may import, copied as ``claims/_py2.py``.
RUNTIME = HERE / "py2_runtime.py"
#: The runner, rewritten like the proofs: it runs the variants the grid runner plans.
RUNNER = HERE / "run_py2.py"
#: Copied as they are: run by the root filesystem's Python 3, not by 2.7.
VERBATIM = ("cputime.py",)
#: What the proofs import of `claims.catalog` besides the outcome names.
CATALOG_CODE = ("Variant", "combine", "claim_result")
#: Imports replaced by the runtime's (module -> where the names come from).
FROM_RUNTIME = {"dataclasses", "typing", "collections.abc"}
RUNTIME_NAMES = {("types", "SimpleNamespace")}
RENAMED_MODULES = {"pathlib": "pathlib2"}
FUTURE = "from __future__ import absolute_import, division, print_function, unicode_literals"


class Py2Error(Exception):
    """Source that the rewrite cannot express in Python 2.7 (file and line)."""


class _Rewrite(ast.NodeTransformer):
    """One module's syntax, from today's Python to 2.7's."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.classes: list[str] = []
        self.functions: list[ast.FunctionDef | ast.Lambda] = []
        self.needs: set[str] = set()

    def fail(self, node: ast.AST, what: str) -> Py2Error:
        return Py2Error(f"{self.where}:{getattr(node, 'lineno', '?')}: {what} has no 2.7 form")

    # -- imports -----------------------------------------------------------------------

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST | list[ast.AST] | None:
        if node.module == "__future__":
            return None  # the module's own future line is written first
        if node.module in FROM_RUNTIME:
            return ast.ImportFrom("claims._py2", node.names, 0)
        if node.module == "types":
            moved = [a for a in node.names if (node.module, a.name) in RUNTIME_NAMES]
            kept = [a for a in node.names if a not in moved]
            out: list[ast.AST] = [ast.ImportFrom("types", kept, 0)] if kept else []
            return out + ([ast.ImportFrom("claims._py2", moved, 0)] if moved else [])
        if node.module in RENAMED_MODULES:
            return ast.ImportFrom(RENAMED_MODULES[node.module], node.names, node.level)
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST | None:
        names = [a for a in node.names if a.name != "importlib.util"]
        if len(names) != len(node.names):
            self.needs.add("importlib_util")
        return ast.Import(names) if names else None

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if (owner, node.attr) == ("importlib", "util"):
            return ast.Name("importlib_util", ast.Load())
        if owner == "math" and node.attr in ("nan", "inf"):
            return _call("float", ast.Constant(node.attr))
        return node

    # -- annotations -------------------------------------------------------------------

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        self.generic_visit(node)
        if node.value is None:
            return None
        return ast.Assign([node.target], node.value)

    def _arguments(self, args: ast.arguments, node: ast.AST) -> None:
        if args.kwonlyargs or args.posonlyargs:
            raise self.fail(node, "a keyword-only or positional-only parameter")
        for arg in (*args.args, args.vararg, args.kwarg):
            if arg is not None:
                arg.annotation = None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self._arguments(node.args, node)
        node.returns = None
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self._arguments(node.args, node)
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        if node.keywords:
            raise self.fail(node, "a class keyword (metaclass=...)")
        if _is_dataclass(node):
            node.body = _dataclass_fields(node) + node.body
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()
        if not node.bases:  # a new-style class, as every class is today
            node.bases = [ast.Name("object", ast.Load())]
        return node

    # -- expressions -------------------------------------------------------------------

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        template, args = _format_template(node, self)  # it rewrites each value
        return ast.Call(ast.Attribute(ast.Constant(template), "format", ast.Load()), args, [])

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.MatMult):
            self.needs.add("matmul")
            return _call("matmul", node.left, node.right)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        self.generic_visit(node)
        if None not in node.keys:
            return node
        parts: list[ast.expr] = []
        keys: list[ast.expr | None] = []
        values: list[ast.expr] = []
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                if keys:
                    parts.append(ast.Dict(keys, values))
                    keys, values = [], []
                parts.append(value)
            else:
                keys.append(key)
                values.append(value)
        if keys:
            parts.append(ast.Dict(keys, values))
        self.needs.add("merge")
        return _call("merge", *parts)

    def _starred(self, node: ast.List | ast.Tuple | ast.Set) -> ast.AST:
        self.generic_visit(node)
        if not any(isinstance(e, ast.Starred) for e in node.elts):
            return node
        if isinstance(getattr(node, "ctx", None), ast.Store):
            raise self.fail(node, "a starred assignment target")
        pieces: list[ast.expr] = []
        for element in node.elts:
            if isinstance(element, ast.Starred):
                pieces.append(_call("list", element.value))
            else:
                pieces.append(ast.List([element], ast.Load()))
        joined = pieces[0]
        for piece in pieces[1:]:
            joined = ast.BinOp(joined, ast.Add(), piece)
        if isinstance(node, ast.Tuple):
            return _call("tuple", joined)
        if isinstance(node, ast.Set):
            return _call("set", joined)
        return joined

    visit_List = visit_Tuple = visit_Set = _starred

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if sum(isinstance(a, ast.Starred) for a in node.args) > 1:
            raise self.fail(node, "a call with two *-arguments")
        if sum(k.arg is None for k in node.keywords) > 1:
            raise self.fail(node, "a call with two **-arguments")
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name == "super" and not node.args:
            if not self.classes or not self.functions or not self.functions[-1].args.args:
                raise self.fail(node, "super() outside a method")
            this = self.functions[-1].args.args[0].arg
            node.args = [ast.Name(self.classes[-1], ast.Load()), ast.Name(this, ast.Load())]
        if name in ("max", "min") and node.keywords:
            default = [k for k in node.keywords if k.arg == "default"]
            if len(default) != len(node.keywords) or len(node.args) != 1:
                raise self.fail(node, f"{name}() with keywords other than default=")
            self.needs.add(f"{name}_default")
            return _call(f"{name}_default", node.args[0], default[0].value)
        for keyword in node.keywords:
            if keyword.arg == "strict" and name == "zip":
                raise self.fail(node, "zip(strict=...)")
        return node

    def visit_NamedExpr(self, node: ast.NamedExpr) -> ast.AST:
        raise self.fail(node, "an assignment expression (:=)")

    def visit_Nonlocal(self, node: ast.Nonlocal) -> ast.AST:
        raise self.fail(node, "nonlocal")

    def visit_YieldFrom(self, node: ast.YieldFrom) -> ast.AST:
        raise self.fail(node, "yield from")

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        self.generic_visit(node)
        node.cause = None  # 2.7 chains no exceptions; the message is the same
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        raise self.fail(node, "async def")


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(name, ast.Load()), list(args), [])


def _is_dataclass(node: ast.ClassDef) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        if isinstance(target, ast.Name) and target.id == "dataclass":
            return True
    return False


def _dataclass_fields(node: ast.ClassDef) -> list[ast.stmt]:
    """``__dataclass_fields__ = ("holds", "numbers", ...)``: what the runtime's `dataclass`
    reads in place of the annotations, which 2.7 has not."""
    names = [
        s.target.id
        for s in node.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
    ]
    value = ast.Tuple([ast.Constant(n) for n in names], ast.Load())
    return [ast.Assign([ast.Name("__dataclass_fields__", ast.Store())], value)]


def _format_template(node: ast.JoinedStr, rewrite: _Rewrite) -> tuple[str, list[ast.expr]]:
    """An f-string as a ``str.format`` template and its arguments (nested specs included)."""
    template, args = "", []
    for part in node.values:
        if isinstance(part, ast.Constant):
            template += str(part.value).replace("{", "{{").replace("}", "}}")
            continue
        if not isinstance(part, ast.FormattedValue):
            raise rewrite.fail(node, "an f-string part")
        args.append(rewrite.visit(part.value))
        field = "{"
        if part.conversion != -1:
            field += "!" + chr(part.conversion)
        if isinstance(part.format_spec, ast.JoinedStr):
            spec, spec_args = _format_template(part.format_spec, rewrite)
            field += ":" + spec
            args.extend(spec_args)
        template += field + "}"
    return template, args


def transpile(source: str, where: str) -> str:
    """One module's source in Python 2.7's syntax (``where`` names it in errors)."""
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as exc:
        raise Py2Error(f"{where}:{exc.lineno}: {exc.msg}") from None
    rewrite = _Rewrite(where)
    tree = rewrite.visit(tree)
    head: list[ast.stmt] = [ast.parse(FUTURE).body[0]]
    if rewrite.needs:
        names = [ast.alias(n) for n in sorted(rewrite.needs)]
        head.append(ast.ImportFrom("claims._py2", names, 0))
    # After the docstring (a module's __doc__), before anything else, as 2.7 requires.
    at = 1 if ast.get_docstring(tree, clean=False) is not None else 0
    tree.body[at:at] = head
    # 2.7 reads a file as ASCII unless it says otherwise.
    return "# -*- coding: utf-8 -*-\n" + ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def catalog_module() -> str:
    """The catalog as the proofs import it on 2.7: the outcome names, and `Variant` and
    `combine` rewritten from `claims.catalog`'s own source."""
    source = (HERE / "catalog.py").read_text(encoding="utf-8")
    kept = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name in CATALOG_CODE
    ]
    names = ("HOLDS", "FAILS", "REFUSES", "UNTESTED", "NA")
    module = "\n".join(
        [
            '"""The part of `claims.catalog` the proofs import (written by `claims.py2`)."""',
            *(f"{n} = {getattr(catalog, n)!r}" for n in names),
            "from claims._py2 import Claim, dataclass",
            *(ast.unparse(node) for node in kept),
        ]
    )
    return transpile(module + "\n", "claims/catalog.py")


def tree_files(folder: Path) -> dict[str, str]:
    """Every file of the 2.7 tree for the claims folder ``folder``, by path in the tree."""
    files = {
        "claims/__init__.py": '"""The claims, rewritten for Python 2.7 (see claims/py2.py)."""\n',
        "claims/_py2.py": RUNTIME.read_text(encoding="utf-8"),
        "claims/catalog.py": catalog_module(),
        "claims/run_py2.py": transpile(RUNNER.read_text(encoding="utf-8"), "claims/run_py2.py"),
    }
    for name in VERBATIM:
        files[f"claims/{name}"] = (HERE / name).read_text(encoding="utf-8")
    for sub in (PROOFS_PACKAGE, READER_CODE):
        for path in sorted((folder / sub).glob("*.py")):
            rel = f"claims/{sub}/{path.name}"
            files[rel] = transpile(path.read_text(encoding="utf-8"), rel)
    return files


def write_tree(folder: Path, parent: Path) -> Path:
    """The 2.7 tree of ``folder`` under ``parent``, named by its contents' digest: written
    once (into a temporary folder, then renamed), the same path for the same sources."""
    files = tree_files(folder)
    digest = hashlib.sha256()
    for rel, text in sorted(files.items()):
        digest.update(rel.encode() + b"\0" + text.encode() + b"\0")
    final = parent / f"py27-{digest.hexdigest()[:16]}"
    if final.is_dir():
        return final
    tmp = parent / f"{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, text in files.items():
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    tmp.rename(final)
    return final


def plan(catalog: Catalog, env: Env) -> dict[str, Any]:
    """What `claims.run_py2` runs in ``env``: each claim expected there, with its variants."""
    return {
        "env": env.id,
        "line": env.line,
        "backend": env.backend,
        "claims": [
            {"id": claim.id, "variants": [vars(v) for v in claim.variants(env)]}
            for claim in catalog.claims.values()
            if claim.expected(env) != NA
        ],
        "versions": reported_names(catalog.grid, env),
    }


def record(
    catalog: Catalog,
    env: Env,
    current: str,
    base: dict[str, str],
    measured: dict[str, Any],
    echo: Callable[[str], object],
) -> tuple[dict[str, Any], list[str]]:
    """The environment's record from what `claims.run_py2` measured, as `claims.run` writes
    it; and where an outcome disagrees with the catalog. SystemExit if the environment ran
    another release or backend than the grid's."""
    if measured["loaded"] != env.release or measured["backend"] != env.backend:
        raise SystemExit(
            f"{env.id}: loaded {measured['loaded']} on {measured['backend']}, the grid says "
            f"{env.release} on {env.backend}: the environment is broken"
        )
    results = {
        claim_id: claim_result(ran["variants"], ran["seconds"])
        for claim_id, ran in measured["results"].items()
    }
    fields = ("backend", "python", "platform", "versions")
    ran = {name: measured[name] for name in fields}
    ran.update(compile_cache=False, preloaded=None, seconds=round(measured["seconds"], 3))
    return compose_record(catalog, env, current, base, ran, results, echo)
