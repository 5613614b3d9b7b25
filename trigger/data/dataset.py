"""From a spec to numpy arrays: resolve the ROOT files, read the mapped columns, split by seed."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigger.errors import TriggerError
from trigger.spec import Spec


@dataclass
class Dataset:
    x: np.ndarray  # raw features (float64), columns in spec order
    y: np.ndarray  # integer labels: class (classification), process (anomaly), 0 (compression); regression: targets
    features: list[str]
    classes: list[str]  # names of the y values (regression: of the y columns)
    w: np.ndarray | None = None  # per-event weights (anomaly background mixture)
    binning: np.ndarray | None = None  # regression: the truth variable residuals are binned in (true top pT)

    def take(self, idx) -> "Dataset":
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return Dataset(self.x[idx], self.y[idx], self.features, self.classes, pick(self.w), pick(self.binning))


@dataclass
class Split:
    train: Dataset
    validation: Dataset
    test: Dataset


def data_files(spec: Spec, progress: bool = True, scheduler: str | None = None) -> list[Path]:
    """The ROOT files for this spec: the generator's cached chunks (made if missing) or the user's files."""
    gen = spec.data.generator
    if gen is not None:
        from trigger.data.generate import generate

        if spec.data.label is not None and getattr(gen, "classes", spec.data.label.classes) != spec.data.label.classes:
            raise TriggerError(
                f"{spec.path}: data.label.classes {spec.data.label.classes} must equal "
                f"data.generator.classes {gen.classes} (same order)"
            )
        return generate(gen, spec.data.seed, progress=progress, scheduler=scheduler)
    base = spec.path.parent if spec.path else Path(".")
    files: list[Path] = []
    for pattern in spec.data.files:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        matches = sorted(glob.glob(full)) if any(c in pattern for c in "*?[") else [full]
        if not matches:
            raise TriggerError(f"{spec.path}: data.files pattern {pattern!r} matches no file")
        files.extend(Path(m) for m in matches)
    return files


def load_dataset(spec: Spec, files: list[Path] | None = None, progress: bool = True) -> Dataset:
    from trigger.data.reader import feature_names, read_columns

    files = files if files is not None else data_files(spec, progress=progress)
    columns = read_columns(files, spec.data.tree, spec.data.features)
    names = feature_names(spec.data.features)
    x = np.stack([columns[name] for name in names], axis=1)
    if spec.task == "classification":
        branch, classes, key = spec.data.label.branch, spec.data.label.classes, "data.label"
    elif spec.task == "anomaly":
        branch, classes, key = spec.anomaly.process_branch, spec.anomaly.processes, "anomaly.process_branch"
    elif spec.task == "regression":
        return _regression_dataset(spec, files, x, names)
    else:
        return Dataset(x, np.zeros(len(x), np.int64), names, [])
    labels = read_columns(files, spec.data.tree, {"label": branch}, what=key)["label"]
    if np.any((labels < 0) | (labels >= len(classes)) | (labels != np.round(labels))):
        raise TriggerError(f"{key}: branch '{branch}' must hold integers 0..{len(classes) - 1} (one per listed name)")
    weights = None
    if spec.task == "anomaly" and spec.anomaly.weight_branch:
        weights = read_columns(files, spec.data.tree, {"w": spec.anomaly.weight_branch}, what="anomaly.weight_branch")["w"]
    return Dataset(x, labels.astype(np.int64), names, list(classes), weights)


def _regression_dataset(spec: Spec, files: list[Path], x: np.ndarray, names: list[str]) -> Dataset:
    """Targets (events x outputs, GeV) and the binning variable, read with the same mapping rules as the inputs."""
    from trigger.data.reader import read_columns

    r = spec.regression
    targets = read_columns(files, spec.data.tree, r.target_map, what="regression.targets")
    binning = read_columns(files, spec.data.tree, {"bin_by": r.bin_by}, what="regression.bin_by")["bin_by"]
    y = np.stack([np.asarray(targets[name], np.float64) for name in r.target_map], axis=1)
    bad = ~np.isfinite(y)
    if bad.any():
        name = list(r.target_map)[int(np.argmax(bad.any(axis=0)))]
        raise TriggerError(f"regression.targets.{name}: {int(bad.sum())} NaN/Inf target values; clean the input")
    return Dataset(x, y, names, list(r.target_map), binning=np.asarray(binning, np.float64))


def split(data: Dataset, spec: Spec) -> Split:
    """Seeded shuffle, then test / validation / train; `max_events` caps the total first.

    Anomaly: only background is trained on; every signal event goes to the test set, and
    `anomaly.background_test_fraction` of the background is held out to set the threshold.
    """
    order = np.random.default_rng(spec.seed).permutation(len(data.y))
    if spec.data.max_events:
        order = order[: spec.data.max_events]
    test_fraction = spec.data.test_fraction
    held = np.zeros(0, np.int64)
    if spec.task == "anomaly":
        signal = np.isin(data.y[order], [data.classes.index(s) for s in spec.anomaly.signals])
        held, order = order[signal], order[~signal]
        test_fraction = spec.anomaly.background_test_fraction
    n_test = int(round(len(order) * test_fraction))
    rest = order[n_test:]
    n_val = int(round(len(rest) * spec.data.validation_fraction))
    test = np.concatenate([order[:n_test], held])
    return Split(train=data.take(rest[n_val:]), validation=data.take(rest[:n_val]), test=data.take(test))
