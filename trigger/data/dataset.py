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
    y: np.ndarray  # integer class labels
    features: list[str]
    classes: list[str]


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

        if getattr(gen, "classes", spec.data.label.classes) != spec.data.label.classes:
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
    labels = read_columns(files, spec.data.tree, {"label": spec.data.label.branch}, what="data.label")["label"]
    n_classes = len(spec.data.label.classes)
    if np.any((labels < 0) | (labels >= n_classes) | (labels != np.round(labels))):
        raise TriggerError(
            f"data.label: branch '{spec.data.label.branch}' must hold integers 0..{n_classes - 1} "
            f"(one per entry of data.label.classes)"
        )
    names = feature_names(spec.data.features)
    x = np.stack([columns[name] for name in names], axis=1)
    return Dataset(x, labels.astype(np.int64), names, list(spec.data.label.classes))


def split(data: Dataset, spec: Spec) -> Split:
    """Seeded shuffle, then test / validation / train; `max_events` caps the total first."""
    order = np.random.default_rng(spec.seed).permutation(len(data.y))
    if spec.data.max_events:
        order = order[: spec.data.max_events]
    n_test = int(round(len(order) * spec.data.test_fraction))
    rest = order[n_test:]
    n_val = int(round(len(rest) * spec.data.validation_fraction))

    def take(idx):
        return Dataset(data.x[idx], data.y[idx], data.features, data.classes)

    return Split(train=take(rest[n_val:]), validation=take(rest[:n_val]), test=take(order[:n_test]))
