"""From a spec to numpy arrays: resolve the ROOT files, read the mapped columns and the task's labels,
split by seed."""

import glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigger.data.reader import read_columns
from trigger.errors import TriggerError
from trigger.generators import generate
from trigger.spec import Spec, feature_names


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


def load_dataset(spec: Spec, task, files: list[Path] | None = None, progress: bool = True) -> Dataset:
    """The spec's features, and the task's labels (`task.labels(files, events)`), from the files."""
    files = files if files is not None else data_files(spec, progress=progress)
    columns = read_columns(files, spec.data.tree, spec.data.features)
    names = feature_names(spec.data.features)
    x = np.stack([columns[name] for name in names], axis=1)
    return Dataset(x, features=names, **task.labels(files, len(x)))


def read_column(files: list[Path], tree: str, expression: str, key: str) -> np.ndarray:
    """One per-event value (a branch or an expression of branches); errors name the spec `key`."""
    where, _, name = key.rpartition(".")
    return read_columns(files, tree, {name: expression}, what=where)[name]


def read_labels(files: list[Path], tree: str, branch: str, classes: int, key: str) -> np.ndarray:
    """Integer labels 0..classes-1 from a branch."""
    labels = read_column(files, tree, branch, key)
    if np.any((labels < 0) | (labels >= classes) | (labels != np.round(labels))):
        raise TriggerError(f"{key}: branch '{branch}' must hold integers 0..{classes - 1} (one per listed name)")
    return labels.astype(np.int64)


def split(data: Dataset, spec: Spec, task) -> Split:
    """Seeded shuffle, then test / validation / train; `max_events` caps the total first.

    Events the task keeps out of training (`task.test_only`, e.g. anomaly signals) all go to
    the test set; `task.test_fraction` of the rest is held out as the test set.
    """
    order = np.random.default_rng(spec.seed).permutation(len(data.y))
    if spec.data.max_events:
        order = order[: spec.data.max_events]
    held = np.zeros(0, np.int64)
    test_only = task.test_only(data)
    if test_only is not None:
        held, order = order[test_only[order]], order[~test_only[order]]
    n_test = int(round(len(order) * task.test_fraction))
    rest = order[n_test:]
    n_val = int(round(len(rest) * spec.data.validation_fraction))
    test = np.concatenate([order[:n_test], held])
    return Split(train=data.take(rest[n_val:]), validation=data.take(rest[:n_val]), test=data.take(test))
