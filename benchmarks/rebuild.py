"""Benchmark the site build: cold, no-op and one-page rebuilds, plus the citation fetch.

Run with `nox -s bench`. Every build runs in a subprocess with an audit hook
(benchmarks/audit/sitecustomize.py) that counts network connections and notebook-kernel
launches, so "no kernel, no network" is measured, not assumed. Prints one table.
"""

from __future__ import annotations

import json
import os
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


def main() -> int:
    """Run the three builds and the fetch comparison; print the table."""
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
    print("\ncitation fetch from an empty cache vs. the same wheels downloaded whole:")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import fetch

    sys.argv = [sys.argv[0]]
    return fetch.main()


if __name__ == "__main__":
    sys.exit(main())
