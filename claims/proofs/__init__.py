"""Executable proofs of the site's claims about where layer losses go: one module per topic.

A proof takes a `Lab` (one Keras line) and one `Variant` of its claim (the entry point, the
kind of layer loss and the execution its sentence covers, as `catalog.toml` lists them) and
returns `Evidence`. It never asserts by itself: `run_claim` runs every variant, and the pages
and the grid runner compare the combined outcome with where the catalog expects it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from claims.catalog import FAILS, HOLDS, REFUSES, UNTESTED, Claim, Variant, claim_result
from claims.proofs.lab import Lab, use_two_cpus

__all__ = ["PROOFS", "Evidence", "Lab", "proof", "refusal", "run_claim", "use_two_cpus"]


@dataclass
class Evidence:
    """What a proof measured: the numbers, and whether the claim's statement held.

    ``refused`` is set when the very pattern the claim is about raised (Keras refuses it):
    the exception's type and first line. An exception the claim is not about is never caught
    by a proof; the runner records it as *not tested*.
    """

    holds: bool
    numbers: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    refused: str = ""

    @property
    def outcome(self) -> str:
        """``holds``, ``does not hold`` or ``Keras refuses``."""
        return REFUSES if self.refused else HOLDS if self.holds else FAILS

    def table(self) -> str:
        """The numbers as aligned ``name = value`` lines."""
        width = max((len(k) for k in self.numbers), default=0)
        lines = [f"{k:<{width}} = {_fmt(v)}" for k, v in self.numbers.items()]
        for text in (self.refused and f"Keras refuses: {self.refused}", self.detail):
            if text:
                lines.append(text)
        return "\n".join(lines)


#: Terminal colours, and the lines Keras wraps around a layer's own error message.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_WRAPPER = ("Exception encountered when calling", "Arguments received by", "•")


def refusal(exc: BaseException) -> str:
    """What Keras raised, as the site records it: the type and the message's first line.

    Keras 3 wraps a layer's error ("Exception encountered when calling X.call().", then the
    arguments); the first line of Keras's own words is kept, and after "Error encountered:"
    the cause it names. Run-specific ids and addresses are blanked. A module that cannot be
    imported is the environment's failure, never Keras refusing: it is raised again, so the
    variant is recorded as not tested.
    """
    if isinstance(exc, ImportError):
        raise exc
    lines = [_ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line and not line.startswith(_WRAPPER)]
    for n, line in enumerate(lines[:-1]):
        if line.endswith("Error encountered:"):
            lines = lines[n + 1 :]
            break
    first = (
        _RUN_SPECIFIC.sub(lambda m: f"{m.group(1)}…" if m.group(1) else "0x…", lines[0])
        if lines
        else ""
    )
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, np.ndarray):
        return np.array2string(value.ravel(), precision=6)
    return str(value)


#: What differs from one run to the next in an error message: object ids and addresses.
_RUN_SPECIFIC = re.compile(r"\b(id=)\d+|\b0x[0-9a-fA-F]{6,}\b")


def _last_line(exc: BaseException) -> str:
    """The informative line of a (possibly multi-line, traced) error message, run-independent.

    Graph ids and memory addresses are blanked, so that two runs of the grid record the same
    text and `matrix-merge --check` compares outcomes and numbers, not addresses.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = lines[-1] if lines else type(exc).__name__
    return _RUN_SPECIFIC.sub(lambda m: f"{m.group(1)}…" if m.group(1) else "0x…", line)[:240]


#: A proof: one variant of one claim, in one lab.
Proof = Callable[[Lab, Variant], Evidence]
PROOFS: dict[str, Proof] = {}


def proof(claim_id: str) -> Callable[[Proof], Proof]:
    """Register a proof under its claim id: the one place a proof names its claim."""

    def register(func: Proof) -> Proof:
        if claim_id in PROOFS:
            twice = f"{PROOFS[claim_id].__name__} and {func.__name__}"
            raise ValueError(f"claim {claim_id!r} has two proofs: {twice}")
        PROOFS[claim_id] = func
        return func

    return register


def run_variant(lab: Lab, claim: Claim, variant: Variant) -> dict[str, Any]:
    """One variant's record: its outcome, numbers and detail; a setup failure is not tested."""
    try:
        evidence = PROOFS[claim.id](lab, variant)
    except Exception as exc:  # the proof never reached its claim: not tested, never a pass
        outcome, numbers, detail = UNTESTED, {}, f"{type(exc).__name__}: {_last_line(exc)}"
    else:
        outcome, detail = evidence.outcome, evidence.refused or evidence.detail
        numbers = {k: plain(v) for k, v in evidence.numbers.items()}
    return {
        "variant": variant.label,
        "axes": variant.axes(),
        "outcome": outcome,
        "numbers": numbers,
        "detail": detail,
    }


def run_claim(lab: Lab, claim: Claim, env: Any) -> dict[str, Any]:
    """Every variant of ``claim`` that exists in ``env``; the claim's outcome combines theirs
    (`claim_result`)."""
    began = time.perf_counter()
    variants = [run_variant(lab, claim, v) for v in claim.variants(env)]
    return claim_result(variants, time.perf_counter() - began)


def plain(value: Any) -> Any:
    """JSON-friendly numbers (NumPy arrays and scalars become lists and floats)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


# The topic modules register their proofs on import.
from claims.proofs import (  # noqa: E402
    distributed,
    layer_losses,
    overrides,
    pitfalls,
    weighting,
)

__all__ += ["distributed", "layer_losses", "overrides", "pitfalls", "weighting"]
