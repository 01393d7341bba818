"""The browser for the site's tests: Debian's Chromium, driven by Playwright, never downloaded."""

from __future__ import annotations

import os

import pytest
from visit import CHROMIUM, FLAGS


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    sync_api = pytest.importorskip("playwright.sync_api")
    # Chromium leaves files named .org.chromium.Chromium.* in TMPDIR: pytest's folder, not /tmp.
    env = dict(os.environ, TMPDIR=str(tmp_path_factory.mktemp("chromium")))
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, env=env)
        yield browser
        browser.close()
