"""The RTL flow of one model: graph -> da4ml Verilog -> Icarus simulation against the csim ->
yosys synth_xilinx -> models/<model>/rtl.json, whose figures then enter metrics.json.

Every figure here is measured on the twin (label `rtl`) except the timing, which is a
pre-route estimate (label `estimate`). A twin that is not bit-exact with the csim describes
some other circuit, so its figures are not used.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from trigger import budget as budget_mod
from trigger.atomic import atomic_dir, write_text
from trigger.errors import TriggerError
from trigger.rtl import simulate, yosys
from trigger.rtl.emulator import Emulator
from trigger.rtl.graph import Graph, cast
from trigger.rtl.twin import trace
from trigger.verify.compare import compare, first_divergence

REPORT = "rtl.json"


def levels_per_stage(clock_ns: float) -> int:
    """Adder levels per register stage: the same 1.5 ns per adder level the estimate assumes."""
    return max(1, math.floor(clock_ns / budget_mod.ADDER_NS))


@dataclass
class Twin:
    graph: Graph
    depth: int  # register stages da4ml built
    inputs: simulate.Bus
    outputs: simulate.Bus
    da4ml_lut: float  # da4ml's own cost model (an estimate)
    da4ml_ff: int


def build(graph: Graph, rtl_dir: Path, part: str, clock_ns: float) -> Twin:
    """Trace, pipeline and write the Verilog of `graph` into rtl_dir (src/, model/, metadata.json)."""
    from da4ml.codegen import VerilogModel
    from da4ml.trace import to_pipeline

    levels = levels_per_stage(clock_ns)
    pipe = to_pipeline(trace(graph, levels), levels, verbose=False)
    VerilogModel(pipe, graph.name, rtl_dir, latency_cutoff=levels, part_name=part, clock_period=clock_ns).write()
    twin = Twin(graph, len(pipe.solutions), simulate.Bus.of(pipe.inp_qint), simulate.Bus.of(pipe.out_qint),
                float(pipe.cost), int(pipe.reg_bits))
    simulate.write_top(rtl_dir, graph.name, twin.depth, twin.inputs, twin.outputs)
    return twin


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


def run(spec, backend: str | None = None, events: int | None = None, log=print) -> dict:
    """The whole flow for a model that `trigger synth` has verified; writes rtl.json and updates
    metrics.json. The returned report has no figures when the twin is not bit-exact."""
    from trigger.firmware import project_dir, projects_root
    from trigger.verify.harness import load_metrics

    backend = backend or spec.firmware.backends[0]
    x, csim = csim_vectors(project_dir(spec, backend), spec.name)
    if events:
        x, csim = x[:events], csim[:events]
    fw = spec.firmware
    levels = levels_per_stage(fw.clock_period_ns)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix=f"rtl-{spec.name}-") as scratch:
        hls_model, graph = converted_graph(spec, backend, Path(scratch))
        agreement, _ = compare(csim, Emulator(graph)(x), graph.output.result)
        emulator = {"events": agreement.events, "exact_fraction": agreement.exact_fraction,
                    "max_lsb_diff": agreement.max_lsb_diff}
        log(f"  emulator vs csim: {_verdict(emulator['exact_fraction'], len(x))}")
        with atomic_dir(projects_root() / spec.name / "rtl") as rtl_dir:
            twin = build(graph, rtl_dir, fw.part, fw.clock_period_ns)
            log(f"  da4ml: {twin.depth} pipeline stages at {levels} adder levels/stage; "
                f"simulating {len(x)} events with Icarus ...")
            sim = check(twin, rtl_dir, x, csim, lambda xs: csim_layers(hls_model, xs))
            log(f"  RTL vs csim: {_verdict(sim['exact_fraction'], len(x))}, latency {sim['latency_cycles']} cycles "
                f"(valid {sim['valid_latency_cycles']}), II {sim['ii_cycles']}")
            log("  yosys synth_xilinx ...")
            synth = yosys.synthesize(rtl_dir, f"{spec.name}_rtl", fw.part)
    report = {
        "model": spec.name,
        "graph_sha256": graph.fingerprint(),
        "csim_backend": backend,
        "part": fw.part,
        "clock_period_ns": fw.clock_period_ns,
        "levels_per_stage": levels,
        "tools": tool_versions(),
        "emulator": emulator,
        "simulation": sim,
        "synthesis": synth,
        "timing": timing_estimate(synth["path"], fw.clock_period_ns),
        "da4ml_estimate": {"lut": twin.da4ml_lut, "ff": twin.da4ml_ff, "source": "estimate"},
        "figures": figures(sim, synth, fw.clock_period_ns),
    }
    write_text(spec.model_dir / REPORT, json.dumps(report, indent=1) + "\n")
    metrics = load_metrics(spec.model_dir)
    apply(metrics, report, budget_mod.load_budget(spec.model_dir / "budget.yml"))
    write_text(spec.model_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    log(f"  -> {spec.model_dir / REPORT} ({time.time() - t0:.0f} s)")
    return report


def _verdict(fraction: float, events: int) -> str:
    return f"{'PASS' if fraction == 1.0 else 'FAIL'}: {fraction * events:.0f}/{events} events bit-exact"


def csim_vectors(project: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    tb = project / "tb_data"
    files = [tb / "tb_input_features.dat", tb / "tb_output_predictions.dat"]
    if not all(f.is_file() for f in files):
        raise TriggerError(f"{tb}: no csim test vectors; run `trigger synth {name}` (or `make synth`) first")
    x, y = (np.loadtxt(f, ndmin=2) for f in files)
    return x, y


def converted_graph(spec, backend: str, directory: Path):
    """The converted hls4ml model (the same configuration `trigger synth` used, written to
    `directory` only if compiled) and its Graph."""
    from trigger import score_weights
    from trigger.data.reader import feature_names
    from trigger.firmware import convert
    from trigger.models import firmware_model, load_model
    from trigger.rtl.graph import from_hls
    from trigger.train import TRAINED

    trained = spec.model_dir / TRAINED
    weights = score_weights.load_pair(spec, trained, feature_names(spec.data.features))
    firmware = firmware_model(spec, load_model(trained, "model"), weights["quantized"])
    hls_model = convert(spec, firmware, backend, directory)
    return hls_model, from_hls(hls_model, spec.name)


def csim_layers(hls_model, x: np.ndarray) -> dict:
    hls_model.compile()
    _, layers = hls_model.trace(np.ascontiguousarray(x))
    return layers


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


def apply(metrics: dict, report: dict | None, limits: dict) -> None:
    """Put the twin's figures into metrics.json: every backend whose graph is the twin's gets
    best(its own figures, rtl) and a re-evaluated budget; `metrics["rtl"]` summarises the twin."""
    for b in metrics["backends"].values():
        own = {k: v for k, v in b["figures"].items() if v["source"] != "rtl"}
        b["figures"] = budget_mod.best(own, figures_for(report, b.get("graph_sha256")))
        b["budget"] = budget_mod.evaluate(b["figures"], b["metric_drops"], limits)
    primary = metrics["backends"][metrics["csim"]["backend"]]
    metrics["budget"] = primary["budget"]
    if not figures_for(report, primary.get("graph_sha256")):
        metrics.pop("rtl", None)
        return
    estimate = primary["estimate"]
    metrics["rtl"] = {
        "source": "rtl",
        "report": f"models/{report['model']}/{REPORT}",
        "tools": report["tools"],
        "bit_exact_vs_csim": report["simulation"]["exact_fraction"] == 1.0,
        "events": report["simulation"]["events"],
        "pipeline_depth": report["simulation"]["pipeline_depth"],
        "figures": report["figures"],
        "carry": report["synthesis"]["carry"],
        "timing": report["timing"],
        "estimate_over_rtl": {k: round(estimate[k]["value"] / f["value"], 3)
                              for k, f in report["figures"].items() if k in estimate and f["value"]},
    }


def figures_for(report: dict | None, graph_sha256: str | None) -> dict:
    """The twin's figures if it was built from exactly this graph (else a stale twin: none)."""
    if report is None or graph_sha256 is None or report["graph_sha256"] != graph_sha256:
        return {}
    return report["figures"]


def load_report(model_dir: Path) -> dict | None:
    path = Path(model_dir) / REPORT
    return json.loads(path.read_text()) if path.is_file() else None
