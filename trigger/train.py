"""Training stage: float reference + quantization-aware training with magnitude pruning.

The task (trigger/tasks) says what is learned: labels with cross-entropy on logits
(classification), targets in firmware units with a normalised MSE (regression), or the
inputs themselves (autoencoders; the anomaly model on background only, weighted by the
sample's per-event weights). After training the task sets its operating point: for the
anomaly trigger the score weights and the threshold, from the firmware score.

Writes models/<name>/trained/ through Trained (one atomic swap). Same spec + seed => same bytes.
"""

import os
from pathlib import Path

import numpy as np

from trigger.keras2 import keras, tf  # first: Keras 2 before tfmot and tqdm.keras

import tensorflow_model_optimization as tfmot  # noqa: E402
from tqdm.keras import TqdmCallback  # noqa: E402

from trigger.data import data_files, dataset_lines, fit_preprocessing, load_dataset, split  # noqa: E402
from trigger.firmware import output_type  # noqa: E402
from trigger.plots import figure, save  # noqa: E402
from trigger.spec import Spec  # noqa: E402
from trigger.tasks import Task, task_of  # noqa: E402
from trigger.trained import Trained, sample_bytes  # noqa: E402


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train(spec: Spec, progress: bool = True, log=print) -> tuple[Trained, str]:
    """Train, set the operating point, save; returns the Trained model and one line for the CLI. `log` gets the
    dataset summary (yields per file, emptied sentinels, clipped inputs) before training starts."""
    task = task_of(spec)
    files = data_files(spec, progress=progress)
    data = load_dataset(spec, task, files)
    parts = split(data, spec, task)
    # Shifts are a data-format decision (like choosing the input bits), made on all events.
    pre = fit_preprocessing(data.x, data.features, spec)
    if spec.input.saturation == "clip":  # under 'error', pre.apply below refuses them instead
        data.report["clipped"] = {k: n for k, n in pre.clipped(data.x).items() if n}
    for line in dataset_lines(data.report):
        log(f"{spec.name}: {line}")
    x_train, x_val, x_test = (pre.apply(p.x, f"{spec.name} {n} set") for p, n in
                              ((parts.train, "training"), (parts.validation, "validation"), (parts.test, "test")))
    sample = task.test_sample(parts.test if spec.verify.split == "test" else parts.validation)
    sample_bytes(sample, spec)  # a sample too large to commit fails now, not after training
    n_in, n_out = len(data.features), task.outputs(data)
    y_train, y_val = task.targets(parts.train, x_train), task.targets(parts.validation, x_val)
    event_weights = None if parts.train.w is None else parts.train.w / parts.train.w.mean()

    seed_everything(spec.seed)
    float_model = task.build(n_in, n_out, quantized=False)
    float_history = _fit(float_model, spec, task, x_train, y_train, x_val, y_val, event_weights,
                         spec.train.float_epochs, prune=False, progress=progress, label="float")
    seed_everything(spec.seed)
    start = float_model.get_weights() if spec.train.start_from_float else None
    quantized, q_history = _train_quantized(spec, task, n_in, n_out, x_train, y_train, x_val, y_val, event_weights, progress,
                                            start)
    models = {"quantized": quantized, "float": float_model}

    entries, summary = task.training_report(models, x_test, parts)
    record = {
        "events": {"train": len(parts.train.y), "validation": len(parts.validation.y), "test": len(parts.test.y)},
        "sparsity": _sparsity(quantized),
        "history": {"float": float_history, "quantized": q_history},
        "data": sorted({os.path.relpath(p.parent, spec.model_dir) for p in files}),
        **entries,
    }
    point = task.operating_point(models, x_train, x_test, parts, lambda head: output_type(spec, head))
    if "threshold" in point:
        record["operating_point"] = point["report"]
        summary += f"; threshold {point['threshold']['value']} at FPR {point['threshold']['fpr_achieved']:.2e}"
    summary += f" (sparsity {record['sparsity']['total']:.2f})"
    trained = Trained(spec, quantized, float_model, pre, sample, point.get("score_weights"),
                      point.get("threshold"), record, data.report)
    trained.save()
    _plot_history(spec.model_dir / "plots" / "training.png", float_history, q_history, task)
    return trained, summary


def _train_quantized(spec: Spec, task: Task, n_in, n_out, x, y, xv, yv, weights, progress, start=None):
    """QAT + pruning, from the builder's seeded initialisation or from `start` (the float model's weights)."""
    model = task.build(n_in, n_out, quantized=True)
    if start is not None:
        model.set_weights(start)
    steps = -(-len(x) // spec.train.batch_size)
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=spec.train.sparsity,
        begin_step=spec.train.pruning_start_epoch * steps,
        end_step=max(spec.train.pruning_end_epoch * steps, spec.train.pruning_start_epoch * steps + 1),
        frequency=max(steps // 4, 1),
    )
    if spec.train.sparsity > 0:
        model = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    history = _fit(model, spec, task, x, y, xv, yv, weights, spec.train.epochs, prune=spec.train.sparsity > 0,
                   progress=progress, label="quantized")
    if spec.train.sparsity > 0:
        stripped = tfmot.sparsity.keras.strip_pruning(model)
        # strip_pruning output can be a disconnected graph: rebuild from the builder and copy weights
        model = task.build(n_in, n_out, quantized=True)
        model.set_weights(stripped.get_weights())
    return model, history


def _fit(model, spec: Spec, task: Task, x, y, xv, yv, weights, epochs: int, prune: bool, progress: bool, label: str) -> dict:
    loss, metrics = task.loss(y)
    model.compile(optimizer=keras.optimizers.Adam(spec.train.learning_rate), loss=loss, metrics=metrics)
    callbacks = [TqdmCallback(epochs, verbose=0, desc=f"train {label}", disable=not progress),  # one bar per run
                 keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=4, min_lr=1e-5, verbose=0)]
    if prune:
        callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
    hist = model.fit(x, y, sample_weight=weights, validation_data=(xv, yv), epochs=epochs, batch_size=spec.train.batch_size,
                     shuffle=True, verbose=0, callbacks=callbacks)
    return {k: [round(float(v), 6) for v in vals] for k, vals in hist.history.items() if k != "lr"}


def _sparsity(model) -> dict:
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


def _plot_history(path: Path, float_history: dict, q_history: dict, task: Task) -> None:
    classification = "val_accuracy" in q_history
    fig, axes = figure(1, 2 if classification else 1, size=(10 if classification else 6, 4))
    for name, hist in (("float", float_history), ("quantized + pruned", q_history)):
        axes[0].plot(hist["loss"], label=f"{name} train")
        axes[0].plot(hist["val_loss"], "--", label=f"{name} validation")
        if classification:
            axes[1].plot(hist["val_accuracy"], label=name)
    axes[0].set(xlabel="epoch", ylabel=task.loss_label,
                yscale="linear" if classification else "log")
    if classification:
        axes[1].set(xlabel="epoch", ylabel="validation accuracy")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    save(fig, path)
