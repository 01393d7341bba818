"""Search that finds what readers type, offline.

Two additions to Sphinx's own search, for this site:

- API spellings: a page that writes "activity regularizer" is also indexed under
  ``activity_regularizer`` (and the reverse), for the identifiers in ``claims_search_spellings``.
- Excerpts from ``file://``: Sphinx fetches each result page to show an excerpt, which browsers
  refuse there. An environment collector keeps each page's text; ``page-texts.js`` carries them,
  and ``search-excerpts.js`` answers the search page's requests for them from it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Set as AbstractSet
from itertools import pairwise
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.environment.collectors import EnvironmentCollector
from sphinx.search.en import SearchEnglish

from pincite.atomic import write_atomic

PAGE_TEXTS = "page-texts.js"
#: Characters kept per page: excerpts come from the first occurrence of a word.
MAX_CHARS = 60_000


#: A release number: kept whole ("3.12.4"), where Sphinx would drop its parts as numbers.
VERSION = re.compile(r"\d+(?:\.\d+)+")


class SearchWithSpellings(SearchEnglish):
    """English search that also indexes ``a_b`` where a page writes "a b" (and the reverse),
    and release numbers whole, with their minor: "3.12.4" is found by "3.12" and "3.12.4"."""

    spellings: frozenset[str] = frozenset()
    # The query is split the same way: release numbers first, whole, then words as Sphinx does.
    js_splitter_code = r"""
function splitQuery(query) {
  const versions = query.match(/\d+(?:\.\d+)+/g) || [];
  const rest = query.replace(/\d+(?:\.\d+)+/g, " ");
  return versions.concat(
    rest.split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu).filter((t) => t));
}
"""

    def split(self, input: str) -> list[str]:
        words = super().split(input)
        extra: list[str] = []
        for match in VERSION.finditer(input):
            parts = match.group().split(".")
            extra += dict.fromkeys([match.group(), ".".join(parts[:2])])
        for first, second in pairwise(words):
            joined = f"{first}_{second}".lower()
            if joined in self.spellings:
                extra.append(joined)
        for word in words:
            if word.lower() in self.spellings:
                extra.extend(word.lower().split("_"))
        return words + extra


class PageTextCollector(EnvironmentCollector):
    """Each page's plain text, for the offline excerpts of search results."""

    def clear_doc(self, app: Any, env: Any, docname: str) -> None:
        getattr(env, "claims_page_texts", {}).pop(docname, None)

    def merge_other(self, app: Any, env: Any, docnames: AbstractSet[str], other: Any) -> None:
        texts = _texts(env)
        for docname in docnames:
            if docname in getattr(other, "claims_page_texts", {}):
                texts[docname] = other.claims_page_texts[docname]

    def process_doc(self, app: Any, doctree: Any) -> None:
        # One entry per section, its own text (not its subsections'): a search hit on a
        # section shows an excerpt of that section, as Sphinx does online.
        kept: list[list[str]] = []
        budget = MAX_CHARS
        for section in [doctree, *doctree.findall(nodes.section)]:
            own = [c for c in section.children if not isinstance(c, nodes.section)]
            text = " ".join(" ".join(c.astext() for c in own).split())[:budget]
            budget -= len(text)
            ident = section["ids"][0] if section.get("ids") and section is not doctree else ""
            if text or ident:
                kept.append([ident, text])
        _texts(app.env)[app.env.docname] = kept


def _texts(env: Any) -> dict[str, list[list[str]]]:
    if not hasattr(env, "claims_page_texts"):
        env.claims_page_texts = {}
    texts: dict[str, list[list[str]]] = env.claims_page_texts
    return texts


def write_page_texts(app: Any, exception: Exception | None) -> None:
    """Write ``_static/page-texts.js`` when the pages' texts changed (HTML builders only)."""
    if exception is not None or app.builder.format != "html":
        return
    texts = dict(sorted(_texts(app.env).items()))
    payload = json.dumps(texts, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    body = f"window.PAGE_TEXTS = {payload};\n"
    stamp = f"// sha256 {hashlib.sha256(body.encode()).hexdigest()}\n"
    target = Path(app.outdir) / "_static" / PAGE_TEXTS
    try:
        if target.read_text(encoding="utf-8").startswith(stamp):
            return
    except OSError:
        pass
    write_atomic(target, (stamp + body).encode())


def _spellings(app: Any, config: Any) -> None:
    SearchWithSpellings.spellings = frozenset(s.lower() for s in config.claims_search_spellings)


def _add_static(app: Any) -> None:
    static = str(Path(__file__).parent / "static")
    if static not in app.config.html_static_path:
        app.config.html_static_path.append(static)


def setup(app: Any) -> dict[str, Any]:
    """Register the search language, the page-text collector and the excerpt scripts."""
    app.add_config_value("claims_search_spellings", [], "html", types=frozenset({list, tuple}))
    app.add_search_language(SearchWithSpellings)
    app.connect("config-inited", _spellings)
    app.connect("builder-inited", _add_static)
    app.add_env_collector(PageTextCollector)
    app.connect("build-finished", write_page_texts)
    app.add_js_file("search-excerpts.js")
    return {"version": "1", "env_version": 3, "parallel_read_safe": True,
            "parallel_write_safe": True}  # fmt: skip
