"""Report how each cited slice looks in the newest release of its line.

Read-only. The citations come from the manifest the last build wrote (not from the pages), so
every directive counts, whatever its markup, and each slice is cut again with the very options
that narrowed it. For each pinned release, the index is asked for the newest final release
within the pin's line (``drift-within``, e.g. ``<3`` for Keras 2); only the cited members of
that wheel are read, by range requests.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from pincite.errors import PinciteError
from pincite.http import HttpClient
from pincite.index import IndexFile, project_files
from pincite.manifest import CitationRecord
from pincite.pins import Release
from pincite.reader import cite, unified_diff
from pincite.remotezip import RangeFile
from pincite.semdiff import readable_diff
from pincite.store import SourceStore


@dataclass(frozen=True)
class Drift:
    """What became of one cited slice in the newest release of its line."""

    citation: CitationRecord
    newest: str
    status: str  # "unchanged" | "reformatted" | "changed" | "gone" | "error"
    diff: str = ""
    detail: str = ""


def unique_citations(records: list[CitationRecord]) -> list[CitationRecord]:
    """One record per distinct slice (release, file, narrowing): the first page citing it."""
    seen: dict[tuple[str, str, str], CitationRecord] = {}
    for rec in records:
        seen.setdefault((rec.release, rec.path, json.dumps(rec.options, sort_keys=True)), rec)
    return list(seen.values())


def newest_wheel(files: dict[str, IndexFile], release: Release) -> IndexFile | None:
    """The newest final release's wheel within the pin's line, with comparable tags."""
    project = canonicalize_name(release.project)
    pinned = {(t.abi, t.platform) for t in parse_wheel_filename(release.wheel)[3]}
    pure = any(abi == "none" for abi, _ in pinned)
    families = {plat.split("_")[-1] for _, plat in pinned}
    best: tuple[tuple[object, ...], IndexFile] | None = None
    for name, entry in files.items():
        try:
            wheel_project, version, _, tags = parse_wheel_filename(name)
        except InvalidWheelFilename:
            continue  # sdists and stray files
        if wheel_project != project or version.is_prerelease or version.is_devrelease:
            continue
        if not release.drift_within.contains(version):
            continue  # another line: Keras 2.15 is compared with the newest keras < 3
        same = any((t.abi, t.platform) in pinned for t in tags)
        # Platform wheels: any CPython tag of the same platform family will do.
        similar = any(t.abi != "none" and t.platform.split("_")[-1] in families for t in tags)
        if not (same or similar or (pure and any(t.abi == "none" for t in tags))):
            continue
        key = (version, same, name)
        if best is None or key > best[0]:
            best = (key, entry)
    return best[1] if best else None


def _slice_options(rec: CitationRecord) -> dict[str, Any]:
    """The narrowing options only: emphasis does not change what is cited."""
    return {
        k: v for k, v in rec.options.items() if k not in {"emphasize", "emphasize_lines", "dedent"}
    }


def check_drift(
    store: SourceStore, citations: list[CitationRecord], http: HttpClient
) -> list[Drift]:
    """Compare every cited slice with the same slice in the newest release of its line."""
    out: list[Drift] = []
    opened: dict[str, tuple[str, zipfile.ZipFile | None, str]] = {}
    for cit in unique_citations(citations):
        release = store.release(cit.release)
        if cit.release not in opened:
            try:
                wheel = newest_wheel(project_files(http, store.index_url, release.project), release)
                if wheel is None:
                    opened[cit.release] = ("?", None, "no comparable wheel on the index")
                else:
                    version = str(parse_wheel_filename(wheel.filename)[1])
                    size = wheel.size or http.size(wheel.url)
                    zf = zipfile.ZipFile(RangeFile(http, wheel.url, size))
                    opened[cit.release] = (version, zf, "")
            except (PinciteError, zipfile.BadZipFile, OSError) as exc:
                opened[cit.release] = ("?", None, str(exc))
        newest, newest_zip, problem = opened[cit.release]
        if newest_zip is None:
            out.append(Drift(cit, newest, "error", detail=problem))
            continue
        out.append(_compare(store, cit, release, newest, newest_zip))
    return out


def _compare(
    store: SourceStore, cit: CitationRecord, release: Release, newest: str, zf: zipfile.ZipFile
) -> Drift:
    """One slice, pinned and newest, cut with the same options."""
    options = _slice_options(cit)
    try:
        old = cite(store.read_text(cit.release, cit.path), filename=cit.path, **options)
        if (old.start, old.end) != (cit.start, cit.end):
            return Drift(
                cit,
                newest,
                "error",
                detail=f"the manifest says L{cit.start}-L{cit.end}, the pinned file gives "
                f"L{old.start}-L{old.end}: rebuild the site to refresh the manifest",
            )
        new_path = moved_to(cit.path, zf.namelist())
        if new_path is None:
            return Drift(cit, newest, "gone", detail=f"{cit.path} is not in the wheel")
        moved = f"moved to {new_path}; " if new_path != cit.path else ""
        try:
            new = cite(zf.read(new_path).decode("utf-8"), filename=new_path, **options)
        except PinciteError as exc:
            return Drift(cit, newest, "gone", detail=f"{moved}{exc}")
    except (PinciteError, zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
        return Drift(cit, newest, "error", detail=str(exc))
    where = f"{moved}now L{new.start}-L{new.end}"
    if old.lines == new.lines:
        return Drift(cit, newest, "unchanged", detail=where)
    label = options.get("pyobject") or cit.path
    old_label = f"{release.version} {cit.path} {label}"
    new_label = f"{newest} {new_path} {label}"
    # Only formatting moved (indentation, wrapping, quotes, reflowed docstrings): say so, and
    # keep the "changed" list for changes a page's prose may have to follow.
    if not readable_diff(old, new, old_label, new_label):
        return Drift(cit, newest, "reformatted", detail=f"formatting only; {where}")
    diff = unified_diff(old, new, old_label, new_label)
    return Drift(cit, newest, "changed", diff=diff, detail=moved.rstrip("; "))


def moved_to(path: str, names: list[str]) -> str | None:
    """``path`` in a newer wheel: itself, else the one member ending with its last two parts.

    Keras 2.15 moved ``keras/engine/training.py`` to ``keras/src/engine/training.py``; a
    citation follows such a move only when exactly one member could be the same file.
    """
    if path in names:
        return path
    tail = "/" + "/".join(path.split("/")[-2:])
    found = [n for n in names if n.endswith(tail) and n.split("/")[0] == path.split("/")[0]]
    return found[0] if len(found) == 1 else None


def describe(cit: CitationRecord) -> str:
    """``release path symbol (narrowing)`` in one line."""
    options = _slice_options(cit)
    what = f"{cit.release} {cit.path}"
    if obj := options.pop("pyobject", None):
        what += f" {obj}"
    if options:
        what += " (" + ", ".join(f"{k.replace('_', '-')}: {v}" for k, v in options.items()) + ")"
    return what


def format_report(drifts: list[Drift], show_diffs: bool = True) -> str:
    """A plain-text report: one line per cited slice, then the diffs of changed ones."""
    lines = []
    for d in drifts:
        c = d.citation
        lines.append(
            f"{d.status:9} -> {d.newest:10} {describe(c)}  [{c.where} L{c.start}-L{c.end}]"
        )
        if d.detail and (d.status != "unchanged" or "moved" in d.detail):
            lines.append(f"{'':24}{d.detail}")
    statuses = ("unchanged", "reformatted", "changed", "gone")
    counts = {s: sum(d.status == s for d in drifts) for s in statuses}
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
