"""Latency and resource figures: every number is a value with its source, and this module owns them.

Sources, best first: `vivado` (a csynth report), `rtl` (the RTL twin's simulation and yosys
synthesis, models/<name>/rtl.json), `estimate` (the analytic model below). A figure never
loses its label, and figures are always listed in QUANTITIES order.

The estimate (io_parallel; documented so a firmware engineer can redo it by hand):
- A weight that is 0 costs nothing; +-2^k is a wire shift; any other weight is a multiplier.
- A multiplier goes to a DSP when both operands are >= 10 bits (HLS maps narrower constant
  products to LUTs), else it is shift-and-add in LUTs: (CSD digits of the weight - 1)
  adders of (input + weight) bits. With a layer's ReuseFactor R > 1 the weights are no longer
  constants: ceil(multipliers / R) generic multipliers of input*weight/2 LUTs each.
- Adder tree per neuron: (terms - 1) adders, one LUT per bit; a balanced tree's adders are
  on average ~2 bits wider than a product, so width = min(input + weight bits + 2, accumulator).
- ReLU: one LUT per output bit per neuron; a linear activation is wiring (free).
- Merge (the anomaly score): add/subtract one LUT per output bit; an elementwise product
  is a DSP when both operands are >= 10 bits, else input*input/2 LUTs; 1 cycle each.
- Latency per Dense layer: 1 cycle for products, then ceil(log2(terms) / L) cycles for the
  adder tree, L = adder_levels(clock) adder levels per cycle; + (R - 1) cycles.
  Each activation and merge: 1 cycle. II = the largest R.
- FF: each layer's output register, once per pipeline cycle of that layer.
- BRAM: 0 (io_parallel keeps weights in fabric); DSP as above.
"""

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from trigger.atomic import read_json
from trigger.fixed import FixedType

QUANTITIES = ("latency_cycles", "latency_ns", "ii_cycles", "dsp", "lut", "ff", "bram")
SOURCE_RANK = {"vivado": 0, "rtl": 1, "estimate": 2}
ADDER_NS = 1.5
DSP_MIN_BITS = 10
RTL_REPORT = "rtl.json"


def adder_levels(clock_ns: float) -> int:
    """Adder levels per register stage, for the estimate and for the RTL twin's pipelining alike."""
    return max(1, math.floor(clock_ns / ADDER_NS))


def labelled(values: dict, source: str) -> dict[str, dict]:
    """{quantity: {"value", "source"}} in QUANTITIES order (the stable key order of metrics.json)."""
    return {k: {"value": values[k], "source": source} for k in QUANTITIES if k in values}


def csd_digits(value: int) -> int:
    """Non-zero digits of the canonical signed-digit form of an integer."""
    value, digits = abs(int(value)), 0
    while value:
        if value & 1:
            digits += 1
            value = value - 1 if (value & 3) == 1 else value + 1
        value >>= 1
    return digits


def estimate(hls_model, clock_ns: float) -> dict[str, dict]:
    """The analytic estimate (module docstring) of a converted hls4ml model, reuse factors as configured."""
    levels_per_cycle = adder_levels(clock_ns)
    cycles = lut = ff = dsp = 0
    ii = 1
    for layer in hls_model.get_layers():
        out_type = FixedType.of(layer.get_output_variable().type.precision)
        n_out = int(np.prod(layer.get_output_variable().shape))
        if layer.class_name == "Dense":
            reuse = int(layer.get_attr("reuse_factor", 1))
            ii = max(ii, reuse)
            w_type = FixedType.of(layer.weights["weight"].type.precision)
            a_type = FixedType.of(layer.get_input_variable().type.precision)
            acc_bits = FixedType.of(layer.get_attr("accum_t").precision).width
            w = np.asarray(layer.weights["weight"].data, np.float64).reshape(-1, n_out)
            b = np.asarray(layer.weights["bias"].data, np.float64).reshape(-1)
            ints = np.round(w / w_type.lsb).astype(np.int64)
            digits = np.vectorize(csd_digits)(ints)
            multipliers = int((digits > 1).sum())
            terms = (ints != 0).sum(axis=0) + (b != 0)
            if a_type.width >= DSP_MIN_BITS and w_type.width >= DSP_MIN_BITS:
                dsp += math.ceil(multipliers / reuse)
            elif reuse > 1:
                lut += math.ceil(multipliers / reuse) * (a_type.width * w_type.width // 2)
            else:
                lut += int(((digits[digits > 1] - 1) * (a_type.width + w_type.width)).sum())
            adder_bits = min(a_type.width + w_type.width + 2, acc_bits)
            lut += int(np.maximum(terms - 1, 0).sum()) * adder_bits
            depth = math.ceil(math.log2(max(int(terms.max(initial=1)), 1))) if terms.max(initial=0) > 1 else 0
            layer_cycles = 1 + math.ceil(depth / levels_per_cycle) + (reuse - 1)
        elif layer.class_name in ("Activation", "ReLU"):
            if str(layer.get_attr("activation", "")).lower() == "linear":
                continue  # identity: wires
            lut += n_out * out_type.width
            layer_cycles = 1
        elif layer.class_name == "Merge":
            a, b = (FixedType.of(layer.get_input_variable(name).type.precision) for name in layer.inputs[:2])
            if layer.get_attr("op") == "multiply":
                if a.width >= DSP_MIN_BITS and b.width >= DSP_MIN_BITS:
                    dsp += n_out
                else:
                    lut += n_out * (a.width * b.width // 2)
            else:
                lut += n_out * out_type.width
            layer_cycles = 1
        else:
            continue
        cycles += layer_cycles
        ff += n_out * out_type.width * layer_cycles
    return labelled({"latency_cycles": cycles, "latency_ns": round(cycles * clock_ns, 3), "ii_cycles": ii,
                     "dsp": dsp, "lut": lut, "ff": ff, "bram": 0}, "estimate")


def vivado(report: Path) -> dict[str, dict]:
    """Latency, II and resources from a Vivado/Vitis HLS csynth.xml report."""
    root = ET.parse(report).getroot()
    perf = root.find("./PerformanceEstimates/SummaryOfOverallLatency")
    clock = float(root.findtext("./UserAssignments/TargetClockPeriod"))
    resources = root.find("./AreaEstimates/Resources")

    def res(*tags):
        for tag in tags:
            node = resources.find(tag)
            if node is not None:
                return int(node.text)
        return 0

    cycles = int(perf.findtext("Worst-caseLatency"))
    return labelled({"latency_cycles": cycles, "latency_ns": round(cycles * clock, 3),
                     "ii_cycles": int(perf.findtext("Interval-max")), "dsp": res("DSP", "DSP48E"), "lut": res("LUT"),
                     "ff": res("FF"), "bram": res("BRAM_18K")}, "vivado")


def load_rtl(model_dir: Path) -> dict | None:
    """models/<name>/rtl.json (written by `trigger rtl`), if the twin was built."""
    return read_json(Path(model_dir) / RTL_REPORT)


def rtl(report: dict | None, graph_sha256: str | None) -> dict[str, dict]:
    """The twin's figures if it was built from exactly this graph and is bit-exact (else none: a stale twin lends nothing)."""
    if report is None or graph_sha256 is None or report["graph_sha256"] != graph_sha256:
        return {}
    return labelled({k: v["value"] for k, v in report["figures"].items()}, "rtl")


def best(*candidates: dict[str, dict]) -> dict[str, dict]:
    """Per quantity, the figure from the most trustworthy source available, in QUANTITIES order."""
    out: dict[str, dict] = {}
    for figures in candidates:
        for name, fig in figures.items():
            if name not in out or SOURCE_RANK[fig["source"]] < SOURCE_RANK[out[name]["source"]]:
                out[name] = fig
    return {k: out[k] for k in QUANTITIES if k in out}
