"""``callchain``: a vertical call-chain diagram rendered at build time as inline SVG.

Each content line is one hop (``Class.method``); a leading ``*`` marks the hop where layer
losses join the total. No script, no network: the SVG is part of the page's HTML, and
non-HTML builders get a numbered list instead.
"""

from __future__ import annotations

from html import escape
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

BOX_H, GAP, PAD, CHAR_W, FONT = 30, 18, 12, 7.8, 13


def render_svg(hops: list[tuple[str, bool]], title: str) -> str:
    """The diagram as a standalone ``<svg>`` element (scales down on narrow screens)."""
    width = int(max(len(text) for text, _ in hops) * CHAR_W + 2 * PAD)
    height = len(hops) * (BOX_H + GAP) - GAP + 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="callchain" role="img" '
        f'viewBox="0 0 {width + 2} {height}" width="{width + 2}" '
        f'style="max-width:100%;height:auto" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (text, marked) in enumerate(hops):
        y = 1 + i * (BOX_H + GAP)
        cls = "hop hop-losses" if marked else "hop"
        parts.append(
            f'<rect class="{cls}" x="1" y="{y}" width="{width}" height="{BOX_H}" rx="5"/>'
            f'<text x="{PAD + 1}" y="{y + BOX_H / 2 + FONT / 2.8:.1f}" '
            f'font-size="{FONT}">{escape(text)}</text>'
        )
        if i < len(hops) - 1:
            x, y0, y1 = 1 + width / 2, y + BOX_H, y + BOX_H + GAP
            parts.append(
                f'<path class="edge" d="M{x:.1f},{y0} L{x:.1f},{y1 - 1}"/>'
                f'<path class="arrow" d="M{x - 4:.1f},{y1 - 6} L{x:.1f},{y1} '
                f'L{x + 4:.1f},{y1 - 6}"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


class CallChainDirective(SphinxDirective):
    """Draw the content lines as a chain of boxes joined by arrows."""

    has_content = True
    required_arguments = 0
    optional_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        hops = [
            (line.strip().lstrip("*").strip(), line.strip().startswith("*"))
            for line in self.content
            if line.strip()
        ]
        title = self.arguments[0] if self.arguments else "call chain"
        if not hops:
            raise self.error("callchain: give one hop per line")
        figure = nodes.container(classes=["callchain-figure"])
        figure += nodes.raw("", render_svg(hops, title), format="html")
        fallback = nodes.enumerated_list(classes=["callchain-text", "only-non-html"])
        for text, _ in hops:
            fallback += nodes.list_item("", nodes.paragraph("", text))
        figure += addnodes.only("", fallback, expr="not html")
        self.set_source_info(figure)
        return [figure]


def setup(app: Any) -> dict[str, Any]:
    """Register the directive."""
    app.add_directive("callchain", CallChainDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
