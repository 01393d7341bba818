"""Run the release grid: build each base once with uv, lay releases over it, run the claims.

    python -m claims.matrix run [--shard 2/4] [--only ENV ...] [--jobs 2] [--out build/matrix]
    python -m claims.matrix merge [--out build/matrix ...]   # -> claims/results.json

`run` writes one JSON file per environment into the output folder (never into the work
tree) and a timing report; it exits 1 if any outcome disagrees with the catalog. `merge`
joins the runs of the whole grid (from one folder or from several shards' folders) into
`claims/results.json`, stamped with the fingerprint of the proofs, catalog, grid and runner.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from claims.catalog import RESULTS, CatalogError, check_run, fingerprint, load_catalog
from claims.grid import Env, Grid, GridError, shard

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: Virtualenvs and overlays live under build/, outside git, shared by every run.
GRID_DIR = ROOT / "build" / "grid"
OUT_DIR = ROOT / "build" / "matrix"


def uv_binary() -> str:
    """The uv executable: the one installed beside this Python, else the one on PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except ImportError:
        found = shutil.which("uv")
        if not found:
            raise SystemExit("the matrix needs uv: `python -m pip install uv`") from None
        return found


def pip_index_args() -> list[str]:
    """pip's configured index and find-links, passed on to uv (no host name in the repo).

    uv does not read pip's configuration; asking pip (its command, not its internals) keeps
    one source of truth: the index a maintainer configured, and local wheel folders such as
    a CPU build of torch.
    """
    settings: dict[str, str] = {}
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        settings[key.split(".", 1)[-1]] = value.strip().strip("'\"")
    index = os.environ.get("PIP_INDEX_URL") or settings.get("index-url")
    links = os.environ.get("PIP_FIND_LINKS") or settings.get("find-links", "")
    args = ["--default-index", index] if index else []
    for link in links.split():
        args += ["--find-links", link]
    return args


class Builder:
    """Creates bases and overlays once each, safely from several threads."""

    def __init__(self, grid: Grid, root: Path = GRID_DIR) -> None:
        self.grid, self.root = grid, root
        self.uv = uv_binary()
        self.index_args = pip_index_args()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.seconds: dict[str, float] = {}

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def base_python(self, base_id: str) -> Path:
        """The base's interpreter, creating the virtualenv first if needed."""
        reqs = self.grid.base_requires(base_id)
        venv = self.root / "venvs" / f"{base_id}-{self.grid.base_digest(base_id)}"
        python = venv / "bin" / "python"
        with self._lock(base_id):
            if (venv / ".complete").exists():
                return python
            began = time.perf_counter()
            shutil.rmtree(venv, ignore_errors=True)  # a half-made venv is never reused
            venv.parent.mkdir(parents=True, exist_ok=True)
            self._uv("venv", "--quiet", "--python", self.grid.python, str(venv))
            self._uv("pip", "install", "--quiet", "--python", str(python), *reqs, *self.index_args)
            (venv / ".complete").write_text("\n".join(reqs) + "\n")
            self.seconds[f"base {base_id}"] = time.perf_counter() - began
        return python

    def overlay(self, requirement: str) -> Path:
        """A folder holding one pure-Python release, installed without dependencies."""
        target = self.root / "overlays" / requirement.replace("==", "-")
        with self._lock(requirement):
            if target.exists():
                return target
            began = time.perf_counter()
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            self._uv(
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--python",
                sys.executable,
                "--target",
                str(tmp),
                requirement,
                *self.index_args,
            )
            tmp.replace(target)  # atomic: a folder is complete or absent
            self.seconds[f"overlay {requirement}"] = time.perf_counter() - began
        return target

    def _uv(self, *args: str) -> None:
        subprocess.run([self.uv, *args], check=True)


def run_env(builder: Builder, env: Env, out: Path) -> dict:
    """Prepare one environment and run every claim in it; return its timing and status."""
    began = time.perf_counter()
    python = builder.base_python(env.base)
    # The release's overlay first, then the repository (for `python -m claims.run`).
    paths = [str(builder.overlay(env.overlay))] if env.overlay else []
    paths.append(str(ROOT))
    prepared = time.perf_counter()
    child_env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), TF_CPP_MIN_LOG_LEVEL="3")
    child_env.pop("KERAS_HOME", None)
    log = out / "logs" / f"{env.id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as sink:
        code = subprocess.run(
            [
                str(python),
                "-m",
                "claims.run",
                "--env",
                env.id,
                "--out",
                str(out / f"{env.id}.json"),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=child_env,
            check=False,
        ).returncode
    ran = time.perf_counter()
    status = {0: "agrees", 1: "DISAGREES"}.get(code, f"BROKEN (exit {code})")
    print(
        f"{env.id:24} {status:10} prepare {prepared - began:6.1f} s  run {ran - prepared:6.1f} s"
        f"  ({log.relative_to(ROOT) if log.is_relative_to(ROOT) else log})",
        flush=True,
    )
    return {"env": env.id, "status": status, "prepare": prepared - began, "run": ran - prepared}


def cmd_run(args: argparse.Namespace) -> int:
    """Run the selected environments; report timings; 1 if any disagrees or is broken."""
    catalog = load_catalog()
    envs = list(catalog.envs.values())
    if args.only:
        unknown = sorted(set(args.only) - set(catalog.envs))
        if unknown:
            raise SystemExit(f"unknown environment(s) {unknown}; see claims/grid.toml")
        envs = [e for e in envs if e.id in args.only]
    if args.newest:
        envs = catalog.grid.newest()
    if args.shard:
        envs = shard(envs, args.shard)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    builder = Builder(catalog.grid)
    print(
        f"running {len(envs)} environments with {args.jobs} jobs; uv {' '.join(builder.index_args)}"
    )
    began = time.perf_counter()
    # Environments sharing a base run together, so each base is built once, early.
    ordered = sorted(envs, key=lambda e: (e.base, e.id))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(lambda e: run_env(builder, e, out), ordered))
    total = time.perf_counter() - began
    bad = [r["env"] for r in rows if r["status"] != "agrees"]
    report = {
        "environments": len(rows),
        "jobs": args.jobs,
        "wall_seconds": round(total, 1),
        "installs": {k: round(v, 1) for k, v in sorted(builder.seconds.items())},
        "envs": {
            r["env"]: {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()}
            for r in rows
        },
    }
    name = f"timings-{args.shard.replace('/', 'of')}.json" if args.shard else "timings.json"
    (out / name).write_text(json.dumps(report, indent=2) + "\n")
    installs = sum(builder.seconds.values())
    print(
        f"{len(rows)} environments in {total:.0f} s wall ({installs:.0f} s of it installing "
        f"{len(builder.seconds)} bases and overlays); timings in {out / name}"
    )
    if bad:
        print(f"disagree with the catalog or broken: {', '.join(bad)} (see {out / 'logs'})")
        return 1
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    """Join the runs of every grid environment into claims/results.json."""
    catalog = load_catalog()
    folders = [Path(p) for p in args.out]
    runs, problems = {}, []
    for env_id in catalog.envs:
        found = [f / f"{env_id}.json" for f in folders if (f / f"{env_id}.json").exists()]
        if not found:
            problems.append(f"no run of {env_id} in {', '.join(map(str, folders))}")
            continue
        run = json.loads(found[0].read_text())
        problems += check_run(catalog, run, str(found[0]))
        runs[env_id] = run
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    data = {"fingerprint": fingerprint(), "envs": runs}
    if args.check:
        return check_committed(data)
    tmp = RESULTS.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(RESULTS)
    print(f"wrote {RESULTS.relative_to(ROOT)}: {len(runs)} environments")
    return 0


def check_committed(data: dict) -> int:
    """Compare merged outcomes with the committed results (timings may differ); 1 if not equal."""
    try:
        committed = json.loads(RESULTS.read_text())
    except (OSError, ValueError) as exc:
        print(f"{RESULTS}: {exc}", file=sys.stderr)
        return 1
    differ = []
    if committed.get("fingerprint") != data["fingerprint"]:
        differ.append("fingerprint (proofs, catalog, grid or runner changed since the last merge)")
    for env_id, run in data["envs"].items():
        old = committed.get("envs", {}).get(env_id, {}).get("results", {})
        for claim_id, res in run["results"].items():
            was = old.get(claim_id, {})
            if (was.get("outcome"), was.get("numbers")) != (res["outcome"], res["numbers"]):
                differ.append(
                    f"{env_id} {claim_id}: committed {was.get('outcome')!r}, now {res['outcome']!r}"
                )
    if differ:
        print(f"{RESULTS.relative_to(ROOT)} is stale:\n  " + "\n  ".join(differ), file=sys.stderr)
        return 1
    print(f"{RESULTS.relative_to(ROOT)} matches the runs ({len(data['envs'])} environments)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run a command."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run environments of the grid")
    run.add_argument("--shard", help="I/N: run the I-th of N shards (whole bases per shard)")
    run.add_argument("--only", nargs="+", metavar="ENV", help="only these environment ids")
    run.add_argument(
        "--newest", action="store_true", help="only the newest release per line and backend"
    )
    run.add_argument("--jobs", type=int, default=2, help="environments run at once (default 2)")
    run.add_argument(
        "--out", default=str(OUT_DIR), help="folder for the runs (default build/matrix)"
    )
    merge = sub.add_parser("merge", help="write claims/results.json from complete runs")
    merge.add_argument("--out", nargs="+", default=[str(OUT_DIR)], help="folders holding runs")
    merge.add_argument(
        "--check", action="store_true", help="only compare with the committed results"
    )
    args = parser.parse_args(argv)
    try:
        return cmd_run(args) if args.command == "run" else cmd_merge(args)
    except (CatalogError, GridError) as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
