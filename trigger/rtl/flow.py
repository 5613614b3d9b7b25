"""The RTL flow of one model: graph -> da4ml Verilog -> Icarus simulation against the csim ->
yosys synth_xilinx -> models/<model>/rtl.json (its only output; trigger.report takes the figures
into metrics.json for the project whose graph it is).

Every figure here is measured on the twin (label `rtl`) except the timing, which is a
pre-route estimate (label `estimate`). A twin that is not bit-exact with the csim describes
some other circuit, so its figures are not used.
"""

import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from trigger.atomic import atomic_dir, write_json
from trigger.emulate import Emulator
from trigger.figures import RTL_REPORT, adder_levels
from trigger.firmware import FirmwareProject, Graph, project_dir, projects_root, read_test_vectors
from trigger.fixed import cast
from trigger.rtl import simulate, yosys
from trigger.rtl.ports import Bus, write_twin_wrapper
from trigger.rtl.twin import trace
from trigger.trained import Trained
from trigger.verify import compare, first_divergence


@dataclass
class Twin:
    graph: Graph
    depth: int  # register stages da4ml built
    inputs: Bus  # the L1 port map's buses (the HLS core's port types)
    outputs: Bus
    da4ml_lut: float  # da4ml's own cost model (an estimate)
    da4ml_ff: int


def build(graph: Graph, rtl_dir: Path, part: str, clock_ns: float) -> Twin:
    """Trace, pipeline and write the Verilog of `graph` into rtl_dir (src/, model/, metadata.json), behind the L1
    port map (src/<name>_rtl.v)."""
    from da4ml.codegen import VerilogModel

    levels = adder_levels(clock_ns)
    pipe = _pipeline(graph, levels)
    VerilogModel(pipe, graph.name, rtl_dir, latency_cutoff=levels, part_name=part, clock_period=clock_ns).write()
    ports = Bus.of_type(graph.input.result, graph.input.size), Bus.of_type(graph.output.result, graph.output.size)
    twin = Twin(graph, len(pipe.solutions), *ports, float(pipe.cost), int(pipe.reg_bits))
    write_twin_wrapper(rtl_dir, graph.name, twin.depth, *ports, Bus.of(pipe.inp_qint), Bus.of(pipe.out_qint))
    return twin


def _pipeline(graph: Graph, levels: int):
    from da4ml.trace import to_pipeline

    return to_pipeline(trace(graph, levels), levels, verbose=False)


def da4ml_cost(graph: Graph, clock_ns: float) -> dict[str, dict]:
    """What the twin would cost, without writing or simulating it: da4ml's LUT model and register bits, and the
    latency of its pipeline depth at the clock (the simulated twins have latency = depth). Labelled `estimate`
    (method da4ml): the committed rtl.json files put da4ml's LUTs within 1-5% of yosys."""
    levels = adder_levels(clock_ns)
    pipe = _pipeline(graph, levels)
    depth = len(pipe.solutions)
    values = {"latency_ns": round(depth * clock_ns, 3), "latency_cycles": depth, "ii_cycles": 1, "dsp": 0,
              "lut": round(float(pipe.cost)), "ff": int(pipe.reg_bits), "bram": 0}
    out = {k: {"value": v, "source": "estimate", "method": "da4ml"} for k, v in values.items()}
    for key in ("dsp", "bram"):  # not counted but structural: da4ml writes shift-and-add logic only
        out[key]["note"] = ("0 by construction: da4ml emits adders and registers only; yosys may still map a large "
                            "constant table to memory, which only the rtl figure shows")
    return out


def check(twin: Twin, rtl_dir: Path, x: np.ndarray, reference: np.ndarray, reference_layers=None) -> dict:
    """Simulate the twin on `x` and hold it against `reference` (the csim outputs), 0 LSB.

    `reference_layers(x)` (optional) gives the reference's per-layer outputs; on a mismatch
    it names the first layer where the twin's graph and the reference part."""
    x = cast(x, twin.graph.input.result)
    wave = simulate.run(rtl_dir, twin.graph.name, x, twin.inputs, twin.outputs, twin.depth + simulate.SLACK_CYCLES)
    timing = simulate.measure(wave, reference, twin.outputs, twin.graph.output.result.lsb)
    result = {
        "events": timing.events,
        "mismatches": timing.mismatches,
        "exact_fraction": 1.0 - timing.bad_events / timing.events,
        "first_mismatch": timing.first_mismatch,
        "first_diverging_layer": None,
        "latency_cycles": timing.latency_cycles,
        "valid_latency_cycles": timing.valid_latency_cycles,
        "ii_cycles": timing.ii_cycles,
        "pipeline_depth": twin.depth,
    }
    if timing.mismatches and reference_layers is not None:
        event = timing.first_mismatch["event"]
        result["first_diverging_layer"] = diverging_layer(twin.graph, x[event:event + 1], reference_layers)
    return result


def diverging_layer(graph: Graph, x: np.ndarray, reference_layers) -> dict | None:
    """First layer (firmware order) where the graph's emulation and the reference differ, in LSBs."""
    types = {step.name: step.result for step in graph.steps}
    layer, lsb = first_divergence(reference_layers(x), Emulator(graph).layers(x), types)
    return None if layer is None else {"layer": layer, "lsb_diff": lsb}


def run(trained: Trained, backend: str | None = None, events: int | None = None, log=print) -> dict:
    """The whole flow for a model that `trigger synth` has verified; writes rtl.json. The returned
    report has no figures when the twin is not bit-exact."""
    spec, fw = trained.spec, trained.spec.firmware
    backend = backend or fw.backends[0]
    x, csim = read_test_vectors(project_dir(spec, backend), spec.name)
    if events:
        x, csim = x[:events], csim[:events]
    levels = adder_levels(fw.clock_period_ns)
    t0 = time.time()
    with FirmwareProject.scratch(lambda d: FirmwareProject.of(trained, backend, d)) as project:
        graph = project.graph
        agreement, _ = compare(csim, Emulator(graph)(x), graph.output.result)
        emulator = {"events": agreement.events, "exact_fraction": agreement.exact_fraction,
                    "max_lsb_diff": agreement.max_lsb_diff}
        log(f"  emulator vs csim: {_verdict(emulator['exact_fraction'], len(x))}")
        with atomic_dir(projects_root() / spec.name / "rtl") as rtl_dir:
            twin = build(graph, rtl_dir, fw.part, fw.clock_period_ns)
            log(f"  da4ml: {twin.depth} pipeline stages at {levels} adder levels/stage; "
                f"simulating {len(x)} events with Icarus ...")
            sim = check(twin, rtl_dir, x, csim, project.trace)
            log(f"  RTL vs csim: {_verdict(sim['exact_fraction'], len(x))}, latency {sim['latency_cycles']} cycles "
                f"(valid {sim['valid_latency_cycles']}), II {sim['ii_cycles']}")
            log("  yosys synth_xilinx ...")
            synth = yosys.synthesize(rtl_dir, f"{spec.name}_rtl", fw.part)
    report = {"model": spec.name, "graph_sha256": graph.fingerprint(), "csim_backend": backend, "part": fw.part,
              "clock_period_ns": fw.clock_period_ns, "levels_per_stage": levels, "tools": tool_versions(),
              "emulator": emulator, "simulation": sim, "synthesis": synth,
              "timing": timing_estimate(synth["path"], fw.clock_period_ns),
              "da4ml_estimate": {"lut": twin.da4ml_lut, "ff": twin.da4ml_ff, "source": "estimate"},
              "figures": figures(sim, synth, fw.clock_period_ns)}
    write_json(spec.model_dir / RTL_REPORT, report)
    log(f"  -> {spec.model_dir / RTL_REPORT} ({time.time() - t0:.0f} s)")
    return report


def _verdict(fraction: float, events: int) -> str:
    return f"{'PASS' if fraction == 1.0 else 'FAIL'}: {fraction * events:.0f}/{events} events bit-exact"


def tool_versions() -> dict:
    def first_line(cmd: list[str]) -> str:
        out = subprocess.run(cmd, capture_output=True, text=True)
        return (out.stdout or out.stderr).strip().splitlines()[0]

    iverilog, _ = simulate.require_iverilog()
    return {"da4ml": metadata.version("da4ml"), "iverilog": first_line([iverilog, "-V"]).split(" (")[0],
            "yosys": yosys.version()}


def timing_estimate(path: dict, clock_ns: float) -> dict:
    return {
        "source": "estimate",
        "critical_path_ns": path["delay_ns"],
        "fmax_mhz": round(1000.0 / path["delay_ns"], 1) if path["delay_ns"] else None,
        "clock_period_ns": clock_ns,
        "meets_clock": path["delay_ns"] <= clock_ns,
        "method": f"yosys ltp longest register-to-register path: {path['logic_cells']} LUT/MUX cells x "
                  f"{yosys.LUT_NS} ns + {path['carry_hops']} carry hops x {yosys.CARRY_NS} ns; no place and route",
    }


def figures(sim: dict, synth: dict, clock_ns: float) -> dict:
    """The budget quantities measured on the twin, or nothing when the twin is not bit-exact."""
    if sim["exact_fraction"] != 1.0 or sim["latency_cycles"] is None:
        return {}
    values = {
        "latency_cycles": sim["latency_cycles"],
        "latency_ns": round(sim["latency_cycles"] * clock_ns, 3),
        "ii_cycles": sim["ii_cycles"],
        **{k: synth[k] for k in ("lut", "ff", "dsp", "bram")},
    }
    return {k: {"value": v, "source": "rtl"} for k, v in values.items()}
