"""Boosted-jet generation: Pythia8 events, anti-kT jets, truth matching, substructure features.

The 16 features are those of the public hls4ml LHC jet dataset. Groomed quantities
(`*_mmdt`) come from SoftDrop (beta=0, z_cut=0.1, i.e. mMDT) and the fastjet-contrib
EnergyCorrelator, both reached through fastjet's awkward-array API.

Energy-correlation ratios, with e_N^b the normalised N-point ECF of angular exponent b and
ke_3^b the generalised ECF using the k smallest pairwise angles (1e2 = e2):
    c1_bX = e2^X                      c2_bX = e3^X / (e2^X)^2
    d2_bX = e3^X / (e2^X)^3           d2_a1_bX = e3^1 / (e2^X)^(3/X)   (a1_b1 == d2_b1 by definition)
    m2_bX = 1e3^X / e2^X              n2_bX = 2e3^X / (e2^X)^2
Un-groomed: zlogz = sum_i z_i ln z_i with z_i = pT_i / sum pT, multiplicity = constituent count.

Truth matching: a jet belongs to class C when the nearest hard-process outgoing object
(parton, W, Z or top, before showering) lies within `match_dr` and has flavour C
(q = u/d/s; g = gluon). W, Z and top jets must also contain all of their decay quarks
within the jet radius (2 for W/Z, 3 for top), so the class is the fully merged topology.
"""

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import awkward as ak
import numpy as np

from trigger.generators.base import Generator
from trigger.generators.card import histograms
from trigger.generators.pythia import delta_r, four_vectors, isin, kinematics, run_chunk, visible_final

FEATURES = [
    "zlogz",
    "c1_b0_mmdt", "c1_b1_mmdt", "c1_b2_mmdt",
    "c2_b1_mmdt", "c2_b2_mmdt",
    "d2_b1_mmdt", "d2_b2_mmdt",
    "d2_a1_b1_mmdt", "d2_a1_b2_mmdt",
    "m2_b1_mmdt", "m2_b2_mmdt",
    "n2_b1_mmdt", "n2_b2_mmdt",
    "mass_mmdt", "multiplicity",
]  # fmt: skip
KINEMATICS = ["jet_pt", "jet_eta", "jet_phi", "jet_m"]

# Hard processes per class; all share the same pTHat window so the jet pT spectra agree.
PROCESSES = {
    "q": ["HardQCD:qq2qq", "HardQCD:qqbar2qqbarNew", "HardQCD:gg2qqbar", "HardQCD:qg2qg"],
    "g": ["HardQCD:gg2gg", "HardQCD:qqbar2gg", "HardQCD:qg2qg"],
    "W": ["WeakBosonAndParton:qqbar2Wg", "WeakBosonAndParton:qg2Wq"],
    "Z": ["WeakBosonAndParton:qqbar2gmZg", "WeakBosonAndParton:qg2gmZq"],
    "t": ["Top:gg2ttbar", "Top:qqbar2ttbar"],
}
HADRONIC_DECAYS = {
    "q": ["HardQCD:nQuarkNew = 3"],
    "W": ["24:onMode = off", "24:onIfAny = 1 2 3 4 5"],
    "Z": ["WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 1 2 3 4 5"],
    "t": ["24:onMode = off", "24:onIfAny = 1 2 3 4 5"],
}
ORIGIN_IDS = {"q": (1, 2, 3), "g": (21,), "W": (24,), "Z": (23,), "t": (6,)}
DECAY_QUARKS = {"q": 0, "g": 0, "W": 2, "Z": 2, "t": 3}


@dataclass
class JetGenerator(Generator):
    """Pythia8 + FastJet boosted jets, five classes, hls4ml-LHC-jet-dataset features."""

    name: Literal["jets"] = "jets"
    events: int = 30000  # jets per class
    chunk_events: int = 1000
    classes: list[str] = field(default_factory=lambda: ["q", "g", "W", "Z", "t"])
    ecm_gev: float = 13000.0
    jet_radius: float = 0.8
    pt_min_gev: float = 800.0
    pt_max_gev: float = 1200.0
    eta_max: float = 2.0
    pthat_min_gev: float = 700.0
    pthat_max_gev: float = 1500.0
    match_dr: float = 0.6
    softdrop_beta: float = 0.0
    softdrop_zcut: float = 0.1
    mpi: bool = True
    workers: int = 0  # 0: one per core

    CARD_BRANCHES: ClassVar[list[str]] = ["mass_mmdt", "multiplicity", "d2_b1_mmdt", "n2_b1_mmdt", "zlogz", "jet_pt"]

    def process_names(self) -> list[str]:
        return list(self.classes)

    def pythia_settings(self, cls: str) -> list[str]:
        """Every Pythia setting used for one class (the seed is added by make_pythia)."""
        if cls not in PROCESSES:
            raise ValueError(f"unknown jet class {cls!r}; known: {sorted(PROCESSES)}")
        return [
            f"Beams:eCM = {self.ecm_gev}",
            *(f"{p} = on" for p in PROCESSES[cls]),
            *HADRONIC_DECAYS.get(cls, []),
            f"PhaseSpace:pTHatMin = {self.pthat_min_gev}",
            f"PhaseSpace:pTHatMax = {self.pthat_max_gev}",
            f"PartonLevel:MPI = {'on' if self.mpi else 'off'}",
        ]

    def make_chunk(self, cls: str, seed: int, n_jets: int) -> tuple[dict, dict]:
        """`n_jets` truth-matched jets of class `cls`: feature columns + chunk metadata."""
        columns, meta = run_chunk(self.pythia_settings(cls), seed, n_jets, lambda events: _jets_from_events(events, self, cls))
        columns = {k: v.astype(np.float32) for k, v in columns.items()}
        columns["label"] = np.full(n_jets, self.classes.index(cls), dtype=np.int32)
        return columns, {"class": cls, "classes": self.classes, **meta}

    def sanity(self, data: dict) -> dict:
        median = {c: float(np.median(ak.to_numpy(d["mass_mmdt"]))) for c, d in data.items()}
        expect = {"q": "low (< 50)", "g": "-", "W": "near 80", "Z": "near 91", "t": "near 173"}
        return {f"{c} jets: median soft-drop mass [GeV]": (m, expect.get(c, "-")) for c, m in median.items()}

    def card_plots(self, data: dict, directory) -> list[tuple[str, str]]:
        panels = [
            ("mass_mmdt", "soft-drop mass [GeV]", np.linspace(0, 300, 61), False),
            ("multiplicity", "constituent multiplicity", np.linspace(0, 200, 51), False),
            ("d2_b1_mmdt", "D2 (beta=1)", np.linspace(0, 5, 51), False),
            ("n2_b1_mmdt", "N2 (beta=1)", np.linspace(0, 0.6, 61), False),
            ("zlogz", "sum z log z", np.linspace(-6, 0, 61), False),
            ("jet_pt", "jet pT [GeV]", np.linspace(750, 1250, 51), False),
        ]
        histograms(directory / "distributions.png", data, panels)
        return [("substructure features per class", "distributions.png")]


def _jets_from_events(events, cfg: JetGenerator, cls: str) -> dict[str, np.ndarray]:
    import fastjet

    prt = events.prt
    clustering = fastjet.ClusterSequence(four_vectors(visible_final(prt)),
                                         fastjet.JetDefinition(fastjet.antikt_algorithm, cfg.jet_radius))
    jets = clustering.inclusive_jets(min_pt=cfg.pt_min_gev)
    constituents = clustering.constituents(min_pt=cfg.pt_min_gev)

    pt, eta, phi, mass = kinematics(jets)
    keep = (pt < cfg.pt_max_gev) & (abs(eta) < cfg.eta_max) & _truth_matched(prt, eta, phi, cfg, cls)
    out = {name: ak.to_numpy(ak.flatten(v[keep])) for name, v in zip(KINEMATICS, (pt, eta, phi, mass))}
    return out | substructure(ak.flatten(constituents[keep], axis=1), cfg)


def _truth_matched(prt, jet_eta, jet_phi, cfg: JetGenerator, cls: str):
    """Per-jet boolean: nearest hard-process object is of class `cls` (and fully contained)."""
    hard = prt[(prt.mother1 == 3) & ((abs(prt.status) == 22) | (abs(prt.status) == 23))]
    _, o_eta, o_phi, _ = kinematics(four_vectors(hard))
    jets = ak.zip({"eta": jet_eta, "phi": jet_phi})
    pairs = ak.cartesian({"j": jets, "o": ak.zip({"eta": o_eta, "phi": o_phi, "id": abs(hard.id)})}, nested=True)
    dr = delta_r(pairs.j.eta, pairs.j.phi, pairs.o.eta, pairs.o.phi)
    nearest = ak.argmin(dr, axis=2, keepdims=True)
    nearest_dr = ak.fill_none(ak.firsts(dr[nearest], axis=2), 99.0)
    nearest_id = ak.fill_none(ak.firsts(pairs.o.id[nearest], axis=2), 0)
    matched = (nearest_dr < cfg.match_dr) & isin(nearest_id, ORIGIN_IDS[cls])

    need = DECAY_QUARKS[cls]
    if need:
        quarks = prt[(abs(prt.status) == 23) & (prt.mother1 != 3) & (abs(prt.id) <= 5)]
        _, q_eta, q_phi, _ = kinematics(four_vectors(quarks))
        pairs = ak.cartesian({"j": jets, "q": ak.zip({"eta": q_eta, "phi": q_phi})}, nested=True)
        inside = ak.sum(delta_r(pairs.j.eta, pairs.j.phi, pairs.q.eta, pairs.q.phi) < cfg.jet_radius, axis=2)
        matched = matched & (inside >= need)
    return matched


def substructure(constituents, cfg: JetGenerator) -> dict[str, np.ndarray]:
    """The 16 hls4ml-dataset features for a flat list of jets given as constituent lists."""
    import fastjet

    n_jets = len(constituents)
    if n_jets == 0:
        return {f: np.zeros(0) for f in FEATURES}
    ca = fastjet.JetDefinition(fastjet.cambridge_algorithm, cfg.jet_radius)
    pt = np.hypot(constituents.px, constituents.py)
    z = pt / ak.sum(pt, axis=1)
    zlogz = ak.to_numpy(ak.sum(z * np.log(z), axis=1))
    multiplicity = ak.to_numpy(ak.num(constituents, axis=1)).astype(np.float64)

    groomed = fastjet.ClusterSequence(constituents, ca).exclusive_jets_softdrop_grooming(
        njets=1, beta=cfg.softdrop_beta, symmetry_cut=cfg.softdrop_zcut, R0=cfg.jet_radius
    )
    g = groomed.constituents
    groomed_seq = fastjet.ClusterSequence(ak.zip({"px": g.px, "py": g.py, "pz": g.pz, "E": g.E}), ca)

    def ecf(npoint: int, beta: float, angles: int = -1) -> np.ndarray:
        values = groomed_seq.exclusive_jets_energy_correlator(
            njets=1, beta=beta, npoint=npoint, angles=angles, func="generalized", normalized=True
        )
        return np.asarray(values, dtype=np.float64).reshape(n_jets)

    e2 = {b: ecf(2, b) for b in (0, 1, 2)}
    e3 = {b: ecf(3, b) for b in (1, 2)}
    e3_1 = {b: ecf(3, b, angles=1) for b in (1, 2)}
    e3_2 = {b: ecf(3, b, angles=2) for b in (1, 2)}

    def ratio(num, den):
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    return {
        "zlogz": zlogz,
        "c1_b0_mmdt": e2[0],
        "c1_b1_mmdt": e2[1],
        "c1_b2_mmdt": e2[2],
        "c2_b1_mmdt": ratio(e3[1], e2[1] ** 2),
        "c2_b2_mmdt": ratio(e3[2], e2[2] ** 2),
        "d2_b1_mmdt": ratio(e3[1], e2[1] ** 3),
        "d2_b2_mmdt": ratio(e3[2], e2[2] ** 3),
        "d2_a1_b1_mmdt": ratio(e3[1], e2[1] ** 3),
        "d2_a1_b2_mmdt": ratio(e3[1], e2[2] ** 1.5),
        "m2_b1_mmdt": ratio(e3_1[1], e2[1]),
        "m2_b2_mmdt": ratio(e3_1[2], e2[2]),
        "n2_b1_mmdt": ratio(e3_2[1], e2[1] ** 2),
        "n2_b2_mmdt": ratio(e3_2[2], e2[2] ** 2),
        "mass_mmdt": np.asarray(groomed.msoftdrop, dtype=np.float64),
        "multiplicity": multiplicity,
    }
