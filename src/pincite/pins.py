"""Read the hand-written pins file: which releases the site cites and where their code lives."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from pincite.errors import PinsError

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


def path_problem(path: object) -> str | None:
    """Why ``path`` is not a safe relative path inside a wheel (None when it is).

    Refused: absolute paths, backslashes, drive letters, empty, ``.`` and ``..`` segments. Such
    a path would let a pins file or a lock write outside the folder it is materialised into.
    """
    if not isinstance(path, str) or not path:
        return "is empty or not a string"
    if path.startswith("/"):
        return "is absolute"
    if "\\" in path:
        return "contains a backslash"
    parts = path.split("/")
    if ":" in parts[0]:
        return "starts with a drive or scheme"
    if "" in parts:
        return "has an empty segment"
    if "." in parts or ".." in parts:
        return "has a '.' or '..' segment"
    return None


def check_release_id(rid: object) -> str | None:
    """Why ``rid`` is not a valid release id (None when it is)."""
    if not isinstance(rid, str) or not _ID_RE.match(rid) or ".." in rid:
        return "must be lower-case letters, digits, '.', '-' (and no '..')"
    return None


def check_against_wheel(entry: dict[str, Any], where: str) -> None:
    """Refuse a block whose project, version, tag or title contradicts its wheel file name."""
    try:
        name, wheel_version, _build, _tags = parse_wheel_filename(entry["wheel"])
    except InvalidWheelFilename as exc:
        raise PinsError(f"{where}: field 'wheel': {exc}") from None
    if canonicalize_name(entry["project"]) != name:
        raise PinsError(
            f"{where}: field 'project' is {entry['project']!r}, the wheel is of {name!r}"
        )
    try:
        version = Version(entry["version"])
    except InvalidVersion:
        raise PinsError(f"{where}: field 'version' {entry['version']!r} is not a version") from None
    if version != wheel_version:
        raise PinsError(
            f"{where}: field 'version' is {entry['version']}, the wheel is version "
            f"{wheel_version}; to pin another release, replace this entry with what "
            f"`pincite add {entry['project']}=={entry['version']}` writes"
        )
    tag = entry.get("tag", "").rsplit("/", 1)[-1]
    try:
        tag_version = Version(tag.lstrip("vV"))
    except InvalidVersion:
        tag_version = None
    if tag and tag_version != version:
        raise PinsError(
            f"{where}: field 'tag' {entry['tag']!r} does not name version {version} of the wheel"
        )
    title = entry.get("title", "")
    if title and entry["version"] not in title and str(version) not in title:
        raise PinsError(
            f"{where}: field 'title' {title!r} does not mention version {entry['version']}"
        )


def _drift_within(entry: dict[str, Any], where: str) -> SpecifierSet:
    """The ``drift-within`` specifier, which must contain the pinned version itself."""
    raw = entry.get("drift-within", "")
    if not isinstance(raw, str):
        raise PinsError(f"{where}: field 'drift-within' must be a string such as '<3'")
    try:
        spec = SpecifierSet(raw)
    except InvalidSpecifier as exc:
        raise PinsError(f"{where}: field 'drift-within': {exc}") from None
    if not spec.contains(entry["version"], prereleases=True):
        raise PinsError(
            f"{where}: field 'drift-within' {raw!r} excludes the pinned version {entry['version']}"
        )
    return spec


_REQUIRED = ("id", "project", "version", "wheel")
#: Optional, together: without them a citation has no permalink (its header says so).
_UPSTREAM = ("repository", "tag")


@dataclass(frozen=True)
class Release:
    """One exactly pinned wheel of one distribution, as a page cites it."""

    id: str
    project: str
    version: str
    wheel: str
    repository: str = ""
    tag: str = ""
    path_map: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    title: str = ""
    #: The line this release belongs to, for `pincite drift` (e.g. ``<3`` for Keras 2).
    drift_within: SpecifierSet = field(default_factory=SpecifierSet)

    @property
    def label(self) -> str:
        """Human-readable ``dist version`` label."""
        return self.title or f"{self.project} {self.version}"

    def repo_path(self, wheel_path: str) -> str:
        """Map a path inside the wheel to the path in the upstream repository at ``tag``."""
        best = ""
        for prefix in self.path_map:
            if wheel_path.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        if not best:
            return wheel_path
        return self.path_map[best] + wheel_path[len(best) :]

    @property
    def upstream(self) -> str:
        """``<repository> at <tag>``, or "" when the pins give none."""
        return f"{self.repository} at {self.tag}" if self.repository and self.tag else ""

    def permalink(self, wheel_path: str, start: int | None = None, end: int | None = None) -> str:
        """Release-exact upstream URL of a file, optionally anchored to a line range ("": none).

        Without a repository and tag in the pins there is no permalink.
        """
        if not self.upstream:
            return ""
        url = f"{self.repository.rstrip('/')}/blob/{self.tag}/{self.repo_path(wheel_path)}"
        if start is not None:
            url += f"#L{start}" + (f"-L{end}" if end is not None and end != start else "")
        return url


def load_pins(path: str | Path) -> dict[str, Release]:
    """Parse ``path`` into releases keyed by id; errors name the file and the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PinsError(f"{path}: pins file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PinsError(f"{path}: not valid TOML: {exc}") from None
    entries = data.get("release")
    if not isinstance(entries, list) or not entries:
        raise PinsError(f"{path}: expected one or more [[release]] tables")
    releases: dict[str, Release] = {}
    for n, entry in enumerate(entries, start=1):
        where = f"{path}: [[release]] #{n}"
        if not isinstance(entry, dict):
            raise PinsError(f"{where}: expected a table")
        for key in _REQUIRED:
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise PinsError(f"{where}: field {key!r} is missing or not a non-empty string")
        for key in _UPSTREAM:
            if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
                raise PinsError(f"{where}: field {key!r} must be a non-empty string")
        if ("repository" in entry) != ("tag" in entry):
            given, absent = (
                ("repository", "tag") if "repository" in entry else ("tag", "repository")
            )
            raise PinsError(
                f"{where}: field {given!r} needs {absent!r} too (a permalink needs both)"
            )
        rid = entry["id"]
        where = f"{path}: release {rid!r}"
        if problem := check_release_id(rid):
            raise PinsError(f"{where}: field 'id' {problem}")
        if rid in releases:
            raise PinsError(f"{where}: duplicate id")
        if not entry["wheel"].endswith(".whl"):
            raise PinsError(f"{where}: field 'wheel' must name a .whl file")
        path_map = entry.get("path-map", {})
        if not isinstance(path_map, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in path_map.items()
        ):
            raise PinsError(f"{where}: field 'path-map' must map strings to strings")
        files = entry.get("files", [])
        if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
            raise PinsError(f"{where}: field 'files' must be a list of paths inside the wheel")
        if len(set(files)) != len(files):
            raise PinsError(f"{where}: field 'files' lists a path twice")
        for fpath in files:
            if problem := path_problem(fpath):
                raise PinsError(f"{where}: field 'files': {fpath!r} {problem}")
        if "title" in entry and not isinstance(entry["title"], str):
            raise PinsError(f"{where}: field 'title' must be a string")
        check_against_wheel(entry, where)
        within = _drift_within(entry, where)
        unknown = set(entry) - {
            *_REQUIRED,
            *_UPSTREAM,
            "path-map",
            "files",
            "title",
            "drift-within",
        }
        if unknown:
            raise PinsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        releases[rid] = Release(
            id=rid,
            project=entry["project"],
            version=entry["version"],
            wheel=entry["wheel"],
            repository=entry.get("repository", ""),
            tag=entry.get("tag", ""),
            path_map=dict(path_map),
            files=tuple(files),
            title=str(entry.get("title", "")),
            drift_within=within,
        )
    return releases
