"""The test bench every proof shares: the data, one Keras line wrapped, the NumPy arithmetic.

Every proof builds a tiny deterministic model (integer inputs, exactly representable
weights), drives it the way the variant says (``fit``, ``train_on_batch``, ``evaluate``, …,
traced or ``run_eagerly=True``), and compares what Keras reports and what the optimiser applied
with numbers computed independently here, in NumPy. `Lab` hides what is not the point: where
``keras`` comes from, and the names of the tensor ops.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

from claims.catalog import Variant

# Four samples, two features; Y is all ones. With W0 the predictions are [1, 2, 3, 2].
X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]], dtype="float32")
Y = np.ones((4, 1), dtype="float32")
W0 = np.array([[1.0], [2.0]], dtype="float32")
LR = 0.25  # a power of two keeps every update exact in float32
PENALTY = 0.5  # the add_loss term and the L2 kernel penalty: PENALTY * sum(w**2) = 2.5 at W0
TERM = PENALTY * float(np.sum(W0**2))
ACTIVITY = 0.125  # the L2 activity penalty: ACTIVITY * sum(outputs**2) = 2.25 over the batch


def close(a: Any, b: Any) -> bool:
    """Equal up to float32 rounding."""
    return bool(
        np.allclose(
            np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64"), rtol=1e-5, atol=1e-6
        )
    )


def mse(w: np.ndarray, x: np.ndarray = X, y: np.ndarray = Y) -> float:
    """Mean squared error of ``x @ w`` against ``y``."""
    return float(np.mean((x @ w - y) ** 2))


def mse_grad(w: np.ndarray, x: np.ndarray = X, y: np.ndarray = Y) -> np.ndarray:
    """Gradient of :func:`mse` with respect to ``w``."""
    return 2.0 / len(x) * x.T @ (x @ w - y)


#: One SGD step on mean squared error + the add_loss term, from W0 (the single-device update).
W_AFTER = W0 - LR * (mse_grad(W0) + 2 * PENALTY * W0)
#: The TFP KL estimate at the point-mass posterior w = W0 against a standard normal prior.
KL = float(0.5 * np.sum(W0**2) + W0.size * 0.5 * math.log(2 * math.pi))
KL_WEIGHT = 1.0 / len(X)


@dataclass(frozen=True)
class Term:
    """A layer loss at weights ``w`` on inputs ``x``, computed in NumPy: its value and gradient.

    ``batch_mean``: whether the activity penalty is divided by the batch size. The Keras lines
    differ there (claim ``activity-regularizer-batch-mean``), so a proof about how layer
    losses are *combined* reads it from ``model.losses`` and states it with its numbers.
    """

    kind: str
    batch_mean: bool = False

    def value(self, w: np.ndarray = W0, x: np.ndarray = X) -> float:
        """The term's value."""
        if self.kind == "activity_regularizer":
            return ACTIVITY * float(np.sum((x @ w) ** 2)) / (len(x) if self.batch_mean else 1)
        if self.kind == "kl":
            return KL_WEIGHT * float(0.5 * np.sum(w**2) + w.size * 0.5 * math.log(2 * math.pi))
        return PENALTY * float(np.sum(w**2))

    def grad(self, w: np.ndarray = W0, x: np.ndarray = X) -> np.ndarray:
        """The term's gradient with respect to ``w``."""
        if self.kind == "activity_regularizer":
            return 2 * ACTIVITY / (len(x) if self.batch_mean else 1) * x.T @ (x @ w)
        if self.kind == "kl":
            return KL_WEIGHT * w
        return 2 * PENALTY * w


class Lab:
    """One Keras line (``tf.keras``, ``tf_keras``, Keras 3 ``keras`` or standalone Keras 2
    ``keras2``) and its tensor ops."""

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
        elif flavor in ("keras", "keras2"):
            self.keras = importlib.import_module("keras")
            self.tf = None
        else:
            raise ValueError(f"unknown Keras flavor {flavor!r}")
        self.keras3 = flavor == "keras"
        #: Standalone Keras 2 (2.3.1): symbolic graphs, run here on Theano.
        self.keras2 = flavor == "keras2"
        names = ("sum", "square", "matmul", "mean", "abs", "subtract", "cast")
        if self.keras3:
            self.ops = SimpleNamespace(**{n: getattr(self.keras.ops, n) for n in names})
        elif self.keras2:
            k = self.keras.backend
            self.ops = SimpleNamespace(
                sum=k.sum,
                square=k.square,
                matmul=k.dot,
                mean=k.mean,
                abs=k.abs,
                subtract=lambda a, b: a - b,
                cast=k.cast,
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
                cast=tf.cast,
            )

    @property
    def backend(self) -> str:
        """The backend doing the maths."""
        return self.keras.backend.backend()

    # -- layers: one per kind of layer loss ---------------------------------------------

    def linear_layer(self, penalty: float = 0.0, output_penalty: str = "") -> Any:
        """``y = x @ w`` with ``w`` set to W0; optionally ``add_loss`` in ``call``.

        ``penalty`` adds the scalar ``penalty * sum(w**2)``; ``output_penalty`` adds a term
        computed from the outputs: ``"mean-abs"`` (a scalar) or ``"abs"`` (one per sample).
        """
        keras, ops, lab = self.keras, self.ops, self

        class Linear(keras.layers.Layer):
            def build(self, input_shape):
                # Keras 3 starts at W0 by its initializer too: a subclassed model builds its
                # layers in a symbolic scope, where the assignment below does not last.
                start = keras.initializers.Constant(W0) if lab.keras3 else "zeros"
                self.w = self.add_weight(name="w", shape=(2, 1), initializer=start, trainable=True)
                lab.set_weight(self.w, W0)
                self.built = True

            def compute_output_shape(self, input_shape):
                # Keras 2.3.1 asks a layer its output shape (later lines trace `call`).
                return (input_shape[0], 1)

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

    def set_weight(self, variable: Any, value: np.ndarray) -> None:
        """Give a weight its value (Keras 2.3.1's variables have no ``assign`` on Theano)."""
        if self.keras2:
            self.keras.backend.set_value(variable, value)
        else:
            variable.assign(value)

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

    def penalised(self, kind: str) -> Any:
        """A layer ``y = x @ w`` (w = W0) with one layer loss of the given kind.

        ``add_loss``: ``PENALTY * sum(w**2)`` added in ``call``; ``kernel_regularizer``: an L2
        penalty of the same value; ``activity_regularizer``: ``L2(ACTIVITY)`` on the outputs;
        ``kl``: TFP's ``DenseVariational`` with a point-mass posterior at W0.
        """
        if kind == "add_loss":
            return self.linear_layer(penalty=PENALTY)
        if kind == "kernel_regularizer":
            return self.dense(kernel_regularizer=self.l2(PENALTY))
        if kind == "activity_regularizer":
            return self.dense(activity_regularizer=self.l2(ACTIVITY))
        if kind == "kl":
            return self.dense_variational()
        raise ValueError(f"unknown kind of layer loss {kind!r}")

    def l2(self, factor: float) -> Any:
        """The L2 regularizer ``factor * sum(x**2)`` (Keras 2.3.1 spells it ``l2``)."""
        regularizers = self.keras.regularizers
        return regularizers.l2(factor) if self.keras2 else regularizers.L2(factor)

    def dense_variational(self) -> Any:
        """TFP ``DenseVariational(1)``, ``kl_weight = 1 / N``: deterministic at w = W0."""
        import tensorflow_probability as tfp

        tfd, tf, keras = tfp.distributions, self.tf, self.keras

        def posterior(kernel_size, bias_size=0, dtype=None):
            # A point-mass posterior makes the forward pass deterministic: w = loc, exactly.
            return keras.Sequential(
                [
                    tfp.layers.VariableLayer(
                        kernel_size + bias_size,
                        dtype=dtype,
                        initializer=keras.initializers.Constant(W0.ravel()),
                    ),
                    tfp.layers.DistributionLambda(
                        lambda t: tfd.Independent(
                            tfd.Deterministic(loc=t), reinterpreted_batch_ndims=1
                        )
                    ),
                ]
            )

        def prior(kernel_size, bias_size=0, dtype=None):
            return keras.Sequential(
                [
                    tfp.layers.DistributionLambda(
                        lambda t: tfd.Independent(
                            tfd.Normal(loc=tf.zeros(kernel_size + bias_size), scale=1.0),
                            reinterpreted_batch_ndims=1,
                        )
                    )
                ]
            )

        return tfp.layers.DenseVariational(
            1, posterior, prior, kl_weight=KL_WEIGHT, kl_use_exact=False, use_bias=False
        )

    def term(self, kind: str, model: Any) -> tuple[Term, dict[str, Any]]:
        """The NumPy twin of ``model``'s layer loss. For an activity penalty, whether it is a
        batch mean is read from ``model.losses`` after a forward pass (the numbers show it)."""
        if kind != "activity_regularizer":
            return Term(kind), {}
        if not self.keras2:  # Keras 2.3.1's losses are symbolic: `losses` evaluates them
            self.forward(model, X)
        listed = sum(self.losses(model))
        mean = next((m for m in (True, False) if close(listed, Term(kind, m).value())), None)
        numbers = {
            "activity penalty in model.losses": listed,
            "its divisor": {True: "batch size", False: "1 (a sum)", None: "neither"}[mean],
        }
        return Term(kind, bool(mean)), numbers

    # -- models and the ways readers drive them -------------------------------------------

    def styled(self, layer: Any, v: Variant, base: Any = None, training_arg: bool = True) -> Any:
        """A model of class ``base`` around ``layer``, written as the variant's *model* says.

        ``functional``: ``base(Input(2), layer(Input(2)))``. ``subclassed``: a subclass of
        ``base`` whose ``call`` applies the layer, with a ``training`` argument or, with
        ``training_arg=False``, without one (``call(self, inputs)``, as many readers write it).
        """
        base = base or self.keras.Model
        if v.model != "subclassed":
            inp = self.keras.Input(shape=(2,))
            return base(inp, layer(inp))

        class Subclassed(base):
            def __init__(self) -> None:
                super().__init__()
                self.inner = layer

        if training_arg:
            Subclassed.call = lambda self, inputs, training=None: self.inner(inputs)
        else:
            Subclassed.call = lambda self, inputs: self.inner(inputs)
        return Subclassed()

    def model(self, layer: Any, outputs: int = 1) -> Any:
        """A functional model ``Input(2) -> layer`` (optionally a second, identical output)."""
        keras = self.keras
        inp = keras.Input(shape=(2,))
        out = layer(inp)
        if outputs == 2:
            out = [out, keras.layers.Activation("linear", name="second")(out)]
        return keras.Model(inp, out)

    def compile(self, model: Any, v: Variant | None = None, lr: float = LR, **kwargs: Any) -> Any:
        """SGD, mean squared error (unless given), and the variant's execution."""
        kwargs.setdefault("loss", "mse")
        if v is not None and v.eager:
            kwargs["run_eagerly"] = True
        model.compile(optimizer=self.keras.optimizers.SGD(learning_rate=lr), **kwargs)
        return model

    def train(self, model: Any, v: Variant, x: Any = X, y: Any = Y, **kwargs: Any) -> float:
        """One step over the whole batch by the variant's entry point; the loss it reports
        (``nan`` when it reports none: see `train_logs`)."""
        logs = self.train_logs(model, v, x, y, **kwargs)
        return float(logs["loss"]) if "loss" in logs else math.nan

    def train_logs(self, model: Any, v: Variant, x: Any = X, y: Any = Y, **kwargs: Any) -> dict:
        """One step over the whole batch by the variant's entry point; every value it reports
        (``History``'s first epoch, or ``train_on_batch``'s logs)."""
        if v.entry == "fit":
            history = model.fit(
                x, y, batch_size=len(X), epochs=1, shuffle=False, verbose=0, **kwargs
            )
            return {k: values[0] for k, values in history.history.items()}
        if v.entry == "train_on_batch":
            if self.keras2:  # no return_dict yet: a value per name of `metrics_names`
                return self.named(model, model.train_on_batch(x, y, **kwargs))
            logs = model.train_on_batch(x, y, return_dict=True, **kwargs)
            return dict(logs) if isinstance(logs, dict) else {}
        raise ValueError(f"{v.entry!r} is not a training entry point")

    def test(self, model: Any, v: Variant, x: Any = X, y: Any = Y) -> float:
        """The loss an evaluation entry point reports at the current weights.

        ``val_loss`` is read from ``fit(validation_data=...)`` on a model compiled with
        learning rate 0, so validation runs at the same weights.
        """
        if v.entry == "evaluate":
            return float(self.evaluate_logs(model, x, y)["loss"])
        if v.entry == "test_on_batch":
            if self.keras2:
                return float(self.named(model, model.test_on_batch(x, y))["loss"])
            return float(model.test_on_batch(x, y, return_dict=True)["loss"])
        if v.entry == "val_loss":
            history = model.fit(
                x, y, validation_data=(x, y), batch_size=len(X), epochs=1, verbose=0
            )
            return float(history.history["val_loss"][0])
        raise ValueError(f"{v.entry!r} is not an evaluation entry point")

    def evaluate_logs(self, model: Any, x: Any = X, y: Any = Y) -> dict:
        """Every value ``evaluate()`` reports, by name."""
        if self.keras2:  # no return_dict yet
            return self.named(model, model.evaluate(x, y, verbose=0))
        return dict(model.evaluate(x, y, verbose=0, return_dict=True))

    def forward(self, model: Any, x: np.ndarray) -> Any:
        """A forward pass ``model(x)`` as a reader of the line writes it: Keras 2.3.1 calls a
        model on tensors of known shape only (its graph is symbolic): a backend variable."""
        if self.keras2:
            return model(self.keras.backend.variable(x))
        return model(x)

    # -- reading results back ----------------------------------------------------------

    @staticmethod
    def named(model: Any, values: Any) -> dict:
        """Keras 2.3.1's list (or lone scalar) of results, by ``model.metrics_names``."""
        values = values if isinstance(values, list) else [values]
        return dict(zip(model.metrics_names, values))  # noqa: B905 (runs on Python 3.9)

    def numpy(self, tensor: Any) -> np.ndarray:
        """Any backend's tensor or variable as a NumPy array (torch needs it detached)."""
        if self.keras3:
            return np.asarray(self.keras.ops.convert_to_numpy(tensor))
        if self.keras2:
            return np.asarray(self.keras.backend.get_value(tensor))
        return np.asarray(tensor)

    def weights(self, model: Any) -> np.ndarray:
        """The first trainable weight of the model, shaped like W0."""
        return self.numpy(model.trainable_weights[0]).reshape(W0.shape)

    def applied(self, model: Any) -> np.ndarray:
        """The gradient one SGD step applied, recovered from the weights it moved."""
        return (W0 - self.weights(model)) / LR

    def losses(self, model: Any) -> list[float]:
        """``model.losses`` as floats (each reduced, if not scalar, only for display)."""
        if self.keras2:  # symbolic: evaluated on X by a backend function
            # On TensorFlow 2, a term added outside `call` is an eager tensor: it has its value.
            eager = [hasattr(t, "numpy") for t in model.losses]
            symbolic = [t for t, e in zip(model.losses, eager) if not e]  # noqa: B905
            k = self.keras.backend
            values = iter(k.function(model.inputs, symbolic)([X]) if symbolic else [])
            return [
                float(np.sum(t.numpy() if e else next(values)))
                for t, e in zip(model.losses, eager)  # noqa: B905
            ]
        return [float(np.sum(self.numpy(t))) for t in model.losses]


READER_CODE = Path(__file__).resolve().parent.parent / "reader_code"
_READER_MODULES: dict[tuple[str, str], ModuleType] = {}


def reader_module(lab: Lab, name: str, copy: str = "") -> ModuleType:
    """The reader's code ``reader_code/<name>.py``, executed as it is shown on the page.

    Its ``import keras`` binds the lab's Keras: the module is executed with ``keras`` in
    ``sys.modules`` set to ``tf.keras``, ``tf_keras`` or Keras 3 (what a reader of that line
    imports as ``keras``), then restored. ``copy`` names a copy of its own: Keras 3 rewrites
    a ``Model`` subclass's bases once it is built functionally, so a program that uses the
    class one way is measured in a copy that has never been used the other way.
    """
    key = (lab.flavor, name, copy)
    if key not in _READER_MODULES:
        path = READER_CODE / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"reader_code_{name}", path)
        if spec is None or spec.loader is None:
            raise FileNotFoundError(path)
        module = importlib.util.module_from_spec(spec)
        saved = sys.modules.get("keras")
        sys.modules["keras"] = lab.keras
        try:
            spec.loader.exec_module(module)
        finally:
            if saved is None:
                sys.modules.pop("keras", None)
            else:
                sys.modules["keras"] = saved
        _READER_MODULES[key] = module
    return _READER_MODULES[key]


def use_two_cpus() -> None:
    """Split the CPU into two logical devices; must run before TensorFlow starts."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
