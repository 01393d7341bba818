"""The grid runner against a small fake grid: provenance, statuses, bases, the re-measure check.

The tests build everything: a stand-in backend (`jax` 0.0.1) and two stand-in Keras releases
as wheels in a temporary folder, a claims folder (grid, catalog, proofs) of their own, and a
pip configuration that points uv at those wheels only (`--no-index`, `UV_OFFLINE`): neither
TensorFlow nor the network is needed. Each test is one attack on the pipeline from a run to
the published results.
"""

from __future__ import annotations

import argparse
import gc
import json
import marshal
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import packaging
import pytest
from filelock import FileLock

from claims import builder, catalog, matrix, provenance, sandbox
from claims.grid import load_grid
from conftest import make_wheel

ROOT = Path(__file__).resolve().parent.parent

GRID = """
[grid]
python = "{python}"

[base.stand-in]
requires = ["jax==0.0.1", "packaging"]
{extra_base}
[line.keras]
label = "Keras"
dist = "keras"
overlay = "keras"
releases = {releases}
[line.keras.backends]
jax = {backends}
"""

CATALOG = """
[[claim]]
id = "reported-loss"
title = "Reported loss"
statement = "The reported loss counts the layer loss once."
holds = ["keras >=3.99"]
"""

PROOFS = '''
"""Stand-in proofs: the fake Keras says which loss it reports."""
import importlib
import os
import time
from dataclasses import dataclass, field

PROOFS = {}


@dataclass
class Evidence:
    holds: bool
    numbers: dict = field(default_factory=dict)
    detail: str = ""
    refused: str = ""

    @property
    def outcome(self):
        return "Keras refuses" if self.refused else "holds" if self.holds else "does not hold"


def proof(claim_id):
    def register(func):
        PROOFS[claim_id] = func
        return func
    return register


class Lab:
    def __init__(self, flavor):
        importlib.import_module("jax")  # the backend must import
        self.keras = importlib.import_module("keras")
        self.backend = os.environ["KERAS_BACKEND"]


def use_two_cpus():
    pass


def _last_line(exc):
    return str(exc).splitlines()[-1]


def run_claim(lab, claim, env):
    """One variant, as stated; a setup failure is not tested."""
    try:
        evidence = PROOFS[claim.id](lab)
        outcome, numbers, detail = evidence.outcome, evidence.numbers, evidence.detail
    except Exception as exc:
        outcome, numbers, detail = "not tested", {}, f"{type(exc).__name__}: {_last_line(exc)}"
    variant = {"variant": "as stated", "axes": {}, "outcome": outcome, "numbers": numbers,
               "detail": detail}
    return {"outcome": outcome, "detail": detail, "variants": [variant], "seconds": 0.0}


@proof("reported-loss")
def reported_loss(lab):
    if os.environ.get("FAKE_SETUP_FAILS"):
        raise RuntimeError("the harness broke before reaching the claim")
    value = lab.keras.reported_loss()
    detail = str(set("abcdefgh")) if os.environ.get("FAKE_SET_DETAIL") else ""
    numbers = {"reported loss": value, "compiled + term": 9.5}
    work, _, seconds = os.environ.get("FAKE_WORK", "").partition(":")
    if work == "burn":  # CPU work of the environment's own
        end = time.process_time() + float(seconds)
        while time.process_time() < end:
            pass
    elif work == "sleep":  # a wait, which uses no CPU
        time.sleep(float(seconds))
    if os.environ.get("FAKE_TMP"):  # where temporary files go, as autograph writes them
        import tempfile
        with tempfile.NamedTemporaryFile(suffix=".py", delete=False) as temporary:
            numbers["temporary file"] = temporary.name
    if os.environ.get("FAKE_GC"):  # how the claim's own objects are collected
        import gc
        numbers.update(enabled=gc.isenabled(), threshold=list(gc.get_threshold()),
                       frozen=gc.get_freeze_count(), keras_frozen=_frozen(lab.keras))
    return Evidence(value == 9.5, numbers, detail)


def _frozen(obj):
    """Whether ``obj`` is in the permanent generation (`gc.freeze`), seen by no collection."""
    import gc
    return gc.is_tracked(obj) and not any(o is obj for o in gc.get_objects())
'''


#: The stand-in backend; it notes each import when asked, to count the interpreters.
JAX_INIT = b"""import os, time
__version__ = "0.0.1"
if os.environ.get("FAKE_IMPORT_LOG"):
    with open(os.environ["FAKE_IMPORT_LOG"], "a") as log:
        log.write(f"{os.getpid()}\\n")
if os.environ.get("FAKE_IMPORT_BURN"):  # an import that costs CPU, like a real backend's
    _end = time.process_time() + float(os.environ["FAKE_IMPORT_BURN"])
    while time.process_time() < _end:
        pass
"""


def keras_wheel(version: str, loss: float) -> tuple[str, bytes]:
    """A stand-in Keras release that reports ``loss`` (and crashes on request)."""
    init = (
        f'import os\n__version__ = "{version}"\n'
        'if os.environ.get("FAKE_KERAS_CRASH"):\n'
        '    raise ImportError("cannot import name Trainer from keras.src.trainers")\n'
        'if os.environ.get("FAKE_KERAS_SEGFAULT"):\n'
        "    import signal; os.kill(os.getpid(), signal.SIGSEGV)\n"
        f"def reported_loss():\n    return {loss}\n"
    )
    return make_wheel("keras", version, {"keras/__init__.py": init.encode()})


def packaging_wheel() -> tuple[str, bytes]:
    """`packaging` (the runner's one dependency inside a base), rebuilt from this Python's copy."""
    source = Path(packaging.__file__).parent
    files = {
        f"packaging/{p.relative_to(source)}": p.read_bytes()
        for p in source.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    return make_wheel("packaging", packaging.__version__, files)


class Grid:
    """A fake grid on disk: wheels, a claims folder, a grid folder, and a way to run it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.wheels = tmp / "wheels"
        self.claims = tmp / "claims"
        self.grid_dir = tmp / "grid"
        self.out = tmp / "matrix"
        for folder in (self.wheels, self.claims):
            folder.mkdir()
        for name, data in (
            # Like numpy, the backend ships a `.pyc` in its RECORD, which compiling at install
            # rewrites: the base must still verify.
            make_wheel(
                "jax",
                "0.0.1",
                {
                    "jax/__init__.py": JAX_INIT,
                    f"jax/__pycache__/__init__.{sys.implementation.cache_tag}.pyc": b"stale",
                },
            ),
            keras_wheel("3.98.0", 7.0),
            keras_wheel("3.99.0", 9.5),
            packaging_wheel(),
        ):
            (self.wheels / name).write_bytes(data)
        self.write_grid()
        (self.claims / "catalog.toml").write_text(CATALOG)
        (self.claims / "proofs.py").write_text(PROOFS)
        shutil.copy(ROOT / "claims" / "run.py", self.claims / "run.py")
        self.env = {
            **os.environ,
            # pip's configuration, which the runner hands to uv: these wheels and nothing else.
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": str(self.wheels),
            "UV_OFFLINE": "1",
            "UV_CACHE_DIR": str(tmp / "uv-cache"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        }
        for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
            self.env.pop(key, None)

    def write_grid(self, *, python: str = "", extra_base: str = "", backends: str = "") -> None:
        """(Re)write grid.toml; by default two releases over one stand-in base."""
        python = python or f"{sys.version_info.major}.{sys.version_info.minor}"
        (self.claims / "grid.toml").write_text(
            GRID.format(
                python=python,
                extra_base=extra_base,
                releases='["3.98.0", "3.99.0"]',
                backends=backends or '{ "" = "stand-in" }',
            )
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "claims.matrix", "--claims", str(self.claims), *args]

    def run(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """``claims.matrix run`` on this grid (output captured)."""
        return subprocess.run(
            self.command("run", "--grid-dir", str(self.grid_dir), "--out", str(self.out), *args),
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=300,
        )

    def merge(self, *args: str, out: Path | None = None) -> subprocess.CompletedProcess:
        """``claims.matrix merge`` of this grid's runs."""
        return subprocess.run(
            self.command("merge", "--out", str(out or self.out), *args),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )

    @property
    def results(self) -> Path:
        return self.claims / "results.json"

    def load_results(self) -> dict:
        cat = catalog.load_catalog_in(self.claims)
        return provenance.load_results(cat, self.results, self.claims)

    def venvs(self) -> list[Path]:
        return sorted((self.grid_dir / "venvs").glob("stand-in-*[0-9a-f]"))


def ok(proc: subprocess.CompletedProcess) -> str:
    """The output of a command that must have succeeded."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def failed(proc: subprocess.CompletedProcess) -> str:
    """The output of a command that must have failed (not crashed with a traceback)."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture
def fake(tmp_path: Path) -> Grid:
    """A fake grid that has run once and whose results are merged (the committed state)."""
    grid = Grid(tmp_path)
    first = grid.run("--no-check")
    assert first.returncode == 0, first.stdout + first.stderr
    ok(grid.merge())
    return grid


# --- provenance in every record ---------------------------------------------------------------


def test_a_record_says_what_produced_it_and_where(fake: Grid) -> None:
    record = json.loads((fake.out / "keras-3.99.0.json").read_text())
    assert record["fingerprint"] == catalog.fingerprint(fake.claims)
    assert record["status"] == "agrees"
    assert record["versions"]["keras"] == "3.99.0"  # measured inside the environment
    assert record["versions"]["jax"] == "0.0.1"
    assert record["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    (venv,) = fake.venvs()
    manifest = json.loads((venv / provenance.MANIFEST).read_text())
    assert record["base"] == {"id": "stand-in", "identity": provenance.identity_digest(manifest)}
    assert fake.load_results()["envs"]["keras-3.98.0"]["results"]["reported-loss"]["variants"][0][
        "numbers"
    ] == {
        "reported loss": 7.0,
        "compiled + term": 9.5,
    }


# 1. stale runs are certified
def test_a_stale_record_is_refused_by_merge_and_check(fake: Grid) -> None:
    before = fake.results.read_bytes()
    proofs = fake.claims / "proofs.py"
    proofs.write_text(proofs.read_text().replace('"compiled + term"', '"compiled plus term"'))
    fake.run("--only", "keras-3.99.0", "--no-check")
    out = failed(fake.merge())
    assert "keras-3.98.0 was run by other proofs, catalog, grid or runner" in out
    assert "rerun `nox -s matrix -- --only keras-3.98.0`" in out
    assert fake.results.read_bytes() == before  # nothing written
    assert "keras-3.98.0 was run by other proofs" in failed(fake.merge("--check"))


def test_an_expectation_changed_after_the_run_is_checked_anew_at_merge(fake: Grid) -> None:
    path = fake.claims / "catalog.toml"
    path.write_text(CATALOG.replace('holds = ["keras >=3.99"]', 'holds = ["keras >=3.98"]'))
    # Not stale (what ran is the same), but the merge and the pages refuse the disagreement.
    out = failed(fake.merge())
    assert "claim 'reported-loss' in keras-3.98.0" in out and "expected it to hold" in out
    with pytest.raises(catalog.CatalogError, match=re.escape("keras-3.98.0")):
        fake.load_results()
    assert "DISAGREES" in failed(fake.run("--only", "keras-3.98.0", "--no-check"))
    # The catalog corrected, the record that disagreed when it ran agrees now: no rerun.
    path.write_text(CATALOG)
    ok(fake.merge())
    assert fake.load_results()["envs"]["keras-3.98.0"]["status"] == provenance.AGREES


def test_a_release_added_since_the_merge_is_reported_as_new(fake: Grid) -> None:
    name, data = keras_wheel("3.97.0", 7.0)
    (fake.wheels / name).write_bytes(data)
    grid = fake.claims / "grid.toml"
    grid.write_text(
        grid.read_text().replace('["3.98.0", "3.99.0"]', '["3.97.0", "3.98.0", "3.99.0"]')
    )
    out = ok(fake.run("--only", "keras-3.97.0"))  # the committed records are still current
    assert "new since claims/results.json was merged" in out.replace(str(fake.claims), "claims")
    assert "keras-3.97.0" in out
    ok(fake.merge())
    assert "keras-3.97.0" in fake.load_results()["envs"]


# 2. a crash reads as DISAGREES, and the old file stays
def test_a_crash_is_broken_not_disagrees_and_leaves_no_old_record(fake: Grid) -> None:
    proc = fake.run("--only", "keras-3.99.0", env={"FAKE_KERAS_CRASH": "1"})
    out = failed(proc)
    assert "keras-3.99.0             BROKEN" in out
    assert "DISAGREES" not in out
    assert "ImportError: cannot import name Trainer" in out  # the log's last lines
    assert "rerun: nox -s matrix -- --only keras-3.99.0" in out
    record = json.loads((fake.out / "keras-3.99.0.json").read_text())
    assert record["status"] == "broken"
    assert "broken when it ran" in failed(fake.merge("--check"))
    assert "broken when it ran" in failed(fake.merge())


def test_releases_over_one_base_fork_from_one_interpreter_that_imported_the_backend(
    fake: Grid,
) -> None:
    imports = fake.tmp / "imports.log"
    ok(fake.run("--no-check", env={"FAKE_IMPORT_LOG": str(imports)}))
    (server,) = set(imports.read_text().split())  # one import for both releases
    for release, loss in (("3.98.0", 7.0), ("3.99.0", 9.5)):  # each saw its own Keras only
        record = json.loads((fake.out / f"keras-{release}.json").read_text())
        assert (record["status"], record["versions"]["keras"]) == ("agrees", release)
        assert record["preloaded"] == "jax"
        numbers = record["results"]["reported-loss"]["variants"][0]["numbers"]
        assert numbers["reported loss"] == loss
        assert re.search(
            r"ok +keras-" + re.escape(release),
            (fake.out / "logs" / f"keras-{release}.log").read_text(),
        )
    assert not Path(f"/proc/{server}").exists()  # the server ended with the run
    imports.unlink()
    ok(
        fake.run(
            "--no-check", "--fresh", env={"FAKE_IMPORT_LOG": str(imports), "GRID_PRELOADED": "x"}
        )
    )
    assert len(set(imports.read_text().split())) == 2
    assert json.loads((fake.out / "keras-3.99.0.json").read_text())["preloaded"] is None


@pytest.mark.parametrize("how", ["--fresh", "--jobs=1"])
def test_claims_run_with_the_default_collector_and_the_imports_frozen(fake: Grid, how: str) -> None:
    ok(fake.run("--only", "keras-3.99.0", "--no-check", how, env={"FAKE_GC": "1"}))
    record = json.loads((fake.out / "keras-3.99.0.json").read_text())
    numbers = record["results"]["reported-loss"]["variants"][0]["numbers"]
    assert numbers["enabled"] is True
    assert numbers["threshold"] == list(gc.get_threshold())  # this interpreter's defaults
    assert numbers["frozen"] > 1000  # the imports: Keras and everything before it
    assert numbers["keras_frozen"] is True


@pytest.mark.parametrize("how", ["--fresh", "--jobs=1"])
def test_timings_give_each_environments_own_cpu_seconds_forked_or_afresh(
    fake: Grid, how: str
) -> None:
    def timed(work: str, **env: str) -> dict:
        env["FAKE_WORK"] = work
        ok(fake.run("--only", "keras-3.99.0", "--no-check", how, env=env))
        return json.loads((fake.out / "timings.json").read_text())

    burnt = timed("burn:1.5", FAKE_IMPORT_BURN="1.0")
    row, servers = burnt["envs"]["keras-3.99.0"], burnt["servers"]
    assert 1.5 <= row["cpu"] <= row["run"] + 0.1  # all of its CPU work, no one else's
    if how == "--fresh":  # the backend's import is the environment's own
        assert servers == {} and row["cpu"] >= 2.5
    else:  # paid once, by the server it forked from, and counted in the run's total
        assert list(servers) == ["preload-0-jax"] and servers["preload-0-jax"] >= 1.0
        assert row["cpu"] < 2.5
    assert abs(burnt["cpu_seconds"] - row["cpu"] - sum(servers.values())) <= 0.11
    assert [line["cpu_seconds"] for line in burnt["lines"].values()] == [row["cpu"]]
    row = timed("sleep:1.5")["envs"]["keras-3.99.0"]
    assert row["run"] >= 1.5 and row["cpu"] < row["run"] - 1.0  # waiting is not CPU


@pytest.mark.parametrize("how", ["--fresh", "--jobs=1"])
def test_temporary_files_go_to_the_runs_folder_and_leave_with_the_environment(
    fake: Grid, how: str
) -> None:
    ok(fake.run("--only", "keras-3.99.0", "--no-check", how, env={"FAKE_TMP": "1"}))
    record = json.loads((fake.out / "keras-3.99.0.json").read_text())
    written = Path(record["results"]["reported-loss"]["variants"][0]["numbers"]["temporary file"])
    assert written.parent == (fake.out / "tmp" / "keras-3.99.0").resolve()
    assert not written.parent.exists()  # removed when the environment ended


def test_a_text_showing_a_set_is_the_same_on_every_run_forked_or_afresh(fake: Grid) -> None:
    def detail(*args: str) -> str:
        ok(fake.run("--only", "keras-3.99.0", *args, env={"FAKE_SET_DETAIL": "1"}))
        record = json.loads((fake.out / "keras-3.99.0.json").read_text())
        return record["results"]["reported-loss"]["variants"][0]["detail"]

    first = detail("--fresh")  # eight letters: two random orders agree once in 40,320
    assert detail("--fresh") == first == detail()


def test_a_fork_that_dies_without_answering_is_broken_and_the_next_still_runs(fake: Grid) -> None:
    out = failed(fake.run("--only", "keras-3.99.0", env={"FAKE_KERAS_SEGFAULT": "1"}))
    assert "keras-3.99.0             BROKEN" in out and "exit -1:" in out
    ok(fake.run("--only", "keras-3.99.0"))


def test_a_server_ends_when_its_runner_is_killed(tmp_path: Path) -> None:
    runner = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from claims.preload import Preloader\n"
        "preloader = Preloader(Path(sys.argv[1]))\n"
        "assert preloader.start(Path(sys.executable), 'json', dict(os.environ))\n"
        "print(*preloader.pids(), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "src")]))
    proc = subprocess.run(
        [sys.executable, "-c", runner, str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == -9, proc.stderr
    (pid,) = proc.stdout.split()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def _alive(pid: str) -> bool:
    """Whether a process is running (a zombie nobody reaped has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_setup_failure_is_not_tested_never_does_not_hold(fake: Grid) -> None:
    out = failed(fake.run("--only", "keras-3.98.0", "--no-check", env={"FAKE_SETUP_FAILS": "1"}))
    assert "keras-3.98.0             DISAGREES" in out
    assert "expected it to not hold, but the outcome is 'not tested'" in out
    assert "RuntimeError: the harness broke before reaching the claim" in out
    record = json.loads((fake.out / "keras-3.98.0.json").read_text())
    assert record["results"]["reported-loss"]["outcome"] == "not tested"


def test_a_disagreeing_outcome_is_disagrees_naming_the_claim(fake: Grid) -> None:
    (fake.claims / "catalog.toml").write_text(CATALOG.replace(">=3.99", ">=3.98"))
    out = failed(fake.run("--only", "keras-3.98.0", "--no-check"))
    assert "keras-3.98.0             DISAGREES" in out
    assert "claim 'reported-loss' in keras-3.98.0" in out


@pytest.mark.parametrize(
    "damage",
    [
        "garbage in the backend",
        "no interpreter",
        "a file missing from the overlay",
    ],
)
def test_a_damaged_base_or_overlay_is_rebuilt_saying_so(fake: Grid, damage: str) -> None:
    (venv,) = fake.venvs()
    if damage == "garbage in the backend":
        (next(venv.glob("lib/python*/site-packages")) / "jax" / "__init__.py").write_text("}{")
    elif damage == "no interpreter":
        (venv / "bin" / "python").unlink()
    else:
        (overlay,) = (fake.grid_dir / "overlays").glob("keras-3.99.0-*[0-9a-f]")
        (overlay / "keras" / "__init__.py").unlink()
    out = ok(fake.run("--only", "keras-3.99.0"))
    assert "is broken (" in out and "rebuilding it" in out
    assert "keras-3.99.0             agrees" in out


def test_bases_and_overlays_carry_their_bytecode(fake: Grid, monkeypatch) -> None:
    """Compiled at build, for the final path: with PYTHONDONTWRITEBYTECODE set, no run compiles
    them again."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")  # so no run can have written them
    ok(fake.run("--only", "keras-3.99.0"))
    (venv,) = fake.venvs()
    site = next(venv.glob("lib/python*/site-packages"))
    (overlay,) = (fake.grid_dir / "overlays").glob("keras-3.99.0-*[0-9a-f]")
    for source in (site / "jax" / "__init__.py", overlay / "keras" / "__init__.py"):
        (compiled,) = (source.parent / "__pycache__").glob("__init__.*.pyc")
        # The build was made in a `.tmp` folder: its bytecode must name the final path,
        # where Python (and TensorFlow, locating its libraries) will find it.
        code = marshal.loads(compiled.read_bytes()[16:])
        assert code.co_filename == str(source)


# 3. two runs at once corrupt a base for good
def test_two_runs_at_once_build_one_base_between_them(tmp_path: Path) -> None:
    grid = Grid(tmp_path)
    args = grid.command(
        "run", "--grid-dir", str(grid.grid_dir), "--no-check", "--only", "keras-3.99.0"
    )
    procs = []
    for n in (1, 2):
        procs.append(
            subprocess.Popen(
                [*args, "--out", str(tmp_path / f"out{n}")],
                env=grid.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        time.sleep(0.2)
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output
        assert "keras-3.99.0             agrees" in output
    (venv,) = grid.venvs()
    assert (venv / "bin" / "python").exists()
    assert not list(grid.grid_dir.glob("*/*.tmp"))
    # The base verifies for a third run, which builds nothing.
    assert "rebuilding" not in ok(grid.run("--only", "keras-3.99.0", "--no-check"))


# 4. a record under the wrong environment is published
def test_a_misfiled_record_is_refused(fake: Grid) -> None:
    shutil.copy(fake.out / "keras-3.99.0.json", fake.out / "keras-3.98.0.json")
    assert "the record is of keras-3.99.0, filed as keras-3.98.0" in failed(fake.merge())


def test_a_record_whose_measured_versions_are_not_its_environments_is_refused(fake: Grid) -> None:
    record = json.loads((fake.out / "keras-3.99.0.json").read_text())
    record["env"] = "keras-3.98.0"
    (fake.out / "keras-3.98.0.json").write_text(json.dumps(record))
    out = failed(fake.merge())
    assert "keras-3.98.0 needs keras==3.98.0, the record measured 3.99.0" in out


def test_a_results_file_edited_to_misfile_is_refused(fake: Grid) -> None:
    data = json.loads(fake.results.read_text())
    data["envs"]["keras-3.98.0"] = data["envs"]["keras-3.99.0"]
    fake.results.write_text(json.dumps(data))
    with pytest.raises(
        catalog.CatalogError,
        match=re.escape("the record is of keras-3.99.0, filed as keras-3.98.0"),
    ):
        fake.load_results()


# 5. a hand-edited number is accepted
def test_a_hand_edited_number_is_caught_by_the_run_and_by_check(fake: Grid) -> None:
    data = json.loads(fake.results.read_text())
    data["envs"]["keras-3.99.0"]["results"]["reported-loss"]["variants"][0]["numbers"][
        "reported loss"
    ] = 7.25
    fake.results.write_text(json.dumps(data))
    message = "keras-3.99.0 reported-loss [as stated]: 'reported loss' committed 7.25, measured 9.5"
    assert message in failed(fake.run("--only", "keras-3.99.0"))  # the test command's own check
    assert message in failed(fake.merge("--check"))
    # Within the stated tolerance, a re-measured number is the same number.
    data["envs"]["keras-3.99.0"]["results"]["reported-loss"]["variants"][0]["numbers"][
        "reported loss"
    ] = 9.5000001
    fake.results.write_text(json.dumps(data))
    assert "matches the runs: 2 environments" in ok(fake.merge("--check"))


def test_check_compares_a_partial_run(fake: Grid) -> None:
    shutil.rmtree(fake.out)
    out = ok(fake.run("--only", "keras-3.98.0"))
    assert "matches the runs: 1 environments" in out and "1 not run" in out


# 6. a base's identity omits the interpreter and the index
def test_a_python_change_is_a_new_base_never_the_old_one(fake: Grid) -> None:
    (old,) = fake.venvs()
    old_identity = provenance.identity_digest(json.loads((old / provenance.MANIFEST).read_text()))
    fake.write_grid(python="3.12")
    proc = fake.run("--only", "keras-3.99.0", "--no-check")
    assert "Traceback" not in proc.stdout + proc.stderr
    record = json.loads((fake.out / "keras-3.99.0.json").read_text())
    if record["status"] == "broken":  # no Python 3.12 on this machine: said plainly
        assert "3.12" in record["why"]
    else:  # a base of its own, and the record says which Python ran
        assert record["python"].startswith("3.12.")
        assert record["base"]["identity"] != old_identity


def prune(fake: Grid) -> str:
    """``claims.matrix prune`` of the fake grid's folder (its output)."""
    return ok(
        subprocess.run(
            fake.command("prune", "--grid-dir", str(fake.grid_dir)),
            capture_output=True, text=True, env=fake.env, timeout=120,
        )
    )  # fmt: skip


def test_prune_removes_what_the_spec_no_longer_names_and_keeps_the_rest(fake: Grid) -> None:
    overlays = fake.grid_dir / "overlays"
    (old_overlay,) = overlays.glob("keras-3.98.0-*[0-9a-f]")
    (kept_overlay,) = overlays.glob("keras-3.99.0-*[0-9a-f]")
    (base,) = fake.venvs()
    assert "0 stale folders removed" in prune(fake)  # all current: nothing goes
    spec = fake.claims / "grid.toml"
    spec.write_text(spec.read_text().replace('"3.98.0", ', ""))
    out = prune(fake)
    assert f"removed {old_overlay}" in out and "1 stale folders removed" in out
    assert not old_overlay.exists()
    assert not old_overlay.with_name(old_overlay.name + ".lock").exists()
    assert kept_overlay.exists() and base.exists()
    # What is left is sound: the next run builds nothing.
    assert "installing 0 bases and overlays" in ok(fake.run("--no-check"))
    # A new interpreter names new folders: the old base and overlay are stale, unless a run
    # holds one (it is left, and said so).
    fake.write_grid(python="3.12")
    spec.write_text(spec.read_text().replace('"3.98.0", ', ""))
    with FileLock(str(base.with_name(base.name + ".lock"))):
        out = prune(fake)
    assert f"left {base}: another run holds it" in out and base.exists()
    assert not kept_overlay.exists()
    prune(fake)
    assert not base.exists() and not list(overlays.iterdir())


def test_uv_gets_exactly_pips_sources(tmp_path: Path) -> None:
    listed = {  # as `pip config list` prints it, read by pincite.index.pip_config
        "global.index-url": "http://127.0.0.1:9/simple",
        "global.extra-index-url": "file:///a/simple file:///b/simple",
        "global.find-links": "/opt/one",
        "install.find-links": "/opt/two",
        "global.constraint": "/etc/c.txt",
        "global.cert": "/etc/ssl/x.pem",
    }
    settings = builder.parse_pip_config(listed, {"PIP_FIND_LINKS": "/opt/env"})
    assert builder.uv_source_args(settings) == [
        "--index-url",
        "http://127.0.0.1:9/simple",
        "--extra-index-url",
        "file:///a/simple",
        "--extra-index-url",
        "file:///b/simple",
        "--find-links",
        "/opt/env",
        "--constraint",
        "/etc/c.txt",
        "--index-strategy",
        "unsafe-best-match",
    ]
    # A base's identity covers the sources and the constraints' contents.
    constraints = tmp_path / "c.txt"
    constraints.write_text("torch<=2.14.1\n")
    args = ["--constraint", str(constraints)]
    first = builder.sources_digest(args)
    constraints.write_text("torch<=2.13\n")
    assert builder.sources_digest(args) != first


def test_the_runner_asks_pip_itself(monkeypatch, tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nextra-index-url = file:///x/simple\nconstraint = /c.txt\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_FIND_LINKS", "/w")
    settings = builder.pip_settings()
    assert settings["extra-index-url"] == "file:///x/simple"
    assert settings["find-links"] == "/w"
    assert settings["constraint"] == "/c.txt"


# 7. one failed install aborts the rest
def test_a_failed_install_is_broken_and_the_rest_still_run(fake: Grid) -> None:
    fake.write_grid(
        extra_base='[base.missing]\nrequires = ["jax==0.0.2", "packaging"]\n',
        backends='{ "<3.99" = "missing", "" = "stand-in" }',
    )
    out = failed(fake.run("--no-check"))
    assert "keras-3.98.0             BROKEN" in out
    assert "uv failed" in out and "jax==0.0.2" in out
    assert "keras-3.99.0             agrees" in out
    timings = json.loads((fake.out / "timings.json").read_text())
    assert timings["statuses"] == {"agrees": 1, "disagrees": 0, "broken": 1}
    (line,) = timings["lines"].values()  # one line on one backend: both environments
    # The rows' two times are each rounded to 0.1 s; the line's from the unrounded ones.
    took = [r["prepare"] + r["run"] for r in timings["envs"].values()]
    assert line["environments"] == 2 and line["longest"] == pytest.approx(max(took), abs=0.15)
    assert line["seconds"] == pytest.approx(sum(took), abs=0.25)
    assert f"{line['environments']:4} environments" in out
    assert not list(fake.grid_dir.glob("*/*.tmp"))  # the half-built base is gone


def test_only_a_base_that_asks_shares_a_compile_cache_and_each_run_starts_it_empty(
    fake: Grid,
) -> None:
    fake.write_grid(
        extra_base='[base.cached]\nrequires = ["jax==0.0.1", "packaging"]\ncompile-cache = true\n',
        backends='{ "<3.99" = "cached", "" = "stand-in" }',
    )
    stale = fake.out / matrix.COMPILE_CACHE / "cached" / "from-an-earlier-run"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an executable compiled by another run")
    ok(fake.run("--no-check"))
    cached = json.loads((fake.out / "keras-3.98.0.json").read_text())
    plain = json.loads((fake.out / "keras-3.99.0.json").read_text())
    assert (cached["compile_cache"], plain["compile_cache"]) == (True, False)
    assert not stale.exists()
    variables = matrix.compile_cache(fake.out, "cached")
    assert Path(variables["JAX_COMPILATION_CACHE_DIR"]).is_relative_to(fake.out.resolve())
    assert all(sandbox.KEPT.match(name) for name in variables)  # they reach a sandboxed run


def test_compile_cache_must_be_a_boolean(fake: Grid) -> None:
    fake.write_grid(extra_base='[base.cached]\nrequires = ["jax==0.0.1"]\ncompile-cache = "yes"\n')
    out = failed(fake.run())
    assert (
        f"{fake.claims / 'grid.toml'}: [base.cached]: 'compile-cache' must be true or false" in out
    )


def test_a_killed_runs_leftovers_are_removed(fake: Grid) -> None:
    leftover = fake.grid_dir / "overlays" / "keras-3.97.0-0123456789ab.tmp"
    (leftover / "keras").mkdir(parents=True)
    out = ok(fake.run("--only", "keras-3.99.0"))
    assert "a build a killed run left unfinished" in out
    assert not leftover.exists()


# 8. bad shapes crash the build
def _edited(data: dict, *path: str) -> dict:
    """``data`` with the field at ``path`` removed."""
    here = data
    for key in path[:-1]:
        here = here[key]
    del here[path[-1]]
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: [], "top level: [] is not of type 'object'"),
        (lambda d: _edited(d, "envs", "keras-3.99.0", "versions"), "'versions' is a required"),
        (
            lambda d: _edited(d, "envs", "keras-3.99.0", "results", "reported-loss", "variants"),
            "envs.keras-3.99.0.results.reported-loss: 'variants' is a required property",
        ),
        (lambda d: {**d, "envs": []}, "envs: [] is not of type 'object'"),
    ],
)
def test_results_of_the_wrong_shape_get_one_located_message(fake: Grid, edit, message) -> None:
    fake.results.write_text(json.dumps(edit(json.loads(fake.results.read_text()))))
    with pytest.raises(catalog.CatalogError) as info:
        fake.load_results()
    assert message in str(info.value)
    assert str(info.value).startswith(str(fake.results))


def test_a_missing_or_truncated_file_names_itself(fake: Grid) -> None:
    record = fake.out / "keras-3.99.0.json"
    record.write_text(record.read_text()[:40])
    assert "keras-3.99.0.json: unreadable" in failed(fake.merge())
    fake.results.unlink()
    with pytest.raises(catalog.CatalogError, match="no grid results; run `nox -s matrix`"):
        fake.load_results()


# 9. smaller
def test_selection_flags_combine_and_refuse_nonsense(fake: Grid) -> None:
    cat = catalog.load_catalog_in(fake.claims)
    args = argparse.Namespace(
        only=["keras-3.98.0"], on_host=False, newest=True, shard=None, last_patches=True
    )
    assert [e.id for e in matrix.select(cat, args)] == ["keras-3.98.0"]  # --newest within --only
    args = argparse.Namespace(
        only=None, on_host=False, newest=False, shard="2/2", last_patches=False
    )
    with pytest.raises(matrix.GridError, match="shard 2/2 is empty: the selection has 1 bases"):
        matrix.select(cat, args)
    assert "expected a whole number of at least 1, got '0'" in failed(fake.run("--jobs", "0"))


def test_on_host_leaves_out_every_environment_of_a_root_filesystem() -> None:
    cat = catalog.load_catalog_in(catalog.HERE)
    args = argparse.Namespace(only=None, on_host=True, newest=False, shard=None, last_patches=True)
    kept = {e.id for e in matrix.select(cat, args)}
    last = {e.id for e in cat.grid.last_patches(list(cat.envs.values()))}
    in_roots = {e.id for e in cat.envs.values() if cat.grid.bases[e.base].system}
    assert kept and in_roots & last  # both kinds are on the grid
    assert kept == last - in_roots
    assert {"tf.keras-2.11.1", "keras2-2.3.1-theano", "keras2-2.3.1-tensorflow"} <= in_roots
    assert "tf.keras-2.12.1" in kept


def test_last_patches_keep_the_newest_patch_of_each_minor_per_line_and_backend() -> None:
    spec = load_grid(releases={"keras": ["3.0.4", "3.0.5", "3.1.0", "3.1.1"], "tf_keras": []})
    kept = {e.id for e in spec.last_patches()}
    assert {"keras-3.0.5-jax", "keras-3.0.5-torch", "keras-3.1.1-tensorflow"} <= kept
    assert not {e for e in kept if e.startswith(("keras-3.0.4-", "keras-3.1.0-"))}
    assert {"tf.keras-2.5.3", "tf.keras-2.6.5"} <= kept and "tf.keras-2.5.2" not in kept
    assert len(kept) == len(spec.envs) - 3 * 2 - 3  # 3.0.4, 3.1.0 on 3 backends; 2.5.0-2.5.2


def test_an_error_in_the_grid_names_the_grid(fake: Grid) -> None:
    (fake.claims / "grid.toml").write_text("[base.x]\nrequires = []\n")
    out = failed(fake.run())
    assert f"{fake.claims / 'grid.toml'}: [base.x]: 'requires' is empty" in out
    assert "catalog.toml" not in out


def test_merge_leaves_no_temporary_file_beside_the_results(fake: Grid) -> None:
    ok(fake.merge())
    assert sorted(p.name for p in fake.claims.iterdir()) == [
        "catalog.toml",
        "grid.toml",
        "proofs.py",
        "results.json",
        "run.py",
    ]
