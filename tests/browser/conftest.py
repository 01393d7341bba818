"""The browser for the site's tests: Debian's Chromium, driven by Playwright, never downloaded."""

from __future__ import annotations

import pytest
from visit import CHROMIUM, FLAGS


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()
