"""Provenance of grid results: what every record must say about what produced it, and checks.

A record is one environment's run (``build/matrix/<env>.json``, and each entry of
``claims/results.json``). It is accepted only if its shape is the schema's
(``results.schema.json``), its fingerprint is the current one, it is filed under the
environment it names, that environment is in the grid, and the versions measured inside it
are the environment's. Pure Python: the docs build, the tests and the runner import it.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from claims.catalog import RESULTS, Catalog, CatalogError, check_run, fingerprint
from claims.grid import Env, Grid

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "results.schema.json"
#: How close a re-measured number must be to the committed one (``math.isclose``).
TOLERANCE = {"rel_tol": 1e-6, "abs_tol": 1e-9}
#: Distributions every record reports, when installed, besides the grid's own requirements.
REPORTED = (
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "tf-keras",
    "tensorflow-probability",
    "jax",
    "jaxlib",
    "torch",
    "theano",
    "numpy",
)
AGREES, DISAGREES, BROKEN = "agrees", "disagrees", "broken"
#: The manifest a finished base or overlay carries: the identity it was built from.
MANIFEST = "grid-build.json"


def identity_digest(identity: dict[str, Any]) -> str:
    """sha256 of a base's or overlay's identity (what it was built from)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


@cache
def _validators() -> tuple[Any, Any]:
    """Validators of the whole results file and of one record (jsonschema, imported lazily)."""
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    record = {"$defs": schema["$defs"], "$ref": "#/$defs/record"}
    return Draft202012Validator(schema), Draft202012Validator(record)


def shape_problems(data: Any, where: str, *, record: bool = False) -> list[str]:
    """Where ``data`` departs from the schema, one line per place (file and field)."""
    whole, one = _validators()
    errors = sorted((one if record else whole).iter_errors(data), key=lambda e: list(e.path))
    out = []
    for error in errors[:5]:
        field = ".".join(str(p) for p in error.absolute_path) or "top level"
        out.append(f"{where}: {field}: {error.message}")
    if len(errors) > 5:
        out.append(f"{where}: … and {len(errors) - 5} more departures from {SCHEMA.name}")
    return out


def requirement_pins(grid: Grid, env: Env) -> dict[str, SpecifierSet]:
    """What each pinned distribution of ``env`` must measure: its base's pins, the release."""
    line = grid.lines[env.line]
    reqs = [*grid.base_requires(env.base), *([env.overlay] if env.overlay else [])]
    pins: dict[str, SpecifierSet] = {}
    for text in reqs:
        req = Requirement(text)
        if req.specifier:
            pins[canonicalize_name(req.name)] = req.specifier
    pins[canonicalize_name(line.dist)] = SpecifierSet(f"=={env.release}")
    return pins


def reported_names(grid: Grid, env: Env) -> list[str]:
    """The distributions whose versions a record of ``env`` measures."""
    names: list[str] = [canonicalize_name(n) for n in REPORTED]
    for text in grid.base_requires(env.base):
        name = canonicalize_name(Requirement(text).name)
        if name not in names:
            names.append(name)
    return names


def version_problems(grid: Grid, env: Env, record: dict, where: str) -> list[str]:
    """Where the versions measured inside the environment are not the environment's."""
    measured: dict[str, str] = {canonicalize_name(k): v for k, v in record["versions"].items()}
    problems = []
    for name, spec in requirement_pins(grid, env).items():
        got = measured.get(name)
        if got is None or not spec.contains(got, prereleases=True):
            problems.append(
                f"{where}: {env.id} needs {name}{spec}, the record measured {got or 'nothing'}"
            )
    try:
        python = Version(record["python"])
    except InvalidVersion:
        python = None
    wanted = grid.python_of(env.base) if env.base in grid.bases else grid.python
    if python is None or f"{python.major}.{python.minor}" != wanted:
        problems.append(
            f"{where}: {env.id} runs on Python {wanted}, the record measured {record['python']}"
        )
    if record["base"]["id"] != env.base:
        problems.append(
            f"{where}: {env.id} runs over base {env.base}, the record over {record['base']['id']}"
        )
    for key in ("line", "release", "backend"):
        if record[key] != getattr(env, key):
            problems.append(
                f"{where}: {key} is {record[key]!r}, {env.id}'s is {getattr(env, key)!r}"
            )
    return problems


def record_problems(
    catalog: Catalog, record: Any, where: str, *, current: str, filed_as: str | None = None
) -> list[str]:
    """Every reason to refuse one environment's record (empty: it may be published)."""
    if problems := shape_problems(record, where, record=True):
        return problems
    env_id = record["env"]
    if filed_as is not None and env_id != filed_as:
        return [f"{where}: the record is of {env_id}, filed as {filed_as}"]
    env = catalog.envs.get(env_id)
    if env is None:
        return [f"{where}: {env_id!r} is not an environment of the grid"]
    if record["fingerprint"] != current:
        return [
            f"{where}: {env_id} was run by other proofs, catalog, grid or runner (fingerprint "
            f"{record['fingerprint'][:12]}, now {current[:12]}); rerun "
            f"`nox -s matrix -- --only {env_id}`"
        ]
    if record["status"] == BROKEN:
        return [
            f"{where}: {env_id} was broken when it ran ({record['why']}); rerun "
            f"`nox -s matrix -- --only {env_id}`"
        ]
    if problems := version_problems(catalog.grid, env, record, where):
        return problems
    return check_run(catalog, record, where)


def load_results(catalog: Catalog, path: Path = RESULTS, folder: Path = HERE) -> dict:
    """Load the committed grid results; refuse them unless every record is the grid's, fresh."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: no grid results; run `nox -s matrix`") from None
    except ValueError as exc:
        raise CatalogError(f"{path}: not valid JSON: {exc}") from None
    if problems := shape_problems(data, str(path)):
        raise CatalogError("; ".join(problems))
    current = fingerprint(folder)
    if data["fingerprint"] != current:
        raise CatalogError(
            f"{path}: stale: its fingerprint does not match the current proofs, catalog, grid "
            "and runner; run `nox -s matrix`, then `nox -s matrix-merge`"
        )
    envs = data["envs"]
    if set(envs) != set(catalog.envs):
        missing = sorted(set(catalog.envs) - set(envs))
        extra = sorted(set(envs) - set(catalog.envs))
        raise CatalogError(
            f"{path}: results do not cover the grid (missing {missing}, unknown {extra}); "
            "run `nox -s matrix`"
        )
    problems = [
        p
        for env_id, record in envs.items()
        for p in record_problems(
            catalog, record, f"{path}: envs.{env_id}", current=current, filed_as=env_id
        )
    ]
    if problems:
        raise CatalogError("; ".join(problems) + "; run `nox -s matrix`")
    return data


def same_number(a: Any, b: Any) -> bool:
    """Whether two measured values agree: floats within TOLERANCE, the rest exactly."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, **TOLERANCE) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        # Lengths checked first; no strict= because the runner also runs on Python 3.9.
        return len(a) == len(b) and all(same_number(x, y) for x, y in zip(a, b))  # noqa: B905
    return bool(a == b)


def compare(committed: dict, fresh: dict[str, dict]) -> list[str]:
    """How freshly measured records differ from the committed ones: outcomes and numbers."""
    differ = []
    for env_id, run in sorted(fresh.items()):
        old = committed.get("envs", {}).get(env_id)
        if old is None:
            differ.append(f"{env_id}: not in the committed results")
            continue
        for claim_id, res in sorted(run["results"].items()):
            was = old.get("results", {}).get(claim_id)
            if was is None:
                differ.append(f"{env_id} {claim_id}: not in the committed results")
                continue
            if was["outcome"] != res["outcome"]:
                differ.append(
                    f"{env_id} {claim_id}: outcome committed {was['outcome']!r}, "
                    f"measured {res['outcome']!r}"
                )
            old_variants = {v["variant"]: v for v in was.get("variants", [])}
            for variant in res["variants"]:
                where = f"{env_id} {claim_id} [{variant['variant']}]"
                before = old_variants.pop(variant["variant"], None)
                if before is None:
                    differ.append(f"{where}: not in the committed results")
                    continue
                if before["outcome"] != variant["outcome"]:
                    differ.append(
                        f"{where}: outcome committed {before['outcome']!r}, "
                        f"measured {variant['outcome']!r}"
                    )
                a, b = before["numbers"], variant["numbers"]
                for key in sorted(set(a) | set(b)):
                    x, y = a.get(key, "(absent)"), b.get(key, "(absent)")
                    if not same_number(x, y):
                        differ.append(f"{where}: {key!r} committed {x!r}, measured {y!r}")
            differ.extend(
                f"{env_id} {claim_id} [{name}]: committed, not measured" for name in old_variants
            )
    return differ
