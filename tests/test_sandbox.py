"""Root filesystems of another era: the mirror from apt's configuration, commands run inside
with bubblewrap, no mount left behind, and nothing deleted through a mount.

The end-to-end test runs the fake grid of `test_grid_runs` over a base that lives in a
stand-in root filesystem (empty, borrowing this interpreter's folders read-only), so neither
debootstrap nor the network is needed; the Debian root itself is built by the grid.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_grid_runs import Grid, ok

from claims import builder, grid, provenance, sandbox

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None or os.geteuid() != 0, reason="needs bubblewrap, as root"
)


def mountinfo() -> list[str]:
    """This namespace's mount points."""
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


def test_the_mirror_comes_from_apt_in_either_format(tmp_path: Path) -> None:
    (tmp_path / "a.sources").write_text(
        "Types: deb\n# URIs: http://not.this/\nURIs: http://one.test/debian\n"
    )
    assert sandbox.apt_mirror([tmp_path]) == "http://one.test/debian"
    listed = tmp_path / "sources.list"
    listed.write_text("# comment\ndeb [arch=amd64] http://two.test/debian bullseye main\n")
    assert sandbox.apt_mirror([listed]) == "http://two.test/debian"
    with pytest.raises(sandbox.SandboxError, match="no Debian mirror"):
        sandbox.apt_mirror([tmp_path / "absent"])


def test_a_sandboxed_command_keeps_only_what_a_run_needs() -> None:
    kept = sandbox.kept_environment(
        {"PYTHONPATH": "/r", "PIP_INDEX_URL": "x", "UV_INDEX": "y", "TF_CPP_MIN_LOG_LEVEL": "3",
         "TF_CLI_CONFIG_FILE": "z", "KERAS_BACKEND": "tensorflow"}
    )  # fmt: skip
    assert kept == {"PYTHONPATH": "/r", "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}


def test_local_sources_are_the_paths_in_uv_arguments(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    args = ["--extra-index-url", f"file://{tmp_path}", "--find-links", str(wheels)]
    args += ["--index-url", "https://index.invalid/simple", "--constraint", "/absent.txt"]
    assert sandbox.local_sources(args) == [tmp_path, wheels]
    # A PEP 503 index links to its files beside it: the folder that holds both is bound.
    (tmp_path / "mirror" / "simple").mkdir(parents=True)
    index = ["--extra-index-url", f"file://{tmp_path}/mirror/simple"]
    assert sandbox.local_sources(index) == [tmp_path / "mirror"]


def test_a_system_must_be_complete_and_known(tmp_path: Path) -> None:
    spec = tmp_path / "grid.toml"
    body = '[line.keras]\nlabel = "K"\ndist = "keras"\nreleases = ["3.1.0"]\n'
    body += '[line.keras.backends]\njax = { "" = "b" }\n'
    spec.write_text('[base.b]\nrequires = ["jax"]\nsystem = "old"\n' + body)
    with pytest.raises(grid.GridError, match=r"\[base.b\]: unknown system 'old'"):
        grid.load_grid(spec)
    spec.write_text('[system.old]\nsuite = "bullseye"\npackages = []\n' + body)
    with pytest.raises(grid.GridError, match=r"\[system.old\]: field 'python' is missing"):
        grid.load_grid(spec)
    spec.write_text('[system.old]\nsuite = "s"\npackages = []\npython = "python"\n' + body)
    with pytest.raises(grid.GridError, match=r"'python' must be a path like /usr/bin/python3\.9"):
        grid.load_grid(spec)
    spec.write_text(
        '[system.old]\nsuite = "s"\npackages = []\npython = "/usr/bin/python3.9"\n'
        '[base.b]\nrequires = ["jax"]\nsystem = "old"\nexclude-newer = "2022-01-01"\n' + body
    )
    loaded = grid.load_grid(spec)
    assert loaded.python_of("b") == "3.9" and loaded.bases["b"].exclude_newer == "2022-01-01"


@needs_bwrap
def test_removing_a_folder_never_deletes_through_a_mount(tmp_path: Path) -> None:
    """A root whose ``dev`` has the host's ``/dev`` (here: a stand-in) mounted on it: the
    removal refuses and the mounted folder keeps every file."""
    host_dev = tmp_path / "host-dev"
    host_dev.mkdir()
    (host_dev / "null").write_text("precious")
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    script = (
        "import subprocess, sys\n"
        f"subprocess.run(['mount', '--bind', {str(host_dev)!r}, {str(root / 'dev')!r}],"
        " check=True)\n"
        "from claims import sandbox\n"
        "try:\n"
        f"    sandbox.remove_tree(__import__('pathlib').Path({str(root)!r}))\n"
        "except sandbox.SandboxError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", script],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert "refused:" in done.stdout and "1 mounts inside it" in done.stdout, done
    assert (host_dev / "null").read_text() == "precious"
    sandbox.remove_tree(root)  # outside that namespace nothing is mounted: it goes
    assert not root.exists() and (host_dev / "null").exists()


def stand_in_root(fake: Grid) -> tuple[str, Path]:
    """A root filesystem for the fake grid: empty folders, the interpreter borrowed read-only
    (as if debootstrap had made it), recorded under the identity the builder expects."""
    python = os.path.realpath(sys._base_executable)  # e.g. .../bin/python3.11
    spec = fake.claims / "grid.toml"
    text = spec.read_text()
    text = (
        '[system.stand-in-root]\nsuite = "bullseye"\npackages = ["python3"]\n'
        f'python = "{python}"\n\n'
        + text.replace(
            '[base.stand-in]\nrequires = ["jax==0.0.1", "packaging"]',
            '[base.stand-in]\nrequires = ["jax==0.0.1", "packaging"]\nsystem = "stand-in-root"',
        )
    )
    spec.write_text(text)
    made = builder.Builder(grid.load_grid(spec), fake.grid_dir, sources=[], say=lambda _: None)
    root, ident = made.system_folder("stand-in-root")
    for name in ("usr", "etc", "bin", "lib", "lib64", "root"):
        (root / name).mkdir(parents=True, exist_ok=True)
    (root / provenance.MANIFEST).write_text(json.dumps(ident, indent=1, sort_keys=True) + "\n")
    return os.pathsep.join(["/usr", "/lib", "/lib64", "/etc", sys.base_prefix]), root


@needs_bwrap
def test_a_base_in_a_root_filesystem_runs_the_claims_and_leaves_nothing_mounted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Grid(tmp_path)
    binds, root = stand_in_root(fake)
    before = mountinfo()
    env = {sandbox.HOST_BINDS: binds}
    monkeypatch.setenv(sandbox.HOST_BINDS, binds)
    out = ok(fake.run("--no-check", env=env))
    assert "2 environments" in out
    record = json.loads((fake.out / "keras-3.99.0.json").read_text())
    assert record["status"] == "agrees" and record["base"]["id"] == "stand-in"
    assert record["versions"]["keras"] == "3.99.0"
    # Built and run inside: the base's manifest names the root it lives in.
    (venv,) = fake.venvs()
    manifest = json.loads((venv / provenance.MANIFEST).read_text())
    assert manifest["system"]["id"] == "stand-in-root"
    assert record["base"]["identity"] == provenance.identity_digest(manifest)
    assert mountinfo() == before  # every mount was the sandbox's own, and went with it
    # The host's variables stayed out: pip's index settings are not seen inside.
    probe = [str(venv / "bin" / "python"), "-c", "import os; print(sorted(os.environ))"]
    argv = sandbox.command(root, probe, readable=(venv,), env={"PIP_NO_INDEX": "1"})
    seen = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert "PIP_NO_INDEX" in seen.stdout  # what the caller passes on is set...
    argv = sandbox.command(root, probe, readable=(venv,), env=sandbox.kept_environment(os.environ))
    seen = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert "PIP_FIND_LINKS" not in seen.stdout  # ...the host's settings are not
    # A second run finds base and root sound and builds nothing.
    again = ok(fake.run("--no-check", env=env))
    assert "0 s wall installing 0 bases and overlays" in again
    sandbox.remove_tree(fake.grid_dir)
    assert not fake.grid_dir.exists()


def test_a_relative_grid_folder_never_lands_inside_a_root_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands inside a root filesystem resolve a relative path in there: the builder keeps
    its folders absolute, so a base built from `build/grid` lands in the repository's."""
    fake = Grid(tmp_path)
    monkeypatch.chdir(fake.grid_dir.parent)
    made = builder.Builder(
        grid.load_grid(fake.claims / "grid.toml"),
        Path(fake.grid_dir.name),
        sources=[],
        say=lambda _: None,
    )
    assert made.root == fake.grid_dir.resolve() and made.logs.is_absolute()
    folder, _ = made.base_folder("stand-in")
    assert folder.is_absolute() and folder.is_relative_to(fake.grid_dir.resolve())


def test_a_system_base_links_its_copies_to_uvs_cache_and_nothing_else(tmp_path: Path) -> None:
    """Only byte-identical files of the same wheel, with the same mode, become links; the
    cache's files keep their bytes, and a file that differs stays the base's own."""
    wheel = tmp_path / "cache" / "archive-v0" / "abc"
    site = tmp_path / "base" / "lib" / "python3.9" / "site-packages"
    files = {"pkg/same.py": b"x = 1\n", "pkg/edited.py": b"y = 2\n", "pkg/mode.py": b"z = 3\n"}
    for root in (wheel, site):
        (root / "pkg").mkdir(parents=True)
        (root / "pkg-1.0.dist-info").mkdir()
        for rel, data in files.items():
            (root / rel).write_bytes(data)
        (root / "pkg-1.0.dist-info" / "RECORD").write_text(
            "".join(f"{rel},,\n" for rel in files) + "../../../bin/tool,,\n"
        )
    (site / "pkg" / "edited.py").write_bytes(b"y = 3\n")  # the base's own change
    (site / "pkg" / "mode.py").chmod(0o755)
    (site / "pkg" / "local.py").write_bytes(b"x = 1\n")  # not in the RECORD

    assert builder.link_to_cache(site, tmp_path / "cache") == (1, len(files["pkg/same.py"]))
    assert (site / "pkg" / "same.py").samefile(wheel / "pkg" / "same.py")
    for rel in ("pkg/edited.py", "pkg/mode.py", "pkg/local.py"):
        assert (site / rel).stat().st_nlink == 1, rel
    assert (wheel / "pkg" / "edited.py").read_bytes() == b"y = 2\n"
    assert (wheel / "pkg" / "mode.py").stat().st_mode & 0o777 != 0o755
    assert not list(site.rglob("*.link"))
    assert builder.link_to_cache(site, tmp_path / "cache") == (0, 0)  # once is enough
