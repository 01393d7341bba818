"""Run every claim of `catalog.toml` in this environment; write the results as JSON.

    python claims/run.py --env tf-keras-2.21 --out build/matrix/tf-keras-2.21.json

Exit status 1 when a claim's outcome disagrees with where the catalog expects it to hold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog import load_catalog


def main(argv: list[str] | None = None) -> int:
    """Run the claims for one env."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    catalog = load_catalog()
    env = catalog.envs[args.env]
    # The backend and TensorFlow's logging must be chosen before anything imports Keras.
    os.environ["KERAS_BACKEND"] = env.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if env.flavor == "tf_keras":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import proofs

    if env.backend == "tensorflow":
        proofs.use_two_cpus()
    lab = proofs.Lab(env.flavor)
    results, disagreements = {}, []
    for claim in catalog.claims.values():
        expected = claim.expected(env.id)
        if expected == "n/a":
            continue
        began = time.perf_counter()
        try:
            evidence = proofs.PROOFS[claim.id](lab)
            outcome = "holds" if evidence.holds else "fails"
            numbers = {k: _plain(v) for k, v in evidence.numbers.items()}
            detail = evidence.detail
        except Exception as exc:  # an error is an outcome too, and never a pass
            outcome, numbers, detail = "error", {}, f"{type(exc).__name__}: {exc}"[:500]
        results[claim.id] = {
            "outcome": outcome,
            "expected": expected,
            "numbers": numbers,
            "detail": detail,
            "seconds": round(time.perf_counter() - began, 3),
        }
        mark = "ok " if outcome == expected else "DISAGREES"
        print(f"{mark:9} {claim.id:45} {outcome:6} (expected {expected})")
        if outcome != expected:
            disagreements.append(claim.id)
    out = {
        "env": env.id,
        "label": env.label,
        "backend": lab.backend,
        "python": platform.python_version(),
        "versions": lab.versions,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    if disagreements:
        print(f"{env.id}: reality disagrees with the catalog on: {', '.join(disagreements)}")
        return 1
    return 0


def _plain(value):
    """JSON-friendly numbers (NumPy arrays and scalars become lists and floats)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
