"""Pythia8 plumbing shared by the generators: configuration, batched generation with timing,
cross sections, and the final-state particle arrays.

Timing is part of the product: each chunk records how long Pythia's own `next()` takes
per event (a short calibration run), how long `nextBatch` takes, and how long our Python
extraction takes, so the card can report the overhead of the extraction honestly.
"""

import time
from dataclasses import asdict, dataclass

import awkward as ak
import numpy as np

CALIBRATION_EVENTS = 20  # plain pythia.next() calls per chunk, timed and discarded
BATCH = 500
NEUTRINOS = (12, 14, 16)


@dataclass
class Timing:
    generated: int = 0  # events Pythia produced (after its own errors), excluding calibration
    passed: int = 0  # events (or jets) that passed the selection in those events
    selected: int = 0  # of which kept (the chunk size)
    seconds_generate: float = 0.0  # nextBatch
    seconds_extract: float = 0.0  # our Python: clustering, reconstruction, selection
    seconds_per_raw_next: float = 0.0  # pythia.next() alone, from the calibration events


def make_pythia(settings: list[str], seed: int):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    common = ["Next:numberCount = 0", "Print:quiet = on", "Random:setSeed = on", f"Random:seed = {seed}"]
    for line in [*settings, *common]:
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise with {settings}")
    return pythia


def run_chunk(settings: list[str], seed: int, wanted: int, extract) -> tuple[dict, dict]:
    """`wanted` selected rows from a freshly seeded Pythia, and the chunk's metadata (settings, cross section, timing)."""
    pythia = make_pythia(settings, seed)
    columns, timing = generate_selected(pythia, wanted, extract)
    info = pythia.infoPython()  # Pythia's estimate of the generated cross section and its error, mb -> pb
    return columns, {"pythia": settings, "sigma_pb": info.sigmaGen() * 1e9, "sigma_err_pb": info.sigmaErr() * 1e9,
                     "timing": asdict(timing)}


def generate_selected(pythia, wanted: int, extract) -> tuple[dict, Timing]:
    """Run batches through `extract(events) -> columns` until `wanted` rows are kept.

    Columns are numpy arrays or awkward arrays with one row per kept item (the first column
    counts the rows). Returns exactly `wanted` rows.
    """
    timing = Timing()
    start = time.perf_counter()
    for _ in range(CALIBRATION_EVENTS):
        pythia.next()
    timing.seconds_per_raw_next = (time.perf_counter() - start) / CALIBRATION_EVENTS
    parts, have = [], 0
    batch = min(BATCH, max(50, wanted))  # small chunks (tests) should not overshoot by a whole batch
    while have < wanted:
        t0 = time.perf_counter()
        events = pythia.nextBatch(batch)
        t1 = time.perf_counter()
        columns = extract(events)
        timing.seconds_generate += t1 - t0
        timing.seconds_extract += time.perf_counter() - t1
        timing.generated += len(events)
        parts.append(columns)
        have += len(next(iter(columns.values())))
    out = {k: _concatenate([p[k] for p in parts])[:wanted] for k in parts[0]}
    timing.passed, timing.selected = have, wanted
    return out, timing


def _concatenate(arrays):
    return ak.concatenate(arrays) if isinstance(arrays[0], ak.Array) else np.concatenate(arrays)


def weight_per_event(sigma_pb: float, timing: Timing, chunks: int) -> float:
    """pb per kept event, so that the weights of one process (over its `chunks`) sum to sigma x efficiency."""
    return sigma_pb * timing.passed / timing.generated / timing.selected / chunks


def four_vectors(prt):
    return ak.zip({"px": prt.p.px, "py": prt.p.py, "pz": prt.p.pz, "E": prt.p.e})


def kinematics(p4):
    """(pt, eta, phi, mass) of px/py/pz/E records (numpy or awkward)."""
    pt = np.hypot(p4.px, p4.py)
    pabs = np.sqrt(pt**2 + p4.pz**2)
    eta = np.arctanh(p4.pz / np.maximum(pabs, 1e-12))
    phi = np.arctan2(p4.py, p4.px)
    mass = np.sqrt(np.maximum(p4.E**2 - pabs**2, 0.0))
    return pt, eta, phi, mass


def isin(values, choices):
    mask = values == choices[0]
    for c in choices[1:]:
        mask = mask | (values == c)
    return mask


def delta_r(eta1, phi1, eta2, phi2):
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def visible_final(prt):
    """Stable particles a detector can see: everything final except neutrinos."""
    return prt[(prt.status > 0) & ~isin(abs(prt.id), NEUTRINOS)]
