"""Every task of the project: `nox -l` lists them, `nox -s <name> -- <args>` runs one."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["lint", "tests", "docs"]
nox.options.reuse_venv = "yes"

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
#: The one folder the HTML site is built into (open build/html/index.html).
HTML_DIR = "build/html"
SPHINX_ARGS = ["-c", "conf", "docs", HTML_DIR, "-n", "-W", "--keep-going"]


def install_group(session: nox.Session, *groups: str, project: bool = True) -> None:
    """Install dependency groups from pyproject.toml (and this project, editable)."""
    reqs = [r for g in groups for r in nox.project.dependency_groups(PYPROJECT, g)]
    if reqs:
        session.install(*reqs)
    if project:
        session.install("-e", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the HTML site into build/html (nitpicky, warnings are errors)."""
    install_group(session, "docs")
    session.run("sphinx-build", "-b", "html", *SPHINX_ARGS, *session.posargs)
    session.log(f"site built: {ROOT / HTML_DIR / 'index.html'}")


@nox.session(name="docs-live")
def docs_live(session: nox.Session) -> None:
    """Serve the site on localhost and rebuild on every change."""
    install_group(session, "docs-live")
    session.run(
        "sphinx-autobuild",
        *SPHINX_ARGS,
        "--watch",
        "src",
        "--watch",
        "snippets",
        "--ignore",
        "*/reference/api/*",
        *session.posargs,
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Run the engine's test suite (loopback only, never the internet)."""
    install_group(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    install_group(session, "lint", project=False)
    session.run("ruff", "check", *(session.posargs or ["."]))
    session.run("ruff", "format", "--check", *(session.posargs or ["."]))


@nox.session
def lock(session: nox.Session) -> None:
    """Refresh snippets/pins.lock.json from snippets/pins.toml (downloads the pinned wheels)."""
    install_group(session)
    session.run("pincite", "lock", "--pins", "snippets/pins.toml", *session.posargs)


@nox.session(name="bench-fetch")
def bench_fetch(session: nox.Session) -> None:
    """Measure fetching every citation from an empty cache against `pip download` of the wheels."""
    install_group(session)
    session.run("python", "benchmarks/fetch.py", *session.posargs)


@nox.session
def clean(session: nox.Session) -> None:
    """Remove build outputs (not the shared fetch cache)."""
    for path in ("build", "docs/reference/api"):
        shutil.rmtree(ROOT / path, ignore_errors=True)
