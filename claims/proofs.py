"""Executable proofs of the site's claims about where layer losses go.

Every proof builds a tiny deterministic model (integer inputs, exactly representable
weights), trains it for one step with plain SGD, and compares what Keras reports and what the
optimiser applied with numbers computed independently in NumPy. A proof never asserts by
itself: it returns `Evidence`; the pages and the matrix runner compare `Evidence.holds` with
where `catalog.toml` expects the claim to hold.

The same code runs on four Keras lines. `Lab` hides the differences that are not the point
(where `keras` comes from, and the names of the tensor ops).
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from claims.catalog import FAILS, HOLDS, REFUSES

# Four samples, two features; Y is all ones. With W0 the predictions are [1, 2, 3, 2].
X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]], dtype="float32")
Y = np.ones((4, 1), dtype="float32")
W0 = np.array([[1.0], [2.0]], dtype="float32")
LR = 0.25  # a power of two keeps every update exact in float32
PENALTY = 0.5  # the add_loss term is PENALTY * sum(w**2) = 2.5 at W0
TERM = PENALTY * float(np.sum(W0**2))


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
    the cause it names. Run-specific ids and addresses are blanked.
    """
    lines = [_ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line and not line.startswith(_WRAPPER)]
    for n, line in enumerate(lines[:-1]):
        if line.endswith("Error encountered:"):
            lines = lines[n + 1 :]
            break
    first = _RUN_SPECIFIC.sub(lambda m: f"{m[1]}…" if m[1] else "0x…", lines[0]) if lines else ""
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
    return _RUN_SPECIFIC.sub(lambda m: f"{m[1]}…" if m[1] else "0x…", line)[:240]


def close(a: Any, b: Any) -> bool:
    """Equal up to float32 rounding."""
    return bool(
        np.allclose(
            np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"), rtol=1e-5, atol=1e-6
        )
    )


# --------------------------------------------------------------------------------------------
# The lab: one Keras line, loaded and wrapped.
# --------------------------------------------------------------------------------------------


class Lab:
    """One Keras line (``tf.keras``, ``tf_keras`` or Keras 3 ``keras``) and its tensor ops."""

    def __init__(self, flavor: str) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.flavor = flavor
        if flavor == "tf.keras":
            import tensorflow as tf

            self.tf: Any = tf
            self.keras: Any = tf.keras
        elif flavor == "tf_keras":
            import tensorflow as tf

            self.tf = tf
            self.keras = importlib.import_module("tf_keras")
        elif flavor == "keras":
            self.keras = importlib.import_module("keras")
            self.tf = None
        else:
            raise ValueError(f"unknown Keras flavor {flavor!r}")
        self.keras3 = flavor == "keras"
        if self.keras3:
            k = self.keras.ops
            self.ops = SimpleNamespace(
                sum=k.sum,
                square=k.square,
                matmul=k.matmul,
                mean=k.mean,
                abs=k.abs,
                subtract=k.subtract,
            )
        else:
            tf = self.tf
            self.ops = SimpleNamespace(
                sum=tf.reduce_sum,
                square=tf.square,
                matmul=tf.matmul,
                mean=tf.reduce_mean,
                abs=tf.abs,
                subtract=tf.subtract,
            )

    @property
    def backend(self) -> str:
        """The backend doing the maths."""
        return self.keras.backend.backend()

    # -- building blocks ----------------------------------------------------------------

    def linear_layer(self, penalty: float = 0.0, output_penalty: str = "") -> Any:
        """``y = x @ w`` with ``w`` set to W0; optionally ``add_loss`` in ``call``.

        ``penalty`` adds the scalar ``penalty * sum(w**2)``; ``output_penalty`` adds a term
        computed from the outputs: ``"mean-abs"`` (a scalar) or ``"abs"`` (one per sample).
        """
        keras, ops, lab = self.keras, self.ops, self

        class Linear(keras.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(
                    name="w", shape=(2, 1), initializer="zeros", trainable=True
                )
                self.w.assign(W0)
                self.built = True

            def call(self, inputs):
                w = lab.read(self.w)
                out = ops.matmul(inputs, w)
                if penalty:
                    self.add_loss(penalty * ops.sum(ops.square(w)))
                if output_penalty == "mean-abs":
                    self.add_loss(ops.mean(ops.abs(out)))
                elif output_penalty == "abs":
                    self.add_loss(ops.abs(out))
                return out

        return Linear()

    def read(self, variable: Any) -> Any:
        """A weight as a layer's ``call`` reads it: ``variable.value`` on Keras 3.0.

        Keras 3.0's JAX backend does not turn a variable into an array inside ``jax.jit``
        (3.1 does); ``.value`` is that release's own way to read it, and means the same on
        every backend.
        """
        if self.keras3 and self.keras.__version__.startswith("3.0."):
            return variable.value
        return variable

    def dense(self, **kwargs: Any) -> Any:
        """A bias-free ``Dense(1)`` whose kernel starts at W0."""
        return self.keras.layers.Dense(
            1, use_bias=False, kernel_initializer=self.keras.initializers.Constant(W0), **kwargs
        )

    def model(self, layer: Any, outputs: int = 1) -> Any:
        """A functional model ``Input(2) -> layer`` (optionally a second, identical output)."""
        keras = self.keras
        inp = keras.Input(shape=(2,))
        out = layer(inp)
        if outputs == 2:
            out = [out, keras.layers.Activation("linear", name="second")(out)]
        return keras.Model(inp, out)

    def compile(self, model: Any, lr: float = LR, **kwargs: Any) -> Any:
        """SGD with the given learning rate and mean squared error (unless given)."""
        kwargs.setdefault("loss", "mse")
        model.compile(optimizer=self.keras.optimizers.SGD(learning_rate=lr), **kwargs)
        return model

    def step(self, model: Any, x: Any = X, y: Any = Y, **kwargs: Any) -> float:
        """One ``train_on_batch``; the loss it reports (computed before the update)."""
        logs = model.train_on_batch(x, y, return_dict=True, **kwargs)
        return float(logs["loss"]) if "loss" in logs else math.nan

    def numpy(self, tensor: Any) -> np.ndarray:
        """Any backend's tensor or variable as a NumPy array (torch needs it detached)."""
        if self.keras3:
            return np.asarray(self.keras.ops.convert_to_numpy(tensor))
        return np.asarray(tensor)

    def weights(self, model: Any) -> np.ndarray:
        """The first weight of the model as a NumPy array."""
        return self.numpy(model.weights[0])

    def losses(self, model: Any) -> list[float]:
        """``model.losses`` as floats (each reduced, if not scalar, only for display)."""
        return [float(np.sum(self.numpy(t))) for t in model.losses]


# --------------------------------------------------------------------------------------------
# Independent arithmetic (NumPy only).
# --------------------------------------------------------------------------------------------


def mse(w: np.ndarray, x: np.ndarray = X, y: np.ndarray = Y) -> float:
    """Mean squared error of ``x @ w`` against ``y``."""
    return float(np.mean((x @ w - y) ** 2))


def mse_grad(w: np.ndarray, x: np.ndarray = X, y: np.ndarray = Y) -> np.ndarray:
    """Gradient of :func:`mse` with respect to ``w``."""
    return 2.0 / len(x) * x.T @ (x @ w - y)


#: One SGD step on mean squared error + the add_loss term, from W0 (the single-device update).
W_AFTER = W0 - LR * (mse_grad(W0) + 2 * PENALTY * W0)


# --------------------------------------------------------------------------------------------
# The proofs, one per claim id in catalog.toml.
# --------------------------------------------------------------------------------------------

PROOFS: dict[str, Callable[[Lab], Evidence]] = {}


def proof(claim_id: str) -> Callable[[Callable[[Lab], Evidence]], Callable[[Lab], Evidence]]:
    """Register a proof under its claim id: the one place a proof names its claim."""

    def register(func: Callable[[Lab], Evidence]) -> Callable[[Lab], Evidence]:
        if claim_id in PROOFS:
            twice = f"{PROOFS[claim_id].__name__} and {func.__name__}"
            raise ValueError(f"claim {claim_id!r} has two proofs: {twice}")
        PROOFS[claim_id] = func
        return func

    return register


@proof("add-loss-once-unweighted")
def add_loss_once_unweighted(lab: Lab) -> Evidence:
    """A scalar ``add_loss`` term: once per batch, weight 1, in the loss and the gradient."""
    model = lab.compile(lab.model(lab.linear_layer(penalty=PENALTY)))
    reported = lab.step(model)
    compiled = mse(W0)
    expected_w = W_AFTER
    got_w = lab.weights(model)
    n = len(X)
    return Evidence(
        holds=close(reported, compiled + TERM) and close(got_w, expected_w),
        numbers={
            "mean compiled loss": compiled,
            "add_loss term": TERM,
            "reported loss": reported,
            "compiled + term": compiled + TERM,
            "compiled + term x batch size (not it)": compiled + n * TERM,
            "compiled + term / batch size (not it)": compiled + TERM / n,
            "w after one SGD step": got_w,
            "W0 - lr * grad(compiled + term)": expected_w,
        },
    )


@proof("nonscalar-add-loss-summed")
def nonscalar_add_loss_summed(lab: Lab) -> Evidence:
    """A per-sample ``add_loss`` tensor (shape ``(batch, 1)``): is it summed to a scalar?"""
    model = lab.compile(lab.model(lab.linear_layer(output_penalty="abs")))
    values = np.abs(X @ W0)
    compiled = mse(W0)
    summed, averaged = compiled + float(values.sum()), compiled + float(values.mean())
    numbers: dict[str, Any] = {
        "add_loss values (per sample)": values,
        "mean compiled loss": compiled,
        "compiled + sum(values)": summed,
        "compiled + mean(values)": averaged,
    }
    try:
        reported = lab.step(model)
    except Exception as exc:  # the training step refuses the per-sample term
        return Evidence(holds=False, numbers=numbers, refused=refusal(exc))
    return Evidence(
        holds=close(reported, summed),
        numbers={**numbers, "reported loss": reported},
        detail="averaged over the batch instead" if close(reported, averaged) else "",
    )


@proof("weight-regularizer-once-per-batch")
def weight_regularizer_once_per_batch(lab: Lab) -> Evidence:
    """``kernel_regularizer=L2(l)``: one entry ``l * sum(w**2)`` in ``losses``, added once."""
    model = lab.compile(lab.model(lab.dense(kernel_regularizer=lab.keras.regularizers.L2(PENALTY))))
    in_losses = lab.losses(model)
    reported = lab.step(model)
    expected_w = W_AFTER
    got_w = lab.weights(model)
    return Evidence(
        holds=close(in_losses, [TERM])
        and close(reported, mse(W0) + TERM)
        and close(got_w, expected_w),
        numbers={
            "model.losses before training": in_losses,
            "l * sum(w**2)": TERM,
            "reported loss": reported,
            "mean compiled loss + term": mse(W0) + TERM,
            "w after one SGD step": got_w,
            "W0 - lr * grad(compiled + term)": expected_w,
        },
    )


@proof("activity-regularizer-batch-mean")
def activity_regularizer_batch_mean(lab: Lab) -> Evidence:
    """``activity_regularizer=L1(1)``: is the penalty divided by the batch size?"""
    model = lab.compile(lab.model(lab.dense(activity_regularizer=lab.keras.regularizers.L1(1.0))))
    reported = lab.step(model)
    total_abs = float(np.abs(X @ W0).sum())
    per_batch_mean = mse(W0) + total_abs / len(X)
    return Evidence(
        holds=close(reported, per_batch_mean),
        numbers={
            "sum |outputs| over the batch": total_abs,
            "reported loss": reported,
            "compiled + sum|outputs| / batch size": per_batch_mean,
            "compiled + sum|outputs|": mse(W0) + total_abs,
        },
    )


@proof("loss-weights-skip-layer-losses")
def loss_weights_skip_layer_losses(lab: Lab) -> Evidence:
    """``loss_weights`` multiply the compiled per-output losses only, never ``losses``."""
    weights = [2.0, 0.5]

    def check(lab: Lab, kind: str) -> tuple[bool, dict[str, Any]]:
        model = lab.compile(
            lab.model(_with_penalty(lab, kind), outputs=2),
            loss=["mse", "mse"],
            loss_weights=weights,
        )
        reported = lab.step(model, X, [Y, Y])
        expected = sum(weights) * mse(W0) + TERM
        expected_w = W0 - LR * (sum(weights) * mse_grad(W0) + 2 * PENALTY * W0)
        got_w = lab.weights(model).reshape(W0.shape)
        return close(reported, expected) and close(got_w, expected_w), {
            "reported loss": reported,
            "2 * mse + 0.5 * mse + term": expected,
            "(2 + 0.5) * (mse + term) (not it)": sum(weights) * (mse(W0) + TERM),
            "w after one SGD step": got_w,
            "expected w": expected_w,
        }

    return _each_kind(lab, check)


@proof("sample-and-class-weights-skip-layer-losses")
def sample_and_class_weights_skip_layer_losses(lab: Lab) -> Evidence:
    """``sample_weight`` and ``class_weight`` reach the compiled loss only."""
    sw = np.array([1.0, 0.0, 1.0, 0.0], dtype="float32")

    def check(lab: Lab, kind: str) -> tuple[bool, dict[str, Any]]:
        numbers: dict[str, Any] = {}
        holds = True
        for name, kwargs in (
            ("sample_weight", {"sample_weight": sw}),
            ("class_weight", {"class_weight": {0: 1.0, 1: 3.0}}),
        ):
            bare = lab.compile(lab.model(lab.linear_layer()))
            with_term = lab.compile(lab.model(_with_penalty(lab, kind)))
            compiled = lab.step(bare, **kwargs)
            reported = lab.step(with_term, **kwargs)
            numbers[f"{name}: compiled loss alone"] = compiled
            numbers[f"{name}: reported loss with the layer loss"] = reported
            numbers[f"{name}: difference (the layer loss is {TERM:g})"] = reported - compiled
            holds = holds and close(reported - compiled, TERM)
        return holds, numbers

    return _each_kind(lab, check)


@proof("losses-reset-each-call")
def losses_reset_each_call(lab: Lab) -> Evidence:
    """``model.losses`` holds the terms of the latest forward pass only (no accumulation)."""
    model = lab.model(lab.linear_layer(output_penalty="mean-abs"))
    seen = []
    for scale in (1.0, 2.0, 3.0):
        model(X * scale)
        seen.append(lab.losses(model))
    expected = [[float(np.mean(np.abs(X * s @ W0)))] for s in (1.0, 2.0, 3.0)]
    return Evidence(
        holds=close(seen, expected),
        numbers={
            "model.losses after call(X), call(2X), call(3X)": seen,
            "mean |x @ w| of each call": expected,
        },
    )


@proof("history-loss-batch-weighted")
def history_loss_batch_weighted(lab: Lab) -> Evidence:
    """``History`` reports the batch-size-weighted mean of per-batch totals (terms included)."""
    model = lab.compile(lab.model(lab.linear_layer(penalty=PENALTY)), lr=0.0)
    history = model.fit(X, Y, batch_size=3, epochs=1, shuffle=False, verbose=0)
    reported = float(history.history["loss"][0])
    b1, b2 = mse(W0, X[:3], Y[:3]) + TERM, mse(W0, X[3:], Y[3:]) + TERM
    weighted, plain = (3 * b1 + 1 * b2) / 4, (b1 + b2) / 2
    return Evidence(
        holds=close(reported, weighted),
        numbers={
            "batch totals (3 samples, 1 sample)": [b1, b2],
            "History loss": reported,
            "(3 * b1 + 1 * b2) / 4": weighted,
            "(b1 + b2) / 2 (not it)": plain,
        },
    )


@proof("custom-compute-loss-reproduces")
def custom_compute_loss_reproduces(lab: Lab) -> Evidence:
    """Overriding ``compute_loss`` with compiled loss + ``sum(self.losses)`` changes nothing."""
    keras, ops = lab.keras, lab.ops

    class Explicit(keras.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kwargs):
            total = ops.mean(ops.square(ops.subtract(y_pred, y)))
            for term in self.losses:
                total = total + term
            return total

    inp = keras.Input(shape=(2,))
    explicit = Explicit(inp, lab.linear_layer(penalty=PENALTY)(inp))
    lab.compile(explicit)
    builtin = lab.compile(lab.model(lab.linear_layer(penalty=PENALTY)))
    lab.step(explicit)
    lab.step(builtin)
    a, b = lab.weights(explicit), lab.weights(builtin)
    return Evidence(
        holds=close(a, b) and not close(a, W0),
        numbers={"w after a step, explicit compute_loss": a, "w after a step, built-in": b},
    )


@proof("tfp-kl-weight")
def tfp_kl_weight(lab: Lab) -> Evidence:
    """TFP ``DenseVariational``: ``losses`` = [kl_weight * KL]; added once, in the gradient."""
    import tensorflow_probability as tfp

    tfd, tf = tfp.distributions, lab.tf
    kl_weight = 1.0 / len(X)

    def posterior(kernel_size, bias_size=0, dtype=None):
        # A point-mass posterior makes the forward pass deterministic: w = loc, exactly.
        return lab.keras.Sequential(
            [
                tfp.layers.VariableLayer(
                    kernel_size + bias_size,
                    dtype=dtype,
                    initializer=lab.keras.initializers.Constant(W0.ravel()),
                ),
                tfp.layers.DistributionLambda(
                    lambda t: tfd.Independent(tfd.Deterministic(loc=t), reinterpreted_batch_ndims=1)
                ),
            ]
        )

    def prior(kernel_size, bias_size=0, dtype=None):
        return lab.keras.Sequential(
            [
                tfp.layers.DistributionLambda(
                    lambda t: tfd.Independent(
                        tfd.Normal(loc=tf.zeros(kernel_size + bias_size), scale=1.0),
                        reinterpreted_batch_ndims=1,
                    )
                ),
            ]
        )

    layer = tfp.layers.DenseVariational(
        1, posterior, prior, kl_weight=kl_weight, kl_use_exact=False, use_bias=False
    )
    model = lab.compile(lab.model(layer))
    model(X)
    in_losses = lab.losses(model)
    reported = lab.step(model)
    # KL estimate at z = loc: log q(z) - log p(z) = 0 - log N(w; 0, 1) summed over weights.
    kl = float(0.5 * np.sum(W0**2) + W0.size * 0.5 * math.log(2 * math.pi))
    expected_w = W0 - LR * (mse_grad(W0) + kl_weight * W0)
    got_w = np.asarray(model.get_weights()[0]).reshape(W0.shape)
    return Evidence(
        holds=close(in_losses, [kl_weight * kl])
        and close(reported, mse(W0) + kl_weight * kl)
        and close(got_w, expected_w),
        numbers={
            "KL estimate": kl,
            "kl_weight (1 / number of examples)": kl_weight,
            "model.losses": in_losses,
            "reported loss": reported,
            "mean compiled loss + kl_weight * KL": mse(W0) + kl_weight * kl,
            "w after one SGD step": got_w,
            "W0 - lr * grad(compiled + kl_weight * KL)": expected_w,
        },
    )


@proof("mirrored-same-update")
def mirrored_same_update(lab: Lab) -> Evidence:
    """Two replicas: each scales compiled *and* layer losses by 1/2; the update is unchanged."""
    tf = lab.tf if lab.tf is not None else importlib.import_module("tensorflow")
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < 2:
        return Evidence(holds=False, detail=f"needs 2 logical CPUs, found {devices}")
    strategy = tf.distribute.MirroredStrategy(devices[:2])
    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        model = lab.compile(lab.model(lab.linear_layer(penalty=PENALTY)))

    # What each replica's loss is, on its half of the batch, before any update.
    def shard(ctx):
        i = ctx.replica_id_in_sync_group
        return tf.constant(X[2 * i : 2 * i + 2]), tf.constant(Y[2 * i : 2 * i + 2])

    def replica_loss(x, y):
        return model.compute_loss(x, y, model(x, training=True))

    per_replica = strategy.run(
        tf.function(replica_loss), args=strategy.experimental_distribute_values_from_function(shard)
    )
    got_parts = [float(v) for v in strategy.experimental_local_results(per_replica)]
    expected_parts = [
        (mse(W0, X[2 * i : 2 * i + 2], Y[2 * i : 2 * i + 2]) + TERM) / replicas
        for i in range(replicas)
    ]
    reported = lab.step(model)
    expected_w = W_AFTER
    got_w = lab.weights(model)
    return Evidence(
        holds=close(got_parts, expected_parts) and close(got_w, expected_w),
        numbers={
            "replicas": replicas,
            "loss on each replica (its 2 samples)": got_parts,
            "(replica's mean compiled loss + term) / replicas": expected_parts,
            "sum over replicas": sum(got_parts),
            "single-device total": mse(W0) + TERM,
            "reported loss": reported,
            "w after one step": got_w,
            "single-device update": expected_w,
        },
    )


def use_two_cpus() -> None:
    """Split the CPU into two logical devices; must run before TensorFlow starts."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


# --------------------------------------------------------------------------------------------
# The questions people keep asking (docs/questions.md), one proof each.
# --------------------------------------------------------------------------------------------


def _with_penalty(lab: Lab, kind: str) -> Any:
    """The penalised layer: ``add_loss`` of PENALTY * sum(w**2) in ``call``, or an L2 kernel
    regularizer of the same value."""
    if kind == "add_loss":
        return lab.linear_layer(penalty=PENALTY)
    return lab.dense(kernel_regularizer=lab.keras.regularizers.L2(PENALTY))


#: The layer losses a sentence about "layer losses" covers: an add_loss term, a weight regularizer.
LOSS_KINDS = ("add_loss", "regularizer")


def _each_kind(lab: Lab, check: Callable[[Lab, str], tuple[bool, dict[str, Any]]]) -> Evidence:
    """Run ``check`` for every kind of layer loss; the claim holds only if it holds for all."""
    holds, numbers = True, {}
    for kind in LOSS_KINDS:
        ok, found = check(lab, kind)
        holds = holds and ok
        numbers.update({f"{kind}: {key}": value for key, value in found.items()})
    return Evidence(holds=holds, numbers=numbers)


def _gradient_applied(lab: Lab, model: Any) -> np.ndarray:
    """The gradient one SGD step applied, recovered from the weights it moved."""
    return (W0 - lab.weights(model).reshape(W0.shape)) / LR


@proof("evaluate-includes-layer-losses")
def evaluate_includes_layer_losses(lab: Lab) -> Evidence:
    """``evaluate()`` and ``val_loss`` report the compiled loss plus the layer losses."""

    def check(lab: Lab, kind: str) -> tuple[bool, dict[str, Any]]:
        model = lab.compile(lab.model(_with_penalty(lab, kind)))
        evaluated = float(model.evaluate(X, Y, verbose=0, return_dict=True)["loss"])
        history = model.fit(X, Y, validation_data=(X, Y), batch_size=4, epochs=1, verbose=0)
        val_loss = float(history.history["val_loss"][0])
        # Validation runs after the epoch's step, on the updated weights.
        expected_val = mse(W_AFTER) + PENALTY * float(np.sum(W_AFTER**2))
        return close(evaluated, mse(W0) + TERM) and close(val_loss, expected_val), {
            "evaluate() loss": evaluated,
            "mean compiled loss + term": mse(W0) + TERM,
            "mean compiled loss alone (not it)": mse(W0),
            "val_loss after one step": val_loss,
            "mse + term at the updated weights": expected_val,
        }

    return _each_kind(lab, check)


@proof("symbolic-add-loss-refused")
def symbolic_add_loss_refused(lab: Lab) -> Evidence:
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
    reported = lab.step(lab.compile(model))
    return Evidence(
        holds=close(reported, expected),
        numbers={"reported loss": reported, "mse + mean|outputs|": expected},
    )


@proof("add-loss-outside-call-dropped")
def add_loss_outside_call_dropped(lab: Lab) -> Evidence:
    """``layer.add_loss(tensor)`` outside ``call``: listed, then dropped by the next pass."""
    layer = lab.linear_layer()
    model = lab.compile(lab.model(layer))
    try:
        layer.add_loss(lab.ops.sum(lab.ops.square(layer.w)) * PENALTY)
    except Exception as exc:  # the Keras 2 lines refuse an eager tensor there
        return Evidence(holds=False, refused=refusal(exc))
    listed = lab.losses(model)
    reported = lab.step(model)
    return Evidence(
        holds=close(listed, [TERM]) and close(reported, mse(W0)),
        numbers={
            "model.losses after add_loss": listed,
            "reported loss of the next step": reported,
            "mean compiled loss alone": mse(W0),
            "with the term (not it)": mse(W0) + TERM,
        },
    )


@proof("regularizer-after-build-ignored")
def regularizer_after_build_ignored(lab: Lab) -> Evidence:
    """Setting ``layer.kernel_regularizer`` after the layer is built adds nothing."""
    dense = lab.dense()
    model = lab.compile(lab.model(dense))
    dense.kernel_regularizer = lab.keras.regularizers.L2(PENALTY)
    listed = lab.losses(model)
    reported = lab.step(model)
    return Evidence(
        holds=listed == [] and close(reported, mse(W0)),
        numbers={
            "model.losses": listed,
            "reported loss": reported,
            "mean compiled loss alone": mse(W0),
            "with the penalty (not it)": mse(W0) + TERM,
        },
    )


@proof("sample-weight-divides-by-batch-size")
def sample_weight_divides_by_batch_size(lab: Lab) -> Evidence:
    """The default reduction divides the weighted sum by the batch size, not the weights' sum."""
    sw = np.array([1.0, 0.0, 1.0, 0.0], dtype="float32")
    errors = ((X @ W0 - Y) ** 2).ravel()
    by_batch = float((sw * errors).sum() / len(X))
    by_weights = float((sw * errors).sum() / sw.sum())

    def check(lab: Lab, kind: str) -> tuple[bool, dict[str, Any]]:
        model = lab.compile(lab.model(_with_penalty(lab, kind)))
        reported = lab.step(model, sample_weight=sw)
        return close(reported, by_batch + TERM), {
            "reported loss": reported,
            "sum(w * error) / batch size + term": by_batch + TERM,
            "sum(w * error) / sum(w) + term (not it)": by_weights + TERM,
        }

    evidence = _each_kind(lab, check)
    evidence.numbers = {"sample_weight": sw, **evidence.numbers}
    return evidence


@proof("mean-with-sample-weight-reduction")
def mean_with_sample_weight_reduction(lab: Lab) -> Evidence:
    """``reduction="mean_with_sample_weight"`` divides by the weights' sum; layer losses stay."""
    sw = np.array([1.0, 0.0, 1.0, 0.0], dtype="float32")
    errors = ((X @ W0 - Y) ** 2).ravel()
    by_weights = float((sw * errors).sum() / sw.sum())
    try:
        loss = lab.keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")
    except Exception as exc:  # releases before the reduction existed refuse its name
        return Evidence(holds=False, refused=refusal(exc))
    model = lab.compile(lab.model(lab.linear_layer(penalty=PENALTY)), loss=loss)
    reported = lab.step(model, sample_weight=sw)
    return Evidence(
        holds=close(reported, by_weights + TERM),
        numbers={
            "reported loss": reported,
            "sum(w * error) / sum(w) + term": by_weights + TERM,
            "sum(w * error) / batch size + term (not it)": float((sw * errors).sum() / 4) + TERM,
        },
    )


@proof("compute-loss-override-used-by-fit-and-evaluate")
def compute_loss_override_used_by_fit_and_evaluate(lab: Lab) -> Evidence:
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
    model = Reweighted(inp, lab.linear_layer(penalty=PENALTY)(inp))
    lab.compile(model)
    history = model.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    # The Keras 2 lines update the loss metric inside `compiled_loss`, which an override no
    # longer calls: then History and evaluate() have no "loss" to report.
    fit_loss: float | str = history.history.get("loss", ["absent from History"])[0]
    w1 = lab.weights(model).reshape(W0.shape)
    logs = model.evaluate(X, Y, verbose=0, return_dict=True)
    evaluated: float | str = logs.get("loss", "absent from evaluate()'s logs")
    fit_loss = float(fit_loss) if not isinstance(fit_loss, str) else fit_loss
    evaluated = float(evaluated) if not isinstance(evaluated, str) else evaluated
    want_w1 = W0 - LR * (mse_grad(W0) + 2.0 * 2 * PENALTY * W0)
    want_eval = mse(want_w1) + 2.0 * PENALTY * float(np.sum(want_w1**2))
    return Evidence(
        holds=not isinstance(fit_loss, str)
        and not isinstance(evaluated, str)
        and close(fit_loss, mse(W0) + 2 * TERM)
        and close(w1, want_w1)
        and close(evaluated, want_eval),
        numbers={
            "fit: reported loss": fit_loss,
            "mse + 2 x term": mse(W0) + 2 * TERM,
            "fit: w after one step": w1,
            "W0 - lr * grad(mse + 2 x term)": want_w1,
            "evaluate: loss": evaluated,
            "mse + 2 x term at the new w": want_eval,
            "built-in total at the new w (not it)": mse(want_w1)
            + PENALTY * float(np.sum(want_w1**2)),
        },
    )


@proof("gradient-tape-loop-needs-losses")
def gradient_tape_loop_needs_losses(lab: Lab) -> Evidence:
    """A ``tf.GradientTape`` loop gets the layer losses only if it adds ``sum(model.losses)``."""
    import tensorflow as tf

    def gradient(add_losses: bool) -> np.ndarray:
        model = lab.model(lab.linear_layer(penalty=PENALTY))
        x, y = tf.constant(X), tf.constant(Y)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = tf.reduce_mean(tf.square(y_pred - y))
            if add_losses:
                loss = loss + tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        return np.asarray(grads[0]).reshape(W0.shape)

    without, with_losses = gradient(False), gradient(True)
    full = mse_grad(W0) + 2 * PENALTY * W0
    return Evidence(
        holds=close(without, mse_grad(W0)) and close(with_losses, full),
        numbers={
            "gradient, loss = compiled only": without,
            "gradient of the compiled loss": mse_grad(W0),
            "gradient, loss + sum(model.losses)": with_losses,
            "gradient of compiled + term": full,
        },
    )


@proof("scale-regularization-loss-per-replica")
def scale_regularization_loss_per_replica(lab: Lab) -> Evidence:
    """In a custom loop under two replicas, ``tf.nn.compute_average_loss`` +
    ``tf.nn.scale_regularization_loss`` give each replica its share; they sum to the total."""
    tf = lab.tf if lab.tf is not None else importlib.import_module("tensorflow")
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices[:2])
    with strategy.scope():
        model = lab.model(lab.linear_layer(penalty=PENALTY))

    def shard(ctx):
        i = ctx.replica_id_in_sync_group
        return tf.constant(X[2 * i : 2 * i + 2]), tf.constant(Y[2 * i : 2 * i + 2])

    def replica_loss(x, y):
        y_pred = model(x, training=True)
        per_example = tf.reduce_mean(tf.square(y_pred - y), axis=-1)
        loss = tf.nn.compute_average_loss(per_example, global_batch_size=len(X))
        return loss + tf.nn.scale_regularization_loss(tf.add_n(model.losses))

    per_replica = strategy.run(
        tf.function(replica_loss), args=strategy.experimental_distribute_values_from_function(shard)
    )
    parts = [float(v) for v in strategy.experimental_local_results(per_replica)]
    replicas = strategy.num_replicas_in_sync
    expected = [
        float(((X[2 * i : 2 * i + 2] @ W0 - Y[2 * i : 2 * i + 2]) ** 2).sum()) / len(X)
        + TERM / replicas
        for i in range(replicas)
    ]
    return Evidence(
        holds=replicas == 2 and close(parts, expected) and close(sum(parts), mse(W0) + TERM),
        numbers={
            "replicas": replicas,
            "each replica's loss": parts,
            "sum of its squared errors / global batch + term / replicas": expected,
            "sum over replicas": sum(parts),
            "single-device total": mse(W0) + TERM,
        },
    )


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
            return _guide_metrics(self, mv, loss, y, y_pred, tv, ntv, ov)

    return GuideModel


def _guide_metrics(model: Any, mv: Any, loss: Any, y: Any, y_pred: Any, tv, ntv, ov) -> Any:
    """The guide's metrics loop: the loss tracker learns the step's loss (what fit reports)."""
    logs, new_mv = {}, []
    for metric in model.metrics:
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


#: How each custom-step proof drives the model: the two entry points readers use.
ENTRY_POINTS = ("fit", "train_on_batch")


def _custom_step(lab: Lab, model_class: Any, kind: str, entry: str) -> tuple[float, np.ndarray]:
    """One SGD step of ``model_class`` on the penalised layer; the loss reported, the gradient."""
    keras = lab.keras
    inp = keras.Input(shape=(2,))
    model = model_class(inp, _with_penalty(lab, kind)(inp))
    lab.compile(model, loss=keras.losses.MeanSquaredError())
    if entry == "fit":
        history = model.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        reported = float(history.history["loss"][0])
    else:
        reported = lab.step(model)
    return reported, _gradient_applied(lab, model)


def _variants(lab: Lab, model_class: Any, expect: dict[str, tuple[float, np.ndarray]]) -> Evidence:
    """Every entry point x loss kind: what was reported and applied, against ``expect[kind]``.

    The claim holds where every variant does; a variant that was reached and differs makes
    it not hold; otherwise a variant whose very step raises makes it "Keras refuses".
    """
    numbers: dict[str, Any] = {}
    refused, reached_all = "", True
    for entry in ENTRY_POINTS:
        for kind, (want_loss, want_grad) in expect.items():
            name = f"{entry}, {kind}"
            try:
                reported, grad = _custom_step(lab, model_class, kind, entry)
            except Exception as exc:  # the step itself raises: the pattern is refused
                numbers[f"{name}: outcome"] = REFUSES
                refused = refused or f"{name}: {refusal(exc)}"
                continue
            ok = close(reported, want_loss) and close(grad, want_grad)
            reached_all = reached_all and ok
            numbers[f"{name}: outcome"] = HOLDS if ok else FAILS
            numbers[f"{name}: reported loss"] = reported
            numbers[f"{name}: gradient applied"] = grad
    for kind, (want_loss, want_grad) in expect.items():
        # What the sentence predicts (not always what is right: see the claim's statement).
        numbers[f"{kind}: loss the sentence predicts"] = want_loss
        numbers[f"{kind}: gradient the sentence predicts"] = want_grad
    numbers["mse + term, the built-in total"] = mse(W0) + TERM
    return Evidence(holds=reached_all, numbers=numbers, refused=refused if reached_all else "")


@proof("jax-custom-step-without-return-losses")
def jax_custom_step_without_return_losses(lab: Lab) -> Evidence:
    """The guide's JAX ``train_step`` (no ``return_losses``), by ``fit`` and ``train_on_batch``:
    the add_loss term is lost; a kernel regularizer is reported but gets no gradient."""
    return _variants(
        lab,
        guide_train_step_model(lab.keras),
        {
            "add_loss": (mse(W0), mse_grad(W0)),
            "regularizer": (mse(W0) + TERM, mse_grad(W0)),
        },
    )


@proof("jax-custom-step-with-return-losses")
def jax_custom_step_with_return_losses(lab: Lab) -> Evidence:
    """With ``return_losses=True`` and the returned losses added, both get their gradient (and
    ``compute_loss`` reports a kernel regularizer a second time)."""
    full = mse_grad(W0) + 2 * PENALTY * W0
    return _variants(
        lab,
        guide_train_step_model(lab.keras, return_losses=True),
        {"add_loss": (mse(W0) + TERM, full), "regularizer": (mse(W0) + 2 * TERM, full)},
    )


@proof("jax-custom-step-fix-works")
def jax_custom_step_fix_works(lab: Lab) -> Evidence:
    """The reader's fixed JAX ``train_step`` counts an ``add_loss`` term and a kernel
    regularizer once each, in the loss and the gradient, under ``fit`` and ``train_on_batch``."""
    full = mse_grad(W0) + 2 * PENALTY * W0
    from claims.reader_code.jax_train_step import FixedModel  # the page shows this file

    return _variants(
        lab, FixedModel, {"add_loss": (mse(W0) + TERM, full), "regularizer": (mse(W0) + TERM, full)}
    )


@proof("masked-loss-divides-by-unmasked-steps")
def masked_loss_divides_by_unmasked_steps(lab: Lab) -> Evidence:
    """With a mask, the compiled per-timestep mean runs over the unmasked steps only; the layer
    losses are added unmasked, once."""
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
    reported = lab.step(lab.compile(model, lr=0.0), xs, ys)
    mask = (xs != 0).astype("float32")
    errors = (xs - ys) ** 2
    masked = float((errors * mask).sum() / mask.sum())
    return Evidence(
        holds=close(reported, masked + PENALTY),
        numbers={
            "unmasked timesteps": int(mask.sum()),
            "reported loss": reported,
            "mean over unmasked steps + penalty": masked + PENALTY,
            "masked sum / all steps + penalty (not it)": float((errors * mask).sum() / errors.size)
            + PENALTY,
            "mean over all steps + penalty (not it)": float(errors.mean()) + PENALTY,
        },
    )


@proof("mixed-precision-layer-losses-scaled")
def mixed_precision_layer_losses_scaled(lab: Lab) -> Evidence:
    """Under ``mixed_float16`` a layer loss is computed in float16, added to the total and
    scaled by the loss-scale optimizer with it: the step equals the float32 one."""
    keras = lab.keras
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = lab.model(lab.linear_layer(penalty=PENALTY))
        # A small fixed starting scale: no overflow, so the first step is applied.
        opt = keras.mixed_precision.LossScaleOptimizer(
            keras.optimizers.SGD(learning_rate=LR), initial_scale=2.0
        )
        model.compile(optimizer=opt, loss="mse")
        model(X)
        dtypes = [str(lab.numpy(t).dtype) for t in model.losses]
        reported = lab.step(model)
        got_w = lab.weights(model)
    except Exception as exc:  # the float16 layer loss in the float32 total is refused
        return Evidence(holds=False, refused=refusal(exc))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return Evidence(
        holds=dtypes == ["float16"] and close(reported, mse(W0) + TERM) and close(got_w, W_AFTER),
        numbers={
            "dtype of the add_loss term": dtypes,
            "optimizer": type(model.optimizer).__name__,
            "reported loss": reported,
            "compiled + term": mse(W0) + TERM,
            "w after one step": got_w,
            "float32 update": W_AFTER,
        },
    )


@proof("jax-data-parallel-same-update")
def jax_data_parallel_same_update(lab: Lab) -> Evidence:
    """``keras.distribution.DataParallel`` over two CPU devices: the same loss and update as on
    one device, for an ``add_loss`` term and for a kernel regularizer."""
    import jax

    keras = lab.keras
    devices = jax.devices()
    if len(devices) < 2:
        return Evidence(holds=False, detail=f"needs 2 devices: {devices}")
    numbers: dict[str, Any] = {"devices": len(devices[:2])}
    holds = True
    for kind in ("add_loss", "regularizer"):
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices[:2]))
        try:
            model = lab.compile(lab.model(_with_penalty(lab, kind)))
            history = model.fit(X, Y, batch_size=4, epochs=1, verbose=0, shuffle=False)
            reported = float(history.history["loss"][0])
            got_w = lab.weights(model).reshape(W0.shape)
        finally:
            keras.distribution.set_distribution(None)
        numbers[f"{kind}: reported loss"] = reported
        numbers[f"{kind}: w after one step"] = got_w
        holds = holds and close(reported, mse(W0) + TERM) and close(got_w, W_AFTER)
    numbers["single-device loss"] = mse(W0) + TERM
    numbers["single-device update"] = W_AFTER
    return Evidence(holds=holds, numbers=numbers)


@proof("time-distributed-add-loss-per-step")
def time_distributed_add_loss_per_step(lab: Lab) -> Evidence:
    """A layer calling ``add_loss`` inside ``TimeDistributed``: its term counts once per step."""
    keras, ops = lab.keras, lab.ops
    steps = 3

    class Penalised(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(2, 1), initializer="ones")
            self.built = True

        def call(self, x, mask=None):
            self.add_loss(0.5 * ops.sum(self.w))  # 1.0 per call
            return ops.matmul(x, self.w)

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], 1)

    xs = np.ones((4, steps, 2), dtype="float32")
    ys = np.zeros((4, steps, 1), dtype="float32")
    compiled = 4.0  # every prediction is 2, every target 0
    numbers: dict[str, Any] = {
        "timesteps": steps,
        "compiled + term x timesteps": compiled + steps * 1.0,
        "compiled + term once (not it)": compiled + 1.0,
    }
    try:
        inp = keras.Input(shape=(steps, 2))
        model = keras.Model(inp, keras.layers.TimeDistributed(Penalised())(inp))
        reported = lab.step(lab.compile(model, lr=0.0), xs, ys)
    except Exception as exc:  # a term added inside the wrapped loop cannot leave it
        return Evidence(holds=False, numbers=numbers, refused=refusal(exc))
    return Evidence(
        holds=close(reported, compiled + steps * 1.0),
        numbers={**numbers, "reported loss": reported},
    )


@proof("callable-add-loss-piles-up")
def callable_add_loss_piles_up(lab: Lab) -> Evidence:
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
        reported = lab.step(lab.compile(model, lr=0.0))
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


@proof("rnn-cell-add-loss-counted-steps-plus-one")
def rnn_cell_add_loss_counted_steps_plus_one(lab: Lab) -> Evidence:
    """A cell calling ``add_loss``, inside ``RNN`` over T steps: how often does its term count?"""
    keras, ops = lab.keras, lab.ops
    steps = 3

    class Cell(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.state_size = 1
            self.output_size = 1

        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(2, 1), initializer="ones")
            self.built = True

        def call(self, x, states, training=None):
            self.add_loss(0.5 * ops.sum(self.w))  # 1.0 per call
            return ops.matmul(x, self.w), [states[0]]

    xs = np.ones((4, steps, 2), dtype="float32")
    ys = np.zeros((4, 1), dtype="float32")
    compiled = 4.0  # the last step's output is 2, the target 0
    numbers: dict[str, Any] = {
        "timesteps": steps,
        "compiled + term x (timesteps + 1)": compiled + (steps + 1) * 1.0,
        "compiled + term x timesteps (not it)": compiled + steps * 1.0,
    }
    try:
        inp = keras.Input(shape=(steps, 2))
        model = keras.Model(inp, keras.layers.RNN(Cell())(inp))
        reported = lab.step(lab.compile(model, lr=0.0), xs, ys)
    except Exception as exc:  # a term added inside the symbolic loop cannot leave it
        return Evidence(holds=False, numbers=numbers, refused=refusal(exc))
    return Evidence(
        holds=close(reported, compiled + (steps + 1) * 1.0),
        numbers={**numbers, "reported loss": reported},
    )
