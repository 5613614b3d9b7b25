"""Training choices that do not need a dataset on disk: where quantization-aware training starts."""

import numpy as np


def test_quantized_training_can_start_from_the_float_weights():
    """train.start_from_float: the QAT model begins as the float model (here with one epoch at a vanishing learning rate, and no
    pruning), rather than at the builder's own seeded initialisation."""
    import trigger.keras2  # noqa: F401  (Keras 2 before TensorFlow)
    from trigger.engines import engine_of
    from trigger.spec import spec_from_dict
    from trigger.tasks import task_of
    from trigger.train import _fit

    spec = spec_from_dict({"name": "a", "task": "classification", "model": {"hidden": [4]},
                           "data": {"files": ["x.root"], "features": {"a": "a", "b": "b"}, "label": {"branch": "y",
                                                                                                     "classes": ["p", "q"]}},
                           "train": {"epochs": 1, "learning_rate": 1e-12, "sparsity": 0.0, "start_from_float": True}})
    task = task_of(spec)
    start = task.build(2, 2, quantized=False)
    start.set_weights([0.25 * w + 0.0625 for w in start.get_weights()])  # inside the quantizers' range (their constraint clips)
    x, y = np.zeros((8, 2), np.float32), np.arange(8) % 2

    def fit(model, callbacks):
        return _fit(model, spec, task, x, y, x, y, None, spec.train.epochs, callbacks, progress=False, label="q")

    build = lambda: task.build(2, 2, quantized=True)  # noqa: E731
    started, _ = engine_of(spec).train_quantized(build, start, fit, x)
    fresh, _ = engine_of(spec).train_quantized(build, None, fit, x)
    diffs = [float(np.abs(a - b).max()) for a, b in zip(started.get_weights(), start.get_weights())]
    assert max(diffs) < 1e-6, diffs
    assert not all(np.allclose(a, b, rtol=0, atol=1e-3) for a, b in zip(fresh.get_weights(), start.get_weights()))
