"""Bases and overlays of the release grid: built once, atomically, verified on every use.

A *base* is a virtualenv holding a backend; an *overlay* a folder holding one pure-Python
Keras release. Each lives under a name that carries its identity (requirements, Python,
platform, index configuration), so a changed spec is built anew, never patched. Building
happens in ``<name>.tmp`` under an inter-process lock, is verified, then renamed into place;
every run verifies what it uses (the interpreter runs, the pinned distributions are installed
at their versions, every installed file matches its RECORD hash) and rebuilds what is broken.
A file is hashed again only when its inode's status changed since its hash last matched (see
`VERIFIED`): a warm run then reads 30 GB of bases no more.
"""

from __future__ import annotations

import base64
import csv
import filecmp
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from claims import sandbox
from claims.grid import Grid
from claims.provenance import MANIFEST, identity_digest
from pincite.atomic import write_atomic

#: pip's settings that choose where packages come from, and how uv is told each.
PIP_SOURCES = {
    "no-index": "--no-index",
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}
#: What the interpreter of a base reports about itself (run inside it: stdlib only).
#: The last virtualenv series that makes Python 2.7 environments (20.22 dropped 2.7).
VIRTUALENV_FOR_PY2 = "virtualenv<20.22"
#: What a Python 2.7 base is asked (2.7 has no importlib.metadata).
PROBE_PY2 = """
import json, platform, sysconfig, pkg_resources
print(json.dumps({
    "python": platform.python_version(),
    "purelib": sysconfig.get_paths()["purelib"],
    "dists": dict((d.project_name, d.version) for d in pkg_resources.working_set),
}))
"""
PROBE = """
import importlib.metadata as m, json, platform, sysconfig
print(json.dumps({
    "python": platform.python_version(),
    "purelib": sysconfig.get_paths()["purelib"],
    "dists": {d.metadata["Name"]: d.version for d in m.distributions()},
}))
"""

#: Kept in a verified folder: each installed file's inode status when its hash last matched.
#: Any write, truncation, chmod or new hard link changes a file's ctime, which no user-space
#: call can set back, so an unchanged status means unchanged bytes (git's index does the same).
VERIFIED = "verified-files.json"
#: A status younger than this is not kept: a write in the same clock tick as the hash keeps
#: mtime and ctime (timestamps are coarse), so such a file is hashed again on the next run.
SETTLED_NS = 2_000_000_000


class BuildError(Exception):
    """A base or overlay could not be built or does not verify (the reason, uv's words)."""


def parse_pip_config(listed: dict[str, str], environ: dict[str, str]) -> dict[str, str]:
    """pip's effective source settings from ``pip config list`` (as ``pincite.index.pip_config``
    reads it) and ``PIP_*`` variables.

    pip lets an environment variable override the install section, which overrides global.
    """
    rank = {"global": 0, "install": 1, ":env:": 2}
    best: dict[str, tuple[int, str]] = {}
    for name, value in listed.items():
        section, _, key = name.partition(".")
        if key in PIP_SOURCES and section in rank and rank[section] >= best.get(key, (-1, ""))[0]:
            best[key] = (rank[section], value)
    for key in PIP_SOURCES:
        variable = environ.get("PIP_" + key.upper().replace("-", "_"))
        if variable is not None:
            best[key] = (3, variable)
    return {key: value for key, (_, value) in best.items()}


def pip_settings() -> dict[str, str]:
    """pip's configured index, extra indexes, find-links and constraints (asked of pip itself)."""
    from pincite.errors import FetchError
    from pincite.index import pip_config

    try:
        listed = pip_config()
    except FetchError:  # no pip to ask: the variables alone
        listed = {}
    return parse_pip_config(listed, dict(os.environ))


def pip_source_args(uv_args: list[str]) -> list[str]:
    """pip's arguments for the same sources as uv's (pip has no ``--index-strategy``: it
    always takes the best match across its indexes)."""
    out, skip = [], False
    for arg in uv_args:
        if skip:
            skip = False
        elif arg == "--index-strategy":
            skip = True
        else:
            out.append(arg)
    return out


def uv_source_args(settings: dict[str, str]) -> list[str]:
    """uv's arguments for exactly pip's sources (no host name in the repository)."""
    args: list[str] = []
    if settings.get("no-index", "").lower() in {"1", "true", "yes", "on"}:
        args.append("--no-index")
    for key, flag in PIP_SOURCES.items():
        if key == "no-index":
            continue
        values = settings.get(key, "").split()
        if key == "index-url":
            values = values[:1]
        for value in values:
            args += [flag, value]
    if settings.get("extra-index-url"):
        # pip takes the best match across all its indexes; uv, by default, the first index
        # that has a package at all, which would pin a partial mirror's few releases.
        args += ["--index-strategy", "unsafe-best-match"]
    return args


def sources_digest(args: list[str]) -> str:
    """What the sources are: uv's arguments and the contents of every constraints file."""
    digest = hashlib.sha256("\0".join(args).encode())
    for flag, value in itertools.pairwise(args):
        if flag == "--constraint":
            try:
                digest.update(Path(value).read_bytes())
            except OSError:
                digest.update(b"(unreadable)")
    return digest.hexdigest()


def uv_binary() -> str:
    """The uv executable: the one installed beside this Python, else the one on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except ImportError:
        found = shutil.which("uv")
        if not found:
            raise SystemExit("the matrix needs uv: `python -m pip install uv`") from None
        return found


def record_hashes(dist_info: Path) -> dict[str, set[str]]:
    """Each hashed file a distribution's RECORD lists, with its ``algorithm=digest``."""
    rows = csv.reader((dist_info / "RECORD").read_text(encoding="utf-8").splitlines())
    out: dict[str, set[str]] = {}
    for row in rows:
        # The RECORD itself, and scripts rewritten on install (outside the tree), carry none.
        if len(row) >= 2 and row[1] and not row[0].startswith(".."):
            out.setdefault(row[0], set()).add(row[1])
    return out


def file_status(path: Path) -> list[int]:
    """What changes whenever a file's bytes can have: its inode, size, mtime and ctime."""
    st = path.stat()
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def read_verified(stamp: Path) -> dict[str, list[int]]:
    """The statuses a folder's last verification kept; none where unreadable (hash them all)."""
    try:
        kept = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


def tree_problem(
    site: Path,
    verified: dict[str, list[int]] | None = None,
    statuses: dict[str, list[int]] | None = None,
) -> str | None:
    """The first installed file under ``site`` that is missing or matches no RECORD's hash.

    Two distributions may install one file (``tensorflow`` and ``tensorflow-cpu`` both own
    ``tensorflow/``): the file must match the hash one of them recorded. A file whose status
    is the one ``verified`` kept for it is not read again; ``statuses`` receives the status of
    every file that matched, taken before it was read.
    """
    verified = verified or {}
    settled = time.time_ns() - SETTLED_NS
    wanted: dict[str, set[str]] = {}
    for dist_info in sorted(site.glob("*.dist-info")):
        try:
            hashes = record_hashes(dist_info)
        except OSError as exc:
            return f"{dist_info.name}: no RECORD ({exc.strerror})"
        for path, found in hashes.items():
            wanted.setdefault(path, set()).update(found)
    for rel, expected in sorted(wanted.items()):
        if rel.endswith(".pyc"):
            # Bytecode is compiled at install from the verified sources, so a wheel's own
            # `.pyc` (numpy ships one) is rewritten and differs from its RECORD by design.
            continue
        try:
            status = file_status(site / rel)
            unchanged = verified.get(rel) == status
            if not unchanged and (problem := _hash_problem(site / rel, rel, expected)):
                return problem
        except OSError:
            return f"{rel} is missing"
        if statuses is not None and status[4] < settled:
            statuses[rel] = status
    return None


def _hash_problem(path: Path, rel: str, expected: set[str]) -> str | None:
    """Why a file's bytes match none of the ``algorithm=digest`` its RECORDs give; None if one."""
    with path.open("rb") as fh:
        data = fh.read()
    seen = set()
    for algorithm in {e.partition("=")[0] for e in expected}:
        try:
            digest = hashlib.new(algorithm, data).digest()
        except ValueError:
            return f"{rel}: unknown hash {algorithm!r} in a RECORD"
        seen.add(f"{algorithm}={base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}")
    return None if seen & expected else f"{rel} differs from its RECORD hash"


class Builder:
    """Creates, verifies and rebuilds bases and overlays, safely across threads and processes."""

    def __init__(
        self,
        grid: Grid,
        root: Path,
        *,
        sources: list[str] | None = None,
        say: Callable[[str], None] = print,
        logs: Path | None = None,
    ) -> None:
        # Absolute: commands run inside a root filesystem resolve a relative path in there.
        self.grid, self.root, self.say = grid, root.resolve(), say
        self.logs = logs or self.root / "logs"
        self.uv = uv_binary()
        self.sources = uv_source_args(pip_settings()) if sources is None else sources
        self.platform = sysconfig.get_platform()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._ready: dict[str, Path | BuildError] = {}
        self.seconds: dict[str, float] = {}
        self._mirror: str | None = None
        self.sweep()

    # -- identity ---------------------------------------------------------------------------

    def identity(
        self, kind: str, requires: tuple[str, ...], python: str | None = None
    ) -> dict[str, Any]:
        """Everything a base or overlay is made from; its hash names the folder."""
        return {
            "kind": kind,
            "requires": list(requires),
            "python": python or self.grid.python,
            "platform": self.platform,
            "sources": sources_digest(self.sources),
            # Bytecode is compiled at build: where PYTHONDONTWRITEBYTECODE is set (CI, this
            # machine), every run would otherwise compile ~2,400 modules again (9 s of 45).
            "bytecode": "compiled for the final path",
        }

    def base_folder(self, base_id: str) -> tuple[Path, dict[str, Any]]:
        """Where a base lives, and its identity."""
        base = self.grid.bases[base_id]
        requires = self.grid.base_requires(base_id)
        ident = {"id": base_id, **self.identity("base", requires, self.grid.python_of(base_id))}
        if base.system:
            # The root filesystem it lives in, and the date its dependencies are cut at.
            ident["system"] = self.system_folder(base.system)[1]
            ident["exclude-newer"] = base.exclude_newer
        return self.root / "venvs" / f"{base_id}-{identity_digest(ident)[:12]}", ident

    def system_folder(self, system_id: str) -> tuple[Path, dict[str, Any]]:
        """Where a root filesystem lives, and its identity (suite, packages, archive)."""
        system = self.grid.systems[system_id]
        ident = {
            "kind": "system",
            "id": system_id,
            "suite": system.suite,
            "packages": list(system.packages),
            "python": system.python,
            "platform": self.platform,
            "archive": hashlib.sha256(self.mirror().encode()).hexdigest(),
        }
        return self.root / "systems" / f"{system_id}-{identity_digest(ident)[:12]}", ident

    def mirror(self) -> str:
        """The Debian archive, from apt's configuration (asked once)."""
        if self._mirror is None:
            try:
                self._mirror = sandbox.apt_mirror()
            except sandbox.SandboxError:
                self._mirror = ""  # no system base can be built; said when one is needed
        return self._mirror

    def overlay_folder(self, requirement: str) -> tuple[Path, dict[str, Any]]:
        """Where an overlay lives, and its identity."""
        ident = self.identity("overlay", (requirement,))
        name = requirement.replace("==", "-")
        return self.root / "overlays" / f"{name}-{identity_digest(ident)[:12]}", ident

    # -- public -----------------------------------------------------------------------------

    def base_python(self, base_id: str) -> Path:
        """The verified interpreter of a base, building or rebuilding it first if needed."""
        system = self.grid.bases[base_id].system
        if system:
            self.system_root(system)
        folder, ident = self.base_folder(base_id)
        self._prepare(f"base {base_id}", folder, ident, self._build_base, self._verify_base)
        return folder / "bin" / "python"

    def system_root(self, system_id: str) -> Path:
        """A verified root filesystem, made with debootstrap first if needed."""
        folder, ident = self.system_folder(system_id)
        self._prepare(f"system {system_id}", folder, ident, self._build_root, self._verify_root)
        return folder

    def command(
        self,
        base_id: str,
        argv: list[str],
        *,
        writable: tuple[Path, ...] = (),
        readable: tuple[Path, ...] = (),
        env: dict[str, str] | None = None,
    ) -> tuple[list[str], dict[str, str] | None]:
        """How to run ``argv`` with a base's interpreter: as it is on the host, or inside the
        base's root filesystem (the base, ``readable`` and ``writable`` bound at their paths,
        and of ``env`` only what a run needs). Returns the command and its environment."""
        system = self.grid.bases[base_id].system
        if not system:
            return argv, env
        folder = self.base_folder(base_id)[0]
        wrapped = sandbox.command(
            self.system_folder(system)[0],
            argv,
            writable=writable,
            readable=((folder,) if folder.exists() else ()) + tuple(readable),
            env=sandbox.kept_environment(env if env is not None else dict(os.environ)),
        )
        return wrapped, None

    def overlay(self, requirement: str) -> Path:
        """A verified folder holding one release, installed without dependencies."""
        folder, ident = self.overlay_folder(requirement)
        self._prepare(
            f"overlay {requirement}", folder, ident, self._build_overlay, self._verify_overlay
        )
        return folder

    def base_identity(self, base_id: str) -> str:
        """The full identity hash of a base (recorded with every result run over it)."""
        return identity_digest(self.base_folder(base_id)[1])

    def sweep(self) -> None:
        """Remove temporary folders that killed runs left behind (nobody holds their lock)."""
        for tmp in sorted(self.root.glob("*/*.tmp")):
            target = tmp.name.removesuffix(".tmp").removesuffix(".old")
            lock = FileLock(str(tmp.with_name(target + ".lock")))
            try:
                with lock.acquire(timeout=0):
                    _remove(tmp)
                    self.say(f"removed {tmp}: a build a killed run left unfinished")
            except Timeout:
                pass  # another run is building it right now

    def stale(self) -> list[Path]:
        """Bases, root filesystems and overlays the spec no longer names (each folder once)."""
        current = {self.base_folder(b)[0] for b in self.grid.bases}
        current |= {self.overlay_folder(e.overlay)[0] for e in self.grid.envs.values() if e.overlay}
        # Without the archive's name (apt has none) a current root filesystem, and a base in
        # one, cannot be told from a stale one: those are left alone.
        known = bool(self.mirror())
        if known:
            current |= {self.system_folder(s)[0] for s in self.grid.systems}
        found = []
        for kind in ("venvs", "overlays", "systems") if known else ("venvs", "overlays"):
            for folder in sorted((self.root / kind).glob("*")):
                if not folder.is_dir() or folder.is_symlink() or folder.name.endswith(".tmp"):
                    continue  # a lock, or a build `sweep` owns
                if folder not in current and (known or not self._in_system(folder)):
                    found.append(folder)
        return found

    def _in_system(self, folder: Path) -> bool:
        """Whether a base folder belongs to a base that lives in a root filesystem."""
        return any(
            self.grid.bases[b].system and folder.name.startswith(b + "-") for b in self.grid.bases
        )

    def prune(self) -> list[Path]:
        """Remove what `stale` finds, each under its lock (one being built is left alone)."""
        removed = []
        for folder in self.stale():
            try:
                with FileLock(str(folder.with_name(folder.name + ".lock"))).acquire(timeout=0):
                    sandbox.remove_tree(folder)
            except Timeout:
                self.say(f"left {folder}: another run holds it")
                continue
            folder.with_name(folder.name + ".lock").unlink(missing_ok=True)
            removed.append(folder)
        # Locks of folders that are gone (a failed first build), unless a run holds them.
        for lock in sorted(self.root.glob("*/*.lock")):
            if not lock.with_suffix("").exists() and not lock.with_suffix(".tmp").exists():
                try:
                    with FileLock(str(lock)).acquire(timeout=0):
                        lock.unlink(missing_ok=True)
                except Timeout:
                    pass
        return removed

    # -- one place for both kinds -----------------------------------------------------------

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _prepare(
        self,
        what: str,
        folder: Path,
        ident: dict[str, Any],
        build: Callable[[Path, dict[str, Any], list[str]], None],
        verify: Callable[[Path, dict[str, Any]], str | None],
    ) -> None:
        """Verify ``folder``; build it (atomically, under an inter-process lock) unless sound."""
        key = str(folder)
        with self._lock(key):
            known = self._ready.get(key)
            if isinstance(known, BuildError):
                raise known  # failed earlier in this run: do not try a second time
            if known is not None:
                return
            folder.parent.mkdir(parents=True, exist_ok=True)
            # Two runs at once: the second waits here until the first has renamed its build.
            with FileLock(str(folder.with_name(folder.name + ".lock"))):
                try:
                    self._prepare_locked(what, folder, ident, build, verify)
                except BuildError as exc:
                    self._ready[key] = exc
                    raise
            self._ready[key] = folder

    def _prepare_locked(self, what, folder, ident, build, verify) -> None:
        # uv links installed files to its cache: damage to one may be damage to the cache, so
        # a rebuild after damage, or after a build that does not verify, bypasses the cache.
        attempts = [False, True]
        if folder.exists():
            problem = verify(folder, ident)
            if problem is None:
                return
            self.say(f"{what} in {folder} is broken ({problem}): rebuilding it")
            attempts = [True]
        began = time.perf_counter()
        tmp = folder.with_name(folder.name + ".tmp")
        try:
            for no_cache in attempts:
                _remove(tmp)
                build(tmp, ident, ["--no-cache"] if no_cache else [])
                (tmp / MANIFEST).write_text(json.dumps(ident, indent=1, sort_keys=True) + "\n")
                problem = verify(tmp, ident)
                if problem is None:
                    break
                if no_cache:
                    raise BuildError(f"{what}: a fresh build does not verify: {problem}")
                self.say(
                    f"{what}: the build from uv's cache does not verify ({problem}): "
                    "building it again without the cache"
                )
            old = folder.with_name(folder.name + ".old.tmp")
            _remove(old)
            if folder.exists():
                folder.rename(old)
            tmp.rename(folder)  # atomic: the folder is complete or absent
            _remove(old)
        except BaseException:
            _remove(tmp)
            raise
        self.seconds[what] = time.perf_counter() - began

    # -- bases ------------------------------------------------------------------------------

    def _build_base(self, tmp: Path, ident: dict[str, Any], extra: list[str]) -> None:
        name = f"base-{ident['id']}"
        if self.grid.bases[ident["id"]].system:
            self._build_system_base(name, tmp, ident, extra)
            return
        # --relocatable: the venv is built under a temporary name and renamed when verified.
        self._uv(name, "venv", "--quiet", "--relocatable", "--python", self.grid.python, str(tmp))
        requires = [str(r) for r in ident["requires"]]
        self._uv(
            name, "pip", "install", "--python", str(tmp / "bin" / "python"), *requires,
            *self.sources, *extra,
        )  # fmt: skip
        (site,) = tmp.glob("lib/python*/site-packages")  # not lib64, a link to lib
        self._compile(name, tmp / "bin" / "python", site)

    def _build_system_base(self, name: str, tmp: Path, ident: dict[str, Any], extra) -> None:
        """A base inside a root filesystem: the host's uv, run in there, with its cache and
        pip's sources bound at their paths, so nothing is downloaded twice."""
        base = self.grid.bases[ident["id"]]
        system = base.system
        assert system is not None  # only bases that name a system come here
        root = self.system_folder(system)[0]
        python = base.interpreter or self.grid.systems[system].python
        if self.grid.python_of(base.id).startswith("2."):
            self._build_py2_base(name, tmp, ident, root, python)
            return
        tmp.mkdir(parents=True)
        cache = Path(os.environ.get("UV_CACHE_DIR") or _uv_cache_dir(self.uv))
        cache.mkdir(parents=True, exist_ok=True)
        readable = (Path(self.uv), *sandbox.local_sources(self.sources))
        env = {"UV_CACHE_DIR": str(cache), "UV_PYTHON_DOWNLOADS": "never"}

        def inside(*argv: str) -> list[str]:
            return sandbox.command(
                root, list(argv), writable=(tmp, cache), readable=readable, env=env, network=True
            )

        self._run(name, inside(self.uv, "venv", "--quiet", "--python", python, str(tmp)))
        cutoff = ["--exclude-newer", base.exclude_newer] if base.exclude_newer else []
        requires = [str(r) for r in ident["requires"]]
        self._run(
            name,
            inside(self.uv, "pip", "install", "--python", str(tmp / "bin" / "python"),
                   *requires, *cutoff, *self.sources, *extra),
        )  # fmt: skip
        (site,) = tmp.glob("lib/python*/site-packages")
        # uv cannot hardlink from its cache across the sandbox's two bind mounts, so it copied:
        # out here, where both are one file system, the copies become links again.
        linked = link_to_cache(site, cache)
        with (self.logs / f"{name}.log").open("a") as sink:
            sink.write(f"linked {linked[0]} files ({linked[1] / 1e9:.2f} GB) to uv's cache\n")
        self._compile(
            name, tmp / "bin" / "python", site, lambda a: sandbox.command(root, a, writable=(tmp,))
        )

    def _build_py2_base(
        self, name: str, tmp: Path, ident: dict[str, Any], root: Path, python: str
    ) -> None:
        """A Python 2.7 base inside a root filesystem, which uv cannot make: virtualenv (its
        last series that makes 2.7 environments, run by the root's Python 3) seeds pip 20.3,
        and that pip installs the requirements from pip's own sources, with a cache of its
        own beside the grid's bases. The requirements pin what 2.7 still installs."""
        # Inside the build's folder, so that a killed build's `sweep` removes it too.
        tool = tmp / ".virtualenv-tool"
        cache = self.root / "pip-cache"
        cache.mkdir(parents=True, exist_ok=True)
        readable = tuple(sandbox.local_sources(self.sources))
        env = {"UV_CACHE_DIR": str(Path(os.environ.get("UV_CACHE_DIR") or _uv_cache_dir(self.uv)))}

        def inside(*argv: str, writable: tuple[Path, ...]) -> list[str]:
            return sandbox.command(
                root, list(argv), writable=writable, readable=(Path(self.uv), *readable),
                env=env, network=True,
            )  # fmt: skip

        tool.mkdir(parents=True)  # and the base's folder, which virtualenv fills (not its parent)
        uv_cache = Path(env["UV_CACHE_DIR"])
        uv_cache.mkdir(parents=True, exist_ok=True)
        system = self.grid.bases[ident["id"]].system
        assert system is not None  # only bases that name a system come here
        tool_python = str(tool / "venv" / "bin" / "python")
        make_tool = [self.uv, "venv", "--quiet", "--python", self.grid.systems[system].python]
        install_tool = [self.uv, "pip", "install", "--python", tool_python, VIRTUALENV_FOR_PY2]
        virtualenv = [str(tool / "venv" / "bin" / "virtualenv"), "--quiet", "--no-periodic-update"]
        virtualenv += ["--app-data", str(tool / "app-data"), "--python", python, str(tmp)]
        pip = [str(tmp / "bin" / "python"), "-m", "pip", "install", "--no-input"]
        # pip 20.3 trusts its own bundle, not SSL_CERT_FILE: it is given the host's.
        pip += ["--disable-pip-version-check", "--cache-dir", str(cache)]
        pip += ["--cert", sandbox.CA_BUNDLE_INSIDE]
        pip += [*pip_source_args(self.sources), *(str(r) for r in ident["requires"])]
        try:
            self._run(name, inside(*make_tool, str(tool / "venv"), writable=(tmp, uv_cache)))
            self._run(name, inside(*install_tool, *self.sources, writable=(tmp, uv_cache)))
            self._run(name, inside(*virtualenv, writable=(tmp,)))
            self._run(name, inside(*pip, writable=(tmp, cache)))
        finally:
            _remove(tool)
        (site,) = tmp.glob("lib/python2.7/site-packages")
        final = tmp.with_name(tmp.name.removesuffix(".tmp")) / site.relative_to(tmp)
        # 2.7's compileall has no -s/-p: -d names the final folder in the compiled files.
        argv = [str(tmp / "bin" / "python"), "-m", "compileall", "-q", "-d", str(final), str(site)]
        code = sandbox.run(sandbox.command(root, argv, writable=(tmp,)), self.logs / f"{name}.log")
        if code not in (0, 1):
            raise BuildError(f"{name}: compileall failed (exit {code})")

    def _build_root(self, tmp: Path, ident: dict[str, Any], extra: list[str]) -> None:
        """debootstrap, in a mount namespace of its own: the /proc and /sys it mounts in the
        new root vanish with it, even if it is killed."""
        name = f"system-{ident['id']}"
        if not self.mirror():
            raise BuildError(f"{name}: no Debian mirror in apt's configuration")
        try:
            argv = sandbox.bootstrap_command(ident["suite"], ident["packages"], tmp, self.mirror())
        except sandbox.SandboxError as exc:
            raise BuildError(f"{name}: {exc}") from None
        unshare = shutil.which("unshare") or "unshare"
        self._run(name, [unshare, "--mount", "--propagation", "private", "--fork", *argv])

    def _verify_root(self, folder: Path, ident: dict[str, Any]) -> str | None:
        if problem := self._manifest_problem(folder, ident):
            return problem
        try:
            argv = sandbox.command(folder, [ident["python"], "-c", "print(1)"])
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError, sandbox.SandboxError) as exc:
            return f"its Python does not run: {exc}"
        return None if done.stdout.strip() == "1" else f"its Python does not run: {done.stderr}"

    def _verify_base(self, folder: Path, ident: dict[str, Any]) -> str | None:
        if problem := self._manifest_problem(folder, ident):
            return problem
        # 2.7 has no -I: -E and -s keep the environment's variables and user site out.
        asked = (
            ["-E", "-s", "-c", PROBE_PY2]
            if ident["python"].startswith("2.")
            else ["-I", "-c", PROBE]
        )
        argv, env = self.command(
            ident["id"], [str(folder / "bin" / "python"), *asked], readable=(folder,)
        )
        try:
            probe = subprocess.run(
                argv, capture_output=True, text=True, check=True, timeout=120, env=env
            )
            seen = json.loads(probe.stdout)
        except subprocess.CalledProcessError as exc:
            last = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit {exc.returncode}"]
            return f"its interpreter does not run: {last[0]}"
        except (OSError, subprocess.SubprocessError, ValueError, sandbox.SandboxError) as exc:
            return f"its interpreter does not run: {exc}"
        major_minor = ".".join(seen["python"].split(".")[:2])
        wanted = self.grid.python_of(ident["id"])
        if major_minor != wanted:
            return f"its Python is {seen['python']}, the base's is {wanted}"
        dists = {canonicalize_name(k): v for k, v in seen["dists"].items()}
        for text in ident["requires"]:
            req = Requirement(text)
            got = dists.get(canonicalize_name(req.name))
            if got is None or (req.specifier and not req.specifier.contains(got, True)):
                return f"{req} is wanted, {got or 'nothing'} is installed"
        return self._tree_problem(Path(seen["purelib"]), folder)

    # -- overlays ---------------------------------------------------------------------------

    def _build_overlay(self, tmp: Path, ident: dict[str, Any], extra: list[str]) -> None:
        (requirement,) = ident["requires"]
        self._uv(
            "overlay-" + str(requirement).replace("==", "-"), "pip", "install", "--no-deps",
            "--python", sys.executable, "--target", str(tmp), str(requirement), *self.sources,
            *extra,
        )  # fmt: skip
        self._compile("overlay-" + str(requirement).replace("==", "-"), Path(sys.executable), tmp)

    def _verify_overlay(self, folder: Path, ident: dict[str, Any]) -> str | None:
        if problem := self._manifest_problem(folder, ident):
            return problem
        (requirement,) = ident["requires"]
        req = Requirement(str(requirement))
        name = canonicalize_name(req.name).replace("-", "_")
        infos = [p for p in folder.glob("*.dist-info") if p.name.lower().startswith(name + "-")]
        if len(infos) != 1:
            return f"{len(infos)} {req.name} distributions in it"
        version = infos[0].name[len(name) + 1 : -len(".dist-info")]
        if not req.specifier.contains(version, True):
            return f"{req} is wanted, {version} is installed"
        return self._tree_problem(folder, folder)

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _tree_problem(site: Path, folder: Path) -> str | None:
        """`tree_problem`, trusting the statuses ``folder`` kept, and keeping the new ones."""
        stamp = folder / VERIFIED
        kept = read_verified(stamp)
        statuses: dict[str, list[int]] = {}
        problem = tree_problem(site, kept, statuses)
        if problem is None:
            if statuses != kept:  # a warm run changes nothing: no rewrite of 2 MB per base
                write_atomic(stamp, json.dumps(statuses, sort_keys=True).encode())
        else:
            stamp.unlink(missing_ok=True)  # a broken folder is rebuilt: nothing to trust
        return problem

    @staticmethod
    def _manifest_problem(folder: Path, ident: dict[str, Any]) -> str | None:
        try:
            built = json.loads((folder / MANIFEST).read_text())
        except (OSError, ValueError):
            return f"{MANIFEST} is missing or unreadable"
        return None if built == ident else f"{MANIFEST} describes another build"

    def _compile(
        self,
        name: str,
        python: Path,
        where: Path,
        wrap: Callable[[list[str]], list[str]] = list,
    ) -> None:
        """Compile every module under ``where``, in a build's ``.tmp`` folder, as if the build
        were already at its final path (``wrap``: how to run it, e.g. inside a root).

        Not uv's ``--compile-bytecode``: its files would name ``tmp`` as their source, and
        TensorFlow, which finds its shared libraries from there, then loads one twice.
        """
        tmp = next(p for p in (where, *where.parents) if p.name.endswith(".tmp"))
        final = tmp.with_name(tmp.name.removesuffix(".tmp"))
        log = self.logs / f"{name}.log"
        argv = [str(python), "-m", "compileall", "-q", "-j", "0", "-s", str(tmp), "-p",
                str(final), str(where)]  # fmt: skip
        code = sandbox.run(wrap(argv), log)
        # Exit 1 means some module did not compile (test data with syntax errors ships in
        # wheels): Python compiles those on import, as before; only a crash is an error.
        if code not in (0, 1):
            raise BuildError(f"{name}: compileall failed (exit {code}): {tail(log)} (log: {log})")

    def _run(self, name: str, argv: list[str]) -> None:
        """Run a build command, its output in the build's log; BuildError when it fails."""
        log = self.logs / f"{name}.log"
        code = sandbox.run(argv, log)
        if code != 0:
            raise BuildError(f"{name}: failed (exit {code}): {tail(log)} (log: {log})")

    def _uv(self, name: str, *args: str) -> None:
        """Run uv, its output in a log; BuildError with uv's last lines when it fails."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        # Bytecode is compiled by `_compile`, for the final path (see there).
        env = {k: v for k, v in os.environ.items() if k != "UV_COMPILE_BYTECODE"}
        env.setdefault("UV_PYTHON_DOWNLOADS", "never")  # the grid's Python, never a download
        try:
            with log.open("a") as sink:
                sink.write(f"$ uv {' '.join(args)}\n")
                sink.flush()
                code = subprocess.run(
                    [self.uv, *args], stdout=sink, stderr=subprocess.STDOUT, env=env, check=False
                ).returncode
        except OSError as exc:
            raise BuildError(f"{name}: cannot run uv: {exc}") from None
        if code != 0:
            raise BuildError(f"{name}: uv failed (exit {code}): {tail(log)} (log: {log})")


def _remove(path: Path) -> None:
    """Remove a build folder through the mount guard (see `sandbox.remove_tree`)."""
    try:
        sandbox.remove_tree(path)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def link_to_cache(site: Path, cache: Path) -> tuple[int, int]:
    """Replace each installed file that is a byte-identical copy of the same file of the same
    wheel in uv's cache with a hardlink to it, as uv itself installs on the host; only files
    of ``site`` change. Returns (files, bytes) linked."""
    unpacked = cache / "archive-v0"
    files = size = 0
    for info in sorted(site.glob("*.dist-info")):
        sources = [p.parent for p in unpacked.glob(f"*/{info.name}")]
        try:
            with (info / "RECORD").open(newline="") as record:
                paths = [row[0] for row in csv.reader(record) if row]
        except OSError:
            continue
        for rel in paths:
            target = site / rel
            if ".." in Path(rel).parts or target.is_symlink() or not target.is_file():
                continue
            for source in (src / rel for src in sources):
                if (
                    source.is_file()
                    and not source.is_symlink()
                    and not os.path.samefile(source, target)
                    and source.stat().st_mode == target.stat().st_mode  # one inode, one mode
                    and filecmp.cmp(source, target, shallow=False)
                ):
                    temporary = target.with_name(target.name + ".link")
                    os.link(source, temporary)
                    os.replace(temporary, target)
                    files, size = files + 1, size + source.stat().st_size
                    break
    return files, size


def _uv_cache_dir(uv: str) -> str:
    """uv's cache folder, as uv reports it."""
    done = subprocess.run([uv, "cache", "dir"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or str(Path.home() / ".cache" / "uv")


def tail(log: Path, lines: int = 3) -> str:
    """The last non-blank lines of a log, joined into one (for one-line messages)."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    kept = [t.strip() for t in text if t.strip()][-lines:]
    return " | ".join(kept) or "(empty log)"
