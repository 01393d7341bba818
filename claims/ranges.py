"""Turn grid results into version ranges a reader can use, and into the exported claims.json.

Every range the site states is computed here from `results.json`: "Keras 3.14–3.15 on JAX,
TensorFlow, PyTorch; tf.keras 2.12–2.15". Pure Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from claims.catalog import NA, REFUSES, UNTESTED, Catalog, Claim, combine
from claims.grid import BACKEND_LABELS, Env, Grid


def outcome_of(claim: Claim, env: Env, results: dict) -> str:
    """The claim's measured outcome in ``env``: one of the four, or n/a where it is not run."""
    res = results["envs"][env.id]["results"].get(claim.id)
    return NA if res is None else str(res["outcome"])


def detail_of(claim: Claim, env: Env, results: dict) -> str:
    """What the proof said beyond its numbers: the exception where Keras refuses."""
    res = results["envs"][env.id]["results"].get(claim.id) or {}
    return str(res.get("detail", ""))


def refusals(catalog: Catalog, results: dict, claim: Claim) -> list[tuple[str, str]]:
    """Each distinct exception Keras raised on the claim's pattern, with where it did."""
    seen: list[str] = []
    for env in catalog.envs.values():
        if outcome_of(claim, env, results) == REFUSES:
            detail = detail_of(claim, env, results)
            if detail not in seen:
                seen.append(detail)
    return [
        (
            detail,
            "; ".join(
                describe(catalog, s) for s in spans(catalog, results, claim, REFUSES, detail)
            ),
        )
        for detail in seen
    ]


@dataclass(frozen=True)
class Span:
    """Releases of one line, on some backends, where a claim has one outcome."""

    line: str
    backends: tuple[str, ...]
    runs: tuple[tuple[str, str], ...]  # (first release, last release), in release order


def spans(
    catalog: Catalog,
    results: dict,
    claim: Claim,
    outcome: str,
    detail: str | None = None,
) -> list[Span]:
    """Where ``claim`` has ``outcome`` (and, if given, that ``detail``: one exception), as runs
    of adjacent releases, grouped by backend."""
    return spans_where(
        catalog,
        lambda env: (
            outcome_of(claim, env, results) == outcome
            and (detail is None or detail_of(claim, env, results) == detail)
        ),
    )


def spans_where(catalog: Catalog, matches: Callable[[Env], bool]) -> list[Span]:
    """The environments ``matches`` admits, as runs of adjacent releases grouped by backend."""
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
                matched = matches(env)
                if matched and previous_matched:
                    runs[-1][1] = env.release
                elif matched:
                    runs.append([env.release, env.release])
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


def variants_of(claim: Claim, env: Env, results: dict) -> dict[str, dict]:
    """The claim's variants as run in ``env``, by label (empty where it is not run)."""
    res = results["envs"][env.id]["results"].get(claim.id) or {}
    return {v["variant"]: v for v in res.get("variants", [])}


def variant_differences(
    catalog: Catalog, results: dict, claim: Claim
) -> list[tuple[str, str, str, str]]:
    """Where a variant's outcome is not the claim's: (variant, its outcome, where, detail).

    A claim holds in an environment only where all its variants hold; these are the variants
    that make the difference, said where they do.
    """
    found: dict[tuple[str, str, str], None] = {}
    for env in catalog.envs.values():
        combined = outcome_of(claim, env, results)
        for label, variant in variants_of(claim, env, results).items():
            if variant["outcome"] != combined:
                found[(label, variant["outcome"], variant.get("detail", ""))] = None
    out = []
    for label, outcome, detail in found:

        def differs(env: Env, label: str = label, outcome: str = outcome, detail: str = detail):
            variant = variants_of(claim, env, results).get(label)
            return (
                variant is not None
                and variant["outcome"] == outcome
                and variant.get("detail", "") == detail
                and outcome != outcome_of(claim, env, results)
            )

        where = "; ".join(describe(catalog, s) for s in spans_where(catalog, differs))
        out.append((label, outcome, where, detail))
    return out


def describe(catalog: Catalog, span: Span) -> str:
    """``Keras 3.0.0–3.13.2 on JAX, TensorFlow`` (backends named where the line has several)."""
    line = catalog.grid.lines[span.line]
    releases = ", ".join(a if a == b else f"{a}–{b}" for a, b in span.runs)
    text = f"{line.label} {releases}"
    if len(line.backends) > 1:
        text += " on " + ", ".join(BACKEND_LABELS[b] for b in span.backends)
    return text


def releases_run(catalog: Catalog, claim: Claim) -> str:
    """Every release the claim runs on, written out per line: ``Keras 3.0.5, …, 3.15.1 on …``."""
    parts = []
    for line_id, line in catalog.grid.lines.items():
        envs = [e for e in catalog.envs.values() if e.line == line_id and claim.expected(e) != NA]
        if not envs:
            continue
        one_per_release = {e.release: e for e in envs}.values()
        releases = [e.release for e in sorted(one_per_release, key=lambda e: e.version)]
        text = f"{line.label} {', '.join(releases)}"
        backends = list(dict.fromkeys(e.backend for e in envs))
        if len(line.backends) > 1:
            text += " on " + ", ".join(BACKEND_LABELS[b] for b in backends)
        parts.append(text)
    return "; ".join(parts)


def summary(
    catalog: Catalog, results: dict, claim: Claim, outcome: str, only: tuple[str, ...] = ()
) -> str:
    """Every span with ``outcome``, joined: the text of a range role or a claim box line.

    ``only``: axis values (``fit``, ``subclassed``): then the outcome is that of the claim's
    variants with all those values, combined, so prose can state what one variant does.
    """
    if not only:
        found = spans(catalog, results, claim, outcome)
    else:
        found = spans_where(
            catalog, lambda env: outcome_of_variants(claim, env, results, only) == outcome
        )
    return "; ".join(describe(catalog, s) for s in found)


def outcome_of_variants(claim: Claim, env: Env, results: dict, only: tuple[str, ...]) -> str:
    """The combined outcome of the claim's variants in ``env`` that have every value in
    ``only`` (n/a where none was run)."""
    chosen = [
        v["outcome"]
        for v in variants_of(claim, env, results).values()
        if set(only) <= set(v.get("axes", {}).values())
    ]
    return combine(chosen) if chosen else NA


def parse_variant_filter(claim: Claim, text: str) -> tuple[str, ...]:
    """``fit, subclassed`` -> the axis values, each checked against the claim's axes."""
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    known = {value for _, these in claim.axes for value in these}
    wrong = [v for v in values if v not in known]
    if wrong or not values:
        raise ValueError(
            f"claim {claim.id!r} has no variant value {', '.join(map(repr, wrong)) or '(none)'}"
            f" (its axis values: {', '.join(sorted(known)) or 'none'})"
        )
    return values


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
            res = run["results"].get(claim.id) or {}
            record = {
                "claim": claim.id,
                "env": env.id,
                "line": env.line,
                "backend": env.backend,
                "versions": run["versions"],
                # The interpreter measured inside the environment, and the base it ran in.
                "python": run.get("python", ""),
                "base": run.get("base", {}).get("id", ""),
                "outcome": outcome_of(claim, env, results),
                "variants": list(res.get("variants", [])),
            }
            # What Keras raised where it refuses the pattern, and why a claim was not tested.
            if record["outcome"] == REFUSES:
                record["refused"] = res.get("detail", "")
            elif record["outcome"] == UNTESTED:
                record["why"] = res.get("detail", "") or claim.untested_why
            records.append(record)
    return {
        "fingerprint": results["fingerprint"],
        "claims": {c.id: c.statement for c in catalog.claims.values()},
        "axes": {c.id: dict(c.axes) for c in catalog.claims.values()},
        "results": records,
    }


def _span_text(versions: list[str]) -> str:
    """``2.12.1–2.15.1``: the first and last of ``versions`` (one: ``2.12.1``)."""
    from packaging.version import Version

    ordered = sorted(versions, key=Version)
    first, last = ordered[0], ordered[-1]
    return first if first == last else f"{first}–{last}"


def grid_text(grid: Grid, spec: str) -> str:
    """What the grid spec says, as prose: so that no page types a grid range by hand.

    ``cited`` names the lines cited but not executed ("Keras 2.3.1 and tf.keras 2.2–2.11"),
    ``cited <id>`` one of them;
    ``<line>`` gives the first and last of a line's releases ("2.5.3–2.15.1"); ``<line>
    <dist>`` those of ``dist`` installed with that line ("0.13.0–0.23.0" for TFP with tf.keras).
    """
    from packaging.requirements import Requirement

    words = spec.split()
    if words[:1] == ["cited"]:
        if len(words) == 2 and words[1] in grid.cited_only:
            return grid.cited_only[words[1]]["label"]
        if len(words) == 1:
            labels = [entry["label"] for entry in grid.cited_only.values()]
            return " and ".join(labels) if len(labels) < 3 else ", ".join(labels)
    if not words or words[0] not in grid.lines or len(words) > 2:
        known = ", ".join(["cited", *(f"cited {c}" for c in grid.cited_only), *grid.lines])
        raise ValueError(
            f"{spec!r}: expected 'cited [<id>]', '<line>' or '<line> <dist>' ({known})"
        )
    line = grid.lines[words[0]]
    if len(words) == 1:
        return _span_text(list(line.releases))
    bases = {env.base for env in grid.envs.values() if env.line == line.id}
    pins = [
        str(next(iter(req.specifier)).version)
        for base in bases
        for req in map(Requirement, grid.bases[base].requires)
        if req.name == words[1] and req.specifier
    ]
    if not pins:
        raise ValueError(f"{spec!r}: no base of line {line.id!r} pins {words[1]}")
    return _span_text(pins)
