"""The pincite guide (docs/reference/pincite.md), followed literally in a fresh folder.

Every step the guide marks (``% guide: file <path>`` before a file's block, ``% guide: run``
before commands) is done as written, in order, against a package index on 127.0.0.1 that
serves a `requests` 2.32.3 this test builds (a wheel and a src-layout sdist). Only the install
step is not run: the test runs inside an environment that has pincite already.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shlex
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import FakeIndex, make_wheel
from pincite.config import PinciteConfig

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "pincite.md"

SESSIONS = '''\
class Session:
    def request(self, method, url, params=None):
        """Constructs a Request, prepares it and sends it."""
        # Create the Request.
        req = Request(method=method.upper(), url=url, params=params or {})
        prep = self.prepare_request(req)

        proxies = {}

        # Send the request.
        send_kwargs = {"timeout": None}
        return self.send(prep, **send_kwargs)
'''


def steps(text: str) -> list[tuple[str, str, str]]:
    """The guide's marked steps: (kind, path or "", the block's body), in order."""
    found = re.findall(r"^% guide: (file|run) ?(\S*)\n```[a-z]*\n(.*?)^```$", text, re.M | re.S)
    return [(kind, path, body) for kind, path, body in found]


@pytest.fixture
def requests_index(index: FakeIndex) -> FakeIndex:
    """`requests` 2.32.3 as the real one is published: a pure wheel and a src-layout sdist."""
    meta = "Project-URL: Source, https://github.com/psf/requests\n"
    name, data = make_wheel(
        "requests", "2.32.3", {"requests/sessions.py": SESSIONS.encode()}, metadata=meta
    )
    index.add("requests", name, data)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member in ("src/requests/sessions.py", "pyproject.toml"):
            info = tarfile.TarInfo(f"requests-2.32.3/{member}")
            info.size = 0
            tar.addfile(info, io.BytesIO(b""))
    index.add("requests", "requests-2.32.3.tar.gz", buf.getvalue())
    return index


def test_the_guide_works_as_written(requests_index: FakeIndex, tmp_path: Path) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    guide = steps(text)
    assert [k for k, _, _ in guide].count("run") >= 4, guide
    project = tmp_path / "project"
    project.mkdir()
    bin_dir = str(Path(sys.executable).parent)  # pincite and sphinx-build beside this Python
    env = {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "PIP_INDEX_URL": requests_index.url,  # "the index pip uses": the loopback one
        "PINCITE_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("PINCITE_OFFLINE", None)
    for kind, path, body in guide:
        if kind == "file":
            target = project / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            continue
        for line in body.splitlines():
            assert line.startswith("$ "), line
            words = shlex.split(line[2:])
            extra = {}
            while "=" in words[0]:  # VAR=value before the command
                key, _, value = words.pop(0).partition("=")
                extra[key] = value
            before = len(requests_index.file_hits)
            proc = subprocess.run(
                words,
                cwd=project,
                env={**env, **extra},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert proc.returncode == 0, (line, proc.stdout, proc.stderr)
            if extra.get("PINCITE_OFFLINE") == "1":
                assert len(requests_index.file_hits) == before  # offline means no request
    # What the guide shows `pincite add` writing is what it wrote.
    pins = (project / "docs" / "pins.toml").read_text()
    assert pins.strip() in text
    page = (project / "build" / "html" / "index.html").read_text()
    assert "requests 2.32.3 · requests/sessions.py · L4–L8 · sha256" in page
    assert "https://github.com/psf/requests/blob/v2.32.3/src/requests/sessions.py#L4-L8" in page
    assert "prepare_request" in page and "send_kwargs" not in page


def test_the_guide_lists_every_setting_and_pins_field() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for f in dataclasses.fields(PinciteConfig):
        assert f"| `pincite_{f.name}` |" in text, f.name
    from pincite import pins

    for name in (*pins._REQUIRED, *pins._UPSTREAM, "files", "path-map", "title", "drift-within"):
        assert f"| `{name}` |" in text, name
