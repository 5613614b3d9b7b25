"""The converted hls4ml model as a fixed-point dataflow graph, with ap_fixed semantics.

One graph, two interpreters: trigger.emulate (vectorised numpy) and trigger.rtl.twin (da4ml
tracing, which becomes Verilog). Both must compute exactly what the hls4ml C simulation computes, so the
graph keeps every detail that decides a bit:
- each layer's result type with its rounding (TRN, RND, RND_CONV) and overflow (WRAP, SAT,
  SAT_SYM) modes;
- Dense as hls4ml's dense_latency does it: every product cast to accum_t, the bias cast to
  accum_t, the sum in accum_t (modular, so the order does not matter), then a cast to the
  result type;
- weights and biases cast to weight_t / bias_t, as the C++ headers do;
- HGQ2's heterogeneous quantizer (hls4ml's FixedPointQuantizer) as its generated C++ does it:
  element j assigned to its own ap_(u)fixed<b_j, i_j, RND, SAT>, or 0 where b_j = 0, then to the
  layer's result type.
Anything else (another layer class, a saturating accumulator, an unsupported mode) is a
one-line error naming the layer, never a silent approximation.
"""

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from trigger.errors import TriggerError
from trigger.fixed import FixedType, cast

EXACT_BITS = 53  # float64 holds every integer below 2^53 exactly: the emulator's working range


def fixed_type(precision, where: str) -> FixedType:
    """The type of an hls4ml precision, if the graph can reproduce it bit for bit; else a one-line error."""
    if getattr(precision, "saturation_bits", 0):
        raise TriggerError(f"layer '{where}': saturation bits are not supported by the RTL twin")
    return FixedType.of(precision).check_modes(where)


@dataclass(frozen=True)
class Span:
    """What is statically known of a value before a cast: its range and its grid (fraction bits)."""

    lo: float = -math.inf
    hi: float = math.inf
    frac: float = math.inf

    def fits(self, fmt: FixedType) -> bool:
        return self.lo >= fmt.lo and self.hi <= fmt.hi

    def needs(self, fmt: FixedType) -> tuple[bool, bool]:
        """Whether casting such a value onto `fmt` can round, and can overflow (fixed.cast's flags)."""
        return self.frac > fmt.frac, not self.fits(fmt)


@dataclass
class Step:
    """One layer: `op` in input | dense | relu | linear | subtract | multiply | quantize."""

    name: str
    op: str
    inputs: tuple[str, ...]
    result: FixedType
    size: int
    accum: FixedType | None = None
    weight: np.ndarray | None = None  # (n_in, n_out), values on the weight_t grid
    bias: np.ndarray | None = None  # (n_out,), values on the accum_t grid
    exact_products: bool = True  # every product already on the accum_t grid (no per-product truncation)
    meta: dict = field(default_factory=dict)
    known: Span = Span()  # the value before the result cast (set by annotate)
    acc_known: Span = Span()  # a Dense sum before the accum_t cast


@dataclass
class Graph:
    name: str
    steps: list[Step]

    @property
    def input(self) -> Step:
        return self.steps[0]

    @property
    def output(self) -> Step:
        return self.steps[-1]

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def fingerprint(self) -> str:
        """sha256 of everything that decides a bit: ops, wiring, formats, weights, biases."""
        h = hashlib.sha256()
        for s in self.steps:
            accum = s.accum.spelled if s.accum else None
            h.update(f"{s.name}|{s.op}|{s.inputs}|{s.result.spelled}|{accum}|{s.size}".encode())
            for array in (s.weight, s.bias):
                if array is not None:
                    h.update(np.ascontiguousarray(array, np.float64).tobytes())
            if s.op == "quantize":
                h.update("|".join("0" if t is None else t.spelled for t in s.meta["element_types"]).encode())
        return h.hexdigest()


def from_hls(hls_model, name: str) -> Graph:
    """Read the converted (optimised, type-inferred) hls4ml ModelGraph into a Graph."""
    if hls_model.config.get_config_value("IOType") != "io_parallel":
        raise TriggerError(f"{name}: the RTL twin supports io_parallel models only")
    steps: list[Step] = []
    known: dict[str, Step] = {}
    for layer in hls_model.get_layers():
        op = _op(layer)
        inputs = tuple(layer.inputs) if op != "input" else ()
        if any(i not in known for i in inputs):
            raise TriggerError(f"layer '{layer.name}': input {list(inputs)} is not an earlier layer")
        out = layer.get_output_variable()
        result = fixed_type(out.type.precision, layer.name)
        size = int(np.prod(out.shape))
        if op == "dense":
            step = _dense(layer, known[inputs[0]], result, size)
        elif op == "quantize":
            step = _quantize(layer, known[inputs[0]], result)
        else:
            step = Step(layer.name, op, inputs, result, size)
        steps.append(step)
        known[layer.name] = step
    graph = annotate(Graph(name, steps))
    _check_exact_range(graph)
    return graph


def annotate(graph: Graph) -> Graph:
    """Interval analysis: the range and grid of every value before each cast, so that casts
    that cannot round or overflow are skipped (by the emulator; da4ml does the same itself)."""
    out: dict[str, Span] = {}
    for s in graph.steps:
        args = [out[i] for i in s.inputs]
        if s.op == "input":
            s.known = Span()
        elif s.op == "dense":
            a = args[0]
            low = np.minimum(s.weight * a.lo, s.weight * a.hi).sum(axis=0) + s.bias
            high = np.maximum(s.weight * a.lo, s.weight * a.hi).sum(axis=0) + s.bias
            s.acc_known = Span(float(low.min()), float(high.max()), s.accum.frac)
            s.known = _after(s.acc_known, s.accum)
        elif s.op == "relu":
            s.known = Span(max(args[0].lo, 0.0), max(args[0].hi, 0.0), args[0].frac)
        elif s.op == "linear":
            s.known = args[0]
        elif s.op == "subtract":
            a, b = args
            s.known = Span(a.lo - b.hi, a.hi - b.lo, max(a.frac, b.frac))
        elif s.op == "quantize":  # the union of what each element's own cast can give
            spans = [Span(0.0, 0.0, 0) if t is None else _after(args[0], t) for t in set(s.meta["element_types"])]
            s.known = Span(min(p.lo for p in spans), max(p.hi for p in spans), max(p.frac for p in spans))
        else:  # multiply
            a, b = args
            corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
            s.known = Span(min(corners), max(corners), a.frac + b.frac)
        out[s.name] = _after(s.known, s.result)
    return graph


def _after(known: Span, fmt: FixedType) -> Span:
    """The span of cast(value, fmt): rounding moves a value by less than one LSB, within range."""
    if known.fits(fmt):
        return Span(known.lo - fmt.lsb * (known.frac > fmt.frac), known.hi + fmt.lsb * (known.frac > fmt.frac),
                    min(known.frac, fmt.frac))
    if fmt.overflow == "WRAP":
        return Span(fmt.lo, fmt.hi, fmt.frac)
    return Span(max(fmt.lo, known.lo - fmt.lsb), min(fmt.hi, known.hi + fmt.lsb), fmt.frac)


def _op(layer) -> str:
    kind, activation, merge = layer.class_name, layer.get_attr("activation"), layer.get_attr("op")
    if kind == "Input":
        return "input"
    if kind == "Dense":
        return "dense"
    if kind in ("Activation", "ReLU") and activation in ("relu", "linear"):
        return activation
    if kind == "Merge" and merge in ("subtract", "multiply"):
        return merge
    if kind == "FixedPointQuantizer":
        return "quantize"
    what = " ".join(filter(None, (kind, activation or merge)))
    raise TriggerError(f"layer '{layer.name}' ({what}) has no RTL-twin equivalent; "
                       "supported: Dense, ReLU/linear Activation, Merge subtract/multiply, FixedPointQuantizer (HGQ2)")


def _dense(layer, source: Step, result: FixedType, size: int) -> Step:
    accum = fixed_type(layer.get_attr("accum_t").precision, layer.name)
    if accum.overflow != "WRAP":
        raise TriggerError(f"layer '{layer.name}': a saturating accumulator ({accum}) depends on the summation "
                           "order; the RTL twin needs a wrapping accum_t")
    weight_t = fixed_type(layer.weights["weight"].type.precision, f"{layer.name} weights")
    bias_t = fixed_type(layer.weights["bias"].type.precision, f"{layer.name} biases")
    n_in = int(layer.get_attr("n_in"))
    weight = cast(np.asarray(layer.weights["weight"].data, np.float64).reshape(n_in, size), weight_t)
    bias = cast(cast(np.asarray(layer.weights["bias"].data, np.float64).reshape(size), bias_t), accum)
    return Step(layer.name, "dense", (source.name,), result, size, accum, weight, bias,
                _products_exact(weight, source.result.frac, accum),
                {"weight_lsb": weight_t.lsb, "input_frac": source.result.frac})


def element_types(layer) -> tuple[FixedType | None, ...]:
    """HGQ2's quantizer (hls4ml's FixedPointQuantizer): one type per element from hls4ml's (k, b, i) masks and the
    layer's modes (None: b = 0, the element is 0), exactly as hls4ml's generate_mask_fn spells them in C++."""
    shape = layer.get_input_variable().shape
    k, b, i = (np.broadcast_to(np.asarray(m)[0], shape).ravel() for m in layer.mask_kbi)
    return tuple(None if bits == 0 else
                 FixedType(int(bits), int(integer), bool(sign), str(layer.RND), str(layer.SAT)).check_modes(layer.name)
                 for sign, bits, integer in zip(k, b, i))


def _quantize(layer, source: Step, result: FixedType) -> Step:
    return quantize_step(layer.name, source.name, result, element_types(layer))


def quantize_step(name: str, source: str, result: FixedType, types: tuple[FixedType | None, ...]) -> Step:
    """A quantize step: element j cast to types[j] (None: 0), then to `result`. Its elements are also kept grouped
    by type (meta 'groups', in a fixed order), so the emulator casts each group at once."""
    distinct = sorted(set(types), key=lambda t: "" if t is None else t.spelled)
    groups = [(t, np.array([j for j, u in enumerate(types) if u == t])) for t in distinct]
    return Step(name, "quantize", (source,), result, len(types), meta={"element_types": tuple(types), "groups": groups})


def _products_exact(weight: np.ndarray, input_frac: int, accum: FixedType) -> bool:
    """True when x*w lies on accum_t's grid for every x on the input grid, i.e. the per-product
    cast to accum_t only wraps (which the final modular sum already does)."""
    return bool(np.all(np.mod(weight * 2.0 ** (accum.frac - input_frac), 1.0) == 0))


def _check_exact_range(graph: Graph) -> None:
    """Every intermediate of the emulator must stay below 2^53 in units of its LSB."""
    for s in graph.steps:
        bits = [s.result.width + 1]
        if s.op == "dense":
            src = graph.step(s.inputs[0]).result
            span = max(abs(src.lo), abs(src.hi)) * np.abs(s.weight).sum(axis=0).max() + np.abs(s.bias).max()
            lsb = min(src.lsb * s.meta["weight_lsb"], s.accum.lsb)
            bits.append(math.ceil(math.log2(span / lsb + 1)) + 1)
        if s.op == "multiply":
            a, b = (graph.step(i).result for i in s.inputs)
            bits.append(a.width + b.width)
        if max(bits) >= EXACT_BITS:
            raise TriggerError(f"layer '{s.name}': needs {max(bits)} bits, beyond the emulator's exact float64 range")
