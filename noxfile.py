"""Every task of the project: `nox -l` lists them, `nox -s <name> -- <args>` runs one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["lint", "tests", "docs"]
nox.options.reuse_venv = "yes"
# uv (from `pip install 'nox[uv]'`) creates environments in seconds; plain virtualenv otherwise.
nox.options.default_venv_backend = "uv|virtualenv"
# pip compiles bytecode when it installs, uv only when asked: without it, and with
# PYTHONDONTWRITEBYTECODE set, every build would recompile Sphinx and its extensions (2 s).
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
#: The one folder the HTML site is built into (open build/html/index.html).
HTML_DIR = "build/html"
SPHINX_ARGS = ["-c", "conf", "-d", "build/doctrees", "docs", HTML_DIR, "-n", "-W", "--keep-going"]
#: The offline copy a reader downloads, unpacks and opens (index.html at its top level).
ARCHIVE = ROOT / "build" / "layer-losses-site.zip"


def install_group(session: nox.Session, *groups: str, project: bool = True) -> None:
    """Install dependency groups from pyproject.toml (and this project, editable)."""
    reqs = [r for g in groups for r in nox.project.dependency_groups(PYPROJECT, g)]
    if reqs:
        session.install(*reqs)
    if project:
        session.install("-e", ".")


#: The one environment of the site (TensorFlow and all): `docs`, `docs-live` and `bench` share it.
DOCS_ENV = ROOT / ".nox" / "docs"
DOCS_BIN = DOCS_ENV / "bin"


def docs_env(session: nox.Session) -> dict[str, str]:
    """Make or update the shared docs environment; the variables that put it first on PATH."""
    python = DOCS_ENV / "bin" / "python"
    reqs = nox.project.dependency_groups(PYPROJECT, "docs-live")  # docs + sphinx-autobuild
    try:
        from uv import find_uv_bin

        uv = [find_uv_bin()]
    except ImportError:  # nox without uv: a plain venv and pip, slower but the same packages
        uv = []
    if not python.exists():
        if uv:
            session.run(*uv, "venv", "--quiet", str(DOCS_ENV), "--python", sys.executable)
        else:
            session.run(sys.executable, "-m", "venv", str(DOCS_ENV))
    install = [*uv, "pip", "install", "--quiet", "--python", str(python)]
    if not uv:
        install = [str(python), "-m", "pip", "install", "--quiet"]
    # A no-op when nothing changed (uv checks in well under a second).
    session.run(*install, *reqs, "-e", str(ROOT), external=True)
    return {
        "VIRTUAL_ENV": str(DOCS_ENV),
        "PATH": os.pathsep.join([str(DOCS_ENV / "bin"), os.environ.get("PATH", "")]),
    }


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """Build the HTML site into build/html (nitpicky, warnings are errors)."""
    env = docs_env(session)
    session.run(DOCS_BIN / "sphinx-build", "-b", "html", *SPHINX_ARGS, *session.posargs, env=env)
    session.log(f"site built: {ROOT / HTML_DIR / 'index.html'}")
    report = write_archive(ROOT / HTML_DIR, ARCHIVE)
    session.log(report)


def write_archive(html: Path, archive: Path) -> str:
    """Zip the site for offline reading; return a one-paragraph size report."""
    import statistics
    import zipfile

    files = sorted(p for p in html.rglob("*") if p.is_file() and p.name != ".buildinfo")
    pages = [p.stat().st_size for p in files if p.suffix == ".html"]
    tmp = archive.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            zf.write(path, Path("layer-losses-site") / path.relative_to(html))
    tmp.replace(archive)
    total = sum(p.stat().st_size for p in files)
    return (
        f"site: {len(files)} files, {total / 1e6:.1f} MB; {len(pages)} HTML pages, median "
        f"{statistics.median(pages) / 1e3:.1f} KB, largest {max(pages) / 1e3:.1f} KB; "
        f"offline archive {archive.relative_to(ROOT)}: {archive.stat().st_size / 1e6:.1f} MB"
    )


@nox.session(name="docs-live", venv_backend="none")
def docs_live(session: nox.Session) -> None:
    """Serve the site on localhost and rebuild on every change (no full rebuild after `docs`)."""
    env = docs_env(session)
    session.run(
        DOCS_BIN / "sphinx-autobuild",
        *SPHINX_ARGS,
        "--watch",
        "src",
        "--watch",
        "snippets",
        "--ignore",
        "*/reference/api/*",
        *session.posargs,
        env=env,
    )


@nox.session
def browser(session: nox.Session) -> None:
    """Open every built page from file:// in headless Chromium, network blocked (run docs first)."""
    install_group(session, "test", "browser")
    # Debian's browser; never a browser downloaded by a test tool. Without it (or without
    # the rights to install it) the browser tests skip, saying why.
    apt_install(session, {"/usr/bin/chromium": "chromium"})
    session.run("pytest", "tests/browser", "-p", "no:cacheprovider", *session.posargs)


#: What the grid's old releases need: a Debian root filesystem, and commands run inside it.
SANDBOX_TOOLS = {"/usr/sbin/debootstrap": "debootstrap", "/usr/bin/bwrap": "bubblewrap"}


def apt_install(session: nox.Session, wanted: dict[str, str]) -> None:
    """Install from Debian's archive the packages whose files are missing (where apt can)."""
    missing = [package for path, package in wanted.items() if not Path(path).exists()]
    if not missing or not shutil.which("apt-get"):
        return
    install = ["apt-get", "install", "-y", "-q", *missing]
    session.log(" ".join(install))
    if subprocess.run(install, check=False).returncode != 0:  # stale lists: update, once
        subprocess.run(["apt-get", "update", "-q"], check=False)
        if subprocess.run(install, check=False).returncode != 0:
            session.warn(f"could not install {' '.join(missing)}: what needs them says so")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the engine's test suite (loopback only, never the internet)."""
    install_group(session, "test")
    apt_install(session, SANDBOX_TOOLS)  # the sandbox tests run commands in a stand-in root
    session.run("pytest", "--ignore=tests/browser", *session.posargs)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Property-based tests of the slicer and option parsers: 10,000 generated cases."""
    install_group(session, "test")
    session.run(
        "pytest",
        "tests/test_properties.py",
        "-p",
        "no:cacheprovider",
        "--hypothesis-show-statistics",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "fuzz"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff, and the engine's types with mypy (strict)."""
    install_group(session, "lint")
    session.run("ruff", "check", *(session.posargs or ["."]))
    session.run("ruff", "format", "--check", *(session.posargs or ["."]))
    session.run("mypy")
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


@nox.session
def lock(session: nox.Session) -> None:
    """Refresh snippets/pins.lock.json from snippets/pins.toml (downloads the pinned wheels)."""
    install_group(session)
    session.run("pincite", "lock", "--pins", "snippets/pins.toml", *session.posargs)


@nox.session
def drift(session: nox.Session) -> None:
    """Report, for every cited slice in the last build's manifest, what its newest release did."""
    install_group(session)
    manifest = f"{HTML_DIR}/pincite-citations.json"
    if not Path(manifest).exists():
        session.error(f"{manifest} is missing: run `nox -s docs` first, it writes the manifest")
    session.run(
        "pincite", "drift", "--pins", "snippets/pins.toml", "--manifest", manifest, *session.posargs
    )


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Time builds against Sphinx's floor, profile the no-op rebuild, count diff lines, fetch."""
    env = docs_env(session)
    session.run(DOCS_BIN / "python", "benchmarks/rebuild.py", *session.posargs, env=env)


@nox.session(name="bench-fetch")
def bench_fetch(session: nox.Session) -> None:
    """Measure fetching every citation from an empty cache against `pip download` of the wheels."""
    install_group(session)
    session.run("python", "benchmarks/fetch.py", *session.posargs)


@nox.session
def matrix(session: nox.Session) -> None:
    """Run every claim on the release grid (claims/grid.toml) into build/matrix.

    `-- --shard 2/4` runs one shard, `-- --only keras-3.14.1-jax ...` named environments,
    `-- --newest` the newest release of each line and backend. Then compares every record
    it made with the committed claims/results.json, outcomes and numbers (`-- --no-check`
    skips that). Writes nothing in the tree.
    """
    install_group(session, "matrix")
    apt_install(session, SANDBOX_TOOLS)
    session.run("python", "-m", "claims.matrix", "run", *session.posargs)


@nox.session(name="matrix-merge")
def matrix_merge(session: nox.Session) -> None:
    """Write claims/results.json from complete grid runs (`-- --out DIR ...` joins shards)."""
    install_group(session, "matrix")
    session.run("python", "-m", "claims.matrix", "merge", *session.posargs)


@nox.session
def clean(session: nox.Session) -> None:
    """Remove build outputs (not the shared fetch cache): never through a mount point.

    `-- --stale` removes only the grid's bases, root filesystems and overlays that
    claims/grid.toml no longer names, and keeps everything current.
    """
    if "--stale" in session.posargs:
        install_group(session, "matrix")
        session.run("python", "-m", "claims.matrix", "prune")
        return
    sys.path.insert(0, str(ROOT))
    from claims.sandbox import SandboxError, remove_tree  # stdlib only

    for path in ("build", "docs/reference/api"):
        try:
            remove_tree(ROOT / path)
        except SandboxError as exc:  # something is mounted inside: unmount it first
            session.error(str(exc))
