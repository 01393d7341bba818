"""Find wheels on the package index that pip is configured to use (PEP 691 JSON simple API)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from pincite.errors import FetchError, IntegrityError
from pincite.http import HttpClient

PEP691_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class IndexFile:
    """One file the index lists for a project."""

    filename: str
    url: str
    sha256: str
    size: int | None


def default_index_url() -> str:
    """The index pip would use: ``PIP_INDEX_URL``, pip's configuration files, else pip's default."""
    if env := os.environ.get("PIP_INDEX_URL"):
        return env
    try:
        from pip._internal.configuration import Configuration
        from pip._internal.models.index import PyPI
    except ImportError as exc:  # pragma: no cover - pip ships with every venv we create
        raise FetchError(f"cannot read pip's configuration to find the index: {exc}") from None
    config = Configuration(isolated=False)
    try:
        config.load()
    except Exception as exc:  # pip raises its own ConfigurationError subclasses
        raise FetchError(f"cannot read pip's configuration: {exc}") from None
    for key in (":env:.index-url", "global.index-url", "install.index-url", "download.index-url"):
        try:
            return str(config.get_value(key))
        except Exception:
            continue
    return PyPI.simple_url


def normalize(project: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", project).lower()


def project_files(http: HttpClient, index_url: str, project: str) -> dict[str, IndexFile]:
    """Every file the index lists for ``project``, keyed by file name."""
    url = f"{index_url.rstrip('/')}/{normalize(project)}/"
    data = http.get_json(url, PEP691_JSON)
    files: dict[str, IndexFile] = {}
    for entry in data.get("files", []):
        try:
            name, file_url = entry["filename"], entry["url"]
        except (KeyError, TypeError):
            raise FetchError(f"{url}: malformed PEP 691 file entry {entry!r}") from None
        if file_url.startswith("/") or "://" not in file_url:
            from urllib.parse import urljoin

            file_url = urljoin(url, file_url)
        files[name] = IndexFile(
            filename=name,
            url=file_url,
            sha256=str(entry.get("hashes", {}).get("sha256", "")).lower(),
            size=entry.get("size"),
        )
    return files


def find_wheel(http: HttpClient, index_url: str, project: str, filename: str) -> IndexFile:
    """The index's entry for ``filename``, which must publish a sha256."""
    files = project_files(http, index_url, project)
    if filename not in files:
        raise FetchError(f"{project}: the index at {index_url} does not list {filename}")
    found = files[filename]
    if not found.sha256:
        raise IntegrityError(f"{filename}: the index publishes no sha256 for this file")
    return found
