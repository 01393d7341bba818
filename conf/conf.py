"""Sphinx configuration: ``sphinx-build -c conf docs build/html`` (see noxfile.py)."""

from __future__ import annotations

import hashlib
import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import metadata
from pathlib import Path

import pincite

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = ROOT / "claims"
# The one path set: the repository, for the `claims` package (its Sphinx extensions too). The
# notebook kernels inherit it through PYTHONPATH (`from claims.page import prove`), pick Keras 3's
# backend, and TensorFlow's C++ start-up logging never reaches a page.
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

project = "Where do layer losses go?"
author = "The layer-losses documentation team"
copyright = "2026, the layer-losses documentation team"

extensions = [
    "myst_nb",
    "sphinx_design",
    "sphinx_copybutton",
    "sphinx-mathjax-offline",
    "autodoc2",
    "pincite",
    "claims.sphinxext",
    "claims.callchain",
    "claims.search",
]

# --- pincite: citations of pinned upstream releases --------------------------------------
pincite_pins = str(ROOT / "snippets" / "pins.toml")
pincite_lock_command = "nox -s lock"  # what messages tell a maintainer of this site to run
# autodoc2 reads upstream objects statically from these verified copies (never imported).
pincite_materialize_dir = str(ROOT / "build" / "pinned-src")

# --- MyST / MyST-NB ----------------------------------------------------------------------
myst_enable_extensions = [
    "colon_fence",
    "deflist",
    "dollarmath",
    "amsmath",
    "fieldlist",
    "substitution",
]
# The guide states the version of the engine it describes.
myst_substitutions = {"pincite_version": pincite.__version__}
myst_heading_anchors = 3


def _execution_fingerprint() -> str:
    """Versions of the executing environment plus the proofs' sources: any change re-executes."""
    parts = []
    for dist in ("tensorflow", "tf-keras", "keras", "tensorflow-probability", "numpy"):
        try:
            parts.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist} absent")
    sources = ["page.py", "catalog.py", "catalog.toml", *sorted(
        p.relative_to(CLAIMS).as_posix() for sub in ("proofs", "reader_code")
        for p in (CLAIMS / sub).glob("*.py")
    )]  # fmt: skip
    for name in sources:
        parts.append(hashlib.sha256((CLAIMS / name).read_bytes()).hexdigest())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


nb_execution_mode = "cache"
# One jupyter-cache per environment fingerprint, so changing a pin or a proof re-executes.
nb_execution_cache_path = str(ROOT / "build" / "jupyter-cache" / _execution_fingerprint())
nb_output_stderr = "remove"  # stderr is TensorFlow noise; the evidence is printed to stdout
nb_ipywidgets_js = {}  # no widget scripts from the network
# A failing page is one warning on that page with the cell's traceback (which ends with the
# claim, the environment and what to run), and -W fails the build: not Sphinx's crash
# report with the reason in a file under /tmp.
nb_execution_raise_on_error = False
nb_execution_show_tb = True
nb_execution_timeout = 600

# --- autodoc2: the engine's API, and upstream objects from pinned source ----------------
# autodoc2 wants paths relative to this directory.
_PINNED = Path("..") / "build" / "pinned-src"
autodoc2_packages = [
    {"path": "../src/pincite", "module": "pincite"},
    *(
        {"path": str(_PINNED / release / path), "module": module, "auto_mode": False}
        for release, path, module in [
            ("keras-2.3", "keras/engine/training.py", "keras.engine.training"),
            (
                "tf-2.2",
                "tensorflow/python/keras/engine/compile_utils.py",
                "tensorflow.python.keras.engine.compile_utils",
            ),
            ("tf-keras-2.21", "tf_keras/src/engine/training.py", "tf_keras.src.engine.training"),
            ("keras-3.15", "keras/src/trainers/trainer.py", "keras.src.trainers.trainer"),
            (
                "tfp-0.25",
                "tensorflow_probability/python/layers/dense_variational_v2.py",
                "tensorflow_probability.python.layers.dense_variational_v2",
            ),
        ]
    ),
]
autodoc2_output_dir = "reference/api"

# autodoc2-object sets the current module and, as the current class, the class's fully
# qualified name (or, for a class, the class itself), so Sphinx registers `mod.mod.Class.method`
# and `mod.Class.Class` (sphinx-autodoc2 issue 17, open in 0.5.0). The class is made current by
# its name inside the module, and only for its members: every object gets its import path.
_RENDERING: ContextVar[str] = ContextVar("autodoc2_object", default="")


@contextmanager
def _fully_qualified_parents(env, mod, klass):
    saved = env.ref_context.get("py:module"), env.ref_context.get("py:class")
    env.ref_context["py:module"] = mod["full_name"]
    parent = klass and klass["full_name"] != _RENDERING.get()
    # The class's name inside its module: Sphinx puts the module in front itself.
    relative = klass["full_name"].removeprefix(mod["full_name"] + ".") if parent else None
    env.ref_context["py:class"] = relative
    try:
        yield
    finally:
        env.ref_context["py:module"], env.ref_context["py:class"] = saved


def setup(app):
    """Register autodoc2-object with the naming fix above (re-check when the pin moves)."""
    if metadata.version("sphinx-autodoc2") != "0.5.0":
        return
    import autodoc2.sphinx.autodoc as autodoc

    class AutodocObject(autodoc.AutodocObject):
        def run(self):
            token = _RENDERING.set(self.arguments[0])
            try:
                return super().run()
            finally:
                _RENDERING.reset(token)

    autodoc._set_parents = _fully_qualified_parents
    app.add_directive("autodoc2-object", AutodocObject, override=True)


autodoc2_render_plugin = "myst"
autodoc2_hidden_objects = ["private", "dunder", "inherited"]
autodoc2_docstring_parser_regexes = [(r"pincite\..*", "myst")]
# Upstream docstrings are Google style RST-ish text: show them verbatim, never parse them.
autodoc2_docstrings = "direct"

# --- 404 page --------------------------------------------------------------------------
# docs/404.md is a plain page with relative links, so it works in the offline copy. On Read
# the Docs it is served for any missing URL, at any depth, so there sphinx-notfound-page
# rewrites its links to absolute ones.
if os.environ.get("READTHEDOCS"):
    extensions.append("notfound.extension")

# --- HTML ----------------------------------------------------------------------------------
html_theme = "furo"
# No page links to the Python module index (the API reference has its own package page), so
# it is not written: an orphan page rebuilt on every run, even a no-op one.
html_domain_indices = False
html_title = "Where do layer losses go?"
html_static_path = [str(ROOT / "conf" / "_static")]
html_css_files = ["pincite.css"]
html_js_files = ["scroll-hint.js"]
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
# Search summaries: Sphinx fetches each result page, which browsers refuse from file://;
# claims.search answers those requests from the pages' texts, shipped with the site.
claims_search_spellings = [
    "activity_regularizer", "kernel_regularizer", "bias_regularizer", "add_loss",
    "sample_weight", "class_weight", "loss_weights", "kl_weight", "train_step", "test_step",
    "compute_loss", "run_eagerly", "train_on_batch", "test_on_batch", "val_loss",
    "return_losses", "stateless_call", "mixed_float16", "time_distributed",
]  # fmt: skip

# autodoc2 also writes an api/index.rst; the reference page links the package page instead.
exclude_patterns = ["_build", "**.ipynb_checkpoints", "reference/api/index.rst"]
nitpicky = True
# No intersphinx: the build must not depend on other sites' inventories. Standard-library and
# docutils types in the engine's signatures are therefore plain text, not links.
nitpick_ignore_regex = [
    ("py:(class|obj)", r"(pathlib|collections\.abc|ast|io|zipfile|typing|docutils|sphinx)\..*"),
    ("py:(class|obj)", r"(packaging|urllib3|tokenize|_typeshed|email)\..*"),
    # Base classes of cited upstream objects that are themselves not cited.
    ("py:(class|obj)", r"tensorflow_probability\.python\.internal\..*"),
]
