"""What every task plugin answers, so that no stage branches on `spec.task`.

A task owns its labels, output size, training targets and loss, the firmware head (the
Keras model that becomes firmware) with its float counterpart, extra firmware files,
the meaning of every port, its operating point (the anomaly threshold), and its metrics,
their drops and its plots. The defaults here are those of an autoencoder trained on its
own inputs; each task overrides what differs. `trained` arguments are a trigger.trained.Trained.
"""

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np

from trigger.data import Dataset, Preprocessing, Split
from trigger.keras2 import keras
from trigger.engines import engine_of
from trigger.models import predict, reconstruction
from trigger.spec import CollectionSpec, Spec


class Task(ABC):
    name: ClassVar[str]
    metric: ClassVar[str]  # the headline metric of the summary table
    higher_is_better: ClassVar[bool] = True  # the headline's direction (trigger scan maximises or minimises it)
    drop_names: ClassVar[tuple[str, ...]]  # what budget.yml's max_metric_drop may limit
    loss_label: ClassVar[str] = "reconstruction MSE"

    def __init__(self, spec: Spec):
        self.spec = spec

    # ------------------------------------------------------------------ data
    def labels(self, source, events: int) -> dict:
        """Dataset fields besides the features (y, classes, w, binning), read through `source` (trigger.data.Source:
        the selected events)."""
        return {"y": np.zeros(events, np.int64), "classes": []}

    def test_only(self, data: Dataset) -> np.ndarray | None:
        """Events that never train (anomaly signals), or None."""
        return None

    @property
    def test_fraction(self) -> float:
        return self.spec.data.test_fraction

    def test_sample(self, test: Dataset) -> Dataset:
        """The committed csim sample: the first `verify.events` test events."""
        return test.take(np.arange(min(self.spec.verify.events, len(test.y))))

    # ------------------------------------------------------------------ training
    def outputs(self, data: Dataset) -> int:
        return len(data.features)

    def targets(self, part: Dataset, x: np.ndarray) -> np.ndarray:
        return x

    def loss(self, y: np.ndarray):
        return keras.losses.MeanSquaredError(), []

    def build(self, n_in: int, n_out: int, quantized: bool) -> keras.Model:
        return engine_of(self.spec).build(n_in, n_out, quantized)

    def training_report(self, models: dict, x_test: np.ndarray, parts: Split) -> tuple[dict, str]:
        """(entries for training.json, one line for the CLI) on the full test set: an autoencoder's (or a vae's,
        decoding its mu) reconstruction error."""
        mse = {k: float(np.mean((predict(reconstruction(m), x_test) - x_test) ** 2)) for k, m in models.items()}
        return {"test_mse": mse}, f"test reconstruction MSE float {mse['float']:.5f}, quantized+pruned {mse['quantized']:.5f}"

    def operating_point(self, models: dict, x_train: np.ndarray, x_test: np.ndarray, parts: Split, firmware_type) -> dict:
        """Files stored with the trained model besides the networks (the anomaly threshold); none by default.
        `firmware_type(keras_model)` is the FixedType of that model's firmware output."""
        return {}

    # ------------------------------------------------------------------ firmware
    def firmware_model(self, trained) -> keras.Model:
        return trained.model

    def float_reference(self, trained, x: np.ndarray) -> np.ndarray:
        """The float model's counterpart of the firmware output."""
        return predict(trained.float_model, x)

    def head_precisions(self, layers: dict, model: keras.Model) -> None:
        """Adjust hls4ml's LayerName config (in place) so that the firmware head stays bit-exact.

        A QDense `X` followed by its quantizer `X_q` (latent, reconstruction, regression outputs):
        hls4ml may drop the quantizer, so X's result type (and that of its implicit linear
        activation) is the quantizer's, with its rounding and saturation: the drop is harmless. A QKeras rule: an
        HGQ2 model's quantizers reach hls4ml as layers of their own (FixedPointQuantizer), which keep their types."""
        if engine_of(self.spec).quantizers_are_layers:
            return
        for name in list(layers):
            if name.endswith("_q") and name[:-2] in layers:
                for target in (name[:-2], f"{name[:-2]}_linear"):
                    if target in layers:
                        layers[target]["Precision"]["result"] = layers[name]["Precision"]["result"]

    def firmware_files(self, trained, output_type, type_name: str) -> dict[str, str]:
        """Files written next to the HLS top function (firmware/<name>), e.g. the trigger bit."""
        return {}

    def input_meanings(self, pre: Preprocessing) -> list[tuple[str, str]]:
        """(meaning, unit) of every firmware input: the spec's expression, shifted by the preprocessing."""
        data, described = self.spec.data, []  # (expression, unit) per input column
        for name, feature in data.features.items():
            unit = data.units.get(name, "as the branch")
            if isinstance(feature, CollectionSpec):
                described += [(f"{expr} of object {i}", data.units.get(f"{name}.{f}", unit))
                              for i in range(feature.count) for f, expr in feature.fields.items()]
            else:
                described.append((feature, unit))
        return [(f"{name} * 2^{-shift}" + (f", {name} = {expr}" if expr != name else ""), unit)
                for name, shift, (expr, unit) in zip(pre.features, pre.shifts, described, strict=True)]

    @abstractmethod
    def output_meanings(self, n: int) -> list[tuple[str, str]]: ...

    # ------------------------------------------------------------------ metrics
    @abstractmethod
    def evaluate(self, outputs: np.ndarray, sample: Dataset, which: str, trained) -> dict:
        """Task metrics of `which` outputs (float, quantized, csim) on the sample."""

    @abstractmethod
    def drops(self, reference: dict, other: dict) -> dict:
        """How much worse `other` is than `reference`, per metric the budget may limit (drop_names)."""

    @abstractmethod
    def headline(self, metrics: dict) -> float:
        """The one number of the summary table (`metric`)."""

    def plots(self, directory: Path, sample: Dataset, outputs: dict[str, np.ndarray], backend: str, trained) -> None:
        """PNGs beside metrics.json from the float, quantized and csim outputs."""

