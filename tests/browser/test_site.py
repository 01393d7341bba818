"""The built site in headless Chromium from file://, with every request off the site blocked.

Run after `nox -s docs` with `nox -s browser`. Screenshots at phone and desktop widths land in
build/screenshots/ for a human to look at.
"""

from __future__ import annotations

import statistics
import zipfile
from pathlib import Path

import pytest
from visit import ARCHIVE, SHOTS, SITE, Visit, pages, require_site

require_site()


def test_every_page_loads_offline_with_no_request_leaving_the_site(browser) -> None:
    report = []
    for path in pages(SITE):
        visit = Visit(browser, SITE)
        visit.open(path)
        visit.page.wait_for_timeout(50)
        if visit.outside or visit.failed or visit.errors:
            report.append((path.relative_to(SITE), visit.outside, visit.failed, visit.errors))
        visit.close()
    assert report == []
    assert len(pages(SITE)) >= 10


def test_executed_page_shows_evidence_and_no_tensorflow_noise(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "proofs.html")
    text = visit.page.locator("article").inner_text()
    assert text.count("the claim holds") >= 15
    for noise in ("WARNING:tensorflow", "INFO:tensorflow", "absl::", "oneDNN", "cuda"):
        assert noise not in text, noise
    visit.close()


def test_math_renders_offline(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "index.html")
    visit.page.wait_for_selector("mjx-container", timeout=15000)
    assert visit.page.locator("mjx-container").count() >= 2
    assert visit.outside == [] and visit.failed == []
    visit.close()


def test_search_finds_a_known_term_offline(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "search.html", "?q=regularization_losses")
    visit.page.wait_for_selector("#search-results ul.search li", timeout=15000)
    hits = visit.page.locator("#search-results ul.search li").all_inner_texts()
    assert any("call chain" in h.lower() for h in hits), hits
    assert visit.outside == [] and visit.errors == []
    visit.close()


def test_version_tabs_are_synchronised_and_remembered_across_pages(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "index.html")
    visit.page.locator("label.sd-tab-label", has_text="Keras 3").first.click()
    visit.open(SITE / "call-chain.html")
    # The first tab set on the next page opens on the remembered choice.
    checked = visit.page.locator(".sd-tab-set > input:checked + label").first
    assert checked.get_attribute("data-sync-id") == "keras-3"
    assert checked.inner_text().strip() == "Keras 3"
    # ... and every tab set of that page follows it.
    ids = visit.page.locator(".sd-tab-set > input:checked + label").evaluate_all(
        "els => els.map(e => e.dataset.syncId)"
    )
    assert set(ids) == {"keras-3"}
    visit.close()


def test_citation_headers_link_to_upstream_permalinks(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "call-chain.html")
    links = visit.page.locator(".pincite-source .code-block-caption a.pincite-permalink")
    hrefs = links.evaluate_all("els => els.map(e => e.href)")
    assert len(hrefs) >= 10
    assert all("/blob/" in h and "#L" in h for h in hrefs), hrefs
    assert visit.page.locator("button.copybtn").count() >= len(hrefs)
    assert visit.page.get_by_text("Sources cited on this page").count() == 1
    visit.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_readable_at_phone_and_desktop_width(browser, width: int) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("index", "call-chain", "matrix", "proofs", "boundaries"):
        visit = Visit(browser, SITE, width=width)
        visit.open(SITE / f"{name}.html")
        overflow = visit.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        # Wide content (code, display math, tables) must scroll inside its own box.
        clipped = visit.page.evaluate(
            """() => [...document.querySelectorAll('div.math, div.highlight pre, table')]
                .filter(e => e.scrollWidth > e.clientWidth + 1)
                .filter(e => {
                    let n = e;
                    while (n && n !== document.body) {
                        const ox = getComputedStyle(n).overflowX;
                        if (ox === 'auto' || ox === 'scroll') return false;
                        n = n.parentElement;
                    }
                    return true;
                })
                .map(e => e.className || e.tagName)"""
        )
        assert clipped == [], f"{name} at {width} px cuts off {clipped}"
        visit.page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=False)
        visit.close()
        assert overflow <= 0, f"{name} overflows the page by {overflow} px at {width} px"


def test_page_weight() -> None:
    sizes = [p.stat().st_size for p in pages(SITE)]
    assert statistics.median(sizes) <= 150_000


def test_offline_archive_unpacks_and_opens(browser, tmp_path: Path) -> None:
    with zipfile.ZipFile(ARCHIVE) as zf:
        zf.extractall(tmp_path)
    site = tmp_path / "layer-losses-site"
    visit = Visit(browser, site)
    visit.open(site / "index.html")
    assert "Where do layer losses go?" in visit.page.title()
    assert visit.outside == [] and visit.failed == [] and visit.errors == []
    visit.close()


def test_claim_boxes_state_computed_ranges(browser) -> None:
    import json

    exported = json.loads((SITE / "claims.json").read_text())
    visit = Visit(browser, SITE)
    # Every claim has exactly one box, on the proofs page or the questions page.
    ids = []
    for name in ("questions", "proofs"):
        visit.open(SITE / f"{name}.html")
        ids += visit.page.locator(".claim.admonition").evaluate_all("els => els.map(e => e.id)")
    assert sorted(ids) == sorted(f"claim-{c}" for c in exported["claims"])
    box = visit.page.locator("#claim-activity-regularizer-batch-mean")
    # text_content: the ranges are folded behind a disclosure, but they are on the page.
    holds = box.locator(".claim-holds").text_content()
    fails = box.locator(".claim-fails").text_content()
    # The box says what the export says: the releases where it held and where it did not.
    held = {
        r["versions"]["keras"]
        for r in exported["results"]
        if r["claim"] == "activity-regularizer-batch-mean"
        and r["line"] == "keras"
        and r["outcome"] == "holds"
    }
    newest, oldest = (
        max(held, key=lambda v: tuple(map(int, v.split(".")))),
        min(held, key=lambda v: tuple(map(int, v.split(".")))),
    )
    assert f"Keras {oldest}–{newest}" in holds
    assert "Keras 3.0.0–" in fails  # exact releases: the grid runs every one
    assert "Cited" in box.text_content()
    visit.close()


def test_export_is_served_with_the_site() -> None:
    import json

    exported = json.loads((SITE / "claims.json").read_text())
    envs = {r["env"] for r in exported["results"]}
    assert len(envs) >= 45
    outcomes = {"holds", "does not hold", "Keras refuses", "not tested", "n/a"}
    assert {r["outcome"] for r in exported["results"]} <= outcomes


@pytest.mark.parametrize(
    ("words", "anchor"),
    [
        ("val_loss", "q-evaluate"),
        ("return_losses", "q-jax"),
        ("GradientTape", "q-tape"),
        ("scale_regularization_loss", "q-scale"),
        ("mean_with_sample_weight", "q-sample-weight"),
        ("mixed_float16", "q-mixed"),
        ("TimeDistributed", "q-time-distributed"),
        ("DataParallel", "q-data-parallel"),
    ],
)
def test_search_finds_each_question_by_its_words(browser, words: str, anchor: str) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "search.html", f"?q={words}")
    visit.page.wait_for_selector("#search-results ul.search li", timeout=15000)
    hits = visit.page.locator("#search-results ul.search li a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    assert any(h.startswith("questions.html") for h in hits), hits
    visit.open(SITE / "questions.html")
    assert visit.page.locator(f"#{anchor}").count() == 1
    visit.close()
