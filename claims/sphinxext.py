"""Sphinx side of the claims: claim boxes, range roles, the grid table, and claims.json.

Every version range on the site comes from the committed grid results (`claims/results.json`)
through `ranges.py`: a box, a role or the table can only say what the grid measured.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

from claims import ranges
from claims.catalog import (
    CATALOG,
    FAILS,
    HOLDS,
    NA,
    REFUSES,
    RESULTS,
    UNTESTED,
    Catalog,
    CatalogError,
    fingerprint,
    load_catalog,
)
from claims.grid import BACKEND_LABELS, GRID
from claims.provenance import load_results
from pincite.atomic import write_atomic

logger = logging.getLogger(__name__)
INPUTS = (CATALOG, RESULTS, GRID)
#: How an outcome is shown in the grid table (the legend says it in words too).
SYMBOL = {HOLDS: "✓", FAILS: "✗", REFUSES: "⊘", UNTESTED: "?", NA: "·"}


@cache
def _load(stamp: tuple[float, ...]) -> tuple[Catalog, dict]:
    """Catalog and results, read once per version of the files (``stamp``: their mtimes)."""
    catalog = load_catalog()
    return catalog, load_results(catalog, RESULTS)


def load() -> tuple[Catalog, dict]:
    """The current catalog and validated results (CatalogError if stale or disagreeing)."""
    return _load(tuple(p.stat().st_mtime_ns for p in INPUTS if p.exists()))


def _load_for(env: Any, location: Any) -> tuple[Catalog, dict] | None:
    """Catalog and results for a page that shows them (noting its inputs); None if refused."""
    _note_inputs(env)
    try:
        return load()
    except CatalogError as exc:
        _warn(location, str(exc))
        return None


def _note_inputs(env: Any) -> None:
    """Every page showing grid data is read again when the catalog, results or grid change."""
    for path in INPUTS:
        env.note_dependency(str(path))


#: Refusals already reported by this process: every page shows the same results, and one
#: message says it (not one per box, role and table).
_reported: set[str] = set()


def _warn(location: Any, message: str) -> None:
    if message in _reported:
        return
    _reported.add(message)
    logger.error(message, location=location, type="claims", subtype="catalog")


def fail_closed(app: Any, exception: Exception | None) -> None:
    """A build whose grid data was refused ends with a non-zero exit status, -W or not."""
    if exception is None and _reported:
        app.statuscode = 1


def _claim_ref(claim_id: str) -> addnodes.pending_xref:
    ref = addnodes.pending_xref(
        "", refdomain="std", reftype="ref", reftarget=f"claim-{claim_id}", refexplicit=True
    )
    ref += nodes.literal(claim_id, claim_id)
    return ref


def _para(label: str, text: str, classes: list[str]) -> nodes.paragraph:
    para = nodes.paragraph(classes=classes)
    para += nodes.strong("", label)
    para += nodes.Text(" " + text)
    return para


class claim_box(nodes.Admonition, nodes.Element):
    """A claim's box: an admonition the standard domain labels by itself, titled ``Claim <id>``."""


def claim_title(node: claim_box) -> str:
    """What ``{ref}`claim-<id>``` shows (the standard domain asks enumerable nodes for it)."""
    return str(node["claim-title"])


def _visit_box(translator: Any, node: claim_box) -> None:
    translator.visit_admonition(node)


def _depart_box(translator: Any, node: claim_box) -> None:
    translator.depart_admonition(node)


class ClaimDirective(SphinxDirective):
    """``claim <id>``: the statement, where it holds and where not (from the grid), evidence."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        loaded = _load_for(self.env, self.get_location())
        if loaded is None:  # results refused (said once): the box keeps its statement and label
            try:
                catalog, results = load_catalog(), None
            except CatalogError:
                return []
        else:
            catalog, results = loaded
        claim_id = self.arguments[0]
        if claim_id not in catalog.claims:
            known = ", ".join(catalog.claims)
            _warn(self.get_location(), f"unknown claim {claim_id!r} (known: {known})")
            return []
        claim = catalog.claims[claim_id]
        label = f"claim-{claim_id}"
        box = claim_box(classes=["claim"], names=[label])
        box["claim-title"] = f"Claim {claim_id}"
        # The label through docutils: an explicit target, which gives the box its id and which
        # Sphinx's standard domain turns into a label when it reads the page (and forgets when
        # the page is read again).
        self.state.document.note_explicit_target(box, box)
        box += nodes.title("", f"Claim {claim_id}")
        para, _ = self.parse_inline(claim.statement, lineno=self.lineno)
        box += nodes.paragraph("", "", *para)
        if results is None:
            box += _para("Holds:", "not shown: the grid results were refused.", ["claim-holds"])
            self.set_source_info(box)
            return [box]
        holds = ranges.summary(catalog, results, claim, HOLDS)
        fails = ranges.summary(catalog, results, claim, FAILS)
        refusals = ranges.refusals(catalog, results, claim)
        nowhere = "nowhere in the grid" + (
            " for every variant (each is measured below)." if refusals else "."
        )
        box += _para("Holds:", holds or nowhere, ["claim-holds"])
        if fails:
            box += _para("Does not hold:", fails + ".", ["claim-fails"])
        # Where the very pattern raises: each exception, as Keras words it, and where.
        for detail, where in refusals:
            refused = nodes.paragraph(classes=["claim-refuses"])
            refused += nodes.strong("", "Keras refuses:")
            refused += nodes.Text(f" {where}, with ")
            refused += nodes.literal(detail, detail)
            box += refused
        untested = ranges.summary(catalog, results, claim, UNTESTED)
        if untested:
            box += _para(
                "Not tested:",
                f"{untested} ({claim.untested_why or 'see the run'}).",
                ["claim-untested"],
            )
        if claim.axes:
            axes = " × ".join(f"{name} {', '.join(values)}" for name, values in claim.axes)
            box += _para("Variants run:", f"{axes}: the claim holds where every variant holds.",
                         ["claim-variants"])  # fmt: skip
        differ = ranges.variant_differences(catalog, results, claim)
        if differ:
            box += nodes.paragraph("", "", nodes.strong("", "Where variants differ:"))
            items = nodes.bullet_list(classes=["claim-variant-differences"])
            for label, outcome, where, detail in differ:
                item = nodes.paragraph()
                item += nodes.literal(label, label)
                item += nodes.Text(f" {outcome} on {where}" + (", with " if detail else "."))
                if detail:
                    item += nodes.literal(detail, detail)
                items += nodes.list_item("", item)
            box += items
        if claim.why:
            why, _ = self.parse_inline(claim.why, lineno=self.lineno)
            box += nodes.paragraph("", "", nodes.strong("", "Why: "), *why)
        example = ranges.example_env(catalog, results, claim, FAILS)
        where = "where it does not hold"
        if example is None:  # a refused step can still measure its other variants
            example = ranges.example_env(catalog, results, claim, REFUSES)
            where = "where Keras refuses"
        if example is not None:
            res = results["envs"][example.id]["results"][claim_id]
            lines = [f"{v['variant']}: {v['outcome']}" for v in res["variants"]]
            shown = next(v for v in res["variants"] if v["outcome"] == res["outcome"])
            lines += ["", f"{shown['variant']}:"]
            lines += [f"  {k} = {_fmt(v)}" for k, v in shown["numbers"].items()]
            if shown.get("detail"):
                lines.append(f"  {shown['detail']}")
            box += nodes.paragraph("", f"Measured {where}, {example.label}:")
            numbers = nodes.literal_block(
                "\n".join(lines), "\n".join(lines), classes=["claim-numbers"]
            )
            numbers["language"] = "text"
            box += numbers
        cited = "; ".join(f"{c['label']} ({c['why']})" for c in catalog.grid.cited_only.values())
        box += _para("Cited, not executed:", cited + ".", ["claim-cited"])
        grid_ref = addnodes.pending_xref(
            "", refdomain="std", reftype="doc", reftarget="/matrix", refexplicit=True
        )
        grid_ref += nodes.inline("", "the release grid")
        box += nodes.paragraph(
            "",
            "",
            nodes.Text(f"Run in {_count(catalog, claim)} environments of "),
            grid_ref,
            nodes.Text("."),
        )
        self.set_source_info(box)
        return [box]


class ClaimCodeDirective(SphinxDirective):
    """``claim-code <id>``: the source of the claim's proof, as it runs on the grid."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        import inspect

        from claims import proofs

        claim_id = self.arguments[0]
        func = proofs.PROOFS.get(claim_id)
        if func is None:
            _warn(self.get_location(), f"claim-code: no proof for claim {claim_id!r}")
            return []
        path = Path(inspect.getsourcefile(func) or "")
        self.env.note_dependency(str(path))
        lines, first = inspect.getsourcelines(func)
        code = "".join(lines).rstrip("\n")
        block = nodes.literal_block(code, code, classes=["claim-code"])
        block["language"] = "python"
        block["linenos"] = True
        block["highlight_args"] = {"linenostart": first}
        where = path.relative_to(CATALOG.parent.parent).as_posix()
        caption = nodes.paragraph("", "", nodes.Text("The proof, "), nodes.literal(where, where),
                                  nodes.Text(f", line {first}:"))  # fmt: skip
        return [caption, block]


def _count(catalog: Catalog, claim: Any) -> int:
    return sum(1 for e in catalog.envs.values() if claim.expected(e) != NA)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value) if isinstance(value, list) else str(value)


class ClaimRangeRole(SphinxRole):
    """``{claim-holds}`id``` / ``{claim-fails}`id```: the grid's ranges, as inline text."""

    def __init__(self, outcome: str) -> None:
        super().__init__()
        self.outcome = outcome

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        if (loaded := _load_for(self.env, self.get_location())) is None:
            return [nodes.inline(text=self.text)], []
        catalog, results = loaded
        claim = catalog.claims.get(self.text)
        if claim is None:
            _warn(self.get_location(), f"unknown claim {self.text!r} in :{self.name}:")
            return [nodes.inline(text=self.text)], []
        text = ranges.summary(catalog, results, claim, self.outcome) or "nowhere in the grid"
        return [nodes.inline(text, text, classes=["claim-range"])], []


class GridRole(SphinxRole):
    """``{grid}`tf.keras``` -> ``2.12–2.15``: ranges of the grid spec itself, as inline text."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        self.env.note_dependency(str(GRID))
        try:
            text = ranges.grid_text(load_catalog().grid, self.text)
        except (CatalogError, ValueError) as exc:
            _warn(self.get_location(), f"{{grid}}: {exc}")
            return [nodes.inline(text=self.text)], []
        return [nodes.inline(text, text, classes=["grid-range"])], []


LEGEND = "✓ holds, ✗ does not hold, ⊘ Keras refuses the pattern, ? not tested, · not run there."


class ClaimsMatrixDirective(SphinxDirective):
    """``claims-matrix``: every claim x release x backend, one compact table per line."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        if (loaded := _load_for(self.env, self.get_location())) is None:
            return []
        catalog, results = loaded
        out: list[nodes.Node] = []
        for line_id, line in catalog.grid.lines.items():
            envs = [e for e in catalog.envs.values() if e.line == line_id]
            minors = sorted({e.minor for e in envs}, key=lambda m: tuple(map(int, m.split("."))))
            backends = list(line.backends)
            section = nodes.rubric("", f"{line.label}")
            legend = (
                "Each cell shows "
                + ", ".join(f"{BACKEND_LABELS[b]}" for b in backends)
                + " in order. "
                if len(backends) > 1
                else ""
            ) + LEGEND
            out += [section]
            if legend:
                out.append(nodes.paragraph("", legend, classes=["grid-legend"]))
            table = nodes.table(classes=["claims-matrix"])
            group = nodes.tgroup(cols=len(minors) + 1)
            table += group
            for _ in range(len(minors) + 1):
                group += nodes.colspec(colwidth=1)
            head = nodes.thead()
            group += head
            row = nodes.row()
            row += nodes.entry("", nodes.paragraph("", "claim"))
            for minor in minors:
                row += nodes.entry("", nodes.paragraph("", minor))
            head += row
            body = nodes.tbody()
            group += body
            for claim in catalog.claims.values():
                row = nodes.row()
                row += nodes.entry("", nodes.paragraph("", "", _claim_ref(claim.id)))
                for minor in minors:
                    cell = ""
                    for backend in backends:
                        env = next(e for e in envs if e.minor == minor and e.backend == backend)
                        cell += SYMBOL[ranges.outcome_of(claim, env, results)]
                    row += nodes.entry("", nodes.paragraph("", cell))
                body += row
            out.append(table)
        # Each claim's ranges, computed from the same results as the tables above.
        out.append(nodes.rubric("", "Where each claim holds"))
        ranges_list = nodes.definition_list(classes=["grid-ranges"])
        for claim in catalog.claims.values():
            definition = nodes.definition()
            for outcome, label in (
                (HOLDS, "holds:"),
                (FAILS, "does not hold:"),
                (REFUSES, "Keras refuses:"),
                (UNTESTED, "not tested:"),
            ):
                text = ranges.summary(catalog, results, claim, outcome)
                if text:
                    definition += _para(label, text, [])
            item = nodes.definition_list_item()
            item += nodes.term("", "", _claim_ref(claim.id))
            item += definition
            ranges_list += item
        out.append(ranges_list)
        versions = nodes.bullet_list(classes=["grid-versions"])
        for env in catalog.envs.values():
            info = results["envs"][env.id]
            pinned = ", ".join(f"{k} {v}" for k, v in sorted(info["versions"].items()))
            entry = nodes.paragraph("", f"{env.id}: Python {info['python']}, {pinned}")
            versions += nodes.list_item("", entry)
        out += [nodes.rubric("", "Exact versions of every environment"), versions]
        return out


def write_export(app: Any, exception: Exception | None) -> None:
    """Write claims.json at the site's root (HTML builders only)."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "claims.json"
    # The export is a function of the results file and of the fingerprinted specs: when both
    # are what the last export was made from, skip the (slow) load and rewrite.
    try:
        source = hashlib.sha256(RESULTS.read_bytes() + fingerprint().encode()).hexdigest()
        if json.loads(target.read_bytes()).get("source-sha256") == source:
            return
    except (OSError, ValueError, AttributeError):
        pass  # no results (load says so below) or no export yet
    try:
        catalog, results = load()
    except CatalogError as exc:
        _warn(str(RESULTS), str(exc))
        return
    source = hashlib.sha256(RESULTS.read_bytes() + fingerprint().encode()).hexdigest()
    data = {**ranges.export(catalog, results), "source-sha256": source}
    write_atomic(target, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def setup(app: Any) -> dict[str, Any]:
    """Register the directives, roles and the export."""
    visitors = (_visit_box, _depart_box)
    app.add_enumerable_node(claim_box, "claim", claim_title, html=visitors, text=visitors)
    app.add_directive("claim", ClaimDirective)
    app.add_directive("claims-matrix", ClaimsMatrixDirective)
    app.add_directive("claim-code", ClaimCodeDirective)
    app.add_role("grid", GridRole())
    app.add_role("claim-holds", ClaimRangeRole(HOLDS))
    app.add_role("claim-fails", ClaimRangeRole(FAILS))
    app.add_role("claim-refuses", ClaimRangeRole(REFUSES))
    app.connect("build-finished", write_export)
    app.connect("build-finished", fail_closed, priority=900)
    # Bump env_version whenever the nodes this extension builds change: pages are re-read.
    return {
        "version": "2",
        "env_version": 6,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
