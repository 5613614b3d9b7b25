"""A trained model and what it was trained with: the only reader and writer of models/<name>/trained/.

The directory holds the quantized network and its float twin (architecture JSON + weights
.npz, both byte-reproducible), the input preprocessing, a copy of the spec, the held-out test
sample the csim check runs on (raw features, <= 1 MiB, committed), the anomaly score weights and
threshold when the task has them, and a training record. It is written in one atomic swap.
"""

import io
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from trigger.atomic import atomic_dir, read_json, write_bytes, write_json
from trigger.data import Dataset, Preprocessing
from trigger.engines import engine_of
from trigger.errors import TriggerError
from trigger.keras2 import keras
from trigger.models import load_model, save_model
from trigger.spec import Spec, feature_names
from trigger.tasks import Task, task_of

TRAINED = "trained"
TEST_SAMPLE = "test_sample.npz"
TEST_SAMPLE_LIMIT = 1 << 20  # the committed csim sample stays under 1 MiB


@dataclass
class Trained:
    spec: Spec
    model: keras.Model  # quantized: what becomes firmware (through the task's head)
    float_model: keras.Model
    preprocessing: Preprocessing
    sample: Dataset  # raw features: the transform is re-applied, and so re-checked, on every load
    score_weights: dict | None = None  # anomaly: per-input weights of the quantized and float scores
    threshold: dict | None = None  # anomaly: the trigger threshold
    record: dict | None = None  # training.json (history, sparsity, test-set figures); written, not read
    dataset: dict | None = None  # dataset.json: yields per file, emptied sentinels, clipped inputs, weights

    @property
    def directory(self) -> Path:
        return self.spec.model_dir / TRAINED

    @cached_property
    def task(self) -> Task:
        return task_of(self.spec)

    @cached_property
    def x(self) -> np.ndarray:
        """The test sample as the firmware input receives it."""
        return self.preprocessing.apply(self.sample.x, str(self.directory / TEST_SAMPLE))

    @classmethod
    def load(cls, spec: Spec) -> "Trained":
        directory = spec.model_dir / TRAINED
        objects = engine_of(spec).custom_objects()
        model, float_model = load_model(directory, "model", objects), load_model(directory, "float_model", objects)
        pre = Preprocessing.load(directory / "preprocessing.json")
        features = feature_names(spec.data.features)
        if changes := pre.changes(spec):
            raise TriggerError(f"{directory}: the spec changed the firmware input since training ({'; '.join(changes)}); "
                               f"retrain (`trigger train {spec.name}`)")
        weights = read_json(directory / "score_weights.json")
        if weights is not None and weights["features"] != features:
            raise TriggerError(f"{directory / 'score_weights.json'}: weights for inputs {weights['features'][:3]}..., "
                               f"the model has {features[:3]}...; retrain")
        return cls(spec, model, float_model, pre, _load_sample(directory), weights, read_json(directory / "threshold.json"),
                   dataset=read_json(directory / "dataset.json"))

    def save(self) -> Path:
        with atomic_dir(self.directory) as tmp:
            save_model(self.model, tmp, "model")
            save_model(self.float_model, tmp, "float_model")
            self.preprocessing.save(tmp / "preprocessing.json")
            shutil.copyfile(self.spec.path, tmp / "spec.yml")
            write_bytes(tmp / TEST_SAMPLE, sample_bytes(self.sample, self.spec))
            if self.score_weights is not None:
                write_json(tmp / "score_weights.json", self.score_weights)
            if self.threshold is not None:
                write_json(tmp / "threshold.json", self.threshold, sort_keys=True)
            write_json(tmp / "training.json", self.record or {}, sort_keys=True)
            if self.dataset is not None:
                write_json(tmp / "dataset.json", self.dataset)
        return self.directory


def sample_bytes(sample: Dataset, spec: Spec) -> bytes:
    """The test sample as committed (.npz); over 1 MiB is an error naming verify.events. Raw features, labels and
    weights: the preprocessing is re-applied, and so re-checked, on every load."""
    buffer = io.BytesIO()
    labels = sample.y.astype(np.float32) if sample.y.dtype.kind == "f" else sample.y.astype(np.int8)
    arrays = {"x": sample.x.astype(np.float32), "y": labels,
              "features": np.array(sample.features), "classes": np.array(sample.classes)}
    for name in ("w", "binning"):
        if getattr(sample, name) is not None:
            arrays[name] = getattr(sample, name).astype(np.float64)
    np.savez_compressed(buffer, **arrays)
    if buffer.tell() > TEST_SAMPLE_LIMIT:
        raise TriggerError(f"{spec.path}: the test sample of verify.events = {spec.verify.events} events is "
                           f"{buffer.tell()} bytes, over the 1 MiB committed limit; lower verify.events")
    return buffer.getvalue()


def _load_sample(directory: Path) -> Dataset:
    path = Path(directory) / TEST_SAMPLE
    if not path.is_file():
        raise TriggerError(f"{path}: test sample missing; run `make train`")
    with np.load(path) as f:
        y = f["y"].astype(np.float64) if f["y"].dtype.kind == "f" else f["y"].astype(np.int64)
        optional = {name: f[name] if name in f.files else None for name in ("w", "binning")}
        return Dataset(f["x"].astype(np.float64), y, [str(s) for s in f["features"]], [str(s) for s in f["classes"]], **optional)
