"""A custom JAX ``train_step`` that counts every layer loss once, under ``fit()`` too.

Copy this file as it is. Compile the model with a ``Loss`` object (not a string), e.g.
``model.compile(optimizer="sgd",
loss=keras.losses.MeanSquaredError())``. ``sample_weight`` reaches the compiled loss only.
Build the model as ``FixedModel(inputs, outputs)`` or subclass it with your own ``call``.
"""

import inspect

import jax
import keras


class FixedModel(keras.Model):
    def _loss_and_updates(self, tv, ntv, x, y, sample_weight):
        # `training=True` only where `call` takes it (a subclass's `call(self, x)` may not).
        kw = {"training": True} if "training" in inspect.signature(self.call).parameters else {}
        # The layer losses (add_loss terms and regularizers), computed from the traced weights.
        y_pred, ntv, losses = self.stateless_call(tv, ntv, x, return_losses=True, **kw)
        # The compiled loss alone (never self.compute_loss here), weighted like the built-in.
        loss = self.loss(y, y_pred, sample_weight=sample_weight)
        for term in losses:  # each layer loss once, unweighted
            loss = loss + term
        return loss, (y_pred, ntv)

    def train_step(self, state, data):
        tv, ntv, ov, mv = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self._loss_and_updates, has_aux=True)
        (loss, (y_pred, ntv)), grads = grad_fn(tv, ntv, x, y, sample_weight)
        tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
        # The metrics, as the keras.io guide updates them: fit() reports their results.
        logs, new_mv = {}, []
        for metric in self.metrics:
            these = mv[len(new_mv) : len(new_mv) + len(metric.variables)]
            if metric.name == "loss":
                these = metric.stateless_update_state(these, loss)
            else:
                these = metric.stateless_update_state(these, y, y_pred)
            logs[metric.name] = metric.stateless_result(these)
            new_mv += these
        return logs, (tv, ntv, ov, new_mv)
