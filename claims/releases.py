"""Which releases of a line the grid runs: its `first` release on, as the package index lists
them when the grid runs, or as the grid last recorded them (`releases.json`, offline).

    python -m claims.releases            # what the index lists now, against releases.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

HERE = Path(__file__).resolve().parent
#: The releases the grid last ran, per discovered line (written by `claims.matrix merge`).
RELEASES = HERE / "releases.json"


class ReleasesError(Exception):
    """The index or the releases file cannot say which releases a line has."""


def final_releases(filenames: dict[str, bool]) -> list[str]:
    """The final releases among wheel file names (name -> yanked), oldest first.

    A release counts when it publishes a wheel that is not yanked; pre-, post- and dev
    releases are not releases people pin.
    """
    found: set[Version] = set()
    for name, yanked in filenames.items():
        try:
            version = parse_wheel_filename(name)[1]
        except InvalidWheelFilename:
            continue  # an sdist: the grid installs wheels
        if not yanked and not (version.is_prerelease or version.is_postrelease):
            found.add(version)
    return [str(v) for v in sorted(found)]


def from_index(dists: dict[str, str], index_url: str = "", timeout: float = 60) -> dict:
    """Every final release of each line's distribution (``{line: dist}``) the index lists."""
    from pincite.errors import FetchError
    from pincite.http import HttpClient
    from pincite.index import default_index_url, project_files

    http = HttpClient(timeout=timeout)
    try:
        url = default_index_url(index_url)
        return {
            line: final_releases(
                {f.filename: f.yanked for f in project_files(http, url, dist).values()}
            )
            for line, dist in dists.items()
        }
    except FetchError as exc:
        raise ReleasesError(f"cannot list releases from the package index: {exc}") from None


def read_recorded(path: Path = RELEASES) -> dict[str, list[str]]:
    """The releases the grid last ran, per line (empty when none was recorded)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ReleasesError(f"{path}: unreadable ({exc})") from None
    lines = data.get("lines") if isinstance(data, dict) else None
    if not isinstance(lines, dict) or not all(
        isinstance(v, list) and all(isinstance(r, str) for r in v) for v in lines.values()
    ):
        raise ReleasesError(f"{path}: field 'lines' must map each line to a list of releases")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print what the index lists now beside what the grid last ran."""
    from claims.grid import GRID, GridError, discovered_lines, load_grid

    recorded = read_recorded()
    try:
        listed = from_index(discovered_lines(GRID))
        grid = load_grid(GRID, listed)
    except (ReleasesError, GridError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for line_id in listed:
        runs = grid.lines[line_id].releases
        new = [v for v in runs if v not in recorded.get(line_id, [])]
        print(f"{line_id}: {len(runs)} releases run" + (f"; new: {', '.join(new)}" if new else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
