"""FirmwareProject: a Keras model as an hls4ml project. The only place hls4ml's converter is called.

Built from a trained model (its task's firmware head) or a user's Keras model, plus the firmware
and input settings. Weights, biases and activations take the QKeras quantizers' types (an HGQ2
model's: its per-element quantizers', through hls4ml's bit-exact flow, which also narrows the input
port to what its first quantizer reads); accumulators and Dense results are 'auto' (exact), so the
firmware computes exactly what the quantized Keras model computes. The task's head rules, the spec's `firmware.layers` and a user's hls4ml config are
merged last, so a user can trade exactness for area knowingly. A project is written atomically
(hls_projects/<model>/<backend>/) or kept in a scratch directory (RTL twin, emulator, thresholds);
either way it gives the compiled csim, the fixed-point graph and the cost estimate.
"""

import contextlib
import copy
import ctypes
import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from trigger.atomic import atomic_dir, remove_stale
from trigger.engines import engine_of
from trigger.errors import TriggerError
from trigger.figures import estimate, vivado
from trigger.firmware import interface, testbench
from trigger.firmware.testbench import firmware_object, gxx
from trigger.firmware.graph import Graph, from_hls
from trigger.fixed import FixedType, cast
from trigger.keras2 import keras
from trigger.spec import Spec
from trigger.tasks import task_of

SCRIPTS = Path(__file__).resolve().parents[2] / "vivado_scripts"
VENDOR_TOOLS = {"Vitis": "vitis-run", "Vivado": "vivado_hls"}


def projects_root() -> Path:
    return Path(os.environ.get("TRIGGER_HLS_PROJECTS", "hls_projects"))


def project_dir(spec: Spec, backend: str) -> Path:
    return projects_root() / spec.name / backend


@dataclass
class Settings:
    """The firmware and input sections of a spec, or the options of `trigger convert`."""

    name: str
    backend: str
    part: str
    clock_ns: float
    input_precision: str
    default_precision: str
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int | None = None  # None: hls4ml's default (1) unless a user's hls4ml config says otherwise
    layers: dict = field(default_factory=dict)  # LayerName overrides (spec firmware.layers)
    hls_config: dict = field(default_factory=dict)  # a user's HLSConfig block, merged last
    # True (HGQ2): the model's first quantizer sets the input port; hls4ml's bit-exact flow narrows it to the bits that
    # quantizer reads, so the input (on input_precision's grid) enters the port as it enters the quantizer in Keras
    input_from_model: bool = False

    @classmethod
    def of(cls, spec: Spec, backend: str) -> "Settings":
        fw = spec.firmware
        return cls(spec.name, backend, fw.part, fw.clock_period_ns, spec.input.precision, fw.default_precision, fw.io_type,
                   fw.strategy, fw.reuse_factor, fw.layers, input_from_model=engine_of(spec).input_from_model)


def merge_config(base: dict, override: dict) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def hls_config(model: keras.Model, s: Settings, head=None) -> dict:
    """hls4ml's config for `model`: input type, tracing, reuse, then head rules, spec overrides, user config."""
    import hls4ml

    default_reuse = s.reuse_factor or s.hls_config.get("Model", {}).get("ReuseFactor", 1)  # hls4ml sets it per layer
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=s.backend,
                                                  default_precision=s.default_precision, default_reuse_factor=default_reuse)
    layers = config["LayerName"]
    next(iter(layers.values()))["Precision"]["result"] = s.input_precision
    if s.reuse_factor is not None:
        config["Model"]["Strategy"] = s.strategy
        config["Model"]["ReuseFactor"] = s.reuse_factor
    for layer in layers.values():
        layer["Trace"] = True  # csim-only (guarded by __SYNTHESIS__): lets the harness find a diverging layer
        if s.reuse_factor is not None:
            layer["ReuseFactor"] = s.reuse_factor
    if head is not None:
        head(layers, model)
    for name, override in s.layers.items():
        if name not in layers:
            raise TriggerError(f"firmware.layers.{name}: no such layer in the model (layers: {', '.join(layers)})")
        merge_config(layers[name], override)
    merge_config(config, s.hls_config)
    return config


def config_layer_names(model: keras.Model) -> list[str]:
    """The layer names an hls4ml config may address for `model` (hls4ml's own reading of it)."""
    import hls4ml

    return list(hls4ml.utils.config_from_keras_model(model, granularity="name")["LayerName"])


class FirmwareProject:
    def __init__(self, model: keras.Model, settings: Settings, directory: Path, head=None):
        import hls4ml

        self.model, self.settings, self.directory = model, settings, Path(directory)
        self.config = hls_config(model, settings, head)
        self.hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=self.config, output_dir=str(self.directory), project_name=settings.name,
            backend=settings.backend, io_type=settings.io_type, part=settings.part, clock_period=settings.clock_ns,
            write_weights_txt=False,  # weights compiled in: the project (and the emulator library) is relocatable
        )
        self.hls_model.config.trace_output = True  # csim-only trace hooks (#ifndef __SYNTHESIS__), off until asked for
        if not settings.input_from_model and self.input_type != FixedType.parse(settings.input_precision):
            raise TriggerError(f"hls4ml config: input type {self.input_type} differs from the input precision "
                               f"{settings.input_precision}; set one of them")
        self._compiled = False

    # ------------------------------------------------------------------ construction
    @classmethod
    def of(cls, trained, backend: str, directory: Path) -> "FirmwareProject":
        """The firmware of a trained model: its task's head, configured from its spec."""
        task = trained.task
        return cls(task.firmware_model(trained), Settings.of(trained.spec, backend), directory, task.head_precisions)

    @classmethod
    @contextlib.contextmanager
    def scratch(cls, build):
        """`build(directory)` in a temporary directory that is removed afterwards (nothing is kept)."""
        with tempfile.TemporaryDirectory(prefix="trigger-firmware-") as tmp:
            yield build(Path(tmp) / "project")

    @classmethod
    @contextlib.contextmanager
    def written(cls, build, final: Path):
        """`build(directory)` in a temporary sibling of `final`, moved into place complete (or not at all)."""
        final = Path(final)
        remove_stale(final.parent)
        with atomic_dir(final) as tmp:
            project = build(tmp)
            yield project
            project._finish(final)
        project.directory = final

    def _finish(self, final: Path) -> None:
        """Self-contained: our scripts in, the csim library out (the firmware object stays for the bundle's builds),
        hls4ml's record of the directory pointing at `final`."""
        for so in self.directory.glob("firmware/*.so"):
            so.unlink()
        config = self.directory / "hls4ml_config.yml"
        if config.exists():
            config.write_text(config.read_text().replace(str(self.directory), str(final)))
        target = self.directory / "vivado_scripts"
        target.mkdir(exist_ok=True)
        for script in SCRIPTS.iterdir():
            if script.is_file():
                shutil.copy2(script, target / script.name)

    # ------------------------------------------------------------------ what it computes
    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def input_type(self) -> FixedType:
        return FixedType.of(self.hls_model.get_input_variables()[0].type.precision)

    @property
    def output_type(self) -> FixedType:
        return FixedType.of(self.hls_model.get_output_variables()[0].type.precision)

    @property
    def layer_types(self) -> dict[str, FixedType]:
        return {layer.name: FixedType.of(layer.get_output_variable().type.precision) for layer in self.hls_model.get_layers()}

    def compile(self) -> None:
        """hls4ml's csim library, built here from the firmware object that the testbench and the emulator library
        reuse, so that the network is compiled once (hls4ml's own build_lib.sh compiles it afresh each time)."""
        if self._compiled:
            return
        self.hls_model.write()
        top, lib = self.name, f"firmware/{self.name}-csim.so"
        firmware_object(self.directory, top)
        gxx(self.directory, ["-c", f"{top}_bridge.cpp", "-o", f"{top}_bridge.o"], "the C simulation bridge")
        gxx(self.directory, ["-shared", f"firmware/{top}.o", f"{top}_bridge.o", "-o", lib], "the C simulation library")
        (self.directory / f"{top}_bridge.o").unlink()
        self.hls_model._top_function_lib = ctypes.cdll.LoadLibrary(str(self.directory / lib))
        self._compiled = True

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The compiled C simulation's outputs (events x outputs)."""
        self.compile()
        return np.asarray(self.hls_model.predict(np.ascontiguousarray(x)), np.float64).reshape(len(x), -1)

    def trace(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's csim output, in firmware order. The library has its trace hooks already, so hls4ml's
        rewrite and rebuild before tracing is skipped."""
        self.compile()
        self.hls_model.compile = lambda: None
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # hls4ml announces the rebuild it no longer does
                return self.hls_model.trace(np.ascontiguousarray(x))[1]
        finally:
            del self.hls_model.compile

    @classmethod
    def graph_of(cls, trained, backend: str) -> Graph | None:
        """The fixed-point graph of a trained model's project, converted afresh where nothing is kept; None when the
        graph cannot represent the project."""
        with cls.scratch(lambda d: cls.of(trained, backend, d)) as project:
            return project.graph if project.fingerprint else None

    @cached_property
    def graph(self) -> Graph:
        """The fixed-point graph (emulator and RTL twin); a layer it cannot reproduce is a one-line error."""
        return from_hls(self.hls_model, self.name)

    @property
    def fingerprint(self) -> str | None:
        """sha256 of the graph (ties an RTL twin to this project), or None when the graph cannot represent it."""
        try:
            return self.graph.fingerprint()
        except TriggerError:
            return None

    def estimate(self) -> dict[str, dict]:
        return estimate(self.hls_model, self.settings.clock_ns)

    # ------------------------------------------------------------------ files
    def write_files(self, files: dict[str, str]) -> None:
        """Extra sources next to the top function (firmware/<file>)."""
        for name, text in files.items():
            (self.directory / "firmware" / name).write_text(text)

    def write_test_bench(self, x: np.ndarray, csim: np.ndarray, input_meanings, output_meanings) -> dict:
        """hls4ml's tb_data files (inputs and the csim outputs, one event per line), the strict testbench,
        and the port description; returns the ports (interface.json is written after synthesis)."""
        tb = self.directory / "tb_data"
        tb.mkdir(exist_ok=True)
        # the inputs as the port holds them, converted as the csim converts each double into input_t: the identity
        # on the spec's input grid; an HGQ2 port holds only the bits its first quantizer reads
        x = cast(x, self.input_type)
        for name, values in (("tb_input_features.dat", x), ("tb_output_predictions.dat", csim)):
            np.savetxt(tb / name, np.asarray(values, np.float64).reshape(len(values), -1), fmt="%.17g")
        ports = interface.describe(self.hls_model, input_meanings, output_meanings, len(x), self.name)
        ports["graph_sha256"] = self.fingerprint  # ties the bundle's RTL core to this project
        testbench.write(self.directory, ports)
        return ports

    def synthesize(self) -> tuple[str, dict]:
        """C synthesis + IP export with the vendor tool when it is on PATH: (what happened, vivado figures or {})."""
        tool = VENDOR_TOOLS[self.settings.backend]
        if shutil.which(tool) is None:
            return f"synthesis skipped: no Vivado/Vitis on PATH ({tool} not found)", {}
        log = self.directory / "vivado_scripts" / "synth.log"
        with open(log, "w") as out:
            proc = subprocess.run(["bash", str(self.directory / "vivado_scripts" / "run_hls.sh"), str(self.directory),
                                   self.settings.backend], stdout=out, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise TriggerError(f"{self.directory}: {tool} synthesis failed (exit {proc.returncode}); see {log}")
        report = self.directory / f"{self.name}_prj" / "solution1" / "syn" / "report" / f"{self.name}_csynth.xml"
        return f"synthesised with {tool}", vivado(report) if report.is_file() else {}


def output_type(spec: Spec, model: keras.Model) -> FixedType:
    """The firmware output type of `model` as hls4ml infers it under the spec's settings (nothing is kept)."""
    settings = Settings.of(spec, spec.firmware.backends[0])
    with FirmwareProject.scratch(lambda d: FirmwareProject(model, settings, d, task_of(spec).head_precisions)) as project:
        return project.output_type


def read_test_vectors(directory: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The firmware inputs and csim outputs a written project was verified with (tb_data)."""
    tb = Path(directory) / "tb_data"
    files = [tb / "tb_input_features.dat", tb / "tb_output_predictions.dat"]
    if not all(f.is_file() for f in files):
        raise TriggerError(f"{tb}: no csim test vectors; run `trigger synth {name}` (or `make synth`) first")
    x, y = (np.loadtxt(f, ndmin=2) for f in files)
    return x, y
