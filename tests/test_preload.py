"""A preloaded backend that looks Keras up while it imports (TensorFlow) binds the release's
Keras in each fork, never the base's; a server whose import starts a thread does not fork.

A stand-in ``tensorflow`` does what TensorFlow 2.16+ does on import: it adds folders found
from ``importlib.util.find_spec("keras")`` to its packages' ``__path__`` and imports
``keras.src.optimizers`` if it can. The base holds a Keras of its own, the overlay the
release's; both say when they are imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from claims import preload

ROOT = Path(__file__).resolve().parent.parent

TENSORFLOW = """
import importlib, importlib.util, os

def _parent_dir(name):  # tensorflow/python/tools/module_util.get_parent_dir_for_name
    parts = name.split(".")
    spec = importlib.util.find_spec(parts[0])
    if not spec or not spec.origin:
        return None
    return os.path.join(os.path.dirname(spec.origin), *parts[1:-1])

__path__ = [_parent_dir("keras.api._v2.keras")] + __path__
from tensorflow import compat
try:
    importlib.import_module("keras.src.optimizers")
except (ImportError, AttributeError):
    pass
"""
COMPAT = """
from tensorflow import _parent_dir
__path__ = [_parent_dir("keras._tf_keras.keras")] + __path__
"""
KERAS = """
import os
with open(os.environ["KERAS_IMPORTS"], "a") as log:
    log.write("{who}\\n")
"""

SHOW = """
import importlib, json, sys
import tensorflow, keras.src.optimizers
print(json.dumps({"tensorflow": tensorflow.__path__, "compat": tensorflow.compat.__path__,
                  "keras": keras.__file__}))
"""


def _package(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A base with a stand-in TensorFlow and a Keras of its own; an overlay with another."""
    base = _package(
        tmp_path / "base",
        {
            "tensorflow/__init__.py": TENSORFLOW,
            "tensorflow/compat/__init__.py": COMPAT,
            "keras/__init__.py": KERAS.format(who="base"),
            "keras/src/__init__.py": "",
            "keras/src/optimizers.py": "",
        },
    )
    overlay = _package(
        tmp_path / "overlay",
        {
            "keras/__init__.py": KERAS.format(who="overlay"),
            "keras/src/__init__.py": "",
            "keras/src/optimizers.py": "",
        },
    )
    return base, overlay


def _python(code: str, path: list[Path], imports: Path) -> tuple[dict, list[str]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, path)), KERAS_IMPORTS=str(imports))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    log = imports.read_text().split() if imports.exists() else []
    imports.unlink(missing_ok=True)
    return json.loads(proc.stdout), log


def test_a_fork_binds_the_releases_keras_as_a_fresh_process_would(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    base, overlay = folders
    imports = tmp_path / "imports.log"
    fresh, fresh_log = _python(SHOW, [overlay, base], imports)
    # The server: TensorFlow imports with Keras hidden; the fork: the overlay first, revealed.
    forked = (
        "import importlib, sys\n"
        "from claims import preload\n"
        "with preload._hidden('keras'):\n"
        "    import tensorflow\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'keras'], 'keras imported'\n"
        f"sys.path[1:1] = [{str(overlay)!r}]\n"
        "importlib.invalidate_caches()\n"
        "preload.reveal('keras')\n" + SHOW
    )
    preloaded, preloaded_log = _python(forked, [ROOT, base], imports)
    assert fresh_log == preloaded_log == ["overlay"]  # the base's Keras was never imported
    assert preloaded == fresh
    assert fresh["tensorflow"][0] == str(overlay / "keras" / "api" / "_v2")
    assert fresh["compat"][0] == str(overlay / "keras" / "_tf_keras")


def test_where_no_keras_is_found_the_entries_are_what_tensorflow_stores_then(
    tmp_path: Path,
) -> None:
    base = _package(
        tmp_path / "base",
        {"tensorflow/__init__.py": TENSORFLOW, "tensorflow/compat/__init__.py": COMPAT},
    )
    show = "import json, tensorflow\nprint(json.dumps(tensorflow.compat.__path__))"
    fresh, _ = _python(show, [base], tmp_path / "imports.log")
    forked = (
        "from claims import preload\n"
        "with preload._hidden('keras'):\n"
        "    import tensorflow\n"
        "preload.reveal('keras')\n" + show
    )
    preloaded, _ = _python(forked, [ROOT, base], tmp_path / "imports.log")
    assert fresh[0] is None
    assert preloaded == fresh


def test_a_server_whose_import_starts_a_thread_does_not_fork(tmp_path: Path) -> None:
    thread = "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()"
    _package(tmp_path / "mod", {"threaded.py": f"import threading, time\n{thread}\n"})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path / "mod")]))
    preloader = preload.Preloader(tmp_path / "logs")
    try:
        assert preloader.start(Path(sys.executable), "threaded", env) is None
        assert preloader.start(Path(sys.executable), "json", env) is not None
    finally:
        preloader.close()
    log = (tmp_path / "logs" / "preload-0-threaded.log").read_text()
    assert "threaded started 1 thread(s) on import: no fork" in log
