"""Read `catalog.toml` (claims and where each is expected to hold) and validate grid results.

Where a claim is expected to hold, where Keras refuses its pattern, and where it cannot be
tested, are lists of *scopes*: ``"keras >=3.14"``, ``"tf.keras"``,
``"keras >=3.8 on tensorflow"`` — a line of the grid, an optional PEP 440 specifier on its
release, and optional backends. Pure Python: importable without TensorFlow.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys

if sys.version_info >= (3, 11):  # noqa: UP036 (the runner also runs on 3.9)
    import tomllib
else:  # Python 3.9 in the bullseye bases, which install tomli
    import tomli as tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from claims.grid import GRID, Env, Grid, GridError, load_grid

HERE = Path(__file__).resolve().parent
CATALOG = HERE / "catalog.toml"
RESULTS = HERE / "results.json"
#: What the committed results depend on: change any and they are stale (and every module of
#: the proofs package, and the reader code).
FINGERPRINTED = ("catalog.toml", "grid.toml", "run.py")
#: The rewrite of the proofs for Python 2.7, its runtime and its runner.
FINGERPRINTED_PY2 = ("py2.py", "py2_runtime.py", "run_py2.py")
#: The catalog's prose: what the site says of a claim, neither what runs nor what is expected,
#: so rewording it leaves the results current (its comments are not part of them either).
PROSE_FIELDS = ("title", "statement", "why", "untested-why")
#: Where each outcome is expected: not what a record measured, so a record stays current when
#: they change; every merge and every page checks each outcome against them anew.
EXPECTATION_FIELDS = ("holds", "refuses", "untested")
#: Which releases a line runs: each record names its own, so adding one leaves the others current.
RELEASE_FIELDS = ("releases", "first", "exclude")
#: The proofs: one module per topic in this package (a test's claims folder may hold one file).
PROOFS_PACKAGE = "proofs"
#: The code readers copy, which the proofs run as it is: the results depend on it too.
READER_CODE = "reader_code"

#: The four outcomes of a claim in an environment, and "not run there".
#: *holds*; *does not hold* (the behaviour was reached and differs); *Keras refuses* (the very
#: pattern the claim is about raises: that is behaviour); *not tested* (the setup failed for a
#: reason the claim is not about). They are never merged into one another.
HOLDS, FAILS, REFUSES, UNTESTED = "holds", "does not hold", "Keras refuses", "not tested"
NA = "n/a"
OUTCOMES = (HOLDS, FAILS, REFUSES, UNTESTED)


#: The axes a claim's sentence can cover, and their values, in the order they are run.
#: *entry*: how the reader drives the model; *loss*: which kind of layer loss; *model*: how
#: the model is written (``keras.Model(inputs, outputs)``, or a subclass whose ``call``
#: applies the layers: Keras builds and traces the two differently); *execution*: the default
#: traced step (``tf.function``, ``jax.jit``; PyTorch's default is eager) or
#: ``compile(run_eagerly=True)``.
AXES: dict[str, tuple[str, ...]] = {
    "entry": (
        "fit", "train_on_batch", "evaluate", "val_loss", "test_on_batch", "call", "custom_loop",
    ),
    "loss": ("add_loss", "kernel_regularizer", "activity_regularizer", "kl"),
    "model": ("functional", "subclassed"),
    "execution": ("default", "run_eagerly"),
}  # fmt: skip
#: Axis values that exist on some lines only, and why.
ONLY_ON: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("loss", "kl"): (("tf.keras", "tf_keras"), "TFP's layers are tf-keras layers"),
    ("execution", "run_eagerly"): (
        ("keras", "tf.keras", "tf_keras"),
        "standalone Keras 2.3.1 builds one symbolic graph on every backend: it has no eager mode",
    ),
}


@dataclass(frozen=True)
class Variant:
    """One combination of a claim's axes: e.g. ``fit``, ``kernel_regularizer``, ``default``."""

    entry: str = ""
    loss: str = ""
    model: str = ""
    execution: str = ""

    @property
    def label(self) -> str:
        """``fit · kernel_regularizer · run_eagerly`` (the axes the claim names, in order)."""
        names = (self.entry, self.loss, self.model, self.execution)
        return " · ".join(v for v in names if v) or "as stated"

    @property
    def eager(self) -> bool:
        """Whether the step runs with ``run_eagerly=True``."""
        return self.execution == "run_eagerly"

    def axes(self) -> dict[str, str]:
        """The axes this variant sets, by name."""
        return {k: v for k, v in vars(self).items() if v}


def combine(outcomes: list[str]) -> str:
    """A claim's outcome from its variants': it holds only where every variant holds.

    A variant reached that differs makes it not hold; else one not reached makes it not
    tested; else one whose pattern Keras refuses makes it "Keras refuses".
    """
    for outcome in (FAILS, UNTESTED, REFUSES):
        if outcome in outcomes:
            return outcome
    return HOLDS if outcomes else UNTESTED


def claim_result(variants: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """A claim's result in one environment from its variants' records: the combined outcome,
    and the first exception of a variant with that outcome (what a box names where Keras
    refuses, or why it was not tested)."""
    outcome = combine([v["outcome"] for v in variants])
    detail = next((v["detail"] for v in variants if v["outcome"] == outcome and v["detail"]), "")
    return {
        "outcome": outcome,
        "detail": detail,
        "variants": variants,
        "seconds": round(seconds, 3),
    }


class CatalogError(Exception):
    """The catalog or a results file is malformed or out of date."""


@dataclass(frozen=True)
class Scope:
    """Part of the grid: a line, an optional release specifier, optional backends."""

    line: str
    spec: SpecifierSet
    backends: frozenset[str] | None

    def admits(self, env: Env) -> bool:
        """Whether ``env`` lies in this scope."""
        return (
            env.line == self.line
            and self.spec.contains(env.release, prereleases=True)
            and (self.backends is None or env.backend in self.backends)
        )


def parse_scope(text: str, grid: Grid) -> Scope:
    """``"keras >=3.8, <3.14 on jax, torch"`` -> Scope; errors say what is wrong."""
    head, _, on = text.partition(" on ")
    line, _, spec = head.strip().partition(" ")
    if line not in grid.lines:
        raise CatalogError(
            f"scope {text!r}: unknown line {line!r} (known: {', '.join(grid.lines)})"
        )
    try:
        specifier = SpecifierSet(spec.strip())
    except InvalidSpecifier:
        raise CatalogError(f"scope {text!r}: {spec.strip()!r} is not a version specifier") from None
    backends = None
    if on:
        backends = frozenset(b.strip() for b in on.split(","))
        unknown = backends - set(grid.lines[line].backends)
        if unknown:
            raise CatalogError(f"scope {text!r}: line {line} has no backend {sorted(unknown)}")
    return Scope(line, specifier, backends)


@dataclass(frozen=True)
class Claim:
    """One claim: its statement, where it runs, and where it is expected to hold."""

    id: str
    statement: str
    holds: tuple[Scope, ...]
    runs: tuple[Scope, ...] | None
    refuses: tuple[Scope, ...] = ()
    untested: tuple[Scope, ...] = ()
    why: str = ""
    untested_why: str = ""
    axes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    title: str = ""  # a short human name, for links and the grid (the id stays the anchor)

    def variants(self, env: Env) -> list[Variant]:
        """Every combination of the claim's axes that exists in ``env``, in run order."""
        values = [
            [v for v in these if (name, v) not in ONLY_ON or env.line in ONLY_ON[(name, v)][0]]
            for name, these in self.axes
        ]
        names = [name for name, _ in self.axes]
        # zip without strict=: the runner also runs on Python 3.9 (the bullseye bases).
        combos = itertools.product(*values)
        return [Variant(**dict(zip(names, combo))) for combo in combos]  # noqa: B905

    def expected(self, env: Env) -> str:
        """The outcome the catalog expects in ``env`` (``n/a`` where the claim is not run)."""
        if self.runs is not None and not any(s.admits(env) for s in self.runs):
            return NA
        for outcome, scopes in (
            (HOLDS, self.holds),
            (REFUSES, self.refuses),
            (UNTESTED, self.untested),
        ):
            if any(s.admits(env) for s in scopes):
                return outcome
        return FAILS

    def accepts(self, env: Env, outcome: str) -> bool:
        """Whether ``outcome`` is exactly what the catalog expects in ``env``."""
        return outcome == self.expected(env)


@dataclass(frozen=True)
class Catalog:
    """Every claim, in file order, and the grid it is expected over."""

    grid: Grid
    claims: dict[str, Claim]

    @property
    def envs(self) -> dict[str, Env]:
        """The grid's environments."""
        return self.grid.envs


def load_catalog(
    path: Path = CATALOG, grid_path: Path = GRID, releases: dict[str, list[str]] | None = None
) -> Catalog:
    """Parse the catalog against the grid; errors name the file and the claim.

    ``releases``: each discovered line's releases as the index lists them (default: those the
    grid last ran).
    """
    try:
        grid = load_grid(grid_path, releases)  # its errors name grid.toml, not this file
    except GridError as exc:
        raise CatalogError(str(exc)) from None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    claims: dict[str, Claim] = {}
    for n, raw in enumerate(data.get("claim", []), start=1):
        where = f"{path}: [[claim]] #{n}"
        for key in ("id", "title", "statement", "holds"):
            if key not in raw:
                raise CatalogError(f"{where}: field {key!r} is missing")
        where = f"{where} ({raw['id']})"
        unknown = set(raw) - {"id", "title", "statement", "holds", "runs", "refuses", "untested",
                              "why", "untested-why", "variants"}  # fmt: skip
        if unknown:
            raise CatalogError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            holds = tuple(parse_scope(s, grid) for s in raw["holds"])
            runs = tuple(parse_scope(s, grid) for s in raw["runs"]) if "runs" in raw else None
            refuses = tuple(parse_scope(s, grid) for s in raw.get("refuses", ()))
            untested = tuple(parse_scope(s, grid) for s in raw.get("untested", ()))
        except CatalogError as exc:
            raise CatalogError(f"{where}: {exc}") from None
        if raw["id"] in claims:
            raise CatalogError(f"{where}: duplicate id")
        axes = _parse_axes(raw.get("variants", {}), where)
        untested_why = raw.get("untested-why", "").strip()
        if bool(untested) != bool(untested_why):
            raise CatalogError(f"{where}: 'untested' and 'untested-why' go together")
        claim = Claim(
            raw["id"],
            raw["statement"].strip(),
            holds,
            runs,
            refuses,
            untested,
            raw.get("why", "").strip(),
            untested_why,
            axes,
            raw["title"].strip(),
        )
        scopes = {"holds": holds, "refuses": refuses, "untested": untested}
        for name, these in scopes.items():
            outside = [
                e.id for e in grid.envs.values() if claim.expected(e) == NA and _in(these, e)
            ]
            if outside:
                raise CatalogError(f"{where}: {name!r} reaches beyond 'runs': {', '.join(outside)}")
        for (a, sa), (b, sb) in itertools.combinations(scopes.items(), 2):
            both = [e.id for e in grid.envs.values() if _in(sa, e) and _in(sb, e)]
            if both:
                raise CatalogError(f"{where}: {a!r} and {b!r} both cover {', '.join(both)}")
        claims[raw["id"]] = claim
    if not claims:
        raise CatalogError(f"{path}: needs at least one [[claim]]")
    return Catalog(grid=grid, claims=claims)


def _parse_axes(raw: object, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``variants = {entry = [...], loss = [...]}`` -> the axes, in AXES order, checked."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: 'variants' must be a table of axes")
    unknown = set(raw) - set(AXES)
    if unknown:
        raise CatalogError(
            f"{where}: unknown variant axis {', '.join(sorted(unknown))} (known: {', '.join(AXES)})"
        )
    axes = []
    for name, known in AXES.items():
        if name not in raw:
            continue
        values = raw[name]
        if not isinstance(values, list) or not values:
            raise CatalogError(f"{where}: variants.{name} must be a non-empty list")
        wrong = [v for v in values if v not in known]
        if wrong:
            raise CatalogError(
                f"{where}: variants.{name} has no value {', '.join(map(repr, wrong))} "
                f"(known: {', '.join(known)})"
            )
        if len(set(values)) != len(values):
            raise CatalogError(f"{where}: variants.{name} repeats a value")
        axes.append((name, tuple(values)))
    return tuple(axes)


def load_catalog_in(folder: Path, releases: dict[str, list[str]] | None = None) -> Catalog:
    """The catalog and grid of a claims folder (the package's own, or one a test builds)."""
    return load_catalog(folder / CATALOG.name, folder / GRID.name, releases)


def _in(scopes: tuple[Scope, ...], env: Env) -> bool:
    return any(s.admits(env) for s in scopes)


def fingerprint(folder: Path = HERE) -> str:
    """sha256 of the proofs, the catalog (without its prose and expectations), the grid spec
    (without its release lists), the runner and the reader code: of everything that decides
    what a record measures."""
    digest = hashlib.sha256()
    for name in fingerprinted(folder):
        data = (folder / name).read_bytes()
        if name == CATALOG.name:
            data = catalog_without_prose(data)
        elif name == GRID.name:
            data = grid_without_releases(data)
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def catalog_without_prose(data: bytes) -> bytes:
    """The catalog's claims as canonical JSON, without `PROSE_FIELDS` (unparsable: as it is,
    for the catalog's loader to report)."""
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return data
    for claim in parsed.get("claim", []):
        for name in (*PROSE_FIELDS, *EXPECTATION_FIELDS):
            claim.pop(name, None)
    return json.dumps(parsed, sort_keys=True).encode()


def grid_without_releases(data: bytes) -> bytes:
    """The grid spec as canonical JSON, without each line's `RELEASE_FIELDS` (unparsable: as
    it is)."""
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return data
    for line in parsed.get("line", {}).values():
        for name in RELEASE_FIELDS:
            line.pop(name, None)
    return json.dumps(parsed, sort_keys=True).encode()


def fingerprinted(folder: Path = HERE) -> list[str]:
    """The files the results depend on: the specs, the runner, the proofs, the reader code."""
    code = sorted(
        p.relative_to(folder).as_posix()
        for sub in (PROOFS_PACKAGE, READER_CODE)
        for p in (folder / sub).glob("*.py")
    )
    single = [f"{PROOFS_PACKAGE}.py"] if (folder / f"{PROOFS_PACKAGE}.py").exists() else []
    # What runs the proofs on Python 2.7 (a test's claims folder may have none of it).
    py2 = [name for name in FINGERPRINTED_PY2 if (folder / name).exists()]
    return [*single, *FINGERPRINTED, *py2, *code]


def disagreement(claim: Claim, env: Env, outcome: str) -> str | None:
    """Why ``outcome`` of ``claim`` in ``env`` contradicts the catalog (None: it agrees).

    The one comparison of an outcome with the catalog: the grid runner, the merged results
    and the executed pages all ask it.
    """
    if claim.accepts(env, outcome):
        return None
    wanted = {
        HOLDS: "it to hold",
        FAILS: "it to not hold",
        REFUSES: "Keras to refuse it",
        UNTESTED: "it not to be tested",
    }[claim.expected(env)]
    return (
        f"claim {claim.id!r} in {env.id} ({env.label}): expected {wanted}, "
        f"but the outcome is {outcome!r}"
    )


def check_run(catalog: Catalog, run: dict, where: str) -> list[str]:
    """Every way one environment's run disagrees with the catalog (empty: it agrees)."""
    env = catalog.envs.get(run.get("env", ""))
    if env is None:
        return [f"{where}: unknown environment {run.get('env')!r}"]
    problems = []
    results = run.get("results", {})
    want = {c.id for c in catalog.claims.values() if c.expected(env) != NA}
    if set(results) != want:
        missing, extra = sorted(want - set(results)), sorted(set(results) - want)
        problems.append(f"{where}: claims missing {missing}, unknown {extra}")
    for claim_id in sorted(want & set(results)):
        problem = disagreement(catalog.claims[claim_id], env, results[claim_id]["outcome"])
        if problem:
            detail = results[claim_id].get("detail", "")
            problems.append(problem + (f" ({detail})" if detail else ""))
    return problems
