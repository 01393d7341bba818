"""What the browser tests share: where the site is, its pages, and one offline visit."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "html"
ARCHIVE = ROOT / "build" / "layer-losses-site.zip"
SHOTS = ROOT / "build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def pages(site: Path) -> list[Path]:
    """Every HTML page of the site (not the copied sources or static files)."""
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


class Visit:
    """Open one page with the network blocked; record what it asked for and what went wrong."""

    def __init__(self, browser, site: Path, width: int = 1280) -> None:
        self.site = site.resolve()
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.outside: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def _route(self, route) -> None:
        url = urlparse(route.request.url)
        inside = url.scheme == "file" and Path(unquote(url.path)).resolve().is_relative_to(
            self.site
        )
        if inside or url.scheme in ("data", "blob", "about"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def open(self, path: Path, query: str = "") -> None:
        self.page.goto(path.resolve().as_uri() + query)
        self.page.wait_for_load_state("load")

    def close(self) -> None:
        self.context.close()


def require_site() -> None:
    """Skip the calling test module, saying why, without Chromium or without a built site."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium", allow_module_level=True)
    if not (SITE / "index.html").exists():
        pytest.skip(f"{SITE} has no site: run `nox -s docs` first", allow_module_level=True)
