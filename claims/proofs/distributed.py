"""Proofs: layer losses when the batch is split over devices (``MirroredStrategy`` on
TensorFlow, ``keras.distribution.DataParallel`` on JAX)."""

from __future__ import annotations

import importlib
from typing import Any

from claims.catalog import Variant
from claims.proofs import Evidence, proof
from claims.proofs.lab import LR, W0, Lab, X, Y, close, mse, mse_grad

_STRATEGIES: dict[int, Any] = {}


def _strategy(lab: Lab) -> Any:
    """``MirroredStrategy`` over the two logical CPUs the runner made, one per process.

    A second strategy over the same devices breaks the first's collective ops
    (``CollectiveReduceV2`` fails): readers make one, and so do the proofs.
    """
    tf = lab.tf if lab.tf is not None else importlib.import_module("tensorflow")
    if id(tf) not in _STRATEGIES:
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        if len(devices) < 2:
            raise RuntimeError(f"needs 2 logical CPUs, found {devices}")
        _STRATEGIES[id(tf)] = tf.distribute.MirroredStrategy(devices[:2])
    return tf, _STRATEGIES[id(tf)]


def _halves(tf: Any):
    """Each replica's half of the batch."""

    def shard(ctx):
        i = ctx.replica_id_in_sync_group
        return tf.constant(X[2 * i : 2 * i + 2]), tf.constant(Y[2 * i : 2 * i + 2])

    return shard


@proof("mirrored-same-update")
def mirrored_same_update(lab: Lab, v: Variant) -> Evidence:
    """Two replicas: each scales compiled *and* layer losses by 1/2; the update is unchanged."""
    tf, strategy = _strategy(lab)
    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
        model = lab.compile(lab.model(lab.penalised(v.loss)), v)
    term, numbers = lab.term(v.loss, model)

    def replica_loss(x, y):  # what each replica's step differentiates, before any update
        y_pred = model(x, training=True)
        if hasattr(model, "compute_loss"):
            return model.compute_loss(x, y, y_pred)
        # tf.keras before 2.8 has no compute_loss: its train_step makes exactly this call.
        return model.compiled_loss(y, y_pred, regularization_losses=model.losses)

    per_replica = strategy.run(
        tf.function(replica_loss),
        args=strategy.experimental_distribute_values_from_function(_halves(tf)),
    )
    parts = [float(p) for p in strategy.experimental_local_results(per_replica)]
    want_parts = [
        (mse(W0, X[2 * i : 2 * i + 2], Y[2 * i : 2 * i + 2]) + term.value()) / replicas
        for i in range(replicas)
    ]
    reported = lab.train(model, v)
    want_w = W0 - LR * (mse_grad(W0) + term.grad())
    return Evidence(
        holds=close(parts, want_parts) and close(lab.weights(model), want_w),
        numbers={
            **numbers,
            "replicas": replicas,
            "loss on each replica (its 2 samples)": parts,
            "(replica's mse + layer loss) / replicas": want_parts,
            "reported loss": reported,
            "single-device total": mse(W0) + term.value(),
            "w after one step": lab.weights(model),
            "single-device update": want_w,
        },
    )


@proof("scale-regularization-loss-per-replica")
def scale_regularization_loss_per_replica(lab: Lab, v: Variant) -> Evidence:
    """In a custom loop under two replicas, ``tf.nn.compute_average_loss`` +
    ``tf.nn.scale_regularization_loss`` give each replica its share; they sum to the total."""
    tf, strategy = _strategy(lab)
    with strategy.scope():
        model = lab.model(lab.penalised(v.loss))
    term, numbers = lab.term(v.loss, model)

    def replica_loss(x, y):
        y_pred = model(x, training=True)
        per_example = tf.reduce_mean(tf.square(y_pred - y), axis=-1)
        loss = tf.nn.compute_average_loss(per_example, global_batch_size=len(X))
        return loss + tf.nn.scale_regularization_loss(tf.add_n(model.losses))

    step = replica_loss if v.eager else tf.function(replica_loss)
    per_replica = strategy.run(
        step, args=strategy.experimental_distribute_values_from_function(_halves(tf))
    )
    parts = [float(p) for p in strategy.experimental_local_results(per_replica)]
    replicas = strategy.num_replicas_in_sync
    want = [
        float(((X[2 * i : 2 * i + 2] @ W0 - Y[2 * i : 2 * i + 2]) ** 2).sum()) / len(X)
        + term.value() / replicas
        for i in range(replicas)
    ]
    return Evidence(
        holds=replicas == 2 and close(parts, want),
        numbers={
            **numbers,
            "replicas": replicas,
            "each replica's loss": parts,
            "its squared errors / global batch + its layer loss / replicas": want,
            "sum over replicas": sum(parts),
            "single-device total": mse(W0) + term.value(),
        },
    )


@proof("jax-data-parallel-same-update")
def jax_data_parallel_same_update(lab: Lab, v: Variant) -> Evidence:
    """``keras.distribution.DataParallel`` over two CPU devices: the same loss and update as on
    one device."""
    import jax

    keras = lab.keras
    devices = jax.devices()
    if len(devices) < 2:
        raise RuntimeError(f"needs 2 devices: {devices}")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices[:2]))
    try:
        model = lab.compile(lab.model(lab.penalised(v.loss)), v)
        term, numbers = lab.term(v.loss, model)
        reported = lab.train(model, v)
        got_w = lab.weights(model)
    finally:
        keras.distribution.set_distribution(None)
    want_w = W0 - LR * (mse_grad(W0) + term.grad())
    return Evidence(
        holds=close(reported, mse(W0) + term.value()) and close(got_w, want_w),
        numbers={
            **numbers,
            "devices": 2,
            "reported loss": reported,
            "single-device loss": mse(W0) + term.value(),
            "w after one step": got_w,
            "single-device update": want_w,
        },
    )
