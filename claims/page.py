"""What the executed pages call: prove a claim in this kernel, print the numbers, assert."""

from __future__ import annotations

import os
import warnings

# Before TensorFlow or Keras is imported: quiet C++ logging, pick Keras 3's backend.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=UserWarning)

import proofs  # noqa: E402
from catalog import load_catalog  # noqa: E402

#: The docs environment holds two matrix environments side by side.
DOCS_ENVS = {"tf-keras-2.21": "tf_keras", "keras-3.15-tf": "keras"}
_LABS: dict[str, proofs.Lab] = {}


def start() -> None:
    """Split the CPU into two logical devices and load both Keras lines (once per kernel)."""
    if _LABS:
        return
    proofs.use_two_cpus()
    import logging

    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    for env, flavor in DOCS_ENVS.items():
        _LABS[env] = proofs.Lab(flavor)
    # TensorFlow's Python logger (retracing notices, strategy set-up) is noise on a page.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    for env, lab in _LABS.items():
        print(f"{env}: {lab.keras.__name__} {lab.keras.__version__} on {lab.backend}")


def prove(claim_id: str) -> None:
    """Run the claim's proof on every Keras line of this kernel; fail loudly on disagreement."""
    start()
    claim = load_catalog().claims[claim_id]
    for env, lab in _LABS.items():
        expected = claim.expected(env)
        if expected == "n/a":
            continue
        evidence = proofs.PROOFS[claim_id](lab)
        outcome = "holds" if evidence.holds else "does not hold"
        print(f"── {env} ({lab.keras.__name__} {lab.keras.__version__}): the claim {outcome}")
        print(evidence.table(), end="\n\n")
        if evidence.holds != (expected == "holds"):
            raise AssertionError(
                f"claim {claim_id!r} in {env}: expected it to {expected.replace('s', '', 1)}, "
                f"but it {outcome}"
            )
