"""Benchmark the site build: cold, no-op and one-page rebuilds, plus the citation fetch.

Run with `nox -s bench`. Every build runs in a subprocess with an audit hook
(benchmarks/audit/sitecustomize.py) that counts network connections and notebook-kernel
launches, so "no kernel, no network" is measured, not assumed. Prints one table.
"""

from __future__ import annotations

import argparse
import html as htmlmod
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUDIT = ROOT / "benchmarks" / "audit"
PROSE_PAGE = ROOT / "docs" / "verdict.md"
TARGETS = {"no-op rebuild": 3.0, "cold build": 120.0}


def build(tmp: Path, label: str) -> dict:
    """One sphinx-build into ``tmp``; wall time and what every process did."""
    audit = tmp / f"audit-{label.replace(' ', '-')}"
    audit.mkdir()
    env = {
        **os.environ,
        "PINCITE_CACHE_DIR": str(tmp / "pincite-cache"),
        "PINCITE_BENCH_AUDIT_DIR": str(audit),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(AUDIT), os.environ.get("PYTHONPATH")])),
    }
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-c",
        "conf",
        "-d",
        str(tmp / "doctrees"),
        "docs",
        str(tmp / "html"),
        "-n",
        "-W",
        "--keep-going",
        "-q",
        "-D",
        f"nb_execution_cache_path={tmp / 'jupyter-cache'}",
    ]
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode:
        sys.exit(f"{label}: sphinx-build failed\n{done.stdout}\n{done.stderr}")
    counts = [json.loads(p.read_text()) for p in audit.glob("*.json")]
    return {
        "label": label,
        "seconds": seconds,
        "kernels": sum(c["kernels"] for c in counts),
        "connections": sum(c["connect_remote"] for c in counts),
        "lookups": sum(c["getaddrinfo"] for c in counts),
    }


def sphinx_cmd(srcdir: Path, outdir: Path, doctrees: Path, *extra: str) -> list[str]:
    """A quiet sphinx-build of ``srcdir`` with this interpreter."""
    return [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", str(doctrees), *extra,
            str(srcdir), str(outdir)]  # fmt: skip


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Wall seconds of one successful run."""
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - began


def floor_project(tmp: Path, extension: str) -> list[str]:
    """A one-page MyST project with the same Sphinx, built once; its no-op rebuild command."""
    src = tmp / f"floor-{extension}"
    src.mkdir()
    (src / "conf.py").write_text(f"extensions = [{extension!r}]\n")
    (src / "index.md").write_text("# One page\n\nOne paragraph.\n")
    cmd = sphinx_cmd(src, src / "_build" / "html", src / "_build" / "doctrees")
    timed(cmd)
    return cmd


def paired_noop(tmp: Path, rounds: int) -> dict[str, float]:
    """Median no-op seconds of the site and of two floors, run in turn so that drift cancels."""
    env = {**os.environ, "PINCITE_CACHE_DIR": str(tmp / "pincite-cache")}
    site = [*sphinx_cmd(ROOT / "docs", tmp / "html", tmp / "doctrees", "-c", "conf", "-n", "-W"),
            "-D", f"nb_execution_cache_path={tmp / 'jupyter-cache'}"]  # fmt: skip
    floors = {
        "myst_parser": floor_project(tmp, "myst_parser"),
        "myst_nb": floor_project(tmp, "myst_nb"),
    }
    times: dict[str, list[float]] = {"site": [], **{k: [] for k in floors}}
    for _ in range(rounds):
        times["site"].append(timed(site, env))
        for name, cmd in floors.items():
            times[name].append(timed(cmd))
    return {name: statistics.median(values) for name, values in times.items()}


def profile_noop(tmp: Path) -> list[tuple[str, float]]:
    """Where a no-op rebuild's time goes (cProfile, cumulative seconds; it inflates them)."""
    prof = tmp / "noop.prof"
    env = {**os.environ, "PINCITE_CACHE_DIR": str(tmp / "pincite-cache")}
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "sphinx", "-b", "html",
           "-q", "-c", "conf", "-d", str(tmp / "doctrees"), "docs", str(tmp / "html"),
           "-D", f"nb_execution_cache_path={tmp / 'jupyter-cache'}"]  # fmt: skip
    timed(cmd, env)
    stats = pstats.Stats(str(prof))
    cumulative = {
        (Path(file).as_posix(), name): row[3] for (file, _, name), row in stats.stats.items()
    }

    def total(path_part: str, name: str) -> float:
        return sum(t for (f, n), t in cumulative.items() if path_part in f and n == name)

    whole = total("sphinx/cmd/build.py", "build_main")
    rows = [
        ("whole no-op rebuild (under cProfile)", whole),
        ("loading all extensions (imports + setup)", total("sphinx/registry.py", "load_extension")),
        ("  of which myst_nb (jupyter-cache, SQLAlchemy)", total("myst_nb/__init__.py", "setup")),
        ("  of which autodoc2", total("autodoc2/__init__.py", "setup")),
        ("  of which pincite", total("pincite/__init__.py", "setup")),
        ("  of which sphinx_design", total("sphinx_design/__init__.py", "setup")),
        ("loading the pickled environment", total("sphinx/application.py", "_load_existing_env")),
        ("autodoc2 analysing packages", total("autodoc2/sphinx/extension.py", "run_autodoc")),
        ("pincite: store and pins at builder-inited", total("pincite/sphinxext.py", "_init_store")),
        ("claims.json export", total("claims/sphinxext.py", "write_export")),
        ("pincite-citations.json manifest", total("pincite/sphinxext.py", "write_manifest")),
        ("writing pages, indices, search index", total("sphinx/builders/__init__.py", "build")),
    ]
    return rows


def diff_figures(html: Path) -> dict[str, int]:
    """Changed lines on the "What changed" page: as shown, exact, and ast-normalised."""
    from pincite.cache import Cache
    from pincite.lock import load_lock
    from pincite.manifest import load_manifest
    from pincite.pins import load_pins
    from pincite.reader import Slice, cite, unified_diff
    from pincite.semdiff import ast_changed, count_changed
    from pincite.store import SourceStore

    store = SourceStore(
        load_pins(ROOT / "snippets" / "pins.toml"),
        load_lock(ROOT / "snippets" / "pins.lock.json"),
        Cache(os.environ.get("PINCITE_CACHE_DIR") or html.parent / "pincite-cache"),
    )
    records = [
        r for r in load_manifest(html / "pincite-citations.json") if r.source == "changes.md"
    ]
    sides: dict[int | None, dict[str, Slice]] = {}
    for rec in records:
        opts = {k: v for k, v in rec.options.items() if k not in {"emphasize", "emphasize_lines"}}
        sides.setdefault(rec.line, {})[rec.role] = cite(
            store.read_text(rec.release, rec.path), **opts
        )
    exact = sum(count_changed(unified_diff(s["old"], s["new"], "a", "b")) for s in sides.values())
    yardstick = sum(ast_changed(s["old"], s["new"]) for s in sides.values())
    page = (html / "changes.html").read_text()
    shown = 0
    for block in re.findall(
        r'<div class="highlight-diff[^"]*"><div class="highlight"><pre>(.*?)</pre>', page, re.S
    ):
        shown += count_changed(htmlmod.unescape(re.sub(r"<[^>]+>", "", block)))
    return {"diffs": len(sides), "exact": exact, "shown": shown, "ast": yardstick}


def main() -> int:
    """Run the builds, the paired floor comparison, the profile and the diff count."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="paired no-op rounds")
    parser.add_argument("--no-fetch", action="store_true", help="skip the fetch comparison")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pincite-bench-") as name:
        tmp = Path(name)
        rows.append(build(tmp, "cold build"))
        rows.append(build(tmp, "no-op rebuild"))
        original = PROSE_PAGE.read_text()
        try:
            PROSE_PAGE.write_text(original + "\nThis sentence was added by the benchmark.\n")
            rows.append(build(tmp, "one prose page edited"))
        finally:
            PROSE_PAGE.write_text(original)
        build(tmp, "restore")  # leave the benchmark's build consistent with the sources
        paired = paired_noop(tmp, args.rounds)
        profile = profile_noop(tmp)
        figures = diff_figures(tmp / "html")
    noop = rows[1]["seconds"]
    TARGETS["one prose page edited"] = 1.5 * noop
    print(
        f"\n{'build':26} {'seconds':>8} {'target':>8} {'kernels':>8} {'net conns':>9} "
        f"{'DNS':>5}  verdict"
    )
    for row in rows:
        target = TARGETS[row["label"]]
        quiet = row["label"] == "cold build" or (row["kernels"] == 0 and row["connections"] == 0)
        ok = row["seconds"] <= target and quiet
        print(
            f"{row['label']:26} {row['seconds']:8.2f} {target:8.2f} {row['kernels']:8} "
            f"{row['connections']:9} {row['lookups']:5}  {'meets target' if ok else 'MISSES'}"
        )
    ratio = paired["site"] / paired["myst_parser"]
    print(f"\nno-op rebuild, median of {args.rounds} paired rounds (same Sphinx, same Python):")
    print(f"  this site                              {paired['site']:6.2f} s")
    print(f"  one-page MyST project (myst_parser)    {paired['myst_parser']:6.2f} s   "
          f"ratio {ratio:.2f} (target 1.5: {'meets' if ratio <= 1.5 else 'MISSES'})")  # fmt: skip
    print(f"  one-page MyST-NB project (myst_nb)     {paired['myst_nb']:6.2f} s   "
          f"ratio {paired['site'] / paired['myst_nb']:.2f}")  # fmt: skip
    print("\nwhere a no-op rebuild's time goes (cProfile, cumulative seconds):")
    for label, seconds in profile:
        print(f"  {label:48} {seconds:6.3f}")
    limit = 1.5 * figures["ast"]
    print(
        f"\n'What changed' page, {figures['diffs']} diffs: {figures['shown']} changed lines shown "
        f"(exact diff: {figures['exact']}; ast-normalised: {figures['ast']}; target <= "
        f"{limit:.0f}: {'meets' if figures['shown'] <= limit else 'MISSES'})"
    )
    if args.no_fetch:
        return 0
    print("\ncitation fetch from an empty cache vs. the same wheels downloaded whole:", flush=True)
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fetch.py")]).returncode


if __name__ == "__main__":
    sys.exit(main())
