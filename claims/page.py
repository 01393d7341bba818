"""What the executed pages call: prove a claim in this kernel, print the numbers, assert."""

from __future__ import annotations

import os
import warnings

# Before TensorFlow or Keras is imported: quiet C++ logging, pick Keras 3's backend.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning)

from claims import proofs  # noqa: E402  (after the environment is set)
from claims.catalog import (  # noqa: E402
    FAILS,
    HOLDS,
    NA,
    REFUSES,
    UNTESTED,
    disagreement,
    load_catalog,
)

#: How a page states each outcome.
VERDICT = {
    HOLDS: "the claim holds",
    FAILS: "the claim does not hold",
    REFUSES: "Keras refuses the claim's pattern",
    UNTESTED: "not tested",
}
#: The docs environment holds two grid environments side by side (the newest of two lines).
DOCS_ENVS = ("tf_keras-2.21.0", "keras-3.15.1-tensorflow")
_LABS: dict[str, proofs.Lab] = {}


def start() -> None:
    """Split the CPU into two logical devices and load both Keras lines (once per kernel)."""
    if _LABS:
        return
    proofs.use_two_cpus()
    import logging

    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    catalog = load_catalog()
    for env_id in DOCS_ENVS:
        env = catalog.envs[env_id]
        lab = proofs.Lab(env.line)
        # The page says which grid environment it runs; make sure that is the truth.
        module = lab.keras if env.line != "tf.keras" else lab.tf
        if module.__version__ != env.release:
            raise RuntimeError(f"this kernel has {module.__version__}, {env_id} is {env.release}")
        _LABS[env_id] = lab
    # TensorFlow's Python logger (retracing notices, strategy set-up) is noise on a page.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    for env_id, lab in _LABS.items():
        print(f"{env_id}: {lab.keras.__name__} {lab.keras.__version__} on {lab.backend}")


def prove(claim_id: str) -> None:
    """Run the claim's proof on every Keras line of this kernel; fail loudly on disagreement."""
    start()
    catalog = load_catalog()
    claim = catalog.claims[claim_id]
    for env, lab in _LABS.items():
        if claim.expected(catalog.envs[env]) == NA:
            continue
        res = proofs.run_claim(lab, claim, catalog.envs[env])
        outcome = res["outcome"]
        said = VERDICT.get(outcome, outcome)
        print(f"── {env} ({lab.keras.__name__} {lab.keras.__version__}): {said}")
        for variant in res["variants"]:
            print(f"   {variant['variant']}: {VERDICT.get(variant['outcome'], variant['outcome'])}")
        shown = next((v for v in res["variants"] if v["outcome"] == outcome), None)
        if shown is not None:
            print(f"   numbers of {shown['variant']}:")
            print(proofs.Evidence(holds=True, numbers=shown["numbers"]).table(), end="")
            print(f"\n   {shown['detail']}" if shown["detail"] else "", end="\n\n")
        if problem := disagreement(claim, catalog.envs[env], outcome):
            raise AssertionError(
                f"{problem}; measured by this page's kernel: compare the grid with "
                f"`nox -s matrix -- --only {env}`"
            )
