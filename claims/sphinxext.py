"""Sphinx side of the claims: claim boxes, range roles, the grid table, and claims.json.

Every version range on the site comes from the committed grid results (`claims/results.json`)
through `ranges.py`: a box, a role or the table can only say what the grid measured.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

from claims import ranges, setups
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


def _claim_ref(claim_id: str, title: str) -> addnodes.pending_xref:
    """A link to the claim's box, by its short title."""
    ref = addnodes.pending_xref(
        "", refdomain="std", reftype="ref", reftarget=f"claim-{claim_id}", refexplicit=True
    )
    ref += nodes.inline(title, title)
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
        box["claim-title"] = claim.title
        # The label through docutils: an explicit target, which gives the box its id and which
        # Sphinx's standard domain turns into a label when it reads the page (and forgets when
        # the page is read again).
        self.state.document.note_explicit_target(box, box)
        box += nodes.title("", claim.title)
        para, _ = self.parse_inline(claim.statement, lineno=self.lineno)
        box += nodes.paragraph("", "", *para)
        if results is None:
            box += _para("Holds:", "not shown: the grid results were refused.", ["claim-holds"])
            self.set_source_info(box)
            return [box]
        # The reader's setup line goes here (setup.js); everything below folds behind it.
        details = claim_details()
        details["summary"] = _details_summary(catalog, results, claim)
        box += details
        self._ranges(details, catalog, results, claim)
        box += self._cited(catalog)
        self.set_source_info(box)
        return [box]

    def _ranges(self, box: nodes.Element, catalog: Catalog, results: dict, claim: Any) -> None:
        """Where the claim holds and where not, its variants, why, and measured numbers."""
        claim_id = claim.id
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
            # Variants that differ alike (same outcome, releases and exception) share one item.
            grouped: dict[tuple[str, str, str], list[str]] = {}
            for label, outcome, where, detail in differ:
                grouped.setdefault((outcome, where, detail), []).append(label)
            # Named by the axes a group does not cover whole, as the reader's line names them.
            every = max(
                (ranges.variants_of(claim, env, results) for env in catalog.envs.values()),
                key=len,
            )
            for (outcome, where, detail), labels in grouped.items():
                if len(every) > 1 and all(label in every for label in labels):
                    group = [every[label] for label in labels]
                    labels = setups.variant_groups(group, list(every.values()))
                item = nodes.paragraph()
                for n, label in enumerate(labels):
                    if n:
                        item += nodes.Text(", ")
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
            lines += [
                f"  {k} = {setups.format_number(v, compact=False)}"
                for k, v in shown["numbers"].items()
            ]
            if shown.get("detail"):
                lines.append(f"  {shown['detail']}")
            box += nodes.paragraph("", f"Measured {where}, {example.label}:")
            numbers = nodes.literal_block(
                "\n".join(lines), "\n".join(lines), classes=["claim-numbers"]
            )
            numbers["language"] = "text"
            box += numbers
        # Every release the claim ran on, written out: a reader searching "3.12" finds it.
        releases = ranges.releases_run(catalog, claim)
        grid_ref = addnodes.pending_xref(
            "", refdomain="std", reftype="doc", reftarget="/matrix", refexplicit=True
        )
        grid_ref += nodes.inline("", "the release grid")
        box += nodes.paragraph(
            "",
            "",
            nodes.Text(f"Run in {_count(catalog, claim)} environments of "),
            grid_ref,
            nodes.Text(f": {releases}."),
            classes=["claim-releases"],
        )

    def _cited(self, catalog: Catalog) -> nodes.paragraph:
        """The cited-only lines: said in full in a page's first box, as a short tag after."""
        document = self.state.document  # one per page, read afresh each time
        seen = document.get("claims-cited-said", False)
        document["claims-cited-said"] = True
        labels = " and ".join(c["label"] for c in catalog.grid.cited_only.values())
        if not seen:
            # The reason is the grid's; the code quoted is the pinned release of the same id.
            titles = _pin_titles(self.config)
            if titles:  # a retitled pin rewrites the sentence
                self.env.note_dependency(self.config.pincite_pins)
            parts = []
            for pin, cited in catalog.grid.cited_only.items():
                source = f"the code of {titles[pin]}" if pin in titles else "their code"
                parts.append(
                    f"{cited['label']}, in every box of this page: {cited['why']}. What this "
                    f"site says of them is quoted from {source}."
                )
            text = " ".join(parts)
            return _para("Cited, not executed:", text, ["claim-cited"])
        return nodes.paragraph("", f"Cited only: {labels}.", classes=["claim-cited", "claim-tag"])


def _details_summary(catalog: Catalog, results: dict, claim: Any) -> str:
    """The folded part's one-line summary: which outcomes the grid measured, in how many."""
    counts: dict[str, int] = {}
    for env in catalog.envs.values():
        outcome = ranges.outcome_of(claim, env, results)
        if outcome != NA:
            counts[outcome] = counts.get(outcome, 0) + 1
    parts = [f"{outcome} in {n}" for outcome, n in counts.items()]
    return f"Ranges and numbers: {', '.join(parts)} of {sum(counts.values())} environments"


class claim_details(nodes.General, nodes.Element):
    """The part of a box a chosen setup folds away (an open ``<details>`` without one)."""


def _visit_details(translator: Any, node: claim_details) -> None:
    summary = translator.encode(node["summary"])
    translator.body.append(f'<details class="claim-details" open><summary>{summary}</summary>\n')


def _depart_details(translator: Any, node: claim_details) -> None:
    translator.body.append("</details>\n")


def _visit_plain(translator: Any, node: nodes.Element) -> None:
    pass


def _depart_plain(translator: Any, node: nodes.Element) -> None:
    pass


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


class ClaimRangeRole(SphinxRole):
    """``{claim-holds}`id``` / ``{claim-fails}`id```: the grid's ranges, as inline text.

    ``{claim-refuses}`id: fit, functional``` states the outcome of the variants with those
    axis values only (combined), where a sentence speaks of one entry point or model style.
    """

    def __init__(self, outcome: str) -> None:
        super().__init__()
        self.outcome = outcome

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        if (loaded := _load_for(self.env, self.get_location())) is None:
            return [nodes.inline(text=self.text)], []
        catalog, results = loaded
        claim_id, _, variant_text = self.text.partition(":")
        claim = catalog.claims.get(claim_id.strip())
        if claim is None:
            _warn(self.get_location(), f"unknown claim {claim_id.strip()!r} in :{self.name}:")
            return [nodes.inline(text=self.text)], []
        only: tuple[str, ...] = ()
        if variant_text:
            try:
                only = ranges.parse_variant_filter(claim, variant_text)
            except ValueError as exc:
                _warn(self.get_location(), f":{self.name}: {exc}")
                return [nodes.inline(text=self.text)], []
        text = ranges.summary(catalog, results, claim, self.outcome, only) or "nowhere in the grid"
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


#: The CSS class of each outcome's colour (the legend, the cells and setup.js agree on them).
OUTCOME_CLASS = {HOLDS: "holds", FAILS: "fails", REFUSES: "refuses", UNTESTED: "untested", NA: "na"}


class grid_cell(nodes.Inline, nodes.TextElement):
    """One release in a grid row: a coloured glyph, its environment and outcome in a tooltip."""


def _visit_cell(translator: Any, node: grid_cell) -> None:
    tip = translator.attval(node["tip"])
    translator.body.append(
        f'<span class="grid-cell {OUTCOME_CLASS[node["outcome"]]}" data-env="{node["env"]}"'
        f' title="{tip}" role="img" aria-label="{tip}">'
    )


def _depart_cell(translator: Any, node: grid_cell) -> None:
    translator.body.append("</span>")


def _runs_text(cells: list[tuple[Any, str]]) -> str:
    """``✗ 3.0.0–3.1.1 · ✓ 3.2.0–3.15.1``: the row as runs of one outcome, boundaries named."""
    runs: list[list[Any]] = []
    for env, outcome in cells:
        if runs and runs[-1][0] == outcome:
            runs[-1][2] = env.release
        else:
            runs.append([outcome, env.release, env.release])
    return " · ".join(f"{SYMBOL[o]} {a}" + ("" if a == b else f"–{b}") for o, a, b in runs)


def grid_rows(catalog: Catalog, results: dict, claim: Any) -> list[nodes.Element]:
    """One row per line and backend the claim runs on: its releases as runs of colour."""
    rows: list[nodes.Element] = []
    for line_id, line in catalog.grid.lines.items():
        for backend in line.backends:
            envs = sorted(
                (
                    e
                    for e in catalog.envs.values()
                    if e.line == line_id and e.backend == backend and claim.expected(e) != NA
                ),
                key=lambda e: e.version,
            )
            if not envs:
                continue
            name = line.label + (f" · {BACKEND_LABELS[backend]}" if len(line.backends) > 1 else "")
            row = nodes.container(classes=["grid-row"])
            row += nodes.inline("", name, classes=["grid-row-label"])
            cells = nodes.inline(classes=["grid-cells"])
            measured = []
            for env in envs:
                outcome = ranges.outcome_of(claim, env, results)
                measured.append((env, outcome))
                cell = grid_cell("", SYMBOL[outcome])
                cell["env"], cell["outcome"] = env.id, outcome
                cell["tip"] = f"{env.label}: {outcome}"
                cells += cell
            row += cells
            row += nodes.inline("", _runs_text(measured), classes=["grid-runs"])
            rows.append(row)
    return rows


class ClaimsMatrixDirective(SphinxDirective):
    """``claims-matrix``: per claim, one row per line and backend, releases as runs of colour."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        if (loaded := _load_for(self.env, self.get_location())) is None:
            return []
        catalog, results = loaded
        out: list[nodes.Node] = []
        legend = nodes.paragraph(classes=["grid-legend"])
        for outcome, words in (
            (HOLDS, "holds"),
            (FAILS, "does not hold"),
            (REFUSES, "Keras refuses the pattern"),
            (UNTESTED, "not tested"),
        ):
            cell = grid_cell("", SYMBOL[outcome])
            cell["env"], cell["outcome"], cell["tip"] = "", outcome, words
            legend += nodes.inline("", "", cell, nodes.Text(f" {words}"), classes=["grid-key"])
        out.append(legend)
        out.append(
            nodes.paragraph(
                "",
                "Each cell is one release, oldest to newest; the line under each row names the "
                "first and last release of each run. Your setup, when you pick one, is outlined.",
            )
        )
        for claim in catalog.claims.values():
            block = nodes.container(classes=["grid-claim"])
            title = nodes.paragraph(classes=["grid-claim-title"])
            title += _claim_ref(claim.id, claim.title)
            block += title
            block += grid_rows(catalog, results, claim)
            out.append(block)
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
            item += nodes.term("", "", _claim_ref(claim.id, claim.title))
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


SETUPS_SCRIPT = "claims-setups.js"
#: The layout of that script's data: bumped when it changes, so an old script is rewritten.
SETUPS_LAYOUT = 2
#: The picker and the styles of boxes and grid, shipped with the extension.
STATIC = Path(__file__).parent / "static"


def _add_static(app: Any) -> None:
    if str(STATIC) not in app.config.html_static_path:
        app.config.html_static_path.append(str(STATIC))


class digest_slot(nodes.Inline, nodes.Element):
    """Where setup.js writes a claim's outcome for the reader's setup (empty without one)."""


def _visit_slot(translator: Any, node: digest_slot) -> None:
    translator.body.append(f'<span class="digest-slot" data-setup-claim="{node["claim"]}">')


def _depart_slot(translator: Any, node: digest_slot) -> None:
    translator.body.append("</span>")


class ClaimDigestDirective(SphinxDirective):
    """``claim-digest``: a list of claims by title (one id per line), each with its outcome
    for the reader's setup once one is picked.

    ``<id> | <label> | <text>`` adds a second link, to a section the reader needs next (what
    to set, say), after the claim's.
    """

    has_content = True

    def run(self) -> list[nodes.Node]:
        try:
            catalog = load_catalog()
        except CatalogError as exc:
            _warn(self.get_location(), str(exc))
            return []
        _note_inputs(self.env)
        items = nodes.bullet_list(classes=["claim-digest"])
        for offset, line in enumerate(self.content):
            claim_id, _, extra = (part.strip() for part in line.partition("|"))
            if not claim_id:
                continue
            if claim_id not in catalog.claims:
                where = (self.env.docname, self.content_offset + offset + 1)
                _warn(where, f"claim-digest: unknown claim {claim_id!r}")
                continue
            para = nodes.paragraph()
            para += _claim_ref(claim_id, catalog.claims[claim_id].title)
            if extra:
                label, _, text = (part.strip() for part in extra.partition("|"))
                if not text:
                    where = (self.env.docname, self.content_offset + offset + 1)
                    _warn(where, f"claim-digest: {line.strip()!r} needs '<id> | <label> | <text>'")
                    continue
                more = addnodes.pending_xref(
                    "", refdomain="std", reftype="ref", reftarget=label, refexplicit=True
                )
                more += nodes.inline(text, text)
                para += nodes.Text(" (")
                para += more
                para += nodes.Text(")")
            slot = digest_slot()
            slot["claim"] = claim_id
            para += slot
            items += nodes.list_item("", para)
        return [items]


def _sha256_of(path: Path | None) -> str:
    """A file's sha256, or "absent"."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path else "absent"
    except OSError:
        return "absent"


def claim_pages(app: Any) -> dict[str, str]:
    """The page (its URI from the site's root) that holds each claim's box."""
    env = getattr(app, "env", None)
    builder: Any = getattr(app, "builder", None)
    if env is None or not hasattr(builder, "get_target_uri"):
        return {}
    labels = env.domains.standard_domain.labels
    return {
        name[len("claim-") :]: builder.get_target_uri(docname)
        for name, (docname, _anchor, _title) in labels.items()
        if name.startswith("claim-")
    }


def export_source() -> str:
    """sha256 of what claims.json and the picker's data are made from: the results, what
    produced them, and the catalog's prose (titles and statements are exported too)."""
    return hashlib.sha256(
        RESULTS.read_bytes() + fingerprint().encode() + CATALOG.read_bytes()
    ).hexdigest()


def _pin_titles(config: Any) -> dict[str, str]:
    """Each pinned release's title, by id, from pincite's pins where the site uses them."""
    # pincite makes its paths absolute when the configuration is read.
    pins = Path(getattr(config, "pincite_pins", "") or "")
    if not pins.is_absolute() or not pins.is_file():
        return {}
    releases = tomllib.loads(pins.read_text(encoding="utf-8")).get("release", [])
    return {r["id"]: r.get("title", r["id"]) for r in releases if "id" in r}


def write_export(app: Any, exception: Exception | None) -> None:
    """Write claims.json at the site's root and the picker's data (HTML builders only)."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "claims.json"
    script = Path(app.outdir) / "_static" / SETUPS_SCRIPT
    # Both are a function of the results file and of the fingerprinted specs: when both are
    # what the last export was made from, skip the (slow) load and rewrite.
    # Whose code each block shows comes from pincite's pins, where the site uses pincite.
    named = getattr(app.config, "pincite_pins", "")
    pins = Path(app.confdir, named) if named and Path(app.confdir, named).is_file() else None
    pages = claim_pages(app)
    where = hashlib.sha256(json.dumps(pages, sort_keys=True).encode()).hexdigest()

    # The lines are worded by setups.py: a change there is a change of the data.
    worded = _sha256_of(Path(setups.__file__))

    def stamp(source: str) -> str:
        return f"// source-sha256 {source} {_sha256_of(pins)} {where} {worded} v{SETUPS_LAYOUT}\n"

    try:
        source = export_source()
        # The script also says whose code each block shows and where each box is: the pins
        # and the boxes' pages are part of its source.
        if json.loads(target.read_bytes()).get("source-sha256") == source and (
            script.read_text(encoding="utf-8").startswith(stamp(source))
        ):
            return
    except (OSError, ValueError, AttributeError):
        pass  # no results (load says so below) or no export yet
    try:
        catalog, results = load()
    except CatalogError as exc:
        _warn(str(RESULTS), str(exc))
        return
    source = export_source()
    data = {**ranges.export(catalog, results), "source-sha256": source}
    write_atomic(target, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    text = stamp(source) + setups.script(catalog, results, pins, pages)
    write_atomic(script, text.encode())


def setup(app: Any) -> dict[str, Any]:
    """Register the directives, roles and the export."""
    visitors = (_visit_box, _depart_box)
    app.add_enumerable_node(claim_box, "claim", claim_title, html=visitors, text=visitors)
    plain = (_visit_plain, _depart_plain)
    app.add_node(grid_cell, html=(_visit_cell, _depart_cell), text=plain, latex=plain)
    app.add_node(claim_details, html=(_visit_details, _depart_details), text=plain, latex=plain)
    app.add_directive("claim", ClaimDirective)
    app.add_directive("claims-matrix", ClaimsMatrixDirective)
    app.add_directive("claim-code", ClaimCodeDirective)
    app.add_role("grid", GridRole())
    app.add_role("claim-holds", ClaimRangeRole(HOLDS))
    app.add_role("claim-fails", ClaimRangeRole(FAILS))
    app.add_role("claim-refuses", ClaimRangeRole(REFUSES))
    app.connect("build-finished", write_export)
    # The picker's data first, then the picker (conf/_static/setup.js ships with the site).
    app.connect("builder-inited", _add_static)
    app.add_js_file(SETUPS_SCRIPT)
    app.add_js_file("setup.js")
    app.add_css_file("claims.css")
    app.add_directive("claim-digest", ClaimDigestDirective)
    app.add_node(digest_slot, html=(_visit_slot, _depart_slot), text=plain, latex=plain)
    app.connect("build-finished", fail_closed, priority=900)
    # Bump env_version whenever the nodes this extension builds change: pages are re-read.
    return {
        "version": "2",
        "env_version": 10,
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
