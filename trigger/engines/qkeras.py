"""QKeras: fixed bit widths from the spec (trigger/models.py builds the network), magnitude pruning with tfmot to
train.sparsity. tfmot is imported here only, when a QKeras model trains."""

import numpy as np

from trigger.engines.base import Engine
from trigger.keras2 import keras
from trigger.models import build_model, custom_objects


class QKeras(Engine):
    name = "qkeras"
    versions = ("hls4ml", "qkeras", "tensorflow", "tf-keras")

    def build(self, n_in, n_out, quantized, output_precision=None) -> keras.Model:
        return build_model(self.spec.model, self.spec.input.precision, n_in, n_out, quantized, output_precision)

    def train_quantized(self, build, start, fit, x):
        """QAT + pruning, from the builder's seeded initialisation or from `start` (the float model's weights)."""
        import tensorflow_model_optimization as tfmot

        t = self.spec.train
        model = build()
        if start is not None:
            model.set_weights(start.get_weights())
        steps = -(-len(x) // t.batch_size)
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=t.sparsity,
            begin_step=t.pruning_start_epoch * steps,
            end_step=max(t.pruning_end_epoch * steps, t.pruning_start_epoch * steps + 1),
            frequency=max(steps // 4, 1),
        )
        if t.sparsity > 0:
            model = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
        history = fit(model, [tfmot.sparsity.keras.UpdatePruningStep()] if t.sparsity > 0 else [])
        if t.sparsity > 0:
            stripped = tfmot.sparsity.keras.strip_pruning(model)
            # strip_pruning output can be a disconnected graph: rebuild from the builder and copy weights
            model = build()
            model.set_weights(stripped.get_weights())
        return model, history

    def sparsity(self, model) -> dict:
        out, zeros, total = {}, 0, 0
        for layer in model.layers:
            if not layer.get_weights() or not hasattr(layer, "kernel"):
                continue
            k = layer.get_weights()[0]
            out[layer.name] = round(float(np.mean(k == 0)), 4)
            zeros += int((k == 0).sum())
            total += k.size
        out["total"] = round(zeros / max(total, 1), 4)
        return out

    def custom_objects(self) -> dict:
        return custom_objects()
