"""Shared fixtures: wheels built by the tests themselves and a PEP 691 index on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pincite.cache import Cache
from pincite.http import HttpClient

pytest_plugins = ["sphinx.testing.fixtures"]

ROOTS = Path(__file__).parent / "roots"

TRAINING_PY = '''\
"""A toy training module, shaped like Keras' own."""


class Model:
    """A model."""

    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)
        loss = self.compute_loss(x, y, y_pred)
        return loss

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        """Compute the total loss."""
        del x  # unused
        return self.compiled_loss(
            y, y_pred, sample_weight, regularization_losses=self.losses
        )

    @property
    def losses(self):
        return list(self._losses)
'''

TRAINING_PY_V2 = TRAINING_PY.replace(
    "regularization_losses=self.losses", "regularization_losses=self.losses + []"
)


@pytest.fixture(scope="session")
def rootdir() -> Path:
    """Where sphinx.testing finds the ``test-*`` roots."""
    return ROOTS


def make_wheel(
    name: str,
    version: str,
    files: dict[str, bytes],
    *,
    tamper_record: bool = False,
    metadata: str = "",
) -> tuple[str, bytes]:
    """Build a real wheel (zip with METADATA, WHEEL and a RECORD of sha256s)."""
    dist = f"{name.replace('-', '_')}-{version}"
    filename = f"{dist}-py3-none-any.whl"
    members = dict(files)
    members[f"{dist}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{metadata}".encode()
    )
    members[f"{dist}.dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, data in members.items():
        if tamper_record:
            data = data + b"#"
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    members[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        # Padding members make the cited file a small fraction of the wheel, as in real wheels.
        zf.writestr("pad/before.bin", bytes(range(256)) * 200, compress_type=zipfile.ZIP_STORED)
        for path, data in members.items():
            zf.writestr(path, data)
        zf.writestr("pad/after.bin", bytes(range(256)) * 200, compress_type=zipfile.ZIP_STORED)
    return filename, buf.getvalue()


@dataclass
class FakeIndex:
    """A PEP 691 index with switchable faults, served by a real HTTP server on loopback."""

    server: HTTPServer
    projects: dict[str, dict[str, bytes]] = field(default_factory=dict)
    honour_ranges: bool = True
    drop_after: int | None = None  # serve this many body bytes of a file, then hang up
    drops_left: int = 0
    status_file: int | None = None  # answer file requests with this status
    statuses_left: int = 0
    tamper: bool = False  # flip one byte of every file body
    index_sha_override: str | None = None
    html_listing: bool = False  # answer project pages in PEP 503 HTML, not PEP 691 JSON
    retry_after: str | None = None  # send this Retry-After with status_file
    file_hits: list[str] = field(default_factory=list)
    yanked: set[str] = field(default_factory=set)  # file names listed as yanked (PEP 592)

    @property
    def url(self) -> str:
        """The index's simple-API root."""
        return self.server.url_for("/simple")

    def add(self, project: str, filename: str, data: bytes) -> None:
        """Publish a file."""
        self.projects.setdefault(project, {})[filename] = data

    def handle(self, request: Request) -> Response:
        m = re.fullmatch(r"/simple/([^/]+)/", request.path)
        if m:
            if m[1] not in self.projects:
                return Response("not found", status=404)
            files = [
                {
                    "filename": fn,
                    "url": self.server.url_for(f"/files/{fn}"),
                    "hashes": {
                        "sha256": hashlib.sha256(data).hexdigest()
                        if self.index_sha_override is None
                        else self.index_sha_override
                    },
                    "size": len(data),
                    **({"yanked": True} if fn in self.yanked else {}),
                }
                for fn, data in self.projects[m[1]].items()
            ]
            if self.html_listing:
                links = "".join(
                    f'<a href="{f["url"]}{_fragment(f["hashes"]["sha256"])}">{f["filename"]}</a>'
                    for f in files
                )
                return Response(f"<html><body>{links}</body></html>", content_type="text/html")
            body = json.dumps({"meta": {"api-version": "1.0"}, "name": m[1], "files": files})
            return Response(body, content_type="application/vnd.pypi.simple.v1+json")
        m = re.fullmatch(r"/files/(.+)", request.path)
        if not m:
            return Response("not found", status=404)
        self.file_hits.append(request.headers.get("Range", "whole"))
        if self.status_file is not None and self.statuses_left > 0:
            self.statuses_left -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return Response("unavailable", status=self.status_file, headers=headers)
        data = next((f[m[1]] for f in self.projects.values() if m[1] in f), None)
        if data is None:
            return Response("not found", status=404)
        status, headers = 200, {"Accept-Ranges": "bytes" if self.honour_ranges else "none"}
        rng = re.fullmatch(r"bytes=(\d+)-(\d+)", request.headers.get("Range", ""))
        if rng and self.honour_ranges:
            start, end = int(rng[1]), min(int(rng[2]), len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        if self.tamper:  # flip one byte in the middle of whatever body is sent
            mid = len(data) // 2
            data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
        if self.drop_after is not None and self.drops_left > 0:
            self.drops_left -= 1
            return _truncated_response(data, self.drop_after, status, headers)
        return Response(data, status=status, headers=headers)


def _fragment(sha256: str) -> str:
    """PEP 503's hash fragment, left out when the index publishes no hash."""
    return f"#sha256={sha256}" if sha256 else ""


def _truncated_response(data: bytes, keep: int, status: int, headers: dict) -> Response:
    """Promise the whole body, send ``keep`` bytes, then close the connection."""

    def body():
        yield data[:keep]
        raise ConnectionAbortedError("test server drops the connection mid-body")

    resp = Response(body(), status=status, headers=headers, direct_passthrough=True)
    resp.headers["Content-Length"] = str(len(data))
    return resp


@pytest.fixture
def index(httpserver: HTTPServer) -> FakeIndex:
    """An empty fake index; tests publish wheels into it."""
    fake = FakeIndex(httpserver)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    return fake


@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    """An empty cache in a temporary folder."""
    return Cache(tmp_path / "cache")


@pytest.fixture
def http() -> HttpClient:
    """A client with short timeouts and no real sleeping between retries."""
    return HttpClient(timeout=5, retries=3, backoff=0.0, sleep=lambda s: None)


PINS_TOML = """\
[[release]]
id = "toy-1"
project = "toy-keras"
version = "1.0"
wheel = "{wheel1}"
repository = "https://example.invalid/toy/keras"
tag = "v1.0"
path-map = {{ "toy_keras/src/" = "toy_keras/" }}
files = ["toy_keras/src/engine/training.py"]

[[release]]
id = "toy-2"
project = "toy-keras"
version = "2.0"
wheel = "{wheel2}"
repository = "https://example.invalid/toy/keras"
tag = "v2.0"
files = ["toy_keras/src/engine/training.py"]
"""


@dataclass
class Project:
    """A pins file and its lock, locked against the fake index."""

    pins: Path
    lock: Path
    wheels: dict[str, bytes]


@pytest.fixture
def project(tmp_path: Path, index: FakeIndex) -> Project:
    """Two toy releases published on the fake index, pinned and locked."""
    from pincite.lock import dump_lock
    from pincite.lockbuild import build_lock
    from pincite.pins import load_pins

    path = "toy_keras/src/engine/training.py"
    fn1, w1 = make_wheel("toy-keras", "1.0", {path: TRAINING_PY.encode()})
    fn2, w2 = make_wheel("toy-keras", "2.0", {path: TRAINING_PY_V2.encode()})
    index.add("toy-keras", fn1, w1)
    index.add("toy-keras", fn2, w2)
    pins = tmp_path / "pins.toml"
    pins.write_text(PINS_TOML.format(wheel1=fn1, wheel2=fn2))
    lock = tmp_path / "pins.lock.json"
    locked = build_lock(load_pins(pins), HttpClient(timeout=5), index.url, log=lambda *a: None)
    dump_lock(locked, lock)
    index.file_hits.clear()
    return Project(pins=pins, lock=lock, wheels={fn1: w1, fn2: w2})


@pytest.fixture
def overrides(project: Project, index: FakeIndex, tmp_path: Path) -> dict[str, object]:
    """Point a Sphinx project at the toy project, a fresh cache and the loopback index."""
    return {
        "pincite_pins": str(project.pins),
        "pincite_lock": str(project.lock),
        "pincite_cache_dir": str(tmp_path / "cache"),
        "pincite_index_url": index.url,
    }


def warnings_of(app) -> str:
    """The build's warnings, minus the node re-registration noise of a second app in one test."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", app.warning.getvalue())
    return "\n".join(line for line in text.splitlines() if "while setting up extension" not in line)
