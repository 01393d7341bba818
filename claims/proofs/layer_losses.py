"""Proofs: what each kind of layer loss adds to the training step, and what is reported."""

from __future__ import annotations

from typing import Any

import numpy as np

from claims.catalog import Variant
from claims.proofs import Evidence, proof, refusal
from claims.proofs.lab import (
    LR,
    TERM,
    W0,
    W_AFTER,
    Lab,
    Term,
    X,
    Y,
    close,
    mse,
    mse_grad,
)


@proof("add-loss-once-unweighted")
def add_loss_once_unweighted(lab: Lab, v: Variant) -> Evidence:
    """A scalar ``add_loss`` term: once per batch, weight 1, in the loss and the gradient."""
    model = lab.compile(lab.model(lab.linear_layer(penalty=0.5)), v)
    reported = lab.train(model, v)
    n = len(X)
    return Evidence(
        holds=close(reported, mse(W0) + TERM) and close(lab.weights(model), W_AFTER),
        numbers={
            "reported loss": reported,
            "mse + term": mse(W0) + TERM,
            "mse + term x batch size (not it)": mse(W0) + n * TERM,
            "mse + term / batch size (not it)": mse(W0) + TERM / n,
            "w after one SGD step": lab.weights(model),
            "W0 - lr * grad(mse + term)": W_AFTER,
        },
    )


@proof("nonscalar-add-loss-summed")
def nonscalar_add_loss_summed(lab: Lab, v: Variant) -> Evidence:
    """A per-sample ``add_loss`` tensor (shape ``(batch, 1)``): is it summed to a scalar?"""
    model = lab.compile(lab.model(lab.linear_layer(output_penalty="abs")), v, lr=0.0)
    values = np.abs(X @ W0)
    summed, averaged = mse(W0) + float(values.sum()), mse(W0) + float(values.mean())
    numbers: dict[str, Any] = {
        "add_loss values (per sample)": values,
        "mse + sum(values)": summed,
        "mse + mean(values) (not it)": averaged,
    }
    try:
        reported = lab.train(model, v)
    except Exception as exc:  # the training step refuses the per-sample term
        return Evidence(holds=False, numbers=numbers, refused=refusal(exc))
    return Evidence(holds=close(reported, summed), numbers={"reported loss": reported, **numbers})


@proof("weight-regularizer-once-per-batch")
def weight_regularizer_once_per_batch(lab: Lab, v: Variant) -> Evidence:
    """``kernel_regularizer=L2(l)``: one entry ``l * sum(w**2)`` in ``losses``, added once."""
    model = lab.compile(lab.model(lab.penalised("kernel_regularizer")), v)
    listed = lab.losses(model)
    reported = lab.train(model, v)
    return Evidence(
        holds=close(listed, [TERM])
        and close(reported, mse(W0) + TERM)
        and close(lab.weights(model), W_AFTER),
        numbers={
            "model.losses before training": listed,
            "l * sum(w**2)": TERM,
            "reported loss": reported,
            "mse + term": mse(W0) + TERM,
            "mse + 2 x term (not it)": mse(W0) + 2 * TERM,
            "w after one SGD step": lab.weights(model),
            "W0 - lr * grad(mse + term)": W_AFTER,
        },
    )


@proof("activity-regularizer-batch-mean")
def activity_regularizer_batch_mean(lab: Lab, v: Variant) -> Evidence:
    """``activity_regularizer=L2(a)``: is the penalty divided by the batch size, in the loss
    and in the update?"""
    model = lab.compile(lab.model(lab.penalised("activity_regularizer")), v)
    reported = lab.train(model, v)
    mean, total = Term("activity_regularizer", batch_mean=True), Term("activity_regularizer")
    want_w = W0 - LR * (mse_grad(W0) + mean.grad())
    return Evidence(
        holds=close(reported, mse(W0) + mean.value()) and close(lab.weights(model), want_w),
        numbers={
            "reported loss": reported,
            "mse + a * sum(out**2) / batch size": mse(W0) + mean.value(),
            "mse + a * sum(out**2) (not it)": mse(W0) + total.value(),
            "w after one SGD step": lab.weights(model),
            "W0 - lr * grad(mse + a * sum(out**2) / batch size)": want_w,
            "W0 - lr * grad(mse + a * sum(out**2)) (not it)": W0
            - LR * (mse_grad(W0) + total.grad()),
        },
    )


@proof("losses-reset-each-call")
def losses_reset_each_call(lab: Lab, v: Variant) -> Evidence:
    """``model.losses`` holds the terms of the latest forward pass only (no accumulation)."""
    model = lab.model(lab.penalised(v.loss))
    term, numbers = lab.term(v.loss, model)
    seen, expected = [], []
    for scale in (1.0, 2.0, 3.0):
        lab.forward(model, X * scale)
        seen.append(lab.losses(model))
        expected.append([term.value(x=X * scale)])
    return Evidence(
        # Compared call by call: where terms accumulate, the lists grow.
        holds=all(len(s) == len(e) and close(s, e) for s, e in zip(seen, expected)),  # noqa: B905
        numbers={
            **numbers,
            "model.losses after call(X), call(2X), call(3X)": seen,
            "the latest call's term, each time": expected,
        },
    )


@proof("history-loss-batch-weighted")
def history_loss_batch_weighted(lab: Lab, v: Variant) -> Evidence:
    """``History`` reports the batch-size-weighted mean of per-batch totals (terms included)."""
    model = lab.compile(lab.model(lab.penalised(v.loss)), v, lr=0.0)
    term, numbers = lab.term(v.loss, model)
    history = model.fit(X, Y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    reported = float(history.history["loss"][0])
    b1 = mse(W0, X[:3], Y[:3]) + term.value(x=X[:3])
    b2 = mse(W0, X[3:], Y[3:]) + term.value(x=X[3:])
    weighted, plain = (3 * b1 + 1 * b2) / 4, (b1 + b2) / 2
    return Evidence(
        holds=close(reported, weighted),
        numbers={
            **numbers,
            "batch totals (3 samples, 1 sample)": [b1, b2],
            "History loss": reported,
            "(3 * b1 + 1 * b2) / 4": weighted,
            "(b1 + b2) / 2 (not it)": plain,
        },
    )


@proof("tfp-kl-weight")
def tfp_kl_weight(lab: Lab, v: Variant) -> Evidence:
    """TFP ``DenseVariational``: ``losses`` = [kl_weight * KL]; added once, in the gradient."""
    model = lab.compile(lab.model(lab.dense_variational()), v)
    model(X)
    listed = lab.losses(model)
    reported = lab.train(model, v)
    kl = Term("kl")
    want_w = W0 - LR * (mse_grad(W0) + kl.grad())
    return Evidence(
        holds=close(listed, [kl.value()])
        and close(reported, mse(W0) + kl.value())
        and close(lab.weights(model), want_w),
        numbers={
            "kl_weight * KL estimate": kl.value(),
            "model.losses": listed,
            "reported loss": reported,
            "mse + kl_weight * KL": mse(W0) + kl.value(),
            "w after one SGD step": lab.weights(model),
            "W0 - lr * grad(mse + kl_weight * KL)": want_w,
        },
    )


@proof("evaluate-includes-layer-losses")
def evaluate_includes_layer_losses(lab: Lab, v: Variant) -> Evidence:
    """``evaluate()``, ``test_on_batch`` and ``val_loss`` report the compiled loss plus the
    layer losses."""
    model = lab.compile(lab.model(lab.penalised(v.loss)), v, lr=0.0)
    term, numbers = lab.term(v.loss, model)
    reported = lab.test(model, v)
    return Evidence(
        holds=close(reported, mse(W0) + term.value()),
        numbers={
            **numbers,
            f"{v.entry} loss": reported,
            "mse + layer loss": mse(W0) + term.value(),
            "mse alone (not it)": mse(W0),
        },
    )
