"""Read `catalog.toml` (claims and where each is expected to hold) and validate grid results.

Where a claim is expected to hold is a list of *scopes*: ``"keras >=3.14"``, ``"tf.keras"``,
``"keras >=3.8 on tensorflow"`` — a line of the grid, an optional PEP 440 specifier on its
release, and optional backends. Pure Python: importable without TensorFlow.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from claims.grid import GRID, Env, Grid, GridError, load_grid

HERE = Path(__file__).resolve().parent
CATALOG = HERE / "catalog.toml"
RESULTS = HERE / "results.json"
#: What the committed results depend on: change any and they are stale.
FINGERPRINTED = ("proofs.py", "catalog.toml", "grid.toml", "run.py")

#: The three outcomes of a claim in an environment.
HOLDS, FAILS, NA = "holds", "does not hold", "n/a"


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
    raises: tuple[Scope, ...] = ()
    why: str = ""

    def expected(self, env: Env) -> str:
        """``holds``, ``does not hold`` or ``n/a`` (not run) in ``env``."""
        if self.runs is not None and not any(s.admits(env) for s in self.runs):
            return NA
        return HOLDS if any(s.admits(env) for s in self.holds) else FAILS

    def accepts(self, env: Env, outcome: str) -> bool:
        """Whether ``outcome`` is what the catalog expects in ``env``.

        An error never passes where the claim should hold; where it should not hold, an error
        is accepted only inside a ``raises`` scope (Keras itself raises on the proof's model),
        so a broken environment cannot pass as a claim that "does not hold".
        """
        expected = self.expected(env)
        if outcome == "error":
            return expected == FAILS and any(s.admits(env) for s in self.raises)
        return outcome == expected


@dataclass(frozen=True)
class Catalog:
    """Every claim, in file order, and the grid it is expected over."""

    grid: Grid
    claims: dict[str, Claim]

    @property
    def envs(self) -> dict[str, Env]:
        """The grid's environments."""
        return self.grid.envs


def load_catalog(path: Path = CATALOG, grid_path: Path = GRID) -> Catalog:
    """Parse the catalog against the grid; errors name the file and the claim."""
    try:
        grid = load_grid(grid_path)  # its errors name grid.toml, not this file
    except GridError as exc:
        raise CatalogError(str(exc)) from None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    claims: dict[str, Claim] = {}
    for n, raw in enumerate(data.get("claim", []), start=1):
        where = f"{path}: [[claim]] #{n}"
        for key in ("id", "statement", "holds"):
            if key not in raw:
                raise CatalogError(f"{where}: field {key!r} is missing")
        where = f"{where} ({raw['id']})"
        try:
            holds = tuple(parse_scope(s, grid) for s in raw["holds"])
            runs = tuple(parse_scope(s, grid) for s in raw["runs"]) if "runs" in raw else None
            raises = tuple(parse_scope(s, grid) for s in raw.get("raises", ()))
        except CatalogError as exc:
            raise CatalogError(f"{where}: {exc}") from None
        if raw["id"] in claims:
            raise CatalogError(f"{where}: duplicate id")
        why = raw.get("why", "").strip()
        claim = Claim(raw["id"], raw["statement"].strip(), holds, runs, raises, why)
        outside = [e.id for e in grid.envs.values() if claim.expected(e) == NA and _in(holds, e)]
        if outside:
            raise CatalogError(f"{where}: 'holds' reaches beyond 'runs': {', '.join(outside)}")
        claims[raw["id"]] = claim
    if not claims:
        raise CatalogError(f"{path}: needs at least one [[claim]]")
    return Catalog(grid=grid, claims=claims)


def load_catalog_in(folder: Path) -> Catalog:
    """The catalog and grid of a claims folder (the package's own, or one a test builds)."""
    return load_catalog(folder / CATALOG.name, folder / GRID.name)


def _in(scopes: tuple[Scope, ...], env: Env) -> bool:
    return any(s.admits(env) for s in scopes)


def fingerprint(folder: Path = HERE) -> str:
    """sha256 of the proofs, the catalog, the grid spec and the runner, together."""
    digest = hashlib.sha256()
    for name in FINGERPRINTED:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return digest.hexdigest()


def disagreement(claim: Claim, env: Env, outcome: str) -> str | None:
    """Why ``outcome`` of ``claim`` in ``env`` contradicts the catalog (None: it agrees).

    The one comparison of an outcome with the catalog: the grid runner, the merged results
    and the executed pages all ask it.
    """
    if claim.accepts(env, outcome):
        return None
    expected = claim.expected(env)
    return (
        f"claim {claim.id!r} in {env.id} ({env.label}): expected it to "
        f"{'hold' if expected == HOLDS else 'not hold'}, but the outcome is {outcome!r}"
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
