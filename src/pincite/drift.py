"""Report how each cited symbol looks in the newest release of its distribution.

Read-only: it asks the package index for the newest version, reads just the cited files of
that release's wheel through range requests, and compares every cited symbol.
"""

from __future__ import annotations

import re
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pincite.errors import PinciteError
from pincite.http import HttpClient
from pincite.index import IndexFile, normalize, project_files
from pincite.pins import Release
from pincite.reader import Slice, cite, unified_diff
from pincite.remotezip import RangeFile
from pincite.store import SourceStore

_FENCE = re.compile(r"^(`{3,}|:{3,})\{(pincite-source|pincite-diff)\}(.*)$")
_OPTION = re.compile(r"^:([\w-]+):\s*(.*)$")


@dataclass(frozen=True)
class Citation:
    """One cited symbol (or whole file) of one release, and where a page cites it."""

    release: str
    path: str
    pyobject: str | None
    where: str


@dataclass(frozen=True)
class Drift:
    """What became of one citation in the newest release."""

    citation: Citation
    newest: str
    status: str  # "unchanged" | "changed" | "gone" | "error"
    diff: str = ""
    detail: str = ""


def _yaml_block_options(lines: list[str]) -> dict[str, str]:
    opts = {}
    for line in lines:
        m = re.match(r"^([\w-]+):\s*(.*)$", line)
        if m:
            opts[m[1]] = m[2].strip().strip("'\"")
    return opts


def find_citations(docs: Path) -> list[Citation]:
    """Every ``pincite-source`` / ``pincite-diff`` in the MyST pages under ``docs``."""
    found: list[Citation] = []
    for page in sorted(docs.rglob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            m = _FENCE.match(line.strip())
            if not m:
                continue
            fence, kind, args = m[1], m[2], m[3].strip()
            body = []
            for follow in lines[n + 1 :]:
                if follow.strip() == fence:
                    break
                body.append(follow.strip())
            if body and body[0] == "---":
                end = body.index("---", 1) if "---" in body[1:] else len(body)
                opts = _yaml_block_options(body[1:end])
            else:
                opts = {o[1]: o[2].strip().strip("'\"") for o in map(_OPTION.match, body) if o}
            where = f"{page.relative_to(docs)}:{n + 1}"
            if kind == "pincite-source":
                release, path = shlex.split(args)[:2]
                found.append(Citation(release, path, opts.get("pyobject"), where))
            else:
                for side in ("old", "new"):
                    release, path = opts[side].split()[:2]
                    obj = opts.get(f"{side}-pyobject", opts.get("pyobject"))
                    found.append(Citation(release, path, obj, where))
    unique = {(c.release, c.path, c.pyobject): c for c in found}
    return list(unique.values())


def _version_key(version: str) -> tuple:
    parts = []
    for piece in re.split(r"[.+-]", version):
        parts.append((0, int(piece), "") if piece.isdigit() else (1, 0, piece))
    return tuple(parts)


def newest_wheel(files: dict[str, IndexFile], release: Release) -> IndexFile | None:
    """The newest final release's wheel with the same tags as the pinned one, if any."""
    project = normalize(release.project).replace("-", "_")
    pinned_tags = release.wheel[:-4].split("-")[-3:]
    best: tuple[tuple, IndexFile] | None = None
    for name, entry in files.items():
        if not name.endswith(".whl"):
            continue
        parts = name[:-4].split("-")
        if normalize(parts[0]).replace("-", "_") != project or len(parts) < 5:
            continue
        version = parts[1]
        if not re.fullmatch(r"[\d.]+(post\d+)?", version):
            continue  # skip pre-releases and dev releases
        py, abi, plat = parts[-3:]
        same = [py, abi, plat] == pinned_tags
        # Platform wheels: accept any CPython tag for the same platform family.
        similar = abi != "none" and plat.split("_")[-1] == pinned_tags[2].split("_")[-1]
        if not (same or similar or (abi == "none" and pinned_tags[1] == "none")):
            continue
        key = (_version_key(version), same, py)
        if best is None or key > best[0]:
            best = (key, entry)
    return best[1] if best else None


def check_drift(store: SourceStore, citations: list[Citation], http: HttpClient) -> list[Drift]:
    """Compare every citation with the newest release of its distribution."""
    out: list[Drift] = []
    opened: dict[str, tuple[str, zipfile.ZipFile | None, str]] = {}
    for cit in citations:
        release = store.release(cit.release)
        if cit.release not in opened:
            try:
                files = project_files(http, store.index_url, release.project)
                wheel = newest_wheel(files, release)
                if wheel is None:
                    opened[cit.release] = ("?", None, "no comparable wheel on the index")
                else:
                    version = wheel.filename.split("-")[1]
                    size = wheel.size or http.size(wheel.url)
                    zf = zipfile.ZipFile(RangeFile(http, wheel.url, size))
                    opened[cit.release] = (version, zf, "")
            except (PinciteError, zipfile.BadZipFile, OSError) as exc:
                opened[cit.release] = ("?", None, str(exc))
        newest, zf, problem = opened[cit.release]
        if zf is None:
            out.append(Drift(cit, newest, "error", detail=problem))
            continue
        try:
            old_text = store.read_text(cit.release, cit.path)
            old = cite(old_text, pyobject=cit.pyobject, filename=cit.path)
            try:
                new_text = zf.read(cit.path).decode("utf-8")
            except KeyError:
                out.append(Drift(cit, newest, "gone", detail=f"{cit.path} is not in the wheel"))
                continue
            try:
                new: Slice = cite(new_text, pyobject=cit.pyobject, filename=cit.path)
            except PinciteError as exc:
                out.append(Drift(cit, newest, "gone", detail=str(exc)))
                continue
            if old.lines == new.lines:
                out.append(Drift(cit, newest, "unchanged"))
            else:
                label = cit.pyobject or cit.path
                diff = unified_diff(old, new, f"{release.version} {label}", f"{newest} {label}")
                out.append(Drift(cit, newest, "changed", diff=diff))
        except (PinciteError, zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
            out.append(Drift(cit, newest, "error", detail=str(exc)))
    return out


def format_report(drifts: list[Drift], show_diffs: bool = True) -> str:
    """A plain-text report: one line per citation, then the diffs of changed ones."""
    lines = []
    for d in drifts:
        c = d.citation
        what = f"{c.release} {c.path}" + (f" {c.pyobject}" if c.pyobject else "")
        lines.append(f"{d.status:9} -> {d.newest:10} {what}  [{c.where}]")
        if d.detail:
            lines.append(f"{'':24}{d.detail}")
    counts = {s: sum(d.status == s for d in drifts) for s in ("unchanged", "changed", "gone")}
    lines.append(
        f"{len(drifts)} citations: "
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + f", {sum(d.status == 'error' for d in drifts)} error"
    )
    if show_diffs:
        for d in drifts:
            if d.status == "changed":
                lines += ["", d.diff]
    return "\n".join(lines)
