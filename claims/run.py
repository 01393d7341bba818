"""Run every claim of `catalog.toml` in this environment; write the results as JSON.

    python -m claims.run --env keras-3.14-jax --out build/matrix/keras-3.14-jax.json

The matrix runner (`matrix.py`) calls it inside the environment's base, with the release laid
over it. Exit status 1 when a claim's outcome disagrees with the catalog, 2 when the
environment is not the one the grid describes (then nothing is written).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from claims.catalog import FAILS, HOLDS, NA, check_run, disagreement, load_catalog

#: The module whose version is the release of each line.
RELEASE_MODULE = {"keras": "keras", "tf.keras": "tensorflow", "tf_keras": "tf_keras"}


def main(argv: list[str] | None = None) -> int:
    """Run the claims for one environment."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    catalog = load_catalog()
    env = catalog.envs[args.env]
    # The backend and TensorFlow's logging must be chosen before anything imports Keras.
    os.environ["KERAS_BACKEND"] = env.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if env.line == "tf_keras":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    if env.backend == "jax":  # two host devices for keras.distribution.DataParallel
        os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    from claims import proofs

    if env.backend == "tensorflow":
        proofs.use_two_cpus()
    began = time.perf_counter()
    lab = proofs.Lab(env.line)
    loaded = __import__(RELEASE_MODULE[env.line]).__version__
    if loaded != env.release or lab.backend != env.backend:
        print(
            f"{env.id}: loaded {loaded} on {lab.backend}, the grid says {env.release} on "
            f"{env.backend}: the environment is broken",
            file=sys.stderr,
        )
        return 2
    results = {}
    for claim in catalog.claims.values():
        expected = claim.expected(env)
        if expected == NA:
            continue
        began_claim = time.perf_counter()
        try:
            evidence = proofs.PROOFS[claim.id](lab)
            outcome = HOLDS if evidence.holds else FAILS
            numbers = {k: _plain(v) for k, v in evidence.numbers.items()}
            detail = evidence.detail
        except Exception as exc:  # an error is an outcome too, and never a pass
            outcome, numbers = "error", {}
            detail = f"{type(exc).__name__}: {proofs._last_line(exc)}"
        results[claim.id] = {
            "outcome": outcome,
            "numbers": numbers,
            "detail": detail,
            "seconds": round(time.perf_counter() - began_claim, 3),
        }
        mark = "DISAGREES" if disagreement(claim, env, outcome) else "ok "
        print(f"{mark:9} {env.id:24} {claim.id:45} {outcome} (expected: {expected})")
    out = {
        "env": env.id,
        "label": env.label,
        "line": env.line,
        "release": env.release,
        "backend": lab.backend,
        "base": env.base,
        "python": platform.python_version(),
        "versions": lab.versions,
        "seconds": round(time.perf_counter() - began, 3),
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    tmp.replace(args.out)
    problems = check_run(catalog, out, env.id)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def _plain(value):
    """JSON-friendly numbers (NumPy arrays and scalars become lists and floats)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
