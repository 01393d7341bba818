"""The citations manifest: every slice a build cited, written when the build finishes.

It is the one source of truth for what the site cites: `pincite drift` reads it (not the pages),
and other projects can reuse it. One record per cited slice, with the options that narrowed it,
so that a slice can be cut again, exactly, from another release of the same file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pincite.atomic import write_atomic
from pincite.errors import ManifestError

MANIFEST_VERSION = 1
#: The manifest's file name at the root of the built site.
MANIFEST_NAME = "pincite-citations.json"


@dataclass(frozen=True)
class CitationRecord:
    """One cited slice: which release and file, how it was narrowed, and where a page cites it."""

    release: str
    project: str
    version: str
    path: str
    #: The narrowing options exactly as the slicer took them (`pyobject`, `start-after`, ...).
    options: dict[str, Any]
    start: int
    end: int
    #: sha256 of the whole cited file (as locked) and of the slice's text.
    sha256: str
    slice_sha256: str
    url: str
    label: str
    docname: str
    source: str
    line: int | None
    #: "source" for pincite-source, "old"/"new" for the two sides of a pincite-diff.
    role: str = "source"

    @property
    def where(self) -> str:
        """``page:line`` of the directive, as warnings name it."""
        return f"{self.source}:{self.line}" if self.line else self.source


def dump_manifest(records: list[CitationRecord], path: Path, generator: str) -> bool:
    """Write the manifest atomically; return False (and leave it alone) when nothing changed."""
    body = {
        "manifest-version": MANIFEST_VERSION,
        "generated-by": generator,
        "citations": [
            asdict(r)
            for r in sorted(records, key=lambda r: (r.source, r.line or 0, r.role, r.release))
        ],
    }
    data = (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    write_atomic(path, data)
    return True


def load_manifest(path: str | Path) -> list[CitationRecord]:
    """Read a manifest; errors name the file and, for a bad record, its index."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: no citations manifest; build the site first (`nox -s docs`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("manifest-version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: field 'manifest-version' must be {MANIFEST_VERSION}")
    out = []
    for n, raw in enumerate(data.get("citations", [])):
        try:
            out.append(CitationRecord(**raw))
        except TypeError as exc:
            raise ManifestError(f"{path}: citations[{n}]: {exc}") from None
    return out
