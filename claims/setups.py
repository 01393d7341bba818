"""The reader's setup: every environment the grid ran, and what each claim measured there.

The setup picker on every page (``claims/static/setup.js``) reads this as ``claims-setups.js``:
one entry per environment (its exact versions), the cited-only lines, and per claim and
environment one line a reader can act on ("does not hold: reported loss 3.75; the sentence
predicts 2.0625"). Pure Python; the texts come from the grid's results only.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.version import Version

from claims.catalog import FAILS, HOLDS, NA, REFUSES, UNTESTED, Catalog, Claim
from claims.grid import BACKEND_LABELS, Env

#: The version tabs of the pages (their ``:sync:`` keys) that show each line and backend, best
#: first: a page without the first shows the next, and says so.
TABS: dict[tuple[str, str], list[str]] = {
    ("keras", "jax"): ["keras-3-jax", "keras-3"],
    ("keras", "tensorflow"): ["keras-3"],
    ("keras", "torch"): ["keras-3-torch", "keras-3"],
    ("tf.keras", "tensorflow"): ["keras-2.15", "tf-keras-2.21"],
    ("tf_keras", "tensorflow"): ["tf-keras-2.21", "keras-2.15"],
    ("keras2", "theano"): ["keras-2.3"],
    ("cited", "tf-2.2"): ["tf-2.2", "keras-2.15"],
}

#: The line and releases (first and last minor) of each cited-only entry of grid.toml, so a
#: reader who types "2.2" under tf.keras gets the cited code, not a neighbour's numbers.
CITED_SPANS: dict[str, tuple[str, str, str]] = {
    "tf-2.2": ("tf.keras", "2.2", "2.4"),
}

#: Numbers a proof measured (the rest are what a sentence predicts, or what it rules out).
_MEASURED = re.compile(r"reported|after|applied|^evaluate|History loss")
_RULED_OUT = "(not it)"


def format_number(value: Any, compact: bool = True) -> str:
    """A measured number as text: floats to 6 digits, arrays as JSON (``compact``: no spaces)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":") if compact else None)
    return str(value)


def key_numbers(numbers: dict[str, Any]) -> str:
    """What was measured next to what the sentence predicts: "reported loss 3.75; …"."""
    measured = [k for k in numbers if _MEASURED.search(k)]
    predicted = [k for k in numbers if k not in measured and _RULED_OUT not in k]
    shown = [*measured[:2], *predicted[:1]] or list(numbers)[:2]
    return "; ".join(f"{k} = {format_number(numbers[k])}" for k in shown)


def variant_groups(group: list[dict], every: list[dict]) -> list[str]:
    """The variants of a group, named as briefly as the run allows: an axis every value of
    which is in the group, for the same other values, is left out of the name.

    ``fit · kernel_regularizer · functional`` stands for both of its executions when both are
    in the group; ``train_on_batch`` for every variant run by it. The last axes are merged
    first, so names keep the entry point and the loss kind where they can.
    """
    first = every[0]
    # The claim's axis order, as its labels give it (the records store axes sorted by name).
    labels = first["variant"].split(" · ")
    names = sorted(first["axes"], key=lambda n: labels.index(first["axes"][n]))
    values = {n: {v["axes"][n] for v in every} for n in names}
    items = {tuple(v["axes"][n] for n in names) for v in group}
    changed = True
    while changed:  # merge along each axis while a whole axis is covered
        changed = False
        for i in reversed(range(len(names))):
            rest: dict[tuple, set[str]] = {}
            for item in items:
                rest.setdefault(item[:i] + item[i + 1 :], set()).add(item[i])
            for key, seen in rest.items():
                if len(values[names[i]]) > 1 and seen == values[names[i]]:
                    items -= {(*key[:i], value, *key[i:]) for value in seen}
                    items.add((*key[:i], "", *key[i:]))
                    changed = True

    def first_run(item: tuple) -> int:  # named in the order the box lists the variants
        return next(
            n
            for n, v in enumerate(every)
            if all(x in ("", v["axes"][k]) for x, k in zip(item, names))  # noqa: B905
        )

    return [
        " · ".join(x for x in item if x) or "every variant" for item in sorted(items, key=first_run)
    ]


def _named(variants: list[dict], every: list[dict] | None = None) -> str:
    """The variants of a group, by name (merged where a whole axis is in the group)."""
    if every and all(v.get("axes") for v in every) and len(every) > 1:
        return ", ".join(variant_groups(variants, every))
    return ", ".join(v["variant"] for v in variants)


def _said(
    outcome: str, variants: list[dict], detail: str = "", every: list[dict] | None = None
) -> str:
    """One group of variants with one outcome: "holds under fit · default, …"."""
    word = {REFUSES: "Keras refuses", UNTESTED: "not tested"}.get(
        outcome, "holds" if outcome == HOLDS else "does not hold"
    )
    text = f"{word} under {_named(variants, every)}"
    return f"{text} ({detail})" if detail and outcome in (REFUSES, UNTESTED) else text


def reader_line(claim: Claim, env: Env, results: dict) -> dict[str, str]:
    """The claim in one environment: its outcome and one sentence with its key numbers.

    Where the variants differ, every group is named, the claim's own outcome first, so no
    variant is left out; the numbers shown name the variant that measured them.
    """
    res = results["envs"][env.id]["results"].get(claim.id)
    if res is None:
        text = "not run on this setup (the claim is about another line)"
        return {"outcome": NA, "text": text, "short": NA}
    outcome = str(res["outcome"])
    variants = res.get("variants", [])
    odd = [v for v in variants if v["outcome"] == outcome]
    shown = odd[0] if odd else {}
    if outcome == UNTESTED and len(odd) == len(variants):
        text = f"not tested: {res.get('detail') or claim.untested_why}"
        return {"outcome": outcome, "text": text, "short": "not tested"}
    short = ""  # the outcome and how many variants, without numbers (the home digest)
    if len(variants) > 1 and len(odd) < len(variants):
        short = f"{outcome} in some variants"
        detail = res.get("detail") or shown.get("detail", "")
        text = _said(outcome, odd, detail, variants)
        if outcome == REFUSES:
            text = f"Keras refuses under {_named(odd, variants)}: {detail}"
        groups: dict[str, list[dict]] = {}
        for v in variants:
            if v["outcome"] != outcome:
                groups.setdefault(v["outcome"], []).append(v)
        for other, group in groups.items():
            text += "; " + _said(other, group, group[0].get("detail", ""), variants)
    elif outcome == REFUSES:
        which = f" in all {len(variants)} variants" if len(variants) > 1 else ""
        short = f"Keras refuses{which}"
        text = f"{short}: {res.get('detail') or shown.get('detail', '')}"
    else:
        word = "holds" if outcome == HOLDS else "does not hold"
        # Not "does not hold in all 4 variants": a double negative.
        which = (
            ""
            if len(variants) <= 1
            else f" in any of the {len(variants)} variants"
            if outcome == FAILS
            else f" in all {len(variants)} variants"
        )
        text = short = word + which
    if outcome in (HOLDS, FAILS):
        numbers = key_numbers(shown.get("numbers", {}))
        if numbers:
            where = f"{shown['variant']}: " if len(variants) > 1 else ""
            text += f" ({where}{numbers})"
        if outcome == FAILS and shown.get("detail"):
            text += f" ({shown['detail']})"
    return {"outcome": outcome, "text": text, "short": short}


def cited_code(pins: Path) -> dict[str, dict[str, str]]:
    """Whose code each pinned release shows: its line and release, or the cited-only line.

    A page's code block carries its release's id (``pincite-release-<id>``); the picker warns
    a reader whose own release of that line differs from the one shown.
    """
    out = {}
    for rel in tomllib.loads(pins.read_text(encoding="utf-8")).get("release", []):
        project, version = rel["project"].replace("_", "-"), Version(rel["version"])
        if project == "keras" and version.major >= 3:
            line = "keras"
        elif project == "keras" and version < Version("2.4"):
            line = "keras2"  # standalone Keras 2 (2.3.1), before it became tf.keras's code
        elif project == "keras" and version >= Version("2.4"):
            line = "tf.keras"  # the `keras` package TensorFlow 2.12-2.15 ship as tf.keras
        elif project == "tf-keras":
            line = "tf_keras"
        else:
            continue  # the cited-only line (TF 2.2) and TFP: no release to pick
        minor = f"{version.major}.{version.minor}"
        out[rel["id"]] = {
            "line": line,
            "minor": minor,
            "release": str(version),
            "label": rel.get("title", rel["id"]),
        }
    return out


def data(
    catalog: Catalog,
    results: dict,
    pins: Path | None = None,
    pages: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the picker needs, from the grid's results (and whose code each block shows,
    and ``pages``: the page that holds each claim's box, so a note elsewhere can link to it)."""
    setups = []
    for env in catalog.envs.values():
        info = results["envs"][env.id]
        line = catalog.grid.lines[env.line]
        setups.append(
            {
                "id": env.id,
                "line": env.line,
                "lineLabel": line.label,
                "backend": env.backend,
                "backendLabel": BACKEND_LABELS[env.backend],
                "release": env.release,
                "minor": env.minor,
                "label": env.label,
                "python": info["python"],
                "versions": info["versions"],
                "tabs": TABS.get((env.line, env.backend), []),
            }
        )
    cited = [
        {
            "id": cid,
            "label": c["label"],
            "why": c["why"],
            "tabs": TABS.get(("cited", cid), []),
            **dict(zip(("line", "first", "last"), CITED_SPANS[cid], strict=True)),
        }
        for cid, c in catalog.grid.cited_only.items()
    ]
    claims = {
        claim.id: {
            "title": claim.title,
            "page": (pages or {}).get(claim.id, ""),
            "envs": {env.id: reader_line(claim, env, results) for env in catalog.envs.values()},
        }
        for claim in catalog.claims.values()
    }
    code = cited_code(pins) if pins else {}
    return {"setups": setups, "cited": cited, "claims": claims, "code": code}


def compact(full: dict[str, Any]) -> dict[str, Any]:
    """Each claim's distinct reader lines once, and per environment the index of its line.

    Neighbouring patch releases mostly measure the same: every page loads this script, and
    this keeps it small on a phone (``setup.js`` expands it back).
    """
    claims = {}
    for claim_id, claim in full["claims"].items():
        lines: list[dict[str, Any]] = []
        index: dict[str, int] = {}
        envs = {}
        for env_id, line in claim["envs"].items():
            key = json.dumps(line, sort_keys=True)
            if key not in index:
                index[key] = len(lines)
                lines.append(line)
            envs[env_id] = index[key]
        claims[claim_id] = {**claim, "envs": envs, "lines": lines}
    return {**full, "claims": claims}


def script(
    catalog: Catalog,
    results: dict,
    pins: Path | None = None,
    pages: dict[str, str] | None = None,
) -> str:
    """The data as a script that works from ``file://`` (a page cannot fetch JSON there)."""
    packed = compact(data(catalog, results, pins, pages))
    payload = json.dumps(packed, sort_keys=True, separators=(",", ":"))
    # `</` cannot end the script element early inside a string.
    return "window.CLAIM_SETUPS = " + payload.replace("</", "<\\/") + ";\n"
