"""The package index pip is configured to use, and its project listings (PEP 691 or PEP 503)."""

from __future__ import annotations

import bisect
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import Version

from pincite.errors import FetchError, IntegrityError
from pincite.http import HttpClient

#: What we ask the index for: the JSON simple API first, the HTML one as a fallback.
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
#: pip's settings that name the index, most specific first (`pip config list` spells them so).
_PIP_INDEX_KEYS = (
    ":env:.index-url",
    "download.index-url",
    "install.index-url",
    "global.index-url",
)


@dataclass(frozen=True)
class IndexFile:
    """One file the index lists for a project."""

    filename: str
    url: str
    sha256: str
    size: int | None
    yanked: bool = False  # PEP 592: the index withdrew it


def pip_config() -> dict[str, str]:
    """pip's settings as ``pip config list`` prints them (pip has no Python API)."""
    pip = [sys.executable, "-m", "pip"]
    if importlib.util.find_spec("pip") is None:  # uv-made environments have no pip
        found = shutil.which("pip3") or shutil.which("pip")
        if not found:
            return {}
        pip = [found]
    try:
        out = subprocess.run(
            [*pip, "config", "list"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise FetchError(f"cannot read pip's configuration with `pip config list`: {exc}") from None
    settings = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip().strip("'\"")
    return settings


def default_index_url(configured: str = "") -> str:
    """The index to use: ``configured``, else ``PIP_INDEX_URL``, pip's configuration, or PyPI."""
    if configured:
        return configured
    if env := os.environ.get("PIP_INDEX_URL"):
        return env
    settings = pip_config()
    for key in _PIP_INDEX_KEYS:
        if settings.get(key):
            return settings[key].split()[0]
    from pypi_simple import PYPI_SIMPLE_ENDPOINT  # pip's own default, not typed here

    return PYPI_SIMPLE_ENDPOINT


def project_files(http: HttpClient, index_url: str, project: str) -> dict[str, IndexFile]:
    """Every file the index lists for ``project``, keyed by file name."""
    # pypi-simple is slow to import (0.5 s) and only needed when the index is consulted.
    from pypi_simple import ProjectPage, UnsupportedContentTypeError, UnsupportedRepoVersionError

    url = f"{index_url.rstrip('/')}/{canonicalize_name(project)}/"
    body, ctype = http.get_text(url, ACCEPT)
    mime = ctype.split(";")[0].strip().lower()
    try:
        if "json" in mime:
            page = ProjectPage.from_json_data(_json(url, body), url)
        elif "html" in mime:
            page = ProjectPage.from_html(project, body, url)
        else:
            raise UnsupportedContentTypeError(url, ctype)
    except (UnsupportedContentTypeError, UnsupportedRepoVersionError) as exc:
        raise FetchError(f"GET {url}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise FetchError(f"{url}: malformed project listing ({exc})") from None
    return {
        pkg.filename: IndexFile(
            filename=pkg.filename,
            url=pkg.url,
            sha256=(pkg.digests.get("sha256") or "").lower(),
            size=pkg.size,
            yanked=pkg.is_yanked,
        )
        for pkg in page.packages
    }


def _json(url: str, body: str) -> object:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise FetchError(f"GET {url}: invalid JSON ({exc})") from None


def not_listed(project: str, index_url: str, filename: str, files: dict[str, IndexFile]) -> str:
    """Why a wheel is not there: the same version's other wheels, else the nearest versions."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    wanted: Version | None
    try:
        wanted = parse_wheel_filename(filename)[1]
    except InvalidWheelFilename:
        wanted = None
    by_version: dict[Version, list[str]] = {}
    for name in files:
        try:
            by_version.setdefault(parse_wheel_filename(name)[1], []).append(name)
        except InvalidWheelFilename:
            continue  # an sdist: no wheel to cite
    message = f"{project}: the index at {index_url} does not list {filename}"
    if wanted is not None and wanted in by_version:
        return f"{message}; its wheels of {wanted}: {', '.join(sorted(by_version[wanted]))}"
    versions = sorted(by_version)
    if not versions:
        return f"{message}; it lists no wheels of {project} at all"
    if wanted is None:
        near = versions[-3:]
    else:
        at = bisect.bisect(versions, wanted)
        near = versions[max(at - 2, 0) : at + 2]
    return f"{message}; nearest versions with wheels: {', '.join(map(str, near))}"


def find_wheel(http: HttpClient, index_url: str, project: str, filename: str) -> IndexFile:
    """The index's entry for ``filename``, which must publish a sha256."""
    files = project_files(http, index_url, project)
    if filename not in files:
        raise FetchError(not_listed(project, index_url, filename, files))
    found = files[filename]
    if not found.sha256:
        raise IntegrityError(f"{filename}: the index publishes no sha256 for this file")
    return found
