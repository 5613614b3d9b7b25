"""A parametric detector for Pythia events (vectorised over a batch with awkward arrays).

The reconstruction, in the order it runs (settings: DetectorSettings below):
- Leptons: final-state e and mu above the caller's pT/eta thresholds. Relative isolation =
  sum pT of the other visible final-state particles within `isolation_cone`, over the
  lepton pT; isolated if below `isolation_max`. pT smeared by a Gaussian of relative width
  `electron_resolution` / `muon_resolution`; the energy scales with it.
- Jets: anti-kT (R = `jet_radius`) on visible final-state particles with |eta| <
  `jet_eta_max`, isolated leptons removed. The four-vector is scaled by 1 + N(0, s) with
  s = stochastic/sqrt(pT) (+) constant (added in quadrature).
- b-tagging: a jet's truth flavour is b if a b hadron with pT > 5 GeV lies within the jet
  radius, else c for a c hadron, else light; it is tagged with probability
  `btag_eff_b` / `btag_eff_c` / `btag_eff_light`, only within |eta| < `btag_eta_max`.
- MET: minus the vector sum of all visible particles with |eta| < 4.9 (a particle-flow
  soft term), corrected by the smearing of every reconstructed jet and isolated lepton.
  It is therefore built from reconstructed objects and never copied from the neutrinos.
"""

from dataclasses import dataclass

import awkward as ak
import numpy as np

from trigger.generators.pythia import delta_r, four_vectors, isin, kinematics, visible_final


@dataclass
class DetectorSettings:
    """Parametric reconstruction used by the ttbar and anomaly generators."""

    jet_radius: float = 0.4
    jet_eta_max: float = 4.7
    jet_stochastic: float = 1.0  # jet pT resolution: sigma/pT = stochastic/sqrt(pT) (+) constant
    jet_constant: float = 0.05
    electron_resolution: float = 0.02  # sigma/pT
    muon_resolution: float = 0.01
    isolation_cone: float = 0.3
    isolation_max: float = 0.15  # sum pT of other visible particles in the cone / lepton pT
    btag_eff_b: float = 0.70
    btag_eff_c: float = 0.10
    btag_eff_light: float = 0.01
    btag_eta_max: float = 2.5


JET_SEED_PT = 10.0  # GeV: jets clustered above this before smearing; callers cut after smearing
MET_ETA_MAX = 4.9


def reconstruct(prt, det: DetectorSettings, rng: np.random.Generator, lepton_pt_min: float) -> dict:
    """Reconstructed objects per event: electrons, muons (with isolation), jets (with b-tag), MET."""
    import fastjet

    visible = visible_final(prt)
    vis_pt, vis_eta, vis_phi, _ = kinematics(four_vectors(visible))

    # leptons and their isolation
    is_lepton = isin(abs(visible.id), (11, 13)) & (vis_pt > lepton_pt_min)
    leptons = visible[is_lepton]
    l_pt, l_eta, l_phi = vis_pt[is_lepton], vis_eta[is_lepton], vis_phi[is_lepton]
    pairs = ak.cartesian({"l": ak.zip({"eta": l_eta, "phi": l_phi}), "p": ak.zip({"eta": vis_eta, "phi": vis_phi, "pt": vis_pt})}, nested=True)
    in_cone = delta_r(pairs.l.eta, pairs.l.phi, pairs.p.eta, pairs.p.phi) < det.isolation_cone
    iso = (ak.sum(pairs.p.pt * in_cone, axis=2) - l_pt) / l_pt
    resolution = ak.where(abs(leptons.id) == 11, det.electron_resolution, det.muon_resolution)
    l_scale = 1.0 + resolution * _per_object(rng.standard_normal, l_pt)
    isolated = iso < det.isolation_max
    lep = ak.zip({
        "pt": l_pt * l_scale, "eta": l_eta, "phi": l_phi, "charge": -np.sign(leptons.id),
        "pdg": abs(leptons.id), "iso": iso, "isolated": isolated,
    })  # fmt: skip

    # jets from everything visible except the isolated leptons
    lep_index = ak.local_index(visible.id)[is_lepton][isolated]
    keep = ~_mark(ak.local_index(visible.id), lep_index) & (abs(vis_eta) < det.jet_eta_max)
    clustering = fastjet.ClusterSequence(four_vectors(visible[keep]), fastjet.JetDefinition(fastjet.antikt_algorithm, det.jet_radius))
    raw = clustering.inclusive_jets(min_pt=JET_SEED_PT)
    j_pt, j_eta, j_phi, j_mass = kinematics(raw)
    sigma = np.sqrt((det.jet_stochastic / np.sqrt(j_pt)) ** 2 + det.jet_constant**2)
    j_scale = np.maximum(1.0 + sigma * _per_object(rng.standard_normal, j_pt), 0.0)
    flavour = _jet_flavour(prt, j_eta, j_phi, det.jet_radius)
    eff = ak.where(flavour == 5, det.btag_eff_b, ak.where(flavour == 4, det.btag_eff_c, det.btag_eff_light))
    btag = (_per_object(rng.random, j_pt) < eff) & (abs(j_eta) < det.btag_eta_max)
    order = ak.argsort(j_pt * j_scale, axis=1, ascending=False)
    jets = ak.zip({
        "pt": (j_pt * j_scale)[order], "eta": j_eta[order], "phi": j_phi[order], "mass": (j_mass * j_scale)[order],
        "btag": ak.values_astype(btag[order], np.int32), "flavour": ak.values_astype(flavour[order], np.int32),
    })  # fmt: skip

    # MET: particle-flow soft term, corrected for the smearing of reconstructed objects
    central = abs(vis_eta) < MET_ETA_MAX
    mex = -ak.sum((vis_pt * np.cos(vis_phi))[central], axis=1)
    mey = -ak.sum((vis_pt * np.sin(vis_phi))[central], axis=1)
    jet_shift = j_pt * (j_scale - 1.0)
    lep_shift = (l_pt * (l_scale - 1.0))[isolated]
    mex = mex - ak.sum(jet_shift * np.cos(j_phi), axis=1) - ak.sum(lep_shift * np.cos(l_phi[isolated]), axis=1)
    mey = mey - ak.sum(jet_shift * np.sin(j_phi), axis=1) - ak.sum(lep_shift * np.sin(l_phi[isolated]), axis=1)
    return {"leptons": lep, "jets": jets, "met_pt": ak.to_numpy(np.hypot(mex, mey)), "met_phi": ak.to_numpy(np.arctan2(mey, mex))}


def _per_object(draw, like):
    """One random number per object of the jagged `like`, from `draw(size)` (e.g. rng.standard_normal)."""
    counts = ak.num(like, axis=1)
    return ak.unflatten(draw(int(ak.sum(counts))), counts)


def _mark(index, chosen):
    """Per element of `index`: is it one of `chosen` (same event)?"""
    pairs = ak.cartesian({"i": index, "c": chosen}, nested=True)
    return ak.any(pairs.i == pairs.c, axis=2)


def _hadron_flavour(pid):
    """5 for hadrons with a b quark, 4 with a c quark (and no b), else 0; from the PDG code digits."""
    a = abs(pid)
    meson = (a // 100) % 10
    baryon = (a // 1000) % 10
    heavy = ak.where(baryon > 0, baryon, meson)
    hadron = a > 100
    return ak.where(hadron & (heavy == 5), 5, ak.where(hadron & (heavy == 4) & (baryon != 5), 4, 0))


def _jet_flavour(prt, j_eta, j_phi, radius):
    flavour = _hadron_flavour(prt.id)
    h_pt, h_eta, h_phi, _ = kinematics(four_vectors(prt[flavour > 0]))
    hard = h_pt > 5.0
    hadrons = ak.zip({"eta": h_eta[hard], "phi": h_phi[hard], "f": flavour[flavour > 0][hard]})
    pairs = ak.cartesian({"j": ak.zip({"eta": j_eta, "phi": j_phi}), "h": hadrons}, nested=True)
    near = delta_r(pairs.j.eta, pairs.j.phi, pairs.h.eta, pairs.h.phi) < radius
    return ak.fill_none(ak.max(ak.where(near, pairs.h.f, 0), axis=2), 0)
