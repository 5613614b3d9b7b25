"""From a spec to numpy arrays: resolve the ROOT files, read the selected events' mapped columns and the
task's labels, check weights and duplicates, split by seed."""

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trigger.data.reader import Mapping, Part, read_parts
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
    report: dict | None = None  # how the events were read: yields per file, emptied sentinels, weights (whole dataset)

    def take(self, idx) -> "Dataset":
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return Dataset(self.x[idx], self.y[idx], self.features, self.classes, pick(self.w), pick(self.binning))


@dataclass
class Split:
    train: Dataset
    validation: Dataset
    test: Dataset


def data_files(spec: Spec, progress: bool = True, scheduler: str | None = None) -> list[Path]:
    """The ROOT files for this spec: the generator's cached chunks (made if missing) or the user's files (relative
    patterns are resolved from the spec's folder; paths are normalised)."""
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
        full = os.path.normpath(pattern if Path(pattern).is_absolute() else base / pattern)
        matches = sorted(glob.glob(full)) if any(c in pattern for c in "*?[") else [full]
        if not matches:
            raise TriggerError(f"{spec.path}: data.files pattern {pattern!r} matches no file (looked for {full}; "
                               f"relative patterns start at the spec's folder)")
        files.extend(Path(m) for m in matches)
    return files


@dataclass
class Source:
    """The events a spec reads: its files and tree, the selection applied before anything else, and the feature
    sentinels. Tasks read their labels, targets and weights through it, so every column sees the same events."""

    files: list[Path]
    tree: str
    selection: str | None = None
    missing: dict[str, float] = field(default_factory=dict)
    negative_weights: str = "error"

    @classmethod
    def of(cls, spec: Spec, files: list[Path]) -> "Source":
        d = spec.data
        return cls(files, d.tree, d.selection, d.missing, d.negative_weights)

    def parts(self, mapping: Mapping, what: str) -> list[Part]:
        return read_parts(self.files, self.tree, mapping, what, self.selection, self.missing if what == "data.features" else None)

    def columns(self, mapping: Mapping, what: str) -> dict[str, np.ndarray]:
        parts = self.parts(mapping, what)
        return {name: np.concatenate([p.columns[name] for p in parts]) for name in parts[0].columns}

    def column(self, expression: str, key: str) -> np.ndarray:
        """One per-event value (a branch or an expression of branches); errors name the spec `key`."""
        where, _, name = key.rpartition(".")
        return self.columns({name: expression}, where)[name]

    def labels(self, branch: str, classes: int, key: str) -> np.ndarray:
        """Integer labels 0..classes-1 from a branch or expression."""
        labels = self.column(branch, key)
        if np.any((labels < 0) | (labels >= classes) | (labels != np.round(labels))):
            raise TriggerError(f"{key}: branch '{branch}' must hold integers 0..{classes - 1} (one per listed name)")
        return labels.astype(np.int64)

    def weights(self, expression: str, key: str) -> np.ndarray:
        """Per-event weights. NaN/Inf (the reader), all zero, or a sum <= 0 are errors; negative weights are an error
        unless data.negative_weights: allow. Errors name the file and the entry."""
        where, _, name = key.rpartition(".")
        parts = self.parts({name: expression}, where)
        for part in parts:
            w = part.columns[name]
            if self.negative_weights != "allow" and (w < 0).any():
                first = int(np.argmax(w < 0))
                raise TriggerError(f"{part.path}: {key} '{expression}': {int((w < 0).sum())} negative weights (first "
                                   f"{w[first]:g} at entry {int(part.entry[first])} of tree '{self.tree}'); set "
                                   f"data.negative_weights: allow to use signed weights, or fix the weights")
        w = np.concatenate([p.columns[name] for p in parts])
        if not w.any():
            raise TriggerError(f"{key} '{expression}': every weight is 0 in {', '.join(map(str, self.files))}; "
                               f"fix the weight branch or leave {key} out")
        if w.sum() <= 0:
            raise TriggerError(f"{key} '{expression}': the weights sum to {w.sum():g} (<= 0) in "
                               f"{', '.join(map(str, self.files))}; rates need a positive total weight")
        return w


def load_dataset(spec: Spec, task, files: list[Path] | None = None, progress: bool = True) -> Dataset:
    """The spec's features for the selected events, and the task's labels (`task.labels(source, events)`)."""
    files = files if files is not None else data_files(spec, progress=progress)
    source = Source.of(spec, files)
    parts = source.parts(spec.data.features, "data.features")
    names = feature_names(spec.data.features)
    x = np.concatenate([np.stack([p.columns[name] for name in names], axis=1) for p in parts])
    if len(x) == 0:
        raise TriggerError(f"data.selection {spec.data.selection!r}: no event of {len(files)} file(s) passes; "
                           f"loosen the selection")
    if not spec.data.allow_duplicates:
        check_duplicates(parts, names)
    data = Dataset(x, features=names, **task.labels(source, len(x)))
    data.report = dataset_report(spec, parts, data.w)
    return data


def dataset_report(spec: Spec, parts: list[Part], weights: np.ndarray | None) -> dict:
    """Yields per file ("N of M events pass"), the emptied sentinels and the weight convention (for training.json,
    the CLI and metrics.json)."""
    base = spec.model_dir
    missing: dict[str, int] = {}
    for part in parts:
        for key, n in part.missing.items():
            missing[key] = missing.get(key, 0) + n
    report = {
        "selection": spec.data.selection,
        "events": {"entries": sum(p.entries for p in parts), "selected": sum(p.selected for p in parts)},
        "files": [{"file": os.path.relpath(p.path, base), "entries": p.entries, "selected": p.selected} for p in parts],
        "missing": {k: {"value": spec.data.missing[k], "emptied": missing.get(k, 0)} for k in spec.data.missing},
    }
    if weights is not None:
        negative = int((weights < 0).sum())
        report["weights"] = {"negative": negative, "convention": "signed" if negative else "positive",
                             "sum": float(weights.sum()), "effective_events": float(weights.sum() ** 2 / (weights**2).sum())}
    return report


def dataset_lines(report: dict, per_file: int = 8) -> list[str]:
    """What was read, for the CLI: the yield ("N of M events pass") per file (up to `per_file` files, then the total),
    then the sentinels emptied, the inputs clipped and signed weights, when there are any."""
    passing = "pass data.selection" if report["selection"] else "(no data.selection)"
    files, e = report["files"], report["events"]
    lines = [f"{f['file']}: {f['selected']} of {f['entries']} events {passing}" for f in files[:per_file]]
    if len(files) > 1:
        lines.append(f"{len(files)} file(s): {e['selected']} of {e['entries']} events {passing}"
                     + (f" {report['selection']!r}" if report["selection"] else ""))
    lines += [f"data.missing.{k} = {m['value']:g}: {m['emptied']} values emptied" for k, m in report["missing"].items()]
    if report.get("clipped"):
        lines.append("input.saturation clip: values beyond the input range, clipped: "
                     + ", ".join(f"{k} {n}" for k, n in report["clipped"].items()))
    if report.get("weights", {}).get("negative"):
        w = report["weights"]
        lines.append(f"signed weights (data.negative_weights: allow): {w['negative']} negative, effective events "
                     f"{w['effective_events']:.1f}")
    return lines


def check_duplicates(parts: list[Part], names: list[str]) -> None:
    """The same file twice, or two files sharing most of their events (same feature values): they could land in both
    train and test. Partial overlaps below half a file are not looked for."""
    seen: dict[str, Path] = {}
    for part in parts:
        real = os.path.realpath(part.path)
        if real in seen:
            raise TriggerError(f"{part.path}: matched twice by data.files (also as {seen[real]}); its events would be in "
                               f"train and test; remove one pattern or set data.allow_duplicates: true")
        seen[real] = part.path
    rows = [np.ascontiguousarray(np.stack([p.columns[n] for n in names], axis=1)) for p in parts]
    keys = [r.view(np.dtype((np.void, r.dtype.itemsize * r.shape[1]))).reshape(-1) for r in rows]
    unique = [np.unique(k) for k in keys]
    for i in range(len(parts)):
        for j in range(i + 1, len(parts)):
            shared = len(np.intersect1d(unique[i], unique[j], assume_unique=True))
            if shared and shared >= 0.5 * min(len(unique[i]), len(unique[j])):
                raise TriggerError(f"{parts[i].path} and {parts[j].path}: {shared} events appear in both (identical "
                                   f"inputs); they would be in train and test; drop one from data.files or set "
                                   f"data.allow_duplicates: true")


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
