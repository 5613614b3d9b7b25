"""The csim harness: write a model's HLS project, run the test sample through the compiled C
simulation, and hold it against the quantized Keras model (0 LSB, naming the first diverging
layer otherwise) and the fixed-point ranges (overflow audit). Shared by `trigger synth` (a
trained model, every backend) and `trigger convert` (a user's model).
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trigger.firmware import FirmwareProject, Graph
from trigger.fixed import FixedType
from trigger.keras2 import keras
from trigger.models import predict
from trigger.verify import overflow
from trigger.verify.compare import Agreement, compare, first_divergence, float32_limit, keras_layer_outputs


@dataclass
class BackendResult:
    backend: str
    agreement: Agreement
    output_type: FixedType
    csim_out: np.ndarray
    estimate: dict  # the analytic figures of this project
    vivado: dict  # figures from a csynth report ({} without Vivado/Vitis)
    graph_sha256: str | None  # of the fixed-point graph: ties an RTL twin to this project
    graph: Graph | None  # the fixed-point graph (None: it cannot represent this project)
    synthesis: str
    project: Path
    overflow: dict = field(default_factory=dict)
    ports: dict = field(default_factory=dict)
    config_layers: list[str] = field(default_factory=list)  # the LayerName entries of its hls4ml config
    seconds: float = 0.0


@dataclass
class Reference:
    """What the firmware is held against, computed once for all backends."""

    x: np.ndarray  # the firmware inputs (on the input grid)
    inputs_true: np.ndarray  # the same before rounding into the input type (for the overflow audit)
    outputs: np.ndarray  # the quantized (or, for a float user model, the float) Keras outputs
    layers: dict[str, np.ndarray]  # every Keras layer's output, by the names hls4ml keeps
    clipping: set[str]  # the layers that clip in Keras as in the firmware (QKeras activations, HGQ2 quantizers)
    narrowed: bool = False  # a layer's csim output is its value here cast into its type (trigger/engines LayerOutputs)

    @classmethod
    def of(cls, model: keras.Model, x: np.ndarray, inputs_true: np.ndarray, probe: keras.Model | None = None,
           layers=None) -> "Reference":
        """`probe`: a twin of `model` whose layers match hls4ml's one for one (default: the model itself); `layers`
        (trigger.engines.LayerOutputs): hls4ml's layers' references where no Keras model matches them (HGQ2)."""
        if layers is not None:
            outputs = predict(model, x).reshape(len(x), -1)
            return cls(x, inputs_true, outputs, layers.values, layers.clipping, layers.narrowed)
        layers = keras_layer_outputs(probe or model, x)
        outputs = layers[model.layers[-1].name] if probe is None else predict(model, x)
        clipping = {layer.name for layer in (probe or model).layers if type(layer).__name__ == "QActivation"}
        return cls(x, inputs_true, outputs.reshape(len(x), -1), layers, clipping)


def run(build, final: Path, reference: Reference, files, meanings, trace: bool = True, exact_layer: str | None = None,
        tolerance=None) -> BackendResult:
    """Write the project that `build(directory)` converts to `final` (atomically), check its csim, synthesise
    where a vendor tool exists, and record its interface. `files(project)` gives extra firmware sources;
    `meanings(n_outputs)` the (input, output) port descriptions; `exact_layer`: see `check`."""
    t0 = time.time()
    with FirmwareProject.written(build, final) as project:
        csim_out, agreement = check(project, reference, trace, exact_layer, tolerance)
        audit = overflow.audit(project.hls_model, reference.layers, reference.inputs_true, reference.clipping,
                               reference.narrowed)
        project.write_files(files(project))
        ports = project.write_test_bench(reference.x, csim_out, *meanings(csim_out.shape[1]))
        estimate, fingerprint = project.estimate(), project.fingerprint
        graph = project.graph if fingerprint else None
    synthesis, vivado = project.synthesize()
    return BackendResult(project.settings.backend, agreement, project.output_type, csim_out, estimate, vivado, fingerprint,
                         graph, synthesis, project.directory, audit, ports, list(project.config["LayerName"]), time.time() - t0)


def check(project: FirmwareProject, reference: Reference, trace: bool = True, exact_layer: str | None = None,
          tolerance=None) -> tuple[np.ndarray, Agreement]:
    """The csim outputs and their agreement with the reference in LSBs; on a difference, the first diverging
    layer (`trace`; pointless against a float model, which differs everywhere). `exact_layer`: the agreement is
    that of this layer's csim trace on every event (a classifier checked up to its logits, the softmax after
    it being a table approximation). `tolerance(reference)`: a float model's first diverging layer is the first
    whose difference exceeds it."""
    csim_out = project.predict(reference.x)
    if exact_layer is None:
        agreement, bad = compare(reference.outputs, csim_out, project.output_type)
        if not (len(bad) and trace):
            return csim_out, agreement
        events = bad[:200]  # tracing recompiles and runs event by event: a sample of the failures suffices
        layers = project.trace(reference.x[events])
    else:
        events, traced = np.arange(len(reference.x)), project.trace(reference.x)
        layers = {k: traced[k] for k in list(traced)[: list(traced).index(exact_layer) + 1]}
        agreement, bad = compare(reference.layers[exact_layer], layers[exact_layer], project.layer_types[exact_layer])
        if not len(bad):
            return csim_out, agreement
    layer, lsb = first_divergence({k: v[events] for k, v in reference.layers.items()}, layers, project.layer_types, tolerance,
                                  reference.narrowed)
    agreement.first_diverging_layer, agreement.layer_lsb_diff = layer or "output only", lsb
    if layer is not None and tolerance is None:
        agreement.cause = float32_limit(layer, project.layer_types[layer])
    return csim_out, agreement
