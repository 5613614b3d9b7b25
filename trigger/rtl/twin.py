"""The RTL twin: the Graph traced with da4ml's fixed-point numpy arrays, pipelined, and written
as Verilog.

da4ml records every add, shift, compare and mux that the traced numpy code performs on
symbolic fixed-point values, optimises each constant matrix product into shift-and-add
adder graphs, and splits the result into register stages. The graph's casts are spelled
out in operations da4ml has (trigger.fixed.cast_traced). da4ml drops a cast that its
interval analysis proves idle.
"""

import math

import numpy as np

from trigger.errors import TriggerError
from trigger.fixed import cast_traced
from trigger.firmware import Graph, Step

# hls4ml's own da4ml setting: adder trees at most 2 levels deeper than the minimum
SOLVER = {"hard_dc": 2}


def trace(graph: Graph, latency_cutoff: float):
    """da4ml CombLogic of the graph (inputs in the graph's input format)."""
    from da4ml.trace import FixedVariableArray, HWConfig, comb_trace

    fmt = graph.input.result
    k, i, f = (np.full(graph.input.size, v) for v in fmt.kif)
    x = FixedVariableArray.from_kif(k, i, f, HWConfig(1, -1, latency_cutoff), solver_options=SOLVER)
    values = {graph.input.name: x}
    for step in graph.steps[1:]:
        values[step.name] = cast_traced(_evaluate(step, [values[n] for n in step.inputs]), step.result, step.known.frac)
    return comb_trace(x, values[graph.output.name])


def _quantize(step: Step, value):
    """Each element to its own type (trigger.fixed.cast_traced, element-wise), 0 where it has none."""
    types = step.meta["element_types"]
    used = [t for t in types if t is not None]
    rounding, overflow = used[0].rounding, used[0].overflow  # one pair per layer (hls4ml's RND, SAT)
    if rounding == "RND_CONV":
        raise TriggerError(f"layer '{step.name}': RND_CONV in a heterogeneous quantizer is not supported by the RTL twin")
    k, i, f = (np.array([0 if t is None else t.kif[n] for t in types]) for n in range(3))
    if rounding == "RND":  # floor(x + half an LSB), which leaves a value already on the grid where it is
        value = value + 2.0 ** (-f - 1.0)
    kept = np.array([t is not None for t in types], np.float64)
    return value.quantize(k, i, f, overflow, "TRN") * kept


def _evaluate(step: Step, args: list):
    if step.op == "dense":
        (a,) = args
        if step.exact_products:
            acc = a @ step.weight
        else:  # hls4ml casts each product to accum_t (truncating) before it is summed
            k, i, f = step.accum.kif
            acc = np.sum((a[:, None] * step.weight).quantize(k, i, f, "WRAP", "TRN"), axis=0)
        return cast_traced(acc + step.bias, step.accum, step.acc_known.frac)
    if step.op == "relu":
        return args[0].relu()
    if step.op == "linear":
        return args[0]
    if step.op == "subtract":
        return args[0] - args[1]
    if step.op == "quantize":
        return _quantize(step, args[0])
    if step.inputs[0] == step.inputs[1]:  # a square: one exact lookup table per element, shallow enough to pipeline
        k, i, f = 0, max(0, math.ceil(math.log2(step.known.hi + 2.0**-step.known.frac))), int(step.known.frac)
        return args[0].apply(np.square).quantize(k, i, f)
    return args[0] * args[1]  # multiply
