"""Bit-exact, vectorised numpy emulation of the converted model (the same Graph the RTL twin is).

Values are real numbers held in float64; every one of them is an integer multiple of its
layer's LSB below 2^53, so each add, product and power-of-two scaling is exact (graph.py
checks the bound), and a Dense layer is one BLAS matrix product. Events go through in
blocks whose buffers are reused, so memory stays hot and bounded for any sample size.
This is what makes 10^6-event rate studies cheap; the hls4ml csim stays the reference of record.
"""

import numpy as np

from trigger.fixed import cast
from trigger.firmware import Graph

CHUNK = 2048  # events per block: small enough to stay in cache


class Emulator:
    def __init__(self, graph: Graph):
        self.graph = graph
        self._buffers: dict[str, np.ndarray] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Firmware outputs (events x outputs) for float inputs (events x inputs)."""
        x = self._check(x)
        out = np.empty((len(x), self.graph.output.size))
        for start in range(0, len(x), CHUNK):
            block = x[start:start + CHUNK]
            out[start:start + len(block)] = self._run(block, self._buffers_for(len(block)))[self.graph.output.name]
        return out

    def layers(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every layer's output, in firmware order (fresh arrays; for diagnosis)."""
        x = self._check(x)
        return self._run(x, {s.name: np.empty((len(x), s.size)) for s in self.graph.steps})

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        if x.shape[1] != self.graph.input.size:
            raise ValueError(f"{self.graph.name}: {x.shape[1]} input features, the firmware takes {self.graph.input.size}")
        return x

    def _buffers_for(self, n: int) -> dict[str, np.ndarray]:
        if not self._buffers or len(next(iter(self._buffers.values()))) < n:
            self._buffers = {s.name: np.empty((max(n, CHUNK), s.size)) for s in self.graph.steps}
        return {k: v[:n] for k, v in self._buffers.items()}

    def _run(self, x: np.ndarray, buffers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for step in self.graph.steps:
            out = buffers[step.name]
            args = [buffers[i] for i in step.inputs]
            if step.op == "input":
                np.copyto(out, x)
            elif step.op == "dense":
                if step.exact_products:
                    np.matmul(args[0], step.weight, out=out)
                else:  # hls4ml casts each product to accum_t (truncating) before it is summed
                    products = np.floor(args[0][:, :, None] * step.weight[None] * 2.0**step.accum.frac)
                    np.multiply(products.sum(axis=1), step.accum.lsb, out=out)
                out += step.bias
                cast(out, step.accum, *step.acc_known.needs(step.accum), out=out)
            elif step.op == "relu":
                np.maximum(args[0], 0.0, out=out)
            elif step.op == "linear":
                np.copyto(out, args[0])
            elif step.op == "subtract":
                np.subtract(args[0], args[1], out=out)
            elif step.op == "quantize":
                for fmt, idx in step.meta["groups"]:
                    out[:, idx] = 0.0 if fmt is None else cast(args[0][:, idx], fmt)
            else:  # multiply
                np.multiply(args[0], args[1], out=out)
            cast(out, step.result, *step.known.needs(step.result), out=out)
        return buffers
