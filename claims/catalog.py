"""Read `catalog.toml` (claims, environments) and validate matrix results against it.

Pure Python: importable by the Sphinx build and the tests without TensorFlow.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATALOG = HERE / "catalog.toml"
RESULTS = HERE / "results.json"


class CatalogError(Exception):
    """The catalog or a results file is malformed or out of date."""


@dataclass(frozen=True)
class Env:
    """One environment of the version matrix."""

    id: str
    label: str
    group: str
    flavor: str
    backend: str = "tensorflow"


@dataclass(frozen=True)
class Claim:
    """One claim: its statement, and where it must (and must not) hold."""

    id: str
    statement: str
    holds_in: frozenset[str]
    runs_in: frozenset[str]

    def expected(self, env: str) -> str:
        """``holds``, ``fails`` or ``n/a`` (not run) in ``env``."""
        if env not in self.runs_in:
            return "n/a"
        return "holds" if env in self.holds_in else "fails"


@dataclass(frozen=True)
class Catalog:
    """Every environment and claim, in file order."""

    envs: dict[str, Env]
    claims: dict[str, Claim]


def load_catalog(path: Path = CATALOG) -> Catalog:
    """Parse the catalog; errors name the file and the entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    envs = {}
    for env_id, env in data.get("env", {}).items():
        try:
            envs[env_id] = Env(id=env_id, **env)
        except TypeError as exc:
            raise CatalogError(f"{path}: [env.{env_id}]: {exc}") from None
    claims = {}
    for n, raw in enumerate(data.get("claim", []), start=1):
        where = f"{path}: [[claim]] #{n}"
        for key in ("id", "statement", "holds-in"):
            if key not in raw:
                raise CatalogError(f"{where}: field {key!r} is missing")
        runs_in = frozenset(raw.get("runs-in", envs))
        holds_in = frozenset(raw["holds-in"])
        unknown = (runs_in | holds_in) - set(envs)
        if unknown:
            raise CatalogError(f"{where} ({raw['id']}): unknown env(s) {sorted(unknown)}")
        if not holds_in <= runs_in:
            raise CatalogError(f"{where} ({raw['id']}): holds-in must be part of runs-in")
        if raw["id"] in claims:
            raise CatalogError(f"{where}: duplicate id {raw['id']!r}")
        claims[raw["id"]] = Claim(raw["id"], raw["statement"].strip(), holds_in, runs_in)
    if not claims or not envs:
        raise CatalogError(f"{path}: needs at least one [env.*] and one [[claim]]")
    return Catalog(envs=envs, claims=claims)


def load_results(catalog: Catalog, path: Path = RESULTS) -> dict:
    """Load matrix results and refuse them unless they cover exactly the catalog's claims."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: no matrix results; run `nox -s matrix`") from None
    except ValueError as exc:
        raise CatalogError(f"{path}: not valid JSON: {exc}") from None
    envs = data.get("envs")
    if not isinstance(envs, dict):
        raise CatalogError(f"{path}: field 'envs' is missing")
    if set(envs) != set(catalog.envs):
        raise CatalogError(
            f"{path}: results are for envs {sorted(envs)}, the catalog lists "
            f"{sorted(catalog.envs)}; run `nox -s matrix`"
        )
    for env_id, env in envs.items():
        got = set(env.get("results", {}))
        want = {c.id for c in catalog.claims.values() if env_id in c.runs_in}
        if got != want:
            missing, extra = sorted(want - got), sorted(got - want)
            raise CatalogError(
                f"{path}: env {env_id!r} does not match the current claims "
                f"(missing {missing}, unknown {extra}); run `nox -s matrix`"
            )
        for claim_id, res in env["results"].items():
            expected = catalog.claims[claim_id].expected(env_id)
            if res.get("expected") != expected:
                raise CatalogError(
                    f"{path}: env {env_id!r}, claim {claim_id!r} was run expecting "
                    f"{res.get('expected')!r}, the catalog now expects {expected!r}; "
                    "run `nox -s matrix`"
                )
    return data
