"""Training stage: float reference + quantization-aware training with magnitude pruning.

Classification trains on labels (cross-entropy on logits); regression on the targets in
firmware units (GeV * 2**-output_shift) with each output's squared error divided by its
variance, so the loss is the mean of (1 - R^2) over the outputs and no component dominates
because it is measured in larger numbers (pz, E); the autoencoder tasks train on
reconstruction (mean squared error in the preprocessed units; the anomaly model on the
background only, weighted by the sample's per-event weights). For the anomaly task the
trigger threshold is set here, on the held-out background, from the firmware score.

Writes models/<name>/trained/ in one atomic swap: architecture + weights of the quantized
and float models, the input preprocessing, the held-out test sample used by the csim
check, the threshold (anomaly) and a training record. Same spec + seed => same bytes.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import trigger.keras2  # noqa: F401
from trigger.atomic import atomic_dir, write_bytes, write_text
from trigger.data.dataset import Dataset, data_files, load_dataset, split
from trigger.data.preprocess import fit_preprocessing
from trigger.errors import TriggerError
from trigger.fixed import FixedType
from trigger import score_weights
from trigger.keras2 import keras, tf
from trigger.models import build_model, save_model
from trigger.spec import Spec

TRAINED = "trained"
TEST_SAMPLE_LIMIT = 1 << 20  # committed csim sample stays under 1 MiB


@dataclass
class Trained:
    directory: Path
    summary: str  # one line for the CLI


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train(spec: Spec, progress: bool = True) -> Trained:
    files = data_files(spec, progress=progress)
    data = load_dataset(spec, files)
    parts = split(data, spec)
    # Shifts are a data-format decision (like choosing the input bits), so all events must fit.
    pre = fit_preprocessing(data.x, data.features, spec.input)
    x_train, x_val, x_test = (pre.apply(p.x, f"{spec.name} {n} set") for p, n in
                              ((parts.train, "training"), (parts.validation, "validation"), (parts.test, "test")))
    n_in = len(data.features)
    n_out = len(data.classes) if spec.task in ("classification", "regression") else n_in
    if spec.task == "classification":
        targets = (parts.train.y, parts.validation.y)
    elif spec.task == "regression":
        targets = (regression_targets(spec, parts.train.y, data.classes), regression_targets(spec, parts.validation.y, data.classes))
    else:
        targets = (x_train, x_val)
    event_weights = _sample_weights(parts.train.w)

    seed_everything(spec.seed)
    float_model = build_model(spec, n_in, n_out, quantized=False)
    float_history = _fit(float_model, spec, x_train, targets[0], x_val, targets[1], event_weights,
                         spec.train.float_epochs, prune=False, progress=progress, label="float")
    seed_everything(spec.seed)
    quantized, q_history = _train_quantized(spec, n_in, n_out, x_train, targets[0], x_val, targets[1], event_weights, progress)

    record = {
        "events": {"train": len(parts.train.y), "validation": len(parts.validation.y), "test": len(parts.test.y)},
        "sparsity": _sparsity(quantized),
        "history": {"float": float_history, "quantized": q_history},
        "data": sorted({os.path.relpath(p.parent, spec.model_dir) for p in files}),
    }
    extra_files: dict[str, str] = {}
    if spec.task == "classification":
        record["train_per_class"] = {c: int((parts.train.y == i).sum()) for i, c in enumerate(data.classes)}
        record["test_accuracy"] = {"float": _accuracy(float_model, x_test, parts.test.y),
                                   "quantized": _accuracy(quantized, x_test, parts.test.y)}
        summary = (f"test accuracy float {record['test_accuracy']['float']:.4f}, quantized+pruned "
                   f"{record['test_accuracy']['quantized']:.4f}")
    elif spec.task == "regression":
        y_test = regression_targets(spec, parts.test.y, data.classes)
        record["test_r2"] = {"float": _r2(float_model, x_test, y_test, data.classes),
                             "quantized": _r2(quantized, x_test, y_test, data.classes)}
        summary = "test R2 float " + ", ".join(f"{k} {v:.4f}" for k, v in record["test_r2"]["float"].items())
        summary += "; quantized+pruned " + ", ".join(f"{k} {v:.4f}" for k, v in record["test_r2"]["quantized"].items())
    else:
        record["test_mse"] = {"float": _mse(float_model, x_test), "quantized": _mse(quantized, x_test)}
        summary = f"test reconstruction MSE float {record['test_mse']['float']:.5f}, quantized+pruned {record['test_mse']['quantized']:.5f}"
    if spec.task == "anomaly":
        from trigger.verify import rates

        per_input = score_weights.fit_pair(spec, quantized, float_model, x_train, parts.train.w, data.features)
        if score_weights.used(spec):
            extra_files[score_weights.FILE] = score_weights.to_json(data.features, per_input, spec.anomaly.score_weights)
        thresholds = rates.set_thresholds(spec, quantized, float_model, parts.test, x_test, per_input)
        record["operating_point"] = thresholds["report"]
        extra_files["threshold.json"] = json.dumps(thresholds["stored"], indent=1, sort_keys=True) + "\n"
        summary += f"; threshold {thresholds['stored']['value']} at FPR {thresholds['stored']['fpr_achieved']:.2e}"
    summary += f" (sparsity {record['sparsity']['total']:.2f})"

    target = spec.model_dir / TRAINED
    with atomic_dir(target) as tmp:
        save_model(quantized, tmp, "model")
        save_model(float_model, tmp, "float_model")
        pre.save(tmp / "preprocessing.json")
        shutil.copyfile(spec.path, tmp / "spec.yml")
        save_test_sample(tmp / "test_sample.npz", test_sample(spec, parts.test))
        for name, text in extra_files.items():
            write_text(tmp / name, text)
        write_text(tmp / "training.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
    _plot_history(spec.model_dir / "plots" / "training.png", float_history, q_history, spec.task)
    return Trained(target, summary)


def _sample_weights(w):
    """Per-event weights normalised to mean 1 (None when the sample is unweighted)."""
    return None if w is None else w / w.mean()


def regression_targets(spec: Spec, y: np.ndarray, names: list[str]) -> np.ndarray:
    """Targets in firmware units (GeV * 2**-output_shift); a target the output type cannot hold is an error."""
    r = spec.regression
    scaled = np.asarray(y, np.float64) / r.gev_per_unit
    out = FixedType.parse(r.output_precision)
    over = (scaled < out.lo) | (scaled > out.hi)
    if over.any():
        j = int(np.argmax(over.sum(axis=0)))
        raise TriggerError(
            f"regression.targets.{names[j]}: {int(over.sum())} targets (|y| up to {np.abs(y[:, j]).max():.4g} GeV) exceed "
            f"the output range {out.lo * r.gev_per_unit:g}..{out.hi * r.gev_per_unit:g} GeV of {r.output_precision} "
            f"with output_shift {r.output_shift}; raise regression.output_shift or the integer bits")
    return scaled


def normalized_mse(variance: np.ndarray):
    """Squared error of each output divided by its target variance, averaged: the mean of (1 - R^2)."""
    inverse = tf.constant(1.0 / np.maximum(variance, 1e-12), tf.float32)

    def loss(y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - y_pred) * inverse, axis=-1)

    return loss


def _train_quantized(spec, n_in, n_out, x, y, xv, yv, weights, progress):
    import tensorflow_model_optimization as tfmot

    model = build_model(spec, n_in, n_out, quantized=True)
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
    history = _fit(model, spec, x, y, xv, yv, weights, spec.train.epochs, prune=spec.train.sparsity > 0,
                   progress=progress, label="quantized")
    if spec.train.sparsity > 0:
        stripped = tfmot.sparsity.keras.strip_pruning(model)
        # strip_pruning output can be a disconnected graph: rebuild from the builder and copy weights
        model = build_model(spec, n_in, n_out, quantized=True)
        model.set_weights(stripped.get_weights())
    return model, history


def _fit(model, spec: Spec, x, y, xv, yv, weights, epochs: int, prune: bool, progress: bool, label: str) -> dict:
    if spec.task == "classification":
        loss, metrics = keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]
    elif spec.task == "regression":
        loss, metrics = normalized_mse(np.var(y, axis=0)), []
    else:
        loss, metrics = keras.losses.MeanSquaredError(), []
    model.compile(optimizer=keras.optimizers.Adam(spec.train.learning_rate), loss=loss, metrics=metrics)
    callbacks = [EpochBar(epochs, label, progress), keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=4, min_lr=1e-5, verbose=0)]
    if prune:
        import tensorflow_model_optimization as tfmot

        callbacks.append(tfmot.sparsity.keras.UpdatePruningStep())
    hist = model.fit(x, y, sample_weight=weights, validation_data=(xv, yv), epochs=epochs, batch_size=spec.train.batch_size,
                     shuffle=True, verbose=0, callbacks=callbacks)
    return {k: [round(float(v), 6) for v in vals] for k, vals in hist.history.items() if k != "lr"}


class EpochBar(keras.callbacks.Callback):
    """One progress bar per training run, with the latest loss (and accuracy when there is one)."""

    def __init__(self, epochs: int, label: str, enabled: bool):
        super().__init__()
        from tqdm import tqdm

        self.bar = tqdm(total=epochs, desc=f"train {label}", unit="epoch", disable=not enabled)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = {"loss": f"{logs.get('loss', 0):.4f}", "val_loss": f"{logs.get('val_loss', 0):.4f}"}
        if "val_accuracy" in logs:
            shown["val_acc"] = f"{logs['val_accuracy']:.4f}"
        self.bar.set_postfix(shown)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()


def _accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(model.predict(x, batch_size=4096, verbose=0), axis=1) == y))


def _r2(model, x, y, names) -> dict:
    from trigger.verify.regression import r2

    predicted = model.predict(x, batch_size=4096, verbose=0).astype(np.float64)
    return {name: round(r2(y[:, j], predicted[:, j]), 6) for j, name in enumerate(names)}


def _mse(model, x) -> float:
    return float(np.mean((model.predict(x, batch_size=4096, verbose=0) - x) ** 2))


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


def test_sample(spec: Spec, test: Dataset) -> Dataset:
    """The committed csim sample: the first `verify.events` test events; for anomaly models half
    background and the rest shared equally by the signals."""
    n = spec.verify.events
    if spec.task != "anomaly":
        return test.take(np.arange(min(n, len(test.y))))
    signals = [test.classes.index(s) for s in spec.anomaly.signals]
    background = np.flatnonzero(~np.isin(test.y, signals))[: n // 2]
    per_signal = (n - len(background)) // max(len(signals), 1)
    chosen = [background] + [np.flatnonzero(test.y == s)[:per_signal] for s in signals]
    return test.take(np.concatenate(chosen))


def save_test_sample(path: Path, sample: Dataset) -> None:
    """Raw (unpreprocessed) features, labels and weights: the transform is re-applied and so re-checked."""
    buffer = io.BytesIO()
    labels = sample.y.astype(np.float32) if sample.y.dtype.kind == "f" else sample.y.astype(np.int8)
    arrays = {"x": sample.x.astype(np.float32), "y": labels,
              "features": np.array(sample.features), "classes": np.array(sample.classes)}
    for name in ("w", "binning"):
        if getattr(sample, name) is not None:
            arrays[name] = getattr(sample, name).astype(np.float64)
    np.savez_compressed(buffer, **arrays)
    if buffer.tell() > TEST_SAMPLE_LIMIT:
        raise RuntimeError(f"test sample is {buffer.tell()} bytes (> 1 MiB); lower verify.events")
    write_bytes(path, buffer.getvalue())


def load_test_sample(directory: Path) -> Dataset:
    path = Path(directory) / "test_sample.npz"
    if not path.is_file():
        raise TriggerError(f"{path}: test sample missing; run `make train`")
    with np.load(path) as f:
        y = f["y"].astype(np.float64) if f["y"].dtype.kind == "f" else f["y"].astype(np.int64)
        optional = {name: f[name] if name in f.files else None for name in ("w", "binning")}
        return Dataset(f["x"].astype(np.float64), y, [str(s) for s in f["features"]], [str(s) for s in f["classes"]], **optional)


def _plot_history(path: Path, float_history: dict, q_history: dict, task: str) -> None:
    from trigger.plots import figure, save

    classification = task == "classification"
    fig, axes = figure(1, 2 if classification else 1, size=(10 if classification else 6, 4))
    for name, hist in (("float", float_history), ("quantized + pruned", q_history)):
        axes[0].plot(hist["loss"], label=f"{name} train")
        axes[0].plot(hist["val_loss"], "--", label=f"{name} validation")
        if classification:
            axes[1].plot(hist["val_accuracy"], label=name)
    ylabel = {"classification": "cross-entropy loss", "regression": "normalised MSE (mean of 1 - R2)"}.get(task, "reconstruction MSE")
    axes[0].set(xlabel="epoch", ylabel=ylabel,
                yscale="linear" if classification else "log")
    if classification:
        axes[1].set(xlabel="epoch", ylabel="validation accuracy")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    save(fig, path)
