"""Turn grid results into version ranges a reader can use, and into the exported claims.json.

Every range the site states is computed here from `results.json`: "Keras 3.14–3.15 on JAX,
TensorFlow, PyTorch; tf.keras 2.12–2.15". Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from claims.catalog import FAILS, HOLDS, NA, Catalog, Claim
from claims.grid import BACKEND_LABELS, Env


def outcome_of(claim: Claim, env: Env, results: dict) -> str:
    """The claim's outcome in ``env`` as the site states it: holds, does not hold or n/a.

    An error accepted by the catalog (Keras raises on the proof's model) means the claim
    does not hold there.
    """
    res = results["envs"][env.id]["results"].get(claim.id)
    if res is None:
        return NA
    return HOLDS if res["outcome"] == HOLDS else FAILS


@dataclass(frozen=True)
class Span:
    """Releases of one line, on some backends, where a claim has one outcome."""

    line: str
    backends: tuple[str, ...]
    runs: tuple[tuple[str, str], ...]  # (first minor, last minor), in release order


def spans(catalog: Catalog, results: dict, claim: Claim, outcome: str) -> list[Span]:
    """Where ``claim`` has ``outcome``, as runs of adjacent releases, grouped by backend."""
    grid = catalog.grid
    out: list[Span] = []
    for line_id, line in grid.lines.items():
        by_backend: dict[str, tuple[tuple[str, str], ...]] = {}
        for backend in line.backends:
            envs = sorted(
                (e for e in grid.envs.values() if e.line == line_id and e.backend == backend),
                key=lambda e: e.version,
            )
            runs: list[list[str]] = []
            previous_matched = False
            for env in envs:
                matched = outcome_of(claim, env, results) == outcome
                if matched and previous_matched:
                    runs[-1][1] = env.minor
                elif matched:
                    runs.append([env.minor, env.minor])
                previous_matched = matched
            if runs:
                by_backend[backend] = tuple((a, b) for a, b in runs)
        # Backends with the same runs are stated together.
        groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
        for backend, runs_ in by_backend.items():
            groups.setdefault(runs_, []).append(backend)
        for runs_, backends in groups.items():
            out.append(Span(line_id, tuple(backends), runs_))
    return out


def describe(catalog: Catalog, span: Span) -> str:
    """``Keras 3.0–3.13 on JAX, TensorFlow`` (backends named where the line has several)."""
    line = catalog.grid.lines[span.line]
    releases = ", ".join(a if a == b else f"{a}–{b}" for a, b in span.runs)
    text = f"{line.label} {releases}"
    if len(line.backends) > 1:
        text += " on " + ", ".join(BACKEND_LABELS[b] for b in span.backends)
    return text


def summary(catalog: Catalog, results: dict, claim: Claim, outcome: str) -> str:
    """Every span with ``outcome``, joined: the text of a range role or a claim box line."""
    return "; ".join(describe(catalog, s) for s in spans(catalog, results, claim, outcome))


def example_env(catalog: Catalog, results: dict, claim: Claim, outcome: str) -> Env | None:
    """The newest environment with ``outcome`` (the most relevant example to show)."""
    matching = [e for e in catalog.envs.values() if outcome_of(claim, e, results) == outcome]
    return max(matching, key=lambda e: (e.line == "keras", e.version, e.backend), default=None)


def boundaries(catalog: Catalog, results: dict) -> list[dict]:
    """Every place a claim's outcome changes between two adjacent releases of a line."""
    found = []
    for claim in catalog.claims.values():
        for line_id, line in catalog.grid.lines.items():
            for backend in line.backends:
                envs = sorted(
                    (
                        e
                        for e in catalog.envs.values()
                        if e.line == line_id and e.backend == backend
                    ),
                    key=lambda e: e.version,
                )
                for before, after in pairwise(envs):
                    a, b = outcome_of(claim, before, results), outcome_of(claim, after, results)
                    if NA not in (a, b) and a != b:
                        found.append(
                            {
                                "claim": claim.id,
                                "line": line_id,
                                "backend": backend,
                                "before": before.release,
                                "after": after.release,
                                "from": a,
                                "to": b,
                            }
                        )
    return found


def export(catalog: Catalog, results: dict) -> dict:
    """The reusable export: one record per (claim, environment), as documented in README."""
    records = []
    for claim in catalog.claims.values():
        for env in catalog.envs.values():
            run = results["envs"][env.id]
            res = run["results"].get(claim.id)
            numbers = dict(res["numbers"]) if res else {}
            if res and res["outcome"] == "error":
                numbers["error"] = res.get("detail", "")
            records.append(
                {
                    "claim": claim.id,
                    "env": env.id,
                    "line": env.line,
                    "backend": env.backend,
                    "versions": run["versions"],
                    "outcome": outcome_of(claim, env, results),
                    "numbers": numbers,
                }
            )
    return {
        "fingerprint": results["fingerprint"],
        "claims": {c.id: c.statement for c in catalog.claims.values()},
        "results": records,
    }
