"""``pincite add``: write a release's pins entry from the index, so nobody types a wheel name.

The wheel is chosen from the index's listing (a pure-Python wheel first, else the first that
this platform's tags accept) and recorded exactly. ``repository`` and ``tag`` are *proposed*
from the wheel's own metadata (its ``Project-URL``s, the version) and marked as proposals in
the file; ``path-map`` is proposed when the release's sdist keeps the cited files under
another folder than the wheel does (a ``src/`` layout).
"""

from __future__ import annotations

import difflib
import email.parser
import io
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import sys_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from pincite.atomic import write_atomic
from pincite.errors import FetchError, PinsError
from pincite.http import HttpClient
from pincite.index import IndexFile, not_listed, project_files
from pincite.pins import check_release_id, load_pins
from pincite.remotezip import RangeFile

#: Project-URL labels that name the source repository, most telling first.
REPOSITORY_LABELS = ("source", "source code", "repository", "code", "github", "homepage", "home")


@dataclass
class Proposal:
    """A pins entry for one release, and what the user must check before relying on it."""

    id: str
    project: str
    version: str
    wheel: str
    files: list[str]
    repository: str = ""
    tag: str = ""
    path_map: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def toml(self) -> str:
        """The ``[[release]]`` block, proposals marked as such."""
        out = [
            "[[release]]",
            f'id = "{self.id}"',
            f'project = "{self.project}"',
            f'version = "{self.version}"',
            f'wheel = "{self.wheel}"  # chosen from the index by `pincite add`',
        ]
        if self.repository:
            out.append(f'repository = "{self.repository}"  # proposed from the wheel\'s metadata')
            out.append(f'tag = "{self.tag}"  # proposed from the version: check that it exists')
        if self.path_map:
            pairs = ", ".join(f'"{k}" = "{v}"' for k, v in self.path_map.items())
            out.append(f"path-map = {{ {pairs} }}  # proposed from the sdist's layout")
        out.append("files = [" + "".join(f'\n    "{f}",' for f in self.files) + "\n]")
        return "\n".join(out) + "\n"


def choose_wheel(files: dict[str, IndexFile], project: str, version: Version) -> IndexFile:
    """The release's wheel to cite: pure Python if there is one, else this platform's best."""
    wheels = []
    for name, entry in files.items():
        try:
            wheel_project, wheel_version, _, tags = parse_wheel_filename(name)
        except InvalidWheelFilename:
            continue
        if wheel_project == canonicalize_name(project) and wheel_version == version:
            wheels.append((tags, entry))
    if not wheels:
        raise FetchError(not_listed(project, "the index", f"{project}-{version}-*.whl", files))
    pure = [e for tags, e in wheels if any(t.abi == "none" and t.platform == "any" for t in tags)]
    if pure:
        return sorted(pure, key=lambda e: e.filename)[0]
    # sys_tags() lists this interpreter's tags from the most to the least specific.
    rank = {tag: n for n, tag in enumerate(sys_tags())}
    usable = [(min(rank.get(t, len(rank)) for t in tags), e.filename, e) for tags, e in wheels]
    best = min(usable)
    if best[0] == len(rank):
        names = ", ".join(sorted(e.filename for _, e in wheels))
        raise FetchError(f"{project} {version}: no wheel for this platform among {names}")
    return best[2]


def read_metadata(zf: zipfile.ZipFile) -> email.message.Message:
    """The wheel's ``METADATA`` (its ``*.dist-info`` folder at the top level)."""
    names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    if len(names) != 1:
        raise FetchError(f"the wheel has {len(names)} METADATA files, expected one")
    return email.parser.Parser().parsestr(zf.read(names[0]).decode("utf-8", "replace"))


def propose_repository(metadata: email.message.Message) -> str:
    """A repository URL from ``Project-URL`` (``owner/name`` paths only), else ""."""
    found: dict[str, str] = {}
    for value in metadata.get_all("Project-URL") or []:
        label, _, url = value.partition(",")
        found.setdefault(label.strip().lower(), url.strip())
    if home := metadata.get("Home-page"):
        found.setdefault("home", home.strip())
    for label in REPOSITORY_LABELS:
        url = found.get(label, "")
        parts = urlsplit(url)
        segments = [s for s in parts.path.split("/") if s]
        if parts.scheme == "https" and len(segments) == 2:
            return f"https://{parts.netloc}/{segments[0]}/{segments[1].removesuffix('.git')}"
    return ""


def propose_path_map(sdist_names: list[str], files: list[str]) -> tuple[dict[str, str], list[str]]:
    """Where the sdist keeps each cited file, as a ``path-map``; and what could not be told."""
    # Members of an sdist sit under one top folder, ``<name>-<version>/``.
    inner = {n.split("/", 1)[1] for n in sdist_names if "/" in n}
    mapping: dict[str, str] = {}
    unknown = []
    for path in files:
        if path in inner:
            continue
        hits = sorted(n for n in inner if n.endswith("/" + path))
        if len(hits) != 1:
            unknown.append(path)
            continue
        prefix = hits[0][: -len(path)]
        top = path.split("/", 1)[0] + "/"
        mapping[top] = prefix + top
    return mapping, unknown


def sdist_names(
    http: HttpClient, files: dict[str, IndexFile], project: str, version: Version
) -> list[str] | None:
    """The member names of the release's sdist (downloaded whole; sdists are small), or None."""
    for name, entry in sorted(files.items()):
        try:
            sdist_project, sdist_version = parse_sdist_filename(name)
        except InvalidSdistFilename:
            continue
        if sdist_project != canonicalize_name(project) or sdist_version != version:
            continue
        data = http.download(entry.url, io.BytesIO).read()
        try:
            if name.endswith(".zip"):
                return zipfile.ZipFile(io.BytesIO(data)).namelist()
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                return tar.getnames()
        except (tarfile.TarError, zipfile.BadZipFile) as exc:
            raise FetchError(f"{name}: not a readable sdist ({exc})") from None
    return None


def propose(
    http: HttpClient, index_url: str, requirement: str, files: list[str], release_id: str = ""
) -> Proposal:
    """Everything ``pincite add`` writes for one ``project==version``."""
    try:
        req = Requirement(requirement)
    except InvalidRequirement as exc:
        raise PinsError(f"{requirement!r}: {exc}") from None
    pinned = [s for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
    if len(pinned) != 1 or len(req.specifier) != 1:
        raise PinsError(f"{requirement!r}: give one exact version, e.g. {req.name}==1.2.3")
    version = Version(pinned[0].version)
    listing = project_files(http, index_url, req.name)
    wheel = choose_wheel(listing, req.name, version)
    size = wheel.size or http.size(wheel.url)
    with zipfile.ZipFile(RangeFile(http, wheel.url, size)) as zf:
        names = set(zf.namelist())
        metadata = read_metadata(zf)
    for path in files:
        if path not in names:
            near = difflib.get_close_matches(path, sorted(names), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise PinsError(f"{path} is not in {wheel.filename}{hint}")
    rid = release_id or f"{canonicalize_name(req.name)}-{version}"
    if problem := check_release_id(rid):
        raise PinsError(f"release id {rid!r} {problem}; give one with --id")
    proposal = Proposal(rid, metadata.get("Name", req.name), str(version), wheel.filename, files)
    proposal.repository = propose_repository(metadata)
    if proposal.repository:
        proposal.tag = f"v{version}"
        proposal.notes.append(
            f"the tag {proposal.tag!r} is a guess (projects tag releases as v{version}, "
            f"{version} or otherwise): check it, e.g. `git ls-remote --tags "
            f"{proposal.repository} {proposal.tag} {version}`, and fix `tag` if needed"
        )
    else:
        proposal.notes.append(
            "no repository found in the wheel's metadata: the citations will have no permalink "
            "until you add `repository` and `tag`"
        )
    names_in_sdist = sdist_names(http, listing, req.name, version) if files else None
    if names_in_sdist is None:
        if files:
            proposal.notes.append("no sdist on the index: check that `path-map` is not needed")
    else:
        proposal.path_map, unknown = propose_path_map(names_in_sdist, files)
        for path in unknown:
            proposal.notes.append(
                f"cannot tell where {path} lives in the repository (the sdist has it not or "
                "twice): add a `path-map` if its permalink is wrong"
            )
    return proposal


def add_to_pins(pins: Path, proposal: Proposal) -> None:
    """Append the entry to the pins file (made if absent); refuse an id it already has."""
    text = pins.read_text(encoding="utf-8") if pins.exists() else ""
    if text.strip():
        if proposal.id in load_pins(pins):
            raise PinsError(f"{pins}: release {proposal.id!r} is already pinned")
        text = text.rstrip("\n") + "\n\n"
    text += proposal.toml()
    # What is written must read back: checked on a copy, so a refusal leaves the file as it was.
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / pins.name
        trial.write_text(text, encoding="utf-8")
        try:
            load_pins(trial)
        except PinsError as exc:
            raise PinsError(str(exc).replace(str(trial), str(pins))) from None
    write_atomic(pins, text.encode())
