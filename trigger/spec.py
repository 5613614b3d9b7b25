"""The task spec: one YAML file per model, loaded into dataclasses and validated.

Every stage reads its settings from here, so a typo must fail loudly: an unknown or a
missing key is an error that names the key path and the file.
"""

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from trigger.errors import TriggerError
from trigger.fixed import FixedType
from trigger.generators import GENERATORS

# --------------------------------------------------------------------------- generators
# The built-in generators' settings are their classes (trigger/generators); data.generator picks one by `name`.
GeneratorSettings = typing.Union[tuple(GENERATORS.values())]


# --------------------------------------------------------------------------- stages
@dataclass
class CollectionSpec:
    """A jagged collection (e.g. Jet_pt[nJet]) turned into `count` fixed slots per event.

    Model inputs are named `<name><i>_<field>` (object-major: jet0_pt, jet0_eta, jet1_pt, ...).
    """

    fields: dict[str, str]  # field -> branch or expression of branches of this collection
    count: int  # pad (with `pad`) or truncate to this many objects
    sort_by: str | None = None  # a field; objects sorted by it, largest first
    counter: str | None = None  # count branch, for fixed-size arrays holding fewer valid entries
    pad: float = 0.0


def feature_names(mapping: dict[str, str | CollectionSpec]) -> list[str]:
    """Model input names in column order; a collection expands object-major."""
    names: list[str] = []
    for name, feature in mapping.items():
        collection = isinstance(feature, CollectionSpec)
        names += [f"{name}{i}_{key}" for i in range(feature.count) for key in feature.fields] if collection else [name]
    return names


@dataclass
class LabelSpec:
    branch: str
    classes: list[str]


@dataclass
class DataSpec:
    features: dict[str, str | CollectionSpec]  # model input -> branch/expression, or a collection
    label: LabelSpec | None = None  # classification only
    tree: str = "events"
    files: list[str] = field(default_factory=list)
    generator: GeneratorSettings | None = None
    seed: int = 0  # dataset seed (generators); the top-level seed drives splitting and training
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    max_events: int | None = None
    units: dict[str, str] = field(default_factory=dict)  # feature (or collection name) -> unit, for the port table
    selection: str | None = None  # expression per event; only events where it is true are used (before anything else)
    missing: dict[str, float] = field(default_factory=dict)  # feature, collection or <collection>.<field> -> sentinel
    negative_weights: Literal["error", "allow"] = "error"  # anomaly.weight_branch values below 0
    allow_duplicates: bool = False  # the same events in two of data.files (they could land in train and test)


@dataclass
class InputSpec:
    precision: str = "ap_fixed<16,6>"
    shifts: dict[str, int] = field(default_factory=dict)  # feature -> k: x * 2**-k; missing = auto
    saturation: Literal["error", "clip"] = "error"


@dataclass
class HGQSpec:
    """model.hgq: the settings of the HGQ2 engine (model.engine: hgq2), trigger/engines/hgq2.py.

    HGQ2 learns a bit width for every weight, bias and activation; the loss is the task's + beta * EBOPs (its
    estimate of the multiplier-and-adder bits the firmware costs). A weight whose width reaches 0 is pruned, so
    train.sparsity and the pruning epochs (tfmot, QKeras only) do not apply; training.json reports the zero weights
    it ends with. The model.*_bits settings (QKeras's fixed widths) do not apply either: these are where HGQ2 starts.
    """

    beta: float = 1e-5  # the final resource penalty per EBOP, reached at the last epoch (0: no penalty)
    beta_start: float = 1e-7  # the penalty at the first epoch, raised geometrically to `beta` ...
    # ... over this many epochs, then held at `beta` (default: the whole of train.epochs, reaching beta at the last):
    # a short ramp trains most epochs at the full penalty, which is what moves the EBOPs
    beta_ramp_epochs: int | None = None
    init_weight_bits: int = 8  # starting bits of every weight and bias (excluding the sign), trained from there
    # starting fraction bits of every activation, the inputs included (their integer bits follow the data's range)
    init_activation_fraction_bits: int = 6


@dataclass
class ModelSpec:
    kind: Literal["mlp", "autoencoder", "vae"] = "mlp"
    # the quantization engine: qkeras (fixed widths below, tfmot pruning) or hgq2 (learned widths, model.hgq);
    # hgq2 runs in a process of its own (trigger/hgq2_env.py) and is, for now, for the classification and regression mlp
    engine: Literal["qkeras", "hgq2"] = "qkeras"
    hgq: HGQSpec = field(default_factory=HGQSpec)
    hidden: list[int] = field(default_factory=lambda: [64, 32, 32])  # mlp; autoencoder/vae: the encoder
    latent: int = 3  # autoencoder bottleneck; vae: the size of mu (and of log sigma^2, training only)
    beta: float = 1.0  # vae: loss = mean squared reconstruction error + beta * KL(N(mu, sigma^2) || N(0, 1))
    # vae: the squared error of input i weighted by 1 / its variance on the training sample (inverse_variance) or not
    loss_weights: Literal["none", "inverse_variance"] = "none"
    decoder: list[int] | None = None  # autoencoder; default: the encoder mirrored
    weight_bits: int = 6
    weight_integer: int = 0
    bias_bits: int = 6
    bias_integer: int = 0
    activation_bits: int = 6
    activation_integer: int = 0
    # autoencoder/vae: the latent's (a vae's mu) own signed fixed-point type; default the activations'. A vae's mu
    # is small (the KL term pulls it to 0), so it needs a finer LSB than the hidden layers or mu2 is mostly 0.
    latent_bits: int | None = None
    latent_integer: int | None = None
    # per Dense layer (dense_<i>, logits, outputs, latent, log_sigma, reconstruction): its own weight/bias bits and the
    # bits of the ReLU after it, e.g. {dense_1: {weight_bits: 8}}; the settings above are the defaults
    layers: dict[str, dict[str, int]] = field(default_factory=dict)

    def bits(self, layer: str, what: str) -> int:
        """The `what` setting (weight_bits, bias_integer, ...) of Dense layer `layer`: its own, else the model's."""
        return self.layers.get(layer, {}).get(what, getattr(self, what))


LAYER_BITS = ("weight_bits", "weight_integer", "bias_bits", "bias_integer", "activation_bits", "activation_integer")
PRUNING = ("sparsity", "pruning_start_epoch", "pruning_end_epoch")
# the dotted spec keys only one engine reads (a spec of the other engine must not set them)
ENGINE_ONLY = {"qkeras": tuple(f"model.{k}" for k in LAYER_BITS) + ("model.layers",) + tuple(f"train.{k}" for k in PRUNING),
               "hgq2": ("model.hgq",)}


def other_engines_keys(engine: str) -> tuple[str, ...]:
    """The dotted keys of the engines other than `engine`."""
    return tuple(key for name, keys in ENGINE_ONLY.items() if name != engine for key in keys)


def dense_layer_names(m: ModelSpec, task: str) -> list[str]:
    """The Dense layers trigger/models.py builds for `m` (their names are fixed: they become the HLS layer names)."""
    encoder = [f"dense_{i}" for i in range(1, len(m.hidden) + 1)]
    if m.kind == "mlp":
        return encoder + ["logits" if task == "classification" else "outputs"]
    decoder = m.decoder if m.decoder is not None else list(reversed(m.hidden))
    heads = ["latent", "log_sigma"] if m.kind == "vae" else ["latent"]
    first = len(m.hidden) + 1
    return encoder + heads + [f"dense_{i}" for i in range(first, first + len(decoder))] + ["reconstruction"]


@dataclass
class TrainSpec:
    epochs: int = 40
    batch_size: int = 512
    learning_rate: float = 3e-3
    sparsity: float = 0.5
    pruning_start_epoch: int = 5
    pruning_end_epoch: int = 25
    float_epochs: int = 40
    start_from_float: bool = False  # quantization-aware training starts from the trained float weights (fine-tuning)


@dataclass
class FirmwareSpec:
    backends: list[Literal["Vitis", "Vivado"]] = field(default_factory=lambda: ["Vitis", "Vivado"])
    part: str = "xcvu13p-flga2577-2-e"
    clock_period_ns: float = 5.0
    io_type: Literal["io_parallel"] = "io_parallel"
    strategy: Literal["Latency", "Resource"] = "Latency"
    reuse_factor: int = 1
    default_precision: str = "ap_fixed<16,6>"
    layers: dict[str, dict[str, Any]] = field(default_factory=dict)  # hls4ml per-layer overrides
    emulator_name: str | None = None  # the emulator library's <Model>_v<N> (CMSSW loads it by that name)


@dataclass
class TargetRate:
    """Operating point of a trigger: an L1 rate at the bunch-crossing rate, or a false-positive rate."""

    rate_khz: float | None = None
    fpr: float | None = None
    crossing_rate_mhz: float = 40.0

    @property
    def false_positive_rate(self) -> float:
        return self.fpr if self.fpr is not None else self.rate_khz / (self.crossing_rate_mhz * 1000.0)


@dataclass
class AnomalySpec:
    """Anomaly task: which events are background/signal, what the firmware score is, and the rate."""

    process_branch: str | None = None  # None: every event is background (a background-only file)
    processes: list[str] = field(default_factory=list)  # names of the process_branch values 0, 1, ...
    signals: list[str] = field(default_factory=list)  # the rest is background (trained on)
    weight_branch: str | None = None  # per-event weight (e.g. pb/event) for the background mixture
    # reconstruction (autoencoder default), latent (autoencoder: sum of z_j^2), mu2 (vae default: sum of mu_j^2)
    score: Literal["reconstruction", "latent", "mu2"] | None = None
    residual_bits: int = 8  # the residual is quantized to ap_fixed<bits, integer+1> (RND, SAT) before squaring
    residual_integer: int = 1
    # per-input weights of the reconstruction error: 'background' = 1 / its mean on the training background (as a
    # power of two), 'uniform' = 1; explicit input_weights (powers of two) multiply on top. trigger/tasks/score_weights.py
    score_weights: Literal["background", "uniform"] = "background"
    input_weights: dict[str, float] = field(default_factory=dict)
    target: TargetRate = field(default_factory=lambda: TargetRate(rate_khz=10.0))
    background_test_fraction: float = 0.5


TARGET_PRESETS = {  # branch names of the ttbar generator (trigger/generators/ttbar.py)
    "top": {"top_px": "tlep_px", "top_py": "tlep_py", "top_pz": "tlep_pz", "top_e": "tlep_e"},  # leptonic top
    "neutrino_pz": {"nu_pz": "nu_pz"},
}


@dataclass
class RegressionSpec:
    """Regression task: what is regressed, the firmware output's fixed-point units, how residuals are binned.

    The firmware output is `output_precision`; GeV = output * 2**output_shift (a left shift),
    so the network learns targets * 2**-output_shift and a firmware engineer reads GeV off the bits.
    """

    targets: str | dict[str, str] = "top"  # a preset (top, neutrino_pz) or output name -> branch/expression
    output_precision: str = "ap_fixed<16,6>"  # rounded to nearest, saturating
    output_shift: int = 8  # GeV = output * 2**output_shift
    bin_by: str = "sqrt(tlep_px**2 + tlep_py**2)"  # truth variable for the binned bias/resolution (true top pT)
    bin_label: str = "true top pT [GeV]"
    bin_edges: list[float] = field(default_factory=lambda: [0.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0, 600.0, 1000.0])

    @property
    def gev_per_unit(self) -> float:
        """GeV of one unit of the firmware output (the left shift)."""
        return 2.0**self.output_shift

    @property
    def target_map(self) -> dict[str, str]:
        return dict(TARGET_PRESETS[self.targets]) if isinstance(self.targets, str) else dict(self.targets)


@dataclass
class VerifySpec:
    events: int = 6000  # held-out events run through csim (and committed as the test sample)
    split: Literal["test", "validation"] = "test"  # where they come from; trigger scan's trials use validation


@dataclass
class Spec:
    name: str
    task: Literal["classification", "anomaly", "compression", "regression"]
    data: DataSpec
    seed: int = 0
    input: InputSpec = field(default_factory=InputSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    firmware: FirmwareSpec = field(default_factory=FirmwareSpec)
    verify: VerifySpec = field(default_factory=VerifySpec)
    anomaly: AnomalySpec | None = None
    regression: RegressionSpec | None = None  # task 'regression' (defaults when the block is left out)
    path: Path | None = None  # where it was loaded from (not a YAML key)

    @property
    def model_dir(self) -> Path:
        return self.path.parent if self.path else Path("models") / self.name

    @property
    def emulator_name(self) -> str:
        return self.firmware.emulator_name or default_emulator_name(self.name)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.pop("path")
        return out


# --------------------------------------------------------------------------- loading
def read_yaml(path: Path, what: str = "file"):
    """A YAML file's content; a missing file or bad syntax is a one-line error naming the file."""
    if not path.is_file():
        raise TriggerError(f"{path}: {what} not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise TriggerError(f"{path}: not valid YAML{where}; fix the syntax") from None


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; raise TriggerError naming the first bad key."""
    path = Path(path)
    if path.is_dir():
        path = path / "spec.yml"
    spec = spec_from_dict(read_yaml(path, "spec file (pass models/<name>/spec.yml or a model name)"), source=str(path))
    spec.path = path
    return spec


def spec_from_dict(raw: Any, source: str = "spec") -> Spec:
    spec = _build(Spec, raw, "", source)
    _check_semantics(spec, source)
    return spec


@dataclass
class SampleMapping:
    """`trigger convert --root`: the tree and the model inputs, in the syntax of a spec's data.features."""

    features: dict[str, str | CollectionSpec]
    tree: str = "events"
    units: dict[str, str] = field(default_factory=dict)


def load_mapping(path: str | Path) -> SampleMapping:
    path = Path(path)
    mapping = _build(SampleMapping, read_yaml(path, "mapping file"), "", str(path))
    check_units(mapping.units, mapping.features, f"{path}: 'units")
    return mapping


def generator_settings(name: str, raw: dict, source: str):
    """Settings of one built-in generator from a mapping (CLI options), validated like a spec."""
    if name not in GENERATORS:
        raise TriggerError(f"{source}: unknown generator {name!r} (known: {', '.join(GENERATORS)})")
    return _build(GENERATORS[name], {"name": name, **raw}, "", source)


def _build(cls, raw, where: str, source: str):
    if not isinstance(raw, dict):
        raise TriggerError(f"{source}: '{where or '<top>'}' must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "path"}
    for key in raw:
        if key not in fields:
            raise TriggerError(f"{source}: unknown key '{_join(where, key)}' (allowed here: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        key = _join(where, name)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise TriggerError(f"{source}: missing required key '{key}'")
            continue
        kwargs[name] = _convert(hints[name], raw[name], key, source)
    return cls(**kwargs)


def _convert(tp, value, key: str, source: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        structured = [a for a in inner if dataclasses.is_dataclass(a)]
        if isinstance(value, dict) and len(structured) > 1:  # generator settings: chosen by `name`
            by_name = {a.name: a for a in structured}
            if value.get("name") not in by_name:
                raise TriggerError(f"{source}: '{key}.name' must be one of {sorted(by_name)}, got {value.get('name')!r}")
            return _build(by_name[value["name"]], value, key, source)
        if isinstance(value, dict) and structured:
            return _convert(structured[0], value, key, source)
        for alternative in inner[:-1]:  # e.g. a preset name or a mapping: the first that fits
            try:
                return _convert(alternative, value, key, source)
            except TriggerError:
                pass
        return _convert(inner[-1], value, key, source)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key, source)
    if origin is Literal:
        if value not in args:
            raise TriggerError(f"{source}: '{key}' must be one of {list(args)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise TriggerError(f"{source}: '{key}' must be a list, got {type(value).__name__}")
        return [_convert(args[0], v, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise TriggerError(f"{source}: '{key}' must be a mapping, got {type(value).__name__}")
        return {str(k): _convert(args[1], v, _join(key, k), source) for k, v in value.items()}
    if tp is Any:
        return value
    if tp in (int, float, str, bool):
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, tp) or (isinstance(value, bool) and tp is not bool):  # YAML `yes` is not a number
            raise TriggerError(f"{source}: '{key}' must be {tp.__name__}, got {value!r}")
    return value


def _join(where: str, key) -> str:
    return f"{where}.{key}" if where else str(key)


def _check_anomaly_score(spec: Spec, source: str) -> None:
    """The score follows the model: an autoencoder scores its reconstruction (or latent norm), a VAE the norm of
    its mu head, the only part of it that goes on chip."""
    kind, a = spec.model.kind, spec.anomaly
    if kind not in ("autoencoder", "vae"):
        raise TriggerError(f"{source}: task 'anomaly' needs model.kind: autoencoder or vae")
    a.score = a.score or ("mu2" if kind == "vae" else "reconstruction")
    allowed = ("mu2",) if kind == "vae" else ("reconstruction", "latent")
    if a.score not in allowed:
        raise TriggerError(f"{source}: 'anomaly.score' {a.score!r} is not a score of model.kind {kind} (it has: "
                           f"{', '.join(allowed)}); only the encoder's mu goes on chip for a vae")
    if kind == "vae" and spec.model.beta < 0:
        raise TriggerError(f"{source}: 'model.beta' must be >= 0, got {spec.model.beta}")
    if kind != "vae" and spec.model.loss_weights != "none":
        raise TriggerError(f"{source}: 'model.loss_weights' is a setting of model.kind vae (this model is {kind}); "
                           f"an autoencoder's score has anomaly.score_weights")


def _check_layer_bits(spec: Spec, source: str) -> None:
    names = dense_layer_names(spec.model, spec.task)
    for layer, settings in spec.model.layers.items():
        if layer not in names:
            raise TriggerError(f"{source}: 'model.layers.{layer}': no such Dense layer in this model (it has: "
                               f"{', '.join(names)})")
        for key, value in settings.items():
            if key not in LAYER_BITS:
                raise TriggerError(f"{source}: 'model.layers.{layer}.{key}' is not a per-layer setting (allowed: "
                                   f"{', '.join(LAYER_BITS)})")
            if key.endswith("_bits") and value < 1:
                raise TriggerError(f"{source}: 'model.layers.{layer}.{key}' must be >= 1, got {value}")


def _check_engine(spec: Spec, source: str) -> None:
    """hgq2 is for the classification and regression MLP (so far), and the settings of the other engine are refused, not ignored."""
    m, t = spec.model, spec.train
    if m.engine == "qkeras":
        if m.hgq != HGQSpec():
            raise TriggerError(f"{source}: 'model.hgq' is a setting of model.engine hgq2 (this model is qkeras); remove it "
                               "or set model.engine: hgq2")
        return
    if spec.task not in ("classification", "regression") or m.kind != "mlp":
        raise TriggerError(f"{source}: 'model.engine' hgq2 is for tasks classification and regression with model.kind mlp so "
                           f"far (this is task {spec.task}, kind {m.kind}); use model.engine: qkeras")
    fixed = [f"model.{k}" for k in LAYER_BITS if getattr(m, k) != getattr(ModelSpec, k)] + (["model.layers"] if m.layers else [])
    pruning = [f"train.{k}" for k in PRUNING if getattr(t, k) != getattr(TrainSpec, k)]
    if fixed:
        raise TriggerError(f"{source}: '{fixed[0]}' does not apply to model.engine hgq2: it learns every bit width "
                           "(starting from model.hgq.init_weight_bits and init_activation_fraction_bits); remove it")
    if pruning:
        raise TriggerError(f"{source}: '{pruning[0]}' does not apply to model.engine hgq2: it prunes through bit widths "
                           "(model.hgq.beta sets how hard); remove it")
    h = m.hgq
    if not 0.0 <= h.beta_start <= h.beta:
        raise TriggerError(f"{source}: 'model.hgq.beta_start' must be between 0 and model.hgq.beta ({h.beta}), got "
                           f"{h.beta_start}")
    if h.beta_ramp_epochs is not None and not 1 <= h.beta_ramp_epochs < t.epochs:
        raise TriggerError(f"{source}: 'model.hgq.beta_ramp_epochs' must be between 1 and train.epochs - 1 "
                           f"({t.epochs - 1}), got {h.beta_ramp_epochs}; leave it out to ramp over all epochs")
    for key in ("init_weight_bits", "init_activation_fraction_bits"):
        if getattr(h, key) < 1:
            raise TriggerError(f"{source}: 'model.hgq.{key}' must be >= 1, got {getattr(h, key)}")


def _check_semantics(spec: Spec, source: str) -> None:
    _check_layer_bits(spec, source)
    _check_engine(spec, source)
    d = spec.data
    if d.generator is None and not d.files:
        raise TriggerError(f"{source}: 'data' needs either 'files' (your ROOT files) or a 'generator'")
    if d.generator is not None and d.files:
        raise TriggerError(f"{source}: 'data.files' and 'data.generator' are exclusive; keep one")
    if not d.features:
        raise TriggerError(f"{source}: 'data.features' is empty; list the model inputs")
    for name, feature in d.features.items():
        if isinstance(feature, CollectionSpec):
            if feature.count < 1:
                raise TriggerError(f"{source}: 'data.features.{name}.count' must be >= 1")
            if feature.sort_by is not None and feature.sort_by not in feature.fields:
                raise TriggerError(f"{source}: 'data.features.{name}.sort_by' must be one of its fields {list(feature.fields)}")
    check_units(d.units, d.features, f"{source}: 'data.units")
    check_units(d.missing, d.features, f"{source}: 'data.missing")
    if spec.task == "classification":
        if d.label is None:
            raise TriggerError(f"{source}: task 'classification' needs 'data.label' (branch + classes)")
        if len(d.label.classes) < 2:
            raise TriggerError(f"{source}: 'data.label.classes' needs at least two classes")
    if spec.task == "anomaly":
        a = spec.anomaly
        if a is None:
            raise TriggerError(f"{source}: task 'anomaly' needs an 'anomaly' block (processes, signals, target)")
        if a.process_branch is None:
            if a.signals or len(a.processes) > 1:
                raise TriggerError(f"{source}: 'anomaly.processes'/'anomaly.signals' need 'anomaly.process_branch' (the "
                                   f"branch numbering each event's process); without it every event is background")
            a.processes = a.processes or ["background"]
        elif not a.processes:
            raise TriggerError(f"{source}: 'anomaly.processes' is empty; name the values 0, 1, ... of "
                               f"anomaly.process_branch '{a.process_branch}'")
        for name in a.signals:
            if name not in a.processes:
                raise TriggerError(f"{source}: 'anomaly.signals' entry {name!r} is not one of anomaly.processes")
        if (a.target.rate_khz is None) == (a.target.fpr is None):
            raise TriggerError(f"{source}: 'anomaly.target' needs exactly one of rate_khz or fpr")
    if spec.task == "regression":
        _check_regression(spec, source)
    if spec.task == "compression" and spec.model.kind != "autoencoder":
        raise TriggerError(f"{source}: task 'compression' needs model.kind: autoencoder")
    if spec.task == "anomaly":
        _check_anomaly_score(spec, source)
    for frac in ("test_fraction", "validation_fraction"):
        if not 0.0 < getattr(d, frac) < 1.0:
            raise TriggerError(f"{source}: 'data.{frac}' must be between 0 and 1")
    FixedType.parse(spec.input.precision, "input.precision")
    FixedType.parse(spec.firmware.default_precision, "firmware.default_precision")
    names = feature_names(d.features)
    for name in spec.input.shifts:
        if name not in names:
            raise TriggerError(f"{source}: 'input.shifts.{name}' is not one of the model inputs")
    if not 0.0 <= spec.train.sparsity < 1.0:
        raise TriggerError(f"{source}: 'train.sparsity' must be in [0, 1)")
    if spec.firmware.reuse_factor < 1:
        raise TriggerError(f"{source}: 'firmware.reuse_factor' must be >= 1")
    if not spec.firmware.backends:
        raise TriggerError(f"{source}: 'firmware.backends' is empty; use Vitis and/or Vivado")
    if spec.firmware.emulator_name is not None:
        check_emulator_name(spec.firmware.emulator_name, f"{source}: 'firmware.emulator_name'")


EMULATOR_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*_v[0-9]+")


def default_emulator_name(model: str) -> str:
    """CMS's convention for emulator libraries, from a model name: jet_tagger -> JetTagger_v1."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", model) if part) + "_v1"


def check_emulator_name(name: str, where: str) -> str:
    """The library is <name>.so and the model's C++ namespace is <name>: an identifier ending in _v<N>."""
    if not EMULATOR_NAME.fullmatch(str(name)):
        raise TriggerError(f"{where} = {name!r} must look like <Model>_v<N>, e.g. JetTagger_v1 (letters, digits, "
                           "underscores): CMSSW loads the library <Model>_v<N>.so by that name")
    return name


def check_units(units: dict, features: dict, where: str) -> None:
    """Unit keys name a feature, or <collection>.<field>."""
    for key in units:
        name, _, part = key.partition(".")
        feature = features.get(name)
        if feature is None or (part and not (isinstance(feature, CollectionSpec) and part in feature.fields)):
            raise TriggerError(f"{where}.{key}' is not a feature or <collection>.<field> (features: {', '.join(features)})")


def _check_regression(spec: Spec, source: str) -> None:
    if spec.model.kind != "mlp":
        raise TriggerError(f"{source}: task 'regression' needs model.kind: mlp")
    if spec.regression is None:
        spec.regression = RegressionSpec()
    r = spec.regression
    if isinstance(r.targets, str) and r.targets not in TARGET_PRESETS:
        raise TriggerError(f"{source}: 'regression.targets' preset {r.targets!r} is unknown (presets: "
                           f"{', '.join(TARGET_PRESETS)}; or give a mapping output name -> branch)")
    if not r.target_map:
        raise TriggerError(f"{source}: 'regression.targets' is empty; list at least one target")
    FixedType.parse(r.output_precision, "regression.output_precision")
    edges = r.bin_edges
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise TriggerError(f"{source}: 'regression.bin_edges' must be at least two increasing numbers")
