"""Run every claim of `catalog.toml` in this environment; write its record as JSON.

    python -m claims.run --env keras-3.14.1-jax --out build/matrix/keras-3.14.1-jax.json

The matrix runner (`matrix.py`) calls it inside the environment's base, with the release laid
over it. The record carries its provenance: the fingerprint of what produced it, the versions
measured here, the Python, the platform and the base's identity. Exit status 0 when every
outcome agrees with the catalog, 3 when one disagrees (the record says which); any other
status, or no record, means the environment is broken.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import platform
import sys
import sysconfig
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any

from claims.catalog import HERE, NA, Catalog, disagreement, fingerprint, load_catalog_in
from claims.grid import Env
from claims.provenance import AGREES, DISAGREES, MANIFEST, identity_digest, reported_names
from claims.releases import read_recorded
from pincite.atomic import write_atomic

#: The module whose version is the release of each line.
RELEASE_MODULE = {
    "keras": "keras",
    "keras2": "keras",
    "tf.keras": "tensorflow",
    "tf_keras": "tf_keras",
}
#: Exit status when an outcome disagrees with the catalog (1 is Python's own for a crash).
DISAGREES_EXIT = 3


def load_proofs(folder: Path) -> ModuleType:
    """The proofs of a claims folder: this package's ``proofs/`` (one module per topic), or
    the one ``proofs.py`` a test builds."""
    package = folder / "proofs" / "__init__.py"
    if folder.resolve() == HERE and package.exists():
        return importlib.import_module("claims.proofs")
    path = package if package.exists() else folder / "proofs.py"
    spec = importlib.util.spec_from_file_location("claims.proofs", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path}: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def base_identity(prefix: str = sys.prefix) -> dict[str, str]:
    """The base at ``prefix`` (this interpreter's), from the manifest its builder left in it."""
    try:
        manifest = json.loads((Path(prefix) / MANIFEST).read_text())
    except (OSError, ValueError):
        raise SystemExit(f"{prefix} is not a grid base: no readable {MANIFEST}") from None
    return {"id": str(manifest.get("id")), "identity": identity_digest(manifest)}


def measured_versions(names: list[str]) -> dict[str, str]:
    """The installed version of each distribution, as this environment resolves it."""
    out = {}
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the claims for one environment."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--claims", default=str(HERE), help="the claims folder (default: ours)")
    parser.add_argument(
        "--releases", help="the releases the index lists (JSON; default: those last recorded)"
    )
    args = parser.parse_args(argv)
    folder = Path(args.claims)
    current = fingerprint(folder)  # what produced this record, read before anything runs
    listed = read_recorded(Path(args.releases)) if args.releases else None
    catalog = load_catalog_in(folder, listed)
    if args.env not in catalog.envs:
        raise SystemExit(f"{args.env!r} is not an environment of {folder / 'grid.toml'}")
    env = catalog.envs[args.env]
    base = base_identity()
    # The backend and TensorFlow's logging must be chosen before anything imports Keras.
    os.environ["KERAS_BACKEND"] = env.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if env.line == "tf_keras":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    if env.backend == "theano":  # no compiler in the root filesystem: Theano's own Python ops
        os.environ.setdefault("THEANO_FLAGS", "cxx=,base_compiledir=/tmp/theano")
    if env.backend == "jax":  # two host devices for keras.distribution.DataParallel
        os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    # TensorFlow and Keras leave about a million long-lived objects, which every full garbage
    # collection would scan again (5 % of a TensorFlow run): no collection while they import,
    # then frozen (`gc.freeze`). The claims' own objects are collected as in any program, at
    # the same thresholds.
    gc.disable()
    proofs = load_proofs(folder)
    if env.backend == "tensorflow":
        proofs.use_two_cpus()
    began = time.perf_counter()
    lab = proofs.Lab(env.line)
    gc.freeze()
    gc.enable()
    loaded = __import__(RELEASE_MODULE[env.line]).__version__
    if loaded != env.release or lab.backend != env.backend:
        raise SystemExit(
            f"{env.id}: loaded {loaded} on {lab.backend}, the grid says {env.release} on "
            f"{env.backend}: the environment is broken"
        )
    results = {}
    for claim in catalog.claims.values():
        if claim.expected(env) != NA:
            results[claim.id] = proofs.run_claim(lab, claim, env)
    measured = {
        "backend": lab.backend,
        "python": platform.python_version(),
        "platform": sysconfig.get_platform(),
        "versions": measured_versions(reported_names(catalog.grid, env)),
        # Programs compiled by an earlier environment of the run, loaded from JAX's cache.
        "compile_cache": bool(os.environ.get("JAX_COMPILATION_CACHE_DIR")),
        # Forked from a server that had imported this module (`claims.preload`), or afresh.
        "preloaded": os.environ.get("GRID_PRELOADED"),
        "seconds": round(time.perf_counter() - began, 3),
    }
    record, disagree = compose_record(catalog, env, current, base, measured, results)
    write_atomic(Path(args.out), (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    for problem in disagree:
        print(problem)
    return DISAGREES_EXIT if disagree else 0


def compose_record(
    catalog: Catalog,
    env: Env,
    current: str,
    base: dict[str, str],
    measured: dict[str, Any],
    results: dict[str, dict[str, Any]],
    echo: Callable[[str], object] = print,
) -> tuple[dict[str, Any], list[str]]:
    """An environment's record from its claims' results, what was measured where they ran,
    and what produced them (``current``: the fingerprint read before anything ran); and
    where an outcome disagrees with the catalog. Shared by this runner and Python 2.7's."""
    disagree = []
    for claim_id, res in results.items():
        claim = catalog.claims[claim_id]
        outcome, detail = res["outcome"], res["detail"]
        problem = disagreement(claim, env, outcome)
        if problem:
            disagree.append(problem + (f" ({detail})" if detail else ""))
        mark = "DISAGREES" if problem else "ok "
        echo(f"{mark:9} {env.id:24} {claim.id:45} {outcome} (expected: {claim.expected(env)})")
    record = {
        "env": env.id,
        "fingerprint": current,
        "status": DISAGREES if disagree else AGREES,
        "label": env.label,
        "line": env.line,
        "release": env.release,
        "overlay": env.overlay,
        "base": base,
        **measured,
        "results": results,
    }
    return record, disagree


if __name__ == "__main__":
    sys.exit(main())
