"""Latency/resource figures with their source, and the budget gate.

Sources, best first: `vivado` (parsed csynth report), `rtl` (the RTL twin, trigger/rtl),
`estimate` (the analytic model below). A number never loses its label.

The estimate (io_parallel; documented so a firmware engineer can redo it by hand):
- A weight that is 0 costs nothing; +-2^k is a wire shift; any other weight is a multiplier.
- A multiplier goes to a DSP when both operands are >= 10 bits (HLS maps narrower constant
  products to LUTs), else it is shift-and-add in LUTs: (CSD digits of the weight - 1)
  adders of (input + weight) bits. With ReuseFactor R > 1 the weights are no longer
  constants: ceil(multipliers / R) generic multipliers of input*weight/2 LUTs each.
- Adder tree per neuron: (terms - 1) adders, one LUT per bit; a balanced tree's adders are
  on average ~2 bits wider than a product, so width = min(input + weight bits + 2, accumulator).
- ReLU: one LUT per output bit per neuron; a linear activation is wiring (free).
- Merge (the anomaly score): add/subtract one LUT per output bit; an elementwise product
  is a DSP when both operands are >= 10 bits, else input*input/2 LUTs; 1 cycle each.
- Latency per Dense layer: 1 cycle for products, then ceil(log2(terms) / L) cycles for the
  adder tree, L = max(1, floor(clock / 1.5 ns)) adder levels per cycle; + (R - 1) cycles.
  Each activation and merge: 1 cycle. II = R.
- FF: each layer's output register, once per pipeline cycle of that layer.
- BRAM: 0 (io_parallel keeps weights in fabric); DSP as above.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import yaml

from trigger.errors import TriggerError
from trigger.fixed import FixedType

QUANTITIES = ("latency_ns", "latency_cycles", "ii_cycles", "dsp", "lut", "ff", "bram")
SOURCE_RANK = {"vivado": 0, "rtl": 1, "estimate": 2}
ADDER_NS = 1.5
DSP_MIN_BITS = 10


def csd_digits(value: int) -> int:
    """Non-zero digits of the canonical signed-digit form of an integer."""
    value, digits = abs(int(value)), 0
    while value:
        if value & 1:
            digits += 1
            value = value - 1 if (value & 3) == 1 else value + 1
        value >>= 1
    return digits


def estimate(hls_model, clock_ns: float, reuse_factor: int) -> dict[str, dict]:
    levels_per_cycle = max(1, math.floor(clock_ns / ADDER_NS))
    cycles = lut = ff = dsp = 0
    for layer in hls_model.get_layers():
        out_type = FixedType.of(layer.get_output_variable().type.precision)
        n_out = int(np.prod(layer.get_output_variable().shape))
        if layer.class_name == "Dense":
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
                dsp += math.ceil(multipliers / reuse_factor)
            elif reuse_factor > 1:
                lut += math.ceil(multipliers / reuse_factor) * (a_type.width * w_type.width // 2)
            else:
                lut += int(((digits[digits > 1] - 1) * (a_type.width + w_type.width)).sum())
            adder_bits = min(a_type.width + w_type.width + 2, acc_bits)
            lut += int(np.maximum(terms - 1, 0).sum()) * adder_bits
            depth = math.ceil(math.log2(max(int(terms.max(initial=1)), 1))) if terms.max(initial=0) > 1 else 0
            layer_cycles = 1 + math.ceil(depth / levels_per_cycle) + (reuse_factor - 1)
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
    figures = {
        "latency_cycles": cycles, "latency_ns": round(cycles * clock_ns, 3), "ii_cycles": reuse_factor,
        "dsp": dsp, "lut": lut, "ff": ff, "bram": 0,
    }
    return {k: {"value": v, "source": "estimate"} for k, v in figures.items()}


def vivado_figures(report: Path) -> dict[str, dict]:
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
    figures = {
        "latency_cycles": cycles,
        "latency_ns": round(cycles * clock, 3),
        "ii_cycles": int(perf.findtext("Interval-max")),
        "dsp": res("DSP", "DSP48E"),
        "lut": res("LUT"),
        "ff": res("FF"),
        "bram": res("BRAM_18K"),
    }
    return {k: {"value": v, "source": "vivado"} for k, v in figures.items()}


def best(*candidates: dict[str, dict]) -> dict[str, dict]:
    """Per quantity, the figure from the most trustworthy source available."""
    out: dict[str, dict] = {}
    for figures in candidates:
        for name, fig in figures.items():
            if name not in out or SOURCE_RANK[fig["source"]] < SOURCE_RANK[out[name]["source"]]:
                out[name] = fig
    return out


def load_budget(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise TriggerError(f"{path}: budget file missing; add one with limits for {', '.join(QUANTITIES)}")
    raw = yaml.safe_load(path.read_text()) or {}
    allowed = set(QUANTITIES) | {"max_metric_drop"}
    for key in raw:
        if key not in allowed:
            raise TriggerError(f"{path}: unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")
    for key, value in (raw.get("max_metric_drop") or {}).items():
        if not isinstance(value, (int, float)):
            raise TriggerError(f"{path}: 'max_metric_drop.{key}' must be a number")
    return raw


def evaluate(figures: dict[str, dict], metric_drops: dict[str, float], limits: dict) -> dict:
    """Every limited quantity with value, limit and source; pass only if all are within limits."""
    result: dict = {}
    ok = True
    for name in QUANTITIES:
        if name not in limits or limits[name] is None:
            continue
        if name not in figures:
            raise TriggerError(f"budget: no figure for '{name}'")
        fig = figures[name]
        within = fig["value"] <= limits[name]
        result[name] = {"value": fig["value"], "limit": limits[name], "source": fig["source"], "pass": within}
        ok &= within
    for name, limit in (limits.get("max_metric_drop") or {}).items():
        if name not in metric_drops:
            raise TriggerError(f"budget: max_metric_drop.{name} is not a metric of this task ({', '.join(metric_drops)})")
        value = round(float(metric_drops[name]), 6)
        within = value <= limit
        result[f"{name}_drop"] = {"value": value, "limit": limit, "source": "csim", "pass": within}
        ok &= within
    result["pass"] = bool(ok)
    return result


def failures(budget: dict) -> list[str]:
    return [
        f"{name} = {fig['value']} ({fig['source']}) > limit {fig['limit']}"
        for name, fig in budget.items()
        if isinstance(fig, dict) and not fig.get("pass", True)
    ]
