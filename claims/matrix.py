"""Run the release grid: build each base once with uv, lay releases over it, run the claims.

    python -m claims.matrix run [--shard 2/4] [--only ENV ...] [--on-host] [--last-patches]
                                [--newest] [--jobs N] [--recorded]
    python -m claims.matrix merge [--out build/matrix ...] [--check]   # -> claims/results.json
    python -m claims.matrix prune [--grid-dir build/grid]   # bases the spec no longer names

`run` first asks the package index for the releases of every line the spec gives as `first`
(`--recorded`: those the grid last ran, from `claims/releases.json`), writes them into the
output folder as `releases.json`, then one record per environment (never into the work tree),
a log per environment and per build, and `timings.json` (each environment's wall and CPU
seconds, per line and in total); then it compares what it measured
with the committed `claims/results.json`, outcomes and numbers. Every environment ends as
*agrees*, *disagrees* (a claim's outcome differs from the catalog) or *broken* (an install,
import or interpreter failure); one that fails never stops the others. `merge` joins the
records of the whole grid (from one folder or several shards' folders) into
`claims/results.json`, accepting only records whose provenance is the current grid's;
`merge --check` compares the records it finds with the committed file instead. `prune`
removes the bases, root filesystems and overlays that the spec no longer names (a changed
spec builds new ones beside them), never through a mount.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from claims import py2
from claims.builder import Builder, BuildError, tail
from claims.catalog import HERE, RESULTS, Catalog, CatalogError, fingerprint, load_catalog_in
from claims.grid import GRID, RELEASES_NAME, Env, GridError, discovered_lines, shard
from claims.preload import PRELOADED_VARIABLE, Preloader
from claims.provenance import (
    AGREES,
    BROKEN,
    DISAGREES,
    TOLERANCE,
    compare,
    record_problems,
    shape_problems,
)
from claims.releases import ReleasesError, from_index, read_recorded
from claims.run import DISAGREES_EXIT, base_identity
from claims.sandbox import SandboxError, remove_tree
from pincite.atomic import write_atomic

ROOT = HERE.parent
#: Virtualenvs and overlays live under build/, outside git, shared by every run.
GRID_DIR = ROOT / "build" / "grid"
#: Environments run at once: one per core. The grid is bound by the cores' work (tracing,
#: compiling, data pipelines): the whole grid took 1818 s wall with 2 at once and 1806 s
#: with 4 on 2 cores; more only costs memory (6 at once: 3.3 GB).
#: One environment per core, and one more: an environment waits (its two MirroredStrategy
#: replicas on each other, a sandbox starting, files), and the extra one uses the core then.
DEFAULT_JOBS = (os.cpu_count() or 1) + 1
OUT_DIR = ROOT / "build" / "matrix"
#: The backends a server imports once for every Keras 3 release over its base (TensorFlow's
#: own lookup of Keras is replayed in each fork: see `claims.preload`).
PRELOADED = frozenset({"jax", "torch", "tensorflow"})
#: Lines that run in a process of their own even over a preloaded backend: tf-keras sets
#: TF_USE_LEGACY_KERAS, which TensorFlow reads while it imports to choose its Keras.
AFRESH_LINES = frozenset({"tf_keras"})
#: Where a run keeps JAX's compiled programs, one folder per base that asks for it.
COMPILE_CACHE = "compile-cache"


def _show(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def _write_json(path: Path, data: dict, indent: int = 2) -> str | None:
    """Write JSON atomically; the reason if it could not be written (a full disk, say)."""
    try:
        write_atomic(path, (json.dumps(data, indent=indent, sort_keys=True) + "\n").encode())
    except OSError as exc:
        return f"cannot write {_show(path)}: {exc.strerror or exc}"
    return None


def read_record(path: Path) -> tuple[dict | None, str | None]:
    """A record file's JSON, or why it cannot be read (naming the file)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"{_show(path)}: no record was written"
    except (OSError, ValueError) as exc:
        return None, f"{_show(path)}: unreadable ({exc})"


class Runner:
    """Runs environments of one claims folder into one output folder."""

    def __init__(
        self,
        catalog: Catalog,
        folder: Path,
        out: Path,
        builder: Builder,
        preloader: Preloader | None = None,
    ) -> None:
        self.catalog, self.folder, self.out, self.builder = catalog, folder, out, builder
        self.preloader = preloader
        self.current = fingerprint(folder)

    def run_env(self, env: Env) -> dict:
        """Prepare one environment and run every claim in it; never raises: a row with status."""
        began = time.perf_counter()
        log = self.out / "logs" / f"{env.id}.log"
        try:
            python = self.builder.base_python(env.base)
            # The release's overlay first, then the repository (`python -m claims.run`).
            paths = [str(self.builder.overlay(env.overlay))] if env.overlay else []
        except BuildError as exc:
            return self._row(env, BROKEN, began, began, str(exc))
        except Exception as exc:  # a full disk, a missing interpreter: this one only
            return self._row(env, BROKEN, began, began, f"{type(exc).__name__}: {exc}")
        paths += [str(ROOT), str(ROOT / "src")]
        prepared = time.perf_counter()
        # Several environments run side by side on the machine's cores: each kernel runs on
        # one thread, so they do not fight over cores for models this small (inter-op threads
        # stay, because two MirroredStrategy replicas wait on each other).
        child_env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(paths),
            TF_CPP_MIN_LOG_LEVEL="3",
            OMP_NUM_THREADS="1",
            TF_NUM_INTRAOP_THREADS="1",
            # A refusal's text may show a set (Keras lists the allowed values): the same
            # order on every run, so that re-measuring a release reproduces its record.
            PYTHONHASHSEED="0",
        )
        child_env.pop("KERAS_HOME", None)
        child_env.pop(PRELOADED_VARIABLE, None)  # only a fork of a server may say it is one
        if self.catalog.grid.bases[env.base].compile_cache:
            child_env.update(compile_cache(self.out, env.base))
        record_path = self.out / f"{env.id}.json"
        command = [str(python), "-m", "claims.run", "--env", env.id, "--out", str(record_path)]
        command += ["--claims", str(self.folder), "--releases", str(self.out / RELEASES_NAME)]
        # TensorFlow's autograph writes a file per function it converts: each environment
        # gets a temporary folder of its own in the run's, removed when it ends, so that
        # nothing is left in the host's /tmp (a root filesystem has a /tmp of its own).
        scratch = self.out / "tmp" / env.id
        try:
            remove_tree(scratch)
            scratch.mkdir(parents=True)
            child_env["TMPDIR"] = str(scratch.resolve())
            log.parent.mkdir(parents=True, exist_ok=True)
            if self.catalog.grid.python_of(env.base).startswith("2."):
                code, cpu = self._py2(env, python, child_env, scratch, record_path, log)
            else:
                ran = self._forked(env, python, child_env, paths, command[3:], log)
                code, cpu = ran or self._fresh(env, command, paths, child_env, log)
        except (OSError, SandboxError) as exc:
            return self._row(env, BROKEN, began, prepared, f"cannot run {python}: {exc}")
        finally:
            with contextlib.suppress(OSError, SandboxError):  # left in the run's folder at worst
                remove_tree(scratch)
        record, _unreadable = read_record(record_path)
        if record is None:
            why = f"exit {code}: {tail(log)}"
            return self._row(env, BROKEN, began, prepared, why, log, cpu=cpu)
        problems = record_problems(
            self.catalog, record, _show(record_path), current=self.current, filed_as=env.id
        )
        status = record.get("status")
        # The record must agree with the child's exit status; anything else is a crash.
        if (code, status) == (0, AGREES) and not problems:
            return self._row(env, AGREES, began, prepared, cpu=cpu)
        if (code, status) == (DISAGREES_EXIT, DISAGREES) and problems:
            why = "; ".join(problems)
            return self._row(env, DISAGREES, began, prepared, why, log, cpu=cpu)
        why = "; ".join(problems) if problems else f"exit {code}: {tail(log)}"
        return self._row(env, BROKEN, began, prepared, why, log, cpu=cpu)

    def _py2(
        self, env: Env, python: Path, child_env: dict, scratch: Path, record_path: Path, log: Path
    ) -> tuple[int, float | None]:
        """Run an environment of Python 2.7: the proofs rewritten for it (`claims.py2`) run
        the variants planned here, and the record is written here from what they measured,
        with the fingerprint read when this run began."""
        try:
            tree = py2.write_tree(self.folder, self.out / "py2")
        except py2.Py2Error as exc:  # a proof 2.7 cannot read: this environment only
            log.write_text(f"the proofs cannot be rewritten for Python 2.7: {exc}\n")
            return 1, None
        planned, measured = scratch / "plan.json", scratch / "measured.json"
        planned.write_text(json.dumps(py2.plan(self.catalog, env), indent=1))
        argv = [str(python), "-m", "claims.run_py2", "--plan", str(planned)]
        argv += ["--out", str(measured)]
        child_env = dict(child_env, PYTHONPATH=str(tree))
        # Run from the tree: `-m` puts the working folder first on sys.path, and the
        # repository's own `claims` (Python 3) must not be the one 2.7 finds.
        code, cpu = self._fresh(env, argv, [str(tree)], child_env, log, cwd=tree)
        if code != 0 or not measured.exists():
            return code or 1, cpu
        with log.open("a") as sink:
            echo = lambda line: sink.write(line + "\n")  # noqa: E731
            try:
                base = base_identity(str(python.parent.parent))
                measured_data = json.loads(measured.read_text())
                record, disagree = py2.record(
                    self.catalog, env, self.current, base, measured_data, echo
                )
            except (SystemExit, ValueError, KeyError, TypeError) as exc:
                echo(f"{env.id}: what Python 2.7 reported is not usable: {exc}")
                return 1, cpu
            for problem in disagree:
                echo(problem)
        write_atomic(record_path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        return (DISAGREES_EXIT if disagree else 0), cpu

    def _fresh(
        self,
        env: Env,
        command: list[str],
        paths: list[str],
        child_env: dict,
        log: Path,
        cwd: Path | None = None,
    ) -> tuple[int, float | None]:
        """Run an environment in a process of its own; its exit status and CPU seconds
        (None when they could not be read)."""
        # In a root filesystem, `claims.cputime` collects the CPU time (see there), and
        # hands it back through a pipe; the root's own Python 3 runs it.
        base = self.catalog.grid.bases[env.base]
        system = bool(base.system)
        read_fd, write_fd = os.pipe() if system else (-1, -1)
        if base.system:
            timer = self.catalog.grid.systems[base.system].python
            command = [timer, "-m", "claims.cputime", str(write_fd), *command]
        # A base in a root filesystem of its own runs there: the repository, the claims
        # folder and the overlay read-only, only the records' folder writable.
        command, run_env = self.builder.command(
            env.base,
            command,
            readable=(*(Path(p) for p in paths if Path(p).exists()), self.folder.resolve()),
            writable=(self.out.resolve(),),
            env=child_env,
        )
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(os.fdopen(read_fd)) if system else None
            try:
                with log.open("w") as sink:
                    proc = subprocess.Popen(
                        command,
                        cwd=cwd,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        env=run_env,
                        pass_fds=(write_fd,) if system else (),
                    )
            finally:
                if system:  # the child holds its own copy: the pipe ends when the child does
                    os.close(write_fd)
            # wait4 gives this child's own CPU time (and that of the processes it waited
            # for), which other environments running at the same time do not blur.
            try:
                _pid, status, usage = os.wait4(proc.pid, 0)
            except BaseException:  # interrupted: leave no environment running on its own
                proc.kill()
                proc.wait()
                raise
            proc.returncode = os.waitstatus_to_exitcode(status)
            if source is None:
                return proc.returncode, usage.ru_utime + usage.ru_stime
            written = source.read().strip()
            return proc.returncode, float(written) if written else None

    def _forked(
        self, env: Env, python: Path, child_env: dict, paths: list[str], argv: list[str], log: Path
    ) -> tuple[int, float | None] | None:
        """Run a Keras release laid over a host base in a fork of that base's interpreter with
        its backend imported (see `claims.preload`): its exit status and CPU seconds; None
        where that does not apply."""
        if self.preloader is None or env.backend not in PRELOADED or not env.overlay:
            return None
        if env.line in AFRESH_LINES:
            return None
        if self.catalog.grid.bases[env.base].system:
            return None  # a root filesystem's interpreter runs in its sandbox, afresh
        overlay, shared = paths[:1], paths[1:]  # the release's folder; the repository's
        server_env = dict(child_env, PYTHONPATH=os.pathsep.join(shared))
        own = {"TMPDIR": server_env.pop("TMPDIR")}  # the fork's, not the server's
        return self.preloader.run(python, env.backend, server_env, argv, overlay, log, own)

    def _row(
        self,
        env: Env,
        status: str,
        began: float,
        prepared: float,
        why: str = "",
        log: Path | None = None,
        *,
        cpu: float | None = None,
    ) -> dict:
        """Report one environment; a broken one also leaves a record that says so."""
        ended = time.perf_counter()
        row = {
            "env": env.id,
            "status": status,
            "prepare": prepared - began,
            "run": ended - prepared,
        }
        if cpu is not None:  # CPU seconds of the environment's process, all its threads
            row["cpu"] = cpu
        if status == BROKEN:
            record = {"env": env.id, "fingerprint": self.current, "status": BROKEN, "why": why}
            if log is not None:
                record["log"] = _show(log)
            if failed := _write_json(self.out / f"{env.id}.json", record):
                why += f" ({failed})"
        shown = {AGREES: "agrees", DISAGREES: "DISAGREES", BROKEN: "BROKEN"}[status]
        print(
            f"{env.id:24} {shown:10} prepare {row['prepare']:6.1f} s  run {row['run']:6.1f} s"
            + (f"  ({_show(log)})" if log else ""),
            flush=True,
        )
        if why:
            print(f"    {why}", flush=True)
            if status == BROKEN:
                print(f"    rerun: nox -s matrix -- --only {env.id}", flush=True)
            row["why"] = why
        return row


def select(catalog: Catalog, args: argparse.Namespace) -> list[Env]:
    """The environments a run covers: --only, --on-host, --last-patches, --newest, then
    --shard."""
    envs = list(catalog.envs.values())
    if args.only:
        unknown = sorted(set(args.only) - set(catalog.envs))
        if unknown:
            raise GridError(f"unknown environment(s) {unknown}; see claims/grid.toml")
        envs = [e for e in envs if e.id in args.only]
    if args.on_host:
        envs = [e for e in envs if not catalog.grid.bases[e.base].system]
    if args.last_patches:
        envs = catalog.grid.last_patches(envs)
    if args.newest:
        envs = catalog.grid.newest(envs)
    if args.shard:
        count = len({e.base for e in envs})
        envs = shard(envs, args.shard)
        if not envs:
            raise GridError(
                f"shard {args.shard} is empty: the selection has {count} bases, "
                "and a shard holds whole bases"
            )
    return envs


def listed_releases(folder: Path, recorded: bool) -> dict[str, list[str]]:
    """Each discovered line's releases: as the index lists them now, or as last recorded."""
    dists = discovered_lines(folder / GRID.name)
    if recorded or not dists:
        return read_recorded(folder / RELEASES_NAME)
    return from_index(dists)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the selected environments; report; compare with the committed results."""
    folder = Path(args.claims)
    listed = listed_releases(folder, args.recorded)
    catalog = load_catalog_in(folder, listed)
    last = read_recorded(folder / RELEASES_NAME)
    for line_id, line in catalog.grid.lines.items():
        new = [v for v in line.releases if line.first and v not in last.get(line_id, [])]
        if new:
            print(f"{line_id}: new on the index since the grid last ran: {', '.join(new)}")
    envs = select(catalog, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # The run's own list of releases: its children, and a later merge, read the same one.
    if failed := _write_json(out / RELEASES_NAME, {"lines": listed}):
        raise CatalogError(failed)
    for env in envs:  # a record that is not this run's must never survive it
        (out / f"{env.id}.json").unlink(missing_ok=True)
    for base in {env.base for env in envs}:  # every run compiles afresh (a shard owns its bases)
        remove_tree(out / COMPILE_CACHE / base)
    builder = Builder(catalog.grid, Path(args.grid_dir), logs=out / "logs")
    preloader = None if args.fresh else Preloader(out / "logs")
    runner = Runner(catalog, folder, out, builder, preloader)
    print(f"running {len(envs)} environments with {args.jobs} jobs; uv {' '.join(builder.sources)}")
    began = time.perf_counter()
    # The longest first (as last measured), so that no long one is left running alone at
    # the end; unmeasured ones after them, those sharing a base together.
    took = last_seconds(out, folder)
    ordered = sorted(envs, key=lambda e: (-estimate(e, took, envs), e.base, e.id))
    rows: list[dict] = []
    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            rows.extend(pool.map(runner.run_env, ordered))
    finally:
        if preloader:
            preloader.close()
        servers = preloader.cpu if preloader else {}
        _report(args, out, builder, rows, time.perf_counter() - began, catalog.envs, servers)
    bad = [r for r in rows if r["status"] != AGREES]
    for status in (DISAGREES, BROKEN):
        names = [r["env"] for r in bad if r["status"] == status]
        if names:
            print(f"{status}: {', '.join(names)} (see {_show(out / 'logs')})")
    checked = 0 if args.no_check else check_committed(catalog, folder, [out])
    return 1 if bad or checked else 0


def compile_cache(out: Path, base: str) -> dict[str, str]:
    """The variables that make a base's environments share JAX's persistent compilation cache
    in this run's folder: every program, however small, is kept (the defaults keep only
    those that took a second to compile)."""
    return {
        "JAX_COMPILATION_CACHE_DIR": str((out / COMPILE_CACHE / base).resolve()),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def last_seconds(out: Path, folder: Path) -> dict[str, float]:
    """How long each environment took last time: this folder's timings, else the committed
    results' own clocks (only an order to run them in: nothing here is checked)."""
    try:
        timings = json.loads((out / "timings.json").read_text())
        return {e: float(r["prepare"]) + float(r["run"]) for e, r in timings["envs"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        results = json.loads((folder / RESULTS.name).read_text())
        return {e: float(r.get("seconds", 0.0)) for e, r in results["envs"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def estimate(env: Env, took: dict[str, float], envs: list[Env]) -> float:
    """An environment's last time; one never measured takes its line's mean (a new release
    costs what its neighbours do, so it is not left to run alone at the end)."""
    if env.id in took:
        return took[env.id]
    same_line = [took[e.id] for e in envs if e.line == env.line and e.id in took]
    return sum(same_line) / len(same_line) if same_line else 0.0


def by_line(rows: list[dict], envs: dict[str, Env]) -> dict[str, dict[str, float]]:
    """Seconds spent per line and backend (``keras on jax``): environments, their summed,
    mean and longest preparation plus run, and the CPU seconds their processes used, so a
    slow line shows where the time goes."""
    groups: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    for row in rows:
        env = envs[row["env"]]
        name = f"{env.line} on {env.backend}"
        groups.setdefault(name, []).append(row["prepare"] + row["run"])
        cpu[name] = cpu.get(name, 0.0) + row.get("cpu", 0.0)
    return {
        name: {
            "environments": len(took),
            "seconds": round(sum(took), 1),
            "mean": round(sum(took) / len(took), 1),
            "longest": round(max(took), 1),
            "cpu_seconds": round(cpu[name], 1),
        }
        for name, took in sorted(groups.items(), key=lambda kv: -sum(kv[1]))
    }


def _report(
    args,
    out: Path,
    builder: Builder,
    rows: list[dict],
    total: float,
    envs: dict[str, Env],
    servers: dict[str, float],
) -> None:
    """The timing report and summary, written however the run ended. The run's CPU seconds
    are its environments' and the preloading servers' (one backend import per base, which
    the environments forked from it did not pay)."""
    lines = by_line(rows, envs)
    preloading = sum(servers.values())
    report = {
        "environments": len(rows),
        "jobs": args.jobs,
        "wall_seconds": round(total, 1),
        "cpu_seconds": round(sum(r.get("cpu", 0.0) for r in rows) + preloading, 1),
        "servers": {name: round(cpu, 1) for name, cpu in sorted(servers.items())},
        "lines": lines,
        "installs": {k: round(v, 1) for k, v in sorted(builder.seconds.items())},
        "statuses": {s: sum(r["status"] == s for r in rows) for s in (AGREES, DISAGREES, BROKEN)},
        "envs": {
            r["env"]: {k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()}
            for r in rows
        },
    }
    name = f"timings-{args.shard.replace('/', 'of')}.json" if args.shard else "timings.json"
    failed = _write_json(out / name, report)
    installs = sum(builder.seconds.values())
    for line, took in lines.items():
        print(
            f"{line:28} {took['environments']:4} environments {took['seconds']:8.0f} s "
            f"(mean {took['mean']:.0f} s, longest {took['longest']:.0f} s; "
            f"{took['cpu_seconds']:.0f} CPU s)"
        )
    print(
        f"{len(rows)} environments in {total:.0f} s wall, {report['cpu_seconds']:.0f} CPU s "
        f"({preloading:.0f} of them importing backends in {len(servers)} preloading servers; "
        f"{installs:.0f} s wall installing {len(builder.seconds)} bases and overlays); "
        + (failed or f"timings in {_show(out / name)}")
    )


def gather(catalog: Catalog, folders: list[Path], current: str) -> tuple[dict, list[str], list]:
    """Every grid environment's record found in ``folders``: (records, problems, missing)."""
    runs, problems, missing = {}, [], []
    known = set(catalog.envs)
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            if (
                path.stem not in known
                and not path.name.startswith("timings")
                and (path.name != RELEASES_NAME)
            ):
                problems.append(f"{_show(path)}: {path.stem!r} is not an environment of the grid")
    for env_id in catalog.envs:
        found = [f / f"{env_id}.json" for f in folders if (f / f"{env_id}.json").exists()]
        if not found:
            missing.append(env_id)
            continue
        if len(found) > 1:
            problems.append(
                f"{env_id}: recorded in {len(found)} folders: {', '.join(map(_show, found))}"
            )
            continue
        record, unreadable = read_record(found[0])
        if record is None:
            problems.append(str(unreadable))
            continue
        if found_problems := record_problems(
            catalog, record, _show(found[0]), current=current, filed_as=env_id
        ):
            problems += found_problems
            continue
        # Checked against the catalog as it is now, which may have changed since it ran.
        runs[env_id] = {**record, "status": AGREES}
    return runs, problems, missing


def cmd_prune(args: argparse.Namespace) -> int:
    """Remove the grid folder's bases, roots and overlays that the spec no longer names."""
    catalog = load_catalog_in(Path(args.claims))
    builder = Builder(catalog.grid, Path(args.grid_dir))  # the sources name the folders too
    sizes = {folder: _size(folder) for folder in builder.stale()}
    try:
        removed = builder.prune()
    except SandboxError as exc:  # something is mounted inside one: nothing is deleted through
        print(exc, file=sys.stderr)
        return 1
    for folder in removed:
        print(f"removed {_show(folder)} ({sizes.get(folder, 0) / 2**30:.1f} GB)")
    freed = sum(sizes.get(folder, 0) for folder in removed)
    print(f"{len(removed)} stale folders removed, {freed / 2**30:.1f} GB freed")
    return 0


def _size(folder: Path) -> int:
    """Bytes of the files under a folder (links not followed)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def cmd_merge(args: argparse.Namespace) -> int:
    """Join the records of every grid environment into results.json (or --check them)."""
    folder = Path(args.claims)
    outs = [Path(p) for p in args.out]
    listed = run_releases(outs)
    catalog = load_catalog_in(folder, listed)
    if args.check:
        return check_committed(catalog, folder, outs)
    current = fingerprint(folder)
    runs, problems, missing = gather(catalog, outs, current)
    problems += [f"no run of {env_id} in {', '.join(args.out)}" for env_id in missing]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    results = folder / "results.json"
    if failed := _write_json(results, {"fingerprint": current, "envs": runs}, indent=1):
        print(failed, file=sys.stderr)
        return 1
    # The releases this grid ran, per line the index lists: what offline readers build from.
    ran = {i: list(line.releases) for i, line in catalog.grid.lines.items() if line.first}
    if ran and (failed := _write_json(folder / RELEASES_NAME, {"lines": ran})):
        print(failed, file=sys.stderr)
        return 1
    print(f"wrote {_show(results)}: {len(runs)} environments")
    return 0


def run_releases(outs: list[Path]) -> dict[str, list[str]] | None:
    """The releases the runs in ``outs`` listed (every shard lists the same; None: no run did)."""
    for out in outs:
        if (out / RELEASES_NAME).exists():
            try:
                return read_recorded(out / RELEASES_NAME)
            except ReleasesError as exc:
                raise CatalogError(str(exc)) from None
    return None


def check_committed(catalog: Catalog, folder: Path, outs: list[Path]) -> int:
    """Compare the records found in ``outs`` with the committed results; 1 if they differ.

    The environments that ran are compared (a partial run checks its part); outcomes must be
    equal and numbers equal within TOLERANCE.
    """
    current = fingerprint(folder)
    runs, problems, missing = gather(catalog, outs, current)
    results = folder / "results.json"
    committed, unreadable = read_record(results)
    if committed is None:
        problems.append(str(unreadable))
    elif shape := shape_problems(committed, _show(results)):
        problems += shape
    elif committed["fingerprint"] != current:
        problems.append(
            f"{_show(results)} is stale: proofs, catalog, grid or runner changed since it was "
            "merged; write it anew with `nox -s matrix-merge` once the grid has run"
        )
    else:
        new = sorted(set(runs) - set(committed["envs"]))
        if new:  # released since the merge; each was checked against the catalog as it ran
            print(
                f"new since {_show(results)} was merged (`nox -s matrix-merge` records them): "
                + ", ".join(new)
            )
        problems += compare(committed, {k: v for k, v in runs.items() if k not in new})
    if not runs and not problems:
        problems.append(f"no records of the grid in {', '.join(map(_show, outs))}")
    tolerance = f"numbers within rel {TOLERANCE['rel_tol']:g}, abs {TOLERANCE['abs_tol']:g}"
    if problems:
        print(
            f"{_show(results)} does not match the runs ({tolerance}):\n  " + "\n  ".join(problems),
            file=sys.stderr,
        )
        return 1
    part = f", {len(missing)} not run" if missing else ""
    print(f"{_show(results)} matches the runs: {len(runs)} environments ({tolerance}){part}")
    return 0


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run a command."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--claims", default=str(HERE), help="the claims folder (default: ours)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run environments of the grid")
    run.add_argument("--shard", help="I/N: run the I-th of N shards (whole bases per shard)")
    run.add_argument("--only", nargs="+", metavar="ENV", help="only these environment ids")
    run.add_argument(
        "--last-patches",
        action="store_true",
        help="only the last patch of each minor release per line and backend",
    )
    run.add_argument(
        "--on-host",
        action="store_true",
        help="only environments whose base runs on this machine's Python (no root filesystem)",
    )
    run.add_argument(
        "--newest", action="store_true", help="only the newest release per line and backend"
    )
    run.add_argument(
        "--fresh",
        action="store_true",
        help="start every environment's interpreter afresh (no fork of a preloaded backend)",
    )
    run.add_argument(
        "--jobs",
        type=positive,
        default=DEFAULT_JOBS,
        help=f"environments run at once (default {DEFAULT_JOBS}: one per core, and one more)",
    )
    run.add_argument(
        "--out", default=str(OUT_DIR), help="folder for the runs (default build/matrix)"
    )
    run.add_argument(
        "--grid-dir", default=str(GRID_DIR), help="bases and overlays (default build/grid)"
    )
    run.add_argument(
        "--no-check", action="store_true", help="do not compare with the committed results"
    )
    run.add_argument(
        "--recorded",
        action="store_true",
        help="run the releases the grid last ran (claims/releases.json), without asking the index",
    )
    merge = sub.add_parser("merge", help="write claims/results.json from complete runs")
    merge.add_argument("--out", nargs="+", default=[str(OUT_DIR)], help="folders holding runs")
    merge.add_argument(
        "--check", action="store_true", help="only compare the runs found with the committed file"
    )
    prune = sub.add_parser("prune", help="remove bases and overlays the spec no longer names")
    prune.add_argument(
        "--grid-dir", default=str(GRID_DIR), help="bases and overlays (default build/grid)"
    )
    args = parser.parse_args(argv)
    commands = {"run": cmd_run, "merge": cmd_merge, "prune": cmd_prune}
    try:
        return commands[args.command](args)
    except (CatalogError, GridError, ReleasesError) as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
