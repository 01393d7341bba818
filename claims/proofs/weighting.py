"""Proofs: what weights the compiled loss (loss_weights, sample and class weights, reductions,
masks) and what it leaves alone: the layer losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from claims.catalog import Variant
from claims.proofs import Evidence, proof, refusal
from claims.proofs.lab import LR, PENALTY, W0, Lab, X, Y, close, mse, mse_grad

#: Half the samples weighted 0: a weighted mean and a mean over the batch then differ by 2x.
SAMPLE_WEIGHT = np.array([1.0, 0.0, 1.0, 0.0], dtype="float32")
ERRORS = ((X @ W0 - Y) ** 2).ravel()


@proof("loss-weights-skip-layer-losses")
def loss_weights_skip_layer_losses(lab: Lab, v: Variant) -> Evidence:
    """``loss_weights`` multiply the compiled per-output losses only, never the layer losses."""
    weights = [2.0, 0.5]
    model = lab.model(lab.penalised(v.loss), outputs=2)
    lab.compile(model, v, loss=["mse", "mse"], loss_weights=weights)
    term, numbers = lab.term(v.loss, model)
    reported = lab.train(model, v, X, [Y, Y])
    want = sum(weights) * mse(W0) + term.value()
    want_w = W0 - LR * (sum(weights) * mse_grad(W0) + term.grad())
    return Evidence(
        holds=close(reported, want) and close(lab.weights(model), want_w),
        numbers={
            **numbers,
            "reported loss": reported,
            "2 * mse + 0.5 * mse + layer loss": want,
            "(2 + 0.5) * (mse + layer loss) (not it)": sum(weights) * (mse(W0) + term.value()),
            "w after one SGD step": lab.weights(model),
            "W0 - lr * grad(2.5 * mse + layer loss)": want_w,
        },
    )


_BARE: dict[tuple[int, str, str, str], tuple[float, np.ndarray]] = {}


def _without_layer_loss(lab: Lab, v: Variant, name: str, kwargs: dict) -> tuple[float, np.ndarray]:
    """The same weighted step on the same model without a layer loss: the loss it reports and
    the gradient it applies (one per entry point and execution: every kind compares to it)."""
    key = (id(lab), name, v.entry, v.execution)
    if key not in _BARE:
        bare = lab.compile(lab.model(lab.dense()), v)
        _BARE[key] = (lab.train(bare, v, **kwargs), lab.applied(bare))
    return _BARE[key]


@proof("sample-and-class-weights-skip-layer-losses")
def sample_and_class_weights_skip_layer_losses(lab: Lab, v: Variant) -> Evidence:
    """``sample_weight`` and ``class_weight`` reach the compiled loss only: the same step with
    and without the layer loss differs by the layer loss and its gradient, unweighted."""
    numbers: dict[str, Any] = {}
    holds = True
    for name, kwargs in (
        ("sample_weight", {"sample_weight": SAMPLE_WEIGHT}),
        ("class_weight", {"class_weight": {0: 1.0, 1: 3.0}}),
    ):
        compiled, bare_grad = _without_layer_loss(lab, v, name, kwargs)
        with_term = lab.compile(lab.model(lab.penalised(v.loss)), v)
        term, measured = lab.term(v.loss, with_term)
        reported = lab.train(with_term, v, **kwargs)
        extra_grad = lab.applied(with_term) - bare_grad
        numbers.update(measured)
        numbers[f"{name}: reported loss without the layer loss"] = compiled
        numbers[f"{name}: reported loss with it"] = reported
        numbers[f"{name}: difference (the layer loss is {term.value():g})"] = reported - compiled
        numbers[f"{name}: difference of the gradients applied"] = extra_grad
        holds = (
            holds and close(reported - compiled, term.value()) and close(extra_grad, term.grad())
        )
    numbers["the layer loss's gradient"] = term.grad()
    return Evidence(holds=holds, numbers=numbers)


@proof("sample-weight-divides-by-batch-size")
def sample_weight_divides_by_batch_size(lab: Lab, v: Variant) -> Evidence:
    """The default reduction divides the weighted sum by the batch size, not the weights' sum;
    the layer loss is added unweighted."""
    by_batch = float((SAMPLE_WEIGHT * ERRORS).sum() / len(X))
    by_weights = float((SAMPLE_WEIGHT * ERRORS).sum() / SAMPLE_WEIGHT.sum())
    model = lab.compile(lab.model(lab.penalised(v.loss)), v, lr=0.0)
    term, numbers = lab.term(v.loss, model)
    reported = lab.train(model, v, sample_weight=SAMPLE_WEIGHT)
    return Evidence(
        holds=close(reported, by_batch + term.value()),
        numbers={
            "sample_weight": SAMPLE_WEIGHT,
            **numbers,
            "reported loss": reported,
            "sum(sw * error) / batch size + layer loss": by_batch + term.value(),
            "sum(sw * error) / sum(sw) + layer loss (not it)": by_weights + term.value(),
        },
    )


@proof("mean-with-sample-weight-reduction")
def mean_with_sample_weight_reduction(lab: Lab, v: Variant) -> Evidence:
    """``reduction="mean_with_sample_weight"`` divides by the weights' sum; layer losses stay."""
    by_weights = float((SAMPLE_WEIGHT * ERRORS).sum() / SAMPLE_WEIGHT.sum())
    try:
        loss = lab.keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")
    except Exception as exc:  # releases before the reduction existed refuse its name
        return Evidence(holds=False, refused=refusal(exc))
    model = lab.compile(lab.model(lab.penalised(v.loss)), v, lr=0.0, loss=loss)
    term, numbers = lab.term(v.loss, model)
    reported = lab.train(model, v, sample_weight=SAMPLE_WEIGHT)
    return Evidence(
        holds=close(reported, by_weights + term.value()),
        numbers={
            **numbers,
            "reported loss": reported,
            "sum(sw * error) / sum(sw) + layer loss": by_weights + term.value(),
            "sum(sw * error) / batch size + layer loss (not it)": float(
                (SAMPLE_WEIGHT * ERRORS).sum() / len(X)
            )
            + term.value(),
        },
    )


@proof("masked-loss-divides-by-unmasked-steps")
def masked_loss_divides_by_unmasked_steps(lab: Lab, v: Variant) -> Evidence:
    """With a mask, the compiled per-timestep mean runs over the unmasked steps only; an
    ``add_loss`` term is added unmasked, once."""
    keras = lab.keras
    xs = np.array(
        [
            [[1.0], [2.0], [0.0]],
            [[1.0], [0.0], [0.0]],
            [[2.0], [1.0], [3.0]],
            [[1.0], [1.0], [0.0]],
        ],
        dtype="float32",
    )
    ys = np.ones((4, 3, 1), dtype="float32")

    class Scale(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(), initializer="ones")
            self.built = True

        def call(self, x, mask=None):
            w = lab.read(self.w)
            self.add_loss(PENALTY * w * w)
            return x * w

    inp = keras.Input(shape=(3, 1))
    model = keras.Model(inp, Scale()(keras.layers.Masking(0.0)(inp)))
    reported = lab.train(lab.compile(model, v, lr=0.0), v, xs, ys)
    mask = (xs != 0).astype("float32")
    errors = (xs - ys) ** 2
    masked = float((errors * mask).sum() / mask.sum())
    return Evidence(
        holds=close(reported, masked + PENALTY),
        numbers={
            "unmasked timesteps": int(mask.sum()),
            "reported loss": reported,
            "mean over unmasked steps + term": masked + PENALTY,
            "masked sum / all steps + term (not it)": float((errors * mask).sum() / errors.size)
            + PENALTY,
            "mean over all steps + term (not it)": float(errors.mean()) + PENALTY,
        },
    )
