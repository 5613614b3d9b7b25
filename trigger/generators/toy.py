"""Toy decays (numpy only): boosted tops decaying isotropically, t -> b W -> b l nu.

Each top gets pT uniform in [top_pt_min, top_pt_max], eta uniform in |eta| < top_eta_max,
phi uniform, and a Breit-Wigner mass. The decay t -> b W is isotropic in the top rest
frame, W -> l nu isotropic in the W rest frame (W mass Breit-Wigner, also truncated so the
decay stays open); the lepton is massless. Both line shapes are cut at `width_cut` widths:
the Cauchy tail would otherwise give the odd 100 TeV top. Inputs: b and lepton 4-vectors and MET = the
neutrino's (px, py), optionally smeared by `met_resolution_gev`. Targets: the top's px, py,
pz, E. Fast enough for tests and as a sanity reference for the regression.
"""

import time
from dataclasses import dataclass
from typing import ClassVar, Literal

import awkward as ak
import numpy as np

from trigger.generators.base import Generator
from trigger.generators.card import FOUR_VECTOR, histograms, invariant_mass, merged


@dataclass
class ToyGenerator(Generator):
    """Numpy toy: isotropic t -> b W -> b l nu decays of boosted tops (no Pythia)."""

    name: Literal["toy"] = "toy"
    events: int = 200000
    chunk_events: int = 50000
    top_pt_min_gev: float = 100.0
    top_pt_max_gev: float = 800.0
    top_eta_max: float = 2.5
    top_mass_gev: float = 172.5
    top_width_gev: float = 1.4
    w_mass_gev: float = 80.4
    w_width_gev: float = 2.1
    b_mass_gev: float = 4.8
    width_cut: float = 10.0  # Breit-Wigner masses kept within +- width_cut widths (the Cauchy tail is unphysical)
    met_resolution_gev: float = 0.0  # Gaussian smearing of MET px, py
    workers: int = 0

    CARD_BRANCHES: ClassVar[list[str]] = [f"{v}_{c}" for v in ("top", "b", "lep", "nu") for c in FOUR_VECTOR] + ["met_px", "met_py"]

    def process_names(self) -> list[str]:
        return ["toy"]

    def make_chunk(self, process: str, seed: int, n: int) -> tuple[dict, dict]:
        start = time.perf_counter()
        rng = np.random.default_rng(seed)
        m_top = _breit_wigner(rng, self.top_mass_gev, self.top_width_gev, self.width_cut, n,
                              floor=self.w_mass_gev + self.b_mass_gev + 5.0)
        m_w = _breit_wigner(rng, self.w_mass_gev, self.w_width_gev, self.width_cut, n, floor=10.0,
                            ceiling=m_top - self.b_mass_gev - 1.0)
        pt = rng.uniform(self.top_pt_min_gev, self.top_pt_max_gev, n)
        eta = rng.uniform(-self.top_eta_max, self.top_eta_max, n)
        phi = rng.uniform(-np.pi, np.pi, n)
        top = _from_pt_eta_phi_m(pt, eta, phi, m_top)

        b_rest, w_in_top = _two_body(rng, m_top, np.full(n, self.b_mass_gev), m_w)
        lep_wrest, nu_wrest = _two_body(rng, m_w, np.zeros(n), np.zeros(n))
        lep = _boost(_boost(lep_wrest, w_in_top), top)
        nu = _boost(_boost(nu_wrest, w_in_top), top)
        b = _boost(b_rest, top)
        columns = {f"{name}_{comp}": vec[:, i] for name, vec in (("b", b), ("lep", lep), ("top", top), ("nu", nu))
                   for i, comp in enumerate(FOUR_VECTOR)}
        for i, comp in enumerate(("met_px", "met_py")):  # x then y: the order of the random draws
            columns[comp] = nu[:, i] + rng.normal(0.0, self.met_resolution_gev, n) if self.met_resolution_gev else nu[:, i]
        timing = {"generated": n, "passed": n, "selected": n, "seconds_generate": time.perf_counter() - start,
                  "seconds_extract": 0.0, "seconds_per_raw_next": None}
        return columns, {"timing": timing, "sigma_pb": None}

    def sanity(self, data: dict) -> dict:
        d = {k: ak.to_numpy(v) for k, v in merged(data).items()}
        closure = np.abs(invariant_mass(d, "b", "lep", "nu") - invariant_mass(d, "top")).max()
        return {
            "top mass, median [GeV]": (float(np.median(invariant_mass(d, "top"))), "172.5"),
            "W mass from lepton + neutrino, median [GeV]": (float(np.median(invariant_mass(d, "lep", "nu"))), "80.4"),
            "max abs(m(b l nu) - m(top)) [GeV]": (float(closure), "~0 (momentum conservation)"),
        }

    def card_plots(self, data: dict, directory) -> list[tuple[str, str]]:
        panels = [
            (lambda c: np.hypot(c["top_px"], c["top_py"]), "top pT [GeV]", np.linspace(0, 900, 61), False),
            ("top_pz", "top pz [GeV]", np.linspace(-3000, 3000, 61), True),
            (lambda c: np.hypot(c["b_px"], c["b_py"]), "b pT [GeV]", np.linspace(0, 700, 71), True),
            (lambda c: np.hypot(c["lep_px"], c["lep_py"]), "lepton pT [GeV]", np.linspace(0, 700, 71), True),
            (lambda c: np.hypot(c["met_px"], c["met_py"]), "MET [GeV]", np.linspace(0, 700, 71), True),
        ]
        histograms(directory / "distributions.png", data, panels)
        return [("toy top decays", "distributions.png")]


def _breit_wigner(rng, mass, width, cut, n, floor, ceiling=np.inf):
    """Relativistic-enough Cauchy line shape, redrawn outside mass +- cut widths and outside [floor, ceiling]."""
    lo = max(mass - cut * width, floor)
    hi = np.broadcast_to(np.minimum(mass + cut * width, ceiling), (n,))
    out = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        draw = mass + 0.5 * width * np.tan(np.pi * (rng.random(len(todo)) - 0.5))
        ok = (draw > lo) & (draw < hi[todo])
        out[todo[ok]] = draw[ok]
        todo = todo[~ok]
    return out


def _from_pt_eta_phi_m(pt, eta, phi, m):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + m**2)], axis=1)


def _two_body(rng, parent_mass, m1, m2):
    """Isotropic two-body decay at rest: four-vectors of both daughters."""
    n = len(parent_mass)
    p = np.sqrt(np.maximum((parent_mass**2 - (m1 + m2) ** 2) * (parent_mass**2 - (m1 - m2) ** 2), 0)) / (2 * parent_mass)
    cos_t = rng.uniform(-1, 1, n)
    sin_t = np.sqrt(1 - cos_t**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    direction = np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)
    d1 = np.concatenate([p[:, None] * direction, np.sqrt(p**2 + m1**2)[:, None]], axis=1)
    d2 = np.concatenate([-p[:, None] * direction, np.sqrt(p**2 + m2**2)[:, None]], axis=1)
    return d1, d2


def _boost(vec, frame):
    """Boost `vec` (given in the rest frame of `frame`) into the frame where `frame` has its momentum."""
    mass = np.sqrt(np.maximum(frame[:, 3] ** 2 - np.sum(frame[:, :3] ** 2, axis=1), 1e-12))
    beta = frame[:, :3] / frame[:, 3:4]
    gamma = frame[:, 3] / mass
    bp = np.sum(beta * vec[:, :3], axis=1)
    b2 = np.sum(beta**2, axis=1)
    factor = np.where(b2 > 0, (gamma - 1) * bp / np.where(b2 > 0, b2, 1), 0.0)
    p = vec[:, :3] + (factor + gamma * vec[:, 3])[:, None] * beta
    e = gamma * (vec[:, 3] + bp)
    return np.concatenate([p, e[:, None]], axis=1)
