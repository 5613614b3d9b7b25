"""`make bench`: the numpy emulator against hls4ml's compiled csim predict(), side by side on
the same events, in one run. Times are wall clock on this machine (best of several runs,
after one warm-up), so the ratio, not the absolute numbers, is what carries over."""

import time

import numpy as np

from trigger.emulate import Emulator
from trigger.firmware import FirmwareProject, project_dir, read_test_vectors
from trigger.trained import Trained

CSIM_RUNS, EMULATOR_RUNS = 2, 5


def bench(trained: Trained, events: int, log=print) -> dict:
    backend = trained.spec.firmware.backends[0]
    x, _ = read_test_vectors(project_dir(trained.spec, backend), trained.spec.name)
    x = np.ascontiguousarray(np.resize(x, (events, x.shape[1])))  # the test sample, repeated
    log(f"== {trained.spec.name}: compiling the csim ...")
    with FirmwareProject.scratch(lambda d: FirmwareProject.of(trained, backend, d)) as project:
        project.compile()
        emulator = Emulator(project.graph)
        emulator(x[:1000])  # warm-up: buffers allocated, BLAS threads up
        csim_s, csim = _best(lambda: project.predict(x), CSIM_RUNS)
        emu_s, emulated = _best(lambda: emulator(x), EMULATOR_RUNS)
    exact = bool(np.array_equal(emulated, csim))
    row = {"model": trained.spec.name, "backend": backend, "events": events, "csim_s": csim_s, "emulator_s": emu_s,
           "ratio": csim_s / emu_s, "exact": exact, "differing_events": int(np.sum(np.any(emulated != csim, axis=1)))}
    log(f"   csim {csim_s:.3f} s, emulator {emu_s:.4f} s: x{row['ratio']:.0f}; "
        f"{'bit-exact on every event' if exact else str(row['differing_events']) + ' events differ'}")
    return row


def _best(fn, runs: int):
    best, out = float("inf"), None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out

