"""Training stage: float reference + quantization-aware training (the engine's: QKeras with magnitude pruning,
or HGQ2 with learned bit widths, trigger/engines).

The task (trigger/tasks) says what is learned: labels with cross-entropy on logits
(classification), targets in firmware units with a normalised MSE (regression), or the
inputs themselves (autoencoders; the anomaly model on background only, weighted by the
sample's per-event weights). After training the task sets its operating point: for the
anomaly trigger the score weights and the threshold, from the firmware score.

Writes models/<name>/trained/ through Trained (one atomic swap). Same spec + seed => same bytes.
"""

import os
from pathlib import Path

from trigger.keras2 import keras, tf  # first: Keras 2 (Keras 3 in an HGQ2 process) before tqdm.keras

from tqdm.keras import TqdmCallback  # noqa: E402

from trigger.data import data_files, dataset_lines, fit_preprocessing, load_dataset, split  # noqa: E402
from trigger.engines import engine_of  # noqa: E402
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
                         spec.train.float_epochs, [], progress=progress, label="float")
    seed_everything(spec.seed)
    engine = engine_of(spec)

    def fit(model, callbacks):
        return _fit(model, spec, task, x_train, y_train, x_val, y_val, event_weights, spec.train.epochs, callbacks,
                    progress=progress, label="quantized")

    quantized, q_history = engine.train_quantized(lambda: task.build(n_in, n_out, quantized=True),
                                                  float_model if spec.train.start_from_float else None, fit, x_train)
    models = {"quantized": quantized, "float": float_model}

    entries, summary = task.training_report(models, x_test, parts)
    record = {
        "events": {"train": len(parts.train.y), "validation": len(parts.validation.y), "test": len(parts.test.y)},
        "sparsity": engine.sparsity(quantized),
        "history": {"float": float_history, "quantized": q_history},
        "data": sorted({os.path.relpath(p.parent, spec.model_dir) for p in files}),
        **entries,
    }
    point = task.operating_point(models, x_train, x_test, parts, lambda head: output_type(spec, head))
    if "threshold" in point:
        record["operating_point"] = point["report"]
        summary += f"; threshold {point['threshold']['value']} at FPR {point['threshold']['fpr_achieved']:.2e}"
    summary += f" ({engine.describe_sparsity(record['sparsity'])})"
    trained = Trained(spec, quantized, float_model, pre, sample, point.get("score_weights"),
                      point.get("threshold"), record, data.report)
    trained.save()
    _plot_history(spec.model_dir / "plots" / "training.png", float_history, q_history, task)
    return trained, summary


def _fit(model, spec: Spec, task: Task, x, y, xv, yv, weights, epochs: int, extra: list, progress: bool, label: str) -> dict:
    """`extra`: the engine's callbacks (pruning steps, the HGQ2 resource penalty)."""
    loss, metrics = task.loss(y)
    model.compile(optimizer=keras.optimizers.Adam(spec.train.learning_rate), loss=loss, metrics=metrics)
    callbacks = [TqdmCallback(epochs, verbose=0, desc=f"train {label}", disable=not progress),  # one bar per run
                 keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=4, min_lr=1e-5, verbose=0), *extra]
    hist = model.fit(x, y, sample_weight=weights, validation_data=(xv, yv), epochs=epochs, batch_size=spec.train.batch_size,
                     shuffle=True, verbose=0, callbacks=callbacks)
    return {k: [round(float(v), 6) for v in vals] for k, vals in hist.history.items() if k != "lr"}


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
