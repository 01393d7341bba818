"""Proofs: the patterns that lose, repeat or refuse a layer loss, and the fix for each."""

from __future__ import annotations

from typing import Any

import numpy as np

from claims.catalog import Variant
from claims.proofs import Evidence, proof, refusal
from claims.proofs.lab import LR, PENALTY, TERM, W0, W_AFTER, Lab, X, close, mse, reader_module


@proof("symbolic-add-loss-refused")
def symbolic_add_loss_refused(lab: Lab, v: Variant) -> Evidence:
    """``model.add_loss(symbolic_tensor)`` on a functional model: trained once, or refused?"""
    keras, ops = lab.keras, lab.ops
    inp = keras.Input(shape=(2,))
    out = lab.dense()(inp)
    model = keras.Model(inp, out)
    expected = mse(W0) + float(np.mean(np.abs(X @ W0)))
    try:
        model.add_loss(ops.mean(ops.abs(out)))
    except Exception as exc:
        return Evidence(
            holds=False,
            numbers={"mse + mean|outputs|": expected},
            detail="put the term in a layer's call() and self.add_loss it there",
            refused=refusal(exc),
        )
    reported = lab.train(lab.compile(model, v, lr=0.0), v)
    return Evidence(
        holds=close(reported, expected),
        numbers={"reported loss": reported, "mse + mean|outputs|": expected},
    )


@proof("symbolic-add-loss-fix-works")
def symbolic_add_loss_fix_works(lab: Lab, v: Variant) -> Evidence:
    """The fix: the term computed in a layer's ``call`` and ``self.add_loss``-ed there is
    trained on once, in the loss and the update."""
    fix = reader_module(lab, "output_penalty")
    keras = lab.keras
    inp = keras.Input(shape=(2,))
    out = fix.OutputPenalty(rate=1.0)(lab.dense()(inp))
    model = lab.compile(keras.Model(inp, out), v)
    reported = lab.train(model, v)
    want = mse(W0) + float(np.mean(np.abs(X @ W0)))
    # d/dw mean|x @ w| = mean of sign(x @ w) * x (every output is positive here).
    want_w = W0 - LR * (2.0 / len(X) * X.T @ (X @ W0 - 1.0) + X.mean(axis=0).reshape(2, 1))
    return Evidence(
        holds=close(reported, want) and close(lab.weights(model), want_w),
        numbers={
            "reported loss": reported,
            "mse + mean|outputs|": want,
            "w after one SGD step": lab.weights(model),
            "W0 - lr * grad(mse + mean|outputs|)": want_w,
        },
    )


@proof("add-loss-outside-call-dropped")
def add_loss_outside_call_dropped(lab: Lab, v: Variant) -> Evidence:
    """``layer.add_loss(tensor)`` outside ``call``: listed, then dropped by the next pass."""
    layer = lab.linear_layer()
    model = lab.compile(lab.model(layer), v)
    try:
        layer.add_loss(lab.ops.sum(lab.ops.square(layer.w)) * PENALTY)
    except Exception as exc:  # the Keras 2 lines refuse an eager tensor there
        return Evidence(holds=False, refused=refusal(exc))
    listed = lab.losses(model)
    reported = lab.train(model, v)
    after = lab.losses(model)
    return Evidence(
        holds=close(listed, [TERM]) and close(reported, mse(W0)) and after == [],
        numbers={
            "model.losses after add_loss": listed,
            "model.losses after the step": after,
            "reported loss of the next step": reported,
            "mse alone": mse(W0),
            "mse + term (not it)": mse(W0) + TERM,
        },
    )


@proof("regularizer-after-build-ignored")
def regularizer_after_build_ignored(lab: Lab, v: Variant) -> Evidence:
    """Setting ``layer.kernel_regularizer`` after the layer is built adds nothing."""
    dense = lab.dense()
    model = lab.compile(lab.model(dense), v)
    dense.kernel_regularizer = lab.l2(PENALTY)
    listed = lab.losses(model)
    reported = lab.train(model, v)
    return Evidence(
        holds=listed == [] and close(reported, mse(W0)),
        numbers={
            "model.losses": listed,
            "reported loss": reported,
            "mse alone": mse(W0),
            "mse + penalty (not it)": mse(W0) + TERM,
        },
    )


# --- a layer loss inside a loop: TimeDistributed and RNN cells -------------------------------

STEPS = 3
XS = np.ones((4, STEPS, 2), dtype="float32")
COMPILED = 4.0  # every prediction is 2 (ones @ ones), every target 0


def _penalised_step_layer(lab: Lab, cell: bool) -> Any:
    """A layer (or RNN cell) whose ``call`` adds ``0.5 * sum(w)`` = 1.0 each time it runs."""
    keras, ops = lab.keras, lab.ops

    class Penalised(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if cell:
                self.state_size = 1
                self.output_size = 1

        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(2, 1), initializer="ones")
            self.built = True

        def call(self, x, *args, **kwargs):
            self.add_loss(0.5 * ops.sum(lab.read(self.w)))  # 1.0 per call
            out = ops.matmul(x, lab.read(self.w))
            return (out, [args[0][0]]) if cell else out

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], 1)

    return Penalised()


def _loop_counts(lab: Lab, v: Variant, wrap: Any, ys: np.ndarray, counts: int) -> Evidence:
    """One step (learning rate 0) of ``wrap(layer)``: is the term counted ``counts`` times?"""
    keras = lab.keras
    numbers: dict[str, Any] = {
        "timesteps": STEPS,
        f"mse + term x {counts} (the sentence)": COMPILED + counts,
        "mse + term once (not it)": COMPILED + 1.0,
    }
    try:
        inp = keras.Input(shape=(STEPS, 2))
        model = lab.compile(keras.Model(inp, wrap(inp)), v, lr=0.0)
        reported = lab.train(model, v, XS, ys)
    except Exception as exc:  # a term added inside the backend's loop cannot leave it
        return Evidence(holds=False, numbers=numbers, refused=refusal(exc))
    return Evidence(
        holds=close(reported, COMPILED + counts), numbers={"reported loss": reported, **numbers}
    )


@proof("time-distributed-add-loss-per-step")
def time_distributed_add_loss_per_step(lab: Lab, v: Variant) -> Evidence:
    """A layer calling ``add_loss`` inside ``TimeDistributed``: Keras 3 counts its term once
    per step; the Keras 2 lines, where they run it (eagerly), T + 1 times."""
    layer = _penalised_step_layer(lab, cell=False)
    ys = np.zeros((4, STEPS, 1), dtype="float32")
    counts = STEPS if lab.keras3 else STEPS + 1
    return _loop_counts(lab, v, lab.keras.layers.TimeDistributed(layer), ys, counts)


@proof("rnn-cell-add-loss-counted-steps-plus-one")
def rnn_cell_add_loss_counted_steps_plus_one(lab: Lab, v: Variant) -> Evidence:
    """A cell calling ``add_loss``, inside ``RNN`` over T steps: counted T + 1 times."""
    cell = _penalised_step_layer(lab, cell=True)
    ys = np.zeros((4, 1), dtype="float32")
    return _loop_counts(lab, v, lab.keras.layers.RNN(cell), ys, STEPS + 1)


@proof("loop-penalty-fix-works")
def loop_penalty_fix_works(lab: Lab, v: Variant) -> Evidence:
    """The fix: a penalty on the looped layer's weight given as its ``kernel_regularizer`` is
    counted once per batch under ``TimeDistributed`` and in an RNN cell, loss and update."""
    fix = reader_module(lab, "penalty_in_a_loop")
    numbers: dict[str, Any] = {}
    holds = True
    for name, build, ys in (
        ("TimeDistributed", fix.time_distributed_model, np.zeros((4, STEPS, 1), "float32")),
        ("RNN", fix.rnn_model, np.zeros((4, 1), "float32")),
    ):
        model = lab.compile(build(STEPS), v)
        reported = lab.train(model, v, XS, ys)
        # The kernel starts at ones: every output is 2 and the penalty 0.5 * sum(K**2) = 1.
        # d(mse)/dK = mean(2 * out * x) = 4 per entry (for TimeDistributed over every step,
        # for the RNN, whose recurrent kernel starts at 0, from the last step), plus 2 * 0.5 * K.
        want_k = np.ones((2, 1)) - LR * (4.0 + 1.0)
        got_k = lab.numpy(model.trainable_weights[0]).reshape(2, 1)
        numbers[f"{name}: reported loss"] = reported
        numbers[f"{name}: kernel after one step"] = got_k
        holds = holds and close(reported, COMPILED + 1.0) and close(got_k, want_k)
    numbers["mse + penalty once"] = COMPILED + 1.0
    numbers["mse + penalty x timesteps (not it)"] = COMPILED + STEPS
    numbers["1 - lr * (4 + 2 * 0.5 * 1), the update"] = float(want_k[0, 0])
    return Evidence(holds=holds, numbers=numbers)


# --- callables, mixed precision --------------------------------------------------------------


@proof("callable-add-loss-piles-up")
def callable_add_loss_piles_up(lab: Lab, v: Variant) -> Evidence:
    """``add_loss(lambda: ...)`` in a loop inside ``call``: counted once per batch, or more?"""
    keras = lab.keras

    class Loop(keras.layers.Layer):
        def call(self, x):
            for i in range(3):
                self.add_loss(lambda i=i: float(i))  # i bound now: terms 0, 1, 2
            return x

    once = mse(W0) + (0.0 + 1.0 + 2.0)
    try:  # Keras 3 refuses the callable already while the model is built
        inp = keras.Input(shape=(2,))
        model = keras.Model(inp, lab.dense()(Loop()(inp)))
        reported = lab.train(lab.compile(model, v, lr=0.0), v)
    except Exception as exc:
        return Evidence(holds=False, refused=refusal(exc))
    entries = lab.losses(model)
    return Evidence(
        holds=len(entries) > 3 and reported > once + 1e-6,
        numbers={
            "entries in model.losses after one step": len(entries),
            "their values": entries,
            "reported loss": reported,
            "mse + (0 + 1 + 2), each term once": once,
        },
    )


@proof("callable-add-loss-fix-works")
def callable_add_loss_fix_works(lab: Lab, v: Variant) -> Evidence:
    """The fix: the tensors themselves, computed in ``call``, are each counted once, and
    ``model.losses`` holds exactly them after any number of steps."""
    fix = reader_module(lab, "terms_in_a_loop")
    keras = lab.keras
    inp = keras.Input(shape=(2,))
    model = lab.compile(keras.Model(inp, lab.dense()(fix.Terms()(inp))), v, lr=0.0)
    once = mse(W0) + (0.0 + 1.0 + 2.0) * float(np.mean(X))
    reported = [lab.train(model, v) for _ in range(2)]
    entries = model.losses
    return Evidence(
        holds=close(reported, [once, once]) and len(entries) == 3,
        numbers={
            "reported loss, steps 1 and 2": reported,
            "mse + (0 + 1 + 2) x mean(x), each term once": once,
            "entries in model.losses after two steps": len(entries),
        },
    )


def _mixed_step(lab: Lab, v: Variant, layer: Any) -> Evidence:
    """One step under ``mixed_float16``: the layer loss's dtype, the loss, the update."""
    keras = lab.keras
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = lab.model(layer())
        # A small fixed starting scale: no overflow, so the first step is applied.
        opt = keras.mixed_precision.LossScaleOptimizer(
            keras.optimizers.SGD(learning_rate=LR), initial_scale=2.0
        )
        model.compile(optimizer=opt, loss="mse", run_eagerly=v.eager)
        model(X)
        dtypes = [str(lab.numpy(t).dtype) for t in model.losses]
        reported = lab.train(model, v)
        got_w = lab.weights(model)
        # The same step with the default initial scale, 2**15: the scaled gradient of the
        # float16 matmul overflows (about 2**15 * 3 > 65504), so the step must be skipped.
        overflowing = lab.model(layer())
        overflowing.compile(
            optimizer=keras.mixed_precision.LossScaleOptimizer(
                keras.optimizers.SGD(learning_rate=LR)
            ),
            loss="mse",
            run_eagerly=v.eager,
        )
        lab.train(overflowing, v)
        skipped_w = lab.weights(overflowing)
    except Exception as exc:  # the float16 layer loss in the float32 total is refused
        return Evidence(holds=False, refused=refusal(exc))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return Evidence(
        holds=close(reported, mse(W0) + TERM) and close(got_w, W_AFTER) and close(skipped_w, W0),
        numbers={
            "dtype of the add_loss term": dtypes,
            "optimizer": type(model.optimizer).__name__,
            "reported loss": reported,
            "mse + term": mse(W0) + TERM,
            "w after one step, initial scale 2": got_w,
            "float32 update": W_AFTER,
            "w after one step, default initial scale 2**15 (overflows: skipped)": skipped_w,
            "w before the step": W0,
        },
    )


@proof("mixed-precision-layer-losses-scaled")
def mixed_precision_layer_losses_scaled(lab: Lab, v: Variant) -> Evidence:
    """Under ``mixed_float16`` a float16 layer loss is added to the total and scaled by the
    loss-scale optimizer with it: the step equals the float32 one."""
    evidence = _mixed_step(lab, v, lambda: lab.linear_layer(penalty=PENALTY))
    dtypes = evidence.numbers.get("dtype of the add_loss term")
    evidence.holds = evidence.holds and dtypes == ["float16"]
    return evidence


@proof("mixed-precision-fix-works")
def mixed_precision_fix_works(lab: Lab, v: Variant) -> Evidence:
    """The fix: cast the layer loss to float32 before ``add_loss``; the step then equals the
    float32 one on every backend."""
    fix = reader_module(lab, "float32_penalty")
    evidence = _mixed_step(lab, v, lambda: fix.Linear(penalty=PENALTY, initial=W0))
    dtypes = evidence.numbers.get("dtype of the add_loss term")
    evidence.holds = evidence.holds and dtypes == ["float32"]
    return evidence
