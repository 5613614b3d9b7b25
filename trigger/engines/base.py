"""What every quantization engine answers, so that no stage branches on `model.engine`.

An engine owns the quantized network: how it is built (with its float twin), how it is trained beyond a plain
fit (QKeras: tfmot pruning; HGQ2: the resource penalty on learned bit widths), how it is loaded, what metrics.json
records about it, and where its Keras layers and hls4ml's differ. The float twin and the training loop itself
(trigger/train.py) are shared.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np

from trigger.keras2 import keras
from trigger.spec import Spec

# fit(model, extra callbacks) -> the history, as trigger/train.py records it
Fit = Callable[[keras.Model, list], dict]


@dataclass
class LayerOutputs:
    """The csim reference of every hls4ml layer, where the Keras layers are not hls4ml's one for one."""

    values: dict[str, np.ndarray]  # by hls4ml layer name: the exact value Keras computes there
    clipping: set[str]  # the layers that clip (or wrap) in Keras as in the firmware
    # True: hls4ml's bit-exact flow keeps in a layer only the bits that later layers read, so the csim holds the
    # value cast into the layer's type (equal at the output, not in between)
    narrowed: bool = False


class Engine(ABC):
    name: ClassVar[str]
    versions: ClassVar[tuple[str, ...]]  # the packages whose versions metrics.json records
    # True: the network's own first quantizer sets the firmware input port (hls4ml narrows it to what that quantizer
    # reads); False: the port is the spec's input.precision
    input_from_model: ClassVar[bool] = False
    # True: its quantizers reach hls4ml as layers of their own (FixedPointQuantizer) that keep their types, so the
    # tasks' head rules for QKeras quantizers (trigger/tasks/base.py head_precisions) do not apply
    quantizers_are_layers: ClassVar[bool] = False
    # True: its models are built, trained and converted only in an HGQ2 process (trigger/hgq2_env.py), which the CLI
    # starts for them
    hgq2_process: ClassVar[bool] = False

    def __init__(self, spec: Spec):
        self.spec = spec

    @abstractmethod
    def build(self, n_in: int, n_out: int, quantized: bool, output_precision: str | None = None) -> keras.Model:
        """The quantized network (layer names dense_1, ..., logits/outputs/latent: they become the HLS names) or its
        float twin."""

    @abstractmethod
    def train_quantized(self, build: Callable[[], keras.Model], start: keras.Model | None, fit: Fit,
                        x: np.ndarray) -> tuple[keras.Model, dict]:
        """The trained quantized network and its history: `build()` a fresh one, start from `start`'s weights (the
        float twin) when given, `fit` it; `x`: the training inputs."""

    @abstractmethod
    def sparsity(self, model: keras.Model) -> dict:
        """Per Dense layer and in total, the fraction of weights the firmware holds as 0 (training.json)."""

    def describe_sparsity(self, sparsity: dict) -> str:
        """`sparsity` (what `sparsity` gave) for the training line."""
        return f"sparsity {sparsity['total']:.2f}"

    @abstractmethod
    def custom_objects(self) -> dict:
        """What keras needs to read the saved architecture back."""

    def layer_outputs(self, model: keras.Model, x: np.ndarray) -> LayerOutputs | None:
        """What the csim's layers are held against, where they are not the Keras layers one for one (None: they are)."""
        return None
