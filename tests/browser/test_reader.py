"""The site as a reader uses it: their setup first, a readable grid, search, and phones.

Run after `nox -s docs` with `nox -s browser` (headless Chromium from file://, network blocked).
Screenshots with a setup chosen land in build/screenshots/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from visit import SHOTS, SITE, Visit, pages, require_site

require_site()

EXPORT = json.loads((SITE / "claims.json").read_text()) if (SITE / "claims.json").exists() else {}
OUTCOME_CLASS = {"holds": "holds", "does not hold": "fails", "Keras refuses": "refuses",
                 "not tested": "untested"}  # fmt: skip


def _record(claim: str, env: str) -> dict:
    return next(r for r in EXPORT["results"] if r["claim"] == claim and r["env"] == env)


def test_a_link_sets_the_setup_and_every_box_leads_with_it(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "questions.html", "?setup=keras-3.12.4-jax")
    boxes = visit.page.locator(".claim.admonition")
    assert boxes.count() >= 10
    for i in range(boxes.count()):
        box = boxes.nth(i)
        claim = box.get_attribute("id").removeprefix("claim-")
        line = box.locator(".claim-yours")
        assert line.count() == 1, claim
        text = line.inner_text()
        assert text.startswith("Keras 3.12.4 on JAX:"), text
        # The line states the outcome the grid measured there, in words and in colour.
        outcome = _record(claim, "keras-3.12.4-jax")["outcome"]
        if outcome != "n/a":
            assert f"outcome-{OUTCOME_CLASS[outcome]}" in line.get_attribute("class"), claim
            assert outcome.lower() in text.lower(), (claim, text)
        # ... right after the statement, and the ranges fold behind a disclosure.
        assert box.locator("details.claim-details").evaluate("d => d.open") is False
    assert visit.errors == [] and visit.outside == []
    visit.close()


def test_the_setup_follows_the_reader_to_other_pages(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "index.html")
    # Picking the line waits for the release ("not sure: the newest" is one of them).
    visit.page.locator("form.setup-picker select[name=line]").select_option("keras|jax")
    assert "setup=" not in visit.page.url
    with visit.page.expect_navigation():
        visit.page.locator("form.setup-picker select[name=release]").select_option("newest")
    assert "setup=keras-newest-jax" in visit.page.url
    with visit.page.expect_navigation():
        visit.page.locator("form.setup-picker select[name=release]").select_option("3.12.1")
    assert "setup=keras-3.12.1-jax" in visit.page.url
    # The home page's short answer speaks for the setup.
    digest = visit.page.locator(".claim-digest .digest-outcome")
    assert digest.count() >= 5
    # A link of the site carries it ...
    with visit.page.expect_navigation():
        visit.page.locator("a[href^='matrix.html']").first.click()
    assert "setup=keras-3.12.1-jax" in visit.page.url
    assert visit.page.locator(".grid-cell.yours[data-env='keras-3.12.1-jax']").count() >= 20
    # ... and so does the browser's memory, for a page opened by hand.
    visit.open(SITE / "bayesian.html")
    assert "Keras 3.12.1 on JAX" in visit.page.locator(".setup-picker").inner_text()
    visit.close()


def test_a_release_the_grid_does_not_run_names_its_neighbours(browser) -> None:
    visit = Visit(browser, SITE)
    # Every Keras 3 release runs; of tf.keras, the last patch of each minor.
    visit.open(SITE / "questions.html", "?setup=tf.keras-2.13.0")
    line = visit.page.locator(".claim.admonition .claim-yours").first.inner_text()
    assert "tf.keras 2.13.0 is not run by the grid" in line
    assert "tf.keras 2.12.1:" in line and "tf.keras 2.13.1:" in line
    # A minor alone is the newest release of it the grid runs.
    visit.open(SITE / "questions.html", "?setup=keras-3.12-jax")
    line = visit.page.locator(".claim.admonition .claim-yours").first.inner_text()
    assert line.startswith("Keras 3.12.4 on JAX:"), line
    visit.close()


def test_a_typed_release_is_the_cited_line_or_refused_when_the_line_has_none(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "index.html")
    form = visit.page.locator("form.setup-picker")
    form.locator("select[name=line]").select_option("tf.keras|tensorflow")
    with visit.page.expect_navigation():
        form.locator("input[name=typed]").fill("2.2")
        form.locator("input[name=typed]").press("Enter")
    assert "setup=tf-2.2" in visit.page.url  # the asker's release: cited, with its tabs
    # The short answer says it was not measured there, and leads to its own code on the page.
    note = visit.page.locator(".claim-yours-cited").first
    assert "cited, not executed" in note.inner_text()
    # The digest says what the nearest executed release measured, and names it.
    first = min(
        {r["versions"]["tensorflow-cpu"] for r in EXPORT["results"] if r["line"] == "tf.keras"},
        key=lambda v: tuple(int(n) for n in v.split(".")),
    )
    assert f"measured on tf.keras {first}, the nearest executed release" in note.inner_text()
    said = visit.page.locator(".claim-digest .digest-outcome").all_inner_texts()
    assert said and all(t.startswith(first + ": ") for t in said), said
    # The outcome without numbers, never cut inside a parenthesis.
    assert all(t.count("(") == t.count(")") for t in said), said
    note.locator("a").click()
    own = visit.page.url.split("#")[1]
    assert visit.page.locator(f"[id='{own}'] .sd-tab-set label[data-sync-id='tf-2.2']").count()
    assert visit.page.locator(".sd-tab-set > input:checked + label[data-sync-id='tf-2.2']").count()
    assert (
        "regularization_losses=self.losses"
        in visit.page.locator(
            ".sd-tab-set > input:checked + label[data-sync-id='tf-2.2'] + .sd-tab-content"
        ).first.inner_text()
    )
    for line, typed in (("keras|jax", "3.16"), ("tf_keras|tensorflow", "2.10")):
        visit.open(SITE / "index.html")
        form = visit.page.locator("form.setup-picker")
        form.locator("select[name=line]").select_option(line)
        form.locator("input[name=typed]").fill(typed)
        form.locator("input[name=typed]").press("Enter")
        visit.page.wait_for_timeout(300)
        assert "setup=" not in visit.page.url, (line, typed)
        assert form.locator("input[name=typed]").evaluate("e => !e.validity.valid")
    visit.close()


def test_code_of_another_release_of_the_readers_line_says_so(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "layer-losses.html", "?setup=keras-3.12.4-jax")
    notes = visit.page.locator(".setup-code-note")
    texts = notes.all_inner_texts()
    # The activity regularizer block is Keras 3.15.1's; the reader's 3.12 does not divide.
    activity = next(t for t in texts if "activity" in t.lower())
    assert activity.startswith("This is Keras 3.15.1's code, not Keras 3.12.4 on JAX's."), activity
    outcome = _record("activity-regularizer-batch-mean", "keras-3.12.4-jax")["outcome"]
    assert outcome.lower() in activity.lower(), activity
    # Each claim it names links to its box: on this page, or on the page that holds it.
    hrefs = notes.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs
    for href in hrefs:
        page, anchor = href.split("?")[0].split("#")[0], href.split("#")[1]
        html = Path(page.removeprefix("file://")).read_text(encoding="utf-8")
        assert f'id="{anchor}"' in html, href
    # The reader's own release's code gets no note.
    visit.open(SITE / "layer-losses.html", "?setup=keras-3.15.1-jax")
    assert "Keras 3.15.1's code" not in " ".join(
        visit.page.locator(".setup-code-note").all_inner_texts()
    )
    visit.close()


@pytest.mark.parametrize(("backend", "named"), [("theano", "Theano"), ("tensorflow", "TensorFlow")])
def test_the_answers_keras_2_3_1_is_a_setup_with_its_measured_outcomes(
    browser, backend: str, named: str
) -> None:
    """Standalone Keras 2.3.1 is picked like any executed release, on either backend the grid
    runs it on: its own tab, and every box leads with what the grid measured on it, not with a
    neighbour's numbers (nor the other backend's)."""
    env = f"keras2-2.3.1-{backend}"
    visit = Visit(browser, SITE)
    visit.open(SITE / "index.html")
    form = visit.page.locator("form.setup-picker")
    assert f"Standalone Keras on {named}" in form.locator("select[name=line]").inner_text()
    form.locator("select[name=line]").select_option(f"keras2|{backend}")
    with visit.page.expect_navigation():
        form.locator("input[name=typed]").fill("2.3.1")
        form.locator("input[name=typed]").press("Enter")
    assert f"setup={env}" in visit.page.url
    checked = visit.page.locator(".sd-tab-set > input:checked + label").first
    assert checked.get_attribute("data-sync-id") == "keras-2.3"
    assert visit.page.locator(".claim-yours-cited").count() == 0  # executed, not cited
    # A link made before Keras 2.3.1 also ran on TensorFlow names no backend: it meant Theano.
    for setup in (env, "keras2-2.3.1") if backend == "theano" else (env,):
        visit.open(SITE / "questions.html", f"?setup={setup}")
        boxes = visit.page.locator(".claim.admonition")
        led = 0
        for i in range(boxes.count()):
            box = boxes.nth(i)
            claim = box.get_attribute("id").removeprefix("claim-")
            outcome = _record(claim, env)["outcome"]
            line = box.locator(".claim-yours")
            if outcome == "n/a":
                continue
            led += 1
            assert line.inner_text().startswith(f"Standalone Keras 2.3.1 on {named}:"), claim
            assert f"outcome-{OUTCOME_CLASS[outcome]}" in line.get_attribute("class"), claim
        assert led >= 10
    assert visit.errors == [] and visit.outside == []
    visit.close()


def test_tabs_follow_the_setup_or_say_which_they_show(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "call-chain.html", "?setup=keras-3.12.4-jax")
    ids = visit.page.locator(".sd-tab-set > input:checked + label").evaluate_all(
        "els => els.map(e => e.dataset.syncId)"
    )
    assert "keras-3-jax" in ids or set(ids) <= {"keras-3"}, ids
    visit.open(SITE / "index.html", "?setup=tf_keras-2.21.0")
    checked = visit.page.locator(".sd-tab-set > input:checked + label").first
    assert checked.get_attribute("data-sync-id") == "tf-keras-2.21"
    visit.open(SITE / "index.html", "?setup=keras-3.12.4-jax")
    # The home page has no JAX tab: it shows Keras 3 and says so.
    assert visit.page.locator(".setup-tab-note").first.inner_text().startswith("No tab for")
    visit.close()


def test_without_javascript_everything_shows(browser) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto((SITE / "questions.html").as_uri() + "?setup=keras-3.12.4-jax")
    assert page.locator("form.setup-picker").count() == 0
    details = page.locator("details.claim-details")
    assert details.count() >= 10
    assert all(details.nth(i).get_attribute("open") is not None for i in range(details.count()))
    context.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_nothing_is_wider_than_the_screen_but_code_that_shows_it_scrolls(browser, width) -> None:
    report = {}
    for path in pages(SITE):
        if "reference" in path.parts:
            continue
        visit = Visit(browser, SITE, width=width)
        visit.open(path, "?setup=keras-3.12.4-jax")
        wide = visit.page.evaluate(
            """(w) => [...document.querySelectorAll('article *')]
                .filter(e => e.getBoundingClientRect().right > w + 1)
                .filter(e => { for (let n = e.parentElement; n && n.tagName !== 'ARTICLE';
                                    n = n.parentElement) {
                    if (['auto', 'scroll'].includes(getComputedStyle(n).overflowX)) return false; }
                  return true; })
                .map(e => e.tagName + '.' + e.className).slice(0, 5)""",
            width,
        )
        # A code block wider than the screen must say it scrolls (a scroll bar, or a fade).
        silent = visit.page.evaluate(
            """() => [...document.querySelectorAll('div.highlight pre')]
                .filter(e => e.scrollWidth > e.clientWidth + 1)
                .filter(e => !e.closest('div.highlight').classList.contains('scrolls'))
                .length"""
        )
        if wide or silent:
            report[path.name] = (wide, silent)
        visit.close()
    assert report == {}


def test_the_home_formula_and_short_answer_fit_a_phone(browser) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (390, 1280):
        visit = Visit(browser, SITE, width=width)
        visit.open(SITE / "index.html")
        visit.page.wait_for_selector("mjx-container", timeout=15000)
        right = visit.page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('div.math mjx-container')]"
            ".slice(0, 1).map(e => e.getBoundingClientRect().right))"
        )
        assert right <= width, f"the formula ends at {right} px on a {width} px screen"
        # The subtitle and the short answer: what a reader reads before the first range.
        subtitle, answer = (visit.page.locator("article h1 ~ p").nth(i) for i in (0, 1))
        words = len(subtitle.inner_text().split()) + len(answer.inner_text().split())
        assert words <= 150, words
        assert len(answer.inner_text().split()) <= 120
        box = answer.bounding_box()
        assert box["y"] + box["height"] <= 900 * (1.4 if width == 390 else 1), box
        visit.close()


def test_search_finds_releases_and_api_spellings_with_excerpts(browser) -> None:
    visit = Visit(browser, SITE)
    visit.open(SITE / "search.html", "?q=3.12")
    visit.page.wait_for_selector("#search-results ul.search li", timeout=15000)
    hits = visit.page.locator("#search-results ul.search li a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    assert any(h.startswith(("questions.html", "proofs.html")) for h in hits), hits
    for query in ("activity_regularizer", "activity regularizer"):
        visit.open(SITE / "search.html", f"?q={query}")
        # Results are listed one by one: read them once the search says it has finished.
        visit.page.wait_for_selector(
            "#search-results .search-summary:has-text('Search finished')", timeout=15000
        )
        visit.page.wait_for_selector("#search-results ul.search li p.context", timeout=15000)
        items = visit.page.locator("#search-results ul.search li")
        hrefs = items.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert any(h.startswith("layer-losses.html") for h in hrefs), (query, hrefs)
        excerpt = items.locator("p.context").first.inner_text()
        assert re.search(r"activity.regularizer", excerpt, re.I), excerpt
    assert visit.outside == [] and visit.errors == []
    visit.open(SITE / "search.html", "?q=DenseVariational")
    visit.page.wait_for_selector("#search-results ul.search li", timeout=15000)
    first = visit.page.locator("#search-results ul.search li a").first.inner_text()
    assert first.count("tensorflow_probability") <= 1, first
    visit.close()


def test_search_results_have_their_own_excerpts_and_keep_the_setup(browser) -> None:
    visit = Visit(browser, SITE)
    warnings: list[str] = []
    visit.page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    visit.open(SITE / "search.html", "?q=regularizer&setup=keras-3.12.4-jax")
    visit.page.wait_for_selector("#search-results ul.search li p.context", timeout=15000)
    visit.page.wait_for_timeout(1500)  # every result's excerpt is in
    items = visit.page.locator("#search-results ul.search li")
    hrefs = items.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hrefs and all("setup=keras-3.12.4-jax" in h for h in hrefs), hrefs
    assert not any(h.startswith("404.html") for h in hrefs), hrefs
    excerpts = items.locator("p.context").all_inner_texts()
    # Section hits of one page show that section's text, not the page's first match again.
    assert len(set(excerpts)) == len(excerpts), excerpts
    assert not [w for w in warnings if "Anchored content block not found" in w], warnings
    visit.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_screenshots_with_a_setup(browser, width: int) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("index", "questions", "matrix", "bayesian"):
        visit = Visit(browser, SITE, width=width)
        visit.open(SITE / f"{name}.html", "?setup=keras-3.12.4-jax")
        visit.page.screenshot(path=str(SHOTS / f"setup-{name}-{width}.png"), full_page=False)
        visit.close()
    assert len(list(SHOTS.glob(f"setup-*-{width}.png"))) == 4


def test_the_grid_outlines_a_cited_setups_nearest_executed_release_and_says_so(browser) -> None:
    visit = Visit(browser, SITE, width=390)
    visit.open(SITE / "matrix.html", "?setup=tf-2.2")
    assert (
        visit.page.locator(".grid-cell.yours").count()
        == visit.page.locator(".grid-cell[data-env='tf.keras-2.5.0']").count()
        > 20
    )  # every cell of 2.5, and only those
    said = visit.page.locator(".grid-cited").inner_text()
    assert said.startswith("tf.keras 2.2–2.4: cited, not executed: no cell is yours."), said
    assert "Outlined is tf.keras 2.5.0, the nearest executed release." in said, said
    visit.close()


def test_the_grid_fits_and_marks_the_setup(browser) -> None:
    for width in (390, 1280):
        visit = Visit(browser, SITE, width=width)
        visit.open(SITE / "matrix.html", "?setup=keras-3.12.4-jax")
        overflow = visit.page.evaluate(
            "() => [...document.querySelectorAll('.grid-row')]"
            ".filter(r => r.scrollWidth > r.clientWidth + 1).length"
        )
        assert overflow == 0, (width, overflow)
        assert visit.page.locator(".grid-claim").count() == len(EXPORT["claims"])
        # One glyph per cell, in the outcome's colour class.
        cells = visit.page.locator(".grid-cell[data-env='keras-3.12.4-jax']")
        assert cells.first.inner_text() in {"✓", "✗", "⊘", "?"}
        assert "yours" in cells.first.get_attribute("class")
        # A tap says what the cell is (a phone shows no tooltip).
        cells.first.click()
        said = visit.page.locator(".grid-claim .grid-tap").first.inner_text()
        assert said == cells.first.get_attribute("title") and "3.12" in said, said
        visit.close()
