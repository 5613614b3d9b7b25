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

from __future__ import annotations

import os

import awkward as ak
import numpy as np

from trigger.spec import JetGenerator

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
NEUTRINOS = (12, 14, 16)
EVENTS_PER_BATCH = 100


def pythia_settings(cfg: JetGenerator, cls: str, seed: int) -> list[str]:
    """Every Pythia setting used for one class; part of the cache key."""
    if cls not in PROCESSES:
        raise ValueError(f"unknown jet class {cls!r}; known: {sorted(PROCESSES)}")
    return [
        f"Beams:eCM = {cfg.ecm_gev}",
        *(f"{p} = on" for p in PROCESSES[cls]),
        *HADRONIC_DECAYS.get(cls, []),
        f"PhaseSpace:pTHatMin = {cfg.pthat_min_gev}",
        f"PhaseSpace:pTHatMax = {cfg.pthat_max_gev}",
        f"PartonLevel:MPI = {'on' if cfg.mpi else 'off'}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Next:numberCount = 0",
        "Print:quiet = on",
    ]


def generate_jets(cfg: JetGenerator, cls: str, seed: int, n_jets: int) -> dict[str, np.ndarray]:
    """Generate events until `n_jets` matched jets of class `cls` exist; return feature columns."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in pythia_settings(cfg, cls, seed):
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise for class {cls}")
    parts: list[dict[str, np.ndarray]] = []
    have = 0
    while have < n_jets:
        events = pythia.nextBatch(EVENTS_PER_BATCH)
        batch = _jets_from_events(events, cfg, cls)
        parts.append(batch)
        have += len(batch["jet_pt"])
    out = {k: np.concatenate([p[k] for p in parts])[:n_jets] for k in parts[0]}
    return out


def _jets_from_events(events, cfg: JetGenerator, cls: str) -> dict[str, np.ndarray]:
    import fastjet

    prt = events.prt
    visible = prt[(prt.status > 0) & ~_isin(abs(prt.id), NEUTRINOS)]
    particles = ak.zip({"px": visible.p.px, "py": visible.p.py, "pz": visible.p.pz, "E": visible.p.e})
    clustering = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.antikt_algorithm, cfg.jet_radius))
    jets = clustering.inclusive_jets(min_pt=cfg.pt_min_gev)
    constituents = clustering.constituents(min_pt=cfg.pt_min_gev)

    pt, eta, phi, mass = _kinematics(jets)
    keep = (pt < cfg.pt_max_gev) & (abs(eta) < cfg.eta_max) & _truth_matched(prt, eta, phi, cfg, cls)
    constituents = ak.flatten(constituents[keep], axis=1)
    out = {
        "jet_pt": ak.to_numpy(ak.flatten(pt[keep])),
        "jet_eta": ak.to_numpy(ak.flatten(eta[keep])),
        "jet_phi": ak.to_numpy(ak.flatten(phi[keep])),
        "jet_m": ak.to_numpy(ak.flatten(mass[keep])),
    }
    out.update(substructure(constituents, cfg))
    return out


def _kinematics(p4):
    pt = np.hypot(p4.px, p4.py)
    pabs = np.sqrt(pt**2 + p4.pz**2)
    eta = np.arctanh(p4.pz / np.maximum(pabs, 1e-12))
    phi = np.arctan2(p4.py, p4.px)
    mass = np.sqrt(np.maximum(p4.E**2 - pabs**2, 0.0))
    return pt, eta, phi, mass


def _isin(values, choices):
    mask = values == choices[0]
    for c in choices[1:]:
        mask = mask | (values == c)
    return mask


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def _truth_matched(prt, jet_eta, jet_phi, cfg: JetGenerator, cls: str):
    """Per-jet boolean: nearest hard-process object is of class `cls` (and fully contained)."""
    hard = prt[(prt.mother1 == 3) & ((abs(prt.status) == 22) | (abs(prt.status) == 23))]
    _, o_eta, o_phi, _ = _kinematics(ak.zip({"px": hard.p.px, "py": hard.p.py, "pz": hard.p.pz, "E": hard.p.e}))
    pairs = ak.cartesian({"j_eta": jet_eta, "o_eta": o_eta}, nested=True)
    phis = ak.cartesian({"j_phi": jet_phi, "o_phi": o_phi}, nested=True)
    ids = ak.cartesian({"j": jet_eta, "id": abs(hard.id)}, nested=True).id
    dr = _delta_r(pairs.j_eta, phis.j_phi, pairs.o_eta, phis.o_phi)
    nearest = ak.argmin(dr, axis=2, keepdims=True)
    nearest_dr = ak.fill_none(ak.firsts(dr[nearest], axis=2), 99.0)
    nearest_id = ak.fill_none(ak.firsts(ids[nearest], axis=2), 0)
    matched = (nearest_dr < cfg.match_dr) & _isin(nearest_id, ORIGIN_IDS[cls])

    need = DECAY_QUARKS[cls]
    if need:
        quarks = prt[(abs(prt.status) == 23) & (prt.mother1 != 3) & (abs(prt.id) <= 5)]
        _, q_eta, q_phi, _ = _kinematics(ak.zip({"px": quarks.p.px, "py": quarks.p.py, "pz": quarks.p.pz, "E": quarks.p.e}))
        qe = ak.cartesian({"j": jet_eta, "q": q_eta}, nested=True)
        qp = ak.cartesian({"j": jet_phi, "q": q_phi}, nested=True)
        inside = ak.sum(_delta_r(qe.j, qp.j, qe.q, qp.q) < cfg.jet_radius, axis=2)
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


def silence_native_stdout() -> None:
    """Pythia and FastJet print banners from C++; keep worker stdout clean for the progress bar."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
