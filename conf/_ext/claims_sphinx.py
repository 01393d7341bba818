"""Sphinx side of the claims: a `claim` directive (statement + stable label) and the matrix."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

CLAIMS_DIR = Path(__file__).resolve().parents[2] / "claims"
sys.path.insert(0, str(CLAIMS_DIR))

from catalog import CATALOG, RESULTS, CatalogError, load_catalog, load_results  # noqa: E402

logger = logging.getLogger(__name__)


def _warn(directive: SphinxDirective, message: str) -> list[nodes.Node]:
    logger.warning(message, location=directive.get_location(), type="claims", subtype="catalog")
    return []


def _claim_ref(claim_id: str) -> addnodes.pending_xref:
    ref = addnodes.pending_xref(
        "", refdomain="std", reftype="ref", reftarget=f"claim-{claim_id}", refexplicit=True
    )
    ref += nodes.literal(claim_id, claim_id)
    return ref


class ClaimDirective(SphinxDirective):
    """``claim <id>``: the claim's statement from the catalog, as a referencable box."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(CATALOG))
        try:
            catalog = load_catalog()
        except CatalogError as exc:
            return _warn(self, str(exc))
        claim_id = self.arguments[0]
        if claim_id not in catalog.claims:
            return _warn(self, f"unknown claim {claim_id!r} (known: {', '.join(catalog.claims)})")
        claim = catalog.claims[claim_id]
        label = f"claim-{claim_id}"
        box = nodes.admonition(classes=["claim"], ids=[label])
        box += nodes.title("", f"Claim {claim_id}")
        para, _ = self.parse_inline(claim.statement, lineno=self.lineno)
        box += nodes.paragraph("", "", *para)
        envs = ", ".join(catalog.envs[e].label for e in catalog.envs if e in claim.holds_in)
        box += nodes.paragraph("", f"Expected to hold in: {envs or 'none of the environments'}.")
        std = self.env.domains.standard_domain
        std.anonlabels[label] = (self.env.docname, label)
        std.labels[label] = (self.env.docname, label, f"Claim {claim_id}")
        self.set_source_info(box)
        return [box]


class ClaimsMatrixDirective(SphinxDirective):
    """``claims-matrix``: the version x claim table from claims/results.json."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(CATALOG))
        self.env.note_dependency(str(RESULTS))
        try:
            catalog = load_catalog()
            results = load_results(catalog)
        except CatalogError as exc:
            return _warn(self, str(exc))
        envs = list(catalog.envs)
        table = nodes.table(classes=["claims-matrix"])
        group = nodes.tgroup(cols=len(envs) + 1)
        table += group
        for _ in range(len(envs) + 1):
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        group += head
        row = nodes.row()
        row += nodes.entry("", nodes.paragraph("", "claim"))
        for env in envs:
            row += nodes.entry("", nodes.paragraph("", catalog.envs[env].label))
        head += row
        body = nodes.tbody()
        group += body
        symbol = {"holds": "✓", "fails": "✗", "error": "error"}
        for claim in catalog.claims.values():
            row = nodes.row()
            row += nodes.entry("", nodes.paragraph("", "", _claim_ref(claim.id)))
            for env in envs:
                res = results["envs"][env]["results"].get(claim.id)
                text = "n/a" if res is None else symbol.get(res["outcome"], res["outcome"])
                row += nodes.entry("", nodes.paragraph("", text))
            body += row
        versions = nodes.bullet_list()
        for env in envs:
            info = results["envs"][env]
            pinned = ", ".join(f"{k} {v}" for k, v in sorted(info["versions"].items()))
            item = nodes.paragraph(
                "", f"{catalog.envs[env].label}: Python {info['python']}, {pinned}"
            )
            versions += nodes.list_item("", item)
        return [table, versions]


def setup(app: Any) -> dict[str, Any]:
    """Register the directives."""
    app.add_directive("claim", ClaimDirective)
    app.add_directive("claims-matrix", ClaimsMatrixDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
