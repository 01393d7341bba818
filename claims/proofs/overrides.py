"""Proofs: code that takes the loss into its own hands (a ``compute_loss`` override, a
``tf.GradientTape`` loop, a custom JAX ``train_step``) and where the layer losses go then."""

from __future__ import annotations

from typing import Any

import numpy as np

from claims.catalog import Variant
from claims.proofs import Evidence, proof, refusal
from claims.proofs.lab import LR, W0, Lab, X, Y, close, mse, mse_grad, reader_module


@proof("custom-compute-loss-reproduces")
def custom_compute_loss_reproduces(lab: Lab, v: Variant) -> Evidence:
    """A ``compute_loss`` override returning mse + ``sum(self.losses)`` trains and reports
    exactly like the built-in one, and both follow NumPy's step."""
    keras, ops = lab.keras, lab.ops

    class Explicit(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kwargs):
            total = ops.mean(ops.square(ops.subtract(y_pred, y)))
            for term in self.losses:
                total = total + term
            return total

    inp = keras.Input(shape=(2,))
    explicit = lab.compile(Explicit(inp, lab.penalised(v.loss)(inp)), v)
    builtin = lab.compile(lab.model(lab.penalised(v.loss)), v)
    term, numbers = lab.term(v.loss, builtin)
    logs = lab.train_logs(explicit, v)
    b = lab.train(builtin, v)
    want_w = W0 - LR * (mse_grad(W0) + term.grad())
    # Keras 3 reports the override's value; the Keras 2 lines report no loss at all (their
    # loss metric is updated inside `compiled_loss`, which the override does not call).
    a: float | str = float(logs["loss"]) if "loss" in logs else "absent from the logs"
    reports = (isinstance(a, float) and close(a, b)) if lab.keras3 else isinstance(a, str)
    return Evidence(
        holds=bool(reports)
        and close(lab.weights(explicit), lab.weights(builtin))
        and close(lab.weights(builtin), want_w),
        numbers={
            **numbers,
            "reported loss, explicit compute_loss": a,
            "reported loss, built-in": b,
            "w after a step, explicit compute_loss": lab.weights(explicit),
            "w after a step, built-in": lab.weights(builtin),
            "W0 - lr * grad(mse + layer loss)": want_w,
        },
    )


@proof("compute-loss-override-used-by-fit-and-evaluate")
def compute_loss_override_used_by_fit_and_evaluate(lab: Lab, v: Variant) -> Evidence:
    """A ``compute_loss`` that doubles the layer losses: ``fit`` trains on it and reports it,
    and ``evaluate`` reports it (values and the update, not calls)."""
    keras, ops = lab.keras, lab.ops

    class Reweighted(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kwargs):
            total = ops.mean(ops.square(ops.subtract(y_pred, y)))
            for term in self.losses:
                total = total + 2.0 * term  # the custom total: layer losses count twice
            return total

    inp = keras.Input(shape=(2,))
    model = lab.compile(Reweighted(inp, lab.penalised(v.loss)(inp)), v)
    term, _ = lab.term(v.loss, model)
    history = model.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    # The Keras 2 lines update the loss metric inside `compiled_loss`, which an override no
    # longer calls: then History and evaluate() have no "loss" to report.
    fit_loss = history.history.get("loss", ["absent from History"])[0]
    w1 = lab.weights(model)
    evaluated = lab.evaluate_logs(model).get("loss", "absent from evaluate()'s logs")
    want_w1 = W0 - LR * (mse_grad(W0) + 2.0 * term.grad())
    want_eval = mse(want_w1) + 2.0 * term.value(want_w1)
    reported = [x if isinstance(x, str) else float(x) for x in (fit_loss, evaluated)]
    numbers = {
        "fit: reported loss": reported[0],
        "mse + 2 x layer loss": mse(W0) + 2 * term.value(),
        "fit: w after one step": w1,
        "W0 - lr * grad(mse + 2 x layer loss)": want_w1,
        "evaluate: loss": reported[1],
        "mse + 2 x layer loss at the new w": want_eval,
        "built-in total at the new w (not it)": mse(want_w1) + term.value(want_w1),
    }
    if any(isinstance(x, str) for x in reported):
        return Evidence(holds=False, numbers=numbers)
    return Evidence(
        holds=close(reported[0], mse(W0) + 2 * term.value())
        and close(w1, want_w1)
        and close(reported[1], want_eval),
        numbers=numbers,
    )


@proof("gradient-tape-loop-needs-losses")
def gradient_tape_loop_needs_losses(lab: Lab, v: Variant) -> Evidence:
    """A ``tf.GradientTape`` loop gets the layer losses only if it adds ``sum(model.losses)``;
    then its gradient is the one ``fit`` applies (eager, or inside ``tf.function``)."""
    import tensorflow as tf

    def gradient(add_losses: bool) -> np.ndarray:
        model = lab.model(lab.penalised(v.loss))

        def step(x, y):
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                loss = tf.reduce_mean(tf.square(y_pred - y))
                if add_losses:
                    loss = loss + tf.add_n(model.losses)
            return tape.gradient(loss, model.trainable_variables)

        if not v.eager:
            step = tf.function(step)
        grads = step(tf.constant(X), tf.constant(Y))
        return np.asarray(grads[0]).reshape(W0.shape)

    without, with_losses = gradient(False), gradient(True)
    fitted = lab.compile(lab.model(lab.penalised(v.loss)), v)
    term, numbers = lab.term(v.loss, fitted)
    lab.train(fitted, Variant(entry="fit", execution=v.execution))
    by_fit = lab.applied(fitted)
    return Evidence(
        holds=close(without, mse_grad(W0))
        and close(with_losses, mse_grad(W0) + term.grad())
        and close(with_losses, by_fit),
        numbers={
            **numbers,
            "gradient, loss = mse only": without,
            "gradient of mse": mse_grad(W0),
            "gradient, loss + sum(model.losses)": with_losses,
            "gradient of mse + layer loss": mse_grad(W0) + term.grad(),
            "gradient fit() applied": by_fit,
        },
    )


# --- custom JAX train_step --------------------------------------------------------------------


def guide_train_step_model(keras: Any, return_losses: bool = False) -> Any:
    """A model whose JAX ``train_step`` is written as keras.io's "customizing fit" guide does.

    ``compute_loss`` gives the compiled loss plus ``self.losses``; with ``return_losses``, the
    losses ``stateless_call`` returns are added as well.
    """
    import jax

    class GuideModel(keras.Model):
        def compute_loss_and_updates(self, tv, ntv, x, y, training=False):
            if return_losses:
                y_pred, ntv, losses = self.stateless_call(
                    tv, ntv, x, training=training, return_losses=True
                )
            else:
                y_pred, ntv = self.stateless_call(tv, ntv, x, training=training)
                losses = []
            loss = self.compute_loss(x, y, y_pred)
            for term in losses:
                loss = loss + term
            return loss, (y_pred, ntv)

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y = data[0], data[1]
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, ntv)), grads = grad_fn(tv, ntv, x, y, training=True)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            logs, new_mv = {}, []
            for metric in self.metrics:  # the guide's metrics loop: fit reports their results
                these = mv[len(new_mv) : len(new_mv) + len(metric.variables)]
                if metric.name == "loss":
                    these = metric.stateless_update_state(these, loss)
                else:
                    these = metric.stateless_update_state(these, y, y_pred)
                logs[metric.name] = metric.stateless_result(these)
                new_mv += these
            if "loss" not in logs:  # releases whose metrics list has no loss tracker
                logs["loss"] = loss
            return logs, (tv, ntv, ov, new_mv)

    return GuideModel


def custom_step(
    lab: Lab,
    model_class: Any,
    v: Variant,
    loss_count: int,
    grad_count: int,
    training_arg: bool = True,
    frozen: int = 0,
) -> Evidence:
    """Two steps of ``model_class`` (functional or subclassed) by the variant's entry point:
    is the layer loss, at the current weights, counted ``loss_count`` times in the reported
    loss (and ``frozen`` times more at its value at W0, where the sentence says it is frozen
    there) and ``grad_count`` times in the gradient?

    The second step is what tells a term computed from the current weights from one frozen at
    the first (a value ``jax.jit`` baked into the step, or a purged variable that Keras fills
    with its initial value again).
    """
    model = lab.styled(lab.penalised(v.loss), v, model_class, training_arg)
    model = lab.compile(model, v, loss=lab.keras.losses.MeanSquaredError())
    term, numbers = lab.term(v.loss, model)
    reported, weights = [], [W0]
    try:
        for _ in range(2):
            # train_on_batch reports the metrics' running mean over calls: each step's own.
            model.reset_metrics()
            reported.append(lab.train(model, v))
            weights.append(lab.weights(model))
    except Exception as exc:  # the step itself raises: the pattern is refused
        return Evidence(holds=False, numbers=numbers, refused=refusal(exc))
    want_loss, want_w = [], [W0]
    for _ in range(2):  # the sentence's two steps, from W0
        w = want_w[-1]
        want_loss.append(mse(w) + loss_count * term.value(w) + frozen * term.value(W0))
        want_w.append(w - LR * (mse_grad(w) + grad_count * term.grad(w)))
    applied = [(weights[n] - weights[n + 1]) / LR for n in range(2)]
    sentence = [(want_w[n] - want_w[n + 1]) / LR for n in range(2)]
    return Evidence(
        holds=all(close(a, b) for a, b in zip(reported + applied, want_loss + sentence)),  # noqa: B905
        numbers={
            **numbers,
            "reported loss": reported[0],
            f"mse + {loss_count + frozen} x layer loss (the sentence)": want_loss[0],
            "gradient applied": applied[0],
            f"grad(mse) + {grad_count} x grad(layer loss) (the sentence)": sentence[0],
            "mse + layer loss, the built-in total": mse(W0) + term.value(),
            "step 2: reported loss": reported[1],
            f"step 2: mse + {loss_count} x layer loss at w1 + {frozen} x at W0 (the sentence)": (
                want_loss[1]
            ),
            "step 2: gradient applied": applied[1],
            "step 2: the sentence's gradient": sentence[1],
        },
    )


def guide_frozen(v: Variant) -> bool:
    """Whether the guide's step reports ``self.losses`` frozen at its first value: everywhere
    but ``train_on_batch`` run eagerly. ``compute_loss`` reads the variable outside the
    stateless scope: ``jax.jit`` bakes its value into the step when it traces it, and under
    ``fit()`` the variable is purged (Keras refuses, or fills it with its initial value)."""
    return not (v.entry == "train_on_batch" and v.eager)


@proof("jax-custom-step-without-return-losses")
def jax_custom_step_without_return_losses(lab: Lab, v: Variant) -> Evidence:
    """The guide's JAX ``train_step`` (no ``return_losses``): an add_loss term is lost; a kernel
    regularizer gets no gradient and is reported frozen at its first value, except under
    ``train_on_batch`` run eagerly."""
    if v.loss != "kernel_regularizer":
        return custom_step(lab, guide_train_step_model(lab.keras), v, 0, 0)
    frozen = int(guide_frozen(v))
    return custom_step(lab, guide_train_step_model(lab.keras), v, 1 - frozen, 0, frozen=frozen)


@proof("jax-custom-step-with-return-losses")
def jax_custom_step_with_return_losses(lab: Lab, v: Variant) -> Evidence:
    """With ``return_losses=True`` and the returned losses added, every layer loss gets its
    gradient; ``compute_loss`` reports a kernel regularizer a second time (frozen at its first
    value, except under ``train_on_batch`` run eagerly)."""
    model_class = guide_train_step_model(lab.keras, return_losses=True)
    if v.loss != "kernel_regularizer":
        return custom_step(lab, model_class, v, 1, 1)
    frozen = int(guide_frozen(v))
    return custom_step(lab, model_class, v, 2 - frozen, 1, frozen=frozen)


@proof("jax-custom-step-fix-works")
def jax_custom_step_fix_works(lab: Lab, v: Variant) -> Evidence:
    """The reader's fixed JAX ``train_step`` counts every layer loss once, in the loss and the
    gradient."""
    # The page shows this file; a copy per model style, as a reader's program uses it one way.
    fixed_model = reader_module(lab, "jax_train_step", copy=v.model).FixedModel
    # A subclassed model's `call` here takes no `training`: the fix must not pass it one.
    return custom_step(lab, fixed_model, v, 1, 1, training_arg=False)
