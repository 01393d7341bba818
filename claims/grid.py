"""The release grid: derive every environment of the version matrix from `grid.toml`.

Pure Python (tomllib and packaging): the Sphinx build, the tests and the matrix runner all
import it; nothing here installs or runs anything.
"""

from __future__ import annotations

import hashlib
import re
import sys

if sys.version_info >= (3, 11):  # noqa: UP036 (the runner also runs on 3.9)
    import tomllib
else:  # Python 3.9 in the bullseye bases, which install tomli
    import tomli as tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

HERE = Path(__file__).resolve().parent
GRID = HERE / "grid.toml"
#: Beside the spec: the releases the grid last ran of each line that has a `first` release.
RELEASES_NAME = "releases.json"

#: How each backend is named on the site.
BACKEND_LABELS = {"jax": "JAX", "tensorflow": "TensorFlow", "torch": "PyTorch", "theano": "Theano"}


class GridError(Exception):
    """The grid spec is malformed."""


@dataclass(frozen=True)
class System:
    """A Debian root filesystem of another era (``debootstrap``), and the Python it packages."""

    id: str
    suite: str
    packages: tuple[str, ...]
    python: str  # its path inside the root, e.g. /usr/bin/python3.9

    @property
    def python_version(self) -> str:
        """``3.9``, from the interpreter's name."""
        return self.python.rsplit("python", 1)[1]


@dataclass(frozen=True)
class Base:
    """A backend installed once; the environments that use it share its virtualenv.

    ``system``: the root filesystem it lives in (none: the host, with the grid's Python);
    ``exclude_newer``: a date, so that its dependencies are those of its release's era;
    ``compile_cache``: its environments share JAX's persistent compilation cache in a run.
    """

    id: str
    requires: tuple[str, ...]
    system: str | None = None
    python: str | None = None  # major.minor; default: the grid's
    interpreter: str | None = None  # its path in the root filesystem; default: the system's
    exclude_newer: str | None = None
    compile_cache: bool = False


@dataclass(frozen=True)
class Line:
    """A Keras line: its releases, and which base hosts each release on each backend."""

    id: str
    label: str
    dist: str
    releases: tuple[str, ...]
    backends: dict[str, tuple[tuple[str, str], ...]]
    overlay: str | None = None
    requires: tuple[str, ...] = ()
    first: str | None = None  # releases from the index, this one on (None: `releases` as listed)
    exclude: dict[str, str] = field(default_factory=dict)  # release -> why it cannot run

    def minor(self, release: str) -> str:
        """``3.14.1`` -> ``3.14``."""
        v = Version(release)
        return f"{v.major}.{v.minor}"

    def select(self, versions: list[str]) -> list[str]:
        """The releases among ``versions`` the grid runs: from ``first`` on, none excluded."""
        assert self.first is not None
        first = Version(self.first)
        chosen = {Version(v) for v in versions if v not in self.exclude}
        return [str(v) for v in sorted(chosen) if v >= first]


@dataclass(frozen=True)
class Env:
    """One environment of the grid: a line's release on one backend, over one base."""

    id: str
    line: str
    release: str
    minor: str
    backend: str
    base: str
    overlay: str | None
    label: str

    @property
    def version(self) -> Version:
        """The release as a comparable version."""
        return Version(self.release)


@dataclass(frozen=True)
class Grid:
    """The whole grid: bases, lines, environments (in spec order), cited-only lines."""

    bases: dict[str, Base]
    lines: dict[str, Line]
    envs: dict[str, Env]
    cited_only: dict[str, dict[str, str]] = field(default_factory=dict)
    python: str = "3.11"
    systems: dict[str, System] = field(default_factory=dict)

    def python_of(self, base_id: str) -> str:
        """The Python (major.minor) a base runs."""
        return self.bases[base_id].python or self.python

    def base_requires(self, base_id: str) -> tuple[str, ...]:
        """A base's requirements plus those of every line that lays releases over it."""
        reqs = list(self.bases[base_id].requires)
        for env in self.envs.values():
            if env.base == base_id:
                reqs += [r for r in self.lines[env.line].requires if r not in reqs]
        return tuple(reqs)

    def base_digest(self, base_id: str) -> str:
        """Short hash of a base's full requirements: a changed base is rebuilt, never patched."""
        return hashlib.sha256("\n".join(self.base_requires(base_id)).encode()).hexdigest()[:12]

    def newest(self, envs: list[Env] | None = None) -> list[Env]:
        """The newest release of each line on each backend (among ``envs``, default all)."""
        best: dict[tuple[str, str], Env] = {}
        for env in self.envs.values() if envs is None else envs:
            key = (env.line, env.backend)
            if key not in best or env.version > best[key].version:
                best[key] = env
        return list(best.values())

    def last_patches(self, envs: list[Env] | None = None) -> list[Env]:
        """The last patch of each minor release of each line on each backend: the grid as
        it ran before every patch did (among ``envs``, default all)."""
        best: dict[tuple[str, str, tuple[int, ...]], Env] = {}
        for env in self.envs.values() if envs is None else envs:
            key = (env.line, env.backend, env.version.release[:2])
            if key not in best or env.version > best[key].version:
                best[key] = env
        return [e for e in (self.envs.values() if envs is None else envs) if e in best.values()]


def env_id(line: str, release: str, backend: str, backends: int) -> str:
    """``keras-3.14.1-jax``; a line with one backend omits it (``tf_keras-2.21.0``)."""
    return f"{line}-{release}-{backend}" if backends > 1 else f"{line}-{release}"


def load_grid(path: Path = GRID, releases: dict[str, list[str]] | None = None) -> Grid:
    """Parse and check the grid spec; errors name the file and the entry.

    ``releases``: what the index lists for each line that has a ``first`` release (default:
    what the grid last ran, from ``releases.json`` beside the spec).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GridError(f"{path}: {exc}") from None
    systems = {}
    for system_id, raw in data.get("system", {}).items():
        where = f"{path}: [system.{system_id}]"
        try:
            systems[system_id] = System(
                id=system_id,
                suite=raw["suite"],
                packages=tuple(raw["packages"]),
                python=raw["python"],
            )
        except KeyError as exc:
            raise GridError(f"{where}: field {exc} is missing") from None
        if not re.fullmatch(r"/\S*/python\d\.\d+", systems[system_id].python):
            raise GridError(f"{where}: 'python' must be a path like /usr/bin/python3.9")
    bases = {}
    for base_id, raw in data.get("base", {}).items():
        reqs = tuple(raw.get("requires", ()))
        for req in reqs:
            try:
                Requirement(req)
            except InvalidRequirement as exc:
                raise GridError(f"{path}: [base.{base_id}]: {exc}") from None
        if not reqs:
            raise GridError(f"{path}: [base.{base_id}]: 'requires' is empty")
        system, compile_cache = raw.get("system"), raw.get("compile-cache", False)
        if not isinstance(compile_cache, bool):
            raise GridError(f"{path}: [base.{base_id}]: 'compile-cache' must be true or false")
        if system is not None and system not in systems:
            raise GridError(f"{path}: [base.{base_id}]: unknown system {system!r}")
        interpreter = raw.get("python")
        if interpreter is not None and (
            system is None or not re.fullmatch(r"/\S*/python\d\.\d+", str(interpreter))
        ):
            raise GridError(
                f"{path}: [base.{base_id}]: 'python' is a path like /usr/bin/python2.7, "
                "in the base's system"
            )
        bases[base_id] = Base(
            base_id,
            reqs,
            system=system,
            python=(interpreter or systems[system].python).rsplit("python", 1)[1]
            if system
            else None,
            interpreter=interpreter,
            exclude_newer=raw.get("exclude-newer"),
            compile_cache=compile_cache,
        )
    lines, envs = {}, {}
    listed: dict[str, list[str]] | None = releases  # read from releases.json once, if needed
    for line_id, raw in data.get("line", {}).items():
        where = f"{path}: [line.{line_id}]"
        try:
            first, exclude = raw.get("first"), dict(raw.get("exclude", {}))
            if first is not None:
                Version(first)
                if "releases" in raw:
                    raise GridError(f"{where}: give 'releases' or 'first', not both")
                if listed is None:
                    listed = _recorded(path)
                if line_id not in listed:
                    raise GridError(
                        f"{where}: no releases recorded for this line in "
                        f"{path.with_name(RELEASES_NAME)}; `nox -s matrix` asks the index"
                    )
                versions = tuple(str(Version(r)) for r in listed[line_id])
            else:
                versions = tuple(str(Version(r)) for r in raw["releases"])
            backends = {
                backend: tuple((spec, base) for spec, base in table.items())
                for backend, table in raw["backends"].items()
            }
            line = Line(
                id=line_id,
                label=raw["label"],
                dist=raw["dist"],
                releases=versions,
                backends=backends,
                overlay=raw.get("overlay"),
                requires=tuple(raw.get("requires", ())),
                first=first,
                exclude=exclude,
            )
        except KeyError as exc:
            raise GridError(f"{where}: field {exc} is missing") from None
        except InvalidVersion as exc:
            raise GridError(f"{where}: {exc}") from None
        if first is not None:
            line = replace(line, releases=tuple(line.select(list(versions))))
        if len(set(line.releases)) != len(line.releases):
            raise GridError(f"{where}: a release is listed twice")
        lines[line_id] = line
        for backend, table in backends.items():
            if backend not in BACKEND_LABELS:
                raise GridError(f"{where}: unknown backend {backend!r}")
            for release in line.releases:
                base = _pick_base(table, release, f"{where}.backends.{backend}")
                if base not in bases:
                    raise GridError(f"{where}.backends.{backend}: unknown base {base!r}")
                minor = line.minor(release)
                eid = env_id(line_id, release, backend, len(backends))
                # The backend is named where it is a choice, or not the usual TensorFlow.
                shown = len(backends) > 1 or backend != "tensorflow"
                on = f" on {BACKEND_LABELS[backend]}" if shown else ""
                envs[eid] = Env(
                    id=eid,
                    line=line_id,
                    release=release,
                    minor=minor,
                    backend=backend,
                    base=base,
                    overlay=f"{line.overlay}=={release}" if line.overlay else None,
                    label=f"{line.label} {release}{on}",
                )
    if not envs:
        raise GridError(f"{path}: no environments (add a [line.*] with releases and backends)")
    return Grid(
        bases=bases,
        lines=lines,
        envs=envs,
        cited_only=dict(data.get("cited-only", {})),
        systems=systems,
        python=str(data.get("grid", {}).get("python", "3.11")),
    )


def discovered_lines(path: Path = GRID) -> dict[str, str]:
    """The lines whose releases come from the index (``first``), with their distributions."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GridError(f"{path}: {exc}") from None
    try:
        return {i: raw["dist"] for i, raw in data.get("line", {}).items() if "first" in raw}
    except KeyError:
        raise GridError(f"{path}: a [line.*] with 'first' has no 'dist'") from None


def _recorded(path: Path) -> dict[str, list[str]]:
    """The releases the grid last ran of each discovered line, recorded beside ``path``."""
    from claims.releases import ReleasesError, read_recorded

    try:
        return read_recorded(path.with_name(RELEASES_NAME))
    except ReleasesError as exc:
        raise GridError(str(exc)) from None


def _pick_base(table: tuple[tuple[str, str], ...], release: str, where: str) -> str:
    """The first base whose specifier admits the release."""
    for spec, base in table:
        try:
            if SpecifierSet(spec).contains(release, prereleases=True):
                return base
        except InvalidSpecifier as exc:
            raise GridError(f"{where}: {exc}") from None
    raise GridError(f"{where}: no base admits release {release}")


def shard(envs: list[Env], spec: str) -> list[Env]:
    """``2/4``: the second of four interleaved shards, grouped by base to share installs."""
    try:
        index, count = (int(p) for p in spec.split("/"))
    except ValueError:
        raise GridError(f"shard {spec!r}: expected I/N, e.g. 2/4") from None
    if not 1 <= index <= count:
        raise GridError(f"shard {spec!r}: I must be between 1 and N")
    # Whole bases go to one shard, so no runner installs a backend another one also installs.
    by_base: dict[str, list[Env]] = {}
    for env in envs:
        by_base.setdefault(env.base, []).append(env)
    loads = [0] * count
    chosen: list[Env] = []
    for _base, members in sorted(by_base.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        target = loads.index(min(loads))
        loads[target] += len(members)
        if target == index - 1:
            chosen += members
    order = {e.id: n for n, e in enumerate(envs)}
    return sorted(chosen, key=lambda e: order[e.id])
